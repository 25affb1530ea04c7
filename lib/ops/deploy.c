/* deploy.c - deploy, rollback and repair of a service (docs/deploy.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "deploy.h"
#include "fsutil.h"
#include "health.h"
#include "history.h"
#include "lockfile.h"
#include "manifest.h"
#include "net.h"
#include "record.h"
#include "service.h"
#include "snapdiff.h"
#include "snapref.h"
#include "store.h"
#include "util.h"

/* How many of a failed container's last log lines a deploy shows. */
#define LOG_TAIL_LINES 10
/* Rollbacks a monitored deploy may chain before giving up. */
#define MAX_DEPTH 3

struct deploy {
	const struct kiln_deploy_options *o;
	struct kiln_store *store;
	char *store_dir;
	int depth;
};

static void say(const struct deploy *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct deploy *d, const char *fmt, ...)
{
	va_list ap;
	char *line;

	if (!d->o->say)
		return;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (line)
		d->o->say(d->o->ctx, line);
	free(line);
}

static int64_t wall_now(void) { return (int64_t)time(NULL); }

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- finding the service's manifest in a commit ------------------------ */

struct manifest_at {
	char *rel;                 /* path in the tree */
	struct kiln_manifest *m;
};

static void manifest_at_release(struct manifest_at *a)
{
	free(a->rel);
	if (a->m)
		kiln_manifest_free(a->m);
	a->rel = NULL;
	a->m = NULL;
}

/* Read and parse rel at commit: 1 read, 0 no such file, -1 error. */
static int read_manifest(struct kiln_git *git, const char *commit, const char *rel, struct manifest_at *out,
			 struct kiln_error *err)
{
	size_t len;
	bool found;
	_cleanup_free_ char *data = kiln_git_read_file(git, commit, rel, &len, &found, err);

	if (!data)
		return found || kiln_error_isset(err) ? -1 : 0;
	out->m = kiln_manifest_parse(rel, data, len, err);
	if (!out->m)
		return -1;
	out->rel = kiln_xstrdup(rel);
	return 1;
}

struct yaml_list {
	char **v;
	size_t n, alloc;
};

static int collect_yaml(void *ctx, const char *relpath, enum kiln_git_kind kind, const char *blob_id,
			const void *data, size_t len, struct kiln_error *err)
{
	struct yaml_list *l = ctx;
	size_t n = strlen(relpath);

	(void)blob_id; (void)data; (void)len; (void)err;
	if (kind != KILN_GIT_FILE || strchr(relpath, '/') || n < 6 || strcmp(relpath + n - 5, ".yaml"))
		return 0;
	kiln_xgrow(&l->v, &l->alloc, l->n + 1, sizeof(char *));
	l->v[l->n++] = kiln_xasprintf("manifests/%s", relpath);
	return 0;
}

/* Every manifest of the commit that kiln deploy considers: kiln.yaml, then
 * the *.yaml files of manifests/ in name order. */
static int list_manifests(struct kiln_git *git, const char *commit, struct yaml_list *l, struct kiln_error *err)
{
	bool found;
	char id[KILN_GIT_OID_HEX + 1];

	if (kiln_git_path_id(git, commit, "kiln.yaml", id, err) < 0)
		return -1;
	if (id[0]) {
		kiln_xgrow(&l->v, &l->alloc, l->n + 1, sizeof(char *));
		l->v[l->n++] = kiln_xstrdup("kiln.yaml");
	}
	return kiln_git_walk(git, commit, "manifests", collect_yaml, l, &found, err);
}

static int find_manifest(const struct deploy *d, const char *commit, const char *name, struct manifest_at *out,
			 struct kiln_error *err)
{
	const struct kiln_deploy_options *o = d->o;
	struct yaml_list l = { 0 };
	int rc;

	if (o->manifest_path || !name) {
		const char *rel = o->manifest_path ? o->manifest_path : "kiln.yaml";
		rc = read_manifest(o->git, commit, rel, out, err);
		if (rc == 0)
			return kiln_error_set(err, "commit %.12s has no %s", commit, rel);
		if (rc > 0 && name && strcmp(out->m->name, name)) {
			kiln_error_set(err, "%s at %.12s is manifest \"%s\", not \"%s\"", rel, commit, out->m->name, name);
			manifest_at_release(out);
			return kiln_error_cause(err, KILN_CAUSE_NOT_FOUND);
		}
		return rc < 0 ? -1 : 0;
	}
	if (list_manifests(o->git, commit, &l, err) < 0) {
		kiln_strv_free(l.v, l.n);
		return -1;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct manifest_at a = { 0 };
		if (read_manifest(o->git, commit, l.v[i], &a, err) < 0) {
			kiln_strv_free(l.v, l.n);
			return -1;
		}
		if (a.m && !strcmp(a.m->name, name)) {
			*out = a;
			kiln_strv_free(l.v, l.n);
			return 0;
		}
		manifest_at_release(&a);
	}
	kiln_strv_free(l.v, l.n);
	kiln_error_set(err, "commit %.12s has no manifest named \"%s\" (looked in kiln.yaml and manifests/*.yaml)",
		       commit, name);
	return kiln_error_cause(err, KILN_CAUSE_NOT_FOUND);
}

/* ---- the service's containers ------------------------------------------- */

