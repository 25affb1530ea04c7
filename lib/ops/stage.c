/* stage.c - a command in the sandbox over the image so far, its changes a
 * layer (stage.h, docs/building.md). */
#include "stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bundle.h"
#include "fsutil.h"
#include "layer.h"
#include "net.h"
#include "rootfs.h"
#include "runtime.h"

/* A runaway step (a fork bomb) stops at this many tasks. */
#define STAGE_PIDS 8192
/* Output lines longer than this are passed on in pieces. */
#define STAGE_LINE_MAX 4096
/* In a stage's directory: flocked by the build that owns it. */
#define STAGE_OWNER_LOCK "owner.lock"

struct kiln_stage {
	char *dir;                  /* the scratch directory */
	int owner_fd;               /* DIR/owner.lock, flocked while the stage lives */
	char **layers; size_t n_layers, alloc_layers; /* unpacked, bottom first */
	unsigned runs;
};

struct kiln_stage *kiln_stage_new(const char *tmp_dir, struct kiln_error *err)
{
	struct kiln_stage *s;
	_cleanup_free_ char *tmpl = kiln_xasprintf("%s/kiln-stage.XXXXXX", tmp_dir && *tmp_dir ? tmp_dir : "/tmp");

	/* overlayfs takes its paths in a comma- and colon-separated option. */
	if (strpbrk(tmpl, ":,\\")) {
		kiln_error_set(err, "the temporary directory '%s' has ':', ',' or '\\', which overlayfs options "
			       "cannot hold: set TMPDIR to another", tmp_dir);
		return NULL;
	}
	if (!mkdtemp(tmpl)) {
		kiln_error_errno(err, errno, "create a scratch directory under '%s'", tmp_dir ? tmp_dir : "/tmp");
		return NULL;
	}
	s = kiln_xcalloc(1, sizeof(*s));
	s->dir = kiln_steal_pointer(&tmpl);
	/* Held until kiln_stage_free, or until the process dies: a stage
	 * whose lock can be taken is left over (kiln_stage_sweep). */
	_cleanup_free_ char *lock = kiln_path_join(s->dir, STAGE_OWNER_LOCK);
	s->owner_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->owner_fd < 0 || flock(s->owner_fd, LOCK_EX | LOCK_NB) < 0) {
		kiln_error_errno(err, errno, "lock '%s'", lock);
		kiln_stage_free(s);
		return NULL;
	}
	return s;
}

/* The mount points at or below dir in our mount namespace, deepest last
 * as /proc/self/mountinfo lists them (its octal escapes decoded). */
static char **mounts_below(const char *dir, size_t *n)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, alloc = 0, dlen = strlen(dir);
	char **out = NULL;

	*n = 0;
	while (f && getline(&line, &cap, f) > 0) {
		char *field = line, *mp;
		for (int i = 0; i < 4 && field; i++)
			field = strchr(field, ' ') ? strchr(field, ' ') + 1 : NULL;
		if (!field)
			continue;
		mp = kiln_xstrndup(field, strcspn(field, " "));
		char *w = mp;
		for (const char *r = mp; *r; r++) {
			if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
			    r[3] <= '7') {
				*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
				r += 3;
			} else {
				*w++ = *r;
			}
		}
		*w = '\0';
		if (strncmp(mp, dir, dlen) == 0 && (mp[dlen] == '/' || mp[dlen] == '\0')) {
			kiln_xgrow(&out, &alloc, *n + 1, sizeof(*out));
			out[(*n)++] = mp;
		} else {
			free(mp);
		}
	}
	return out;
}

/* Stage leaf cgroups are named build-PID-…: PID's leaf when PID is gone. */
static bool stale_cgroup_leaf(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, "build-", 6) != 0)
		return false;
	errno = 0;
	pid = strtol(name + 6, &end, 10);
	if (errno || end == name + 6 || *end != '-' || pid <= 0 || pid > INT32_MAX)
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* The stale step leaves of one cgroup directory (parent's, in v2 or one
 * v1 hierarchy). */
