#include "bundle.h"
#include "values.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "capability.h"
#include "seccomp.h"
#include "util.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* podman's default capability set (containers.conf default_capabilities,
 * podman 4 and 5): Docker's less CAP_NET_RAW (raw and packet sockets:
 * forged packets on the bridge), CAP_MKNOD and CAP_AUDIT_WRITE. */
static const int default_caps[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_NET_BIND_SERVICE,
	CAP_SETFCAP, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, CAP_SYS_CHROOT,
};
/* Docker's masked and read-only paths (moby's oci/defaults.go). */
static const char *const masked_paths[] = {
	"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static int string_list(json_t *a, const char *what, char ***out, size_t *n, struct kiln_error *err)
{
	size_t i;
	json_t *v;

	*out = NULL;
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return kiln_error_set(err, "image config: %s is not an array", what);
	*out = kiln_xcalloc(json_array_size(a) + 1, sizeof(char *));
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return kiln_error_set(err, "image config: %s[%zu] is not a string", what, i);
		(*out)[(*n)++] = kiln_xstrdup(json_string_value(v));
	}
	return 0;
}

static char *opt_string(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) && json_string_value(v)[0] ? kiln_xstrdup(json_string_value(v)) : NULL;
}

int kiln_bundle_image_parse(const char *json, size_t len, struct kiln_bundle_image *out,
			    struct kiln_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *cfg;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!root)
		return kiln_error_set(err, "image config: %s (line %d)", jerr.text, jerr.line);
	cfg = json_object_get(root, "config");
	if (cfg && json_is_object(cfg)) {
		out->user = opt_string(cfg, "User");
		out->workdir = opt_string(cfg, "WorkingDir");
		out->stop_signal = opt_string(cfg, "StopSignal");
		if (string_list(json_object_get(cfg, "Env"), "Env", &out->env, &out->n_env, err) < 0 ||
		    string_list(json_object_get(cfg, "Entrypoint"), "Entrypoint", &out->entrypoint,
				&out->n_entrypoint, err) < 0 ||
		    string_list(json_object_get(cfg, "Cmd"), "Cmd", &out->cmd, &out->n_cmd, err) < 0)
			rc = -1;
	}
	json_decref(root);
	if (rc < 0)
		kiln_bundle_image_release(out);
	return rc;
}

void kiln_bundle_image_release(struct kiln_bundle_image *img)
{
	free(img->user);
	free(img->workdir);
	free(img->stop_signal);
	kiln_strv_free(img->env, img->n_env);
	kiln_strv_free(img->entrypoint, img->n_entrypoint);
	kiln_strv_free(img->cmd, img->n_cmd);
	memset(img, 0, sizeof(*img));
}

void kiln_bundle_process_release(struct kiln_bundle_process *p)
{
	kiln_strv_free(p->args, p->n_args);
	kiln_strv_free(p->env, p->n_env);
	free(p->cwd);
	free(p->gids);
	memset(p, 0, sizeof(*p));
}

static bool parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Field `index` (0-based) of the colon-separated line; n bytes at *f. */
static bool field_of(const char *line, size_t len, int index, const char **f, size_t *n)
{
	const char *p = line, *end = line + len;
	for (int i = 0; i < index; i++) {
		p = memchr(p, ':', end - p);
		if (!p)
			return false;
		p++;
	}
	*f = p;
	const char *c = memchr(p, ':', end - p);
	*n = (c ? c : end) - p;
	return true;
}

static bool field_is(const char *f, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(f, s, n) == 0;
}

static bool field_u32(const char *f, size_t n, uint32_t *out)
{
	char tmp[16];
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, f, n);
	tmp[n] = 0;
	return parse_u32(tmp, out);
}

/* Find the /etc/passwd or /etc/group line whose name (field 0) is name, or
 * whose id (field 2) is id when name is NULL. */
static bool db_find(const char *db, const char *name, uint32_t id, const char **line, size_t *len)
{
	const char *p = db, *f;
	size_t n;
	uint32_t v;

	while (p && *p) {
		const char *nl = strchrnul(p, '\n');
		size_t l = nl - p;
		if (name ? field_of(p, l, 0, &f, &n) && field_is(f, n, name)
			 : field_of(p, l, 2, &f, &n) && field_u32(f, n, &v) && v == id) {
			*line = p;
			*len = l;
			return true;
		}
		p = *nl ? nl + 1 : NULL;
	}
	return false;
}