/* Every container of the service (deploy names them NAME.SEQ and marks
 * them with the service's name). */
static int service_containers(struct kiln_container_root *root, const char *name, struct kiln_container **out,
			      size_t *n, struct kiln_error *err)
{
	struct kiln_container *all;
	size_t n_all, k = 0;

	if (kiln_container_list(root, &all, &n_all, err) < 0)
		return -1;
	for (size_t i = 0; i < n_all; i++) {
		if (all[i].service && !strcmp(all[i].service, name)) {
			if (k != i) {
				struct kiln_container t = all[k];
				all[k] = all[i];
				all[i] = t;
			}
			k++;
		}
	}
	*out = all;
	*n = k;
	/* the others stay in the array past k, and are freed with it */
	for (size_t i = k; i < n_all; i++)
		kiln_container_release(&all[i]);
	return 0;
}

static bool running(const struct kiln_container_root *root, const struct kiln_container *c)
{
	return c->status == KILN_CONTAINER_RUNNING && kiln_container_monitored(root, c);
}

struct alive_ctx {
	struct kiln_container_root *root;
	const char *id;
	const struct deploy *d;
};

static bool alive(void *ctx)
{
	struct alive_ctx *a = ctx;
	struct kiln_container c;
	bool up;

	if (kiln_container_find(a->root, a->id, &c, KILN_ERROR_IGNORE) < 0)
		return false;
	up = running(a->root, &c);
	kiln_container_release(&c);
	return up;
}

static void note_probe(void *ctx, const char *line)
{
	struct alive_ctx *a = ctx;
	say(a->d, "  health: %s", line);
}

/* The last lines of the container's log, indented, or "". */
static char *log_tail(struct kiln_container_root *root, const struct kiln_container *c)
{
	int fd = memfd_create("kiln-log", MFD_CLOEXEC);
	struct kiln_buf b = KILN_BUF_INIT;
	_cleanup_free_ char *text = NULL;
	off_t size;
	size_t start, lines = 0;

	if (fd < 0)
		return kiln_xstrdup("");
	if (kiln_container_logs(root, c, false, fd, KILN_ERROR_IGNORE) < 0 || (size = lseek(fd, 0, SEEK_END)) <= 0) {
		close(fd);
		return kiln_xstrdup("");
	}
	text = kiln_xmalloc((size_t)size + 1);
	if (pread(fd, text, (size_t)size, 0) != size) {
		close(fd);
		return kiln_xstrdup("");
	}
	close(fd);
	text[size] = 0;
	start = (size_t)size;
	while (start > 0 && text[start - 1] == '\n')
		text[--start] = 0;
	while (start > 0 && lines < LOG_TAIL_LINES) {
		start--;
		if (text[start] == '\n')
			lines++;
	}
	if (text[start] == '\n')
		start++;
	kiln_buf_adds(&b, "\nits last log lines:");
	for (char *line = text + start, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		kiln_buf_adds(&b, "\n  | ");
		for (const char *p = line; *p; p++) { /* the log is the container's: no control bytes */
			char esc[8];
			if ((unsigned char)*p < 0x20 && *p != '\t') {
				snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)*p);
				kiln_buf_adds(&b, esc);
			} else {
				kiln_buf_addch(&b, *p);
			}
		}
	}
	if (!lines && !text[start])
		return kiln_xstrdup("\n(its log is empty)");
	return kiln_buf_detach(&b);
}

/* Stop (stop signal, SIGKILL after grace) and remove c. */
static int retire(const struct deploy *d, const struct kiln_container *c, int64_t grace_ms, struct kiln_error *err)
{
	struct kiln_container_root *root = d->o->root;
	int secs = (int)((grace_ms + 999) / 1000);

	if (running(root, c) && kiln_container_stop(root, c, secs, err) < 0)
		return -1;
	return kiln_container_remove(root, c, true, err);
}

/* ---- one deploy ----------------------------------------------------------- */

static int open_store(struct deploy *d, struct kiln_error *err);

struct target {
	char commit[KILN_GIT_OID_HEX + 1];
	struct manifest_at ma;
	struct kiln_service_spec spec;
	char *digest;
};

static void target_release(struct target *t)
{
	manifest_at_release(&t->ma);
	kiln_service_spec_release(&t->spec);
	free(t->digest);
	memset(t, 0, sizeof(*t));
}

/* The snapshot of the service at commit: built when the store lacks it,
 * then resolved through its record (verified unless insecure). */
