/* cgroup.c - a container's control group on cgroup v2 or v1. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CGROUP_ROOT "/sys/fs/cgroup"

/* v1 controllers kiln puts a container in. */
enum {
	CTL_MEMORY = 1 << 0,
	CTL_PIDS = 1 << 1,
	CTL_CPU = 1 << 2,
	CTL_DEVICES = 1 << 3,
};
static const char *const ctl_names[] = { "memory", "pids", "cpu", "devices" };

void kiln_cgroup_release(struct kiln_cgroup *cg)
{
	for (size_t i = 0; i < cg->n_dirs; i++)
		free(cg->dirs[i]);
	free(cg->dirs);
	cg->dirs = NULL;
	cg->n_dirs = 0;
	cg->devices = false;
}

/* Whether a BPF device program is attached to the v2 directory dir. */
static bool v2_has_device_program(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	union bpf_attr attr;

	if (fd < 0)
		return false;
	memset(&attr, 0, sizeof(attr));
	attr.query.target_fd = (uint32_t)fd;
	attr.query.attach_type = BPF_CGROUP_DEVICE;
	if (syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof(attr)) < 0)
		return false;
	return attr.query.prog_cnt > 0;
}

/* Whether the kernel enforces device rules on the container: one of the
 * directories has the v1 devices controller's files, or (v2) a BPF
 * device program. */
static bool cg_has_devices(const struct kiln_cgroup *cg)
{
	if (cg->v2)
		return cg->n_dirs == 1 && v2_has_device_program(cg->dirs[0]);
	for (size_t i = 0; i < cg->n_dirs; i++) {
		_cleanup_free_ char *list = kiln_path_join(cg->dirs[i], "devices.list");
		if (access(list, F_OK) == 0)
			return true;
	}
	return false;
}

static void cg_add_dir(struct kiln_cgroup *cg, char *dir)
{
	cg->dirs = kiln_xrealloc(cg->dirs, (cg->n_dirs + 1) * sizeof(*cg->dirs));
	cg->dirs[cg->n_dirs++] = dir;
}