int kiln_bundle_resolve_user(const char *user, const char *passwd, const char *group, uint32_t *uid,
			     uint32_t *gid, uint32_t **gids, size_t *n_gids, struct kiln_error *err)
{
	_cleanup_free_ char *u = kiln_xstrdup(user && *user ? user : "0");
	char *g = strchr(u, ':');
	_cleanup_free_ char *name = NULL;
	const char *line, *f;
	size_t len, n;
	bool have_gid = false;
	size_t alloc = 0;

	*gids = NULL;
	*n_gids = 0;
	if (g)
		*g++ = 0;
	if (parse_u32(u, uid)) {
		if (passwd && db_find(passwd, NULL, *uid, &line, &len)) {
			field_of(line, len, 0, &f, &n);
			name = kiln_xstrndup(f, n);
			have_gid = field_of(line, len, 3, &f, &n) && field_u32(f, n, gid);
		}
	} else {
		if (!passwd || !db_find(passwd, u, 0, &line, &len))
			return kiln_error_set(err, "user '%s': not in the image's /etc/passwd", u);
		if (!field_of(line, len, 2, &f, &n) || !field_u32(f, n, uid) || !field_of(line, len, 3, &f, &n) ||
		    !field_u32(f, n, gid))
			return kiln_error_set(err, "user '%s': bad /etc/passwd line", u);
		have_gid = true;
		name = kiln_xstrdup(u);
	}
	if (g && *g) {
		if (!parse_u32(g, gid)) {
			if (!group || !db_find(group, g, 0, &line, &len) || !field_of(line, len, 2, &f, &n) ||
			    !field_u32(f, n, gid))
				return kiln_error_set(err, "group '%s': not in the image's /etc/group", g);
		}
		have_gid = true;
	}
	if (!have_gid)
		*gid = 0;
	/* Supplementary groups: every /etc/group line listing the user. */
	for (const char *p = name ? group : NULL; p && *p;) {
		const char *nl = strchrnul(p, '\n');
		uint32_t id;
		if (field_of(p, nl - p, 3, &f, &n) && field_of(p, nl - p, 2, &line, &len) &&
		    field_u32(line, len, &id) && id != *gid) {
			const char *m = f, *mend = f + n;
			while (m < mend) {
				const char *c = memchr(m, ',', mend - m);
				size_t ml = (c ? c : mend) - m;
				if (field_is(m, ml, name)) {
					kiln_xgrow(gids, &alloc, *n_gids + 1, sizeof(**gids));
					(*gids)[(*n_gids)++] = id;
					break;
				}
				m += ml + 1;
			}
		}
		p = *nl ? nl + 1 : NULL;
	}
	return 0;
}

static void env_set(char ***env, size_t *n, size_t *alloc, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < *n; i++) {
		if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
			free((*env)[i]);
			(*env)[i] = kiln_xstrdup(kv);
			return;
		}
	}
	kiln_xgrow(env, alloc, *n + 2, sizeof(char *));
	(*env)[(*n)++] = kiln_xstrdup(kv);
	(*env)[*n] = NULL;
}

static bool env_has(char **env, size_t n, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], key, klen) == 0 && env[i][klen] == '=')
			return true;
	return false;
}

int kiln_bundle_process_resolve(const struct kiln_bundle_image *img,
				const struct kiln_bundle_process_options *o,
				struct kiln_bundle_process *out, struct kiln_error *err)
{
	char *const *ep = o->has_entrypoint ? o->entrypoint : img->entrypoint;
	size_t n_ep = o->has_entrypoint ? o->n_entrypoint : img->n_entrypoint;
	/* As Docker: a new entrypoint drops the image's Cmd. */
	char *const *cmd = o->n_cmd ? o->cmd : o->has_entrypoint ? NULL : img->cmd;
	size_t n_cmd = o->n_cmd ? o->n_cmd : o->has_entrypoint ? 0 : img->n_cmd;
	size_t alloc = 0;

	memset(out, 0, sizeof(*out));
	if (n_ep + n_cmd == 0)
		return kiln_error_set(err, "no command: the image has no entrypoint or cmd, and none was given");
	out->args = kiln_xcalloc(n_ep + n_cmd + 1, sizeof(char *));
	for (size_t i = 0; i < n_ep; i++)
		out->args[out->n_args++] = kiln_xstrdup(ep[i]);
	for (size_t i = 0; i < n_cmd; i++)
		out->args[out->n_args++] = kiln_xstrdup(cmd[i]);
	if (!out->args[0][0]) {
		kiln_bundle_process_release(out);
		return kiln_error_set(err, "empty command");
	}

