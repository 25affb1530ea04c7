/* Containers: the state on disk (state.json, names, the root and its lock),
 * listing and lookup.  The other parts: container-int.h. */
#include "container.h"
#include "container-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "fsutil.h"
#include "lockfile.h"
#include "net.h"
#include "process.h"
#include "oci.h"
#include "rootfs.h"
#include "runtime.h"
#include "util.h"
#include "values.h"

/* ---- small helpers ---------------------------------------------------- */

void kiln_container_release(struct kiln_container *c)
{
	free(c->name);
	free(c->snapshot);
	free(c->image);
	free(c->commit);
	free(c->service);
	kiln_strv_free(c->command, c->n_command);
	free(c->runtime);
	free(c->network);
	kiln_strv_free(c->ports, c->n_ports);
	free(c->address);
	free(c->stop_signal);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

void kiln_container_list_free(struct kiln_container *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kiln_container_release(&v[i]);
	free(v);
}

const char *kiln_container_status_name(enum kiln_container_status s)
{
	switch (s) {
	case KILN_CONTAINER_CREATED: return "created";
	case KILN_CONTAINER_RUNNING: return "running";
	case KILN_CONTAINER_EXITED: return "exited";
	}
	return "unknown";
}

bool kiln_container_name_valid(const char *name)
{
	return kiln_values_name(name, strlen(name)) == NULL;
}

int kiln_container_parse_log_max(const char *text, int64_t *size, int *files, struct kiln_error *err)
{
	_cleanup_free_ char *copy = kiln_xstrdup(text);
	char *colon = strchr(copy, ':'), *end;

	if (colon)
		*colon++ = 0;
	if (kiln_bundle_parse_size(copy, size, err) < 0)
		return -1;
	if (colon) {
		long v;
		errno = 0;
		v = strtol(colon, &end, 10);
		if (errno || end == colon || *end || v < 1 || v > KILN_CONTAINER_LOG_FILES_MAX)
			return kiln_error_set(err, "'%s': FILES must be a number from 1 to %d", text,
					      KILN_CONTAINER_LOG_FILES_MAX);
		*files = (int)v;
	}
	return 0;
}

char *kiln_container_state_dir(const struct kiln_container_root *r, const char *id)
{
	return kiln_xasprintf("%s/containers/%s", r->run, id);
}

char *kiln_container_layer_dir(const struct kiln_container_root *r, const char *id)
{
	return kiln_xasprintf("%s/containers/%s", r->root, id);
}

char *kiln_container_state_file(const struct kiln_container_root *r, const char *id, const char *file)
{
	return kiln_xasprintf("%s/containers/%s/%s", r->run, id, file);
}

/* The state of live containers is volatile (RUN is a tmpfs) and must be
 * cheap to write: replaced by rename, without fsync. */
int kiln_container_write_file_quick(const char *path, const char *data, size_t len, struct kiln_error *err)
{
	return kiln_file_replace(path, data, len, 0644, KILN_FILE_NOSYNC, err);
}

int kiln_container_lock(struct kiln_container_root *r, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_path_join(r->run, "lock");
	if (r->lock_fd >= 0)
		return 0;
	r->lock_fd = kiln_lockfile_open(path, 0600, 0, err);
	return r->lock_fd < 0 ? (r->lock_fd = -1) : 0;
}

void kiln_container_unlock(struct kiln_container_root *r)
{
	if (r->lock_fd >= 0) {
		close(r->lock_fd);
		r->lock_fd = -1;
	}
}

/* Try to take the container's monitor lock: the fd when taken (the monitor
 * is gone), -1 when a monitor holds it or the lock cannot be checked (no
 * fd left, no permission: never take a live container for a dead one), -2
 * when there is no lock file (a creation that died before making it). */
int kiln_container_monitor_lock_try(const struct kiln_container_root *r, const char *id)
{
	_cleanup_free_ char *path = kiln_container_state_file(r, id, "monitor.lock");
	int fd = kiln_lockfile_open(path, 0, KILN_LOCKFILE_TRY | KILN_LOCKFILE_NO_CREATE, NULL);

	if (fd == -1 && errno == ENOENT)
		return -2;
	return fd < 0 ? -1 : fd;
}

bool kiln_container_monitored(const struct kiln_container_root *r, const struct kiln_container *c)
{
	int fd = kiln_container_monitor_lock_try(r, c->id);
	if (fd >= 0)
		close(fd);
	return fd == -1;
}

/* ---- state.json --------------------------------------------------------- */

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void set_opt(json_t *o, const char *key, const char *v)
{
	if (v)
		json_object_set_new(o, key, json_string(v));
}

static char *state_json(const struct kiln_container *c)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "id", json_string(c->id));
	set_opt(o, "name", c->name);
	set_opt(o, "snapshot", c->snapshot);
	set_opt(o, "image", c->image);
	set_opt(o, "commit", c->commit);
	set_opt(o, "service", c->service);
	json_object_set_new(o, "command", strv_json(c->command, c->n_command));
	set_opt(o, "runtime", c->runtime);
	set_opt(o, "network", c->network);
	json_object_set_new(o, "ports", strv_json(c->ports, c->n_ports));
	set_opt(o, "address", c->address);
	set_opt(o, "stop_signal", c->stop_signal);
	set_opt(o, "error", c->error);
	json_object_set_new(o, "auto_remove", json_boolean(c->auto_remove));
	json_object_set_new(o, "init", json_boolean(c->init));
	json_object_set_new(o, "status", json_string(kiln_container_status_name(c->status)));
	json_object_set_new(o, "exit_code", json_integer(c->exit_code));
	json_object_set_new(o, "pid", json_integer(c->pid));
	json_object_set_new(o, "monitor_pid", json_integer(c->monitor_pid));
	json_object_set_new(o, "created", json_integer(c->created));
	json_object_set_new(o, "started", json_integer(c->started));
	json_object_set_new(o, "finished", json_integer(c->finished));
	s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

