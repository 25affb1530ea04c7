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
#include "runtime-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

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

	while (kiln_runtime_msg_recv(sock, &m, NULL) > 0) {
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
	kiln_runtime_msg_send(sock, &m, -1);
	return 0;
}

/* Hand the pty master to the caller as the options say. */
static int deliver_pty(const struct kiln_runtime_options *o, int master, struct kiln_error *err)
{
	if (o->pty_master) {
		*o->pty_master = master;
		return 0;
	}
	/* runc sends the pty's name as the data. */
	static const char name[] = "/dev/ptmx";
	ssize_t n = kiln_runtime_send_fd(o->console_socket_fd, name, strlen(name), master);
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
		n = kiln_runtime_msg_recv(sock, &m, NULL);
		if (n <= 0 || m.type != 'N')
			goto child_failed;
		if (o->before_start && o->before_start(o->before_start_ctx, pid, err) < 0) {
			/* The child goes on building the root meanwhile; if that
			 * failed first (a volume that cannot be mounted), its own
			 * error is the cause, and before_start only saw it gone. */
			struct pollfd p = { .fd = sock, .events = POLLIN };
			if (poll(&p, 1, 0) == 1 && kiln_runtime_msg_recv(sock, &m, NULL) > 0 && m.type == 'E') {
				n = 1;
				goto child_failed;
			}
			reap(pid);
			return kiln_error_prefix(err, "%s: before start", what);
		}
	}
	n = kiln_runtime_msg_recv(sock, &m, &fd);
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
		kiln_runtime_msg_send(sock, &go, -1);
	}
	n = kiln_runtime_msg_recv(sock, &m, NULL);
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
	if (kiln_runtime_plan_load(&plan, o->bundle, err) < 0)
		return kiln_error_prefix(err, "container %s: %s", o->id, o->bundle);
	if (o->join_netns)
		kiln_runtime_plan_join_netns(&plan, o->join_netns);
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
		kiln_runtime_child_start(&c);
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
		kiln_runtime_msg_send(sock[0], &cm, -1);
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
	kiln_runtime_plan_release(&plan);
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
	if (kiln_runtime_plan_load(&plan, o->bundle, err) < 0)
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
			kiln_runtime_child_fail(&c, e, "join cgroup");
		for (size_t i = 0; i < n_joins; i++)
			if (setns(join_fds[i], joins[i].type) < 0)
				kiln_runtime_child_fail(&c, errno, "join namespace of process %d", (int)container_pid);
		kiln_runtime_child_finish(&c, argv, env ? env : plan.proc.env,
					  cwd ? cwd : plan.proc.cwd, o->exec_terminal, false);
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
	kiln_runtime_plan_release(&plan);
	return pid;
}