	if (!env_has(img->env, img->n_env, "PATH"))
		env_set(&out->env, &out->n_env, &alloc, DEFAULT_PATH);
	if (o->hostname) {
		_cleanup_free_ char *h = kiln_xasprintf("HOSTNAME=%s", o->hostname);
		env_set(&out->env, &out->n_env, &alloc, h);
	}
	for (size_t i = 0; i < img->n_env; i++)
		env_set(&out->env, &out->n_env, &alloc, img->env[i]);
	for (size_t i = 0; i < o->n_env; i++) {
		const char *kv = o->env[i];
		if (!*kv || *kv == '=') {
			kiln_bundle_process_release(out);
			return kiln_error_set(err, "environment '%s': expected KEY=VALUE or KEY", kv);
		}
		/* -e KEY: the command line gave the caller's value as
		 * KEY=VALUE (cmd/kiln/env.c), as docker run does; a bare KEY
		 * left here was unset there, and is not passed. */
		if (!strchr(kv, '='))
			continue;
		env_set(&out->env, &out->n_env, &alloc, kv);
	}
	if (o->terminal && !env_has(out->env, out->n_env, "TERM"))
		env_set(&out->env, &out->n_env, &alloc, "TERM=xterm");

	out->cwd = kiln_xstrdup(o->workdir ? o->workdir : img->workdir ? img->workdir : "/");
	if (out->cwd[0] != '/') {
		kiln_bundle_process_release(out);
		return kiln_error_set(err, "working directory '%s' is not absolute", o->workdir ? o->workdir : img->workdir);
	}
	if (kiln_bundle_resolve_user(o->user ? o->user : img->user, o->passwd, o->group, &out->uid, &out->gid,
				     &out->gids, &out->n_gids, err) < 0) {
		kiln_bundle_process_release(out);
		return -1;
	}
	return 0;
}

/* names of --cap-add or --cap-drop as a mask; *all when one is ALL. */
static int capability_list(char *const *names, size_t n, const char *option, uint64_t *set, bool *all,
			   struct kiln_error *err)
{
	*set = 0;
	*all = false;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *full = NULL;
		int c;

		if (strcasecmp(names[i], "ALL") == 0) {
			*all = true;
			continue;
		}
		full = strncasecmp(names[i], "CAP_", 4) == 0 ? kiln_xstrdup(names[i])
							    : kiln_xasprintf("CAP_%s", names[i]);
		c = kiln_capability_from_name(full);
		if (c < 0)
			return kiln_error_set(err, "%s '%s': unknown capability (expected a name such as "
					      "NET_RAW or CAP_NET_RAW, or ALL)", option, names[i]);
		*set |= 1ULL << c;
	}
	return 0;
}

int kiln_bundle_capabilities(char *const *add, size_t n_add, char *const *drop, size_t n_drop,
			     uint64_t *out, struct kiln_error *err)
{
	uint64_t add_set, drop_set, dflt = 0;
	bool add_all, drop_all;

	if (capability_list(add, n_add, "--cap-add", &add_set, &add_all, err) < 0 ||
	    capability_list(drop, n_drop, "--cap-drop", &drop_set, &drop_all, err) < 0)
		return -1;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(default_caps); i++)
		dflt |= 1ULL << default_caps[i];
	/* As docker run: ALL added, less the dropped; ALL dropped, only the
	 * added; else the default, less the dropped, plus the added. */
	if (add_all)
		*out = ~drop_set;
	else if (drop_all)
		*out = add_set;
	else
		*out = (dflt & ~drop_set) | add_set;
	/* One kiln lacks (the kernel's too new, or kiln runs confined) would
	 * make runc fail. */
	*out &= kiln_capability_held();
	return 0;
}

static json_t *capability_names(uint64_t set)
{
	json_t *a = json_array();
	for (int c = 0; c < 64; c++)
		if ((set & (1ULL << c)) && kiln_capability_name(c))
			json_array_append_new(a, json_string(kiln_capability_name(c)));
	return a;
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *mount_entry(const char *dest, const char *type, const char *source, const char *const *opts,
			   size_t n_opts)
{
	json_t *m = json_object();
	json_object_set_new(m, "destination", json_string(dest));
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "source", json_string(source));
	json_object_set_new(m, "options", strings(opts, n_opts));
	return m;
}

