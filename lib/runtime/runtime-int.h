/* runtime-int.h - what the parts of kiln's runtime share: the plan
 * (config.json parsed and made ready for the child, runtime-config.c), the
 * messages between parent and child and the child's context
 * (runtime-child.c), used by the parent side (runtime.c).  Private to
 * lib/runtime/: the public interface is runtime.h.
 */
#ifndef KILN_RUNTIME_INT_H
#define KILN_RUNTIME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cgroup.h"
#include "error.h"
#include "seccomp.h"

/* runtime.h: the caller's options, which the child reads (not included
 * here, so that this header stays below runtime.h). */
struct kiln_runtime_options;

enum { CAP_BOUNDING, CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE, CAP_AMBIENT, CAP_SETS };

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

/* runtime-config.c: BUNDLE/config.json into *p (zeroed by the caller),
 * every error naming its field; on failure p holds nothing. */
int kiln_runtime_plan_load(struct plan *p, const char *bundle, struct kiln_error *err);
/* Join the network namespace at PATH instead of making a new one. */
void kiln_runtime_plan_join_netns(struct plan *p, const char *path);
/* Frees what the plan holds and zeroes it. */
void kiln_runtime_plan_release(struct plan *p);

/* runtime-child.c: one message each way over the SOCK_SEQPACKET pair,
 * with an fd as SCM_RIGHTS when fd >= 0 (send) or fd != NULL (receive;
 * -1 when none came).  recv returns the size, 0 at EOF, -1 on error. */
/* LEN bytes of DATA on SOCK, with FD as SCM_RIGHTS when fd >= 0:
 * sendmsg's result (EINTR retried). */
ssize_t kiln_runtime_send_fd(int sock, const void *data, size_t len, int fd);
void kiln_runtime_msg_send(int sock, const struct msg *m, int fd);
ssize_t kiln_runtime_msg_recv(int sock, struct msg *m, int *fd);
/* In the child: report 'E' with errnum and the message, then _exit(127). */
__attribute__((noreturn, format(printf, 3, 4)))
void kiln_runtime_child_fail(const struct child_ctx *c, int errnum, const char *fmt, ...);
/* In the child: stdio or terminal, cwd, rlimits, privileges, 'R', wait for
 * 'G' (not for exec), seccomp, exec ARGV.  Never returns. */
__attribute__((noreturn))
void kiln_runtime_child_finish(struct child_ctx *c, char *const argv[], char *const env[],
			       const char *cwd, bool terminal, bool console);
/* The container's process 1 after clone: namespaces, root, then finish. */
__attribute__((noreturn))
void kiln_runtime_child_start(struct child_ctx *c);

#endif