static int resolve_snapshot(struct deploy *d, struct target *t, struct kiln_error *err)
{
	const struct kiln_deploy_options *o = d->o;
	struct kiln_record r;
	bool found;
	struct kiln_snapref ref = { 0 };
	_cleanup_free_ char *text = NULL;

	found = false;
	if (open_store(d, err) < 0 || (d->store && kiln_record_read(d->store, t->commit, t->spec.name, &r, &found,
								     err) < 0))
		return -1;
	if (found) {
		kiln_record_release(&r);
	} else {
		struct kiln_build_options bo = *o->build;
		struct kiln_build_result res = { 0 };
		_cleanup_free_ char *abs = kiln_path_join(kiln_git_workdir(o->git), t->ma.rel);

		say(d, "%s@%.12s: not in the store; building it", t->spec.name, t->commit);
		bo.manifest_path = abs;
		bo.rev = t->commit;
		bo.store_dir = o->store_dir;
		if (kiln_build_run(&bo, &res, err) < 0)
			return kiln_error_prefix(err, "building %s@%.12s", t->spec.name, t->commit);
		say(d, "%s@%.12s: built %s", t->spec.name, t->commit, res.manifest_digest);
		kiln_build_result_release(&res);
		if (open_store(d, err) < 0)
			return -1;
		if (!d->store)
			return kiln_error_set(err, "no store at %s after building", d->store_dir);
	}
	text = kiln_xasprintf("%s@%s", t->spec.name, t->commit);
	if (kiln_snapref_resolve(o->git, d->store, text, NULL, o->insecure ? KILN_SNAPREF_INSECURE : 0, &ref,
				 err) < 0)
		return -1;
	t->digest = ref.manifest_digest;
	ref.manifest_digest = NULL;
	kiln_snapref_release(&ref);
	return 0;
}

static int load_target(struct deploy *d, const char *rev, const char *name, struct target *t,
		       struct kiln_error *err)
{
	int64_t commit_time;

	if (kiln_git_resolve(d->o->git, rev, t->commit, &commit_time, err) < 0)
		return -1;
	if (find_manifest(d, t->commit, name, &t->ma, err) < 0)
		return -1;
	if (!t->ma.m->service.present)
		return kiln_error_set(err, "%s at %.12s (manifest \"%s\") has no service: section, so it is not a "
				      "service (docs/deploy.md)", t->ma.rel, t->commit, t->ma.m->name);
	if (kiln_service_spec_from_manifest(t->ma.m, &t->spec, err) < 0)
		return kiln_error_prefix(err, "%s at %.12s", t->ma.rel, t->commit);
	if (strlen(t->spec.name) > 52)
		return kiln_error_set(err, "service \"%s\": a name of at most 52 characters, so that its containers' "
				      "names (NAME.SEQ) fit", t->spec.name);
	return resolve_snapshot(d, t, err);
}

/* What changes from the serving image to the new one, in a few lines. */
static void say_changes(const struct deploy *d, const char *from, const char *to)
{
	struct kiln_snapdiff df = { 0 };
	struct kiln_error e = { 0 };

	if (kiln_snapdiff_images(d->store, from, "serving", to, "new", &df, &e) < 0) {
		say(d, "changes: cannot compare with the serving image (%s)", e.message);
		return;
	}
	if (kiln_snapdiff_empty(&df)) {
		say(d, "changes: none in packages, files or config");
	} else {
		say(d, "changes: packages +%zu -%zu ~%zu, files +%zu -%zu ~%zu, config +%zu -%zu ~%zu",
		    df.n_pkg_added, df.n_pkg_removed, df.n_pkg_changed, df.n_added, df.n_removed, df.n_changed,
		    df.n_cfg_added, df.n_cfg_removed, df.n_cfg_changed);
		for (size_t i = 0; i < df.n_pkg_changed && i < 10; i++)
			say(d, "  package %s %s -> %s", df.pkg_changed[i].name, df.pkg_changed[i].from,
			    df.pkg_changed[i].to);
		for (size_t i = 0; i < df.n_cfg_changed && i < 10; i++)
			say(d, "  config %s%s%s: %s -> %s", df.cfg_changed[i].field, df.cfg_changed[i].key ? " " : "",
			    df.cfg_changed[i].key ? df.cfg_changed[i].key : "", df.cfg_changed[i].from,
			    df.cfg_changed[i].to);
	}
	kiln_snapdiff_release(&df);
}

/* The container the service's traffic goes to now (c filled, 1), or 0. */
static int serving_container(const struct deploy *d, const char *name, const struct kiln_history_deploy *v,
			     size_t nv, struct kiln_container *c, struct kiln_error *err)
{
	struct kiln_container_root *root = d->o->root;
	char id[129];
	int rc = kiln_net_service_lookup(kiln_container_root_net(root), name, id, NULL, NULL, err);
	ssize_t cur;

	if (rc < 0)
		return -1;
	if (rc > 0 && kiln_container_find(root, id, c, KILN_ERROR_IGNORE) == 0) {
		if (running(root, c))
			return 1;
		kiln_container_release(c);
	}
	/* No published ports (host, none, container: networks), or their
	 * target is gone: the one the history says serves, while it runs. */
	cur = kiln_history_current(v, nv);
	if (cur >= 0 && kiln_container_find(root, v[cur].e.container, c, KILN_ERROR_IGNORE) == 0) {
		if (running(root, c))
			return 1;
		kiln_container_release(c);
	}
	return 0;
}

static char *container_address(const struct deploy *d, const struct kiln_service_spec *s,
			       const struct kiln_container *c)
{
	if (!strcmp(s->network, "host"))
		return kiln_xstrdup("127.0.0.1");
	if (c->address)
		return kiln_xstrdup(c->address);
	if (!strncmp(s->network, "container:", 10)) {
		struct kiln_container other;
		char *a = NULL;
		if (kiln_container_find(d->o->root, s->network + 10, &other, KILN_ERROR_IGNORE) == 0) {
			a = other.address ? kiln_xstrdup(other.address) : NULL;
			kiln_container_release(&other);
		}
		return a;
	}
	return NULL;
}

