#include "build.h"

#include <errno.h>
#include <sys/stat.h>
#include <libdeflate.h>
#include <stdarg.h>
#include <zstd.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accounts.h"
#include "base.h"
#include "buildcache.h"
#include "compress.h"
#include "deb.h"
#include "dpkg.h"
#include "fetch.h"
#include "fsutil.h"
#include "hash.h"
#include "imagefs.h"
#include "layer.h"
#include "lock.h"
#include "manifest.h"
#include "mirror.h"
#include "pool.h"
#include "provenance.h"
#include "record.h"
#include "sign.h"
#include "dsse.h"
#include "stage.h"
#include "store.h"
#include "util.h"

enum layer_kind { LAYER_BASE, LAYER_ROOT, LAYER_PACKAGES, LAYER_DPKG, LAYER_CONFIGURE, LAYER_FILES, LAYER_RUN };

struct plan_layer {
	enum layer_kind kind;
	unsigned bucket;
	size_t step;                     /* LAYER_RUN: index into m->run */
	size_t *pkgs; size_t n_pkgs;     /* indices into lock->packages */
	char key[KILN_SHA256_HEX_LEN + 1];
	char *what;
	bool cached;
	struct kiln_oci_descriptor blob;
	char diff_id[KILN_OCI_DIGEST_LEN + 1];
	struct kiln_buf tar;             /* uncompressed, when built */
	struct kiln_buf packed;          /* compressed */
};

struct build {
	const struct kiln_build_options *opt;
	struct kiln_git *git;
	struct kiln_manifest *m;
	struct kiln_lock *lock;
	struct kiln_store *store;
	struct kiln_key *key;            /* NULL: unsigned */
	char commit[KILN_GIT_OID_HEX + 1];
	char lock_digest[KILN_OCI_DIGEST_LEN + 1];
	char *lock_rel;
	struct kiln_buildcache cache;    /* usable when its secret loaded */
	bool has_source_date;
	int64_t commit_time, created, epoch;
	char *manifest_rel;              /* manifest path relative to the work tree */
	char *manifest_dir_rel;          /* its directory ("" at the top) */
	struct plan_layer *layers; size_t n_layers;
	struct kiln_base *base;          /* NULL: scratch */
	char *base_uri;                  /* the provenance's name of the base */
	size_t root_layer;               /* the index of the root layer (above the base's) */
	char (*from_digests)[KILN_OCI_DIGEST_LEN + 1]; /* files[i].from's image, "" without from */
	/* Packages are configured (docs/building.md, Maintainer scripts):
	 * the lock lists scripts and the manifest does not say skip. */
	bool configure;
	const char *compression;         /* "gzip" or "zstd" */
	int level;
	char compressor_id[128];
};

static void note(const struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const struct build *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!b->opt->note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	b->opt->note(b->opt->note_ctx, line);
}

/* Which compressor made the bytes, for the image's history. */
static void describe_compressor(const char *kind, int level, char *out, size_t len)
{
	if (strcmp(kind, "zstd") == 0)
		snprintf(out, len, "zstd %s level %d", ZSTD_versionString(), level);
	else
		snprintf(out, len, "gzip by libdeflate %s level %d", LIBDEFLATE_VERSION_STRING, level);
}

/* An absolute, lexically normal path for p (which need not exist). */
static char *absolute_path(const char *p)
{
	char cwd[PATH_MAX];
	struct kiln_buf out = KILN_BUF_INIT;
	_cleanup_free_ char *joined = NULL;
	char *save = NULL, *part;

	if (p[0] == '/')
		joined = kiln_xstrdup(p);
	else
		joined = kiln_path_join(getcwd(cwd, sizeof(cwd)) ? cwd : ".", p);
	for (part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			char *slash = out.len ? strrchr(out.data, '/') : NULL;
			if (slash)
				out.len = (size_t)(slash - out.data), out.data[out.len] = '\0';
			continue;
		}
		kiln_buf_addch(&out, '/');
		kiln_buf_adds(&out, part);
	}
	if (!out.len)
		kiln_buf_addch(&out, '/');
	return kiln_buf_detach(&out);
}

/* Where the manifest is inside the repository. */
static int locate_manifest(struct build *b, struct kiln_error *err)
{
	_cleanup_free_ char *abs = absolute_path(b->opt->manifest_path);
	_cleanup_free_ char *real_wd = realpath(kiln_git_workdir(b->git), NULL);
	const char *wd = real_wd ? real_wd : kiln_git_workdir(b->git);
	size_t n = strlen(wd);
	char *real_abs_dir = NULL;

	/* Resolve symlinks in the directory part (e.g. /tmp on some systems). */
	{
		_cleanup_free_ char *dir = kiln_path_dirname(abs);
		real_abs_dir = realpath(dir, NULL);
		if (real_abs_dir) {
			const char *base = strrchr(abs, '/') + 1;
			char *joined = kiln_path_join(real_abs_dir, base);
			free(abs);
			abs = joined;
			free(real_abs_dir);
		}
	}
	if (strncmp(abs, wd, n) != 0 || abs[n] != '/')
		return kiln_error_set(err, "%s is not inside the git work tree %s", b->opt->manifest_path, wd);
	b->manifest_rel = kiln_xstrdup(abs + n + 1);
	{
		char *slash = strrchr(b->manifest_rel, '/');
		b->manifest_dir_rel = slash ? kiln_xstrndup(b->manifest_rel, (size_t)(slash - b->manifest_rel))
					    : kiln_xstrdup("");
	}
	return 0;
}

static int parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || !*s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* Read the manifest and its lock from the commit; check the lock is current. */
static int load_inputs(struct build *b, struct kiln_error *err)
{
	_cleanup_free_ char *text = NULL, *lock_text = NULL, *lock_rel = NULL, *label = NULL;
	_cleanup_free_ char *inputs = NULL;
	size_t len;
	bool found;

	text = kiln_git_read_file(b->git, b->commit, b->manifest_rel, &len, &found, err);
	if (!text) {
		if (!found && !kiln_error_isset(err))
			kiln_error_set(err, "%s is not in commit %.12s (commit it first: kiln builds what is "
				       "committed, not the work directory)", b->manifest_rel, b->commit);
		return -1;
	}
	label = kiln_xasprintf("%s@%.12s", b->manifest_rel, b->commit);
	b->m = kiln_manifest_parse(label, text, len, err);
	if (!b->m)
		return -1;
	lock_rel = kiln_lock_path_for(b->manifest_rel);
	lock_text = kiln_git_read_file(b->git, b->commit, lock_rel, &len, &found, err);
	if (!lock_text) {
		if (!found && !kiln_error_isset(err))
			kiln_error_set(err, "%s is not in commit %.12s: run `kiln lock` and commit the lock",
				       lock_rel, b->commit);
		return -1;
	}
	free(label);
	label = kiln_xasprintf("%s@%.12s", lock_rel, b->commit);
	b->lock = kiln_lock_parse(label, lock_text, len, err);
	if (!b->lock)
		return -1;
	{
		char hex[KILN_SHA256_HEX_LEN + 1];
		kiln_sha256_hex(lock_text, len, hex);
		snprintf(b->lock_digest, sizeof(b->lock_digest), "sha256:%s", hex);
		b->lock_rel = kiln_xstrdup(lock_rel);
	}
	inputs = kiln_lock_inputs(b->m);
	if (strcmp(inputs, b->lock->inputs) != 0) {
		_cleanup_free_ char *why = kiln_lock_explain_drift(b->lock, b->m);
		return kiln_error_set(err, "%s does not match %s at %.12s (%s): run `kiln lock` and commit "
				      "the lock", lock_rel, b->manifest_rel, b->commit, why);
	}
	if (!(b->m->scripts && strcmp(b->m->scripts, "skip") == 0))
		for (size_t i = 0; i < b->lock->n_packages; i++)
			b->configure |= b->lock->packages[i].n_scripts > 0;
	if (parse_int64(b->m->epoch ? b->m->epoch : "0", &b->epoch) < 0)
		return kiln_error_set(err, "%s: epoch \"%s\" is not a number of seconds", b->manifest_rel,
				      b->m->epoch);
	/* The image's own timestamps come from the commit, unless the
	 * caller's SOURCE_DATE_EPOCH says otherwise (reproducible-builds.org). */
	b->created = b->commit_time;
	if (b->opt->date_mode == KILN_BUILD_DATE_GIVEN) {
		b->created = b->opt->source_date;
		b->has_source_date = true;
	} else if (b->opt->date_mode == KILN_BUILD_DATE_ENV) {
		const char *sde = b->opt->source_date_epoch;
		if (sde && *sde) {
			if (parse_int64(sde, &b->created) < 0)
				return kiln_error_set(err, "SOURCE_DATE_EPOCH=\"%s\" is not a number of seconds", sde);
			b->has_source_date = true;
		}
	}
	return 0;
}

static unsigned bucket_of(const char *name)
{
	char hex[KILN_SHA256_HEX_LEN + 1];
	kiln_sha256_hex(name, strlen(name), hex);
	return (unsigned)strtoul((char[]){ hex[0], hex[1], 0 }, NULL, 16) % KILN_PACKAGE_BUCKETS;
}

static struct plan_layer *add_layer(struct build *b, enum layer_kind kind, size_t *alloc)
{
	struct plan_layer *l;

	kiln_xgrow(&b->layers, alloc, b->n_layers + 1, sizeof(*b->layers));
	l = &b->layers[b->n_layers++];
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	return l;
}

/* Every key chains the key of the layer below: a layer's bytes can depend
 * on what is under it (symlinks its paths resolve through, the modes of
 * the directories it writes into). */
static void key_start(struct kiln_buf *k, const struct build *b, const char *kind)
{
	kiln_buf_printf(k, "%s\n%s\nepoch %lld\ncompression %s %d\nbelow %s\n", KILN_FORMAT_VERSION,
			kind, (long long)b->epoch, b->compression, b->level,
			b->n_layers > 1 ? b->layers[b->n_layers - 2].key : "-");
}

static void key_package(struct kiln_buf *k, const struct kiln_lock_package *p)
{
	kiln_buf_printf(k, "package %s %s %s %s\n", p->name, p->version, p->architecture, p->sha256);
}

static void key_finish(struct kiln_buf *k, char out[KILN_SHA256_HEX_LEN + 1])
{
	kiln_sha256_hex(k->data, k->len, out);
	kiln_buf_release(k);
}

static char *src_path(const struct build *b, const char *src)
{
	size_t n = strlen(src);
	while (n > 1 && src[n - 1] == '/')
		n--;
	if (!*b->manifest_dir_rel)
		return kiln_xstrndup(src, n);
	return kiln_xasprintf("%s/%.*s", b->manifest_dir_rel, (int)n, src);
}

/* ---- run: steps (docs/building.md, Steps that run) ---- */

/* Bump when what a step's layer holds for the same output changes (what
 * is dropped or clamped, the sandbox): it is in every step's key. */
#define KILN_STAGE_FORMAT "kiln-stage-2"

/* The whole environment of a step: fixed, never the host's, nor the image
 * config's env (which is for the image's containers; a step that wants a
 * variable sets it itself, and the config can change without rebuilding
 * the steps).  NULL-terminated. */
