/* runtime.c - kiln's own executor of an OCI runtime bundle.
 *
 * The parent (the caller) does everything that allocates: it parses
 * config.json into a `struct plan` whose strings are all ready (paths
 * bounded by PATH_MAX), creates the cgroup and opens its cgroup.procs
 * files.  Then one clone(2) with the namespace flags makes the container's
 * process 1 as a direct child (on cgroup v2, clone3 puts it straight into
 * its cgroup; on v1 the parent moves it there while it builds its root,
 * as that migration waits for an RCU grace period).  The child only makes
 * system calls on the plan (no malloc: the caller may have threads) and
 * talks to the parent over one SOCK_SEQPACKET socketpair:
 *
 *   parent → child   'C'  in the cgroup (only sent, and awaited before
 *                         unsharing it, with a new cgroup namespace)
 *   child  → parent  'N'  namespaces joined: before_start may run now
 *   child  → parent  'R'  root built, privileges dropped (carries the pty
 *                         master as SCM_RIGHTS when there is a terminal)
 *   parent → child   'G'  go: exec
 *   child  → parent  'E'  failed (errno + message), the child exits
 *   EOF after 'G'         the socket is close-on-exec: the exec happened
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "capability.h"
#include "cgroup.h"
#include "fsutil.h"
#include "seccomp.h"
#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CONFIG_MAX_SIZE (4 << 20)

/* ---- the plan: config.json, parsed and made ready for the child ---- */

enum { CAP_BOUNDING, CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE, CAP_AMBIENT, CAP_SETS };
static const char *const cap_set_names[CAP_SETS] = { "bounding", "effective", "permitted",
						     "inheritable", "ambient" };

struct mount_entry {
	char *dest;   /* absolute inside the container */
	char *source; /* bind sources: absolute on the host */
	char *type;
	char *data;   /* options the kernel's filesystem parses */
	unsigned long flags;
	unsigned long propagation;
	bool bind;
	bool cgroup;  /* type "cgroup"/"cgroup2": kiln builds it */
};

struct device_entry {
	char *path; /* inside the container */
	mode_t mode;
	dev_t dev;
	uid_t uid;
	gid_t gid;
};

struct rlimit_entry {
	int resource;
	struct rlimit limit;
};

struct ns_join {
	int type; /* CLONE_NEW… */
	char *path;
};

struct process_plan {
	char **args;
	char **env;
	char *cwd;
	bool terminal;
	uid_t uid;
	gid_t gid;
	gid_t *gids;
	size_t n_gids;
	mode_t umask;
	bool have_caps;
	uint64_t caps[CAP_SETS];
	bool no_new_privs;
	struct rlimit_entry *rlimits;
	size_t n_rlimits;
	bool have_oom_score_adj;
	int oom_score_adj;
};

struct plan {
	char *rootfs; /* absolute, resolved */
	bool root_readonly;
	struct process_plan proc;
	char *hostname;
	char *domainname;
	struct mount_entry *mounts;
	size_t n_mounts;
	bool have_dev_mount;
	unsigned long clone_flags; /* new namespaces */
	bool new_cgroupns;
	struct ns_join *joins;
	size_t n_joins;
	char **masked;
	size_t n_masked;
	char **readonly;
	size_t n_readonly;
	char **sysctl; /* "key", "value" pairs */
	size_t n_sysctl;
	struct device_entry *devices;
	size_t n_devices;
	struct kiln_cgroup_limits limits;
	unsigned long root_propagation;
	char *uid_map; /* with a new user namespace: /proc/PID/uid_map text */
	char *gid_map;
	struct kiln_seccomp seccomp; /* linux.seccomp, or kiln's default profile */
	/* Capabilities taken from every set whatever process.capabilities
	 * says: CAP_MKNOD when no device cgroup guards the container. */
	uint64_t drop_caps;
};

static void plan_free(struct plan *p)
{
	free(p->rootfs);
	kiln_strv_free_terminated(p->proc.args);
	kiln_strv_free_terminated(p->proc.env);
	free(p->proc.cwd);
	free(p->proc.gids);
	free(p->proc.rlimits);
	free(p->hostname);
	free(p->domainname);
	for (size_t i = 0; i < p->n_mounts; i++) {
		free(p->mounts[i].dest);
		free(p->mounts[i].source);
		free(p->mounts[i].type);
		free(p->mounts[i].data);
	}
	free(p->mounts);
	for (size_t i = 0; i < p->n_joins; i++)
		free(p->joins[i].path);
	free(p->joins);
	for (size_t i = 0; i < p->n_masked; i++)
		free(p->masked[i]);
	free(p->masked);
	for (size_t i = 0; i < p->n_readonly; i++)
		free(p->readonly[i]);
	free(p->readonly);
	for (size_t i = 0; i < p->n_sysctl; i++)
		free(p->sysctl[i]);
	free(p->sysctl);
	for (size_t i = 0; i < p->n_devices; i++)
		free(p->devices[i].path);
	free(p->devices);
	free(p->limits.devices);
	free(p->uid_map);
	free(p->gid_map);
	kiln_seccomp_release(&p->seccomp);
	memset(p, 0, sizeof(*p));
}

/* ---- strict JSON accessors: every error names the field ---- */

static json_t *get_typed(json_t *obj, const char *key, const char *field, json_type type,
			 bool required, struct kiln_error *err, int *rc)
{
	static const char *const names[] = { "an object", "an array", "a string", "an integer",
					     "a number", "a boolean", "a boolean", "null" };
	json_t *v = json_object_get(obj, key);

	*rc = 0;
	if (!v || json_is_null(v)) {
		if (required)
			*rc = kiln_error_set(err, "config.json: %s: missing", field);
		return NULL;
	}
	if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v))) {
		*rc = kiln_error_set(err, "config.json: %s: must be %s", field, names[type]);
		return NULL;
	}
	return v;
}

/* A string that must fit a path buffer in the child. */
static int get_string(json_t *obj, const char *key, const char *field, bool required,
		      char **out, struct kiln_error *err)
{
	int rc;
	json_t *v = get_typed(obj, key, field, JSON_STRING, required, err, &rc);

	*out = NULL;
	if (!v)
		return rc;
	if (json_string_length(v) >= PATH_MAX || strlen(json_string_value(v)) != json_string_length(v))
		return kiln_error_set(err, "config.json: %s: too long or holds a NUL byte", field);
	*out = kiln_xstrdup(json_string_value(v));
	return 0;
}

static int get_int(json_t *obj, const char *key, const char *field, int64_t min, int64_t max,
		   bool *present, int64_t *out, struct kiln_error *err)
{
	int rc;
	json_t *v = get_typed(obj, key, field, JSON_INTEGER, false, err, &rc);

	*present = v != NULL;
	if (!v)
		return rc;
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return kiln_error_set(err, "config.json: %s: %" PRId64 " out of range", field, *out);
	return 0;
}

static int get_bool(json_t *obj, const char *key, const char *field, bool *out, struct kiln_error *err)
{
	int rc;
	json_t *v = get_typed(obj, key, field, JSON_TRUE, false, err, &rc);

	if (v)
		*out = json_is_true(v);
	return rc;
}

/* An array of strings into a NULL-terminated vector. */
static int get_strv(json_t *obj, const char *key, const char *field, bool required,
		    char ***out, size_t *n_out, struct kiln_error *err)
{
	int rc;
	json_t *v = get_typed(obj, key, field, JSON_ARRAY, required, err, &rc), *s;
	size_t i, n = v ? json_array_size(v) : 0;
	char **vec;

	*out = NULL;
	if (n_out)
		*n_out = 0;
	if (!v)
		return rc;
	if (n > 65536)
		return kiln_error_set(err, "config.json: %s: too many entries", field);
	vec = kiln_xcalloc(n + 1, sizeof(*vec));
	json_array_foreach(v, i, s) {
		/* The kernel's own limit for one argument or variable
		 * (MAX_ARG_STRLEN, 32 pages). */
		if (!json_is_string(s) || json_string_length(s) >= 32 * 4096 ||
		    strlen(json_string_value(s)) != json_string_length(s)) {
			kiln_strv_free_terminated(vec);
			return kiln_error_set(err, "config.json: %s[%zu]: must be a string", field, i);
		}
		vec[i] = kiln_xstrdup(json_string_value(s));
	}
	*out = vec;
	if (n_out)
		*n_out = n;
	return 0;
}

/* ---- capabilities ---- */

static int parse_caps(json_t *obj, struct process_plan *pp, struct kiln_error *err)
{
	pp->have_caps = true;
	for (int s = 0; s < CAP_SETS; s++) {
		char field[64];
		char **names;
		size_t n;

		snprintf(field, sizeof(field), "process.capabilities.%s", cap_set_names[s]);
		if (get_strv(obj, cap_set_names[s], field, false, &names, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			int c = kiln_capability_from_name(names[i]);
			if (c < 0) {
				kiln_error_set(err, "config.json: %s: unknown capability \"%s\"", field,
					       names[i]);
				kiln_strv_free_terminated(names);
				return -1;
			}
			pp->caps[s] |= 1ULL << c;
		}
		kiln_strv_free_terminated(names);
	}
	return 0;
}

/* ---- rlimits ---- */

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_CPU", RLIMIT_CPU },
	{ "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "RLIMIT_RSS", RLIMIT_RSS }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_STACK", RLIMIT_STACK },
};

static int parse_rlimits(json_t *arr, struct process_plan *pp, struct kiln_error *err)
{
	size_t i;
	json_t *r;

	pp->rlimits = kiln_xcalloc(json_array_size(arr) + 1, sizeof(*pp->rlimits));
	json_array_foreach(arr, i, r) {
		char field[64];
		_cleanup_free_ char *type = NULL;
		json_t *hard, *soft;
		size_t k;
		int rc;

		snprintf(field, sizeof(field), "process.rlimits[%zu]", i);
		if (!json_is_object(r))
			return kiln_error_set(err, "config.json: %s: must be an object", field);
		snprintf(field, sizeof(field), "process.rlimits[%zu].type", i);
		if (get_string(r, "type", field, true, &type, err) < 0)
			return -1;
		for (k = 0; k < KILN_ARRAY_SIZE(rlimit_names); k++)
			if (strcmp(type, rlimit_names[k].name) == 0)
				break;
		if (k == KILN_ARRAY_SIZE(rlimit_names))
			return kiln_error_set(err, "config.json: %s: unknown rlimit \"%s\"", field, type);
		snprintf(field, sizeof(field), "process.rlimits[%zu].hard", i);
		hard = get_typed(r, "hard", field, JSON_INTEGER, true, err, &rc);
		if (!hard)
			return -1;
		snprintf(field, sizeof(field), "process.rlimits[%zu].soft", i);
		soft = get_typed(r, "soft", field, JSON_INTEGER, true, err, &rc);
		if (!soft)
			return -1;
		/* JSON holds uint64; jansson reads int64: -1 is RLIM_INFINITY. */
		pp->rlimits[pp->n_rlimits].resource = rlimit_names[k].resource;
		pp->rlimits[pp->n_rlimits].limit.rlim_cur = (rlim_t)json_integer_value(soft);
		pp->rlimits[pp->n_rlimits].limit.rlim_max = (rlim_t)json_integer_value(hard);
		if (pp->rlimits[pp->n_rlimits].limit.rlim_cur > pp->rlimits[pp->n_rlimits].limit.rlim_max)
			return kiln_error_set(err, "config.json: process.rlimits[%zu]: soft above hard", i);
		pp->n_rlimits++;
	}
	return 0;
}