/* Is name (comma-separated list) holding token? */
static bool list_has(const char *list, const char *token)
{
	size_t tl = strlen(token);

	for (const char *p = list; p && *p;) {
		const char *end = strchrnul(p, ',');
		if ((size_t)(end - p) == tl && memcmp(p, token, tl) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

static int check_name(const char *what, const char *s, bool allow_slash, struct kiln_error *err)
{
	if (!*s || strlen(s) > 1024)
		return kiln_error_set(err, "cgroup %s \"%s\": empty or too long", what, s);
	for (const char *p = s; *p; p++) {
		if (*p == '/' && allow_slash)
			continue;
		if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return kiln_error_set(err, "cgroup %s \"%s\": character '%c' not allowed",
					      what, s, *p);
	}
	/* No "." or ".." component. */
	for (const char *p = s; *p;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return kiln_error_set(err, "cgroup %s \"%s\": \".\" or \"..\" component",
					      what, s);
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* Set by kiln_cgroup_set_v2_mount (the caller's choice, never read from
 * the environment here). */
static char *v2_mount;

void kiln_cgroup_set_v2_mount(const char *path)
{
	free(v2_mount);
	v2_mount = path && *path ? kiln_xstrdup(path) : NULL;
}

/* The v2 root when the unified layout is in use, else NULL. */
static const char *v2_root(void)
{
	struct statfs st;

	if (v2_mount)
		return v2_mount;
	if (statfs(CGROUP_ROOT, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
		return CGROUP_ROOT;
	return NULL;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

struct v1_hierarchy {
	char *mountpoint;
	unsigned ctls;
};

/* The v1 hierarchies holding the controllers in want (one per mount). */
static int v1_hierarchies(unsigned want, struct v1_hierarchy *h, size_t *n, struct kiln_error *err)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	unsigned found = 0;

	*n = 0;
	if (!f)
		return kiln_error_errno(err, errno, "open /proc/self/mountinfo");
	while (getline(&line, &cap, f) > 0 && found != want) {
		/* id parent maj:min root mountpoint opts [optional…] - fstype source superopts */
		char *fields[5], *save = NULL, *tok, *dash;
		int nf = 0;
		unsigned ctls = 0;

		line[strcspn(line, "\n")] = '\0';
		dash = strstr(line, " - ");
		if (!dash)
			continue;
		*dash = '\0';
		char *fstype = strtok_r(dash + 3, " ", &save);
		strtok_r(NULL, " ", &save);
		char *superopts = strtok_r(NULL, " ", &save);
		if (!fstype || !superopts || strcmp(fstype, "cgroup") != 0)
			continue;
		for (size_t i = 0; i < KILN_ARRAY_SIZE(ctl_names); i++)
			if ((want & ~found & (1u << i)) && list_has(superopts, ctl_names[i]))
				ctls |= 1u << i;
		if (!ctls)
			continue;
		save = NULL;
		for (tok = strtok_r(line, " ", &save); tok && nf < 5; tok = strtok_r(NULL, " ", &save))
			fields[nf++] = tok;
		if (nf < 5)
			continue;
		unescape_octal(fields[4]);
		h[*n].mountpoint = kiln_xstrdup(fields[4]);
		h[*n].ctls = ctls;
		(*n)++;
		found |= ctls;
	}
	if (found != want) {
		for (size_t i = 0; i < KILN_ARRAY_SIZE(ctl_names); i++)
			if ((want & ~found) & (1u << i)) {
				for (size_t j = 0; j < *n; j++)
					free(h[j].mountpoint);
				*n = 0;
				return kiln_error_set(err, "no cgroup v1 hierarchy mounted for controller %s",
						      ctl_names[i]);
			}
	}
	return 0;
}

/* The container's directory in a v1 hierarchy: below the root of the
 * mount, whoever the caller is, so that every kiln process finds it. */
static char *v1_dir(const struct v1_hierarchy *h, const char *parent, const char *id)
{
	while (*parent == '/')
		parent++;
	return kiln_xasprintf("%s%s%s/%s", h->mountpoint, *parent ? "/" : "", parent, id);
}

/* Write value to dir/name. */
static int write_file(const char *dir, const char *name, const char *value, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_path_join(dir, name);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(value);
	ssize_t w;

	if (fd < 0)
		return kiln_error_errno(err, errno, "open %s", path);
	w = write(fd, value, len);
	if (w < 0)
		return kiln_error_errno(err, errno, "write \"%s\" to %s", value, path);
	if ((size_t)w != len)
		return kiln_error_set(err, "write \"%s\" to %s: short write", value, path);
	return 0;
}

static int write_int(const char *dir, const char *name, int64_t v, struct kiln_error *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return write_file(dir, name, buf, err);
}

static int v1_write_devices(const char *dir, const struct kiln_cgroup_limits *l, struct kiln_error *err)
{
	for (size_t i = 0; i < l->n_devices; i++) {
		const struct kiln_cgroup_device_rule *r = &l->devices[i];
		char rule[96], maj[24], min[24];

		if (r->major < 0)
			strcpy(maj, "*");
		else
			snprintf(maj, sizeof(maj), "%" PRId64, r->major);
		if (r->minor < 0)
			strcpy(min, "*");
		else
			snprintf(min, sizeof(min), "%" PRId64, r->minor);
		if (r->type == 'a')
			snprintf(rule, sizeof(rule), "a");
		else
			snprintf(rule, sizeof(rule), "%c %s:%s %s", r->type, maj, min,
				 r->access[0] ? r->access : "rwm");
		if (write_file(dir, r->allow ? "devices.allow" : "devices.deny", rule, err) < 0)
			return -1;
	}
	return 0;
}

static int v1_write_limits(const char *dir, unsigned ctls, const struct kiln_cgroup_limits *l,
			   struct kiln_error *err)
{
	if (ctls & CTL_MEMORY) {
		if (l->memory >= 0 && write_int(dir, "memory.limit_in_bytes", l->memory, err) < 0)
			return -1;
		if (l->memory_swap >= 0) {
			/* memsw exists only with swap accounting; without it there is
			 * no swap to limit. */
			_cleanup_free_ char *p = kiln_path_join(dir, "memory.memsw.limit_in_bytes");
			if (access(p, F_OK) == 0 &&
			    write_int(dir, "memory.memsw.limit_in_bytes", l->memory_swap, err) < 0)
				return -1;
		}
	}
	if ((ctls & CTL_PIDS) && l->pids > 0 && write_int(dir, "pids.max", l->pids, err) < 0)
		return -1;
	if (ctls & CTL_CPU) {
		if (l->cpu_period > 0 &&
		    write_int(dir, "cpu.cfs_period_us", (int64_t)l->cpu_period, err) < 0)
			return -1;
		if (l->cpu_quota > 0 && write_int(dir, "cpu.cfs_quota_us", l->cpu_quota, err) < 0)
			return -1;
		if (l->cpu_shares > 0 && write_int(dir, "cpu.shares", (int64_t)l->cpu_shares, err) < 0)
			return -1;
	}
	if ((ctls & CTL_DEVICES) && v1_write_devices(dir, l, err) < 0)
		return -1;
	return 0;
}

static unsigned wanted_ctls(const struct kiln_cgroup_limits *l)
{
	unsigned want = CTL_MEMORY | CTL_PIDS;

	if (l && (l->cpu_quota > 0 || l->cpu_period > 0 || l->cpu_shares > 0))
		want |= CTL_CPU;
	if (l && l->n_devices > 0)
		want |= CTL_DEVICES;
	return want;
}

/* Make sure the v2 controllers in want are enabled for the children of
 * every level from root down to dir's parent. */
static int v2_enable(const char *root, const char *rel_parent, unsigned want, struct kiln_error *err)
{
	_cleanup_free_ char *level = kiln_xstrdup(root);
	const char *p = rel_parent;

	for (;;) {
		_cleanup_free_ char *ctlfile = kiln_path_join(level, "cgroup.controllers");
		_cleanup_free_ char *subfile = kiln_path_join(level, "cgroup.subtree_control");
		_cleanup_free_ char *avail = kiln_file_read(ctlfile, 4096, NULL, err);
		_cleanup_free_ char *enabled = NULL;

		if (!avail)
			return -1;
		enabled = kiln_file_read(subfile, 4096, NULL, err);
		if (!enabled)
			return -1;
		avail[strcspn(avail, "\n")] = '\0';
		enabled[strcspn(enabled, "\n")] = '\0';
		for (char *c = avail; *c; c++)
			if (*c == ' ')
				*c = ',';
		for (char *c = enabled; *c; c++)
			if (*c == ' ')
				*c = ',';
		for (size_t i = 0; i < KILN_ARRAY_SIZE(ctl_names); i++) {
			char add[32];
			if (!(want & (1u << i)) || (1u << i) == CTL_DEVICES)
				continue;
			if (!list_has(avail, ctl_names[i]))
				return kiln_error_set(err, "cgroup v2 %s: controller %s not available",
						      level, ctl_names[i]);
			if (list_has(enabled, ctl_names[i]))
				continue;
			snprintf(add, sizeof(add), "+%s", ctl_names[i]);
			if (write_file(level, "cgroup.subtree_control", add, err) < 0)
				return -1;
		}
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchrnul(p, '/');
		char *next = kiln_xasprintf("%s/%.*s", level, (int)(end - p), p);
		free(level);
		level = next;
		if (mkdir(level, 0755) < 0 && errno != EEXIST)
			return kiln_error_errno(err, errno, "create cgroup %s", level);
		p = end;
	}
	return 0;
}

/* ---- v2 device rules: a BPF_PROG_TYPE_CGROUP_DEVICE program ---- */

struct bpf_prog_buf {
	struct bpf_insn *insns;
	size_t n, cap;
};

static size_t bpf_emit(struct bpf_prog_buf *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
		       int32_t imm)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 128;
		p->insns = kiln_xrealloc(p->insns, p->cap * sizeof(*p->insns));
	}
	p->insns[p->n] = (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src, .off = off,
					    .imm = imm };
	return p->n++;
}

static uint32_t devcg_access(const char *access)
{
	uint32_t a = 0;

	if (strchr(access, 'm'))
		a |= BPF_DEVCG_ACC_MKNOD;
	if (strchr(access, 'r'))
		a |= BPF_DEVCG_ACC_READ;
	if (strchr(access, 'w'))
		a |= BPF_DEVCG_ACC_WRITE;
	return a;
}

/* The rules as v1 applies them: the last rule that matches decides
 * (an allow rule matches when it grants every access asked for, a deny
 * rule when it takes any of them); none matching: allowed, as a v1 cgroup
 * starts ("a *:* rwm").  So the program tries them from the last:
 *   r2 = type, r3 = access, r4 = major, r5 = minor
 *   per rule: the tests, each jumping to the next rule; r0 = verdict; exit */
static int v2_build_device_program(const struct kiln_cgroup_limits *l, struct bpf_prog_buf *p)
{
	enum { R0, R1, R2, R3, R4, R5 };
	const uint8_t ldxw = BPF_LDX | BPF_MEM | BPF_W;

	bpf_emit(p, ldxw, R2, R1, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
	bpf_emit(p, BPF_ALU64 | BPF_AND | BPF_K, R2, 0, 0, 0xffff);
	bpf_emit(p, ldxw, R3, R1, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
	bpf_emit(p, BPF_ALU64 | BPF_RSH | BPF_K, R3, 0, 0, 16);
	bpf_emit(p, ldxw, R4, R1, offsetof(struct bpf_cgroup_dev_ctx, major), 0);
	bpf_emit(p, ldxw, R5, R1, offsetof(struct bpf_cgroup_dev_ctx, minor), 0);
	for (size_t i = l->n_devices; i-- > 0;) {
		const struct kiln_cgroup_device_rule *r = &l->devices[i];
		uint32_t acc = devcg_access(r->access[0] ? r->access : "rwm");
		size_t skips[8], n_skips = 0;

		if (r->type != 'a')
			skips[n_skips++] = bpf_emit(p, BPF_JMP32 | BPF_JNE | BPF_K, R2, 0, 0,
						    r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
		if (r->major >= 0)
			skips[n_skips++] = bpf_emit(p, BPF_JMP32 | BPF_JNE | BPF_K, R4, 0, 0,
						    (int32_t)(uint32_t)r->major);
		if (r->minor >= 0)
			skips[n_skips++] = bpf_emit(p, BPF_JMP32 | BPF_JNE | BPF_K, R5, 0, 0,
						    (int32_t)(uint32_t)r->minor);
		bpf_emit(p, BPF_ALU64 | BPF_MOV | BPF_X, R1, R3, 0, 0);
		if (r->allow) {
			/* Every access asked for is granted: access & ~acc == 0. */
			bpf_emit(p, BPF_ALU64 | BPF_AND | BPF_K, R1, 0, 0, (int32_t)(~acc & 0x7));
			skips[n_skips++] = bpf_emit(p, BPF_JMP32 | BPF_JNE | BPF_K, R1, 0, 0, 0);
		} else {
			/* Any access asked for is taken: access & acc != 0. */
			bpf_emit(p, BPF_ALU64 | BPF_AND | BPF_K, R1, 0, 0, (int32_t)acc);
			skips[n_skips++] = bpf_emit(p, BPF_JMP32 | BPF_JEQ | BPF_K, R1, 0, 0, 0);
		}
		bpf_emit(p, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, r->allow ? 1 : 0);
		size_t end = bpf_emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0) + 1;
		for (size_t k = 0; k < n_skips; k++)
			p->insns[skips[k]].off = (int16_t)(end - skips[k] - 1);
		if (p->n > 30000)
			return -1;
	}
	bpf_emit(p, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 1);
	bpf_emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return 0;
}

/* Load the device program for l and attach it to dir. */
static int v2_attach_devices(const char *dir, const struct kiln_cgroup_limits *l, struct kiln_error *err)
{
	struct bpf_prog_buf p = { 0 };
	union bpf_attr attr;
	char log[4096] = "";
	int prog, rc = -1;

	if (v2_build_device_program(l, &p) < 0) {
		free(p.insns);
		return kiln_error_set(err, "cgroup %s: too many device rules", dir);
	}
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)p.insns;
	attr.insn_cnt = (uint32_t)p.n;
	attr.license = (uint64_t)(uintptr_t)"Apache";
	prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (prog < 0 && errno == EINVAL) {
		/* Again, for the verifier's reason (a log that does not fit
		 * would make even a good program fail: only on failure). */
		attr.log_buf = (uint64_t)(uintptr_t)log;
		attr.log_size = sizeof(log);
		attr.log_level = 1;
		prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	}
	free(p.insns);
	if (prog < 0) {
		log[sizeof(log) - 1] = '\0';
		return kiln_error_errno(err, errno, "cgroup %s: load the device program%s%.200s", dir,
					log[0] ? ": " : "", log);
	}
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		kiln_error_errno(err, errno, "open %s", dir);
		goto out;
	}
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)dirfd;
	attr.attach_bpf_fd = (uint32_t)prog;
	attr.attach_type = BPF_CGROUP_DEVICE;
	if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) < 0) {
		kiln_error_errno(err, errno, "cgroup %s: attach the device program", dir);
		goto out;
	}
	rc = 0; /* the cgroup holds the program now */
out:
	close(prog);
	return rc;
}

static int v2_write_limits(const char *dir, const struct kiln_cgroup_limits *l, struct kiln_error *err)
{
	if (l->memory >= 0 && write_int(dir, "memory.max", l->memory, err) < 0)
		return -1;
	if (l->memory_swap >= 0) {
		int64_t swap = l->memory >= 0 ? l->memory_swap - l->memory : l->memory_swap;
		if (swap < 0)
			return kiln_error_set(err, "memory swap limit %" PRId64 " below memory limit %" PRId64,
					      l->memory_swap, l->memory);
		/* Without swap accounting there is no swap to limit. */
		_cleanup_free_ char *p = kiln_path_join(dir, "memory.swap.max");
		if (access(p, F_OK) == 0 && write_int(dir, "memory.swap.max", swap, err) < 0)
			return -1;
	}
	if (l->pids > 0 && write_int(dir, "pids.max", l->pids, err) < 0)
		return -1;
	if (l->cpu_quota > 0 || l->cpu_period > 0) {
		char buf[64];
		uint64_t period = l->cpu_period ? l->cpu_period : 100000;
		if (l->cpu_quota > 0)
			snprintf(buf, sizeof(buf), "%" PRId64 " %" PRIu64, l->cpu_quota, period);
		else
			snprintf(buf, sizeof(buf), "max %" PRIu64, period);
		if (write_file(dir, "cpu.max", buf, err) < 0)
			return -1;
	}
	if (l->cpu_shares > 0) {
		/* The conversion runc and crun use: shares 2..262144 → weight 1..10000. */
		uint64_t s = l->cpu_shares < 2 ? 2 : l->cpu_shares > 262144 ? 262144 : l->cpu_shares;
		if (write_int(dir, "cpu.weight", (int64_t)(1 + ((s - 2) * 9999) / 262142), err) < 0)
			return -1;
	}
	if (l->n_devices > 0 && v2_attach_devices(dir, l, err) < 0)
		return -1;
	return 0;
}

static int find_dirs(struct kiln_cgroup *cg, const char *parent, const char *id, unsigned want,
		     unsigned *ctls, struct kiln_error *err)
{
	const char *root;

	if (!parent)
		parent = "kiln";
	if (check_name("id", id, false, err) < 0 ||
	    (*parent && check_name("parent", parent, true, err) < 0))
		return -1;
	root = v2_root();
	*cg = (struct kiln_cgroup)KILN_CGROUP_INIT;
	if (root) {
		const char *rel = parent;
		while (*rel == '/')
			rel++;
		cg->v2 = true;
		cg_add_dir(cg, kiln_xasprintf("%s%s%s/%s", root, *rel ? "/" : "", rel, id));
		ctls[0] = want;
		return 0;
	}
	struct v1_hierarchy h[KILN_ARRAY_SIZE(ctl_names)];
	size_t n;
	if (v1_hierarchies(want, h, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		ctls[cg->n_dirs] = h[i].ctls;
		cg_add_dir(cg, v1_dir(&h[i], parent, id));
		free(h[i].mountpoint);
	}
	return 0;
}

static int remove_tree(const char *dir, struct kiln_error *err);

int kiln_cgroup_create(struct kiln_cgroup *cg, const char *parent, const char *id,
		       const struct kiln_cgroup_limits *limits, struct kiln_error *err)
{
	static const struct kiln_cgroup_limits none = KILN_CGROUP_LIMITS_INIT;
	unsigned ctls[KILN_ARRAY_SIZE(ctl_names)];
	unsigned want = wanted_ctls(limits);
	size_t made = 0;

	if (!limits)
		limits = &none;
	if (find_dirs(cg, parent, id, want, ctls, err) < 0)
		return -1;
	if (cg->v2) {
		/* Only the controllers a limit needs must be available. */
		unsigned need = 0;
		if (limits->memory >= 0 || limits->memory_swap >= 0)
			need |= CTL_MEMORY;
		if (limits->pids > 0)
			need |= CTL_PIDS;
		if (want & CTL_CPU)
			need |= CTL_CPU;
		const char *root = v2_root();
		_cleanup_free_ char *rel = kiln_xstrdup(cg->dirs[0] + strlen(root));
		*strrchr(rel, '/') = '\0';
		if (v2_enable(root, rel, need, err) < 0)
			goto fail;
	}
	for (; made < cg->n_dirs; made++) {
		const char *dir = cg->dirs[made];
		_cleanup_free_ char *up = kiln_path_dirname(dir);
		if (kiln_mkdir_p(up, 0755, err) < 0)
			goto fail;
		if (mkdir(dir, 0755) < 0) {
			if (errno == EEXIST)
				kiln_error_set(err, "cgroup %s exists already (a container with id \"%s\"?)",
					       dir, id);
			else
				kiln_error_errno(err, errno, "create cgroup %s", dir);
			goto fail;
		}
	}
	for (size_t i = 0; i < cg->n_dirs; i++) {
		int rc = cg->v2 ? v2_write_limits(cg->dirs[i], limits, err)
				: v1_write_limits(cg->dirs[i], ctls[i], limits, err);
		if (rc < 0)
			goto fail;
	}
	cg->devices = cg_has_devices(cg);
	return 0;
fail:
	for (size_t i = 0; i < made; i++)
		rmdir(cg->dirs[i]);
	kiln_cgroup_release(cg);
	return -1;
}

int kiln_cgroup_open(struct kiln_cgroup *cg, const char *parent, const char *id,
		     struct kiln_error *err)
{
	unsigned ctls[KILN_ARRAY_SIZE(ctl_names)];
	struct kiln_cgroup all;
	size_t keep = 0;

	/* Every hierarchy the container might use; keep those where it is. */
	if (find_dirs(&all, parent, id, CTL_MEMORY | CTL_PIDS, ctls, err) < 0)
		return -1;
	*cg = (struct kiln_cgroup)KILN_CGROUP_INIT;
	cg->v2 = all.v2;
	if (!all.v2) {
		struct kiln_cgroup more;
		for (unsigned c = CTL_CPU; c <= CTL_DEVICES; c <<= 1) {
			if (find_dirs(&more, parent, id, c, ctls, KILN_ERROR_IGNORE) == 0) {
				for (size_t i = 0; i < more.n_dirs; i++)
					cg_add_dir(&all, more.dirs[i]);
				free(more.dirs);
			}
		}
	}
	for (size_t i = 0; i < all.n_dirs; i++) {
		bool dup = false;
		for (size_t j = 0; j < keep; j++)
			dup |= strcmp(cg->dirs[j], all.dirs[i]) == 0;
		if (!dup && access(all.dirs[i], F_OK) == 0) {
			cg_add_dir(cg, all.dirs[i]);
			keep++;
		} else {
			free(all.dirs[i]);
		}
	}
	free(all.dirs);
	if (cg->n_dirs == 0)
		return kiln_error_set(err, "cgroup of container \"%s\": not found", id);
	cg->devices = cg_has_devices(cg);
	return 0;
}

int kiln_cgroup_open_procs(const struct kiln_cgroup *cg, int *fds, struct kiln_error *err)
{
	for (size_t i = 0; i < cg->n_dirs; i++) {
		_cleanup_free_ char *path = kiln_path_join(cg->dirs[i], "cgroup.procs");
		fds[i] = open(path, O_WRONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int e = errno;
			while (i > 0)
				close(fds[--i]);
			return kiln_error_errno(err, e, "open %s", path);
		}
	}
	return 0;
}

int kiln_cgroup_join_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (write(fds[i], "0", 1) != 1)
			return errno ? errno : EIO;
	return 0;
}

int kiln_cgroup_attach(const struct kiln_cgroup *cg, pid_t pid, struct kiln_error *err)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; i < cg->n_dirs; i++)
		if (write_file(cg->dirs[i], "cgroup.procs", buf, err) < 0)
			return -1;
	return 0;
}