static char **step_env(const struct build *b)
{
	char **env = kiln_xcalloc(8, sizeof(char *));
	size_t n = 0;

	env[n++] = kiln_xasprintf("SOURCE_DATE_EPOCH=%lld", (long long)b->epoch);
	env[n++] = kiln_xstrdup("PATH=" KILN_STAGE_PATH);
	env[n++] = kiln_xstrdup("LANG=C.UTF-8");
	env[n++] = kiln_xstrdup("TZ=UTC");
	env[n++] = kiln_xstrdup("HOME=/root");
	env[n++] = kiln_xstrdup("DEBIAN_FRONTEND=noninteractive");
	return env;
}

/* s as a JSON string. */
static void json_quote(struct kiln_buf *out, const char *s)
{
	kiln_buf_addch(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			kiln_buf_printf(out, "\\%c", *p);
		else if (*p == '\n')
			kiln_buf_adds(out, "\\n");
		else if (*p < 0x20 || *p == 0x7f)
			kiln_buf_printf(out, "\\u%04x", *p);
		else
			kiln_buf_addch(out, (char)*p);
	}
	kiln_buf_addch(out, '"');
}

/* The history's created_by of a step: "run: /bin/sh -c TEXT" or
 * "run: [\"ARG\", …]" (JSON strings). */
static char *step_what(const struct kiln_run_step *st)
{
	struct kiln_buf w = KILN_BUF_INIT;

	if (!st->exec) {
		kiln_buf_printf(&w, "run: /bin/sh -c %s", st->argv[0]);
		return kiln_buf_detach(&w);
	}
	kiln_buf_adds(&w, "run: [");
	for (size_t i = 0; i < st->n_argv; i++) {
		if (i)
			kiln_buf_adds(&w, ", ");
		json_quote(&w, st->argv[i]);
	}
	kiln_buf_addch(&w, ']');
	return kiln_buf_detach(&w);
}

/* ---- maintainer scripts (docs/building.md, Maintainer scripts) ---- */

static bool has_script(const struct kiln_lock_package *p, const char *name)
{
	for (size_t i = 0; i < p->n_scripts; i++)
		if (strcmp(p->scripts[i], name) == 0)
			return true;
	return false;
}

/* Dependencies first (the lock's depends: Depends and Pre-Depends), ties
 * and cycles broken by name: the order apt unpacks a fresh install in,
 * as near as it matters after everything is unpacked. */
static void depends_first(const struct kiln_lock *lock, size_t i, unsigned char *state, size_t *order, size_t *n)
{
	if (state[i])
		return;
	state[i] = 1;
	for (size_t k = 0; k < lock->packages[i].n_depends; k++)
		for (size_t j = 0; j < lock->n_packages; j++)
			if (strcmp(lock->packages[j].name, lock->packages[i].depends[k]) == 0)
				depends_first(lock, j, state, order, n);
	order[(*n)++] = i;
}

/* The shell script of the configure step: no service may start while it
 * runs (policy-rc.d says 101, and goes again), the debconf answers, each
 * preinst with "install" in dependency order, then dpkg configures every
 * unpacked package in its own order and runs the triggers. */
static char *configure_script(const struct build *b)
{
	const struct kiln_lock *lock = b->lock;
	unsigned char *state = kiln_xcalloc(lock->n_packages + 1, 1);
	size_t *order = kiln_xcalloc(lock->n_packages + 1, sizeof(size_t)), n = 0;
	struct kiln_buf s = KILN_BUF_INIT;

	for (size_t i = 0; i < lock->n_packages; i++)
		depends_first(lock, i, state, order, &n);
	kiln_buf_adds(&s, "set -e\n"
			  "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d\n"
			  "chmod 0755 /usr/sbin/policy-rc.d\n");
	if (b->m->n_debconf) {
		/* Each answer is one checked line (manifest.h); none can be the
		 * terminator, which is upper case. */
		kiln_buf_adds(&s, "debconf-set-selections <<'KILN_DEBCONF'\n");
		for (size_t i = 0; i < b->m->n_debconf; i++)
			kiln_buf_printf(&s, "%s\n", b->m->debconf[i]);
		kiln_buf_adds(&s, "KILN_DEBCONF\n");
	}
	kiln_buf_adds(&s, "v=$(/usr/bin/dpkg-query --showformat='${Version}' --show dpkg)\n");
	for (size_t k = 0; k < n; k++) {
		const struct kiln_lock_package *p = &lock->packages[order[k]];
		if (!has_script(p, "preinst"))
			continue;
		/* Package names and architectures are checked in the lock:
		 * nothing in them needs quoting. */
		kiln_buf_printf(&s, "f=/var/lib/dpkg/info/%s.preinst; [ -e \"$f\" ] || f=/var/lib/dpkg/info/%s:%s.preinst\n"
				"echo \"kiln: %s: preinst install\"\n"
				"DPKG_MAINTSCRIPT_PACKAGE=%s DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 DPKG_MAINTSCRIPT_ARCH=%s "
				"DPKG_MAINTSCRIPT_NAME=preinst DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= "
				"DPKG_RUNNING_VERSION=\"$v\" \"$f\" install\n",
				p->name, p->name, p->architecture, p->name, p->name, p->architecture);
	}
	kiln_buf_adds(&s, "/usr/bin/dpkg --configure --pending\n"
			  "rm -f /var/lib/dpkg/*-old\n"
			  "rm -f /usr/sbin/policy-rc.d\n");
	free(state);
	free(order);
	return kiln_buf_detach(&s);
}

/* A step's environment and debconf's "never ask, and say so". */
static char **configure_env(const struct build *b)
{
	char **env = step_env(b);
	size_t n = 0;

	while (env[n])
		n++;
	env = kiln_xrealloc(env, (n + 2) * sizeof(char *));
	env[n++] = kiln_xstrdup("DEBCONF_NONINTERACTIVE_SEEN=true");
	env[n] = NULL;
	return env;
}

/* What a captured layer leaves out is part of its key; nothing is added
 * without volatile:, so such layers keep their keys. */
static void key_volatile(struct kiln_buf *k, const struct build *b)
{
	for (size_t i = 0; i < b->m->n_volatile_paths; i++)
		kiln_buf_printf(k, "volatile %zu %s\n", strlen(b->m->volatile_paths[i]), b->m->volatile_paths[i]);
}

static int plan(struct build *b, struct kiln_error *err)
{
	size_t alloc = 0;
	struct plan_layer *l;
	struct kiln_buf k = KILN_BUF_INIT;

	/* The base's layers, as they are, at the bottom; their keys chain its
	 * digest into every key above (docs/building.md, Bases). */
	for (size_t i = 0; b->base && i < b->base->manifest.n_layers; i++) {
		l = add_layer(b, LAYER_BASE, &alloc);
		l->what = kiln_xasprintf("base %s: layer %zu/%zu", b->m->base, i + 1, b->base->manifest.n_layers);
		l->blob = b->base->manifest.layers[i];
		snprintf(l->diff_id, sizeof(l->diff_id), "%s", b->base->diff_ids[i]);
		l->cached = true;
		key_start(&k, b, "base");
		kiln_buf_printf(&k, "image %s\nlayer %zu %s %s\n", b->base->digest, i, l->blob.digest, l->diff_id);
		key_finish(&k, l->key);
	}
	b->root_layer = b->n_layers;
	l = add_layer(b, LAYER_ROOT, &alloc);
	l->what = kiln_xstrdup("root: merged /usr and the top directories");
	key_start(&k, b, "root");
	kiln_buf_printf(&k, "architecture %s\n", b->m->architecture);
	key_finish(&k, l->key);

	for (unsigned bucket = 0; bucket < KILN_PACKAGE_BUCKETS; bucket++) {
		size_t n = 0, cap = 0;
		size_t *pkgs = NULL;
		for (size_t i = 0; i < b->lock->n_packages; i++)
			if (bucket_of(b->lock->packages[i].name) == bucket) {
				kiln_xgrow(&pkgs, &cap, n + 1, sizeof(*pkgs));
				pkgs[n++] = i;
			}
		if (!n)
			continue;
		l = add_layer(b, LAYER_PACKAGES, &alloc);
		l->bucket = bucket;
		l->pkgs = pkgs;
		l->n_pkgs = n;
		struct kiln_buf what = KILN_BUF_INIT;
		kiln_buf_printf(&what, "packages %u/%u:", bucket + 1, KILN_PACKAGE_BUCKETS);
		for (size_t i = 0; i < n; i++)
			kiln_buf_printf(&what, "%s %s %s", i ? "," : "", b->lock->packages[pkgs[i]].name,
					b->lock->packages[pkgs[i]].version);
		l->what = kiln_buf_detach(&what);
		key_start(&k, b, "packages");
		for (size_t i = 0; i < n; i++)
			key_package(&k, &b->lock->packages[pkgs[i]]);
		key_finish(&k, l->key);
	}

	l = add_layer(b, LAYER_DPKG, &alloc);
	l->what = kiln_xstrdup("dpkg database and accounts");
	key_start(&k, b, "dpkg");
	for (size_t i = 0; i < b->lock->n_packages; i++)
		key_package(&k, &b->lock->packages[i]);
	for (size_t i = 0; i < b->m->n_groups; i++) {
		const struct kiln_group *g = &b->m->groups[i];
		kiln_buf_printf(&k, "group %s %s", g->name, g->gid);
		for (size_t j = 0; j < g->n_members; j++)
			kiln_buf_printf(&k, " %s", g->members[j]);
		kiln_buf_addch(&k, '\n');
	}
	for (size_t i = 0; i < b->m->n_users; i++) {
		const struct kiln_user *u = &b->m->users[i];
		kiln_buf_printf(&k, "user %s %s %s %s %s", u->name, u->uid, u->gid, u->home ? u->home : "",
				u->shell ? u->shell : "");
		for (size_t j = 0; j < u->n_groups; j++)
			kiln_buf_printf(&k, " %s", u->groups[j]);
		kiln_buf_addch(&k, '\n');
	}
	/* Only then: the dpkg layer of an image without scripts keeps its key. */
	if (b->configure)
		kiln_buf_adds(&k, "members and unpacked status for configure\n");
	key_finish(&k, l->key);

	if (b->configure) {
		_cleanup_free_ char *script = configure_script(b);
		char **env = configure_env(b);
		l = add_layer(b, LAYER_CONFIGURE, &alloc);
		l->what = kiln_xstrdup("configure: maintainer scripts (dpkg --configure --pending)");
		/* The layers below (the dpkg key covers every package and which
		 * have scripts), the script kiln runs (the preinst order, the
		 * debconf answers), its environment and hostname. */
		key_start(&k, b, "configure");
		kiln_buf_printf(&k, "stage %s\nscript %zu %s\n", KILN_STAGE_FORMAT, strlen(script), script);
		for (size_t j = 0; env[j]; j++)
			kiln_buf_printf(&k, "env %zu %s\n", strlen(env[j]), env[j]);
		kiln_buf_printf(&k, "hostname %s\n", KILN_STAGE_HOSTNAME);
		key_volatile(&k, b);
		kiln_strv_free_terminated(env);
		key_finish(&k, l->key);
	}

	if (b->m->n_files) {
		l = add_layer(b, LAYER_FILES, &alloc);
		l->what = kiln_xasprintf("files: %zu entr%s from the commit's tree", b->m->n_files,
					 b->m->n_files == 1 ? "y" : "ies");
		key_start(&k, b, "files");
		for (size_t i = 0; i < b->m->n_files; i++) {
			const struct kiln_file_copy *f = &b->m->files[i];
			_cleanup_free_ char *path = src_path(b, f->src);
			char id[KILN_GIT_OID_HEX + 1];
			if (f->from) {
				/* The image pins what its paths hold. */
				kiln_buf_printf(&k, "file-from %s %s %s %s %s %s\n", b->from_digests[i], f->src, f->dst,
						f->mode ? f->mode : "-", f->dir_mode ? f->dir_mode : "-",
						f->owner ? f->owner : "-");
				continue;
			}
			if (kiln_git_path_id(b->git, b->commit, path, id, err) < 0) {
				kiln_buf_release(&k);
				return -1;
			}
			if (!id[0]) {
				kiln_buf_release(&k);
				return kiln_error_set(err, "%s:%u:%u: files[%zu].src: %s is not in commit %.12s",
						      b->manifest_rel, f->mark.line, f->mark.column, i, path,
						      b->commit);
			}
			kiln_buf_printf(&k, "file %s %s %s %s %s %s\n", f->src, id, f->dst,
					f->mode ? f->mode : "-", f->dir_mode ? f->dir_mode : "-",
					f->owner ? f->owner : "-");
		}
		key_finish(&k, l->key);
	}

	for (size_t i = 0; i < b->m->n_run; i++) {
		const struct kiln_run_step *st = &b->m->run[i];
		char **env = step_env(b);

		l = add_layer(b, LAYER_RUN, &alloc);
		l->step = i;
		l->what = step_what(st);
		/* The step exactly as written (each argument length-prefixed, so
		 * no two forms collide), its environment and hostname. */
		key_start(&k, b, "run");
		kiln_buf_printf(&k, "stage %s\nform %s\nargs %zu\n", KILN_STAGE_FORMAT, st->exec ? "exec" : "shell",
				st->n_argv);
		for (size_t j = 0; j < st->n_argv; j++)
			kiln_buf_printf(&k, "arg %zu %s\n", strlen(st->argv[j]), st->argv[j]);
		for (size_t j = 0; env[j]; j++)
			kiln_buf_printf(&k, "env %zu %s\n", strlen(env[j]), env[j]);
		kiln_buf_printf(&k, "hostname %s\n", KILN_STAGE_HOSTNAME);
		key_volatile(&k, b);
		kiln_strv_free_terminated(env);
		key_finish(&k, l->key);
	}
	return 0;
}

