/* runtime.h - kiln's own executor of an OCI runtime bundle.
 *
 * kiln_runtime_start reads BUNDLE/config.json (OCI runtime spec 1.0/1.1),
 * creates the container's cgroup with its limits, clones the container's
 * process 1 into new namespaces (mount, pid, uts, ipc, network, cgroup as
 * linux.namespaces says; a namespace with a "path" is joined instead),
 * builds its root (rootfs bind, mounts[], a minimal /dev, pivot_root,
 * masked and read-only paths, root.readonly), sets hostname, rlimits,
 * user, capabilities, noNewPrivileges and the seccomp filter, and execs
 * process.args.
 *
 * Seccomp: linux.seccomp is compiled to a BPF filter (the subset and its
 * errors: seccomp.h); a profile kiln cannot compile is an error, never
 * ignored.  Without linux.seccomp the filter is kiln's default profile,
 * kiln_seccomp_default_profile() (Docker-like: keyrings, bpf, perf,
 * userfaultfd, kexec, modules, new user namespaces... are EPERM, clone3
 * ENOSYS), which bundle writers should put into config.json so that runc
 * applies the same; `"defaultAction": "SCMP_ACT_ALLOW"` alone turns it
 * off.  The filter is installed just before exec when noNewPrivileges is
 * true, else before the user and capabilities change (it then needs
 * CAP_SYS_ADMIN, and the profile must allow what follows); also for
 * kiln_runtime_exec.
 *
 * The processes that will become the container's are cloned non-dumpable
 * (exec makes the command dumpable again), so that no process of the
 * container can open /proc/PID/exe of one still running the caller's
 * binary (CVE-2019-5736); the caller's own dumpable flag is restored.
 *
 * The container's process 1 is a child of the caller (no intermediate
 * process): the caller waits for it with kiln_runtime_wait (and must not
 * reap it otherwise, e.g. with waitpid(-1) in a SIGCHLD handler) and
 * forwards signals to it with kill(2).  As PID 1 of its pid namespace it
 * receives only the signals it has a handler for, plus SIGKILL and
 * SIGSTOP (`kiln stop` needs SIGKILL after its timeout).  It starts with
 * no blocked and no ignored signals, whatever the caller's were.  The
 * caller may have threads.
 *
 * A new user namespace ("user" in linux.namespaces) needs
 * linux.uidMappings and gidMappings, container id 0 mapped, and a rootfs
 * (and the directories above it) the mapped root can reach; device nodes
 * are then bind mounts of the host's.  It cannot be combined with joining
 * other namespaces by path (nor with join_netns).
 *
 * Not supported (an error naming the field when config.json asks for
 * them): joining a mount or user namespace by path, time namespaces,
 * seccomp beyond seccomp.h's subset, hooks; integers above 2^63-1
 * (jansson cannot read them: write an unlimited rlimit as -1).  Ignored:
 * annotations, apparmorProfile, selinuxLabel.
 *
 * Rules that differ from the letter of the spec, deliberately:
 *  - rlimits the host does not allow (raising a hard limit needs
 *    CAP_SYS_RESOURCE) are clamped to the current hard limit;
 *  - capabilities the calling process does not have are left out of the
 *    container's sets instead of failing;
 *  - device rules (linux.resources.devices) are enforced by the v1
 *    devices controller or, on v2, a BPF device program (cgroup.h);
 *    where nothing guards devices (no rules in config.json) CAP_MKNOD is
 *    taken from every capability set of the container's processes (and
 *    of kiln_runtime_exec's), whatever process.capabilities says: mknod
 *    of a host disk would be usable;
 *  - without linux.seccomp, kiln's default filter applies (above);
 *  - "ro", "nosuid", "nodev", "noexec" on an rbind mount (and
 *    linux.readonlyPaths) apply to every mount below it too
 *    (mount_setattr AT_RECURSIVE, Linux 5.12; older kernels: an error),
 *    where runc makes only the top mount read-only;
 *  - /dev: when mounts[] has no /dev, a tmpfs /dev with /dev/pts (devpts,
 *    newinstance) and /dev/shm is mounted; the nodes null zero full random
 *    urandom tty, linux.devices, the symlinks fd stdin stdout stderr ptmx
 *    (and core → /proc/kcore where the host has it) are created in /dev in
 *    every case, and /dev/console is bound to the pty when
 *    process.terminal is true;
 *  - a missing process.cwd is created (as runc does);
 *  - root propagation defaults to rprivate (linux.rootfsPropagation may
 *    say otherwise): nothing the container mounts reaches the host, so
 *    the container leaves no mounts behind when its processes are gone.
 */