static int start_container(const struct deploy *d, const struct target *t, const char *cname,
			   struct kiln_container *c, struct kiln_error *err)
{
	const struct kiln_service_spec *s = &t->spec;
	_cleanup_free_ char *snapshot = kiln_xasprintf("%s@%.12s", s->name, t->commit);
	struct kiln_container_options co = {
		.store = d->store,
		.manifest_digest = t->digest,
		.snapshot = snapshot,
		.name = cname,
		.network = s->network,
		.volumes = s->volumes, .n_volumes = s->n_volumes,
		.memory = s->memory,
		.pids = s->pids,
		.cpus = s->cpus,
		.init = s->init,
		.commit = t->commit,
		.service = s->name,
		.runtime = d->o->runtime,
		.detach = true,
	};
	int code = 0;

	/* Bridge containers get no ports of their own: the service's ports
	 * move to them once healthy.  On the host network the process binds
	 * them itself. */
	return kiln_container_run(d->o->root, &co, c, &code, err);
}

static void entry_init(const struct deploy *d, struct kiln_history_entry *e, unsigned seq, const char *action,
		       const char *result, const struct target *t, const char *cname)
{
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->time = wall_now();
	e->action = (char *)action;
	e->result = (char *)result;
	e->commit = t ? (char *)t->commit : "";
	e->digest = t ? t->digest : "";
	e->manifest = t ? t->ma.rel : "";
	e->store = d->store_dir;
	e->container = (char *)(cname ? cname : "");
	e->trigger = (char *)(d->o->trigger ? d->o->trigger : "");
}

static unsigned next_seq(const struct kiln_history_deploy *v, size_t n)
{
	unsigned seq = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].e.seq > seq)
			seq = v[i].e.seq;
	return seq + 1;
}

static int deploy_target(struct deploy *d, struct kiln_history *h, struct target *t, const char *action,
			 struct kiln_error *err);

/* The interface a probe of container_address goes through: the bridge
 * for an address on it, nothing for the host's loopback (health.h). */
static const char *probe_device(const struct deploy *d, const struct kiln_service_spec *s)
{
	if (!strcmp(s->network, "host"))
		return NULL;
	const struct kiln_net_config *net = kiln_container_root_net(d->o->root);
	return net->bridge ? net->bridge : KILN_NET_DEFAULT_BRIDGE;
}

/* After the switch: watch the new container for the monitor window.
 * 1 it stayed healthy, 0 it failed (*why). */
static int watch(const struct deploy *d, const struct target *t, const struct kiln_container *c, char **why,
		 struct kiln_error *err)
{
	const struct kiln_service_spec *s = &t->spec;
	struct alive_ctx ac = { d->o->root, c->id, d };
	_cleanup_free_ char *address = container_address(d, s, c);
	struct kiln_health_target ht = { .address = address, .device = probe_device(d, s), .container = c->id,
					 .self_exe = d->o->self_exe, .alive = alive, .ctx = &ac };
	int64_t interval = s->health.interval_ms > 0 ? s->health.interval_ms : 1000;
	int64_t waited = 0;
	int failures = 0;

	*why = NULL;
	say(d, "watching %s for %.1f s (update.monitor)", c->name, (double)s->update.monitor_ms / 1000);
	while (waited < s->update.monitor_ms) {
		char *seen = NULL;
		int r;
		sleep_ms(interval);
		waited += interval;
		if (!alive(&ac)) {
			*why = kiln_xasprintf("%s exited %.1f s after the switch", c->name, (double)waited / 1000);
			return 0;
		}
		r = kiln_health_probe(s, &ht, &seen, err);
		if (r < 0)
			return -1;
		if (r == 0 && ++failures >= (s->health.retries > 0 ? s->health.retries : 1)) {
			*why = kiln_xasprintf("%s turned unhealthy %.1f s after the switch: %s", c->name,
					      (double)waited / 1000, seen);
			free(seen);
			return 0;
		}
		if (r == 1)
			failures = 0;
		free(seen);
	}
	return 1;
}

static int deploy_target(struct deploy *d, struct kiln_history *h, struct target *t, const char *action,
			 struct kiln_error *err)
{
	struct kiln_container_root *root = d->o->root;
	const struct kiln_service_spec *s = &t->spec;
	bool bridge = !strcmp(s->network, "bridge");
	/* Two containers in one network namespace (the host's, or another
	 * container's) cannot both listen on the service's port, and a
	 * health check could not tell them apart: replace them stop-first. */
	bool shared_net = !strcmp(s->network, "host") || !strncmp(s->network, "container:", 10);
	bool stop_first = s->update.stop_first || shared_net;
	struct kiln_history_deploy *v = NULL;
	size_t nv = 0;
	struct kiln_container old = { 0 }, nc = { 0 };
	struct kiln_history_entry e;
	_cleanup_free_ char *cname = NULL, *why = NULL, *address = NULL, *desc = NULL;
	bool have_old = false, old_gone = false;
	unsigned seq;
	int rc = -1, hr;
	struct alive_ctx ac = { root, NULL, d };
	struct kiln_health_target ht = { 0 };