/* Write l's cache entry (buildcache.h) with the blob's stamp. */
static int cache_write(struct build *b, const struct plan_layer *l, const char *stamp, struct kiln_error *err)
{
	struct kiln_buildcache_entry e = { .size = l->blob.size, .media_type = l->blob.media_type };

	memcpy(e.digest, l->blob.digest, sizeof(e.digest));
	memcpy(e.diff_id, l->diff_id, sizeof(e.diff_id));
	snprintf(e.stamp, sizeof(e.stamp), "%s", stamp);
	return kiln_buildcache_put(&b->cache, l->key, &e, err);
}

/* Is the cached layer's blob still what the entry says?  Its size always,
 * its bytes when its stamp moved since they were last hashed.  A damaged
 * blob makes the layer a miss: it is rebuilt (to the same bytes), and
 * kiln_store_put_blob replaces the damaged file. */
static bool cached_blob_intact(struct build *b, struct plan_layer *l, const char *stamp_then)
{
	_cleanup_free_ char *path = kiln_store_blob_path(b->store, l->blob.digest);
	_cleanup_close_ int fd = -1;
	char stamp[KILN_BUILDCACHE_STAMP_MAX], hex[KILN_SHA256_HEX_LEN + 1];
	struct stat st;
	uint64_t size;

	/* Beneath the store's descriptor: a symlink is no blob (store.h). */
	if (kiln_store_blob_stat(b->store, l->blob.digest, &st) < 0 || !S_ISREG(st.st_mode)) {
		note(b, "%s: its cached blob %.19s… is missing: rebuilding it", l->what, l->blob.digest);
		return false;
	}
	if ((uint64_t)st.st_size != l->blob.size) {
		note(b, "%s: its cached blob %.19s… is damaged (%lld bytes, not %llu): rebuilding it", l->what,
		     l->blob.digest, (long long)st.st_size, (unsigned long long)l->blob.size);
		return false;
	}
	kiln_buildcache_blob_stamp(&st, stamp);
	if (stamp_then && strcmp(stamp, stamp_then) == 0)
		return true;
	fd = kiln_store_blob_open(b->store, l->blob.digest, KILN_ERROR_IGNORE);
	if (fd < 0 || kiln_sha256_fd(fd, path, hex, &size, KILN_ERROR_IGNORE) < 0 || size != l->blob.size ||
	    strcmp(hex, l->blob.digest + 7) != 0) {
		note(b, "%s: its cached blob %.19s… is damaged (its bytes do not hash to its name): rebuilding "
		     "it", l->what, l->blob.digest);
		return false;
	}
	/* Intact: remember so, the next build trusts the stamp.  Failing to
	 * write that only costs the next build this hash again. */
	cache_write(b, l, stamp, KILN_ERROR_IGNORE);
	return true;
}

static bool cache_lookup(struct build *b, struct plan_layer *l, struct kiln_error *err)
{
	struct kiln_buildcache_entry e;

	if (b->opt->no_cache || !kiln_buildcache_get(&b->cache, l->key, &e, err))
		return false;
	memcpy(l->blob.digest, e.digest, KILN_OCI_DIGEST_LEN + 1);
	memcpy(l->diff_id, e.diff_id, KILN_OCI_DIGEST_LEN + 1);
	l->blob.size = e.size;
	l->blob.media_type = e.media_type;
	return cached_blob_intact(b, l, e.stamp[0] ? e.stamp : NULL);
}

/* ---- making the layers that are not cached ---- */

static const struct kiln_source *source_named(const struct kiln_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_sources; i++)
		if (strcmp(m->sources[i].name, name) == 0)
			return &m->sources[i];
	return NULL;
}

/* Download (or find in the cache) every locked package. */
static int fetch_packages(struct build *b, struct kiln_fetch_item *items, char ***urls_out,
			  struct kiln_build_result *res, struct kiln_error *err)
{
	_cleanup_free_ char *cache = b->opt->cache_dir ? kiln_xstrdup(b->opt->cache_dir) : kiln_cache_dir(NULL, NULL, NULL);
	struct kiln_fetch_options fo = {
		.cache_dir = cache, .progress = b->opt->progress, .progress_ctx = b->opt->progress_ctx,
	};
	struct kiln_fetch_stats stats = { 0 };
	/* Eight base URLs per source at most: its mirror, then fallbacks. */
	char **urls = kiln_xcalloc(b->m->n_sources * 8 + 1, sizeof(char *));

	*urls_out = urls;
	for (size_t i = 0; i < b->lock->n_packages; i++) {
		const struct kiln_lock_package *p = &b->lock->packages[i];
		const struct kiln_source *s = source_named(b->m, p->source);
		char **mine;
		size_t n_mine = 0;

		if (!s)
			return kiln_error_set(err, "lock: package %s comes from source %s, which the manifest "
					      "does not have", p->name, p->source);
		/* Each source's URL list once: mirror then fallbacks. */
		mine = urls + (size_t)(s - b->m->sources) * 8;
		if (!mine[0]) {
			mine[0] = kiln_mirror_for_source(b->opt->mirrors, s->name, s->suite, s->url, NULL, err);
			if (!mine[0])
				return -1;
			for (size_t f = 0; f < s->n_fallback && f < 7; f++)
				mine[1 + f] = kiln_xstrdup(s->fallback[f]);
		}
		while (n_mine < 8 && mine[n_mine])
			n_mine++;
		items[i] = (struct kiln_fetch_item){
			.filename = p->filename, .size = p->size, .sha256 = p->sha256,
			.base_urls = mine, .n_base_urls = n_mine,
		};
	}
	if (kiln_fetch_all(&fo, items, b->lock->n_packages, &stats, err) < 0)
		return kiln_error_prefix(err, "fetch");
	res->packages_downloaded = stats.downloaded;
	res->packages_cached = stats.cached;
	return 0;
}

static int parse_octal(const char *s, unsigned dflt, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s) {
		*out = dflt;
		return 0;
	}
	v = strtoul(s, &end, 8);
	if (!*s || *end || v > 07777)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_owner(const char *s, uint32_t *uid, uint32_t *gid)
{
	unsigned long u, g;
	char *end;

	*uid = *gid = 0;
	if (!s)
		return 0;
	u = strtoul(s, &end, 10);
	if (*end != ':')
		return -1;
	g = strtoul(end + 1, &end, 10);
	if (*end || u > UINT32_MAX || g > UINT32_MAX)
		return -1;
	*uid = (uint32_t)u;
	*gid = (uint32_t)g;
	return 0;
}

struct copy_ctx {
	struct build *b;
	struct kiln_layer_tree *tree;
	int layer;
	const struct kiln_file_copy *f;
	const char *dst;          /* where "" (the src itself) lands */
	unsigned mode, dir_mode;
	bool mode_given;
	uint32_t uid, gid;
};

static int copy_entry(void *vctx, const char *rel, enum kiln_git_kind kind, const char *blob_id,
		      const void *data, size_t len, struct kiln_error *err)
{
	struct copy_ctx *c = vctx;
	_cleanup_free_ char *path = *rel ? kiln_path_join(c->dst, rel) : kiln_xstrdup(c->dst);
	unsigned mode;

	(void)blob_id;
	switch (kind) {
	case KILN_GIT_DIR:
		return kiln_layer_tree_put_dir(c->tree, path, c->dir_mode, c->uid, c->gid, c->b->epoch, c->layer, err);
	case KILN_GIT_SYMLINK: {
		_cleanup_free_ char *target = kiln_xstrndup(data, len);
		return kiln_layer_tree_put_symlink(c->tree, path, target, c->uid, c->gid, c->b->epoch, c->layer, err);
	}
	case KILN_GIT_FILE:
	case KILN_GIT_EXECUTABLE:
		/* Without mode:, git's executable bit decides, as `git checkout` does. */
		mode = c->mode_given ? c->mode : kind == KILN_GIT_EXECUTABLE ? 0755 : 0644;
		return kiln_layer_tree_put_file(c->tree, path, mode, c->uid, c->gid, c->b->epoch, data, len,
					  c->layer, err);
	}
	return 0;
}

/* A path of an image's merged view with the symlinks of its directories
 * followed inside the image (never on the host), as the image's own
 * processes would see it; the last component is not followed. */
