/* runtime-config.c - config.json of an OCI runtime bundle, parsed into
 * the plan the child carries out (runtime-int.h): every string ready, every
 * error naming its field, so that the child has nothing left to allocate.
 */

#include "runtime-int.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "capability.h"
#include "fsutil.h"
#include "seccomp.h"
#include "util.h"

#define CONFIG_MAX_SIZE (4 << 20)

static const char *const cap_set_names[CAP_SETS] = { "bounding", "effective", "permitted",
						     "inheritable", "ambient" };

void kiln_runtime_plan_release(struct plan *p)
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

/* A name config.json uses and the number it stands for. */
struct named_value {
	const char *name;
	int value;
};

/* The entry of TABLE (N entries) called NAME, or NULL. */
static const struct named_value *named_value_find(const struct named_value *table, size_t n,
						  const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(name, table[k].name) == 0)
			return &table[k];
	return NULL;
}

/* OBJ[KEY], a string naming an entry of TABLE (N entries): the entry, or
 * NULL with an error naming FIELD ("unknown WHAT").  *name keeps the
 * string. */
static const struct named_value *get_named(json_t *obj, const char *key, const char *field,
					   const struct named_value *table, size_t n,
					   const char *what, char **name, struct kiln_error *err)
{
	const struct named_value *nv;

	if (get_string(obj, key, field, true, name, err) < 0)
		return NULL;
	nv = named_value_find(table, n, *name);
	if (!nv)
		kiln_error_set(err, "config.json: %s: unknown %s \"%s\"", field, what, *name);
	return nv;
}

/* ---- rlimits ---- */

static const struct named_value rlimit_names[] = {
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
		const struct named_value *rl;
		json_t *hard, *soft;
		int rc;

		snprintf(field, sizeof(field), "process.rlimits[%zu]", i);
		if (!json_is_object(r))
			return kiln_error_set(err, "config.json: %s: must be an object", field);
		snprintf(field, sizeof(field), "process.rlimits[%zu].type", i);
		rl = get_named(r, "type", field, rlimit_names, KILN_ARRAY_SIZE(rlimit_names), "rlimit",
			       &type, err);
		if (!rl)
			return -1;
		snprintf(field, sizeof(field), "process.rlimits[%zu].hard", i);
		hard = get_typed(r, "hard", field, JSON_INTEGER, true, err, &rc);
		if (!hard)
			return -1;
		snprintf(field, sizeof(field), "process.rlimits[%zu].soft", i);
		soft = get_typed(r, "soft", field, JSON_INTEGER, true, err, &rc);
		if (!soft)
			return -1;
		/* JSON holds uint64; jansson reads int64: -1 is RLIM_INFINITY. */
		pp->rlimits[pp->n_rlimits].resource = rl->value;
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

static const struct named_value ns_types[] = {
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
		const struct named_value *nt;

		if (!json_is_object(ns))
			return kiln_error_set(err, "config.json: linux.namespaces[%zu]: must be an object", i);
		snprintf(field, sizeof(field), "linux.namespaces[%zu].type", i);
		nt = get_named(ns, "type", field, ns_types, KILN_ARRAY_SIZE(ns_types), "namespace",
			       &type, err);
		if (!nt)
			return -1;
		if (seen & nt->value)
			return kiln_error_set(err, "config.json: %s: \"%s\" listed twice", field, type);
		seen |= nt->value;
		snprintf(field, sizeof(field), "linux.namespaces[%zu].path", i);
		if (get_string(ns, "path", field, false, &path, err) < 0)
			return -1;
		if (nt->value == 0x80)
			return kiln_error_set(err, "config.json: linux.namespaces[%zu]: %s namespaces are "
					      "not supported by kiln's runtime", i, type);
		if (path && (nt->value == CLONE_NEWNS || nt->value == CLONE_NEWUSER))
			return kiln_error_set(err, "config.json: %s: joining a %s namespace is not "
					      "supported", field, type);
		if (path) {
			p->joins = kiln_xrealloc(p->joins, (p->n_joins + 1) * sizeof(*p->joins));
			p->joins[p->n_joins].type = nt->value;
			p->joins[p->n_joins++].path = kiln_steal_pointer(&path);
		} else if (nt->value == CLONE_NEWCGROUP) {
			/* Unshared by the child once it is in its cgroup. */
			p->new_cgroupns = true;
		} else {
			p->clone_flags |= (unsigned long)nt->value;
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
void kiln_runtime_plan_join_netns(struct plan *p, const char *path)
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

int kiln_runtime_plan_load(struct plan *p, const char *bundle, struct kiln_error *err)
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
		kiln_runtime_plan_release(p);
	return rc;
}