/* ---- mounts ---- */

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} mount_flags[] = {
	{ "ro", false, MS_RDONLY }, { "rw", true, MS_RDONLY },
	{ "nosuid", false, MS_NOSUID }, { "suid", true, MS_NOSUID },
	{ "nodev", false, MS_NODEV }, { "dev", true, MS_NODEV },
	{ "noexec", false, MS_NOEXEC }, { "exec", true, MS_NOEXEC },
	{ "sync", false, MS_SYNCHRONOUS }, { "async", true, MS_SYNCHRONOUS },
	{ "dirsync", false, MS_DIRSYNC }, { "mand", false, MS_MANDLOCK },
	{ "nomand", true, MS_MANDLOCK }, { "atime", true, MS_NOATIME },
	{ "noatime", false, MS_NOATIME }, { "diratime", true, MS_NODIRATIME },
	{ "nodiratime", false, MS_NODIRATIME }, { "relatime", false, MS_RELATIME },
	{ "norelatime", true, MS_RELATIME }, { "strictatime", false, MS_STRICTATIME },
	{ "nostrictatime", true, MS_STRICTATIME }, { "remount", false, MS_REMOUNT },
	{ "defaults", false, 0 },
};

static const struct {
	const char *name;
	unsigned long flags;
} propagation_flags[] = {
	{ "private", MS_PRIVATE }, { "rprivate", MS_PRIVATE | MS_REC },
	{ "shared", MS_SHARED }, { "rshared", MS_SHARED | MS_REC },
	{ "slave", MS_SLAVE }, { "rslave", MS_SLAVE | MS_REC },
	{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

static unsigned long propagation_of(const char *name)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(propagation_flags); i++)
		if (strcmp(name, propagation_flags[i].name) == 0)
			return propagation_flags[i].flags;
	return 0;
}

/* A path inside the container: absolute, no "..", bounded. */
static int check_container_path(const char *path, const char *field, struct kiln_error *err)
{
	if (path[0] != '/')
		return kiln_error_set(err, "config.json: %s: \"%s\" is not absolute", field, path);
	if (strlen(path) >= PATH_MAX - 256)
		return kiln_error_set(err, "config.json: %s: path too long", field);
	return 0;
}

static int parse_mount(json_t *m, size_t i, const char *bundle, struct mount_entry *me,
		       struct kiln_error *err)
{
	char field[64];
	_cleanup_free_ char *source = NULL;
	char **opts = NULL;
	struct kiln_buf data = KILN_BUF_INIT;

	if (!json_is_object(m))
		return kiln_error_set(err, "config.json: mounts[%zu]: must be an object", i);
	snprintf(field, sizeof(field), "mounts[%zu].destination", i);
	if (get_string(m, "destination", field, true, &me->dest, err) < 0 ||
	    check_container_path(me->dest, field, err) < 0)
		return -1;
	snprintf(field, sizeof(field), "mounts[%zu].type", i);
	if (get_string(m, "type", field, false, &me->type, err) < 0)
		return -1;
	snprintf(field, sizeof(field), "mounts[%zu].source", i);
	if (get_string(m, "source", field, false, &source, err) < 0)
		return -1;
	snprintf(field, sizeof(field), "mounts[%zu].options", i);
	if (get_strv(m, "options", field, false, &opts, NULL, err) < 0)
		return -1;
	for (char **o = opts; o && *o; o++) {
		size_t k;
		unsigned long prop;

		if (strcmp(*o, "bind") == 0 || strcmp(*o, "rbind") == 0) {
			me->bind = true;
			me->flags |= MS_BIND | (strcmp(*o, "rbind") == 0 ? MS_REC : 0);
			continue;
		}
		if ((prop = propagation_of(*o))) {
			me->propagation = prop;
			continue;
		}
		for (k = 0; k < KILN_ARRAY_SIZE(mount_flags); k++)
			if (strcmp(*o, mount_flags[k].name) == 0)
				break;
		if (k < KILN_ARRAY_SIZE(mount_flags)) {
			if (mount_flags[k].clear)
				me->flags &= ~mount_flags[k].flag;
			else
				me->flags |= mount_flags[k].flag;
			continue;
		}
		if (strcmp(*o, "tmpcopyup") == 0)
			continue; /* runc's extension; kiln's images have nothing under tmpfs mounts */
		if (data.len)
			kiln_buf_addch(&data, ',');
		kiln_buf_adds(&data, *o);
	}
	kiln_strv_free_terminated(opts);
	me->data = data.len ? kiln_buf_detach(&data) : NULL;
	kiln_buf_release(&data);
	if (me->type && strcmp(me->type, "bind") == 0) {
		me->bind = true;
		me->flags |= MS_BIND;
	}
	if (me->type && (strcmp(me->type, "cgroup") == 0 || strcmp(me->type, "cgroup2") == 0))
		me->cgroup = true;
	if (!me->type && !me->bind)
		return kiln_error_set(err, "config.json: mounts[%zu].type: missing", i);
	if (me->bind) {
		if (!source)
			return kiln_error_set(err, "config.json: mounts[%zu].source: missing", i);
		/* Relative bind sources are relative to the bundle. */
		me->source = source[0] == '/' ? kiln_xstrdup(source) : kiln_path_join(bundle, source);
		if (strlen(me->source) >= PATH_MAX)
			return kiln_error_set(err, "config.json: mounts[%zu].source: too long", i);
	} else {
		me->source = source ? kiln_xstrdup(source) : kiln_xstrdup(me->type);
	}
	if (strcmp(me->dest, "/dev") == 0)
		return 1;
	return 0;
}

/* ---- namespaces ---- */

static const struct {
	const char *name;
	int flag;
} ns_types[] = {
	{ "mount", CLONE_NEWNS }, { "pid", CLONE_NEWPID }, { "uts", CLONE_NEWUTS },
	{ "ipc", CLONE_NEWIPC }, { "network", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP },
	{ "user", CLONE_NEWUSER }, { "time", 0x80 /* CLONE_NEWTIME */ },
};

static int parse_namespaces(json_t *arr, struct plan *p, struct kiln_error *err)
{
	size_t i;
	json_t *ns;
	int seen = 0;

	json_array_foreach(arr, i, ns) {
		char field[64];
		_cleanup_free_ char *type = NULL, *path = NULL;
		size_t k;

		if (!json_is_object(ns))
			return kiln_error_set(err, "config.json: linux.namespaces[%zu]: must be an object", i);
		snprintf(field, sizeof(field), "linux.namespaces[%zu].type", i);
		if (get_string(ns, "type", field, true, &type, err) < 0)
			return -1;
		for (k = 0; k < KILN_ARRAY_SIZE(ns_types); k++)
			if (strcmp(type, ns_types[k].name) == 0)
				break;
		if (k == KILN_ARRAY_SIZE(ns_types))
			return kiln_error_set(err, "config.json: %s: unknown namespace \"%s\"", field, type);
		if (seen & ns_types[k].flag)
			return kiln_error_set(err, "config.json: %s: \"%s\" listed twice", field, type);
		seen |= ns_types[k].flag;
		snprintf(field, sizeof(field), "linux.namespaces[%zu].path", i);
		if (get_string(ns, "path", field, false, &path, err) < 0)
			return -1;
		if (ns_types[k].flag == 0x80)
			return kiln_error_set(err, "config.json: linux.namespaces[%zu]: %s namespaces are "
					      "not supported by kiln's runtime", i, type);
		if (path && (ns_types[k].flag == CLONE_NEWNS || ns_types[k].flag == CLONE_NEWUSER))
			return kiln_error_set(err, "config.json: %s: joining a %s namespace is not "
					      "supported", field, type);
		if (path) {
			p->joins = kiln_xrealloc(p->joins, (p->n_joins + 1) * sizeof(*p->joins));
			p->joins[p->n_joins].type = ns_types[k].flag;
			p->joins[p->n_joins++].path = kiln_steal_pointer(&path);
		} else if (ns_types[k].flag == CLONE_NEWCGROUP) {
			/* Unshared by the child once it is in its cgroup. */
			p->new_cgroupns = true;
		} else {
			p->clone_flags |= (unsigned long)ns_types[k].flag;
		}
	}
	if (!(p->clone_flags & CLONE_NEWNS))
		return kiln_error_set(err, "config.json: linux.namespaces: a new mount namespace is required");
	return 0;
}

/* linux.uidMappings or gidMappings as the text of /proc/PID/uid_map. */
static int parse_id_mappings(json_t *linux_, const char *key, char **out, struct kiln_error *err)
{
	char field[64];
	int rc;
	json_t *arr, *m;
	size_t i;
	struct kiln_buf b = KILN_BUF_INIT;

	snprintf(field, sizeof(field), "linux.%s", key);
	arr = get_typed(linux_, key, field, JSON_ARRAY, true, err, &rc);
	if (!arr)
		return kiln_error_prefix(err, "a new user namespace needs its id mappings");
	if (json_array_size(arr) == 0 || json_array_size(arr) > 340)
		return kiln_error_set(err, "config.json: %s: needs 1 to 340 entries", field);
	json_array_foreach(arr, i, m) {
		static const char *const names[] = { "containerID", "hostID", "size" };
		int64_t v[3];
		bool present;
		for (int k = 0; k < 3; k++) {
			snprintf(field, sizeof(field), "linux.%s[%zu].%s", key, i, names[k]);
			if (!json_is_object(m)) {
				kiln_buf_release(&b);
				return kiln_error_set(err, "config.json: linux.%s[%zu]: must be an object", key, i);
			}
			if (get_int(m, names[k], field, k == 2 ? 1 : 0, UINT32_MAX, &present, &v[k], err) < 0 ||
			    (!present && kiln_error_set(err, "config.json: %s: missing", field))) {
				kiln_buf_release(&b);
				return -1;
			}
		}
		kiln_buf_printf(&b, "%" PRId64 " %" PRId64 " %" PRId64 "\n", v[0], v[1], v[2]);
	}
	*out = kiln_buf_detach(&b);
	return 0;
}

/* Replace (or add) the net namespace join with path. */
static void plan_join_netns(struct plan *p, const char *path)
{
	p->clone_flags &= ~(unsigned long)CLONE_NEWNET;
	for (size_t i = 0; i < p->n_joins; i++)
		if (p->joins[i].type == CLONE_NEWNET) {
			free(p->joins[i].path);
			p->joins[i].path = kiln_xstrdup(path);
			return;
		}
	p->joins = kiln_xrealloc(p->joins, (p->n_joins + 1) * sizeof(*p->joins));
	p->joins[p->n_joins].type = CLONE_NEWNET;
	p->joins[p->n_joins++].path = kiln_xstrdup(path);
}

/* ---- resources and devices ---- */