/* Append the pids in dir/cgroup.procs and below to *pids. */
static int collect_pids(const char *dir, pid_t **pids, size_t *n, size_t *alloc, struct kiln_error *err)
{
	_cleanup_free_ char *procs = kiln_path_join(dir, "cgroup.procs");
	_cleanup_free_ char *text = kiln_file_read(procs, 64 << 20, NULL, err);
	DIR *d;
	struct dirent *e;

	if (!text)
		return -1;
	for (char *p = text; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (v > 0) {
			kiln_xgrow(pids, alloc, *n + 1, sizeof(**pids));
			(*pids)[(*n)++] = (pid_t)v;
		}
		p = end;
		while (*p == '\n')
			p++;
	}
	d = opendir(dir);
	if (!d)
		return kiln_error_errno(err, errno, "open %s", dir);
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *sub = kiln_path_join(dir, e->d_name);
		if (collect_pids(sub, pids, n, alloc, err) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

pid_t *kiln_cgroup_pids(const struct kiln_cgroup *cg, size_t *n, struct kiln_error *err)
{
	pid_t *pids = NULL;
	size_t alloc = 0;

	*n = 0;
	if (cg->n_dirs == 0) {
		kiln_error_set(err, "cgroup: no directory");
		return NULL;
	}
	if (collect_pids(cg->dirs[0], &pids, n, &alloc, err) < 0) {
		free(pids);
		return NULL;
	}
	if (!pids)
		pids = kiln_xcalloc(1, sizeof(*pids));
	return pids;
}

/* Kill every process in dir (not below), returns how many were seen. */
static size_t kill_procs(const char *dir)
{
	_cleanup_free_ char *procs = kiln_path_join(dir, "cgroup.procs");
	_cleanup_free_ char *text = kiln_file_read(procs, 64 << 20, NULL, NULL);
	size_t seen = 0;

	if (!text)
		return 0;
	for (char *p = text; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (v > 0) {
			kill((pid_t)v, SIGKILL);
			seen++;
		}
		p = end;
		while (*p == '\n')
			p++;
	}
	return seen;
}

/* Remove dir's sub-cgroups, kill its processes and remove it. */
static int remove_tree(const char *dir, struct kiln_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		return kiln_error_errno(err, errno, "open cgroup %s", dir);
	}
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *sub = kiln_path_join(dir, e->d_name);
		if (remove_tree(sub, err) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	/* Usually the cgroup is empty already and the first rmdir works.  Else
	 * kill what is there and retry until the processes are gone: SIGKILLed
	 * tasks leave the cgroup once they have exited (about 10 s at most). */
	for (int attempt = 0;; attempt++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY && errno != ENOTEMPTY)
			return kiln_error_errno(err, errno, "remove cgroup %s", dir);
		if (attempt >= 10000)
			return kiln_error_errno(err, EBUSY, "remove cgroup %s (processes do not exit)",
						dir);
		if (attempt == 0) {
			/* v2 kills the whole subtree in one write (Linux 5.14+). */
			_cleanup_free_ char *k = kiln_path_join(dir, "cgroup.kill");
			if (access(k, F_OK) == 0)
				write_file(dir, "cgroup.kill", "1", NULL);
		}
		kill_procs(dir);
		if (attempt > 0) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
}

int kiln_cgroup_destroy(const char *parent, const char *id, struct kiln_error *err)
{
	struct kiln_cgroup cg;
	unsigned ctls[KILN_ARRAY_SIZE(ctl_names)];
	int rc = 0;

	if (find_dirs(&cg, parent, id, CTL_MEMORY | CTL_PIDS, ctls, err) < 0)
		return -1;
	if (!cg.v2) {
		/* Optional hierarchies: may not be mounted at all. */
		struct kiln_cgroup more;
		for (unsigned c = CTL_CPU; c <= CTL_DEVICES; c <<= 1)
			if (find_dirs(&more, parent, id, c, ctls, KILN_ERROR_IGNORE) == 0) {
				for (size_t i = 0; i < more.n_dirs; i++)
					cg_add_dir(&cg, more.dirs[i]);
				free(more.dirs);
			}
	}
	/* pids first: once its processes are gone the others empty too. */
	for (size_t i = 0; i < cg.n_dirs; i++)
		if (remove_tree(cg.dirs[i], err) < 0)
			rc = -1;
	kiln_cgroup_release(&cg);
	return rc;
}