static char *resolve_in_image(const struct kiln_imagefs_list *view, const char *path)
{
	_cleanup_free_ char *cur = kiln_xstrdup(path);

	for (int hops = 0; hops < 40; hops++) {
		struct kiln_buf out = KILN_BUF_INIT;
		_cleanup_free_ char *copy = kiln_xstrdup(cur);
		char *save = NULL, *part = strtok_r(copy, "/", &save);
		bool moved = false;

		while (part) {
			char *next = strtok_r(NULL, "/", &save);
			const struct kiln_fsentry *e;
			if (strcmp(part, ".") == 0 || strcmp(part, "..") == 0) {
				if (strcmp(part, "..") == 0) {
					char *slash = out.len ? strrchr(out.data, '/') : NULL;
					out.len = slash ? (size_t)(slash - out.data) : 0;
					if (out.data)
						out.data[out.len] = '\0';
				}
				part = next;
				continue;
			}
			if (out.len)
				kiln_buf_addch(&out, '/');
			kiln_buf_adds(&out, part);
			e = next ? kiln_imagefs_find(view, out.data) : NULL;
			if (e && e->type == 'l' && e->link) {
				/* Replace the prefix by its target, keep the rest, start again. */
				struct kiln_buf again = KILN_BUF_INIT;
				char *slash = strrchr(out.data, '/');
				if (e->link[0] != '/' && slash)
					kiln_buf_add(&again, out.data, (size_t)(slash - out.data) + 1);
				kiln_buf_adds(&again, e->link[0] == '/' ? e->link + 1 : e->link);
				kiln_buf_printf(&again, "/%s", next);
				for (char *rest = strtok_r(NULL, "", &save); rest; rest = NULL)
					kiln_buf_printf(&again, "/%s", rest);
				free(cur);
				cur = kiln_buf_detach(&again);
				moved = true;
				break;
			}
			part = next;
		}
		if (!moved)
			return out.data ? kiln_buf_detach(&out) : kiln_xstrdup("");
		kiln_buf_release(&out);
	}
	return NULL;
}

/* files[i] with from: the path src of that manifest's image (a file, a
 * symlink, or a directory and what it holds), with its modes and owners
 * unless the entry gives them (docs/manifest.md, files). */
static int copy_from_image(struct build *b, struct kiln_layer_tree *tree, int layer, size_t i,
			   const struct kiln_file_copy *f, struct kiln_error *err)
{
	_cleanup_fslist_ struct kiln_imagefs_list view = KILN_IMAGEFS_LIST_INIT, kept = KILN_IMAGEFS_LIST_INIT;
	_cleanup_free_ char *src = NULL, *dst = NULL, *where = NULL;
	const char **keep = NULL;
	size_t n_keep = 0, alloc = 0, plen;
	const struct kiln_fsentry *top;
	unsigned mode = 0, dir_mode = 0;
	uint32_t uid = 0, gid = 0;
	bool contents = kiln_str_has_suffix(f->src, "/");
	int rc = -1;

	where = kiln_xasprintf("%s:%u:%u: files[%zu] (%s in %s's image %.19s…)", b->manifest_rel, f->mark.line,
			       f->mark.column, i, f->src, f->from, b->from_digests[i]);
	parse_octal(f->mode, 0644, &mode);
	parse_octal(f->dir_mode, 0755, &dir_mode);
	parse_owner(f->owner, &uid, &gid);
	if (kiln_imagefs_read_image(b->store, b->from_digests[i], NULL, &view, err) < 0)
		return kiln_error_prefix(err, "%s", where);
	{
		_cleanup_free_ char *trimmed = kiln_xstrdup(f->src + 1);
		size_t n = strlen(trimmed);
		while (n && trimmed[n - 1] == '/')
			trimmed[--n] = '\0';
		src = resolve_in_image(&view, trimmed);
	}
	if (!src)
		return kiln_error_set(err, "%s: too many symbolic links", where);
	top = *src ? kiln_imagefs_find(&view, src) : NULL;
	if (!top)
		return kiln_error_set(err, "%s: not in that image", where);
	/* Keep the bytes of every regular file to copy, read in a second pass. */
	plen = strlen(src);
	for (size_t k = 0; k < view.n; k++) {
		const struct kiln_fsentry *e = &view.e[k];
		if (strcmp(e->path, src) != 0 && !(top->type == 'd' && strncmp(e->path, src, plen) == 0 &&
						   e->path[plen] == '/'))
			continue;
		if (e->type != 'f' && e->type != 'd' && e->type != 'l')
			return kiln_error_set(err, "%s: /%s is a %s; from: copies files, directories and symbolic "
					      "links", where, e->path, kiln_fsentry_type_name(e->type));
		if (e->type == 'f') {
			kiln_xgrow(&keep, &alloc, n_keep + 2, sizeof(*keep));
			keep[n_keep++] = e->path;
			keep[n_keep] = NULL;
		}
	}
	if (n_keep && kiln_imagefs_read_image(b->store, b->from_digests[i], keep, &kept, err) < 0) {
		kiln_error_prefix(err, "%s", where);
		goto out;
	}
	{
		const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
		if (kiln_str_has_suffix(f->dst, "/") && !contents)
			dst = kiln_path_join(f->dst, base);
		else
			dst = kiln_xstrdup(f->dst);
		size_t n = strlen(dst);
		while (n > 1 && dst[n - 1] == '/')
			dst[--n] = '\0';
	}
	for (size_t k = 0; k < view.n; k++) {
		const struct kiln_fsentry *e = &view.e[k];
		bool self = strcmp(e->path, src) == 0;
		_cleanup_free_ char *path = NULL;
		uint32_t u = f->owner ? uid : e->uid, g = f->owner ? gid : e->gid;
		int r = 0;

		if (!self && !(top->type == 'd' && strncmp(e->path, src, plen) == 0 && e->path[plen] == '/'))
			continue;
		path = self ? kiln_xstrdup(dst) : kiln_path_join(dst, e->path + plen + 1);
		if (e->type == 'd') {
			r = kiln_layer_tree_put_dir(tree, path, f->dir_mode ? dir_mode : e->mode, u, g, b->epoch, layer, err);
		} else if (e->type == 'l') {
			r = kiln_layer_tree_put_symlink(tree, path, e->link, u, g, b->epoch, layer, err);
		} else {
			size_t len = 0;
			const char *data = kiln_imagefs_kept(&kept, e->path, &len);
			if (!data && e->size) {
				kiln_error_set(err, "%s: /%s: its bytes could not be read", where, e->path);
				goto out;
			}
			r = kiln_layer_tree_put_file(tree, path, f->mode ? mode : e->mode, u, g, b->epoch, data ? data : "",
						     len, layer, err);
		}
		if (r < 0) {
			kiln_error_prefix(err, "%s", where);
			goto out;
		}
	}
	rc = 0;
out:
	free(keep);
	return rc;
}

/* files: from the commit's tree, with their modes and owners. */
static int add_files(struct build *b, struct kiln_layer_tree *tree, int layer, struct kiln_error *err)
{
	for (size_t i = 0; i < b->m->n_files; i++) {
		const struct kiln_file_copy *f = &b->m->files[i];
		_cleanup_free_ char *src = src_path(b, f->src);
		_cleanup_free_ char *dst = NULL;
		struct copy_ctx c = { .b = b, .tree = tree, .layer = (int)layer, .f = f };
		bool src_is_contents = kiln_str_has_suffix(f->src, "/");
		bool dst_is_dir = kiln_str_has_suffix(f->dst, "/");
		const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
		bool found;

		if (parse_octal(f->mode, 0644, &c.mode) < 0 || parse_octal(f->dir_mode, 0755, &c.dir_mode) < 0 ||
		    parse_owner(f->owner, &c.uid, &c.gid) < 0)
			return kiln_error_set(err, "%s:%u:%u: files[%zu]: bad mode or owner", b->manifest_rel,
					      f->mark.line, f->mark.column, i);
		c.mode_given = f->mode != NULL;
		if (f->from) {
			if (copy_from_image(b, tree, layer, i, f, err) < 0)
				return -1;
			continue;
		}
		/* "src/" copies the contents into dst; "src" to "dst/" lands as dst/src. */
		if (dst_is_dir && !src_is_contents)
			dst = kiln_path_join(f->dst, base);
		else
			dst = kiln_xstrdup(f->dst);
		{
			size_t n = strlen(dst);
			while (n > 1 && dst[n - 1] == '/')
				dst[--n] = '\0';
		}
		c.dst = dst[0] == '/' ? dst + 1 : dst;
		if (kiln_git_walk(b->git, b->commit, src, copy_entry, &c, &found, err) < 0)
			return kiln_error_prefix(err, "%s:%u:%u: files[%zu] (%s)", b->manifest_rel,
						 f->mark.line, f->mark.column, i, f->src);
		if (!found)
			return kiln_error_set(err, "%s:%u:%u: files[%zu].src: %s is not in commit %.12s",
					      b->manifest_rel, f->mark.line, f->mark.column, i, src, b->commit);
	}
	return 0;
}

/* A user's home directory belongs to the user (docs/building.md#accounts):
 * one that does not exist yet is made, as useradd -m does; one a package
 * ships (postgresql-common's /var/lib/postgresql) is given to the user,
 * the directory itself and nothing under it, as the package's postinst
 * does after adduser, which leaves an existing directory alone; kiln runs
 * no maintainer script.  Directories kiln made itself (the skeleton, an
 * earlier user's home) are not taken over. */
static int add_home(struct build *b, struct kiln_layer_tree *tree, const struct kiln_user *u, int layer,
		    struct kiln_error *err)
{
	uint32_t uid = (uint32_t)strtoul(u->uid, NULL, 10), gid = (uint32_t)strtoul(u->gid, NULL, 10);
	const struct kiln_layer_entry *e;
	_cleanup_free_ char *path = NULL;

	if (!u->home || strcmp(u->home, "/") == 0)
		return 0;
	/* chown follows a symlink, so the home is where its path leads. */
	path = kiln_layer_tree_resolve(tree, u->home, true, err);
	if (!path)
		return kiln_error_prefix(err, "%s: users: %s: home %s", b->manifest_rel, u->name, u->home);
	if (!*path)
		return 0;
	e = kiln_layer_tree_get(tree, path);
	if (!e)
		return kiln_layer_tree_put_dir(tree, path, 0755, uid, gid, b->epoch, layer, err);
	if (e->type != KILN_LAYER_DIR || e->layer >= (int)b->n_layers || b->layers[e->layer].kind != LAYER_PACKAGES ||
	    (e->uid == uid && e->gid == gid))
		return 0;
	return kiln_layer_tree_put_dir(tree, path, e->mode, uid, gid,
				       e->time == KILN_LAYER_TIME_EPOCH ? b->epoch : e->mtime, layer, err);
}

/* On a base, its accounts first, then this manifest's (base.h). */
static int merge_base_accounts(struct build *b, struct kiln_accounts *a, struct kiln_error *err)
{
	struct { const char *which; const char *base; struct kiln_buf *ours; } f[] = {
		{ "etc/passwd", b->base->passwd, &a->passwd }, { "etc/group", b->base->group, &a->group },
		{ "etc/shadow", b->base->shadow, &a->shadow },
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(f); i++) {
		struct kiln_buf merged = KILN_BUF_INIT;
		if (kiln_base_merge_accounts(f[i].which, f[i].base, f[i].ours->data, &merged, err) < 0) {
			kiln_buf_release(&merged);
			return kiln_error_prefix(err, "%s: base %s", b->manifest_rel, b->base->label);
		}
		kiln_buf_release(f[i].ours);
		*f[i].ours = merged;
	}
	return 0;
}