	if (kiln_history_load(h, &v, &nv, err) < 0)
		return -1;
	hr = serving_container(d, s->name, v, nv, &old, err);
	if (hr < 0)
		goto out;
	have_old = hr > 0;
	if (have_old && old.image && !strcmp(old.image, t->digest) && !d->o->force) {
		say(d, "%s: %s (%s@%.12s) already serves in %s; nothing to do (--force replaces it anyway)",
		    s->name, t->digest, s->name, t->commit, old.name);
		rc = 0;
		goto out;
	}
	if (have_old && old.image)
		say_changes(d, old.image, t->digest);
	seq = next_seq(v, nv);
	cname = kiln_xasprintf("%s.%u", s->name, seq);
	entry_init(d, &e, seq, action, "started", t, cname);
	if (kiln_history_append(h, &e, err) < 0)
		goto out;
	say(d, "%s #%u: %s %s@%.12s (%s) as %s", s->name, seq, action, s->name, t->commit, t->digest, cname);

	if (have_old && stop_first) {
		say(d, "stopping %s first (%s)", old.name, s->update.stop_first ? "update.order: stop-first"
		    : "a shared network namespace: two containers cannot share a port");
		if (retire(d, &old, s->update.grace_ms, err) < 0)
			goto fail_history;
		old_gone = true;
	}
	if (start_container(d, t, cname, &nc, err) < 0) {
		why = kiln_xasprintf("%s did not start: %s", cname, err->message);
		kiln_error_clear(err);
		goto unhealthy;
	}
	ac.id = nc.id;
	address = container_address(d, s, &nc);
	ht = (struct kiln_health_target){ .address = address, .device = probe_device(d, s), .container = nc.id,
					  .self_exe = d->o->self_exe, .alive = alive, .ctx = &ac, .note = note_probe };
	desc = kiln_health_describe(s);
	say(d, "waiting for %s to be healthy (%s)", cname, desc);
	hr = kiln_health_wait(s, &ht, &why, err);
	if (hr < 0)
		goto fail_new;
	if (hr == 0) {
		_cleanup_free_ char *tail = log_tail(root, &nc);
		char *w = kiln_xasprintf("%s: %s%s", cname, why, tail);
		free(why);
		why = w;
		goto unhealthy;
	}
	if (bridge && s->n_publish) {
		if (kiln_net_service_switch(kiln_container_root_net(root), s->name, nc.id, s->ports, s->n_publish,
					    err) < 0) {
			why = kiln_xasprintf("%s is healthy, but its ports could not be switched to it: %s", cname,
					     err->message);
			kiln_error_clear(err);
			goto unhealthy;
		}
		say(d, "%s is healthy; published ports switched to it", cname);
	} else {
		/* This version publishes nothing: the ports an earlier one
		 * published go (else they would stay reserved, leading nowhere). */
		if (kiln_net_service_remove(kiln_container_root_net(root), s->name, err) < 0)
			goto fail_new;
		say(d, "%s is healthy", cname);
	}
	entry_init(d, &e, seq, action, "serving", t, cname);
	if (kiln_history_append(h, &e, err) < 0)
		goto out; /* it serves; the next command's repair writes the line */
	if (have_old && !old_gone) {
		if (s->update.drain_ms > 0) {
			say(d, "draining %s for %.1f s", old.name, (double)s->update.drain_ms / 1000);
			sleep_ms(s->update.drain_ms);
		}
		say(d, "stopping and removing %s", old.name);
		if (retire(d, &old, s->update.grace_ms, err) < 0)
			goto out;
	}
	if (s->update.monitor_ms > 0) {
		free(why);
		why = NULL;
		hr = watch(d, t, &nc, &why, err);
		if (hr < 0)
			goto out;
		if (hr == 0) {
			ssize_t prev = -1;
			say(d, "%s", why);
			kiln_history_deploys_free(v, nv);
			v = NULL;
			if (kiln_history_load(h, &v, &nv, err) < 0)
				goto out;
			for (size_t i = 0; i < nv; i++) /* what served before this deploy */
				if (v[i].e.seq != seq && !strcmp(v[i].e.result, "serving"))
					prev = (ssize_t)i;
			if (s->update.on_failure != KILN_UPDATE_ROLLBACK || d->depth >= MAX_DEPTH) {
				say(d, "update.on_failure: %s: %s stays", s->update.on_failure == KILN_UPDATE_ROLLBACK
				    ? "rollback (too many in a row)" : s->update.on_failure == KILN_UPDATE_PAUSE
				    ? "pause" : "continue", cname);
			} else if (prev < 0) {
				say(d, "update.on_failure: rollback: nothing served before #%u; %s stays", seq, cname);
			} else {
				struct target pt = { 0 };
				struct deploy sub = *d;
				struct kiln_deploy_options so = *d->o;
				struct kiln_container failed = { 0 };
				_cleanup_free_ char *trigger = kiln_xasprintf("auto-rollback of #%u: %s", seq, why);
				/* Condemned first: a kill from here on must not make
				 * the repair put this version back. */
				entry_init(d, &e, seq, action, "rolled-back", t, cname);
				e.message = why;
				if (kiln_history_append(h, &e, err) < 0)
					goto out;
				so.trigger = trigger;
				sub.o = &so;
				sub.depth++;
				say(d, "update.on_failure: rollback to #%u, %s@%.12s", v[prev].e.seq, s->name,
				    v[prev].e.commit);
				if (load_target(&sub, v[prev].e.commit, s->name, &pt, err) < 0 ||
				    deploy_target(&sub, h, &pt, "auto-rollback", err) != 0) {
					target_release(&pt);
					goto out;
				}
				target_release(&pt);
				/* The failed container goes, dead or alive (the
				 * rollback retired it if it still ran). */
				if (kiln_container_find(root, nc.id, &failed, KILN_ERROR_IGNORE) == 0) {
					kiln_container_remove(root, &failed, true, KILN_ERROR_IGNORE);
					kiln_container_release(&failed);
				}
			}
			kiln_error_set(err, "%s", why);
			rc = 1;
			goto out;
		}
	}
	say(d, "%s #%u: %s@%.12s serves", s->name, seq, s->name, t->commit);
	rc = 0;
	goto out;

unhealthy:
	/* The new container never got a request: remove it; the old one
	 * served throughout (unless stop-first took it down). */
	if (nc.id[0] && kiln_container_remove(root, &nc, true, KILN_ERROR_IGNORE) < 0)
		say(d, "warning: could not remove %s (the next deploy will)", nc.name);
	entry_init(d, &e, seq, action, "failed", t, cname);
	e.message = why;
	if (kiln_history_append(h, &e, err) < 0)
		goto out;
	if (old_gone && d->depth < MAX_DEPTH) {
		ssize_t cur = kiln_history_current(v, nv);
		if (cur >= 0) {
			struct target pt = { 0 };
			struct deploy sub = *d;
			sub.depth++;
			say(d, "%s failed after the old container was stopped; putting %s@%.12s back", cname, s->name,
			    v[cur].e.commit);
			if (load_target(&sub, v[cur].e.commit, s->name, &pt, err) < 0 ||
			    deploy_target(&sub, h, &pt, "auto-rollback", err) != 0) {
				target_release(&pt);
				goto out;
			}
			target_release(&pt);
		}
	}
	kiln_error_set(err, "%s", why);
	rc = 1;
	goto out;

fail_new:
	if (nc.id[0])
		kiln_container_remove(root, &nc, true, KILN_ERROR_IGNORE);
fail_history:
	{
		struct kiln_error e2 = { 0 };
		entry_init(d, &e, seq, action, "failed", t, cname);
		e.message = err->message;
		kiln_history_append(h, &e, &e2);
	}
out:
	kiln_container_release(&old);
	kiln_container_release(&nc);
	kiln_history_deploys_free(v, nv);
	return rc;
}