static int parse_resources(json_t *res, struct plan *p, struct kiln_error *err)
{
	int rc;
	bool present;
	int64_t v;
	json_t *mem, *pids, *cpu, *devs;

	mem = get_typed(res, "memory", "linux.resources.memory", JSON_OBJECT, false, err, &rc);
	if (rc < 0)
		return -1;
	if (mem) {
		if (get_int(mem, "limit", "linux.resources.memory.limit", -1, INT64_MAX, &present, &v, err) < 0)
			return -1;
		if (present)
			p->limits.memory = v;
		if (get_int(mem, "swap", "linux.resources.memory.swap", -1, INT64_MAX, &present, &v, err) < 0)
			return -1;
		if (present)
			p->limits.memory_swap = v;
	}
	pids = get_typed(res, "pids", "linux.resources.pids", JSON_OBJECT, false, err, &rc);
	if (rc < 0)
		return -1;
	if (pids) {
		if (get_int(pids, "limit", "linux.resources.pids.limit", INT64_MIN, INT64_MAX, &present, &v, err) < 0)
			return -1;
		if (present)
			p->limits.pids = v;
	}
	cpu = get_typed(res, "cpu", "linux.resources.cpu", JSON_OBJECT, false, err, &rc);
	if (rc < 0)
		return -1;
	if (cpu) {
		if (get_int(cpu, "quota", "linux.resources.cpu.quota", -1, INT64_MAX, &present, &v, err) < 0)
			return -1;
		if (present)
			p->limits.cpu_quota = v;
		if (get_int(cpu, "period", "linux.resources.cpu.period", 0, 1000000, &present, &v, err) < 0)
			return -1;
		if (present)
			p->limits.cpu_period = (uint64_t)v;
		if (get_int(cpu, "shares", "linux.resources.cpu.shares", 0, 262144, &present, &v, err) < 0)
			return -1;
		if (present)
			p->limits.cpu_shares = (uint64_t)v;
	}
	devs = get_typed(res, "devices", "linux.resources.devices", JSON_ARRAY, false, err, &rc);
	if (rc < 0)
		return -1;
	if (devs) {
		size_t i;
		json_t *d;
		p->limits.devices = kiln_xcalloc(json_array_size(devs) + 1, sizeof(*p->limits.devices));
		json_array_foreach(devs, i, d) {
			struct kiln_cgroup_device_rule *r = &p->limits.devices[i];
			char field[64];
			_cleanup_free_ char *type = NULL, *access_ = NULL;

			snprintf(field, sizeof(field), "linux.resources.devices[%zu]", i);
			if (!json_is_object(d))
				return kiln_error_set(err, "config.json: %s: must be an object", field);
			snprintf(field, sizeof(field), "linux.resources.devices[%zu].allow", i);
			if (!json_is_boolean(json_object_get(d, "allow")))
				return kiln_error_set(err, "config.json: %s: must be a boolean", field);
			r->allow = json_is_true(json_object_get(d, "allow"));
			snprintf(field, sizeof(field), "linux.resources.devices[%zu].type", i);
			if (get_string(d, "type", field, false, &type, err) < 0)
				return -1;
			r->type = type ? type[0] : 'a';
			if (type && (strlen(type) != 1 || !strchr("abc", type[0])))
				return kiln_error_set(err, "config.json: %s: \"%s\" is not a, b or c", field, type);
			snprintf(field, sizeof(field), "linux.resources.devices[%zu].major", i);
			if (get_int(d, "major", field, -1, UINT32_MAX, &present, &r->major, err) < 0)
				return -1;
			if (!present)
				r->major = -1;
			snprintf(field, sizeof(field), "linux.resources.devices[%zu].minor", i);
			if (get_int(d, "minor", field, -1, UINT32_MAX, &present, &r->minor, err) < 0)
				return -1;
			if (!present)
				r->minor = -1;
			snprintf(field, sizeof(field), "linux.resources.devices[%zu].access", i);
			if (get_string(d, "access", field, false, &access_, err) < 0)
				return -1;
			if (access_ && (strlen(access_) > 3 || strspn(access_, "rwm") != strlen(access_)))
				return kiln_error_set(err, "config.json: %s: \"%s\" is not some of rwm", field, access_);
			snprintf(r->access, sizeof(r->access), "%s", access_ ? access_ : "rwm");
			p->limits.n_devices++;
		}
	}
	return 0;
}

static int parse_devices(json_t *arr, struct plan *p, struct kiln_error *err)
{
	size_t i;
	json_t *d;

	p->devices = kiln_xcalloc(json_array_size(arr) + 1, sizeof(*p->devices));
	json_array_foreach(arr, i, d) {
		struct device_entry *de = &p->devices[p->n_devices];
		char field[64];
		_cleanup_free_ char *type = NULL;
		bool present;
		int64_t v, major = 0, minor = 0;

		snprintf(field, sizeof(field), "linux.devices[%zu]", i);
		if (!json_is_object(d))
			return kiln_error_set(err, "config.json: %s: must be an object", field);
		snprintf(field, sizeof(field), "linux.devices[%zu].path", i);
		if (get_string(d, "path", field, true, &de->path, err) < 0)
			return -1;
		p->n_devices++;
		if (check_container_path(de->path, field, err) < 0)
			return -1;
		snprintf(field, sizeof(field), "linux.devices[%zu].type", i);
		if (get_string(d, "type", field, true, &type, err) < 0)
			return -1;
		if (strcmp(type, "c") == 0 || strcmp(type, "u") == 0)
			de->mode = S_IFCHR;
		else if (strcmp(type, "b") == 0)
			de->mode = S_IFBLK;
		else if (strcmp(type, "p") == 0)
			de->mode = S_IFIFO;
		else
			return kiln_error_set(err, "config.json: %s: \"%s\" is not c, u, b or p", field, type);
		snprintf(field, sizeof(field), "linux.devices[%zu].major", i);
		if (get_int(d, "major", field, 0, UINT32_MAX, &present, &major, err) < 0)
			return -1;
		if (!present && de->mode != S_IFIFO)
			return kiln_error_set(err, "config.json: %s: missing", field);
		snprintf(field, sizeof(field), "linux.devices[%zu].minor", i);
		if (get_int(d, "minor", field, 0, UINT32_MAX, &present, &minor, err) < 0)
			return -1;
		if (!present && de->mode != S_IFIFO)
			return kiln_error_set(err, "config.json: %s: missing", field);
		de->dev = makedev((unsigned)major, (unsigned)minor);
		snprintf(field, sizeof(field), "linux.devices[%zu].fileMode", i);
		if (get_int(d, "fileMode", field, 0, 07777, &present, &v, err) < 0)
			return -1;
		de->mode |= present ? (mode_t)v : 0666;
		snprintf(field, sizeof(field), "linux.devices[%zu].uid", i);
		if (get_int(d, "uid", field, 0, UINT32_MAX - 1, &present, &v, err) < 0)
			return -1;
		de->uid = present ? (uid_t)v : 0;
		snprintf(field, sizeof(field), "linux.devices[%zu].gid", i);
		if (get_int(d, "gid", field, 0, UINT32_MAX - 1, &present, &v, err) < 0)
			return -1;
		de->gid = present ? (gid_t)v : 0;
	}
	return 0;
}

/* Like runc: after the config's device rules, the nodes every container
 * gets (and linux.devices) stay usable, and mknod is allowed. */
static void allow_default_devices(struct plan *p)
{
	static const struct kiln_cgroup_device_rule defaults[] = {
		{ true, 'c', -1, -1, "m" }, { true, 'b', -1, -1, "m" },
		{ true, 'c', 1, 3, "rwm" }, { true, 'c', 1, 5, "rwm" }, { true, 'c', 1, 7, "rwm" },
		{ true, 'c', 1, 8, "rwm" }, { true, 'c', 1, 9, "rwm" }, { true, 'c', 5, 0, "rwm" },
		{ true, 'c', 5, 1, "rwm" }, { true, 'c', 5, 2, "rwm" }, { true, 'c', 136, -1, "rwm" },
		{ true, 'c', 10, 200, "rwm" },
	};
	size_t n = p->limits.n_devices + KILN_ARRAY_SIZE(defaults) + p->n_devices;

	p->limits.devices = kiln_xrealloc(p->limits.devices, n * sizeof(*p->limits.devices));
	memcpy(p->limits.devices + p->limits.n_devices, defaults, sizeof(defaults));
	p->limits.n_devices += KILN_ARRAY_SIZE(defaults);
	for (size_t i = 0; i < p->n_devices; i++) {
		struct kiln_cgroup_device_rule *r = &p->limits.devices[p->limits.n_devices++];
		r->allow = true;
		r->type = S_ISBLK(p->devices[i].mode) ? 'b' : 'c';
		r->major = major(p->devices[i].dev);
		r->minor = minor(p->devices[i].dev);
		strcpy(r->access, "rwm");
		if (S_ISFIFO(p->devices[i].mode))
			p->limits.n_devices--;
	}
}

static int parse_process(json_t *proc, struct process_plan *pp, struct kiln_error *err)
{
	json_t *user, *caps, *rl;
	bool present;
	int64_t v;
	int rc;

	if (get_strv(proc, "args", "process.args", true, &pp->args, NULL, err) < 0)
		return -1;
	if (!pp->args[0])
		return kiln_error_set(err, "config.json: process.args: empty");
	if (get_strv(proc, "env", "process.env", false, &pp->env, NULL, err) < 0)
		return -1;
	if (!pp->env)
		pp->env = kiln_xcalloc(1, sizeof(char *));
	if (get_string(proc, "cwd", "process.cwd", true, &pp->cwd, err) < 0 ||
	    check_container_path(pp->cwd, "process.cwd", err) < 0)
		return -1;
	if (get_bool(proc, "terminal", "process.terminal", &pp->terminal, err) < 0)
		return -1;
	if (get_bool(proc, "noNewPrivileges", "process.noNewPrivileges", &pp->no_new_privs, err) < 0)
		return -1;
	if (get_int(proc, "oomScoreAdj", "process.oomScoreAdj", -1000, 1000, &pp->have_oom_score_adj,
		    &v, err) < 0)
		return -1;
	pp->oom_score_adj = (int)v;
	pp->umask = 022;
	user = get_typed(proc, "user", "process.user", JSON_OBJECT, true, err, &rc);
	if (!user)
		return -1;
	if (get_int(user, "uid", "process.user.uid", 0, UINT32_MAX - 1, &present, &v, err) < 0)
		return -1;
	if (!present)
		return kiln_error_set(err, "config.json: process.user.uid: missing");
	pp->uid = (uid_t)v;
	if (get_int(user, "gid", "process.user.gid", 0, UINT32_MAX - 1, &present, &v, err) < 0)
		return -1;
	if (!present)
		return kiln_error_set(err, "config.json: process.user.gid: missing");
	pp->gid = (gid_t)v;
	if (get_int(user, "umask", "process.user.umask", 0, 0777, &present, &v, err) < 0)
		return -1;
	if (present)
		pp->umask = (mode_t)v;
	json_t *gids = get_typed(user, "additionalGids", "process.user.additionalGids", JSON_ARRAY,
				 false, err, &rc);
	if (rc < 0)
		return -1;
	if (gids) {
		size_t i;
		json_t *g;
		if (json_array_size(gids) > 65536)
			return kiln_error_set(err, "config.json: process.user.additionalGids: too many");
		pp->gids = kiln_xcalloc(json_array_size(gids) + 1, sizeof(gid_t));
		json_array_foreach(gids, i, g) {
			if (!json_is_integer(g) || json_integer_value(g) < 0 ||
			    json_integer_value(g) >= (json_int_t)UINT32_MAX)
				return kiln_error_set(err, "config.json: process.user.additionalGids[%zu]: "
						      "must be a group id", i);
			pp->gids[pp->n_gids++] = (gid_t)json_integer_value(g);
		}
	}
	caps = get_typed(proc, "capabilities", "process.capabilities", JSON_OBJECT, false, err, &rc);
	if (rc < 0 || (caps && parse_caps(caps, pp, err) < 0))
		return -1;
	rl = get_typed(proc, "rlimits", "process.rlimits", JSON_ARRAY, false, err, &rc);
	if (rc < 0 || (rl && parse_rlimits(rl, pp, err) < 0))
		return -1;
	return 0;
}