/* A master's lines, except the accounts the manifest defines itself. */
static void master_lines(struct kiln_buf *out, const char *data, size_t len, bool users, const struct kiln_manifest *m)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *colon = memchr(p, ':', n);
		bool mine = false;
		for (size_t i = 0; colon && users && i < m->n_users; i++)
			mine |= strlen(m->users[i].name) == (size_t)(colon - p) && !strncmp(m->users[i].name, p, (size_t)(colon - p));
		for (size_t i = 0; colon && !users && i < m->n_groups; i++)
			mine |= strlen(m->groups[i].name) == (size_t)(colon - p) && !strncmp(m->groups[i].name, p, (size_t)(colon - p));
		if (n && colon && !mine) {
			/* The password in shadow, as pwconv and grpconv leave it:
			 * "x" where the master has "*". */
			const char *rest = memchr(colon + 1, ':', (size_t)(p + n - colon - 1));
			if (!rest)
				rest = p + n;
			kiln_buf_add(out, p, (size_t)(colon - p));
			kiln_buf_adds(out, ":x");
			kiln_buf_add(out, rest, (size_t)(p + n - rest));
			kiln_buf_addch(out, '\n');
		}
		p += n + 1;
	}
}

/* When packages are configured, their scripts expect Debian's standard
 * accounts (base-passwd's: daemon, www-data, the utmp group…), which
 * base-passwd's preinst would copy into place when /etc/passwd is
 * missing.  kiln writes the files itself, so it starts from the same
 * masters and adds the manifest's accounts; without base-passwd, a is
 * left empty (the manifest's accounts alone). */
static void accounts_from_masters(const struct build *b, struct kiln_layer_tree *tree, struct kiln_accounts *a)
{
	const struct kiln_layer_entry *pw = kiln_layer_tree_get(tree, "usr/share/base-passwd/passwd.master");
	const struct kiln_layer_entry *gr = kiln_layer_tree_get(tree, "usr/share/base-passwd/group.master");
	struct kiln_accounts mine = { KILN_BUF_INIT, KILN_BUF_INIT, KILN_BUF_INIT };
	const char *data;
	uint64_t size;

	if (!pw || !gr || pw->type != KILN_LAYER_FILE || gr->type != KILN_LAYER_FILE)
		return;
	data = kiln_layer_entry_data(pw, &size);
	master_lines(&a->passwd, data, (size_t)size, true, b->m);
	data = kiln_layer_entry_data(gr, &size);
	master_lines(&a->group, data, (size_t)size, false, b->m);
	/* The manifest's own, without kiln's root and nobody (the masters
	 * have them). */
	kiln_accounts_format(b->m, b->epoch, &mine);
	master_lines(&a->passwd, mine.passwd.data, mine.passwd.len, true, &(struct kiln_manifest){ 0 });
	master_lines(&a->group, mine.group.data, mine.group.len, false, &(struct kiln_manifest){ 0 });
	kiln_accounts_release(&mine);
	{
		/* Drop the second root and nobody/nogroup the manifest's text had. */
		struct kiln_buf *bufs[] = { &a->passwd, &a->group };
		for (size_t k = 0; k < 2; k++) {
			struct kiln_buf out = KILN_BUF_INIT;
			const char *p = bufs[k]->data, *end = p + bufs[k]->len;
			bool root = false, nobody = false;
			while (p < end) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				size_t n = (size_t)(nl - p);
				bool is_root = !strncmp(p, "root:", 5), is_nobody = !strncmp(p, k ? "nogroup:" : "nobody:", k ? 8 : 7);
				if (!((is_root && root) || (is_nobody && nobody)))
					kiln_buf_add(&out, p, n + 1);
				root |= is_root;
				nobody |= is_nobody;
				p = nl + 1;
			}
			kiln_buf_release(bufs[k]);
			*bufs[k] = out;
		}
	}
	/* Every account locked, as kiln's own are (formats/accounts). */
	for (const char *p = a->passwd.data, *end = p + a->passwd.len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		_cleanup_free_ char *name = kiln_xstrndup(p, (size_t)(strchr(p, ':') - p));
		kiln_accounts_shadow_line(&a->shadow, name, "*", b->epoch);
		p = nl + 1;
	}
}

/* /etc/passwd, /etc/group and /etc/shadow (formats/accounts) and the
 * users' home directories. */
static int add_accounts(struct build *b, struct kiln_layer_tree *tree, int layer, struct kiln_error *err)
{
	struct kiln_accounts a = { KILN_BUF_INIT, KILN_BUF_INIT, KILN_BUF_INIT };
	int rc = 0;

	if (b->configure)
		accounts_from_masters(b, tree, &a);
	if (!a.passwd.len)
		kiln_accounts_format(b->m, b->epoch, &a);
	if (b->base && merge_base_accounts(b, &a, err) < 0) {
		kiln_accounts_release(&a);
		return -1;
	}
	rc = kiln_layer_tree_put_file(tree, "etc/passwd", 0644, 0, 0, b->epoch, a.passwd.data, a.passwd.len, layer, err);
	if (rc == 0)
		rc = kiln_layer_tree_put_file(tree, "etc/group", 0644, 0, 0, b->epoch, a.group.data, a.group.len, layer, err);
	if (rc == 0)
		rc = kiln_layer_tree_put_file(tree, "etc/shadow", 0640, 0, 42, b->epoch, a.shadow.data, a.shadow.len, layer,
					err);
	for (size_t i = 0; rc == 0 && i < b->m->n_users; i++)
		rc = add_home(b, tree, &b->m->users[i], layer, err);
	kiln_accounts_release(&a);
	return rc;
}

/* Read and decompress one .deb ahead of the tree (the slow part, done on
 * every core).  A failure is left for assemble, which opens the file
 * again and reports it in order. */
static int expand_one(void *ctx, size_t i, struct kiln_error *unused)
{
	struct kiln_fetch_item *it = &((struct kiln_fetch_item *)ctx)[i];
	size_t len;
	char *data = kiln_file_read(it->path, (size_t)it->size + 1, &len, KILN_ERROR_IGNORE);

	if (data)
		it->expanded = kiln_deb_expand(data, len, KILN_DEB_MAX_FILE_SIZE, &it->expanded_len,
					       KILN_ERROR_IGNORE);
	free(data);
	return 0;
}

static void expand_all(struct build *b, struct kiln_fetch_item *items)
{
	kiln_pool_run(b->lock->n_packages, 0, expand_one, items, NULL);
}

/* The top directories every image has, in the root layer. */
static int add_skeleton(struct build *b, struct kiln_layer_tree *tree, struct kiln_error *err)
{
	static const struct { const char *path; unsigned mode; } dirs[] = {
		{ "dev", 0755 }, { "etc", 0755 }, { "proc", 0555 }, { "root", 0700 }, { "run", 0755 },
		{ "sys", 0555 }, { "tmp", 01777 }, { "var", 0755 }, { "var/tmp", 01777 },
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(dirs); i++)
		if (kiln_layer_tree_put_dir(tree, dirs[i].path, dirs[i].mode, 0, 0, b->epoch, (int)b->root_layer, err) < 0)
			return -1;
	return 0;
}

/* On a base, the dpkg status lists its packages and this build's
 * (base.h): `dpkg -l` in the image shows both. */
static int merge_base_status(struct build *b, struct kiln_layer_tree *tree, const struct kiln_dpkg_package *db,
			     int layer, struct kiln_error *err)
{
	_cleanup_free_ char *ours = NULL, *merged = NULL;

	if (!b->base->dpkg_status)
		return 0;
	ours = kiln_dpkg_status_text(db, b->lock->n_packages, err);
	if (!ours)
		return -1;
	merged = kiln_base_merge_status(b->base, ours, err);
	if (!merged)
		return kiln_error_prefix(err, "%s", b->manifest_rel);
	return kiln_layer_tree_put_file(tree, "var/lib/dpkg/status", 0644, 0, 0, b->epoch, merged, strlen(merged),
					layer, err);
}

/* The lock says which packages have scripts; the .deb (pinned by its
 * sha256) must agree, or the lock was edited or made by a kiln that did
 * not look.  Configuring: the package is unpacked until the configure
 * step, its control members go into info/; else they are left out. */
static int check_scripts(const struct build *b, const struct kiln_lock_package *p, const struct kiln_deb *deb,
			 struct kiln_dpkg_package *db, struct kiln_error *err)
{
	static const char *const names[] = KILN_LOCK_SCRIPTS;
	const struct kiln_deb_control *c = kiln_deb_control(deb);
	bool skip = b->m->scripts && strcmp(b->m->scripts, "skip") == 0;

	for (size_t k = 0; !skip && k < KILN_ARRAY_SIZE(names); k++) {
		bool has = kiln_deb_needs_configure(c, names[k]);
		if (has != has_script(p, names[k]))
			return kiln_error_set(err, "%s: package %s %s %s %s, but its lock entry says %s: run "
					      "`kiln lock` (this kiln looks for maintainer scripts) and commit the "
					      "lock, or set scripts: skip", b->lock_rel, p->name, p->version,
					      has ? "has" : "has no", names[k], has ? "none" : "so");
	}
	if (!b->configure)
		return 0;
	db->unpacked = p->n_scripts > 0;
	if (c->n_members)
		db->members = kiln_xcalloc(c->n_members, sizeof(*db->members));
	for (size_t i = 0; i < c->n_members; i++) {
		char *data = kiln_xmalloc(c->members[i].len + 1);
		memcpy(data, c->members[i].data, c->members[i].len);
		db->members[db->n_members++] = (struct kiln_dpkg_member){ kiln_xstrdup(c->members[i].name), data,
									   c->members[i].len, c->members[i].executable };
	}
	return 0;
}

/* The tree of the whole image, with each entry owned by its layer. */
static struct kiln_layer_tree *assemble(struct build *b, struct kiln_build_result *res, struct kiln_error *err)
{
	struct kiln_fetch_item *items = kiln_xcalloc(b->lock->n_packages + 1, sizeof(*items));
	struct kiln_dpkg_package *db = kiln_xcalloc(b->lock->n_packages + 1, sizeof(*db));
	struct kiln_layer_tree *tree = NULL;
	char **urls = NULL;
	int dpkg_layer = 0, files_layer = 0;
	bool ok = false;

	for (size_t i = 0; i < b->n_layers; i++) {
		if (b->layers[i].kind == LAYER_DPKG)
			dpkg_layer = (int)i;
		if (b->layers[i].kind == LAYER_FILES)
			files_layer = (int)i;
	}
	if (fetch_packages(b, items, &urls, res, err) < 0)
		goto out;
	tree = kiln_layer_tree_new_root();
	if (add_skeleton(b, tree, err) < 0)
		goto out;
	/* Decompressing data.tar is most of the work: do it on every core
	 * first, then fill the tree on this thread in a fixed order. */
	expand_all(b, items);
	/* Layer by layer (the tree fills layers in order), and by name within
	 * a layer: the order, and so the result, depends on nothing but the lock. */
	for (size_t l = 0; l < b->n_layers; l++) {
		for (size_t k = 0; b->layers[l].kind == LAYER_PACKAGES && k < b->layers[l].n_pkgs; k++) {
			size_t i = b->layers[l].pkgs[k];
			const struct kiln_lock_package *p = &b->lock->packages[i];
			struct kiln_deb_options dopt = { .package = p->name, .version = p->version,
							 .architecture = p->architecture };
			const char *name = strrchr(p->filename, '/') + 1;
			_cleanup_deb_ struct kiln_deb *deb = NULL;

			/* An expansion that failed falls back to the file itself, whose
			 * reader then says exactly what is wrong with it. */
			if (items[i].expanded)
				deb = kiln_deb_open_memory(items[i].expanded, items[i].expanded_len, name, &dopt, err);
			else
				deb = kiln_deb_open_file(items[i].path, name, &dopt, err);
			if (!deb || kiln_layer_tree_add_deb(tree, deb, (int)l, &db[i], err) < 0 ||
			    check_scripts(b, p, deb, &db[i], err) < 0)
				goto out;
			kiln_deb_free(deb);
			deb = NULL;
			free(items[i].expanded);
			items[i].expanded = NULL;
		}
	}
	if (kiln_layer_tree_add_dpkg_status(tree, db, b->lock->n_packages, dpkg_layer, b->epoch, err) < 0 ||
	    (b->base && merge_base_status(b, tree, db, dpkg_layer, err) < 0) ||
	    add_accounts(b, tree, dpkg_layer, err) < 0)
		goto out;
	if (b->m->n_files && add_files(b, tree, files_layer, err) < 0)
		goto out;
	ok = true;
out:
	for (size_t i = 0; i < b->lock->n_packages; i++) {
		free(items[i].path);
		free(items[i].expanded);
		kiln_dpkg_package_release(&db[i]);
	}
	free(items);
	free(db);
	if (urls) {
		for (size_t i = 0; i < b->m->n_sources * 8; i++)
			free(urls[i]);
		free(urls);
	}
	if (!ok) {
		kiln_layer_tree_free(tree);
		return NULL;
	}
	return tree;
}