/* ---- repair ------------------------------------------------------------- */

static int repair_locked(struct deploy *d, struct kiln_history *h, const char *name, bool *repaired,
			 struct kiln_error *err)
{
	struct kiln_container_root *root = d->o->root;
	struct kiln_history_deploy *v = NULL;
	size_t nv = 0, nc = 0;
	struct kiln_container *cs = NULL, serving = { 0 };
	struct kiln_history_entry e;
	int rc = -1, sr;

	if (repaired)
		*repaired = false;
	if (kiln_history_load(h, &v, &nv, err) < 0)
		return -1;
	sr = serving_container(d, name, v, nv, &serving, err);
	if (sr < 0)
		goto out;
	if (nv && !v[nv - 1].finished) {
		struct kiln_history_entry *last = &v[nv - 1].e;
		bool finished = sr > 0 && !strcmp(serving.name, last->container);
		e = *last;
		e.time = wall_now();
		e.result = finished ? "serving" : "interrupted";
		e.message = finished ? "the deploy was killed after the switch; finished by the next kiln command"
				     : "the deploy was killed before the switch; undone by the next kiln command";
		if (kiln_history_append(h, &e, err) < 0)
			goto out;
		if (d->o->say)
			say(d, "%s #%u: %s", name, last->seq, e.message);
		if (repaired)
			*repaired = true;
	}
	if (sr > 0) {
		/* The ports' record says which container serves; make sure the
		 * ruleset says the same (a kill between the record's rename and
		 * the load). */
		struct kiln_net_port *ports = NULL;
		size_t n_ports = 0;
		char id[129];
		int lr = kiln_net_service_lookup(kiln_container_root_net(root), name, id, &ports, &n_ports, err);
		if (lr < 0 ||
		    (lr > 0 && !strcmp(id, serving.id) &&
		     kiln_net_service_switch(kiln_container_root_net(root), name, id, ports, n_ports, err) < 0) ||
		    /* ports left by an earlier version, leading to a container
		     * that is gone: the one serving publishes none */
		    (lr > 0 && strcmp(id, serving.id) &&
		     kiln_net_service_remove(kiln_container_root_net(root), name, err) < 0)) {
			free(ports);
			goto out;
		}
		free(ports);
	}
	if (service_containers(root, name, &cs, &nc, err) < 0)
		goto out;
	for (size_t i = 0; i < nc; i++) {
		if (sr > 0 && !strcmp(cs[i].id, serving.id))
			continue;
		/* With no history to put anything back from, a running
		 * container of the service is not taken down on a guess. */
		if (sr == 0 && kiln_history_current(v, nv) < 0 && running(root, &cs[i]))
			continue;
		if (d->o->say)
			say(d, "removing %s, left by an interrupted deploy", cs[i].name);
		if (kiln_container_remove(root, &cs[i], true, err) < 0)
			goto out;
		if (repaired)
			*repaired = true;
	}
	if (sr == 0) {
		ssize_t cur;
		kiln_history_deploys_free(v, nv);
		v = NULL;
		if (kiln_history_load(h, &v, &nv, err) < 0)
			goto out;
		cur = kiln_history_current(v, nv);
		if (cur >= 0 && d->o->git) {
			struct target t = { 0 };
			say(d, "%s: nothing serves; putting back #%u, %s@%.12s", name, v[cur].e.seq, name,
			    v[cur].e.commit);
			if (load_target(d, v[cur].e.commit, name, &t, err) < 0 ||
			    deploy_target(d, h, &t, "recover", err) != 0) {
				/* Said, not fatal: a deploy of another version (or
				 * kiln history) must still be possible. */
				say(d, "%s: could not put #%u back: %s", name, v[cur].e.seq, err->message);
				kiln_error_clear(err);
			}
			target_release(&t);
			if (repaired)
				*repaired = true;
		}
	}
	rc = 0;
out:
	kiln_container_release(&serving);
	kiln_container_list_free(cs, nc);
	kiln_history_deploys_free(v, nv);
	return rc;
}