int kiln_container_state_save(const struct kiln_container_root *r, const struct kiln_container *c,
			      struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_container_state_file(r, c->id, "state.json");
	_cleanup_free_ char *text = state_json(c);
	_cleanup_free_ char *with_nl = kiln_xasprintf("%s\n", text);
	return kiln_container_write_file_quick(path, with_nl, strlen(with_nl), err);
}

static char *json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? kiln_xstrdup(json_string_value(v)) : NULL;
}

static void json_strv(json_t *o, const char *key, char ***out, size_t *n)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;
	*out = kiln_xcalloc(json_array_size(a) + 1, sizeof(char *));
	*n = 0;
	json_array_foreach(a, i, v)
		if (json_is_string(v))
			(*out)[(*n)++] = kiln_xstrdup(json_string_value(v));
}

int kiln_container_state_load(const struct kiln_container_root *r, const char *id, struct kiln_container *c,
			      struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_container_state_file(r, id, "state.json");
	_cleanup_free_ char *text = NULL, *status = NULL, *sid = NULL;
	json_error_t jerr;
	json_t *o;
	size_t len;

	memset(c, 0, sizeof(*c));
	text = kiln_file_read(path, STATE_MAX, &len, err);
	if (!text)
		return -1;
	o = json_loadb(text, len, 0, &jerr);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return kiln_error_set(err, "'%s': %s", path, o ? "not an object" : jerr.text);
	}
	sid = json_str(o, "id");
	if (!sid || strcmp(sid, id) != 0) {
		json_decref(o);
		return kiln_error_set(err, "'%s': id is not %s", path, id);
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->name = json_str(o, "name");
	c->snapshot = json_str(o, "snapshot");
	c->image = json_str(o, "image");
	/* Absent from state.json written before they existed: NULL. */
	c->commit = json_str(o, "commit");
	c->service = json_str(o, "service");
	json_strv(o, "command", &c->command, &c->n_command);
	c->runtime = json_str(o, "runtime");
	c->network = json_str(o, "network");
	json_strv(o, "ports", &c->ports, &c->n_ports);
	c->address = json_str(o, "address");
	c->stop_signal = json_str(o, "stop_signal");
	c->error = json_str(o, "error");
	c->auto_remove = json_is_true(json_object_get(o, "auto_remove"));
	c->init = json_is_true(json_object_get(o, "init"));
	status = json_str(o, "status");
	c->status = !status ? KILN_CONTAINER_EXITED
		    : strcmp(status, "created") == 0 ? KILN_CONTAINER_CREATED
		    : strcmp(status, "running") == 0 ? KILN_CONTAINER_RUNNING
						      : KILN_CONTAINER_EXITED;
	c->exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
	c->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	c->monitor_pid = (pid_t)json_integer_value(json_object_get(o, "monitor_pid"));
	c->created = json_integer_value(json_object_get(o, "created"));
	c->started = json_integer_value(json_object_get(o, "started"));
	c->finished = json_integer_value(json_object_get(o, "finished"));
	json_decref(o);
	if (!c->name)
		c->name = kiln_xstrndup(id, 12);
	if (!c->runtime)
		c->runtime = kiln_xstrdup(DEFAULT_RUNTIME);
	return 0;
}