struct compress_work {
	struct build *b;
	size_t *order;             /* layers to compress, biggest first */
};

static int compress_one(void *ctx, size_t k, struct kiln_error *err)
{
	struct compress_work *w = ctx;
	size_t i = w->order[k];
	struct plan_layer *l = &w->b->layers[i];
	int rc;

	if (strcmp(w->b->compression, "zstd") == 0)
		rc = kiln_compress_zstd(l->tar.data, l->tar.len, w->b->level, &l->packed, err);
	else
		rc = kiln_compress_gzip(l->tar.data, l->tar.len, w->b->level, &l->packed, err);
	if (rc < 0)
		return kiln_error_prefix(err, "compress layer %zu (%s)", i, l->what);
	return 0;
}

/* Compress the new layers on every core (deflate is the slow part). */
static int compress_layers(struct build *b, struct kiln_error *err)
{
	struct compress_work w = { .b = b, .order = kiln_xcalloc(b->n_layers, sizeof(size_t)) };
	size_t n = 0;
	int rc;

	/* Biggest first, so no core is left with one large layer at the end. */
	for (size_t i = 0; i < b->n_layers; i++)
		if (!b->layers[i].cached) {
			size_t j = n++;
			while (j > 0 && b->layers[w.order[j - 1]].tar.len < b->layers[i].tar.len) {
				w.order[j] = w.order[j - 1];
				j--;
			}
			w.order[j] = i;
		}
	rc = kiln_pool_run(n, 0, compress_one, &w, err);
	free(w.order);
	return rc;
}

/* ---- run: steps ---- */

/* A layer made by running something in the stage (not from the tree). */
static bool is_staged(const struct plan_layer *l)
{
	return l->kind == LAYER_RUN || l->kind == LAYER_CONFIGURE;
}

/* One line of what a step says, as the build shows it. */
static void step_output(void *ctx, const char *line)
{
	const struct build *b = ctx;
	struct kiln_buf safe = KILN_BUF_INIT;

	/* Control bytes escaped: a step's output must not drive the terminal. */
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			kiln_buf_printf(&safe, "\\x%02x", *p);
		else
			kiln_buf_addch(&safe, (char)*p);
	}
	note(b, "  | %s", safe.data ? safe.data : "");
	kiln_buf_release(&safe);
}

/* A step as the build names it: "kiln.yaml:12 (run[1])". */
static char *step_name(const struct build *b, const struct plan_layer *l)
{
	const struct kiln_run_step *st = &b->m->run[l->step];
	return kiln_xasprintf("%s:%u (run[%zu])", b->manifest_rel, st->mark.line, l->step);
}

/* What the note shows of a step: one line, not too long. */
static void step_summary(const char *what, char *out, size_t len)
{
	size_t n = strlen(what), j = 0;

	for (size_t i = 0; i < n && j + 1 < len; i++)
		out[j++] = what[i] == '\n' || what[i] == '\t' ? ' ' : what[i];
	if (j < n && j > 3)
		memcpy(out + j - 3, "...", 3);
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
}