/* The store, read-only (a build it starts takes the write lock itself).
 * Until something is built there may be no store yet: d->store stays NULL
 * and resolve_snapshot builds first. */
static int open_store(struct deploy *d, struct kiln_error *err)
{
	const struct kiln_deploy_options *o = d->o;

	if (!d->store_dir)
		d->store_dir = kiln_store_default_dir(o->store_dir, kiln_git_workdir(o->git));
	if (d->store)
		return 0;
	d->store = kiln_store_open_default(o->store_dir, kiln_git_workdir(o->git), false, err);
	if (!d->store && kiln_error_is(err, KILN_CAUSE_NOT_FOUND)) {
		kiln_error_clear(err);
		return 0;
	}
	return d->store ? 0 : -1;
}

static void deploy_release(struct deploy *d)
{
	kiln_store_free(d->store);
	free(d->store_dir);
}

static struct kiln_history *locked_history(struct deploy *d, const char *name, struct kiln_error *err)
{
	struct kiln_history *h = kiln_history_open(kiln_container_root_dir(d->o->root), name, err);
	int r;

	if (!h)
		return NULL;
	r = kiln_history_lock(h, true, err);
	if (r == KILN_LOCKFILE_BUSY) {
		say(d, "%s: another deploy of this service is running; waiting for it", name);
		r = kiln_history_lock(h, false, err);
	}
	if (r < 0) {
		kiln_history_free(h);
		return NULL;
	}
	return h;
}

int kiln_deploy_repair(const struct kiln_deploy_options *o, const char *name, bool *repaired,
		       struct kiln_error *err)
{
	struct deploy d = { .o = o };
	struct kiln_history *h;
	int rc;

	if (o->git && open_store(&d, err) < 0)
		return -1;
	h = locked_history(&d, name, err);
	if (!h) {
		deploy_release(&d);
		return -1;
	}
	rc = repair_locked(&d, h, name, repaired, err);
	kiln_history_free(h);
	deploy_release(&d);
	return rc;
}

static int run_one(struct deploy *d, const char *name, const char *manifest_rel, struct kiln_error *err)
{
	const struct kiln_deploy_options *o = d->o;
	struct kiln_history *h = NULL;
	struct target t = { 0 };
	const char *action = o->action == KILN_DEPLOY_ROLLBACK ? "rollback" : "deploy";
	_cleanup_free_ char *own_name = NULL, *rev = NULL;
	struct kiln_deploy_options sub = *o;
	struct deploy dd = *d;
	int rc = -1;

	if (manifest_rel)
		sub.manifest_path = manifest_rel;
	dd.o = &sub;
	/* The name locks the service; with -f alone, it is the manifest's at REV. */
	if (!name) {
		struct manifest_at ma = { 0 };
		char commit[KILN_GIT_OID_HEX + 1];
		int64_t commit_time;
		if (kiln_git_resolve(o->git, o->rev ? o->rev : "HEAD", commit, &commit_time, err) < 0 ||
		    find_manifest(&dd, commit, NULL, &ma, err) < 0)
			return -1;
		own_name = kiln_xstrdup(ma.m->name);
		manifest_at_release(&ma);
		name = own_name;
	}
	h = locked_history(&dd, name, err);
	if (!h)
		return -1;
	if (repair_locked(&dd, h, name, NULL, err) < 0)
		goto out;
	if (o->action == KILN_DEPLOY_ROLLBACK && !o->rev) {
		struct kiln_history_deploy *v;
		size_t nv;
		ssize_t prev;
		if (kiln_history_load(h, &v, &nv, err) < 0)
			goto out;
		prev = kiln_history_previous(v, nv);
		if (prev < 0) {
			kiln_history_deploys_free(v, nv);
			kiln_error_set(err, "service \"%s\": nothing served before the current deploy (see kiln "
				       "history %s); name a commit with --to", name, name);
			goto out;
		}
		rev = kiln_xstrdup(v[prev].e.commit);
		say(&dd, "rolling back to #%u: %s@%.12s (%s)", v[prev].e.seq, name, v[prev].e.commit,
		    v[prev].e.digest);
		kiln_history_deploys_free(v, nv);
	}
	if (load_target(&dd, rev ? rev : o->rev ? o->rev : "HEAD", name, &t, err) < 0)
		goto out;
	rc = deploy_target(&dd, h, &t, action, err);
out:
	target_release(&t);
	kiln_history_free(h);
	return rc;
}