#define MOUNT(dest, type, src, ...)                                                                    \
	do {                                                                                           \
		static const char *const o_[] = { __VA_ARGS__ };                                       \
		json_array_append_new(mounts, mount_entry(dest, type, src, o_, KILN_ARRAY_SIZE(o_))); \
	} while (0)

static json_t *namespace(const char *type, const char *path)
{
	json_t *ns = json_object();
	json_object_set_new(ns, "type", json_string(type));
	if (path)
		json_object_set_new(ns, "path", json_string(path));
	return ns;
}

char *kiln_bundle_config_json(const struct kiln_bundle_spec *s, struct kiln_error *err)
{
	const struct kiln_bundle_process *p = s->process;
	json_t *root, *proc, *user, *caps, *rl, *rootj, *mounts, *linux_, *nss, *res, *dev, *gids;
	uint64_t cap_set;
	char *text;

	if (!p || p->n_args == 0) {
		kiln_error_set(err, "bundle: no process");
		return NULL;
	}
	if (kiln_bundle_capabilities(s->cap_add, s->n_cap_add, s->cap_drop, s->n_cap_drop, &cap_set, err) < 0)
		return NULL;
	root = json_object();
	proc = json_object();
	user = json_object();
	caps = json_object();
	rl = json_object();
	rootj = json_object();
	mounts = json_array();
	linux_ = json_object();
	nss = json_array();
	res = json_object();
	dev = json_object();
	gids = json_array();
	json_object_set_new(root, "ociVersion", json_string("1.0.2"));

	json_object_set_new(proc, "terminal", json_boolean(s->terminal));
	json_object_set_new(user, "uid", json_integer(p->uid));
	json_object_set_new(user, "gid", json_integer(p->gid));
	for (size_t i = 0; i < p->n_gids; i++)
		json_array_append_new(gids, json_integer(p->gids[i]));
	if (p->n_gids)
		json_object_set_new(user, "additionalGids", gids);
	else
		json_decref(gids);
	json_object_set_new(proc, "user", user);
	json_object_set_new(proc, "args", strings((const char *const *)p->args, p->n_args));
	json_object_set_new(proc, "env", strings((const char *const *)p->env, p->n_env));
	json_object_set_new(proc, "cwd", json_string(p->cwd ? p->cwd : "/"));
	json_object_set_new(caps, "bounding", capability_names(cap_set));
	json_object_set_new(caps, "effective", capability_names(cap_set));
	json_object_set_new(caps, "permitted", capability_names(cap_set));
	json_object_set_new(proc, "capabilities", caps);
	json_object_set_new(rl, "type", json_string("RLIMIT_NOFILE"));
	json_object_set_new(rl, "soft", json_integer((json_int_t)s->nofile_soft));
	json_object_set_new(rl, "hard", json_integer((json_int_t)s->nofile_hard));
	if (s->nofile_hard) {
		json_t *rls = json_array();
		json_array_append_new(rls, rl);
		json_object_set_new(proc, "rlimits", rls);
	} else {
		json_decref(rl);
	}
	json_object_set_new(proc, "noNewPrivileges", json_true());
	json_object_set_new(root, "process", proc);

	json_object_set_new(rootj, "path", json_string(s->root_path ? s->root_path : "rootfs"));
	json_object_set_new(rootj, "readonly", json_false());
	json_object_set_new(root, "root", rootj);
	if (s->hostname)
		json_object_set_new(root, "hostname", json_string(s->hostname));

	MOUNT("/proc", "proc", "proc", "nosuid", "noexec", "nodev");
	MOUNT("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k");
	MOUNT("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
	      "gid=5");
	MOUNT("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k");
	MOUNT("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev");
	MOUNT("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro");
	MOUNT("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro");
	for (size_t i = 0; i < s->n_volumes; i++) {
		/* nosuid, nodev: what the container's root writes into a volume
		 * (a setuid shell, a device node) must not work for the host's
		 * users, who can reach the volume's directory. */
		const char *rw[] = { "rbind", "rprivate", "nosuid", "nodev", s->volumes[i].readonly ? "ro" : "rw" };
		json_array_append_new(mounts, mount_entry(s->volumes[i].destination, "bind", s->volumes[i].source, rw,
							  KILN_ARRAY_SIZE(rw)));
	}
	json_object_set_new(root, "mounts", mounts);

	json_array_append_new(nss, namespace("pid", NULL));
	json_array_append_new(nss, namespace("ipc", NULL));
	json_array_append_new(nss, namespace("uts", NULL));
	json_array_append_new(nss, namespace("mount", NULL));
	if (s->cgroup_ns)
		json_array_append_new(nss, namespace("cgroup", NULL));
	if (s->network == KILN_BUNDLE_NET_JOIN)
		json_array_append_new(nss, namespace("network", s->netns_path));
	else if (s->network != KILN_BUNDLE_NET_HOST)
		json_array_append_new(nss, namespace("network", NULL));
	json_object_set_new(linux_, "namespaces", nss);
	/* Without CAP_NET_RAW, ping needs ICMP datagram sockets, which a new
	 * network namespace gives no group ("1 0"): every group, as Docker. */
	if (s->network == KILN_BUNDLE_NET_NONE || s->network == KILN_BUNDLE_NET_BRIDGE)
		json_object_set_new(linux_, "sysctl",
				    json_pack("{s:s}", "net.ipv4.ping_group_range", "0 2147483647"));

	/* Devices: deny all; the runtime allows its default /dev nodes. */
	json_object_set_new(dev, "allow", json_false());
	json_object_set_new(dev, "access", json_string("rwm"));
	{
		json_t *devs = json_array();
		json_array_append_new(devs, dev);
		json_object_set_new(res, "devices", devs);
	}
	if (s->memory > 0) {
		json_t *m = json_object();
		json_object_set_new(m, "limit", json_integer(s->memory));
		json_object_set_new(res, "memory", m);
	}
	if (s->pids > 0) {
		json_t *m = json_object();
		json_object_set_new(m, "limit", json_integer(s->pids));
		json_object_set_new(res, "pids", m);
	}
	if (s->cpus > 0) {
		json_t *m = json_object();
		json_object_set_new(m, "period", json_integer(100000));
		json_object_set_new(m, "quota", json_integer((json_int_t)(s->cpus * 100000 + 0.5)));
		json_object_set_new(res, "cpu", m);
	}
	json_object_set_new(linux_, "resources", res);
	if (s->cgroups_path)
		json_object_set_new(linux_, "cgroupsPath", json_string(s->cgroups_path));
	json_object_set_new(linux_, "maskedPaths", strings(masked_paths, KILN_ARRAY_SIZE(masked_paths)));
	json_object_set_new(linux_, "readonlyPaths", strings(readonly_paths, KILN_ARRAY_SIZE(readonly_paths)));
	/* Docker-like defaults (keyrings, bpf, perf, user namespaces, …
	 * refused), written out so runc applies the same filter. */
	json_object_set_new(linux_, "seccomp", kiln_seccomp_default_profile(cap_set));
	json_object_set_new(root, "linux", linux_);

	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (!text) {
		kiln_error_set(err, "bundle: cannot serialize config.json");
		return NULL;
	}
	return text;
}