static int parse_paths(json_t *linux_, const char *key, const char *field, char ***out, size_t *n,
		       struct kiln_error *err)
{
	if (get_strv(linux_, key, field, false, out, n, err) < 0)
		return -1;
	for (size_t i = 0; i < *n; i++)
		if (check_container_path((*out)[i], field, err) < 0)
			return -1;
	return 0;
}

static int plan_load(struct plan *p, const char *bundle, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_path_join(bundle, "config.json");
	_cleanup_free_ char *text = NULL, *root_path = NULL, *rootfs = NULL, *prop = NULL;
	json_t *doc, *root, *proc, *linux_, *mounts, *v;
	json_error_t jerr;
	size_t len;
	int rc = -1, r;

	memset(p, 0, sizeof(*p));
	p->limits = (struct kiln_cgroup_limits)KILN_CGROUP_LIMITS_INIT;
	p->root_propagation = MS_PRIVATE | MS_REC;
	text = kiln_file_read(path, CONFIG_MAX_SIZE, &len, err);
	if (!text)
		return -1;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return kiln_error_set(err, "%s: line %d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(doc)) {
		kiln_error_set(err, "%s: not a JSON object", path);
		goto out;
	}
	v = get_typed(doc, "ociVersion", "ociVersion", JSON_STRING, true, err, &r);
	if (!v)
		goto out;
	if (!kiln_str_has_prefix(json_string_value(v), "1.")) {
		kiln_error_set(err, "config.json: ociVersion: \"%s\" is not 1.x", json_string_value(v));
		goto out;
	}
	root = get_typed(doc, "root", "root", JSON_OBJECT, true, err, &r);
	if (!root || get_string(root, "path", "root.path", true, &root_path, err) < 0 ||
	    get_bool(root, "readonly", "root.readonly", &p->root_readonly, err) < 0)
		goto out;
	rootfs = root_path[0] == '/' ? kiln_xstrdup(root_path) : kiln_path_join(bundle, root_path);
	p->rootfs = realpath(rootfs, NULL);
	if (!p->rootfs) {
		kiln_error_errno(err, errno, "config.json: root.path: %s", rootfs);
		goto out;
	}
	if (strlen(p->rootfs) >= PATH_MAX - 512) {
		kiln_error_set(err, "config.json: root.path: %s: too long", p->rootfs);
		goto out;
	}
	proc = get_typed(doc, "process", "process", JSON_OBJECT, true, err, &r);
	if (!proc || parse_process(proc, &p->proc, err) < 0)
		goto out;
	if (get_string(doc, "hostname", "hostname", false, &p->hostname, err) < 0 ||
	    get_string(doc, "domainname", "domainname", false, &p->domainname, err) < 0)
		goto out;
	if (json_object_get(doc, "hooks") && !json_is_null(json_object_get(doc, "hooks")) &&
	    json_object_size(json_object_get(doc, "hooks")) > 0) {
		kiln_error_set(err, "config.json: hooks: not supported by kiln's runtime");
		goto out;
	}
	mounts = get_typed(doc, "mounts", "mounts", JSON_ARRAY, false, err, &r);
	if (r < 0)
		goto out;
	if (mounts) {
		size_t i;
		json_t *m;
		p->mounts = kiln_xcalloc(json_array_size(mounts) + 1, sizeof(*p->mounts));
		json_array_foreach(mounts, i, m) {
			r = parse_mount(m, i, bundle, &p->mounts[p->n_mounts++], err);
			if (r < 0)
				goto out;
			if (r == 1)
				p->have_dev_mount = true;
		}
	}
	linux_ = get_typed(doc, "linux", "linux", JSON_OBJECT, true, err, &r);
	if (!linux_)
		goto out;
	v = get_typed(linux_, "namespaces", "linux.namespaces", JSON_ARRAY, true, err, &r);
	if (!v || parse_namespaces(v, p, err) < 0)
		goto out;
	if ((p->clone_flags & CLONE_NEWUSER) &&
	    (parse_id_mappings(linux_, "uidMappings", &p->uid_map, err) < 0 ||
	     parse_id_mappings(linux_, "gidMappings", &p->gid_map, err) < 0))
		goto out;
	if (p->hostname && !(p->clone_flags & CLONE_NEWUTS)) {
		kiln_error_set(err, "config.json: hostname: needs a new uts namespace");
		goto out;
	}
	v = get_typed(linux_, "resources", "linux.resources", JSON_OBJECT, false, err, &r);
	if (r < 0 || (v && parse_resources(v, p, err) < 0))
		goto out;
	v = get_typed(linux_, "devices", "linux.devices", JSON_ARRAY, false, err, &r);
	if (r < 0 || (v && parse_devices(v, p, err) < 0))
		goto out;
	if (p->limits.n_devices > 0)
		allow_default_devices(p);
	if (parse_paths(linux_, "maskedPaths", "linux.maskedPaths", &p->masked, &p->n_masked, err) < 0 ||
	    parse_paths(linux_, "readonlyPaths", "linux.readonlyPaths", &p->readonly, &p->n_readonly,
			err) < 0)
		goto out;
	v = get_typed(linux_, "sysctl", "linux.sysctl", JSON_OBJECT, false, err, &r);
	if (r < 0)
		goto out;
	if (v) {
		const char *key;
		json_t *val;
		p->sysctl = kiln_xcalloc(2 * json_object_size(v) + 1, sizeof(char *));
		json_object_foreach(v, key, val) {
			if (!json_is_string(val) || strlen(key) > 200 || strstr(key, "..") ||
			    strchr(key, '/') || json_string_length(val) > 4000) {
				kiln_error_set(err, "config.json: linux.sysctl.%s: must be a string", key);
				goto out;
			}
			p->sysctl[p->n_sysctl++] = kiln_xstrdup(key);
			p->sysctl[p->n_sysctl++] = kiln_xstrdup(json_string_value(val));
		}
	}
	v = json_object_get(linux_, "seccomp");
	if (v && !json_is_null(v)) {
		if (kiln_seccomp_compile(v, &p->seccomp, err) < 0) {
			kiln_error_prefix(err, "config.json");
			goto out;
		}
	} else {
		/* No profile: kiln's default, not none (see runtime.h), for
		 * the capabilities the process may have. */
		json_t *dflt = kiln_seccomp_default_profile(p->proc.have_caps ? p->proc.caps[CAP_BOUNDING] : ~0ULL);
		r = kiln_seccomp_compile(dflt, &p->seccomp, err);
		json_decref(dflt);
		if (r < 0)
			goto out;
	}
	if (get_string(linux_, "rootfsPropagation", "linux.rootfsPropagation", false, &prop, err) < 0)
		goto out;
	if (prop) {
		p->root_propagation = propagation_of(prop);
		if (!p->root_propagation) {
			kiln_error_set(err, "config.json: linux.rootfsPropagation: \"%s\" unknown", prop);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(doc);
	if (rc < 0)
		plan_free(p);
	return rc;
}

/* ---- the child: system calls only ---- */

struct msg {
	char type; /* 'N', 'R', 'G', 'E' */
	int errnum;
	char text[1024];
};

struct child_ctx {
	const struct plan *plan;
	const struct kiln_runtime_options *o;
	int sock;
	int devnull;
	const int *cgroup_fds;
	size_t n_cgroup_fds;
	const struct kiln_cgroup *cg;
	int *join_fds; /* per plan->joins, opened by the parent */
	int rootfd;
	/* exec only */
	bool exec;
	bool terminal;
	char *const *argv;
	char *const *env;
	const char *cwd;
};

static void send_msg(int sock, const struct msg *m, int fd)
{
	struct iovec iov = { (void *)m, offsetof(struct msg, text) + strlen(m->text) + 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void send_type(int sock, char type, int fd)
{
	struct msg m = { .type = type };
	send_msg(sock, &m, fd);
}

__attribute__((noreturn, format(printf, 3, 4)))
static void child_fail(const struct child_ctx *c, int errnum, const char *fmt, ...)
{
	struct msg m = { .type = 'E', .errnum = errnum };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	send_msg(c->sock, &m, -1);
	_exit(127);
}

/* Receive one message (and an fd) from the other side: returns its size, 0
 * at EOF, -1 on error. */
static ssize_t recv_msg(int sock, struct msg *m, int *fd)
{
	struct iovec iov = { m, sizeof(*m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	ssize_t n;

	if (fd)
		*fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int got;
			memcpy(&got, CMSG_DATA(c), sizeof(int));
			if (fd)
				*fd = got;
			else
				close(got);
		}
		if ((size_t)n < offsetof(struct msg, text) + 1)
			m->text[0] = '\0';
		m->text[sizeof(m->text) - 1] = '\0';
	}
	return n;
}

/* openat2 RESOLVE_IN_ROOT: fails with EAGAIN when any mount or rename on
 * the system races with a ".." step, so retry a while. */
static int openat2_in_root(int rootfd, const char *rel)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	int fd;

	for (int i = 0; i < 1000; i++) {
		fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return fd;
}

/* Open (O_PATH) the path rel below rootfd, resolving symlinks as if rootfd
 * were "/", creating what is missing: directories, and the last component
 * as an empty file when !dir.  Returns the fd or -1 with errno. */
static int open_in_root(int rootfd, const char *rel, bool dir)
{
	char buf[PATH_MAX];
	int fd, parent;

	while (*rel == '/')
		rel++;
	if (!*rel)
		return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	fd = openat2_in_root(rootfd, rel);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	/* Create the missing components one at a time, each in its parent as
	 * resolved inside the root (O_PATH fds serve as dirfd of *at calls). */
	snprintf(buf, sizeof(buf), "%s", rel);
	parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (parent < 0)
		return -1;
	for (char *comp = buf;;) {
		char *slash = strchr(comp, '/');
		bool last = slash == NULL;

		if (slash)
			*slash = '\0';
		if (*comp) {
			fd = openat2_in_root(rootfd, buf);
			if (fd < 0 && errno == ENOENT) {
				if (!last || dir) {
					if (mkdirat(parent, comp, 0755) < 0 && errno != EEXIST)
						goto fail;
				} else {
					int f = openat(parent, comp, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
						       0644);
					if (f < 0 && errno != EEXIST && errno != ELOOP)
						goto fail;
					if (f >= 0)
						close(f);
				}
				fd = openat2_in_root(rootfd, buf);
			}
			if (fd < 0)
				goto fail;
			close(parent);
			parent = fd;
		}
		if (last)
			return parent;
		*slash = '/';
		comp = slash + 1;
	}
fail:;
	int e = errno;
	close(parent);
	errno = e;
	return -1;
}

/* The flags a bind remount must keep (a remount replaces them all). */
static unsigned long kept_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

/* A remount changes the top mount only: ro, nosuid, nodev, noexec of a
 * recursive bind must reach every mount below it too.  fd is the bind's
 * root.  Returns 0 or -1 with errno (ENOSYS before Linux 5.12: the caller
 * refuses, rather than leave submounts writable). */
static int setattr_recursive(int fd, unsigned long flags)
{
	struct mount_attr attr = { 0 };

	if (flags & MS_RDONLY)
		attr.attr_set |= MOUNT_ATTR_RDONLY;
	if (flags & MS_NOSUID)
		attr.attr_set |= MOUNT_ATTR_NOSUID;
	if (flags & MS_NODEV)
		attr.attr_set |= MOUNT_ATTR_NODEV;
	if (flags & MS_NOEXEC)
		attr.attr_set |= MOUNT_ATTR_NOEXEC;
	if (!attr.attr_set)
		return 0;
	return (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr));
}

/* type "cgroup": cgroup2 itself on v2; on v1 a tmpfs holding a bind of
 * the container's directory of each hierarchy it is in. */
static void mount_cgroup(const struct child_ctx *c, const struct mount_entry *m, const char *target)
{
	unsigned long fl = m->flags & ~(unsigned long)(MS_RDONLY | MS_BIND | MS_REC);

	if (c->cg->v2) {
		if (mount("cgroup2", target, "cgroup2", m->flags & ~(unsigned long)(MS_BIND | MS_REC),
			  NULL) < 0)
			child_fail(c, errno, "mount cgroup2 on %s", m->dest);
		return;
	}
	if (mount("tmpfs", target, "tmpfs", fl | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
		child_fail(c, errno, "mount tmpfs on %s", m->dest);
	int pfd = open_in_root(c->rootfd, m->dest, true);
	char top[64];
	if (pfd < 0)
		child_fail(c, errno, "open %s", m->dest);
	snprintf(top, sizeof(top), "/proc/self/fd/%d", pfd);
	int tfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		child_fail(c, errno, "open %s", m->dest);
	/* The remount at the end needs the tmpfs itself too. */
	target = top;
	for (size_t i = 0; i < c->cg->n_dirs; i++) {
		const char *dir = c->cg->dirs[i];
		const char *name = dir + strlen("/sys/fs/cgroup/");
		char sub[PATH_MAX], hier[256];
		size_t nl;

		if (!kiln_str_has_prefix(dir, "/sys/fs/cgroup/"))
			continue;
		nl = strcspn(name, "/");
		if (nl == 0 || nl >= sizeof(hier))
			continue;
		memcpy(hier, name, nl);
		hier[nl] = '\0';
		if (mkdirat(tfd, hier, 0755) < 0 && errno != EEXIST)
			child_fail(c, errno, "create %s/%s", m->dest, hier);
		snprintf(sub, sizeof(sub), "/proc/self/fd/%d/%s", tfd, hier);
		if (mount(dir, sub, NULL, MS_BIND | MS_REC, NULL) < 0)
			child_fail(c, errno, "bind %s on %s/%s", dir, m->dest, hier);
		if (mount(NULL, sub, NULL, MS_BIND | MS_REMOUNT | fl | MS_NOSUID | MS_NODEV |
			  MS_NOEXEC | (m->flags & MS_RDONLY), NULL) < 0)
			child_fail(c, errno, "remount %s/%s", m->dest, hier);
	}
	close(tfd);
	if ((m->flags & MS_RDONLY) &&
	    mount(NULL, target, NULL, MS_REMOUNT | fl | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
		  "mode=755") < 0)
		child_fail(c, errno, "remount %s read-only", m->dest);
	close(pfd);
}

/* An fd opened before a mount on its path still names the directory
 * underneath: remounts and what goes inside need the new mount's root. */
static int reopen_mounted(const struct child_ctx *c, int fd, const char *dest, bool dir, char *target)
{
	close(fd);
	fd = open_in_root(c->rootfd, dest, dir);
	if (fd < 0)
		child_fail(c, errno, "mount %s: open the new mount", dest);
	snprintf(target, 64, "/proc/self/fd/%d", fd);
	return fd;
}

static void do_mount(const struct child_ctx *c, const struct mount_entry *m)
{
	bool dir = true;
	struct stat st;
	char target[64];
	int fd;

	if (m->bind) {
		if (stat(m->source, &st) < 0)
			child_fail(c, errno, "mount %s: bind source %s", m->dest, m->source);
		dir = S_ISDIR(st.st_mode);
	}
	fd = open_in_root(c->rootfd, m->dest, dir);
	if (fd < 0)
		child_fail(c, errno, "mount %s: create mount point", m->dest);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (m->cgroup) {
		mount_cgroup(c, m, target);
	} else if (m->bind) {
		if (mount(m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
			child_fail(c, errno, "bind %s on %s", m->source, m->dest);
		fd = reopen_mounted(c, fd, m->dest, dir, target);
		unsigned long extra = m->flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
		if (extra && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | extra |
				   (kept_flags(target) & ~(unsigned long)MS_RDONLY), NULL) < 0)
			child_fail(c, errno, "remount %s with its options", m->dest);
		if ((m->flags & MS_REC) && setattr_recursive(fd, extra) < 0)
			child_fail(c, errno, "mount %s: apply ro/nosuid/nodev/noexec to the mounts below "
				   "it (mount_setattr, Linux 5.12)", m->dest);
	} else {
		if (mount(m->source, target, m->type, m->flags & ~(unsigned long)MS_REMOUNT, m->data) < 0)
			child_fail(c, errno, "mount %s on %s (type %s, options %s)", m->source, m->dest,
				   m->type, m->data ? m->data : "");
	}
	if (m->propagation && !m->bind)
		fd = reopen_mounted(c, fd, m->dest, dir, target);
	if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
		child_fail(c, errno, "mount %s: set propagation", m->dest);
	close(fd);
}

static const struct {
	const char *name;
	unsigned major, minor;
} default_devices[] = {
	{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
	{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

/* A device node in the container: mknod, or a bind of the host's node
 * where mknod is not allowed. */
static void make_device(const struct child_ctx *c, int devfd, const char *name, mode_t mode,
			dev_t dev, uid_t uid, gid_t gid, const char *host_path)
{
	if (mknodat(devfd, name, mode, dev) == 0) {
		if ((uid || gid) && fchownat(devfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			child_fail(c, errno, "chown /dev/%s", name);
		return;
	}
	if (errno == EEXIST)
		return;
	if (errno != EPERM || !host_path)
		child_fail(c, errno, "create device /dev/%s", name);
	int f = openat(devfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	char target[PATH_MAX];
	if (f < 0)
		child_fail(c, errno, "create /dev/%s", name);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", f);
	if (mount(host_path, target, NULL, MS_BIND, NULL) < 0)
		child_fail(c, errno, "bind %s on /dev/%s", host_path, name);
	close(f);
}

static void build_dev(const struct child_ctx *c)
{
	const struct plan *p = c->plan;
	int fd, devfd;
	char proc[64];

	if (!p->have_dev_mount) {
		static const struct mount_entry dev[] = {
			{ "/dev", "tmpfs", "tmpfs", "mode=755,size=65536k", MS_NOSUID | MS_STRICTATIME, 0 },
			{ "/dev/pts", "devpts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5",
			  MS_NOSUID | MS_NOEXEC, 0 },
			{ "/dev/shm", "shm", "tmpfs", "mode=1777,size=65536k",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, 0 },
		};
		do_mount(c, &dev[0]);
		for (size_t i = 1; i < KILN_ARRAY_SIZE(dev); i++) {
			bool listed = false;
			for (size_t j = 0; j < p->n_mounts; j++)
				listed |= strcmp(p->mounts[j].dest, dev[i].dest) == 0;
			if (!listed)
				do_mount(c, &dev[i]);
		}
	}
	fd = open_in_root(c->rootfd, "/dev", true);
	if (fd < 0)
		child_fail(c, errno, "open /dev in the container");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	devfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	if (devfd < 0)
		child_fail(c, errno, "open /dev in the container");
	for (size_t i = 0; i < KILN_ARRAY_SIZE(default_devices); i++) {
		char host[64];
		snprintf(host, sizeof(host), "/dev/%s", default_devices[i].name);
		make_device(c, devfd, default_devices[i].name, S_IFCHR | 0666,
			    makedev(default_devices[i].major, default_devices[i].minor), 0, 0, host);
	}
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
		{ "ptmx", "pts/ptmx" }, { "core", "/proc/kcore" },
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(links); i++)
		/* core only where the kernel has /proc/kcore, as runc does. */
		if ((strcmp(links[i][0], "core") != 0 || access("/proc/kcore", F_OK) == 0) &&
		    symlinkat(links[i][1], devfd, links[i][0]) < 0 && errno != EEXIST)
			child_fail(c, errno, "create /dev/%s", links[i][0]);
	if (c->plan->proc.terminal) {
		int f = openat(devfd, "console", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (f < 0)
			child_fail(c, errno, "create /dev/console");
		close(f);
	}
	close(devfd);
	/* linux.devices: at their own paths, below /dev or not. */
	for (size_t i = 0; i < p->n_devices; i++) {
		const struct device_entry *d = &p->devices[i];
		char parent_path[PATH_MAX];
		snprintf(parent_path, sizeof(parent_path), "%s", d->path);
		char *slash = strrchr(parent_path, '/');
		*slash = '\0';
		fd = open_in_root(c->rootfd, parent_path, true);
		if (fd < 0)
			child_fail(c, errno, "linux.devices: create %s", parent_path);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		int dfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		if (dfd < 0)
			child_fail(c, errno, "linux.devices: open %s", parent_path);
		unlinkat(dfd, slash + 1, 0);
		make_device(c, dfd, slash + 1, d->mode, d->dev, d->uid, d->gid, d->path);
		close(dfd);
	}
}

static void write_proc_file(const struct child_ctx *c, const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(value);

	if (fd < 0)
		child_fail(c, errno, "open %s", path);
	if (write(fd, value, len) != (ssize_t)len)
		child_fail(c, errno, "write \"%s\" to %s", value, path);
	close(fd);
}

/* Mount setup, pivot_root and what comes after it in the new root. */
static void build_root(struct child_ctx *c)
{
	const struct plan *p = c->plan;

	/* Nothing mounted from here on reaches the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(c, errno, "make / private");
	/* pivot_root needs a mount point; the caller's overlay is one already,
	 * a plain directory is not. */
	if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		child_fail(c, errno, "bind %s", p->rootfs);
	if (p->root_propagation != (MS_PRIVATE | MS_REC) &&
	    mount(NULL, p->rootfs, NULL, p->root_propagation, NULL) < 0)
		child_fail(c, errno, "linux.rootfsPropagation");
	c->rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0)
		child_fail(c, errno, "open %s", p->rootfs);
	bool dev_done = false;
	for (size_t i = 0; i < p->n_mounts; i++) {
		/* The default /dev goes in before any mount below it. */
		if (!dev_done && !p->have_dev_mount && kiln_str_has_prefix(p->mounts[i].dest, "/dev/")) {
			build_dev(c);
			dev_done = true;
		}
		do_mount(c, &p->mounts[i]);
	}
	if (!dev_done)
		build_dev(c);
	/* Like runc, a missing working directory is created. */
	int cwdfd = open_in_root(c->rootfd, p->proc.cwd, true);
	if (cwdfd < 0)
		child_fail(c, errno, "process.cwd: create %s", p->proc.cwd);
	close(cwdfd);
	if (fchdir(c->rootfd) < 0) {
		/* O_PATH fds can fchdir since Linux 3.5. */
		child_fail(c, errno, "chdir %s", p->rootfs);
	}
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail(c, errno, "pivot_root %s", p->rootfs);
	/* The old root is stacked under the new one at "/": detach it. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		child_fail(c, errno, "make the old root a slave");
	if (umount2(".", MNT_DETACH) < 0)
		child_fail(c, errno, "detach the old root");
	if (chdir("/") < 0)
		child_fail(c, errno, "chdir /");
	close(c->rootfd);
	c->rootfd = -1;
}

static void mask_and_protect(const struct child_ctx *c)
{
	const struct plan *p = c->plan;
	struct stat st;

	/* Before readonlyPaths makes /proc/sys read-only. */
	for (size_t i = 0; i + 1 < p->n_sysctl; i += 2) {
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "/proc/sys/%s", p->sysctl[i]);
		for (char *s = path + 10; s < path + n; s++)
			if (*s == '.')
				*s = '/';
		write_proc_file(c, path, p->sysctl[i + 1]);
	}
	for (size_t i = 0; i < p->n_masked; i++) {
		const char *path = p->masked[i];
		if (stat(path, &st) < 0) {
			if (errno == ENOENT)
				continue;
			child_fail(c, errno, "linux.maskedPaths: %s", path);
		}
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
				child_fail(c, errno, "linux.maskedPaths: mask %s", path);
		} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
			child_fail(c, errno, "linux.maskedPaths: mask %s", path);
		}
	}
	for (size_t i = 0; i < p->n_readonly; i++) {
		const char *path = p->readonly[i];
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			child_fail(c, errno, "linux.readonlyPaths: bind %s", path);
		}
		if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | kept_flags(path),
			  NULL) < 0)
			child_fail(c, errno, "linux.readonlyPaths: remount %s read-only", path);
		int fd = open(path, O_PATH | O_CLOEXEC);
		if (fd < 0 || setattr_recursive(fd, MS_RDONLY) < 0)
			child_fail(c, errno, "linux.readonlyPaths: make the mounts below %s read-only "
				   "(mount_setattr, Linux 5.12)", path);
		close(fd);
	}
	if (p->root_readonly &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags("/"), NULL) < 0)
		child_fail(c, errno, "remount / read-only");
}

/* A pty from the container's devpts: the slave becomes the controlling
 * terminal and stdio; returns the master. */
static int setup_terminal(const struct child_ctx *c, bool console)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), slave, unlock = 0, n;
	char name[64];

	if (master < 0)
		child_fail(c, errno, "open /dev/ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
		child_fail(c, errno, "unlock the pty");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0) {
		snprintf(name, sizeof(name), "/dev/pts/%d", n);
		slave = open(name, O_RDWR | O_NOCTTY);
	}
	if (slave < 0)
		child_fail(c, errno, "open the pty slave");
	if (console) {
		char src[64];
		snprintf(src, sizeof(src), "/proc/self/fd/%d", slave);
		if (mount(src, "/dev/console", NULL, MS_BIND, NULL) < 0)
			child_fail(c, errno, "bind the pty on /dev/console");
	}
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		child_fail(c, errno, "make the pty the controlling terminal");
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			child_fail(c, errno, "dup2 the pty");
	if (slave > 2)
		close(slave);
	return master;
}

static void setup_stdio(const struct child_ctx *c)
{
	int src[3] = { c->o->stdio.in, c->o->stdio.out, c->o->stdio.err }, tmp[3];

	/* Through fresh fds >= 3 first: the sources may be 0, 1, 2 in any order. */
	for (int i = 0; i < 3; i++) {
		tmp[i] = fcntl(src[i] >= 0 ? src[i] : c->devnull, F_DUPFD_CLOEXEC, 3);
		if (tmp[i] < 0)
			child_fail(c, errno, "stdio fd %d", src[i]);
	}
	for (int i = 0; i < 3; i++) {
		if (dup2(tmp[i], i) < 0)
			child_fail(c, errno, "dup2 stdio");
		close(tmp[i]);
	}
}

static void apply_rlimits(const struct child_ctx *c)
{
	const struct process_plan *pp = &c->plan->proc;

	for (size_t i = 0; i < pp->n_rlimits; i++) {
		struct rlimit want = pp->rlimits[i].limit, cur;
		if (setrlimit(pp->rlimits[i].resource, &want) == 0)
			continue;
		if (errno != EPERM || getrlimit(pp->rlimits[i].resource, &cur) < 0)
			child_fail(c, errno, "setrlimit %d", pp->rlimits[i].resource);
		/* Raising a hard limit needs CAP_SYS_RESOURCE: clamp. */
		if (want.rlim_max > cur.rlim_max)
			want.rlim_max = cur.rlim_max;
		if (want.rlim_cur > want.rlim_max)
			want.rlim_cur = want.rlim_max;
		if (setrlimit(pp->rlimits[i].resource, &want) < 0)
			child_fail(c, errno, "setrlimit %d", pp->rlimits[i].resource);
	}
}

static int capset_raw(const uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) },
	};
	return (int)syscall(SYS_capset, &h, d);
}