static void sweep_cgroups_in(const char *base, const char *parent)
{
	DIR *cg = opendir(base);
	struct dirent *leaf;

	while (cg && (leaf = readdir(cg))) {
		if (!stale_cgroup_leaf(leaf->d_name))
			continue;
		struct kiln_runtime_options ro = { .id = leaf->d_name, .cgroup_parent = parent };
		kiln_runtime_cleanup(&ro, KILN_ERROR_IGNORE);
	}
	if (cg)
		closedir(cg);
}

void kiln_stage_sweep(const char *tmp_dir, const char *cgroup_parent)
{
	/* Absolute and resolved, as /proc/self/mountinfo names mount points. */
	_cleanup_free_ char *tmp = realpath(tmp_dir && *tmp_dir ? tmp_dir : "/tmp", NULL);
	const char *parent = cgroup_parent ? cgroup_parent : "kiln";
	DIR *d = tmp ? opendir(tmp) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "kiln-stage.", 11) != 0)
			continue;
		_cleanup_free_ char *dir = kiln_path_join(tmp, de->d_name);
		_cleanup_free_ char *lock = kiln_path_join(dir, STAGE_OWNER_LOCK);
		_cleanup_close_ int fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		size_t n;
		char **mounts;

		/* No lock file: not a stage of this kiln, or one still being
		 * made; a held lock: a live build's. */
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		mounts = mounts_below(dir, &n);
		for (size_t i = n; i > 0; i--) {
			kiln_rootfs_unmount(mounts[i - 1], KILN_ERROR_IGNORE);
			free(mounts[i - 1]);
		}
		free(mounts);
		kiln_rootfs_remove(dir, KILN_ERROR_IGNORE);
	}
	if (d)
		closedir(d);
	/* The leaves of steps whose kiln died: their processes died with it
	 * (die_with_parent), the cgroups stay until removed: v2's, then each
	 * v1 hierarchy's. */
	_cleanup_free_ char *v2 = kiln_xasprintf("/sys/fs/cgroup/%s", parent);
	sweep_cgroups_in(v2, parent);
	d = opendir("/sys/fs/cgroup");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *v1 = kiln_xasprintf("/sys/fs/cgroup/%s/%s", de->d_name, parent);
		sweep_cgroups_in(v1, parent);
	}
	if (d)
		closedir(d);
}

void kiln_stage_free(struct kiln_stage *s)
{
	if (!s)
		return;
	if (s->owner_fd >= 0)
		close(s->owner_fd);
	/* kiln_stage_run unmounts what it mounted; a failure half-way may
	 * have left its rootfs mounted: kiln_rootfs_remove never crosses into
	 * a mount, so detach it first. */
	for (unsigned i = 1; i <= s->runs; i++) {
		_cleanup_free_ char *rootfs = kiln_xasprintf("%s/run-%u/rootfs", s->dir, i);
		if (kiln_rootfs_is_mounted(rootfs) == 1)
			kiln_rootfs_unmount(rootfs, KILN_ERROR_IGNORE);
	}
	kiln_rootfs_remove(s->dir, KILN_ERROR_IGNORE);
	kiln_strv_free(s->layers, s->n_layers);
	free(s->dir);
	free(s);
}

int kiln_stage_add_layer(struct kiln_stage *s, const void *data, size_t len, struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_xasprintf("%s/layer-%zu", s->dir, s->n_layers);

	if (mkdir(dir, 0755) < 0)
		return kiln_error_errno(err, errno, "create '%s'", dir);
	if (kiln_rootfs_unpack(data, len, dir, err) < 0)
		return kiln_error_prefix(err, "unpack layer %zu", s->n_layers);
	kiln_xgrow(&s->layers, &s->alloc_layers, s->n_layers + 1, sizeof(*s->layers));
	s->layers[s->n_layers++] = kiln_steal_pointer(&dir);
	return 0;
}

void kiln_stage_result_release(struct kiln_stage_result *r)
{
	free(r->tail);
	kiln_buf_release(&r->tar);
	memset(r, 0, sizeof(*r));
}

/* ---- output ---- */

struct output {
	const struct kiln_stage_run_options *o;
	struct kiln_buf line;
	char *tail[KILN_STAGE_TAIL_LINES];
	size_t n_lines;
};

