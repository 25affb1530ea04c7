#include "container.h"

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

/* The runtime `kiln run` uses without --runtime: kiln's own (lib/runtime). */
#define DEFAULT_RUNTIME "kiln"
/* The network mode without --network (docs/containers.md: bridge). */
#define DEFAULT_NETWORK "bridge"


#define STATE_MAX (1u << 20)
#define CONFIG_MAX (4u << 20)
#define IMAGE_FILE_MAX (4u << 20)

struct kiln_container_root {
	char *root;      /* ROOT: layers, volumes, writable layers */
	char *run;       /* RUN: live state */
	char *runc_root; /* RUN/runc */
	char *cgroup_parent;   /* "/kiln": absolute, so runc and kiln's runtime agree */
	char *net_dir;         /* RUN/net */
	struct kiln_net_config net;
	char *net_bridge, *net_subnet, *net_table; /* what net points to; NULL: defaults */
	int lock_fd;     /* RUN/lock while held, else -1 */
};

/* ---- small helpers ---------------------------------------------------- */

void kiln_container_release(struct kiln_container *c)
{
	free(c->name);
	free(c->snapshot);
	free(c->image);
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

static char *state_dir(const struct kiln_container_root *r, const char *id)
{
	return kiln_xasprintf("%s/containers/%s", r->run, id);
}

static char *layer_dir(const struct kiln_container_root *r, const char *id)
{
	return kiln_xasprintf("%s/containers/%s", r->root, id);
}

static char *state_file(const struct kiln_container_root *r, const char *id, const char *file)
{
	return kiln_xasprintf("%s/containers/%s/%s", r->run, id, file);
}

/* The state of live containers is volatile (RUN is a tmpfs) and must be
 * cheap to write: replaced by rename, without fsync. */
static int write_file_quick(const char *path, const char *data, size_t len, struct kiln_error *err)
{
	return kiln_file_replace(path, data, len, 0644, KILN_FILE_NOSYNC, err);
}

static int global_lock(struct kiln_container_root *r, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_path_join(r->run, "lock");
	if (r->lock_fd >= 0)
		return 0;
	r->lock_fd = kiln_lockfile_open(path, 0600, 0, err);
	return r->lock_fd < 0 ? (r->lock_fd = -1) : 0;
}

static void global_unlock(struct kiln_container_root *r)
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
static int monitor_lock_try(const struct kiln_container_root *r, const char *id)
{
	_cleanup_free_ char *path = state_file(r, id, "monitor.lock");
	int fd = kiln_lockfile_open(path, 0, KILN_LOCKFILE_TRY | KILN_LOCKFILE_NO_CREATE, NULL);

	if (fd == -1 && errno == ENOENT)
		return -2;
	return fd < 0 ? -1 : fd;
}

bool kiln_container_monitored(const struct kiln_container_root *r, const struct kiln_container *c)
{
	int fd = monitor_lock_try(r, c->id);
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
	json_object_set_new(o, "command", strv_json(c->command, c->n_command));
	set_opt(o, "runtime", c->runtime);
	set_opt(o, "network", c->network);
	json_object_set_new(o, "ports", strv_json(c->ports, c->n_ports));
	set_opt(o, "address", c->address);
	set_opt(o, "stop_signal", c->stop_signal);
	set_opt(o, "error", c->error);
	json_object_set_new(o, "auto_remove", json_boolean(c->auto_remove));
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

static int state_save(const struct kiln_container_root *r, const struct kiln_container *c,
		      struct kiln_error *err)
{
	_cleanup_free_ char *path = state_file(r, c->id, "state.json");
	_cleanup_free_ char *text = state_json(c);
	_cleanup_free_ char *with_nl = kiln_xasprintf("%s\n", text);
	return write_file_quick(path, with_nl, strlen(with_nl), err);
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

static int state_load(const struct kiln_container_root *r, const char *id, struct kiln_container *c,
		      struct kiln_error *err)
{
	_cleanup_free_ char *path = state_file(r, id, "state.json");
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
	json_strv(o, "command", &c->command, &c->n_command);
	c->runtime = json_str(o, "runtime");
	c->network = json_str(o, "network");
	json_strv(o, "ports", &c->ports, &c->n_ports);
	c->address = json_str(o, "address");
	c->stop_signal = json_str(o, "stop_signal");
	c->error = json_str(o, "error");
	c->auto_remove = json_is_true(json_object_get(o, "auto_remove"));
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
		r->root = kiln_xstrdup("/var/lib/kiln");
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
	global_unlock(r);
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
const char *kiln_container_run_dir(const struct kiln_container_root *r) { return r->run; }

/* ---- running helper programs ---------------------------------------------- */

/* Spawn argv with the given stdio (-1: /dev/null), the caller's
 * environment as it is (runc's messages are shown, not parsed), a clean
 * signal mask and default dispositions (the monitor blocks signals for
 * its signalfd). */
static pid_t spawn(char *const argv[], int in, int out, int errfd, struct kiln_error *err)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(argv);

	o.reset_signals = true;
	o.in = in;
	o.out = out;
	o.err = errfd;
	return kiln_process_spawn(&o, err);
}

static int wait_status(pid_t pid)
{
	return kiln_process_wait(pid, NULL);
}

/* Run argv to the end with stdin /dev/null; its stderr and stdout (the
 * first 64 KiB: a message, not a stream) into *text when text is not
 * NULL.  Returns the exit code, or -1. */
static int run_capture(char *const argv[], char **text, struct kiln_error *err)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(argv);
	struct kiln_buf b = KILN_BUF_INIT;
	int code;

	o.reset_signals = true;
	o.out = KILN_PROCESS_CAPTURE;
	o.err = KILN_PROCESS_TO_STDOUT;
	o.capture_max = 64 * 1024;
	if (kiln_process_run(&o, &b, NULL, &code, err) < 0) {
		kiln_buf_release(&b);
		return -1;
	}
	while (b.len && (b.data[b.len - 1] == '\n'))
		b.data[--b.len] = 0;
	if (text)
		*text = kiln_buf_detach(&b);
	else
		kiln_buf_release(&b);
	return code;
}

/* ---- runtimes ----------------------------------------------------------- */

static void runtime_options(const struct kiln_container_root *r, const struct kiln_container *c, const char *bundle,
			    struct kiln_runtime_options *o)
{
	memset(o, 0, sizeof(*o));
	o->bundle = bundle;
	o->id = c->id;
	o->cgroup_parent = r->cgroup_parent;
	o->stdio.in = o->stdio.out = o->stdio.err = -1;
	o->console_socket_fd = -1;
}

/* The runtime's state for the container is gone, with its cgroup and any
 * process still in it; so is its network attachment.  Idempotent. */
static int runtime_delete(const struct kiln_container_root *r, const struct kiln_container *c,
			  struct kiln_error *err)
{
	_cleanup_free_ char *state = kiln_path_join(r->runc_root, c->id);
	_cleanup_free_ char *text = NULL, *bundle = state_dir(r, c->id);
	struct kiln_error e2 = { 0 };
	struct stat st;
	int code, rc = 0;

	if (c->network && strcmp(c->network, "bridge") == 0 && kiln_net_detach(&r->net, c->id, err) < 0)
		rc = -1;
	if (strcmp(c->runtime, "runc") != 0) {
		struct kiln_runtime_options o;
		runtime_options(r, c, bundle, &o);
		if (kiln_runtime_cleanup(&o, rc ? &e2 : err) < 0)
			rc = -1;
		if (c->runtime[0])
			return rc;
	}
	if (lstat(state, &st) < 0)
		return rc; /* `runc run` deleted it on the way out */
	char *argv[] = { "runc", "--root", r->runc_root, "delete", "--force", (char *)c->id, NULL };
	code = run_capture(argv, &text, rc ? &e2 : err);
	if (code < 0)
		return -1;
	if (code != 0 && lstat(state, &st) == 0)
		return kiln_error_set(rc ? &e2 : err, "runc delete %s: %s", c->id, text && *text ? text : "failed");
	return rc;
}

/* ---- cleanup --------------------------------------------------------------- */

static void remove_name(const struct kiln_container_root *r, const struct kiln_container *c)
{
	_cleanup_free_ char *link = kiln_xasprintf("%s/names/%s", r->run, c->name);
	char target[KILN_CONTAINER_ID_HEX + 2];
	ssize_t n = readlink(link, target, sizeof(target) - 1);

	if (n == KILN_CONTAINER_ID_HEX) {
		target[n] = 0;
		if (strcmp(target, c->id) == 0)
			unlink(link);
	}
}

/* Everything of a container goes: runtime state, cgroup, network, mount,
 * writable layer, state directory and name.  Best effort: the first error
 * is reported, the rest is still tried. */
static int destroy(const struct kiln_container_root *r, const struct kiln_container *c, struct kiln_error *err)
{
	_cleanup_free_ char *sdir = state_dir(r, c->id), *ldir = layer_dir(r, c->id);
	_cleanup_free_ char *rootfs = kiln_path_join(sdir, "rootfs");
	struct kiln_error e2 = { 0 };
	int rc = 0;

	if (runtime_delete(r, c, err) < 0)
		rc = -1;
	if (kiln_rootfs_unmount(rootfs, rc ? &e2 : err) < 0)
		rc = -1;
	if (kiln_rootfs_remove(ldir, rc ? &e2 : err) < 0)
		rc = -1;
	remove_name(r, c);
	if (kiln_rootfs_remove(sdir, rc ? &e2 : err) < 0)
		rc = -1;
	return rc;
}

/* The container has exited (or its monitor died): release what only a
 * running container needs, and record the exit; --rm removes it all. */
static int finish(const struct kiln_container_root *r, struct kiln_container *c, int code, const char *why,
		  struct kiln_error *err)
{
	_cleanup_free_ char *rootfs = state_file(r, c->id, "rootfs");
	int rc = 0;

	if (c->auto_remove)
		return destroy(r, c, err);
	if (runtime_delete(r, c, err) < 0)
		rc = -1;
	if (kiln_rootfs_unmount(rootfs, rc ? NULL : err) < 0)
		rc = -1;
	c->status = KILN_CONTAINER_EXITED;
	c->exit_code = code;
	c->finished = kiln_now_seconds();
	if (why && !c->error)
		c->error = kiln_xstrdup(why);
	if (state_save(r, c, rc ? NULL : err) < 0)
		rc = -1;
	return rc;
}

int kiln_container_reap(struct kiln_container_root *r, struct kiln_error *err)
{
	_cleanup_free_ char *cdir = kiln_path_join(r->run, "containers");
	_cleanup_free_ char *ldir = kiln_path_join(r->root, "containers");
	_cleanup_free_ char *ndir = kiln_path_join(r->run, "names");
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (global_lock(r, err) < 0)
		return -1;
	d = opendir(cdir);
	while (d && (de = readdir(d))) {
		struct kiln_container c;
		int fd;

		if (de->d_name[0] == '.' || strlen(de->d_name) != KILN_CONTAINER_ID_HEX)
			continue;
		fd = monitor_lock_try(r, de->d_name);
		if (fd == -1)
			continue; /* its monitor looks after it */
		if (state_load(r, de->d_name, &c, KILN_ERROR_IGNORE) < 0) {
			/* A creation that died before writing its state. */
			struct kiln_container bare = { 0 };
			snprintf(bare.id, sizeof(bare.id), "%s", de->d_name);
			bare.name = kiln_xstrdup("");
			bare.runtime = kiln_xstrdup(""); /* unknown: undo both */
			destroy(r, &bare, NULL);
			kiln_container_release(&bare);
		} else if (c.status != KILN_CONTAINER_EXITED) {
			if (finish(r, &c, 137, "its monitor died; reaped", rc ? NULL : err) < 0)
				rc = -1;
		}
		kiln_container_release(&c);
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
	/* Network leases of containers that are gone (a crash half-way). */
	if (access(r->net_dir, F_OK) == 0) {
		char **live = NULL;
		size_t n_live = 0, alloc = 0;
		d = opendir(cdir);
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			kiln_xgrow(&live, &alloc, n_live + 1, sizeof(char *));
			live[n_live++] = kiln_xstrdup(de->d_name);
		}
		if (d)
			closedir(d);
		if (kiln_net_reap(&r->net, live, n_live, rc ? NULL : err) < 0)
			rc = -1;
		kiln_strv_free(live, n_live);
	}
	/* Writable layers whose container state is gone. */
	d = opendir(ldir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *s = NULL, *l = NULL;
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		s = state_dir(r, de->d_name);
		if (lstat(s, &st) == 0)
			continue;
		l = layer_dir(r, de->d_name);
		kiln_rootfs_remove(l, NULL);
	}
	if (d)
		closedir(d);
	/* Names of containers that are gone. */
	d = opendir(ndir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *link = NULL, *s = NULL;
		char target[KILN_CONTAINER_ID_HEX + 2];
		struct stat st;
		ssize_t n;
		if (de->d_name[0] == '.')
			continue;
		link = kiln_path_join(ndir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		s = state_dir(r, target);
		if (lstat(s, &st) < 0)
			unlink(link);
	}
	if (d)
		closedir(d);
	global_unlock(r);
	return rc;
}

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
		if (state_load(r, de->d_name, &c, KILN_ERROR_IGNORE) < 0)
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
			if (state_load(r, target, out, NULL) == 0)
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

/* ---- creating ---------------------------------------------------------------- */

static void random_id(char id[KILN_CONTAINER_ID_HEX + 1])
{
	unsigned char raw[KILN_CONTAINER_ID_HEX / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			abort();
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
}

/* The image's config and its layers unpacked (top first). */
static int prepare_image(const struct kiln_container_root *r, const struct kiln_container_options *o,
			 struct kiln_bundle_image *img, char ***lowers, size_t *n_lowers, struct kiln_error *err)
{
	_cleanup_free_ char *manifest = NULL, *config = NULL, *layers = kiln_path_join(r->root, "layers");
	struct kiln_oci_manifest m = { 0 };
	size_t len;
	int rc = 0;

	manifest = kiln_store_read_blob(o->store, o->manifest_digest, CONFIG_MAX, &len, err);
	if (!manifest || kiln_oci_manifest_parse(manifest, len, &m, err) < 0)
		return kiln_error_prefix(err, "image %s", o->manifest_digest);
	config = kiln_store_read_blob(o->store, m.config.digest, CONFIG_MAX, &len, err);
	if (!config || kiln_bundle_image_parse(config, len, img, err) < 0) {
		kiln_oci_manifest_release(&m);
		return kiln_error_prefix(err, "image %s", o->manifest_digest);
	}
	*lowers = kiln_xcalloc(m.n_layers + 1, sizeof(char *));
	*n_lowers = 0;
	for (size_t i = m.n_layers; i-- > 0;) {
		char *dir = kiln_rootfs_layer(layers, o->store, m.layers[i].digest, err);
		if (!dir) {
			rc = -1;
			break;
		}
		(*lowers)[(*n_lowers)++] = dir;
	}
	kiln_oci_manifest_release(&m);
	if (rc == 0 && *n_lowers == 0)
		rc = kiln_error_set(err, "image %s has no layers", o->manifest_digest);
	if (rc < 0) {
		kiln_strv_free(*lowers, *n_lowers);
		*lowers = NULL;
		kiln_bundle_image_release(img);
	}
	return rc;
}

/* -v NAME:PATH[:ro] or /HOST:PATH[:ro] → a bind mount. */
static int parse_volume(const struct kiln_container_root *r, const char *text, char **source, char **dest,
			bool *readonly, struct kiln_error *err)
{
	_cleanup_free_ char *copy = kiln_xstrdup(text);
	char *colon = strchr(copy, ':'), *mode;

	if (!colon)
		return kiln_error_set(err, "volume '%s': expected NAME:PATH", text);
	*colon = 0;
	mode = strchr(colon + 1, ':');
	if (mode)
		*mode++ = 0;
	*readonly = mode && strcmp(mode, "ro") == 0;
	if (mode && !*readonly && strcmp(mode, "rw") != 0)
		return kiln_error_set(err, "volume '%s': mode '%s' is not ro or rw", text, mode);
	if (colon[1] != '/' || strstr(colon + 1, "/../") || kiln_str_has_suffix(colon + 1, "/.."))
		return kiln_error_set(err, "volume '%s': the container path must be absolute, without ..", text);
	/* Not the root, nor what the runtime mounts itself (a volume over
	 * /proc would be a writable, persistent fake /proc). */
	{
		static const char *const reserved[] = { "/proc", "/sys", "/dev" };
		const char *d = colon + 1;
		size_t dl = strlen(d);
		while (dl > 1 && d[dl - 1] == '/')
			dl--;
		if (dl == 1)
			return kiln_error_set(err, "volume '%s': cannot mount over the container's /", text);
		for (size_t i = 0; i < KILN_ARRAY_SIZE(reserved); i++) {
			size_t rl = strlen(reserved[i]);
			if (dl >= rl && strncmp(d, reserved[i], rl) == 0 && (dl == rl || d[rl] == '/'))
				return kiln_error_set(err, "volume '%s': %s is the container's own, not a place for a "
						      "volume", text, reserved[i]);
		}
	}
	if (copy[0] == '/') {
		struct stat st;
		if (stat(copy, &st) < 0)
			return kiln_error_errno(err, errno, "volume '%s': host path '%s'", text, copy);
		*source = kiln_xstrdup(copy);
	} else {
		if (!kiln_container_name_valid(copy))
			return kiln_error_set(err, "volume '%s': bad name '%s'", text, copy);
		/* volumes/ is root's alone (0700, also when it exists): a
		 * container's root may put setuid files in a volume. */
		_cleanup_free_ char *top = kiln_xasprintf("%s/volumes", r->root);
		if (kiln_mkdir_p(top, 0700, err) < 0)
			return -1;
		if (chmod(top, 0700) < 0)
			return kiln_error_errno(err, errno, "chmod '%s'", top);
		*source = kiln_xasprintf("%s/%s", top, copy);
		if (kiln_mkdir_p(*source, 0755, err) < 0)
			return -1;
	}
	*dest = kiln_xstrdup(colon + 1);
	return 0;
}

static int reserve_name(const struct kiln_container_root *r, const char *name, const char *id,
			struct kiln_error *err)
{
	_cleanup_free_ char *link = kiln_xasprintf("%s/names/%s", r->run, name);
	char target[KILN_CONTAINER_ID_HEX + 2];
	ssize_t n;

	if (symlink(id, link) == 0)
		return 0;
	if (errno != EEXIST)
		return kiln_error_errno(err, errno, "name '%s'", name);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	return kiln_error_set(err, "the name '%s' is taken by container %.12s (kiln rm it first)", name, target);
}

/* The network mode: bundle mode + netns path. */
/* Is /sys/fs/cgroup the unified (v2) hierarchy?  Then containers get a
 * cgroup namespace, so they do not see the host's cgroup tree. */
static bool cgroup2_unified(void)
{
	struct statfs fs;
	return statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

static int network_mode(struct kiln_container_root *r, const char *mode, enum kiln_bundle_network *net,
			char **netns, struct kiln_error *err)
{
	*netns = NULL;
	if (strcmp(mode, "none") == 0) {
		*net = KILN_BUNDLE_NET_NONE;
	} else if (strcmp(mode, "host") == 0) {
		*net = KILN_BUNDLE_NET_HOST;
	} else if (strcmp(mode, "bridge") == 0) {
		*net = KILN_BUNDLE_NET_BRIDGE;
	} else if (kiln_str_has_prefix(mode, "container:")) {
		struct kiln_container other;
		if (kiln_container_find(r, mode + 10, &other, err) < 0)
			return kiln_error_prefix(err, "--network %s", mode);
		if (other.status != KILN_CONTAINER_RUNNING || other.pid <= 0 || !kiln_container_monitored(r, &other)) {
			kiln_container_release(&other);
			return kiln_error_set(err, "--network %s: that container is not running", mode);
		}
		*net = KILN_BUNDLE_NET_JOIN;
		*netns = kiln_xasprintf("/proc/%d/ns/net", (int)other.pid);
		kiln_container_release(&other);
	} else {
		return kiln_error_set(err, "--network '%s': expected bridge, host, none or container:NAME", mode);
	}
	return 0;
}

/* RFC 1123: dot-separated labels of letters, digits and '-', not starting
 * or ending with '-', 1-63 characters each, 253 in all. */
static bool hostname_valid(const char *h)
{
	size_t len = strlen(h), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = h[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, as
 * Docker gives them: files in its state directory, bound over the image's.
 * resolv.conf is the host's, without loopback name servers (unreachable
 * from a network namespace of its own); a bridge container's address is
 * added to hosts once it is leased (network_up). */
static const char *const etc_files[] = { "hosts", "hostname", "resolv.conf" };

static int write_etc_files(const char *sdir, const char *hostname, bool own_netns, struct kiln_error *err)
{
	_cleanup_free_ char *host_resolv = kiln_file_read("/etc/resolv.conf", 1 << 16, NULL, NULL);
	struct kiln_buf hosts = KILN_BUF_INIT, resolv = KILN_BUF_INIT;
	char *save = NULL;
	int rc = -1;

	kiln_buf_printf(&hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	for (char *line = host_resolv ? strtok_r(host_resolv, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *p = line;
		if (own_netns && strncmp(p, "nameserver", 10) == 0) {
			p += 10;
			p += strspn(p, " \t");
			if (strncmp(p, "127.", 4) == 0 || strncmp(p, "::1", 3) == 0)
				continue;
		}
		kiln_buf_printf(&resolv, "%s\n", line);
	}
	{
		_cleanup_free_ char *ph = kiln_path_join(sdir, "hosts"), *pn = kiln_path_join(sdir, "hostname");
		_cleanup_free_ char *pr = kiln_path_join(sdir, "resolv.conf");
		_cleanup_free_ char *name = kiln_xasprintf("%s\n", hostname);
		if (write_file_quick(ph, hosts.data, hosts.len, err) < 0 ||
		    write_file_quick(pn, name, strlen(name), err) < 0 ||
		    write_file_quick(pr, resolv.data ? resolv.data : "", resolv.len, err) < 0)
			goto out;
	}
	rc = 0;
out:
	kiln_buf_release(&hosts);
	kiln_buf_release(&resolv);
	return rc;
}

/* Steps of creation after the lock: fills c, mounts, writes config.json.
 * On failure the caller destroys what exists. */
static int create_locked(struct kiln_container_root *r, const struct kiln_container_options *o,
			 struct kiln_bundle_image *img, char **lowers, size_t n_lowers, struct kiln_container *c,
			 int *lock_fd, struct kiln_error *err)
{
	_cleanup_free_ char *sdir = state_dir(r, c->id), *ldir = layer_dir(r, c->id);
	_cleanup_free_ char *rootfs = kiln_path_join(sdir, "rootfs"), *upper = kiln_path_join(ldir, "upper");
	_cleanup_free_ char *work = kiln_path_join(ldir, "work"), *lock = kiln_path_join(sdir, "monitor.lock");
	_cleanup_free_ char *passwd = NULL, *group = NULL, *netns = NULL, *json = NULL, *cgroups = NULL;
	_cleanup_free_ char *config_path = kiln_path_join(sdir, "config.json");
	struct kiln_bundle_process proc = { 0 };
	struct kiln_bundle_mount *mounts = NULL;
	char **sources = NULL, **dests = NULL;
	size_t n_mounts = 0;
	struct kiln_bundle_spec spec = { 0 };
	enum kiln_bundle_network net = KILN_BUNDLE_NET_NONE;
	struct rlimit nofile;
	int rc = -1;

	if (mkdir(sdir, 0700) < 0)
		return kiln_error_errno(err, errno, "create '%s'", sdir);
	*lock_fd = kiln_lockfile_open(lock, 0600, 0, err);
	if (*lock_fd < 0)
		return -1;
	if (reserve_name(r, c->name, c->id, err) < 0) {
		free(c->name);
		c->name = kiln_xstrdup(""); /* not ours: destroy must not remove it */
		return -1;
	}
	if (state_save(r, c, err) < 0)
		return -1;
	if (network_mode(r, c->network, &net, &netns, err) < 0)
		return -1;
	if (kiln_mkdir_p(ldir, 0700, err) < 0 ||
	    kiln_rootfs_mount(lowers, n_lowers, upper, work, rootfs, err) < 0)
		return -1;

	{
		/* A missing file is no error (numeric users need none). */
		struct kiln_error rerr = { 0 };
		passwd = kiln_bundle_read_image_file(rootfs, "etc/passwd", IMAGE_FILE_MAX, &rerr);
		if (!kiln_error_isset(&rerr))
			group = kiln_bundle_read_image_file(rootfs, "etc/group", IMAGE_FILE_MAX, &rerr);
		if (kiln_error_isset(&rerr)) {
			if (err)
				*err = rerr;
			return -1;
		}
	}
	{
		struct kiln_bundle_process_options po = {
			.entrypoint = o->entrypoint, .n_entrypoint = o->n_entrypoint,
			.has_entrypoint = o->has_entrypoint, .cmd = o->cmd, .n_cmd = o->n_cmd,
			.env = o->env, .n_env = o->n_env, .user = o->user, .workdir = o->workdir,
			.hostname = o->hostname ? o->hostname : c->name, .terminal = o->terminal,
			.passwd = passwd, .group = group,
		};
		if (kiln_bundle_process_resolve(img, &po, &proc, err) < 0)
			return -1;
	}
	kiln_strv_free(c->command, c->n_command);
	c->command = kiln_strv_dup(proc.args, proc.n_args);
	c->n_command = proc.n_args;

	n_mounts = o->n_volumes + KILN_ARRAY_SIZE(etc_files);
	mounts = kiln_xcalloc(n_mounts, sizeof(*mounts));
	sources = kiln_xcalloc(n_mounts, sizeof(char *));
	dests = kiln_xcalloc(n_mounts, sizeof(char *));
	/* /etc files first: a volume the user puts at /etc wins over them. */
	if (write_etc_files(sdir, o->hostname ? o->hostname : c->name, net != KILN_BUNDLE_NET_HOST, err) < 0)
		goto out;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(etc_files); i++) {
		sources[i] = kiln_path_join(sdir, etc_files[i]);
		dests[i] = kiln_xasprintf("/etc/%s", etc_files[i]);
		mounts[i].source = sources[i];
		mounts[i].destination = dests[i];
	}
	for (size_t k = 0; k < o->n_volumes; k++) {
		size_t i = KILN_ARRAY_SIZE(etc_files) + k;
		if (parse_volume(r, o->volumes[k], &sources[i], &dests[i], &mounts[i].readonly, err) < 0)
			goto out;
		mounts[i].source = sources[i];
		mounts[i].destination = dests[i];
	}
	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0) {
		nofile.rlim_cur = 1024;
		nofile.rlim_max = 4096;
	}
	cgroups = kiln_xasprintf("%s/%s", r->cgroup_parent, c->id);
	spec = (struct kiln_bundle_spec){
		.root_path = "rootfs", .hostname = o->hostname ? o->hostname : c->name, .process = &proc,
		.terminal = o->terminal, .volumes = mounts, .n_volumes = n_mounts, .network = net,
		.netns_path = netns, .memory = o->memory, .cpus = o->cpus,
		.pids = o->pids == 0 ? KILN_CONTAINER_PIDS_DEFAULT : o->pids < 0 ? 0 : o->pids,
		.cap_add = o->cap_add, .n_cap_add = o->n_cap_add, .cap_drop = o->cap_drop, .n_cap_drop = o->n_cap_drop,
		.cgroups_path = cgroups, .nofile_soft = nofile.rlim_cur, .nofile_hard = nofile.rlim_max,
		.cgroup_ns = cgroup2_unified(),
	};
	json = kiln_bundle_config_json(&spec, err);
	if (!json || write_file_quick(config_path, json, strlen(json), err) < 0)
		goto out;
	rc = state_save(r, c, err);
out:
	kiln_bundle_process_release(&proc);
	kiln_strv_free(sources, n_mounts);
	kiln_strv_free(dests, n_mounts);
	free(mounts);
	return rc;
}

static int create(struct kiln_container_root *r, const struct kiln_container_options *o, struct kiln_container *c,
		  int *lock_fd, struct kiln_error *err)
{
	struct kiln_bundle_image img = { 0 };
	char **lowers = NULL;
	size_t n_lowers = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	*lock_fd = -1;
	if (o->name && !kiln_container_name_valid(o->name))
		return kiln_error_set(err, "--name '%s': use letters, digits, '_', '.', '-' (at most 64)", o->name);
	if (o->hostname && !hostname_valid(o->hostname))
		return kiln_error_set(err, "--hostname '%s': use labels of letters, digits and '-', joined by '.' "
				      "(at most 63 characters each, 253 in all)", o->hostname);
	const char *runtime = o->runtime;
	if (!runtime || !*runtime)
		runtime = DEFAULT_RUNTIME;
	if (strcmp(runtime, "runc") != 0 && strcmp(runtime, "kiln") != 0)
		return kiln_error_set(err, "--runtime %s: expected kiln or runc", runtime);
	for (size_t i = 0; i < o->n_ports; i++) {
		struct kiln_net_port port;
		if (kiln_net_parse_port(o->ports[i], &port, err) < 0 || kiln_net_port_available(&port, err) < 0)
			return kiln_error_prefix(err, "-p %s", o->ports[i]);
	}
	/* Unpacking can take a while: before the lock. */
	if (prepare_image(r, o, &img, &lowers, &n_lowers, err) < 0)
		return -1;
	random_id(c->id);
	c->name = o->name ? kiln_xstrdup(o->name) : kiln_xstrndup(c->id, 12);
	c->snapshot = kiln_xstrdup(o->snapshot ? o->snapshot : o->manifest_digest);
	c->image = kiln_xstrdup(o->manifest_digest);
	c->command = kiln_xcalloc(1, sizeof(char *));
	c->runtime = kiln_xstrdup(runtime);
	c->network = kiln_xstrdup(o->network ? o->network : DEFAULT_NETWORK);
	c->ports = kiln_strv_dup(o->ports, o->n_ports);
	c->n_ports = o->n_ports;
	c->stop_signal = img.stop_signal ? kiln_xstrdup(img.stop_signal) : NULL;
	c->auto_remove = o->auto_remove;
	c->status = KILN_CONTAINER_CREATED;
	c->created = kiln_now_seconds();
	c->monitor_pid = getpid();

	if (o->n_ports && strcmp(c->network, "bridge") != 0)
		rc = kiln_error_set(err, "-p needs --network bridge");
	else if (global_lock(r, err) < 0)
		rc = -1;
	else
		rc = create_locked(r, o, &img, lowers, n_lowers, c, lock_fd, err);
	if (rc < 0) {
		destroy(r, c, NULL);
		if (*lock_fd >= 0)
			close(*lock_fd);
		*lock_fd = -1;
	}
	global_unlock(r);
	kiln_strv_free(lowers, n_lowers);
	kiln_bundle_image_release(&img);
	return rc;
}

/* ---- the monitor ---------------------------------------------------------------- */

struct monitor {
	struct kiln_container_root *r;
	struct kiln_container *c;
	char *dir;          /* the state directory (the bundle) */
	bool foreground, terminal;
	int out[2], errp[2];
	int pty;            /* terminal: the container's pty master */
	int logfd, sigfd, inotify_fd;
	int log_lock_fd;    /* log.lock: held exclusive while rotating */
	int64_t log_size, log_max;
	int log_files;
	int ready_fd;       /* detach: tell the parent "ok" or the error */
	pid_t child;        /* the process waited for */
	struct kiln_net_port *ports;
	size_t n_ports;
};

static void report_ready(struct monitor *m, const char *msg)
{
	if (m->ready_fd >= 0) {
		kiln_write_all(m->ready_fd, msg, strlen(msg));
		close(m->ready_fd);
		m->ready_fd = -1;
	}
}

static void mark_running(struct monitor *m, pid_t pid)
{
	m->c->pid = pid;
	m->c->status = KILN_CONTAINER_RUNNING;
	m->c->started = kiln_now_seconds();
	state_save(m->r, m->c, NULL);
	report_ready(m, "ok");
}

/* The init pid runc wrote, or 0. */
static pid_t pid_file(struct monitor *m)
{
	_cleanup_free_ char *path = kiln_path_join(m->dir, "pid");
	_cleanup_free_ char *text = NULL;
	size_t len;

	text = kiln_file_read(path, 64, &len, NULL);
	return text && atoi(text) > 0 ? atoi(text) : 0;
}

/* `runc run` wrote the pid: running once runc's init has exec'd the
 * command (its comm is no longer "runc:[2:INIT]"): before that, a signal
 * would reach runc's init, not the command. */
static void read_pid_file(struct monitor *m)
{
	_cleanup_free_ char *comm_path = NULL, *comm = NULL;
	size_t len;
	pid_t pid;

	if (m->c->pid > 0 || (pid = pid_file(m)) <= 0)
		return;
	comm_path = kiln_xasprintf("/proc/%d/comm", (int)pid);
	comm = kiln_file_read(comm_path, 64, &len, NULL);
	if (comm && kiln_str_has_prefix(comm, "runc:"))
		return;
	mark_running(m, pid);
}

/* Network setup once the container's namespaces exist, before its
 * process runs: bridge attaches it (address, route, ports); none and
 * container:NAME need nothing (the runtime brings lo up in a new one). */
static int network_up(struct monitor *m, pid_t pid, struct kiln_error *err)
{
	struct kiln_net_attachment att;

	if (strcmp(m->c->network, "bridge") != 0)
		return 0;
	if (kiln_net_attach(&m->r->net, m->c->id, pid, m->ports, m->n_ports, &att, err) < 0)
		return kiln_error_prefix(err, "network");
	free(m->c->address);
	m->c->address = kiln_xstrdup(att.address);
	/* Written in place: the container's /etc/hosts is this very file. */
	{
		_cleanup_free_ char *hosts = kiln_path_join(m->dir, "hosts");
		_cleanup_free_ char *hn_path = kiln_path_join(m->dir, "hostname");
		_cleanup_free_ char *hn = kiln_file_read(hn_path, 256, NULL, NULL);
		_cleanup_close_ int fd = open(hosts, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (hn && fd >= 0) {
			_cleanup_free_ char *line = kiln_xasprintf("%s\t%.*s\n", att.address,
								  (int)strcspn(hn, "\n"), hn);
			kiln_write_all(fd, line, strlen(line));
		}
	}
	return 0;
}

static int before_start(void *ctx, pid_t pid, struct kiln_error *err)
{
	struct monitor *m = ctx;
	if (strcmp(m->c->network, "none") == 0 && kiln_net_loopback_up(pid, err) < 0)
		return -1;
	return network_up(m, pid, err);
}

static pid_t launch_kiln(struct monitor *m, struct kiln_error *err)
{
	struct kiln_runtime_options o;
	pid_t pid;

	runtime_options(m->r, m->c, m->dir, &o);
	if (m->terminal) {
		o.pty_master = &m->pty;
	} else {
		o.stdio.in = m->foreground ? 0 : -1;
		o.stdio.out = m->out[1];
		o.stdio.err = m->errp[1];
	}
	o.before_start = before_start;
	o.before_start_ctx = m;
	pid = kiln_runtime_start(&o, err);
	if (pid > 0)
		mark_running(m, pid);
	return pid;
}

/* runc: `runc run` (one process; it forwards signals and deletes the
 * container when it ends), except for bridge networking, which needs the
 * container's pid between `runc create` and `runc start`. */
static pid_t launch_runc(struct monitor *m, struct kiln_error *err)
{
	_cleanup_free_ char *pidfile = kiln_path_join(m->dir, "pid");
	_cleanup_free_ char *text = NULL;
	bool bridge = strcmp(m->c->network, "bridge") == 0;
	char *argv[] = { "runc", "--root", m->r->runc_root, bridge ? "create" : "run", "--bundle", m->dir,
			 "--pid-file", pidfile, m->c->id, NULL };
	int in = m->terminal || m->foreground ? 0 : -1;
	int out = m->terminal ? 1 : m->out[1], errfd = m->terminal ? 2 : m->errp[1];
	pid_t pid;
	int code;

	if (bridge && m->terminal)
		return kiln_error_set(err, "a terminal with --network bridge needs --runtime kiln"), -1;
	pid = spawn(argv, in, out, errfd, err);
	if (pid < 0 || !bridge)
		return pid;
	code = wait_status(pid);
	pid = pid_file(m);
	if (code != 0 || pid <= 0)
		return kiln_error_set(err, "runc create failed (exit %d): see kiln logs %s", code, m->c->name), -1;
	if (network_up(m, pid, err) < 0)
		return -1;
	char *start[] = { "runc", "--root", m->r->runc_root, "start", m->c->id, NULL };
	code = run_capture(start, &text, err);
	if (code != 0)
		return kiln_error_set(err, "runc start: %s", text && *text ? text : "failed"), -1;
	/* Running only now: until `runc start`, a signal would reach runc's
	 * own init, not the container's command. */
	mark_running(m, pid);
	/* The container's init is ours to wait for (we are its subreaper). */
	return pid;
}

/* ---- the log ---- */

/* The log (docs/containers.md, Logs) is "log", the file being written,
 * then "log.1" … "log.N-1", older and older (N = --log-max's FILES): the
 * monitor renames each one up and starts a new "log" when the next write
 * would pass --log-max's SIZE.  It does so holding log.lock exclusive, and
 * readers open their set of files holding it shared, so they see a whole
 * rotation or none. */

static char *log_path(const char *dir, int k)
{
	return k ? kiln_xasprintf("%s/log.%d", dir, k) : kiln_path_join(dir, "log");
}

/* Rotate; false (the log grows past its bound until the next write) when
 * a reader holds the lock or the new file cannot be made. */
static bool log_rotate(struct monitor *m)
{
	_cleanup_free_ char *current = log_path(m->dir, 0);
	int fd;

	if (m->log_lock_fd < 0 || kiln_lockfile_lock(m->log_lock_fd, "log.lock", KILN_LOCKFILE_TRY, NULL) != 0)
		return false;
	for (int k = m->log_files - 1; k >= 1; k--) {
		_cleanup_free_ char *from = log_path(m->dir, k - 1), *to = log_path(m->dir, k);
		rename(from, to); /* the oldest falls off; a missing one is no matter */
	}
	if (m->log_files == 1)
		unlink(current);
	fd = open(current, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
	kiln_lockfile_unlock(m->log_lock_fd);
	if (fd < 0)
		return false;
	close(m->logfd);
	m->logfd = fd;
	m->log_size = 0;
	return true;
}

/* Append to the log, rotating it after the last whole line that fits, so
 * that each file starts with a line (a line longer than a file is cut). */
static void log_write(struct monitor *m, const char *data, size_t n)
{
	while (n > 0 && m->logfd >= 0) {
		size_t room = m->log_size < m->log_max ? (size_t)(m->log_max - m->log_size) : 0, cut;

		if (n <= room)
			break;
		cut = room;
		while (cut > 0 && data[cut - 1] != '\n')
			cut--;
		if (cut == 0 && m->log_size == 0)
			cut = room;
		kiln_write_all(m->logfd, data, cut);
		m->log_size += (int64_t)cut;
		data += cut;
		n -= cut;
		if (!log_rotate(m))
			break;
	}
	if (n > 0 && m->logfd >= 0) {
		kiln_write_all(m->logfd, data, n);
		m->log_size += (int64_t)n;
	}
}

static void copy_out(struct monitor *m, int *fd, int to)
{
	char chunk[16384];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	log_write(m, chunk, (size_t)n);
	if (m->foreground)
		kiln_write_all(to, chunk, (size_t)n);
}

static void copy_in(int *from, int to)
{
	char chunk[4096];
	ssize_t n = read(*from, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*from = -1; /* stdin ended: stop watching it (fd 0 stays open) */
		return;
	}
	kiln_write_all(to, chunk, (size_t)n);
}

static void resize_pty(int pty)
{
	struct winsize ws;
	if (pty >= 0 && ioctl(0, TIOCGWINSZ, &ws) == 0)
		ioctl(pty, TIOCSWINSZ, &ws);
}

/* Runs the container to its end; returns its exit code (or -1 with err
 * set when it could not be started). */
static int monitor_run(struct monitor *m, struct kiln_error *err)
{
	_cleanup_free_ char *logpath = kiln_path_join(m->dir, "log");
	_cleanup_free_ char *lockpath = kiln_path_join(m->dir, "log.lock");
	sigset_t mask, old;
	struct stat st;
	int code = -1, status, in = -1;
	bool exited = false, raw = false, kiln_rt = strcmp(m->c->runtime, "kiln") == 0;
	struct termios saved;

	m->out[0] = m->out[1] = m->errp[0] = m->errp[1] = -1;
	m->sigfd = m->inotify_fd = m->pty = m->log_lock_fd = -1;
	/* The container's init is reparented to us when runc exits early. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* A closed terminal or pipe on our side must not kill the monitor. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);
	m->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	m->logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (m->sigfd < 0 || m->logfd < 0) {
		kiln_error_errno(err, errno, "monitor: open '%s'", logpath);
		goto out;
	}
	m->log_size = fstat(m->logfd, &st) == 0 ? st.st_size : 0;
	m->log_lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (m->log_lock_fd < 0) {
		kiln_error_errno(err, errno, "monitor: open '%s'", lockpath);
		goto out;
	}
	if (!m->terminal && (pipe2(m->out, O_CLOEXEC) < 0 || pipe2(m->errp, O_CLOEXEC) < 0)) {
		kiln_error_errno(err, errno, "monitor: pipe");
		goto out;
	}
	if (!kiln_rt) {
		m->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (m->inotify_fd >= 0)
			inotify_add_watch(m->inotify_fd, m->dir, IN_MOVED_TO | IN_CLOSE_WRITE);
	}
	m->child = kiln_rt ? launch_kiln(m, err) : launch_runc(m, err);
	if (m->child < 0)
		goto out;
	if (m->out[1] >= 0) {
		close(m->out[1]);
		close(m->errp[1]);
		m->out[1] = m->errp[1] = -1;
	}
	if (m->pty >= 0) {
		/* Our terminal talks to the container's pty, byte for byte. */
		if (tcgetattr(0, &saved) == 0) {
			struct termios t = saved;
			cfmakeraw(&t);
			raw = tcsetattr(0, TCSANOW, &t) == 0;
		}
		resize_pty(m->pty);
		in = 0;
	}
	while (!exited || m->out[0] >= 0 || m->errp[0] >= 0 || m->pty >= 0) {
		struct pollfd fds[6] = {
			{ m->sigfd, POLLIN, 0 }, { m->out[0], POLLIN, 0 }, { m->errp[0], POLLIN, 0 },
			{ m->inotify_fd, POLLIN, 0 }, { m->pty, POLLIN, 0 }, { exited ? -1 : in, POLLIN, 0 },
		};
		int n = poll(fds, 6, exited ? 200 : m->c->pid > 0 ? -1 : 5);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0 && exited)
			break; /* something outside the container holds its output open */
		if (fds[3].revents & POLLIN) {
			char buf[4096];
			while (read(m->inotify_fd, buf, sizeof(buf)) > 0)
				;
		}
		if (m->c->pid <= 0)
			read_pid_file(m);
		if (fds[1].revents)
			copy_out(m, &m->out[0], 1);
		if (fds[2].revents)
			copy_out(m, &m->errp[0], 2);
		if (fds[4].revents)
			copy_out(m, &m->pty, 1);
		if (fds[5].revents && m->pty >= 0)
			copy_in(&in, m->pty);
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH) {
					resize_pty(m->pty);
					continue;
				}
				if (si.ssi_signo != SIGCHLD) {
					if (!exited)
						kill(m->child, (int)si.ssi_signo);
					continue;
				}
				pid_t p;
				while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
					if (p == m->child) {
						exited = true;
						code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
					}
				}
			}
		}
	}
	if (m->c->pid <= 0)
		read_pid_file(m);
out:
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < 2; i++) {
		if (m->out[i] >= 0)
			close(m->out[i]);
		if (m->errp[i] >= 0)
			close(m->errp[i]);
	}
	if (m->pty >= 0)
		close(m->pty);
	if (m->sigfd >= 0)
		close(m->sigfd);
	if (m->inotify_fd >= 0)
		close(m->inotify_fd);
	if (m->logfd >= 0)
		close(m->logfd);
	if (m->log_lock_fd >= 0)
		close(m->log_lock_fd);
	return code;
}

/* After the monitor's run: a failure to start becomes the container's error. */
static int monitor_finish(struct monitor *m, int code, struct kiln_error *err)
{
	_cleanup_free_ char *why = NULL;

	if (code < 0) {
		why = kiln_xstrdup(err->message);
		code = 127;
	} else if (m->c->pid <= 0) {
		/* runc failed before the container ran: its message is in the log. */
		_cleanup_free_ char *logpath = kiln_path_join(m->dir, "log");
		size_t len = 0;
		_cleanup_free_ char *log = kiln_file_read(logpath, 1 << 20, &len, NULL);
		const char *tail = log ? log : "";
		while (len > 0 && log[len - 1] == '\n')
			log[--len] = 0;
		if (len > 400)
			tail = log + len - 400;
		why = kiln_xasprintf("container did not start (runtime exit %d)%s%s", code, *tail ? ": " : "", tail);
	}
	report_ready(m, why ? why : "ok");
	finish(m->r, m->c, code, why, NULL);
	return code;
}

/* The monitor's view of the options it needs. */
static void monitor_init(struct monitor *m, struct kiln_container_root *r, struct kiln_container *c,
			 const struct kiln_container_options *o)
{
	memset(m, 0, sizeof(*m));
	m->r = r;
	m->c = c;
	m->dir = state_dir(r, c->id);
	m->ready_fd = -1;
	m->logfd = m->log_lock_fd = -1;
	m->log_max = o->log_max > 0 ? o->log_max : KILN_CONTAINER_LOG_MAX_DEFAULT;
	m->log_files = o->log_files > 0 ? o->log_files : KILN_CONTAINER_LOG_FILES_DEFAULT;
	m->ports = kiln_xcalloc(o->n_ports + 1, sizeof(*m->ports));
	for (size_t i = 0; i < o->n_ports; i++)
		if (kiln_net_parse_port(o->ports[i], &m->ports[m->n_ports], NULL) == 0)
			m->n_ports++;
}

static void monitor_release(struct monitor *m)
{
	free(m->dir);
	free(m->ports);
}

static int run_detached(struct kiln_container_root *r, struct kiln_container *c,
			const struct kiln_container_options *o, int lock_fd, struct kiln_error *err)
{
	int ready[2];
	pid_t pid;
	char msg[2048];
	ssize_t n, got = 0;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return kiln_error_errno(err, errno, "pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(ready[0]);
		close(ready[1]);
		return kiln_error_errno(err, errno, "fork");
	}
	if (pid == 0) {
		/* The monitor: its own session, detached from the terminal, and
		 * not our child (so `kiln run -d` can return). */
		close(ready[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		/* Nothing of the caller's stays open for the container's life (a
		 * pipe the caller reads to its end would never end), but the
		 * ready pipe and the monitor lock. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != ready[1] && fd != lock_fd && fd != r->lock_fd)
				close(fd);
		/* Hold no directory of the caller's (it may be unmounted). */
		if (chdir("/") < 0)
			_exit(1);
		prctl(PR_SET_NAME, "kiln-monitor");
		struct kiln_error merr = { 0 };
		struct monitor m;
		monitor_init(&m, r, c, o);
		m.ready_fd = ready[1];
		c->monitor_pid = getpid();
		state_save(r, c, NULL);
		int code = monitor_run(&m, &merr);
		monitor_finish(&m, code, &merr);
		_exit(0);
	}
	close(ready[1]);
	waitpid(pid, NULL, 0);
	while (got < (ssize_t)sizeof(msg) - 1 && (n = read(ready[0], msg + got, sizeof(msg) - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += n;
	}
	close(ready[0]);
	msg[got] = 0;
	if (strcmp(msg, "ok") != 0)
		return kiln_error_set(err, "%s", got ? msg : "the monitor died before the container started");
	return 0;
}

int kiln_container_run(struct kiln_container_root *r, const struct kiln_container_options *o,
		       struct kiln_container *out, int *exit_code, struct kiln_error *err)
{
	struct kiln_container c;
	int lock_fd, rc = 0;

	*exit_code = 0;
	if (create(r, o, &c, &lock_fd, err) < 0)
		return -1;
	if (o->detach) {
		rc = run_detached(r, &c, o, lock_fd, err);
		if (rc == 0) {
			/* The monitor saved the running state: read it back. */
			struct kiln_container fresh;
			if (state_load(r, c.id, &fresh, NULL) == 0) {
				kiln_container_release(&c);
				c = fresh;
			}
		}
	} else {
		struct monitor m;
		int code;
		monitor_init(&m, r, &c, o);
		m.foreground = true;
		m.terminal = o->terminal;
		code = monitor_run(&m, err);
		*exit_code = monitor_finish(&m, code, err);
		if (code < 0)
			rc = -1;
		else if (c.pid <= 0 && c.error)
			rc = kiln_error_set(err, "%s", c.error);
		monitor_release(&m);
	}
	close(lock_fd);
	if (out)
		*out = c;
	else
		kiln_container_release(&c);
	return rc;
}

/* ---- stop, rm, exec, logs -------------------------------------------------------- */

static int signal_number(const char *name)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "HUP", SIGHUP },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "WINCH", SIGWINCH },
	};
	if (!name || !*name)
		return SIGTERM;
	if (name[0] >= '0' && name[0] <= '9')
		return atoi(name) > 0 && atoi(name) < 65 ? atoi(name) : SIGTERM;
	if (kiln_str_has_prefix(name, "SIG"))
		name += 3;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(sigs); i++)
		if (strcmp(sigs[i].name, name) == 0)
			return sigs[i].sig;
	return SIGTERM;
}