#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

struct kiln_runtime_stdio {
	int in, out, err; /* fds for the container process; -1 = /dev/null */
};

struct kiln_runtime_options {
	const char *bundle;        /* dir holding config.json; root.path relative to it or absolute */
	const char *id;            /* container id: cgroup leaf name, messages */
	const char *cgroup_parent; /* e.g. "kiln" (NULL: "kiln"); cgroup path = parent/id (cgroup.h) */
	/* Path of a net namespace to join (container:NAME and host modes are
	 * expressed by the caller this way or by config.json); NULL: as
	 * config.json says. */
	const char *join_netns;
	struct kiln_runtime_stdio stdio;
	/* If config.json process.terminal is true, a pty is allocated inside
	 * the container (its /dev/pts) and its master handed to the caller:
	 * into *pty_master when pty_master is non-NULL, else over the unix
	 * socket console_socket_fd (SCM_RIGHTS, as runc --console-socket).
	 * One of the two is required then; console_socket_fd is -1 if unused. */
	int console_socket_fd;
	int *pty_master;
	/* Called in the parent after the container's namespaces exist and
	 * before the container process execs (it waits), with the container
	 * process's host pid: the caller configures networking by moving a
	 * veth into /proc/PID/ns/net.  Returning -1 aborts the start.  It runs
	 * while the container builds its root, so it costs no extra time. */
	int (*before_start)(void *ctx, pid_t pid, struct kiln_error *err);
	void *before_start_ctx;
	/* kiln_runtime_exec only: allocate a pty for the new process (handed
	 * over as above) even when process.terminal is false. */
	bool exec_terminal;
	/* The container's process 1 is SIGKILLed (and with it its pid
	 * namespace) when the thread that started it dies, even by SIGKILL:
	 * PR_SET_PDEATHSIG, set when it starts and again just before it execs
	 * (a change of user ids in between clears it).  For commands whose
	 * caller must see them end (build steps); not for containers that
	 * outlive a monitor. */
	bool die_with_parent;
};

/* Start the container: returns the host pid of its process 1, already
 * exec'd (a child of the caller), or -1 with err set and nothing left
 * behind (no cgroup, no process). */
pid_t kiln_runtime_start(const struct kiln_runtime_options *o, struct kiln_error *err);

/* Wait for a container process (waitpid, retrying EINTR): returns its exit
 * code 0-255, 128+signal when a signal killed it, or -1. */
int kiln_runtime_wait(pid_t pid, struct kiln_error *err);

/* Remove what the container left: its cgroup, killing any process still in
 * it and waiting until they are gone.  Its mounts live only in its mount
 * namespace and go with its last process.  A container already cleaned up
 * is not an error. */
int kiln_runtime_cleanup(const struct kiln_runtime_options *o, struct kiln_error *err);

/* Run argv inside a running container (like runc exec): setns into the
 * namespaces of container_pid that differ from the caller's (user, cgroup,
 * ipc, uts, net, pid, mnt), join its cgroup (o->cgroup_parent/o->id), and apply
 * the same user, capabilities, noNewPrivileges, rlimits as process in the
 * bundle's config.json.  env NULL: process.env; cwd NULL: process.cwd.
 * Returns the exec'd process's pid, a child of the caller. */
pid_t kiln_runtime_exec(const struct kiln_runtime_options *o, pid_t container_pid,
			char *const argv[], char *const env[], const char *cwd,
			struct kiln_error *err);

#endif