/* A layer's tar as it is (uncompressed when built now, else its blob). */
static int stage_layer(struct build *b, struct kiln_stage *st, const struct plan_layer *l, struct kiln_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;

	if (!l->cached)
		return kiln_stage_add_layer(st, l->tar.data, l->tar.len, err);
	/* An OCI base's blobs are stored with the image, after the steps. */
	if (l->kind == LAYER_BASE && b->base->blobs) {
		const struct kiln_buf *blob = &b->base->blobs[l - b->layers];
		return kiln_stage_add_layer(st, blob->data, blob->len, err);
	}
	fd = kiln_store_blob_open(b->store, l->blob.digest, err);
	if (fd < 0)
		return -1;
	data = kiln_xmalloc(l->blob.size + 1);
	while (len < l->blob.size) {
		ssize_t r = read(fd, data + len, l->blob.size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return kiln_error_errno(err, r < 0 ? errno : EIO, "read the blob %.19s…", l->blob.digest);
		len += (size_t)r;
	}
	return kiln_stage_add_layer(st, data, len, err);
}

/* Run one step or the configure step over what st holds; its layer's
 * tar lands in l->tar. */
static int run_staged(struct build *b, struct kiln_stage *st, struct plan_layer *l, struct kiln_error *err)
{
	bool conf = l->kind == LAYER_CONFIGURE;
	const struct kiln_run_step *step = conf ? NULL : &b->m->run[l->step];
	_cleanup_free_ char *name = conf ? kiln_xasprintf("%s: configure", b->manifest_rel) : step_name(b, l);
	_cleanup_free_ char *id = conf ? kiln_xasprintf("build-%ld-configure", (long)getpid())
				       : kiln_xasprintf("build-%ld-%zu", (long)getpid(), l->step);
	_cleanup_free_ char *script = conf ? configure_script(b) : NULL;
	char **env = conf ? configure_env(b) : step_env(b);
	char *sh[] = { "/bin/sh", "-c", conf ? script : step->argv[0], NULL };
	size_t n_env = 0;
	struct kiln_stage_result r;
	char summary[120];
	int rc = -1;

	while (env[n_env])
		n_env++;
	struct kiln_stage_run_options o = {
		.argv = !conf && step->exec ? step->argv : sh, .n_argv = !conf && step->exec ? step->n_argv : 3,
		.env = env, .n_env = n_env, .hostname = KILN_STAGE_HOSTNAME, .epoch = b->epoch,
		.leave_out = b->m->volatile_paths, .n_leave_out = b->m->n_volatile_paths,
		.cgroup_parent = b->opt->cgroup_parent, .id = id,
		.output = step_output, .output_ctx = b,
	};
	step_summary(l->what, summary, sizeof(summary));
	note(b, "%s: %s", name, conf ? "maintainer scripts (dpkg --configure --pending)" : summary);
	if (kiln_stage_run(st, &o, &r, err) < 0) {
		kiln_error_prefix(err, "%s", name);
		goto out;
	}
	if (r.exit_code != 0) {
		/* Each line indented, as the build showed it (the command
		 * line prints "\n  " as a new line, other controls escaped). */
		struct kiln_buf tail = KILN_BUF_INIT;
		for (const char *p = r.tail; *p; p++) {
			if (p == r.tail)
				kiln_buf_adds(&tail, "\n  | ");
			if (*p == '\n')
				kiln_buf_adds(&tail, "\n  | ");
			else
				kiln_buf_addch(&tail, *p);
		}
		kiln_error_set(err, "%s failed: %s exited with code %d%s%s", name,
			       conf ? "the maintainer scripts" : step->exec ? step->argv[0] : "/bin/sh -c",
			       r.exit_code, tail.len ? "; its last lines:" : " (no output)", tail.len ? tail.data : "");
		kiln_buf_release(&tail);
		goto out;
	}
	l->tar = r.tar;
	r.tar = (struct kiln_buf)KILN_BUF_INIT;
	memcpy(l->diff_id, r.diff_id, sizeof(l->diff_id));
	rc = 0;
out:
	kiln_stage_result_release(&r);
	kiln_strv_free_terminated(env);
	return rc;
}

/* Run every step that is not cached, in order, each over the layers
 * below it; their layers' tars land in l->tar.  Nothing is stored here:
 * a failing step leaves the store as it was. */
static int run_steps(struct build *b, struct kiln_error *err)
{
	_cleanup_stage_ struct kiln_stage *st = NULL;
	size_t first = b->n_layers;

	for (size_t i = 0; i < b->n_layers && first == b->n_layers; i++)
		if (is_staged(&b->layers[i]) && !b->layers[i].cached)
			first = i;
	if (first == b->n_layers)
		return 0;
	if (geteuid() != 0)
		return kiln_error_set(err, "%s: %s need root (they run in kiln's sandbox: namespaces, overlayfs, "
				      "a cgroup)", b->manifest_rel,
				      b->layers[first].kind == LAYER_CONFIGURE ? "maintainer scripts (or scripts: skip)"
									      : "run: steps");
	/* What a build killed mid-step left (stage.h), before making more. */
	kiln_stage_sweep(b->opt->tmp_dir, b->opt->cgroup_parent);
	st = kiln_stage_new(b->opt->tmp_dir, err);
	if (!st)
		return -1;
	for (size_t i = 0; i < first; i++)
		if (stage_layer(b, st, &b->layers[i], err) < 0)
			return kiln_error_prefix(err, "layer %zu (%s)", i, b->layers[i].what);
	for (size_t i = first; i < b->n_layers; i++) {
		struct plan_layer *l = &b->layers[i];

		/* A layer made from the tree between staged ones (files:) goes
		 * under the next step as it is. */
		if (!is_staged(l)) {
			if (i + 1 < b->n_layers && stage_layer(b, st, l, err) < 0)
				return kiln_error_prefix(err, "layer %zu (%s)", i, l->what);
			continue;
		}
		if (run_staged(b, st, l, err) < 0)
			return -1;
		if (i + 1 < b->n_layers && kiln_stage_add_layer(st, l->tar.data, l->tar.len, err) < 0)
			return kiln_error_prefix(err, "layer %zu (%s)", i, l->what);
	}
	return 0;
}

/* ---- the image ---- */

static char *default_path_env(void)
{
	return kiln_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

static int write_image(struct build *b, struct kiln_build_result *res, struct kiln_error *err)
{
	const struct kiln_image_config *ic = &b->m->config;
	struct kiln_oci_config c = { 0 };
	struct kiln_oci_descriptor config_desc = { .media_type = KILN_OCI_CONFIG };
	struct kiln_oci_descriptor *layer_descs = kiln_xcalloc(b->n_layers, sizeof(*layer_descs));
	char created[32], comment[256];
	char *ann_keys[] = { "org.opencontainers.image.created", "org.opencontainers.image.revision",
			     "org.opencontainers.image.title" };
	char *ann_values[3];
	_cleanup_free_ char *config_json = NULL, *manifest_json = NULL;
	int rc = -1;

	if (kiln_oci_platform(b->m->architecture, &c.architecture, &c.variant, err) < 0)
		goto out;
	kiln_oci_time(b->created, created);
	c.os = "linux";
	c.created = created;
	/* The manifest's config over the base's (base.h; scratch: the
	 * manifest's alone, PATH defaulted). */
	{
		_cleanup_free_ char *path = default_path_env();
		if (kiln_base_config(b->base, ic, path, &c, err) < 0) {
			kiln_error_prefix(err, "%s: config", b->manifest_rel);
			goto out;
		}
	}
	c.diff_ids = kiln_xcalloc(b->n_layers, sizeof(char *));
	c.history = kiln_xcalloc(b->n_layers, sizeof(*c.history));
	/* Compressed bytes depend on the compressor: say which one made them. */
	snprintf(comment, sizeof(comment), "kiln %s; %s", KILN_VERSION, b->compressor_id);
	for (size_t i = 0; i < b->n_layers; i++) {
		c.diff_ids[c.n_diff_ids++] = b->layers[i].diff_id;
		c.history[c.n_history++] = (struct kiln_oci_history){ b->layers[i].what, comment, false };
		layer_descs[i] = b->layers[i].blob;
	}
	config_json = kiln_oci_config_json(&c);
	if (kiln_store_put_blob(b->store, config_json, strlen(config_json), config_desc.digest, err) < 0)
		goto out;
	config_desc.size = strlen(config_json);
	ann_values[0] = created;
	ann_values[1] = b->commit;
	ann_values[2] = b->m->name;
	manifest_json = kiln_oci_manifest_json(&config_desc, layer_descs, b->n_layers, ann_keys,
					       ann_values, 3);
	if (kiln_store_put_blob(b->store, manifest_json, strlen(manifest_json), res->manifest_digest, err) < 0)
		goto out;
	res->manifest_size = strlen(manifest_json);
	memcpy(res->config_digest, config_desc.digest, sizeof(res->config_digest));
	res->size = res->manifest_size + config_desc.size;
	for (size_t i = 0; i < b->n_layers; i++)
		res->size += layer_descs[i].size;
	rc = 0;
out:
	kiln_base_config_release(&c);
	free(c.diff_ids);
	free(c.history);
	free(layer_descs);
	return rc;
}

/* ---- base: (base.h, docs/building.md#bases) ---- */

/* Build another manifest of the repository at this commit (a base, a
 * files[].from), as `kiln build -f REL --rev COMMIT` would, or take the
 * store's snapshot of it: its image digest, path and name. */
static int build_other(struct build *b, const char *key, const char *spec, char digest[KILN_OCI_DIGEST_LEN + 1],
		       char **rel_out, char **name_out, struct kiln_error *err)
{
	const char *wd = kiln_git_workdir(b->git);
	struct kiln_base_chain me = { b->manifest_rel, b->opt->base_chain };
	struct kiln_build_options o = *b->opt;
	struct kiln_build_result r;
	_cleanup_free_ char *rel = kiln_base_manifest_path(b->manifest_rel, key, b->manifest_dir_rel, spec, &me, err);
	_cleanup_free_ char *abs = NULL;

	if (!rel)
		return -1;
	abs = kiln_path_join(wd, rel);
	o.manifest_path = abs;
	o.repo_dir = wd;
	o.rev = b->commit;
	o.base_chain = &me;
	o.reuse_record = true;
	if (kiln_build_run(&o, &r, err) < 0)
		return kiln_error_prefix(err, "%s: %s %s", b->manifest_rel, key, rel);
	memcpy(digest, r.manifest_digest, KILN_OCI_DIGEST_LEN + 1);
	if (name_out)
		*name_out = kiln_xstrdup(r.name);
	if (rel_out)
		*rel_out = kiln_steal_pointer(&rel);
	kiln_build_result_release(&r);
	return 0;
}

/* Find the base and, for a manifest base, build it (or take the store's
 * snapshot of it) before this build opens the store: a writer holds the
 * store's lock while it is open. */
static int resolve_base(struct build *b, char base_digest[KILN_OCI_DIGEST_LEN + 1], struct kiln_error *err)
{
	const char *wd = kiln_git_workdir(b->git);
	enum kiln_base_kind kind = kiln_base_kind_of(b->m->base);

	base_digest[0] = '\0';
	if (kind == KILN_BASE_SCRATCH)
		return 0;
	if (kind == KILN_BASE_OCI) {
		_cleanup_free_ char *path = NULL, *abs = NULL, *label = NULL;
		char digest[KILN_OCI_DIGEST_LEN + 1];
		if (kiln_base_parse_oci(b->manifest_rel, b->m->base, &path, digest, err) < 0)
			return -1;
		/* Read from the file system, relative to the top of the work
		 * tree: the digest pins the image, whatever the path holds. */
		abs = path[0] == '/' ? kiln_xstrdup(path) : kiln_path_join(wd, path);
		label = kiln_xasprintf("base oci:%s@%.19s…", path, digest);
		b->base = kiln_xcalloc(1, sizeof(*b->base));
		if (kiln_base_load_oci(abs, label, digest, b->base, err) < 0)
			return kiln_error_prefix(err, "%s", b->manifest_rel);
		b->base_uri = kiln_xasprintf("oci:%s", path);
		return 0;
	}
	{
		_cleanup_free_ char *name = NULL, *rel = NULL;
		if (build_other(b, "base", b->m->base, base_digest, &rel, &name, err) < 0)
			return -1;
		b->base_uri = kiln_xasprintf("kiln:%s@%s#%s", rel, b->commit, name);
		return 0;
	}
}

/* files[].from: each manifest built (or taken from the store) as a base is. */
static int resolve_from(struct build *b, struct kiln_error *err)
{
	b->from_digests = kiln_xcalloc(b->m->n_files + 1, sizeof(*b->from_digests));
	for (size_t i = 0; i < b->m->n_files; i++) {
		_cleanup_free_ char *key = NULL;
		if (!b->m->files[i].from)
			continue;
		key = kiln_xasprintf("files[%zu].from", i);
		if (build_other(b, key, b->m->files[i].from, b->from_digests[i], NULL, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* The base's blobs that are not in the store yet (an OCI base's). */
static int store_base_blobs(struct build *b, struct kiln_error *err)
{
	char digest[KILN_OCI_DIGEST_LEN + 1];

	for (size_t i = 0; b->base && b->base->blobs && i < b->base->manifest.n_layers; i++)
		if (kiln_store_put_blob(b->store, b->base->blobs[i].data, b->base->blobs[i].len, digest, err) < 0)
			return -1;
	return 0;
}

/* ---- signature and record ---- */

/* The signing key, loaded before any work so a build that cannot be
 * signed fails in milliseconds, not after minutes of compression. */
static int load_key(struct build *b, struct kiln_error *err)
{
	_cleanup_free_ char *path = NULL;

	if (b->opt->no_sign)
		return 0;
	path = kiln_sign_find_private(b->opt->key_path, kiln_git_workdir(b->git));
	if (kiln_sign_check_key_path(path, kiln_git_workdir(b->git), err) < 0)
		return -1;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return kiln_error_set(err, "no signing key at %s: run `kiln keygen` to make one (and commit "
				      "the public key it writes under .kiln/trusted/), or build with "
				      "--no-sign for a local try", path);
	b->key = kiln_sign_load_private(path, err);
	return b->key ? 0 : -1;
}

/* Store the DSSE envelope of the statement and the OCI 1.1 referrer
 * manifest that attaches it to the image. */
static int store_signature(struct build *b, struct kiln_build_result *res, struct kiln_error *err)
{
	struct kiln_oci_descriptor env = { .media_type = KILN_OCI_DSSE };
	struct kiln_oci_descriptor subject = { .media_type = KILN_OCI_MANIFEST, .size = res->manifest_size };
	char empty[KILN_OCI_DIGEST_LEN + 1];
	_cleanup_free_ char *envelope = NULL, *referrer = NULL;

	envelope = kiln_dsse_envelope(KILN_DSSE_IN_TOTO, res->statement, strlen(res->statement), b->key, err);
	if (!envelope)
		return -1;
	env.size = strlen(envelope);
	if (kiln_store_put_blob(b->store, envelope, env.size, env.digest, err) < 0 ||
	    kiln_store_put_blob(b->store, "{}", 2, empty, err) < 0)
		return -1;
	memcpy(subject.digest, res->manifest_digest, sizeof(subject.digest));
	referrer = kiln_oci_referrer_json(KILN_OCI_DSSE, &env, &subject);
	if (kiln_store_put_blob(b->store, referrer, strlen(referrer), res->referrer_digest, err) < 0)
		return -1;
	res->referrer_size = strlen(referrer);
	memcpy(res->envelope_digest, env.digest, sizeof(res->envelope_digest));
	return kiln_sign_keyid(b->key, res->keyid, err);
}

static int sign_and_record(struct build *b, struct kiln_build_result *res, struct kiln_error *err)
{
	struct kiln_provenance_package *pkgs = kiln_xcalloc(b->lock->n_packages + 1, sizeof(*pkgs));
	struct kiln_provenance p = {
		.name = b->m->name, .image_digest = res->manifest_digest, .commit = b->commit,
		.manifest_path = b->manifest_rel, .lock_path = b->lock_rel, .lock_digest = b->lock_digest,
		.compression = b->compression, .has_source_date = b->has_source_date,
		.source_date = b->created, .layer_format = KILN_FORMAT_VERSION,
		.kiln_version = KILN_VERSION, .packages = pkgs, .n_packages = b->lock->n_packages,
		.base_uri = b->base_uri, .base_digest = b->base ? b->base->digest : NULL,
	};
	struct kiln_record r = { 0 };
	struct kiln_error note_err = { 0 };
	char now[32];

	for (size_t i = 0; i < b->lock->n_packages; i++) {
		const struct kiln_lock_package *lp = &b->lock->packages[i];
		pkgs[i] = (struct kiln_provenance_package){ lp->name, lp->version, lp->architecture, lp->sha256 };
	}
	res->statement = kiln_provenance_statement(&p, err);
	free(pkgs);
	if (!res->statement)
		return -1;
	if (b->key && store_signature(b, res, err) < 0)
		return -1;
	if (b->opt->no_record)
		return 0;
	kiln_oci_time((int64_t)time(NULL), now);
	r.name = b->m->name;
	memcpy(r.commit, b->commit, sizeof(r.commit));
	memcpy(r.manifest, res->manifest_digest, sizeof(r.manifest));
	r.size = res->size;
	memcpy(r.lock, b->lock_digest, sizeof(r.lock));
	memcpy(r.envelope, res->envelope_digest, sizeof(r.envelope));
	memcpy(r.referrer, res->referrer_digest, sizeof(r.referrer));
	r.kiln_version = (char *)KILN_VERSION;
	r.build_time = now;
	/* A commit has one snapshot per name: say so when this one replaces
	 * a different one (built with --zstd, say), not silently. */
	{
		struct kiln_record old;
		bool found = false;
		if (kiln_record_read(b->store, b->commit, b->m->name, &old, &found, KILN_ERROR_IGNORE) == 0 &&
		    found) {
			if (strcmp(old.manifest, r.manifest) != 0)
				note(b, "replaces the snapshot %.19s… recorded for %s@%.12s at %s (kiln gc frees it)",
				     old.manifest, b->m->name, b->commit, old.build_time);
			kiln_record_release(&old);
		}
	}
	if (kiln_record_write(b->store, &r, b->key, err) < 0)
		return -1;
	res->record_path = kiln_record_path(b->store, b->commit, b->m->name);
	/* The record in the store is what counts; the git note mirrors it for
	 * `git notes --ref=kiln show`, so failing to write it is a warning. */
	if (kiln_record_note_add(b->git, &r, &note_err) < 0)
		res->warning = kiln_xasprintf("git note on %.12s not written: %s", b->commit, note_err.message);
	return 0;
}

static int tag_image(struct build *b, const struct kiln_build_result *res, struct kiln_error *err)
{
	_cleanup_free_ char *ref = kiln_xasprintf("%s@%s", b->m->name, b->commit);

	if (kiln_store_tag(b->store, res->manifest_digest, res->manifest_size, ref, b->commit, err) < 0)
		return -1;
	if (res->referrer_digest[0] &&
	    kiln_store_add_referrer(b->store, res->referrer_digest, res->referrer_size, KILN_OCI_DSSE,
				    res->manifest_digest, err) < 0)
		return -1;
	return 0;
}

int kiln_build_run(const struct kiln_build_options *opt, struct kiln_build_result *res,
		   struct kiln_error *err)
{
	struct build b = { .opt = opt };
	struct kiln_layer_tree *tree = NULL;
	_cleanup_free_ char *manifest_dir = kiln_path_dirname(opt->manifest_path);
	size_t missing = 0, missing_assembled = 0;
	char base_digest[KILN_OCI_DIGEST_LEN + 1] = "";
	double start = kiln_monotonic_seconds();
	int rc = -1;

	memset(res, 0, sizeof(*res));
	b.compression = opt->zstd ? "zstd" : "gzip";
	b.level = opt->gzip_level ? opt->gzip_level : opt->zstd ? 3 : 6;
	describe_compressor(b.compression, b.level, b.compressor_id, sizeof(b.compressor_id));

	b.git = kiln_git_open(opt->repo_dir ? opt->repo_dir : manifest_dir, err);
	if (!b.git) {
		/* Usually a mistyped -f: say that first.  (A manifest that only
		 * exists in an older commit is fine: builds read the commit.) */
		if (access(manifest_dir, F_OK) < 0)
			kiln_error_set(err, "no manifest '%s': its directory does not exist", opt->manifest_path);
		else if (access(opt->manifest_path, F_OK) < 0)
			kiln_error_set(err, "no manifest '%s' (kiln init writes one; -f names another)",
				       opt->manifest_path);
		goto out;
	}
	if (kiln_git_resolve(b.git, opt->rev ? opt->rev : "HEAD", b.commit, &b.commit_time, err) < 0)
		goto out;
	if (locate_manifest(&b, err) < 0 || load_inputs(&b, err) < 0 || load_key(&b, err) < 0 ||
	    resolve_base(&b, base_digest, err) < 0 || resolve_from(&b, err) < 0)
		goto out;
	b.store = kiln_store_open_default(opt->store_dir, kiln_git_workdir(b.git), true, err);
	if (!b.store)
		goto out;
	if (base_digest[0]) {
		b.base = kiln_xcalloc(1, sizeof(*b.base));
		if (kiln_base_load_store(b.store, b.m->base, base_digest, b.base, err) < 0) {
			kiln_error_prefix(err, "%s", b.manifest_rel);
			goto out;
		}
	}
	/* A base manifest's build takes the store's snapshot of it when
	 * there is one (docs/building.md, Bases). */
	if (opt->reuse_record) {
		struct kiln_record r;
		bool found;
		if (kiln_record_read(b.store, b.commit, b.m->name, &r, &found, err) < 0)
			goto out;
		if (found && kiln_store_has_blob(b.store, r.manifest)) {
			note(&b, "base %s: the snapshot %s@%.12s in the store (%.19s…)", b.manifest_rel, b.m->name,
			     b.commit, r.manifest);
			memcpy(res->manifest_digest, r.manifest, sizeof(res->manifest_digest));
			res->name = kiln_xstrdup(b.m->name);
			memcpy(res->commit, b.commit, sizeof(res->commit));
			res->store_dir = kiln_xstrdup(kiln_store_dir(b.store));
			res->manifest_path = kiln_xstrdup(b.manifest_rel);
			kiln_record_release(&r);
			rc = 0;
			goto out;
		}
		if (found)
			kiln_record_release(&r);
		note(&b, "base %s: building %s@%.12s", b.manifest_rel, b.m->name, b.commit);
	}
	/* An unsigned try must not replace the signed record of a commit. */
	if (opt->no_sign && !opt->no_record) {
		struct kiln_record r;
		bool found;
		if (kiln_record_read(b.store, b.commit, b.m->name, &r, &found, err) < 0)
			goto out;
		if (found && r.n_sigs) {
			kiln_record_release(&r);
			kiln_error_set(err, "%s@%.12s has a signed snapshot; --no-sign would replace it with an "
				       "unsigned one (build it signed, or delete %s first)", b.m->name, b.commit,
				       "its record");
			goto out;
		}
		if (found)
			kiln_record_release(&r);
	}
	if (plan(&b, err) < 0)
		goto out;
	{
		struct kiln_error cache_err = { 0 };
		if (kiln_buildcache_open(&b.cache, b.store, opt->cache_dir, &cache_err) < 0)
			note(&b, "build cache off: %s", cache_err.message);
	}

	for (size_t i = 0; i < b.n_layers; i++) {
		struct plan_layer *l = &b.layers[i];
		if (l->kind == LAYER_BASE)
			continue;
		/* A step may not give the same bytes twice (it writes the date):
		 * once one runs again, every step above it does too, as docker
		 * build does. */
		if (l->kind == LAYER_RUN && i > 0 && is_staged(&b.layers[i - 1]) && !b.layers[i - 1].cached)
			l->cached = false;
		else
			l->cached = cache_lookup(&b, l, err);
		if (!l->cached) {
			missing++;
			if (!is_staged(l))
				missing_assembled++;
		}
		if (l->kind == LAYER_CONFIGURE && l->cached)
			note(&b, "configure: maintainer scripts: cached");
		if (l->kind == LAYER_RUN && l->cached) {
			_cleanup_free_ char *name = step_name(&b, l);
			char summary[120];
			step_summary(l->what, summary, sizeof(summary));
			note(&b, "%s: %s: cached", name, summary);
		}
	}
	if (missing_assembled) {
		tree = assemble(&b, res, err);
		if (!tree)
			goto out;
		for (size_t i = 0; i < b.n_layers; i++) {
			struct plan_layer *l = &b.layers[i];
			/* Package files keep their .deb mtimes (no clamp). */
			struct kiln_layer_options lo = { .epoch = b.epoch, .clamp = -1 };
			struct kiln_layer_result lr;
			if (l->cached || is_staged(l))
				continue;
			if (kiln_layer_write(tree, (int)i, &lo, &l->tar, &lr, err) < 0) {
				kiln_error_prefix(err, "layer %zu (%s)", i, l->what);
				goto out;
			}
			memcpy(l->diff_id, lr.diff_id, sizeof(l->diff_id));
		}
	}
	/* The steps run before anything is stored: a failing one leaves
	 * the store as it was (no blob, no record, no index entry). */
	if (run_steps(&b, err) < 0)
		goto out;
	if (missing) {
		if (compress_layers(&b, err) < 0)
			goto out;
		for (size_t i = 0; i < b.n_layers; i++) {
			struct plan_layer *l = &b.layers[i];
			if (l->cached)
				continue;
			l->blob.media_type = opt->zstd ? KILN_OCI_LAYER_ZSTD : KILN_OCI_LAYER_GZIP;
			l->blob.size = l->packed.len;
			if (kiln_store_put_blob(b.store, l->packed.data, l->packed.len, l->blob.digest, err) < 0)
				goto out;
			if (b.cache.usable) {
				/* put_blob has just checked (or written) these bytes. */
				char stamp[KILN_BUILDCACHE_STAMP_MAX] = "-";
				struct stat st;
				if (kiln_store_blob_stat(b.store, l->blob.digest, &st) == 0)
					kiln_buildcache_blob_stamp(&st, stamp);
				if (cache_write(&b, l, stamp, err) < 0)
					goto out;
			}
			kiln_buf_release(&l->tar);
			kiln_buf_release(&l->packed);
		}
	}
	for (size_t i = 0; i < b.n_layers; i++) {
		char what[120];
		step_summary(b.layers[i].what, what, sizeof(what));
		note(&b, "layer %zu/%zu %-7s %.19s  %s", i + 1, b.n_layers,
		     b.layers[i].kind == LAYER_BASE ? "base" : b.layers[i].cached ? "cached" : "built", b.layers[i].blob.digest,
		     b.layers[i].kind == LAYER_RUN ? what : b.layers[i].what);
	}
	/* Blobs first, then the record, then index.json: a kill at any point
	 * leaves the last complete snapshot what NAME@COMMIT names (references
	 * resolve through the record; index.json is for OCI tools). */
	if (store_base_blobs(&b, err) < 0 || write_image(&b, res, err) < 0 || sign_and_record(&b, res, err) < 0 || tag_image(&b, res, err) < 0)
		goto out;
	res->manifest_path = kiln_xstrdup(b.manifest_rel);
	memcpy(res->lock_digest, b.lock_digest, sizeof(res->lock_digest));

	res->name = kiln_xstrdup(b.m->name);
	memcpy(res->commit, b.commit, sizeof(res->commit));
	res->store_dir = kiln_xstrdup(kiln_store_dir(b.store));
	res->layers = kiln_xcalloc(b.n_layers, sizeof(*res->layers));
	res->n_layers = b.n_layers;
	for (size_t i = 0; i < b.n_layers; i++) {
		res->layers[i].what = kiln_xstrdup(b.layers[i].what);
		res->layers[i].blob = b.layers[i].blob;
		memcpy(res->layers[i].diff_id, b.layers[i].diff_id, sizeof(res->layers[i].diff_id));
		res->layers[i].cached = b.layers[i].cached;
	}
	res->seconds = kiln_monotonic_seconds() - start;
	rc = 0;
out:
	kiln_layer_tree_free(tree);
	for (size_t i = 0; i < b.n_layers; i++) {
		free(b.layers[i].pkgs);
		free(b.layers[i].what);
		kiln_buf_release(&b.layers[i].tar);
		kiln_buf_release(&b.layers[i].packed);
	}
	free(b.layers);
	if (b.base) {
		kiln_base_release(b.base);
		free(b.base);
	}
	free(b.base_uri);
	free(b.from_digests);
	free(b.manifest_rel);
	free(b.manifest_dir_rel);
	free(b.lock_rel);
	kiln_sign_key_free(b.key);
	kiln_lock_free(b.lock);
	if (b.m)
		kiln_manifest_free(b.m);
	kiln_store_free(b.store);
	kiln_git_free(b.git);
	return rc;
}

void kiln_build_result_release(struct kiln_build_result *res)
{
	for (size_t i = 0; i < res->n_layers; i++)
		free(res->layers[i].what);
	free(res->layers);
	free(res->name);
	free(res->store_dir);
	free(res->manifest_path);
	free(res->statement);
	free(res->record_path);
	free(res->warning);
	memset(res, 0, sizeof(*res));
}