static void output_line(struct output *out)
{
	char **slot = &out->tail[out->n_lines++ % KILN_STAGE_TAIL_LINES];

	if (out->o->output)
		out->o->output(out->o->output_ctx, out->line.data ? out->line.data : "");
	free(*slot);
	*slot = kiln_xstrdup(out->line.data ? out->line.data : "");
	kiln_buf_reset(&out->line);
}

static void output_bytes(struct output *out, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			output_line(out);
			continue;
		}
		kiln_buf_addch(&out->line, p[i]);
		if (out->line.len >= STAGE_LINE_MAX)
			output_line(out);
	}
}

static char *output_tail(struct output *out)
{
	struct kiln_buf t = KILN_BUF_INIT;
	size_t n = out->n_lines < KILN_STAGE_TAIL_LINES ? out->n_lines : KILN_STAGE_TAIL_LINES;

	for (size_t i = out->n_lines - n; i < out->n_lines; i++)
		kiln_buf_printf(&t, "%s%s", t.len ? "\n" : "", out->tail[i % KILN_STAGE_TAIL_LINES]);
	return t.len ? kiln_buf_detach(&t) : kiln_xstrdup("");
}

/* ---- capture: the upper directory as a layer ---- */

struct capture {
	struct kiln_layer_tree *tree;
	int64_t epoch;
	char *const *leave_out; size_t n_leave_out;
	struct inode { dev_t dev; ino_t ino; char *path; } *inodes;
	size_t n_inodes, alloc_inodes;
};

/* Files that differ from build to build whatever the step does, and that
 * nothing needs (docs/building.md): left out of the layer. */
static bool dropped(const char *path)
{
	static const char *const files[] = {
		"var/log/dpkg.log", "var/log/alternatives.log", "var/cache/ldconfig/aux-cache",
	};
	const char *slash = strrchr(path, '/');

	for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++)
		if (strcmp(path, files[i]) == 0)
			return true;
	if (kiln_str_has_prefix(path, "var/log/apt/"))
		return true;
	return slash && (size_t)(slash - path) == strlen("var/cache/debconf") &&
	       kiln_str_has_prefix(path, "var/cache/debconf/") && kiln_str_has_suffix(path, "-old");
}

/* Does the image path (relative, "etc/ssh/x") match a leave_out pattern
 * ("/etc/ssh/ssh_host_*")? */
static bool left_out(const struct capture *c, const char *path)
{
	for (size_t i = 0; i < c->n_leave_out; i++)
		if (fnmatch(c->leave_out[i] + 1, path, FNM_PATHNAME) == 0)
			return true;
	return false;
}

/* Does the symlink at `path` lead into a left-out path?  Its target is
 * resolved by name only (no lookup: the stage is gone by then), relative
 * to its directory, and the result and each of its ancestors are
 * matched: a link to a file inside a left-out directory goes too.  Such a
 * link would dangle in the image, and its name often varies with what it
 * points to (openssl's hash links to a snakeoil certificate). */