/* ---- the root ------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
	return s && *s ? kiln_xstrdup(s) : NULL;
}

struct kiln_container_root *kiln_container_root_open(const struct kiln_container_root_options *o,
						     struct kiln_error *err)
{
	static const struct kiln_container_root_options defaults;
	struct kiln_container_root *r = kiln_xcalloc(1, sizeof(*r));
	const char *env, *cg;
	const char *dirs[5];

	if (!o)
		o = &defaults;
	env = o->root;
	cg = o->cgroup_parent;
	r->lock_fd = -1;
	if (env && *env) {
		if (env[0] != '/') {
			kiln_error_set(err, "KILN_ROOT '%s' is not an absolute path", env);
			free(r);
			return NULL;
		}
		r->root = kiln_xstrdup(env);
		r->run = kiln_path_join(env, "run");
	} else {
		r->root = kiln_xstrdup(KILN_CONTAINER_ROOT_DEFAULT);
		r->run = kiln_xstrdup("/run/kiln");
	}
	r->runc_root = kiln_path_join(r->run, "runc");
	r->cgroup_parent = kiln_xasprintf("/%s", cg && *cg ? cg + (cg[0] == '/') : "kiln");
	r->net_dir = kiln_path_join(r->run, "net");
	r->net.state_dir = r->net_dir;
	/* Tests give each run its own bridge, subnet and table. */
	r->net_bridge = dup_or_null(o->net_bridge);
	r->net_subnet = dup_or_null(o->net_subnet);
	r->net_table = dup_or_null(o->net_table);
	r->net.bridge = r->net_bridge;
	r->net.subnet = r->net_subnet;
	r->net.nft_table = r->net_table;
	dirs[0] = r->root;
	dirs[1] = r->run;
	for (int i = 0; i < 2; i++) {
		if (kiln_mkdir_p(dirs[i], 0711, err) < 0) {
			kiln_container_root_free(r);
			return NULL;
		}
	}
	{
		_cleanup_free_ char *a = kiln_path_join(r->run, "containers");
		_cleanup_free_ char *b = kiln_path_join(r->run, "names");
		_cleanup_free_ char *c = kiln_path_join(r->root, "containers");
		if (kiln_mkdir_p(a, 0700, err) < 0 || kiln_mkdir_p(b, 0700, err) < 0 ||
		    kiln_mkdir_p(c, 0700, err) < 0) {
			kiln_container_root_free(r);
			return NULL;
		}
	}
	if (kiln_container_reap(r, err) < 0) {
		kiln_container_root_free(r);
		return NULL;
	}
	return r;
}

void kiln_container_root_free(struct kiln_container_root *r)
{
	if (!r)
		return;
	kiln_container_unlock(r);
	free(r->root);
	free(r->run);
	free(r->runc_root);
	free(r->cgroup_parent);
	free(r->net_dir);
	free(r->net_bridge);
	free(r->net_subnet);
	free(r->net_table);
	free(r);
}

const char *kiln_container_root_dir(const struct kiln_container_root *r) { return r->root; }
const struct kiln_net_config *kiln_container_root_net(const struct kiln_container_root *r) { return &r->net; }
const char *kiln_container_run_dir(const struct kiln_container_root *r) { return r->run; }

/* ---- listing and lookup ----------------------------------------------------- */

static int by_created(const void *a, const void *b)
{
	const struct kiln_container *x = a, *y = b;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

int kiln_container_list(struct kiln_container_root *r, struct kiln_container **out, size_t *n,
			struct kiln_error *err)
{
	_cleanup_free_ char *cdir = kiln_path_join(r->run, "containers");
	DIR *d = opendir(cdir);
	struct dirent *de;
	size_t alloc = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return kiln_error_errno(err, errno, "open '%s'", cdir);
	while ((de = readdir(d))) {
		struct kiln_container c;
		if (de->d_name[0] == '.' || strlen(de->d_name) != KILN_CONTAINER_ID_HEX)
			continue;
		if (kiln_container_state_load(r, de->d_name, &c, KILN_ERROR_IGNORE) < 0)
			continue; /* being created or removed right now */
		kiln_xgrow(out, &alloc, *n + 1, sizeof(**out));
		(*out)[(*n)++] = c;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), by_created);
	return 0;
}

int kiln_container_find(struct kiln_container_root *r, const char *name_or_id, struct kiln_container *out,
			struct kiln_error *err)
{
	_cleanup_free_ char *link = NULL;
	char target[KILN_CONTAINER_ID_HEX + 2];
	ssize_t n;
	struct kiln_container *all = NULL;
	size_t count = 0, hits = 0, hit = 0, len = strlen(name_or_id);

	memset(out, 0, sizeof(*out));
	if (kiln_container_name_valid(name_or_id)) {
		link = kiln_xasprintf("%s/names/%s", r->run, name_or_id);
		n = readlink(link, target, sizeof(target) - 1);
		if (n == KILN_CONTAINER_ID_HEX) {
			target[n] = 0;
			if (kiln_container_state_load(r, target, out, NULL) == 0)
				return 0;
		}
	}
	if (len < 4 || len > KILN_CONTAINER_ID_HEX || strspn(name_or_id, "0123456789abcdef") != len)
		return kiln_error_set(err, "no container '%s'", name_or_id);
	if (kiln_container_list(r, &all, &count, err) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (strncmp(all[i].id, name_or_id, len) == 0) {
			hits++;
			hit = i;
		}
	}
	if (hits == 1) {
		*out = all[hit];
		memset(&all[hit], 0, sizeof(all[hit]));
	}
	kiln_container_list_free(all, count);
	if (hits == 0)
		return kiln_error_set(err, "no container '%s'", name_or_id);
	if (hits > 1)
		return kiln_error_set(err, "'%s' names %zu containers: give more of the id", name_or_id, hits);
	return 0;
}
