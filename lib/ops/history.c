/* history.c - a service's deploy history (docs/deploy.md, History). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "history.h"
#include "lockfile.h"
#include "record.h"
#include "util.h"

struct kiln_history {
	char *dir;    /* ROOT/services/NAME */
	char *path;   /* …/history */
	int lock_fd;
};

static const char *const actions[] = { "deploy", "rollback", "auto-rollback", "recover", NULL };
static const char *const results[] = { "started", "serving", "failed", "rolled-back", "interrupted", NULL };

static bool one_of(const char *s, const char *const *v)
{
	for (; *v; v++)
		if (!strcmp(s, *v))
			return true;
	return false;
}

void kiln_history_entry_release(struct kiln_history_entry *e)
{
	free(e->action);
	free(e->result);
	free(e->commit);
	free(e->digest);
	free(e->manifest);
	free(e->store);
	free(e->container);
	free(e->trigger);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

struct kiln_history *kiln_history_open(const char *root, const char *name, struct kiln_error *err)
{
	struct kiln_history *h;

	/* The name becomes a directory under ROOT/services: never a path. */
	if (!kiln_record_name_valid(name)) {
		kiln_error_set(err, "\"%s\" is not a service name (a manifest's name: [a-z0-9][a-z0-9._-]*, at most "
			       "128 characters)", name);
		kiln_error_cause(err, KILN_CAUSE_INVALID);
		return NULL;
	}
	h = kiln_xcalloc(1, sizeof(*h));

	h->lock_fd = -1;
	h->dir = kiln_xasprintf("%s/services/%s", root, name);
	h->path = kiln_path_join(h->dir, "history");
	if (kiln_mkdir_p(h->dir, 0700, err) < 0) {
		kiln_history_free(h);
		return NULL;
	}
	return h;
}

void kiln_history_free(struct kiln_history *h)
{
	if (!h)
		return;
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	free(h->dir);
	free(h->path);
	free(h);
}

const char *kiln_history_path(const struct kiln_history *h) { return h->path; }

int kiln_history_lock(struct kiln_history *h, bool try, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_path_join(h->dir, "lock");
	int fd;

	if (h->lock_fd >= 0)
		return 0;
	fd = kiln_lockfile_open(path, 0600, try ? KILN_LOCKFILE_TRY : 0, err);
	if (fd < 0)
		return fd;
	h->lock_fd = fd;
	return 0;
}

static void set_str(json_t *o, const char *key, const char *value)
{
	if (value)
		json_object_set_new(o, key, json_string(value));
}

int kiln_history_append(struct kiln_history *h, const struct kiln_history_entry *e, struct kiln_error *err)
{
	json_t *o = json_object();
	char *line;
	int fd, rc;
	bool created;
	struct stat st;

	json_object_set_new(o, "seq", json_integer(e->seq));
	json_object_set_new(o, "time", json_integer(e->time));
	set_str(o, "action", e->action);
	set_str(o, "result", e->result);
	set_str(o, "commit", e->commit ? e->commit : "");
	set_str(o, "digest", e->digest ? e->digest : "");
	set_str(o, "manifest", e->manifest ? e->manifest : "");
	set_str(o, "store", e->store ? e->store : "");
	set_str(o, "container", e->container ? e->container : "");
	set_str(o, "trigger", e->trigger ? e->trigger : "");
	set_str(o, "message", e->message);
	line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(o);
	if (!line)
		return kiln_error_set(err, "%s: cannot format a history line", h->path);
	created = lstat(h->path, &st) < 0;
	fd = open(h->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		free(line);
		return kiln_error_errno(err, errno, "%s: open", h->path);
	}
	/* One write of the whole line: O_APPEND puts it at the end in one
	 * piece, and a crash leaves at most a last line without its newline,
	 * which readers ignore. */
	{
		size_t len = strlen(line);
		_cleanup_free_ char *nl = kiln_xasprintf("%s\n", line);
		rc = kiln_write_all(fd, nl, len + 1);
	}
	free(line);
	if (rc || fsync(fd) < 0) {
		int e2 = rc ? rc : errno;
		close(fd);
		return kiln_error_errno(err, e2, "%s: write", h->path);
	}
	close(fd);
	if (created && kiln_fsync_dir_of(h->path, err) < 0)
		return -1;
	return 0;
}

static char *get_str(json_t *o, const char *key, bool required, bool *bad)
{
	json_t *v = json_object_get(o, key);
	if (!v) {
		if (required)
			*bad = true;
		return NULL;
	}
	if (!json_is_string(v)) {
		*bad = true;
		return NULL;
	}
	return kiln_xstrdup(json_string_value(v));
}

static int parse_line(const char *path, unsigned lineno, const char *s, size_t len,
		      struct kiln_history_entry *e, struct kiln_error *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr), *v;
	bool bad = false;
	size_t known = 0;
	static const char *const keys[] = { "seq", "time", "action", "result", "commit", "digest",
					    "manifest", "store", "container", "trigger", "message" };

	memset(e, 0, sizeof(*e));
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return kiln_error_set(err, "%s:%u: not a history line (%s)", path, lineno,
				      o ? "not an object" : jerr.text);
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		known += json_object_get(o, keys[i]) != NULL;
	v = json_object_get(o, "seq");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000000)
		bad = true;
	else
		e->seq = (unsigned)json_integer_value(v);
	v = json_object_get(o, "time");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		bad = true;
	else
		e->time = json_integer_value(v);
	e->action = get_str(o, "action", true, &bad);
	e->result = get_str(o, "result", true, &bad);
	e->commit = get_str(o, "commit", true, &bad);
	e->digest = get_str(o, "digest", true, &bad);
	e->manifest = get_str(o, "manifest", true, &bad);
	e->store = get_str(o, "store", true, &bad);
	e->container = get_str(o, "container", true, &bad);
	e->trigger = get_str(o, "trigger", true, &bad);
	e->message = get_str(o, "message", false, &bad);
	if (known != json_object_size(o))
		bad = true;
	json_decref(o);
	if (!bad && (!one_of(e->action, actions) || !one_of(e->result, results)))
		bad = true;
	if (bad) {
		kiln_history_entry_release(e);
		return kiln_error_set(err, "%s:%u: not a history line kiln writes", path, lineno);
	}
	return 0;
}