static bool link_left_out(const struct capture *c, const char *path, const char *target)
{
	_cleanup_free_ char *joined = NULL, *norm = NULL;
	size_t n = 0;
	bool out = false;

	if (!c->n_leave_out)
		return false;
	if (target[0] == '/') {
		joined = kiln_xstrdup(target);
	} else {
		const char *slash = strrchr(path, '/');
		joined = kiln_xasprintf("%.*s/%s", slash ? (int)(slash - path) : 0, path, target);
	}
	norm = kiln_xmalloc(strlen(joined) + 1);
	for (char *save = NULL, *comp = strtok_r(joined, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			while (n > 0 && norm[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		if (n)
			norm[n++] = '/';
		memcpy(norm + n, comp, strlen(comp));
		n += strlen(comp);
	}
	norm[n] = '\0';
	for (size_t i = 0; i <= n && !out; i++)
		if (i == n || norm[i] == '/') {
			char saved = norm[i];
			norm[i] = '\0';
			out = i > 0 && left_out(c, norm);
			norm[i] = saved;
		}
	return out;
}

static int64_t clamp(const struct capture *c, const struct stat *st)
{
	int64_t t = st->st_mtim.tv_sec;
	return t > c->epoch ? c->epoch : t < 0 ? 0 : t;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dirfd, sorted (the order the tree sees them in does not
 * change the tar, but a fixed one keeps hard link choices stable). */
static char **list_dir(int dirfd, const char *label, size_t *n, struct kiln_error *err)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **names = NULL;
	size_t alloc = 0;
	struct dirent *de;

	*n = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		kiln_error_errno(err, errno, "read '%s'", label);
		return NULL;
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		kiln_xgrow(&names, &alloc, *n + 2, sizeof(*names));
		names[(*n)++] = kiln_xstrdup(de->d_name);
	}
	if (errno) {
		kiln_error_errno(err, errno, "read '%s'", label);
		closedir(d);
		kiln_strv_free(names, *n);
		return NULL;
	}
	closedir(d);
	if (!names)
		names = kiln_xcalloc(1, sizeof(*names));
	qsort(names, *n, sizeof(*names), name_cmp);
	return names;
}

/* vfs_cap_data (linux/capability.h): a little-endian magic word holding
 * the revision and the effective flag, then permitted and inheritable
 * words; revision 3 appends the root uid of the user namespace it is for. */
#define CAP_REVISION_MASK 0xFF000000u
#define CAP_REVISION_2 0x02000000u
#define CAP_REVISION_3 0x03000000u
#define CAP_SIZE_2 20
#define CAP_SIZE_3 24

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The file's capabilities (setcap, a postinst's `setcap cap_net_raw+ep`),
 * put on its entry as revision 2, the form OCI images carry.  Only
 * security.capability is read: trusted.overlay.* are overlayfs' own
 * (whiteouts are handled above), security.selinux and the like are the
 * host's labels, and user.* is nothing Debian's tools set. */
static int capture_capability(struct capture *c, int fd, const char *path, struct kiln_error *err)
{
	unsigned char value[CAP_SIZE_3 + 1];
	ssize_t n = fgetxattr(fd, KILN_LAYER_XATTR_CAPABILITY, value, sizeof(value));
	uint32_t magic;

	if (n < 0 && (errno == ENODATA || errno == ENOTSUP))
		return 0;
	if (n < 0 && errno == ERANGE)
		return kiln_error_set(err, "'/%s': file capabilities larger than %d bytes, not a vfs_cap_data",
				      path, CAP_SIZE_3);
	if (n < 0)
		return kiln_error_errno(err, errno, "read the capabilities of '/%s'", path);
	if (n < 4)
		return kiln_error_set(err, "'/%s': file capabilities of %zd bytes, not a vfs_cap_data", path, n);
	magic = le32(value);
	if ((magic & CAP_REVISION_MASK) == CAP_REVISION_3 && n == CAP_SIZE_3) {
		uint32_t rootuid = le32(value + CAP_SIZE_2);
		if (rootuid != 0)
			return kiln_error_set(err, "'/%s': file capabilities for the root of a user namespace "
					      "(uid %u) cannot be in a layer", path, rootuid);
		/* Meant for uid 0: the same as revision 2, which every image
		 * tool reads. */
		magic = (magic & ~CAP_REVISION_MASK) | CAP_REVISION_2;
		value[0] = (unsigned char)magic;
		value[1] = (unsigned char)(magic >> 8);
		value[2] = (unsigned char)(magic >> 16);
		value[3] = (unsigned char)(magic >> 24);
		n = CAP_SIZE_2;
	}
	if ((magic & CAP_REVISION_MASK) != CAP_REVISION_2 || n != CAP_SIZE_2)
		return kiln_error_set(err, "'/%s': file capabilities of revision %u and %zd bytes: only revision 2 "
				      "(20 bytes) and 3 (24) can be in a layer", path, magic >> 24, n);
	return kiln_layer_tree_set_xattr(c->tree, path, KILN_LAYER_XATTR_CAPABILITY, value, (size_t)n, err);
}

static int capture_file(struct capture *c, int dirfd, const char *name, const char *path,
			const struct stat *st, struct kiln_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;

	if (st->st_nlink > 1)
		for (size_t i = 0; i < c->n_inodes; i++)
			if (c->inodes[i].dev == st->st_dev && c->inodes[i].ino == st->st_ino)
				return kiln_layer_tree_put_hardlink(c->tree, path, c->inodes[i].path, 0, err);
	if (strcmp(path, "etc/machine-id") == 0)
		/* Made anew by every step that runs systemd-machine-id-setup or
		 * dbus: empty, as mmdebstrap leaves it (set at first boot). */
		return kiln_layer_tree_put_file(c->tree, path, st->st_mode, st->st_uid, st->st_gid, clamp(c, st), "",
						0, 0, err);
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_error_errno(err, errno, "open '%s'", path);
	if (st->st_size > 0) {
		data = kiln_xmalloc((size_t)st->st_size);
		while (len < (size_t)st->st_size) {
			ssize_t r = read(fd, data + len, (size_t)st->st_size - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return kiln_error_errno(err, errno, "read '%s'", path);
			if (r == 0)
				return kiln_error_set(err, "read '%s': it shrank while it was read", path);
			len += (size_t)r;
		}
	}
	if (kiln_layer_tree_put_file(c->tree, path, st->st_mode, st->st_uid, st->st_gid, clamp(c, st), data, len, 0,
				     err) < 0 ||
	    capture_capability(c, fd, path, err) < 0)
		return -1;
	if (st->st_nlink > 1) {
		kiln_xgrow(&c->inodes, &c->alloc_inodes, c->n_inodes + 1, sizeof(*c->inodes));
		c->inodes[c->n_inodes++] = (struct inode){ st->st_dev, st->st_ino, kiln_xstrdup(path) };
	}
	return 0;
}

static int capture_dir(struct capture *c, int dirfd, const char *rel, struct kiln_error *err)
{
	size_t n;
	char **names = list_dir(dirfd, *rel ? rel : "/", &n, err);
	int rc = 0;

	if (!names)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *name = names[i];
		_cleanup_free_ char *path = *rel ? kiln_xasprintf("%s/%s", rel, name) : kiln_xstrdup(name);
		struct stat st;

		if (left_out(c, path))
			continue;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = kiln_error_errno(err, errno, "stat '%s'", path);
			break;
		}
		/* A file of this name would read as a deletion in the tar. */
		if (kiln_str_has_prefix(name, ".wh.")) {
			rc = kiln_error_set(err, "'/%s': a name starting with .wh. cannot be in a layer "
					    "(OCI whiteouts use them)", path);
			break;
		}
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
			/* overlayfs' record of a deletion. */
			_cleanup_free_ char *wh = *rel ? kiln_xasprintf("%s/.wh.%s", rel, name)
						      : kiln_xasprintf(".wh.%s", name);
			rc = kiln_layer_tree_put_file(c->tree, wh, 0644, 0, 0, c->epoch, "", 0, 0, err);
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			char opaque[2];

			if (fd < 0) {
				rc = kiln_error_errno(err, errno, "open '%s'", path);
				break;
			}
			rc = kiln_layer_tree_put_dir(c->tree, path, st.st_mode, st.st_uid, st.st_gid, clamp(c, &st), 0,
						     err);
			/* A directory deleted and made again hides what was below it. */
			if (rc == 0 && fgetxattr(fd, "trusted.overlay.opaque", opaque, sizeof(opaque)) == 1 &&
			    opaque[0] == 'y') {
				_cleanup_free_ char *wh = kiln_xasprintf("%s/.wh..wh..opq", path);
				rc = kiln_layer_tree_put_file(c->tree, wh, 0644, 0, 0, c->epoch, "", 0, 0, err);
			}
			if (rc == 0)
				rc = capture_dir(c, fd, path, err);
		} else if (S_ISREG(st.st_mode)) {
			if (!dropped(path))
				rc = capture_file(c, dirfd, name, path, &st, err);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX + 1];
			ssize_t len = readlinkat(dirfd, name, target, sizeof(target) - 1);

			if (len < 0) {
				rc = kiln_error_errno(err, errno, "read the symlink '%s'", path);
				break;
			}
			target[len] = '\0';
			if (link_left_out(c, path, target))
				continue;
			rc = kiln_layer_tree_put_symlink(c->tree, path, target, st.st_uid, st.st_gid, clamp(c, &st), 0,
							 err);
		} else if (S_ISSOCK(st.st_mode)) {
			continue; /* a server's socket: nothing to keep */
		} else {
			rc = kiln_error_set(err, "'/%s': a %s cannot be in a layer", path,
					    S_ISFIFO(st.st_mode) ? "FIFO" : "device node");
		}
	}
	kiln_strv_free(names, n);
	return rc;
}