/* Wait until the monitor is gone (its lock free); false on timeout. */
static bool wait_unmonitored(const struct kiln_container_root *r, const struct kiln_container *c, int64_t ms)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (int64_t waited = 0; waited <= ms; waited += 10) {
		if (!kiln_container_monitored(r, c))
			return true;
		nanosleep(&tick, NULL);
	}
	return false;
}

/* The container's init pid, once it runs (a container still starting gets
 * up to 2 s to get there). */
static pid_t current_pid(const struct kiln_container_root *r, const struct kiln_container *c)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	struct kiln_container fresh;
	pid_t pid = 0;

	if (c->pid > 0)
		return c->pid;
	for (int i = 0; i < 200 && pid <= 0 && kiln_container_monitored(r, c); i++) {
		if (state_load(r, c->id, &fresh, NULL) == 0) {
			pid = fresh.pid;
			kiln_container_release(&fresh);
		}
		if (pid <= 0)
			nanosleep(&tick, NULL);
	}
	return pid;
}

int kiln_container_stop(struct kiln_container_root *r, const struct kiln_container *c, int timeout,
			struct kiln_error *err)
{
	pid_t pid = current_pid(r, c);

	if (!kiln_container_monitored(r, c))
		return kiln_container_reap(r, err);
	if (pid > 0)
		kill(pid, signal_number(c->stop_signal));
	if (wait_unmonitored(r, c, (int64_t)timeout * 1000))
		return 0;
	/* A container still starting had no pid to signal: ask again now. */
	if (pid <= 0)
		pid = current_pid(r, c);
	if (pid <= 0)
		return kiln_error_set(err, "container %s: it has not started yet (no process to stop); try again",
				      c->name);
	kill(pid, SIGKILL);
	if (!wait_unmonitored(r, c, 10000))
		return kiln_error_set(err, "container %s: still running 10 s after SIGKILL", c->name);
	return 0;
}

