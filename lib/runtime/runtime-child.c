/* runtime-child.c - what runs in the cloned process: namespaces joined,
 * the root built (mounts, /dev, pivot_root, masked paths), stdio, rlimits,
 * privileges dropped, the seccomp filter installed, exec.  System calls
 * only, on the plan the parent prepared: no malloc (the caller may have
 * threads).  The messages to the parent are described in runtime.c.
 */

#include "runtime.h"
#include "runtime-int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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
#include <unistd.h>

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

ssize_t kiln_runtime_send_fd(int sock, const void *data, size_t len, int fd)
{
	struct iovec iov = { (void *)data, len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

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
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

void kiln_runtime_msg_send(int sock, const struct msg *m, int fd)
{
	/* Nothing to do on failure: the other side sees EOF or its wait fails. */
	(void)kiln_runtime_send_fd(sock, m, offsetof(struct msg, text) + strlen(m->text) + 1, fd);
}

static void send_type(int sock, char type, int fd)
{
	struct msg m = { .type = type };
	kiln_runtime_msg_send(sock, &m, fd);
}

__attribute__((noreturn, format(printf, 3, 4)))
void kiln_runtime_child_fail(const struct child_ctx *c, int errnum, const char *fmt, ...)
{
	struct msg m = { .type = 'E', .errnum = errnum };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	kiln_runtime_msg_send(c->sock, &m, -1);
	_exit(127);
}

/* Receive one message (and an fd) from the other side: returns its size, 0
 * at EOF, -1 on error. */
ssize_t kiln_runtime_msg_recv(int sock, struct msg *m, int *fd)
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
			kiln_runtime_child_fail(c, errno, "mount cgroup2 on %s", m->dest);
		return;
	}
	if (mount("tmpfs", target, "tmpfs", fl | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
		kiln_runtime_child_fail(c, errno, "mount tmpfs on %s", m->dest);
	int pfd = open_in_root(c->rootfd, m->dest, true);
	char top[64];
	if (pfd < 0)
		kiln_runtime_child_fail(c, errno, "open %s", m->dest);
	snprintf(top, sizeof(top), "/proc/self/fd/%d", pfd);
	int tfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		kiln_runtime_child_fail(c, errno, "open %s", m->dest);
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
			kiln_runtime_child_fail(c, errno, "create %s/%s", m->dest, hier);
		snprintf(sub, sizeof(sub), "/proc/self/fd/%d/%s", tfd, hier);
		if (mount(dir, sub, NULL, MS_BIND | MS_REC, NULL) < 0)
			kiln_runtime_child_fail(c, errno, "bind %s on %s/%s", dir, m->dest, hier);
		if (mount(NULL, sub, NULL, MS_BIND | MS_REMOUNT | fl | MS_NOSUID | MS_NODEV |
			  MS_NOEXEC | (m->flags & MS_RDONLY), NULL) < 0)
			kiln_runtime_child_fail(c, errno, "remount %s/%s", m->dest, hier);
	}
	close(tfd);
	if ((m->flags & MS_RDONLY) &&
	    mount(NULL, target, NULL, MS_REMOUNT | fl | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
		  "mode=755") < 0)
		kiln_runtime_child_fail(c, errno, "remount %s read-only", m->dest);
	close(pfd);
}

/* An fd opened before a mount on its path still names the directory
 * underneath: remounts and what goes inside need the new mount's root. */
static int reopen_mounted(const struct child_ctx *c, int fd, const char *dest, bool dir, char *target)
{
	close(fd);
	fd = open_in_root(c->rootfd, dest, dir);
	if (fd < 0)
		kiln_runtime_child_fail(c, errno, "mount %s: open the new mount", dest);
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
			kiln_runtime_child_fail(c, errno, "mount %s: bind source %s", m->dest, m->source);
		dir = S_ISDIR(st.st_mode);
	}
	fd = open_in_root(c->rootfd, m->dest, dir);
	if (fd < 0)
		kiln_runtime_child_fail(c, errno, "mount %s: create mount point", m->dest);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (m->cgroup) {
		mount_cgroup(c, m, target);
	} else if (m->bind) {
		if (mount(m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
			kiln_runtime_child_fail(c, errno, "bind %s on %s", m->source, m->dest);
		fd = reopen_mounted(c, fd, m->dest, dir, target);
		unsigned long extra = m->flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
		if (extra && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | extra |
				   (kept_flags(target) & ~(unsigned long)MS_RDONLY), NULL) < 0)
			kiln_runtime_child_fail(c, errno, "remount %s with its options", m->dest);
		if ((m->flags & MS_REC) && setattr_recursive(fd, extra) < 0)
			kiln_runtime_child_fail(c, errno, "mount %s: apply ro/nosuid/nodev/noexec to the mounts below "
				   "it (mount_setattr, Linux 5.12)", m->dest);
	} else {
		if (mount(m->source, target, m->type, m->flags & ~(unsigned long)MS_REMOUNT, m->data) < 0)
			kiln_runtime_child_fail(c, errno, "mount %s on %s (type %s, options %s)", m->source, m->dest,
				   m->type, m->data ? m->data : "");
	}
	if (m->propagation && !m->bind)
		fd = reopen_mounted(c, fd, m->dest, dir, target);
	if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
		kiln_runtime_child_fail(c, errno, "mount %s: set propagation", m->dest);
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
			kiln_runtime_child_fail(c, errno, "chown /dev/%s", name);
		return;
	}
	if (errno == EEXIST)
		return;
	if (errno != EPERM || !host_path)
		kiln_runtime_child_fail(c, errno, "create device /dev/%s", name);
	int f = openat(devfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	char target[PATH_MAX];
	if (f < 0)
		kiln_runtime_child_fail(c, errno, "create /dev/%s", name);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", f);
	if (mount(host_path, target, NULL, MS_BIND, NULL) < 0)
		kiln_runtime_child_fail(c, errno, "bind %s on /dev/%s", host_path, name);
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
		kiln_runtime_child_fail(c, errno, "open /dev in the container");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	devfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	if (devfd < 0)
		kiln_runtime_child_fail(c, errno, "open /dev in the container");
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
			kiln_runtime_child_fail(c, errno, "create /dev/%s", links[i][0]);
	if (c->plan->proc.terminal) {
		int f = openat(devfd, "console", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (f < 0)
			kiln_runtime_child_fail(c, errno, "create /dev/console");
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
			kiln_runtime_child_fail(c, errno, "linux.devices: create %s", parent_path);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		int dfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		if (dfd < 0)
			kiln_runtime_child_fail(c, errno, "linux.devices: open %s", parent_path);
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
		kiln_runtime_child_fail(c, errno, "open %s", path);
	if (write(fd, value, len) != (ssize_t)len)
		kiln_runtime_child_fail(c, errno, "write \"%s\" to %s", value, path);
	close(fd);
}

/* Mount setup, pivot_root and what comes after it in the new root. */
static void build_root(struct child_ctx *c)
{
	const struct plan *p = c->plan;

	/* Nothing mounted from here on reaches the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		kiln_runtime_child_fail(c, errno, "make / private");
	/* pivot_root needs a mount point; the caller's overlay is one already,
	 * a plain directory is not. */
	if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		kiln_runtime_child_fail(c, errno, "bind %s", p->rootfs);
	if (p->root_propagation != (MS_PRIVATE | MS_REC) &&
	    mount(NULL, p->rootfs, NULL, p->root_propagation, NULL) < 0)
		kiln_runtime_child_fail(c, errno, "linux.rootfsPropagation");
	c->rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0)
		kiln_runtime_child_fail(c, errno, "open %s", p->rootfs);
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
		kiln_runtime_child_fail(c, errno, "process.cwd: create %s", p->proc.cwd);
	close(cwdfd);
	if (fchdir(c->rootfd) < 0) {
		/* O_PATH fds can fchdir since Linux 3.5. */
		kiln_runtime_child_fail(c, errno, "chdir %s", p->rootfs);
	}
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		kiln_runtime_child_fail(c, errno, "pivot_root %s", p->rootfs);
	/* The old root is stacked under the new one at "/": detach it. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		kiln_runtime_child_fail(c, errno, "make the old root a slave");
	if (umount2(".", MNT_DETACH) < 0)
		kiln_runtime_child_fail(c, errno, "detach the old root");
	if (chdir("/") < 0)
		kiln_runtime_child_fail(c, errno, "chdir /");
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
			kiln_runtime_child_fail(c, errno, "linux.maskedPaths: %s", path);
		}
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
				kiln_runtime_child_fail(c, errno, "linux.maskedPaths: mask %s", path);
		} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
			kiln_runtime_child_fail(c, errno, "linux.maskedPaths: mask %s", path);
		}
	}
	for (size_t i = 0; i < p->n_readonly; i++) {
		const char *path = p->readonly[i];
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			kiln_runtime_child_fail(c, errno, "linux.readonlyPaths: bind %s", path);
		}
		if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | kept_flags(path),
			  NULL) < 0)
			kiln_runtime_child_fail(c, errno, "linux.readonlyPaths: remount %s read-only", path);
		int fd = open(path, O_PATH | O_CLOEXEC);
		if (fd < 0 || setattr_recursive(fd, MS_RDONLY) < 0)
			kiln_runtime_child_fail(c, errno, "linux.readonlyPaths: make the mounts below %s read-only "
				   "(mount_setattr, Linux 5.12)", path);
		close(fd);
	}
	if (p->root_readonly &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags("/"), NULL) < 0)
		kiln_runtime_child_fail(c, errno, "remount / read-only");
}

/* A pty from the container's devpts: the slave becomes the controlling
 * terminal and stdio; returns the master. */
static int setup_terminal(const struct child_ctx *c, bool console)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), slave, unlock = 0, n;
	char name[64];

	if (master < 0)
		kiln_runtime_child_fail(c, errno, "open /dev/ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
		kiln_runtime_child_fail(c, errno, "unlock the pty");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0) {
		snprintf(name, sizeof(name), "/dev/pts/%d", n);
		slave = open(name, O_RDWR | O_NOCTTY);
	}
	if (slave < 0)
		kiln_runtime_child_fail(c, errno, "open the pty slave");
	if (console) {
		char src[64];
		snprintf(src, sizeof(src), "/proc/self/fd/%d", slave);
		if (mount(src, "/dev/console", NULL, MS_BIND, NULL) < 0)
			kiln_runtime_child_fail(c, errno, "bind the pty on /dev/console");
	}
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		kiln_runtime_child_fail(c, errno, "make the pty the controlling terminal");
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			kiln_runtime_child_fail(c, errno, "dup2 the pty");
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
			kiln_runtime_child_fail(c, errno, "stdio fd %d", src[i]);
	}
	for (int i = 0; i < 3; i++) {
		if (dup2(tmp[i], i) < 0)
			kiln_runtime_child_fail(c, errno, "dup2 stdio");
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
			kiln_runtime_child_fail(c, errno, "setrlimit %d", pp->rlimits[i].resource);
		/* Raising a hard limit needs CAP_SYS_RESOURCE: clamp. */
		if (want.rlim_max > cur.rlim_max)
			want.rlim_max = cur.rlim_max;
		if (want.rlim_cur > want.rlim_max)
			want.rlim_cur = want.rlim_max;
		if (setrlimit(pp->rlimits[i].resource, &want) < 0)
			kiln_runtime_child_fail(c, errno, "setrlimit %d", pp->rlimits[i].resource);
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
		kiln_runtime_child_fail(c, e, "linux.seccomp: install the filter");
}

/* die_with_parent (runtime.h).  Set before the first message from the
 * parent is read: a parent dead before this point makes that read end. */
static void die_with_parent(const struct child_ctx *c)
{
	if (c->o->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		kiln_runtime_child_fail(c, errno, "prctl PR_SET_PDEATHSIG");
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
			kiln_runtime_child_fail(c, errno, "prctl PR_SET_KEEPCAPS");
		for (int cap = 0; cap < 64; cap++) {
			int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
			if (r < 0)
				break; /* beyond the kernel's last capability */
			if (r == 1 && (!(bounding & (1ULL << cap)) || (drop & (1ULL << cap))) &&
			    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
				kiln_runtime_child_fail(c, errno, "drop capability %d from the bounding set", cap);
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
		kiln_runtime_child_fail(c, errno, "setgroups");
	if (syscall(SYS_setresgid, pp->gid, pp->gid, pp->gid) < 0)
		kiln_runtime_child_fail(c, errno, "setgid %u", (unsigned)pp->gid);
	if (syscall(SYS_setresuid, pp->uid, pp->uid, pp->uid) < 0)
		kiln_runtime_child_fail(c, errno, "setuid %u", (unsigned)pp->uid);
	if (pp->have_caps) {
		uint64_t perm = pp->caps[CAP_PERMITTED] & have & ~drop;
		if (capset_raw(pp->caps[CAP_EFFECTIVE] & perm, perm,
			       pp->caps[CAP_INHERITABLE] & have & ~drop) < 0)
			kiln_runtime_child_fail(c, errno, "capset");
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		for (int cap = 0; cap < 64; cap++)
			if (pp->caps[CAP_AMBIENT] & (1ULL << cap))
				/* Needs the cap in permitted and inheritable; else skipped. */
				prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
		if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
			kiln_runtime_child_fail(c, errno, "prctl PR_SET_KEEPCAPS");
	} else if (drop) {
		/* The caps the process kept (all of them as root) minus drop. */
		current_caps(&have_eff, &have, &have_inh);
		if (capset_raw(have_eff & ~drop, have & ~drop, have_inh & ~drop) < 0)
			kiln_runtime_child_fail(c, errno, "capset");
	}
	if (pp->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		kiln_runtime_child_fail(c, errno, "prctl PR_SET_NO_NEW_PRIVS");
	/* setresuid/setresgid above clear the parent-death signal. */
	die_with_parent(c);
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
void kiln_runtime_child_finish(struct child_ctx *c, char *const argv[], char *const env[],
			       const char *cwd, bool terminal, bool console)
{
	const struct process_plan *pp = &c->plan->proc;
	struct msg m;
	int master = -1;

	if (setsid() < 0)
		kiln_runtime_child_fail(c, errno, "setsid");
	if (terminal)
		master = setup_terminal(c, console);
	else
		setup_stdio(c);
	if (chdir(cwd) < 0)
		kiln_runtime_child_fail(c, errno, "process.cwd: chdir %s", cwd);
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
		ssize_t n = kiln_runtime_msg_recv(c->sock, &m, NULL);
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
	kiln_runtime_child_fail(c, e, "exec %s", argv[0]);
}

__attribute__((noreturn))
void kiln_runtime_child_start(struct child_ctx *c)
{
	const struct plan *p = c->plan;

	die_with_parent(c);

	if (p->clone_flags & CLONE_NEWUSER) {
		/* Until the parent has written our id maps we are nobody; then
		 * become the namespace's root, so what we create is its own. */
		struct msg m;
		if (kiln_runtime_msg_recv(c->sock, &m, NULL) <= 0 || m.type != 'U')
			_exit(127);
		if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
			kiln_runtime_child_fail(c, errno, "user namespace: become root (is id 0 mapped?)");
	}
	for (size_t i = 0; i < p->n_joins; i++)
		if (setns(c->join_fds[i], p->joins[i].type) < 0)
			kiln_runtime_child_fail(c, errno, "join namespace %s", p->joins[i].path);
	if (p->new_cgroupns) {
		/* The parent moves us into the cgroup (that takes an RCU grace
		 * period on v1, so it runs while we build the root); a cgroup
		 * namespace must be rooted there, so wait for it. */
		struct msg m;
		if (kiln_runtime_msg_recv(c->sock, &m, NULL) <= 0 || m.type != 'C')
			_exit(127);
		if (unshare(CLONE_NEWCGROUP) < 0)
			kiln_runtime_child_fail(c, errno, "unshare cgroup namespace");
	}
	send_type(c->sock, 'N', -1);
	if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
		kiln_runtime_child_fail(c, errno, "sethostname %s", p->hostname);
	if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
		kiln_runtime_child_fail(c, errno, "setdomainname %s", p->domainname);
	umask(0);
	build_root(c);
	mask_and_protect(c);
	kiln_runtime_child_finish(c, p->proc.args, p->proc.env, p->proc.cwd, p->proc.terminal, true);
}