static int capture(const char *upper, const struct kiln_stage_run_options *o, struct kiln_stage_result *res,
		   struct kiln_error *err)
{
	int64_t epoch = o->epoch;
	struct capture c = { .tree = kiln_layer_tree_new(), .epoch = epoch, .leave_out = o->leave_out,
			     .n_leave_out = o->n_leave_out };
	_cleanup_close_ int fd = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct kiln_layer_options lo = { .epoch = epoch, .clamp = -1 };
	struct kiln_layer_result lr;
	int rc = -1;

	if (fd < 0)
		kiln_error_errno(err, errno, "open '%s'", upper);
	else if (capture_dir(&c, fd, "", err) == 0 && kiln_layer_write(c.tree, 0, &lo, &res->tar, &lr, err) == 0) {
		memcpy(res->diff_id, lr.diff_id, sizeof(res->diff_id));
		res->entries = lr.entries;
		rc = 0;
	}
	for (size_t i = 0; i < c.n_inodes; i++)
		free(c.inodes[i].path);
	free(c.inodes);
	kiln_layer_tree_free(c.tree);
	return rc;
}

/* ---- running ---- */

static int loopback(void *ctx, pid_t pid, struct kiln_error *err)
{
	(void)ctx;
	return kiln_net_loopback_up(pid, err);
}