int kiln_container_remove(struct kiln_container_root *r, const struct kiln_container *c, bool force,
			  struct kiln_error *err)
{
	struct kiln_container fresh;
	int fd, rc;

	if (kiln_container_monitored(r, c)) {
		if (!force)
			return kiln_error_set(err, "container %s is running: stop it first, or rm -f", c->name);
		pid_t pid = current_pid(r, c);
		if (pid > 0)
			kill(pid, SIGKILL);
		if (!wait_unmonitored(r, c, 10000))
			return kiln_error_set(err, "container %s: still running 10 s after SIGKILL", c->name);
	}
	if (global_lock(r, err) < 0)
		return -1;
	fd = monitor_lock_try(r, c->id);
	if (fd == -1) {
		global_unlock(r);
		return kiln_error_set(err, "container %s was started again meanwhile", c->name);
	}
	/* --rm containers remove themselves: nothing may be left to do. */
	if (state_load(r, c->id, &fresh, NULL) < 0) {
		if (fd >= 0)
			close(fd);
		global_unlock(r);
		return 0;
	}
	rc = destroy(r, &fresh, err);
	kiln_container_release(&fresh);
	if (fd >= 0)
		close(fd);
	global_unlock(r);
	return rc;
}

/* Shuttle bytes between our terminal and a pty until child exits; its code. */
static int proxy_pty(int master, pid_t child)
{
	struct termios saved, t;
	bool raw = false;
	int in = 0, status, code = -1;

	signal(SIGPIPE, SIG_IGN);
	if (tcgetattr(0, &saved) == 0) {
		t = saved;
		cfmakeraw(&t);
		raw = tcsetattr(0, TCSANOW, &t) == 0;
	}
	resize_pty(master);
	for (;;) {
		struct pollfd fds[2] = { { master, POLLIN, 0 }, { in, POLLIN, 0 } };
		pid_t p = waitpid(child, &status, WNOHANG);
		if (p == child) {
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			child = -1;
		}
		if (poll(fds, 2, child > 0 ? 50 : 0) <= 0) {
			if (child < 0)
				break;
			continue;
		}
		if (fds[0].revents) {
			char chunk[16384];
			ssize_t n = read(master, chunk, sizeof(chunk));
			if (n <= 0 && errno != EINTR && errno != EAGAIN) {
				if (child < 0)
					break;
				fds[0].fd = -1;
				master = -1;
				code = child > 0 ? wait_status(child) : code;
				break;
			}
			if (n > 0)
				kiln_write_all(1, chunk, (size_t)n);
		}
		if (fds[1].revents)
			copy_in(&in, master);
	}
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	return code;
}