int kiln_deploy_run(const struct kiln_deploy_options *o, struct kiln_error *err)
{
	struct deploy d = { .o = o };
	int rc;

	if (open_store(&d, err) < 0)
		return -1;
	rc = run_one(&d, o->name, NULL, err);
	deploy_release(&d);
	return rc;
}

/* ---- --all ----------------------------------------------------------------- */

struct svc {
	char *name, *rel;
	char **after; size_t n_after;
	int on_failure;
	int state; /* 0 new, 1 visiting, 2 placed */
};

static int place(struct svc *v, size_t n, size_t i, size_t **order, size_t *n_order, struct kiln_error *err)
{
	if (v[i].state == 2)
		return 0;
	if (v[i].state == 1)
		return kiln_error_set(err, "service \"%s\": its after: list makes a cycle", v[i].name);
	v[i].state = 1;
	for (size_t k = 0; k < v[i].n_after; k++) {
		size_t j;
		for (j = 0; j < n && strcmp(v[j].name, v[i].after[k]); j++)
			;
		if (j == n)
			return kiln_error_set(err, "service \"%s\" (%s): after: names \"%s\", which is no service of "
					      "this commit", v[i].name, v[i].rel, v[i].after[k]);
		if (place(v, n, j, order, n_order, err) < 0)
			return -1;
	}
	v[i].state = 2;
	(*order)[(*n_order)++] = i;
	return 0;
}

int kiln_deploy_all(const struct kiln_deploy_options *o, struct kiln_error *err)
{
	struct deploy d = { .o = o };
	struct yaml_list l = { 0 };
	struct svc *v = NULL;
	size_t n = 0, n_order = 0, *order = NULL;
	char commit[KILN_GIT_OID_HEX + 1];
	int64_t commit_time;
	int rc = -1, worst = 0;

	if (kiln_git_resolve(o->git, o->rev ? o->rev : "HEAD", commit, &commit_time, err) < 0 ||
	    list_manifests(o->git, commit, &l, err) < 0)
		goto out;
	v = kiln_xcalloc(l.n + 1, sizeof(*v));
	for (size_t i = 0; i < l.n; i++) {
		struct manifest_at a = { 0 };
		struct kiln_service_spec s = { 0 };
		if (read_manifest(o->git, commit, l.v[i], &a, err) < 0)
			goto out;
		if (!a.m->service.present) {
			manifest_at_release(&a);
			continue;
		}
		if (kiln_service_spec_from_manifest(a.m, &s, err) < 0) {
			kiln_error_prefix(err, "%s at %.12s", l.v[i], commit);
			manifest_at_release(&a);
			goto out;
		}
		for (size_t k = 0; k < n; k++)
			if (!strcmp(v[k].name, s.name)) {
				kiln_error_set(err, "two manifests name the service \"%s\": %s and %s", s.name, v[k].rel,
					       l.v[i]);
				kiln_service_spec_release(&s);
				manifest_at_release(&a);
				goto out;
			}
		v[n].name = kiln_xstrdup(s.name);
		v[n].rel = kiln_xstrdup(l.v[i]);
		v[n].after = kiln_strv_dup(s.after, s.n_after);
		v[n].n_after = s.n_after;
		v[n].on_failure = s.update.on_failure;
		n++;
		kiln_service_spec_release(&s);
		manifest_at_release(&a);
	}
	if (!n) {
		kiln_error_set(err, "commit %.12s has no service (no manifest with service: in kiln.yaml or "
			       "manifests/*.yaml)", commit);
		goto out;
	}
	order = kiln_xcalloc(n, sizeof(*order));
	for (size_t i = 0; i < n; i++)
		if (place(v, n, i, &order, &n_order, err) < 0)
			goto out;
	if (open_store(&d, err) < 0)
		goto out;
	{
		struct kiln_deploy_options fixed = *o;
		struct deploy dd = d;
		fixed.rev = commit;
		dd.o = &fixed;
		for (size_t k = 0; k < n_order; k++) {
			struct svc *s = &v[order[k]];
			struct kiln_error e = { 0 };
			int r;
			say(&dd, "== %s (%s)", s->name, s->rel);
			r = run_one(&dd, s->name, s->rel, &e);
			if (r != 0) {
				say(&dd, "%s: %s", s->name, e.message);
				if (!worst || r < 0)
					*err = e;
				worst = r < 0 ? -1 : worst ? worst : 1;
				if (s->on_failure != KILN_UPDATE_CONTINUE)
					break;
			}
		}
	}
	rc = worst;
out:
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].rel);
		kiln_strv_free(v[i].after, v[i].n_after);
	}
	free(v);
	free(order);
	kiln_strv_free(l.v, l.n);
	deploy_release(&d);
	return rc;
}