static int write_bundle(const struct kiln_stage_run_options *o, const char *bundle, const char *rootfs,
			const char *cgroups, struct kiln_error *err)
{
	struct kiln_bundle_process proc = {
		.args = (char **)o->argv, .n_args = o->n_argv, .env = (char **)o->env, .n_env = o->n_env,
		.cwd = "/", .uid = 0, .gid = 0,
	};
	struct kiln_bundle_spec spec = {
		.root_path = rootfs, .hostname = o->hostname ? o->hostname : KILN_STAGE_HOSTNAME,
		.process = &proc, .network = KILN_BUNDLE_NET_NONE, .pids = STAGE_PIDS, .cgroups_path = cgroups,
	};
	_cleanup_free_ char *json = NULL, *path = kiln_path_join(bundle, "config.json");
	struct rlimit nofile;

	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		nofile.rlim_cur = 1024, nofile.rlim_max = 4096;
	spec.nofile_soft = nofile.rlim_cur;
	spec.nofile_hard = nofile.rlim_max;
	json = kiln_bundle_config_json(&spec, err);
	if (!json)
		return -1;
	if (mkdir(bundle, 0700) < 0)
		return kiln_error_errno(err, errno, "create '%s'", bundle);
	return kiln_file_write_atomic(path, json, strlen(json), 0600, err);
}

/* Start the command, pass its output on until it and every process of
 * its pid namespace are gone, and wait for it.  SIGINT, SIGTERM and SIGHUP
 * meant for kiln stop the step instead of killing kiln (the step is in a
 * session of its own: the terminal's ^C does not reach it), so that its
 * mounts and scratch directory are still removed; the step then fails. */