/* The calling thread's effective, permitted and inheritable sets. */
static void current_caps(uint64_t *eff, uint64_t *perm, uint64_t *inh)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	*eff = *perm = *inh = 0;
	if (syscall(SYS_capget, &h, d) < 0)
		return;
	*eff = (uint64_t)d[0].effective | ((uint64_t)d[1].effective << 32);
	*perm = (uint64_t)d[0].permitted | ((uint64_t)d[1].permitted << 32);
	*inh = (uint64_t)d[0].inheritable | ((uint64_t)d[1].inheritable << 32);
}

static void install_seccomp(const struct child_ctx *c)
{
	int e = kiln_seccomp_install(&c->plan->seccomp);
	if (e)
		child_fail(c, e, "linux.seccomp: install the filter");
}

/* User, groups, capabilities, no_new_privs: in the order that keeps the
 * privileges each step needs until it has run. */
static void drop_privileges(const struct child_ctx *c)
{
	const struct process_plan *pp = &c->plan->proc;
	uint64_t drop = c->plan->drop_caps, have_eff, have, have_inh;

	current_caps(&have_eff, &have, &have_inh);
	if (pp->have_caps || drop) {
		uint64_t bounding = pp->have_caps ? pp->caps[CAP_BOUNDING] : ~0ULL;
		if (pp->have_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			child_fail(c, errno, "prctl PR_SET_KEEPCAPS");
		for (int cap = 0; cap < 64; cap++) {
			int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
			if (r < 0)
				break; /* beyond the kernel's last capability */
			if (r == 1 && (!(bounding & (1ULL << cap)) || (drop & (1ULL << cap))) &&
			    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
				child_fail(c, errno, "drop capability %d from the bounding set", cap);
		}
	}
	/* Without no_new_privs a filter needs CAP_SYS_ADMIN, which goes below;
	 * with it, the filter waits until just before exec. */
	if (!pp->no_new_privs)
		install_seccomp(c);
	/* Raw system calls: glibc's wrappers would try to change the
	 * credentials of every thread of the caller, which the child (one
	 * thread, cloned from a possibly threaded caller) does not have. */
	if (syscall(SYS_setgroups, pp->n_gids, pp->gids) < 0)
		child_fail(c, errno, "setgroups");
	if (syscall(SYS_setresgid, pp->gid, pp->gid, pp->gid) < 0)
		child_fail(c, errno, "setgid %u", (unsigned)pp->gid);
	if (syscall(SYS_setresuid, pp->uid, pp->uid, pp->uid) < 0)
		child_fail(c, errno, "setuid %u", (unsigned)pp->uid);
	if (pp->have_caps) {
		uint64_t perm = pp->caps[CAP_PERMITTED] & have & ~drop;
		if (capset_raw(pp->caps[CAP_EFFECTIVE] & perm, perm,
			       pp->caps[CAP_INHERITABLE] & have & ~drop) < 0)
			child_fail(c, errno, "capset");
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		for (int cap = 0; cap < 64; cap++)
			if (pp->caps[CAP_AMBIENT] & (1ULL << cap))
				/* Needs the cap in permitted and inheritable; else skipped. */
				prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
		if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
			child_fail(c, errno, "prctl PR_SET_KEEPCAPS");
	} else if (drop) {
		/* The caps the process kept (all of them as root) minus drop. */
		current_caps(&have_eff, &have, &have_inh);
		if (capset_raw(have_eff & ~drop, have & ~drop, have_inh & ~drop) < 0)
			child_fail(c, errno, "capset");
	}
	if (pp->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(c, errno, "prctl PR_SET_NO_NEW_PRIVS");
}

/* execvpe with the PATH of the container's environment, not ours. */
static int exec_in_path(char *const argv[], char *const env[])
{
	const char *path = DEFAULT_PATH;
	char buf[PATH_MAX];
	int saved = ENOENT;

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, env);
		return errno;
	}
	for (char *const *e = env; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	for (const char *p = path;;) {
		const char *end = strchrnul(p, ':');
		int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "",
				 argv[0]);
		if (n > 0 && (size_t)n < sizeof(buf)) {
			execve(buf, argv, env);
			if (errno != ENOENT && errno != ENOTDIR)
				saved = errno;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	return saved;
}

/* The caller's blocked and ignored signals would survive exec: the
 * container's process starts with none. */
static void reset_signals(void)
{
	/* The kernel's struct, through the raw system call: glibc refuses
	 * its own reserved real-time signals (32, 33), which a caller may
	 * well have ignored (seen: a CI runner ignoring signal 32). */
	struct kernel_sigaction {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		unsigned long mask;
	} old, dfl = { .handler = SIG_DFL };
	sigset_t none;

	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(old.mask)) == 0 && old.handler == SIG_IGN)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The rest of a container process: stdio, limits, privileges, exec. */
__attribute__((noreturn))
static void child_finish(struct child_ctx *c, char *const argv[], char *const env[], const char *cwd,
			 bool terminal, bool console)
{
	const struct process_plan *pp = &c->plan->proc;
	struct msg m;
	int master = -1;

	if (setsid() < 0)
		child_fail(c, errno, "setsid");
	if (terminal)
		master = setup_terminal(c, console);
	else
		setup_stdio(c);
	if (chdir(cwd) < 0)
		child_fail(c, errno, "process.cwd: chdir %s", cwd);
	apply_rlimits(c);
	if (pp->have_oom_score_adj) {
		char v[16];
		snprintf(v, sizeof(v), "%d", pp->oom_score_adj);
		write_proc_file(c, "/proc/self/oom_score_adj", v);
	}
	umask(pp->umask);
	drop_privileges(c);
	send_type(c->sock, 'R', master);
	if (master >= 0)
		close(master);
	if (!c->exec) {
		/* Wait for the parent's go (after before_start). */
		ssize_t n = recv_msg(c->sock, &m, NULL);
		if (n <= 0 || m.type != 'G')
			_exit(127);
	}
	/* No fd of the caller's reaches the container; the socket closes on
	 * exec, telling the parent the exec happened. */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	reset_signals();
	if (pp->no_new_privs)
		install_seccomp(c);
	int e = exec_in_path(argv, env);
	child_fail(c, e, "exec %s", argv[0]);
}

__attribute__((noreturn))
static void child_start(struct child_ctx *c)
{
	const struct plan *p = c->plan;

	if (p->clone_flags & CLONE_NEWUSER) {
		/* Until the parent has written our id maps we are nobody; then
		 * become the namespace's root, so what we create is its own. */
		struct msg m;
		if (recv_msg(c->sock, &m, NULL) <= 0 || m.type != 'U')
			_exit(127);
		if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
			child_fail(c, errno, "user namespace: become root (is id 0 mapped?)");
	}
	for (size_t i = 0; i < p->n_joins; i++)
		if (setns(c->join_fds[i], p->joins[i].type) < 0)
			child_fail(c, errno, "join namespace %s", p->joins[i].path);
	if (p->new_cgroupns) {
		/* The parent moves us into the cgroup (that takes an RCU grace
		 * period on v1, so it runs while we build the root); a cgroup
		 * namespace must be rooted there, so wait for it. */
		struct msg m;
		if (recv_msg(c->sock, &m, NULL) <= 0 || m.type != 'C')
			_exit(127);
		if (unshare(CLONE_NEWCGROUP) < 0)
			child_fail(c, errno, "unshare cgroup namespace");
	}
	send_type(c->sock, 'N', -1);
	if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
		child_fail(c, errno, "sethostname %s", p->hostname);
	if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
		child_fail(c, errno, "setdomainname %s", p->domainname);
	umask(0);
	build_root(c);
	mask_and_protect(c);
	child_finish(c, p->proc.args, p->proc.env, p->proc.cwd, p->proc.terminal, true);
}

/* ---- the parent ---- */

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};

/* Without a device cgroup (v2: kiln loads no BPF device program; v1
 * without linux.resources.devices) nothing stops mknod of the host's
 * disks: the container loses CAP_MKNOD. */
static void plan_guard_devices(struct plan *p, const struct kiln_cgroup *cg)
{
	if (cg->devices)
		return;
	p->drop_caps |= 1ULL << CAP_MKNOD;
	for (int s = 0; s < CAP_SETS; s++)
		p->proc.caps[s] &= ~(1ULL << CAP_MKNOD);
}

/* Fork-like clone with the namespace flags.  On cgroup v2 the child is
 * born in its cgroup (clone3 CLONE_INTO_CGROUP): no migration later, which
 * would cost an RCU grace period.  *in_cgroup says whether that worked. */
static pid_t clone_into_cgroup(unsigned long flags, const struct kiln_cgroup *cg, bool *in_cgroup)
{
	*in_cgroup = false;
	if (cg->v2 && cg->n_dirs == 1) {
		int dirfd = open(cg->dirs[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd >= 0) {
			struct clone3_args a = { .flags = flags | CLONE_INTO_CGROUP,
						 .exit_signal = SIGCHLD, .cgroup = (uint64_t)dirfd };
			pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof(a));
			if (pid == 0)
				return 0; /* the child: dirfd closes at exec */
			int e = errno;
			close(dirfd);
			if (pid > 0) {
				*in_cgroup = true;
				return pid;
			}
			/* Older kernels: ENOSYS, E2BIG; fall back to clone + attach. */
			if (e != ENOSYS && e != E2BIG && e != EINVAL) {
				errno = e;
				return -1;
			}
		}
	}
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

/* fd moved to a number >= 3, so the child's stdio dup2s cannot clobber it. */
static int fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return n;
}

/* After the child was reaped: if it failed on its own first (which made
 * our step fail), its message is the one worth reporting. */
static void prefer_child_error(int sock, const char *what, struct kiln_error *err)
{
	struct msg m;

	while (recv_msg(sock, &m, NULL) > 0) {
		if (m.type != 'E')
			continue;
		/* what may already say it ("container X: exec CMD"). */
		bool said = kiln_str_has_suffix(what, m.text);
		if (m.errnum)
			kiln_error_errno(err, m.errnum, "%s%s%s", what, said ? "" : ": ", said ? "" : m.text);
		else
			kiln_error_set(err, "%s%s%s", what, said ? "" : ": ", said ? "" : m.text);
		return;
	}
}

/* The child's uid and gid maps, then tell it. */
static int write_id_maps(pid_t pid, const struct plan *p, int sock, struct kiln_error *err)
{
	static const char *const files[] = { "gid_map", "uid_map" };
	const char *maps[] = { p->gid_map, p->uid_map };

	for (int i = 0; i < 2; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
		size_t len = strlen(maps[i]);
		if (fd < 0)
			return kiln_error_errno(err, errno, "open %s", path);
		if (write(fd, maps[i], len) != (ssize_t)len)
			return kiln_error_errno(err, errno, "write %s (linux.%s)", path,
						i ? "uidMappings" : "gidMappings");
	}
	struct msg m = { .type = 'U' };
	send_msg(sock, &m, -1);
	return 0;
}

/* Hand the pty master to the caller as the options say. */
static int deliver_pty(const struct kiln_runtime_options *o, int master, struct kiln_error *err)
{
	if (o->pty_master) {
		*o->pty_master = master;
		return 0;
	}
	struct msg m = { 0 };
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	/* runc sends the pty's name as the data. */
	snprintf(m.text, sizeof(m.text), "/dev/ptmx");
	iov.iov_base = m.text;
	iov.iov_len = strlen(m.text);
	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	ssize_t n = sendmsg(o->console_socket_fd, &mh, MSG_NOSIGNAL);
	int e = errno;
	close(master);
	if (n < 0)
		return kiln_error_errno(err, e, "send the pty to the console socket");
	return 0;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Close the descriptors that are open (-1 marks one that is not). */
static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Run the parent's side of the protocol; on failure kills and reaps pid. */
static int parent_sync(const struct kiln_runtime_options *o, pid_t pid, int sock, bool wait_ns,
		       bool want_pty, const char *what, struct kiln_error *err)
{
	struct msg m;
	ssize_t n;
	int fd = -1;

	if (wait_ns) {
		n = recv_msg(sock, &m, NULL);
		if (n <= 0 || m.type != 'N')
			goto child_failed;
		if (o->before_start && o->before_start(o->before_start_ctx, pid, err) < 0) {
			/* The child goes on building the root meanwhile; if that
			 * failed first (a volume that cannot be mounted), its own
			 * error is the cause, and before_start only saw it gone. */
			struct pollfd p = { .fd = sock, .events = POLLIN };
			if (poll(&p, 1, 0) == 1 && recv_msg(sock, &m, NULL) > 0 && m.type == 'E') {
				n = 1;
				goto child_failed;
			}
			reap(pid);
			return kiln_error_prefix(err, "%s: before start", what);
		}
	}
	n = recv_msg(sock, &m, &fd);
	if (n <= 0 || m.type != 'R')
		goto child_failed;
	if (want_pty && fd < 0) {
		reap(pid);
		return kiln_error_set(err, "%s: no pty from the container", what);
	}
	if (fd >= 0 && !want_pty) {
		close(fd);
		fd = -1;
	}
	if (wait_ns) {
		struct msg go = { .type = 'G' };
		send_msg(sock, &go, -1);
	}
	n = recv_msg(sock, &m, NULL);
	if (n != 0)
		goto child_failed;
	if (fd >= 0 && deliver_pty(o, fd, err) < 0) {
		reap(pid);
		return kiln_error_prefix(err, "%s", what);
	}
	return 0;
child_failed:
	if (fd >= 0)
		close(fd);
	reap(pid);
	if (n > 0 && m.type == 'E') {
		/* what may already say it ("container X: exec CMD"). */
		bool said = kiln_str_has_suffix(what, m.text);
		if (m.errnum)
			kiln_error_errno(err, m.errnum, "%s%s%s", what, said ? "" : ": ", said ? "" : m.text);
		else
			kiln_error_set(err, "%s%s%s", what, said ? "" : ": ", said ? "" : m.text);
		/* The command itself could not be run: the shell's (and
		 * Docker's) exit codes, 127 not found, 126 not executable. */
		if (strncmp(m.text, "exec ", 5) == 0)
			err->code = m.errnum == ENOENT ? 127 : 126;
		return -1;
	}
	return kiln_error_set(err, "%s: the container process died while starting", what);
}

static int check_terminal_options(const struct kiln_runtime_options *o, struct kiln_error *err)
{
	if (!o->pty_master && o->console_socket_fd < 0)
		return kiln_error_set(err, "container %s: process.terminal needs a console socket or "
				      "pty_master", o->id);
	return 0;
}

pid_t kiln_runtime_start(const struct kiln_runtime_options *o, struct kiln_error *err)
{
	struct plan plan;
	struct kiln_cgroup cg = KILN_CGROUP_INIT;
	int cgroup_fds[8], sock[2] = { -1, -1 }, devnull = -1, pidns_fd = -1, own_pidns = -1;
	int *join_fds = NULL;
	size_t n_cgroup_fds = 0;
	pid_t pid = -1;

	if (!o->bundle || !o->id)
		return kiln_error_set(err, "container: bundle and id are required");
	if (plan_load(&plan, o->bundle, err) < 0)
		return kiln_error_prefix(err, "container %s: %s", o->id, o->bundle);
	if (o->join_netns)
		plan_join_netns(&plan, o->join_netns);
	if ((plan.clone_flags & CLONE_NEWUSER) && plan.n_joins > 0) {
		kiln_error_set(err, "container %s: joining namespaces together with a new user "
			       "namespace is not supported", o->id);
		goto fail;
	}
	if (plan.proc.terminal && check_terminal_options(o, err) < 0)
		goto fail;
	if (kiln_cgroup_create(&cg, o->cgroup_parent, o->id, &plan.limits, err) < 0) {
		kiln_error_prefix(err, "container %s", o->id);
		goto fail;
	}
	if (cg.n_dirs > KILN_ARRAY_SIZE(cgroup_fds) || kiln_cgroup_open_procs(&cg, cgroup_fds, err) < 0)
		goto fail_cgroup;
	n_cgroup_fds = cg.n_dirs;
	plan_guard_devices(&plan, &cg);
	join_fds = kiln_xcalloc(plan.n_joins + 1, sizeof(int));
	for (size_t i = 0; i < plan.n_joins; i++)
		join_fds[i] = -1;
	for (size_t i = 0; i < plan.n_joins; i++) {
		int fd = open(plan.joins[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			kiln_error_errno(err, errno, "container %s: namespace %s", o->id, plan.joins[i].path);
			goto fail_cgroup;
		}
		if (plan.joins[i].type == CLONE_NEWPID) {
			/* A pid namespace is entered by the child's creation: the
			 * caller's namespace for children is switched around clone. */
			pidns_fd = fd;
		} else {
			join_fds[i] = fd;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0) {
		kiln_error_errno(err, errno, "container %s: socketpair", o->id);
		goto fail_cgroup;
	}
	sock[0] = fd_above_stdio(sock[0]);
	sock[1] = fd_above_stdio(sock[1]);
	devnull = fd_above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC));
	if (sock[0] < 0 || sock[1] < 0 || devnull < 0) {
		kiln_error_errno(err, errno, "container %s: open /dev/null", o->id);
		goto fail_cgroup;
	}
	/* The child runs our binary until its exec: no process of the
	 * container may open its /proc/PID/exe (CVE-2019-5736).  Cloned
	 * non-dumpable, it stays so until exec; we are restored after. */
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		kiln_error_errno(err, errno, "container %s: prctl PR_SET_DUMPABLE", o->id);
		goto fail_cgroup;
	}
	if (pidns_fd >= 0) {
		own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
		if (own_pidns < 0 || setns(pidns_fd, CLONE_NEWPID) < 0) {
			kiln_error_errno(err, errno, "container %s: enter pid namespace", o->id);
			goto fail_dumpable;
		}
	}
	bool in_cgroup = false;
	pid = clone_into_cgroup(plan.clone_flags, &cg, &in_cgroup);
	if (pid == 0) {
		struct child_ctx c = {
			.plan = &plan, .o = o, .sock = sock[1], .devnull = devnull,
			.cgroup_fds = cgroup_fds, .n_cgroup_fds = n_cgroup_fds, .cg = &cg,
			.join_fds = join_fds, .rootfd = -1,
		};
		close(sock[0]);
		child_start(&c);
	}
	int clone_errno = errno;
	if (dumpable > 0)
		prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
	if (own_pidns >= 0 && setns(own_pidns, CLONE_NEWPID) < 0) {
		/* Cannot happen: our own namespace is always allowed. */
		kiln_error_errno(err, errno, "container %s: return to our pid namespace", o->id);
		if (pid > 0)
			reap(pid);
		pid = -1;
		goto fail_cgroup;
	}
	if (pid < 0) {
		kiln_error_errno(err, clone_errno, "container %s: clone", o->id);
		goto fail_cgroup;
	}
	close(sock[1]);
	sock[1] = -1;
	char what[256];
	snprintf(what, sizeof(what), "container %s", o->id);
	if ((plan.clone_flags & CLONE_NEWUSER) && write_id_maps(pid, &plan, sock[0], err) < 0) {
		kiln_error_prefix(err, "%s", what);
		reap(pid);
		prefer_child_error(sock[0], what, err);
		pid = -1;
		goto fail_cgroup;
	}
	if (!in_cgroup) {
		char buf[24];
		int len = snprintf(buf, sizeof(buf), "%d", (int)pid);
		for (size_t i = 0; i < n_cgroup_fds; i++)
			if (write(cgroup_fds[i], buf, (size_t)len) != len) {
				kiln_error_errno(err, errno, "%s: join cgroup %s", what, cg.dirs[i]);
				reap(pid);
				prefer_child_error(sock[0], what, err);
				pid = -1;
				goto fail_cgroup;
			}
	}
	for (size_t i = 0; i < n_cgroup_fds; i++)
		close(cgroup_fds[i]);
	n_cgroup_fds = 0;
	if (plan.new_cgroupns) {
		struct msg cm = { .type = 'C' };
		send_msg(sock[0], &cm, -1);
	}
	if (parent_sync(o, pid, sock[0], true, plan.proc.terminal, what, err) < 0) {
		pid = -1;
		goto fail_cgroup;
	}
	goto out;
fail_dumpable:
	if (dumpable > 0)
		prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
fail_cgroup:
	{
		kiln_cgroup_destroy(o->cgroup_parent, o->id, KILN_ERROR_IGNORE);
	}
fail:
	pid = -1;
out:
	close_fds(cgroup_fds, n_cgroup_fds);
	if (join_fds)
		close_fds(join_fds, plan.n_joins);
	free(join_fds);
	close_fds((int[]){ sock[0], sock[1], devnull, pidns_fd, own_pidns }, 5);
	kiln_cgroup_release(&cg);
	plan_free(&plan);
	return pid;
}

int kiln_runtime_wait(pid_t pid, struct kiln_error *err)
{
	int status;

	if (pid <= 0)
		return kiln_error_set(err, "wait for process %d: not a process id", (int)pid);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return kiln_error_errno(err, errno, "wait for process %d", (int)pid);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return kiln_error_set(err, "process %d: unexpected wait status %#x", (int)pid, status);
}

int kiln_runtime_cleanup(const struct kiln_runtime_options *o, struct kiln_error *err)
{
	if (!o->id)
		return kiln_error_set(err, "container: id is required");
	if (kiln_cgroup_destroy(o->cgroup_parent, o->id, err) < 0)
		return kiln_error_prefix(err, "container %s: cleanup", o->id);
	return 0;
}

pid_t kiln_runtime_exec(const struct kiln_runtime_options *o, pid_t container_pid,
			char *const argv[], char *const env[], const char *cwd,
			struct kiln_error *err)
{
	/* Joined in this order: user first, as it grants the rights to join
	 * the others; mnt last, as it changes root and cwd. */
	static const struct {
		const char *name;
		int type;
	} order[] = {
		{ "user", CLONE_NEWUSER }, { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC },
		{ "uts", CLONE_NEWUTS }, { "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID },
		{ "mnt", CLONE_NEWNS },
	};
	struct plan plan;
	struct kiln_cgroup cg = KILN_CGROUP_INIT;
	struct ns_join joins[KILN_ARRAY_SIZE(order)];
	int join_fds[KILN_ARRAY_SIZE(order)], cgroup_fds[8], sock[2] = { -1, -1 }, devnull = -1;
	int own_pidns = -1, pidns_fd = -1;
	size_t n_joins = 0, n_cgroup_fds = 0;
	pid_t pid = -1;
	char what[256];

	if (!o->bundle || !o->id || !argv || !argv[0])
		return kiln_error_set(err, "exec: bundle, id and a command are required");
	snprintf(what, sizeof(what), "container %s: exec %s", o->id, argv[0]);
	if (plan_load(&plan, o->bundle, err) < 0)
		return kiln_error_prefix(err, "%s", what);
	if (cwd && (cwd[0] != '/' || strlen(cwd) >= PATH_MAX)) {
		kiln_error_set(err, "%s: cwd \"%s\" is not an absolute path", what, cwd);
		goto out;
	}
	if (o->exec_terminal && check_terminal_options(o, err) < 0)
		goto out;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(order); i++) {
		char theirs[64], ours[64];
		struct stat a, b;
		snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)container_pid, order[i].name);
		snprintf(ours, sizeof(ours), "/proc/self/ns/%s", order[i].name);
		if (stat(theirs, &a) < 0) {
			kiln_error_errno(err, errno, "%s: %s", what, theirs);
			goto fail;
		}
		if (stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue;
		int fd = open(theirs, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			kiln_error_errno(err, errno, "%s: %s", what, theirs);
			goto fail;
		}
		if (order[i].type == CLONE_NEWPID) {
			pidns_fd = fd;
			continue;
		}
		joins[n_joins].type = order[i].type;
		joins[n_joins].path = NULL;
		join_fds[n_joins++] = fd;
	}
	if (kiln_cgroup_open(&cg, o->cgroup_parent, o->id, err) < 0 ||
	    cg.n_dirs > KILN_ARRAY_SIZE(cgroup_fds) || kiln_cgroup_open_procs(&cg, cgroup_fds, err) < 0) {
		kiln_error_prefix(err, "%s", what);
		goto fail;
	}
	n_cgroup_fds = cg.n_dirs;
	plan_guard_devices(&plan, &cg);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0) {
		kiln_error_errno(err, errno, "%s: socketpair", what);
		goto fail;
	}
	sock[0] = fd_above_stdio(sock[0]);
	sock[1] = fd_above_stdio(sock[1]);
	devnull = fd_above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC));
	if (sock[0] < 0 || sock[1] < 0 || devnull < 0) {
		kiln_error_errno(err, errno, "%s: open /dev/null", what);
		goto fail;
	}
	/* Non-dumpable until its exec, as in kiln_runtime_start. */
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		kiln_error_errno(err, errno, "%s: prctl PR_SET_DUMPABLE", what);
		goto fail;
	}
	if (pidns_fd >= 0) {
		own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
		if (own_pidns < 0 || setns(pidns_fd, CLONE_NEWPID) < 0) {
			kiln_error_errno(err, errno, "%s: enter pid namespace", what);
			if (dumpable > 0)
				prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
			goto fail;
		}
	}
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		struct child_ctx c = {
			.plan = &plan, .o = o, .sock = sock[1], .devnull = devnull,
			.cgroup_fds = cgroup_fds, .n_cgroup_fds = n_cgroup_fds, .cg = &cg,
			.join_fds = join_fds, .rootfd = -1, .exec = true,
		};
		int e;
		close(sock[0]);
		if ((e = kiln_cgroup_join_fds(cgroup_fds, n_cgroup_fds)))
			child_fail(&c, e, "join cgroup");
		for (size_t i = 0; i < n_joins; i++)
			if (setns(join_fds[i], joins[i].type) < 0)
				child_fail(&c, errno, "join namespace of process %d", (int)container_pid);
		child_finish(&c, argv, env ? env : plan.proc.env, cwd ? cwd : plan.proc.cwd,
			     o->exec_terminal, false);
	}
	int clone_errno = errno;
	if (dumpable > 0)
		prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
	if (own_pidns >= 0 && setns(own_pidns, CLONE_NEWPID) < 0) {
		kiln_error_errno(err, errno, "%s: return to our pid namespace", what);
		if (pid > 0)
			reap(pid);
		pid = -1;
		goto fail;
	}
	if (pid < 0) {
		kiln_error_errno(err, clone_errno, "%s: clone", what);
		goto fail;
	}
	close(sock[1]);
	sock[1] = -1;
	if (parent_sync(o, pid, sock[0], false, o->exec_terminal, what, err) < 0)
		goto fail;
	goto out;
fail:
	pid = -1;
out:
	close_fds(join_fds, n_joins);
	close_fds(cgroup_fds, n_cgroup_fds);
	close_fds((int[]){ sock[0], sock[1], devnull, pidns_fd, own_pidns }, 5);
	kiln_cgroup_release(&cg);
	plan_free(&plan);
	return pid;
}