int kiln_container_exec(struct kiln_container_root *r, const struct kiln_container *c, char *const argv[],
			bool terminal, int *exit_code, struct kiln_error *err)
{
	size_t n = 0;
	pid_t pid;

	if (c->status != KILN_CONTAINER_RUNNING || c->pid <= 0 || !kiln_container_monitored(r, c))
		return kiln_error_set(err, "container %s is not running", c->name);
	while (argv[n])
		n++;
	if (strcmp(c->runtime, "kiln") == 0) {
		_cleanup_free_ char *bundle = state_dir(r, c->id);
		struct kiln_runtime_options o;
		int master = -1;
		runtime_options(r, c, bundle, &o);
		if (terminal) {
			o.exec_terminal = true;
			o.pty_master = &master;
		} else {
			o.stdio.in = 0;
			o.stdio.out = 1;
			o.stdio.err = 2;
		}
		pid = kiln_runtime_exec(&o, c->pid, argv, NULL, NULL, err);
		if (pid < 0)
			return kiln_error_prefix(err, "exec in %s", c->name);
		if (master >= 0) {
			*exit_code = proxy_pty(master, pid);
			close(master);
		} else {
			*exit_code = kiln_runtime_wait(pid, err);
		}
		return *exit_code < 0 ? -1 : 0;
	}
	_cleanup_free_ char **args = kiln_xcalloc(n + 8, sizeof(char *));
	size_t k = 0;
	args[k++] = "runc";
	args[k++] = "--root";
	args[k++] = r->runc_root;
	args[k++] = "exec";
	if (terminal)
		args[k++] = "-t";
	args[k++] = (char *)c->id;
	for (size_t i = 0; i < n; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	pid = spawn(args, 0, 1, 2, err);
	if (pid < 0)
		return -1;
	*exit_code = wait_status(pid);
	return 0;
}

/* The log's files, oldest first (see "the log" above), into fds (*n of
 * them), opened under log.lock (shared) so that no rotation happens in
 * between.  With after >= 0 (an open file of the log), only the files
 * newer than it: all that are left when it has been rotated away.
 * lock_fd < 0: no lock (a log no monitor of this version wrote, never
 * rotated). */
static int log_open_set(const char *dir, int lock_fd, int after, int *fds, size_t *n, struct kiln_error *err)
{
	struct stat st, mine;
	int k, last, rc = 0;

	*n = 0;
	if (lock_fd >= 0)
		kiln_lockfile_lock(lock_fd, "log.lock", KILN_LOCKFILE_SHARED, NULL);
	for (last = 0; last + 1 < KILN_CONTAINER_LOG_FILES_MAX; last++) {
		_cleanup_free_ char *path = log_path(dir, last + 1);
		if (stat(path, &st) < 0)
			break;
	}
	/* log.last … log.1 exist; after, when among them, is older than the rest. */
	if (after >= 0 && fstat(after, &mine) == 0) {
		for (k = 1; k <= last; k++) {
			_cleanup_free_ char *path = log_path(dir, k);
			if (stat(path, &st) == 0 && st.st_ino == mine.st_ino && st.st_dev == mine.st_dev) {
				last = k - 1;
				break;
			}
		}
	}
	for (k = last; k >= 0 && rc == 0; k--) {
		_cleanup_free_ char *path = log_path(dir, k);
		int f = open(path, O_RDONLY | O_CLOEXEC);
		if (f >= 0)
			fds[(*n)++] = f;
		else if (errno != ENOENT)
			rc = kiln_error_errno(err, errno, "open '%s'", path);
	}
	if (lock_fd >= 0)
		kiln_lockfile_unlock(lock_fd);
	if (rc < 0) {
		while (*n > 0)
			close(fds[--*n]);
	}
	return rc;
}

/* Has the file open as fd stopped being "log" (rotated)? */
static bool log_rotated(const char *dir, int fd)
{
	_cleanup_free_ char *path = log_path(dir, 0);
	struct stat a, b;

	if (fstat(fd, &a) < 0)
		return false;
	return stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

/* Copy in (a file of the log in dir) to its end into out; 0, 1 when out
 * is closed, or -1. */
static int log_copy(const char *dir, int in, int out, struct kiln_error *err)
{
	char chunk[16384];

	for (;;) {
		ssize_t n = read(in, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_error_errno(err, errno, "read the log in '%s'", dir);
		if (n == 0)
			return 0;
		int e = kiln_write_all(out, chunk, (size_t)n);
		if (e)
			return e == EPIPE ? 1 : kiln_error_errno(err, e, "write the log");
	}
}

int kiln_container_logs(struct kiln_container_root *r, const struct kiln_container *c, bool follow, int fd,
			struct kiln_error *err)
{
	_cleanup_free_ char *dir = state_dir(r, c->id), *lock = kiln_path_join(dir, "log.lock");
	_cleanup_close_ int lock_fd = open(lock, O_RDONLY | O_CLOEXEC);
	int fds[KILN_CONTAINER_LOG_FILES_MAX];
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	size_t n, i = 0;
	int cur = -1, rc = 0;
	bool last_look = false;

	if (log_open_set(dir, lock_fd, -1, fds, &n, err) < 0)
		return -1;
	for (;;) {
		/* Each file to its end, oldest first; the last one, the file
		 * being written, stays open. */
		for (; i < n && rc == 0; i++) {
			if (cur >= 0)
				close(cur);
			cur = fds[i];
			rc = log_copy(dir, cur, fd, err);
		}
		for (; i < n; i++)
			close(fds[i]);
		if (rc != 0 || cur < 0 || !follow)
			break;
		if (log_rotated(dir, cur)) {
			/* What was written before the rotation is in cur: drain it,
			 * then on to the newer files. */
			if ((rc = log_copy(dir, cur, fd, err)) != 0)
				break;
			if (log_open_set(dir, lock_fd, cur, fds, &n, err) < 0) {
				rc = -1;
				break;
			}
			i = 0;
			if (n > 0)
				continue;
			/* None yet (the container being removed): wait as below. */
		}
		if (last_look)
			break;
		if (!kiln_container_monitored(r, c))
			last_look = true; /* one more round: it may have written before going */
		else
			nanosleep(&tick, NULL);
		if ((rc = log_copy(dir, cur, fd, err)) != 0)
			break;
	}
	if (cur >= 0)
		close(cur);
	return rc < 0 ? -1 : 0;
}