int kiln_history_load(const struct kiln_history *h, struct kiln_history_deploy **out, size_t *n,
		      struct kiln_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0, alloc = 0;
	struct kiln_history_deploy *v = NULL;
	unsigned lineno = 0;

	*out = NULL;
	*n = 0;
	data = kiln_file_read_nofollow(h->path, KILN_HISTORY_MAX, &len, err);
	if (!data) {
		if (kiln_error_is(err, KILN_CAUSE_NOT_FOUND)) {
			kiln_error_clear(err);
			return 0;
		}
		return -1;
	}
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(data + at, '\n', len - at);
		struct kiln_history_entry e;
		size_t k;

		lineno++;
		if (!nl) /* cut short by a crash before its fsync: never acknowledged */
			break;
		if (parse_line(h->path, lineno, data + at, (size_t)(nl - (data + at)), &e, err) < 0) {
			kiln_history_deploys_free(v, *n);
			*n = 0;
			return -1;
		}
		at = (size_t)(nl - data) + 1;
		for (k = 0; k < *n && v[k].e.seq != e.seq; k++)
			;
		if (k == *n) {
			kiln_xgrow(&v, &alloc, *n + 1, sizeof(*v));
			memset(&v[k], 0, sizeof(v[k]));
			v[k].started = e.time;
			(*n)++;
		} else {
			kiln_history_entry_release(&v[k].e);
		}
		v[k].finished = strcmp(e.result, "started") != 0;
		v[k].e = e;
	}
	*out = v;
	return 0;
}

void kiln_history_deploys_free(struct kiln_history_deploy *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kiln_history_entry_release(&v[i].e);
	free(v);
}

ssize_t kiln_history_current(const struct kiln_history_deploy *v, size_t n)
{
	for (size_t i = n; i-- > 0;)
		if (!strcmp(v[i].e.result, "serving"))
			return (ssize_t)i;
	return -1;
}

ssize_t kiln_history_previous(const struct kiln_history_deploy *v, size_t n)
{
	ssize_t cur = kiln_history_current(v, n);

	/* The newest other image that served: repairs (recover) and --force
	 * put the current image back under new lines, which are not what
	 * served before it. */
	for (ssize_t i = cur - 1; i >= 0; i--)
		if (!strcmp(v[i].e.result, "serving") && strcmp(v[i].e.digest, v[cur].e.digest))
			return i;
	return -1;
}

int kiln_history_all_digests(const char *root, char ***digests, size_t *n, struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_path_join(root, "services");
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t alloc = 0;

	*digests = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : kiln_error_errno(err, errno, "%s: open", dir);
	while ((de = readdir(d))) {
		struct kiln_history *h;
		struct kiln_history_deploy *v;
		size_t nv;

		if (de->d_name[0] == '.')
			continue;
		h = kiln_xcalloc(1, sizeof(*h));
		h->lock_fd = -1;
		h->dir = kiln_path_join(dir, de->d_name);
		h->path = kiln_path_join(h->dir, "history");
		if (kiln_history_load(h, &v, &nv, err) < 0) {
			kiln_history_free(h);
			closedir(d);
			kiln_strv_free(*digests, *n);
			*digests = NULL;
			*n = 0;
			return -1;
		}
		for (size_t i = 0; i < nv; i++) {
			if (!v[i].e.digest[0])
				continue;
			kiln_xgrow(digests, &alloc, *n + 1, sizeof(char *));
			(*digests)[(*n)++] = kiln_xstrdup(v[i].e.digest);
		}
		kiln_history_deploys_free(v, nv);
		kiln_history_free(h);
	}
	closedir(d);
	return 0;
}