int kiln_bundle_parse_size(const char *text, int64_t *out, struct kiln_error *err)
{
	const char *why = kiln_values_size(text ? text : "", text ? strlen(text) : 0, out);

	if (why)
		return kiln_error_set(err, "size '%s' %s", text ? text : "", why);
	return 0;
}

char *kiln_bundle_read_image_file(const char *rootfs, const char *path, size_t max, struct kiln_error *err)
{
	/* O_NONBLOCK and a regular-file check: a FIFO at /etc/passwd in an
	 * image must not hang kiln (which holds its global lock here). */
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	struct stat st;
	_cleanup_close_ int rootfd = -1, fd = -1;
	struct kiln_buf b = KILN_BUF_INIT;
	char chunk[8192];
	ssize_t n;

	rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		kiln_error_errno(err, errno, "open '%s'", rootfs);
		return NULL;
	}
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			kiln_error_errno(err, errno, "open the image's /%s", path);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		kiln_error_set(err, "the image's /%s is not a regular file", path);
		return NULL;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (b.len + (size_t)n > max) {
			kiln_buf_release(&b);
			kiln_error_set(err, "the image's /%s is larger than %zu bytes", path, max);
			return NULL;
		}
		kiln_buf_add(&b, chunk, n);
	}
	if (n < 0) {
		kiln_buf_release(&b);
		kiln_error_errno(err, errno, "read the image's /%s", path);
		return NULL;
	}
	return kiln_buf_detach(&b);
}