static int execute(const struct kiln_stage_run_options *o, const char *bundle, int *exit_code, char **tail,
		   struct kiln_error *err)
{
	struct kiln_runtime_options ro = {
		.bundle = bundle, .id = o->id, .cgroup_parent = o->cgroup_parent ? o->cgroup_parent : "kiln",
		.console_socket_fd = -1, .before_start = loopback,
		/* A kiln killed mid-step (SIGKILL) takes the step with it. */
		.die_with_parent = true,
	};
	struct output out = { .o = o };
	sigset_t stop, old;
	int pipefd[2], sigfd, stopped_by = 0;
	pid_t pid;
	int rc = 0;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return kiln_error_errno(err, errno, "pipe");
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	sigfd = signalfd(-1, &stop, SFD_CLOEXEC);
	ro.stdio = (struct kiln_runtime_stdio){ -1, pipefd[1], pipefd[1] };
	pid = kiln_runtime_start(&ro, err);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		if (sigfd >= 0)
			close(sigfd);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return kiln_error_prefix(err, "start the step");
	}
	/* EOF when the last writer is gone: the kernel kills every process
	 * of the pid namespace when its first one exits. */
	for (;;) {
		struct pollfd fds[2] = { { pipefd[0], POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		char buf[8192];
		ssize_t n;

		if (poll(fds, sigfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (sigfd >= 0 && (fds[1].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && !stopped_by) {
				stopped_by = (int)si.ssi_signo;
				kill(pid, SIGKILL);
			}
		}
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		output_bytes(&out, buf, (size_t)n);
	}
	close(pipefd[0]);
	if (out.line.len)
		output_line(&out);
	*exit_code = kiln_runtime_wait(pid, err);
	if (*exit_code < 0)
		rc = -1;
	if (kiln_runtime_cleanup(&ro, rc ? KILN_ERROR_IGNORE : err) < 0)
		rc = -1;
	if (sigfd >= 0)
		close(sigfd);
	/* Signals that came after the step was stopped stay pending, and act
	 * as they would have once they are unblocked. */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (stopped_by && rc == 0)
		rc = kiln_error_set(err, "stopped by %s", strsignal(stopped_by));
	*tail = output_tail(&out);
	for (size_t i = 0; i < KILN_STAGE_TAIL_LINES; i++)
		free(out.tail[i]);
	kiln_buf_release(&out.line);
	return rc;
}

int kiln_stage_run(struct kiln_stage *s, const struct kiln_stage_run_options *o,
		   struct kiln_stage_result *res, struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_xasprintf("%s/run-%u", s->dir, ++s->runs);
	_cleanup_free_ char *upper = kiln_path_join(dir, "upper"), *work = kiln_path_join(dir, "work");
	_cleanup_free_ char *rootfs = kiln_path_join(dir, "rootfs"), *bundle = kiln_path_join(dir, "bundle");
	_cleanup_free_ char *cgroups = NULL;
	char **lowers = NULL;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (!s->n_layers)
		return kiln_error_set(err, "a step needs at least one layer below it");
	if (o->epoch < 0)
		return kiln_error_set(err, "a step needs an epoch >= 0");
	if (mkdir(dir, 0700) < 0)
		return kiln_error_errno(err, errno, "create '%s'", dir);
	lowers = kiln_xcalloc(s->n_layers, sizeof(*lowers));
	for (size_t i = 0; i < s->n_layers; i++)
		lowers[i] = s->layers[s->n_layers - 1 - i];
	cgroups = kiln_xasprintf("/%s/%s", o->cgroup_parent ? o->cgroup_parent + (o->cgroup_parent[0] == '/') : "kiln",
				 o->id);
	if (kiln_rootfs_mount(lowers, s->n_layers, upper, work, rootfs, err) < 0)
		goto out;
	if (write_bundle(o, bundle, rootfs, cgroups, err) < 0 ||
	    execute(o, bundle, &res->exit_code, &res->tail, err) < 0) {
		kiln_rootfs_unmount(rootfs, KILN_ERROR_IGNORE);
		goto out;
	}
	if (kiln_rootfs_unmount(rootfs, err) < 0)
		goto out;
	if (res->exit_code == 0 && capture(upper, o, res, err) < 0)
		goto out;
	rc = 0;
out:
	free(lowers);
	/* The next step starts from a fresh upper directory. */
	if (kiln_rootfs_is_mounted(rootfs) != 1)
		kiln_rootfs_remove(dir, KILN_ERROR_IGNORE);
	return rc;
}
