/* cgroup.h - a container's control group: create it with its limits, join
 * it, kill what is left in it and remove it.
 *
 * Both layouts are supported:
 *   - cgroup v2 (unified: /sys/fs/cgroup is cgroup2): one directory; the
 *     controllers a limit needs are enabled in cgroup.subtree_control of
 *     every level above it.
 *   - cgroup v1 (also "hybrid", v1 controllers beside an empty v2): one
 *     directory per hierarchy used (memory and pids always, cpu when a cpu
 *     limit is set, devices when device rules are given).
 * Device rules on v2 are a BPF program (needs CAP_BPF/CAP_SYS_ADMIN and a
 * kernel with CONFIG_CGROUP_BPF; failing to load or attach it fails the
 * create).
 * PARENT/ID is always below the root of each hierarchy (a leading "/" makes
 * no difference), not below the caller's own cgroup: every kiln process
 * (the monitor, a later `kiln stop` from another cgroup) finds the same
 * directories, and v2 forbids enabling controllers in a cgroup that holds
 * processes, as the caller's usually does.
 *
 * kiln_cgroup_set_v2_mount forces v2 mode with a directory as the
 * hierarchy's root (the command line passes $KILN_CGROUP2_MOUNT; tests use
 * it to exercise the v2 code on a v1 machine).
 */
#ifndef KILN_CGROUP_H
#define KILN_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* One device rule, as in the OCI linux.resources.devices list. */
struct kiln_cgroup_device_rule {
	bool allow;
	char type;      /* 'a', 'b' or 'c' */
	int64_t major;  /* -1: any */
	int64_t minor;  /* -1: any */
	char access[4]; /* some of "rwm" */
};

/* Limits; a field at its "unset" value leaves the kernel's default. */
struct kiln_cgroup_limits {
	int64_t memory;      /* bytes, -1 unset */
	int64_t memory_swap; /* bytes of memory + swap (OCI semantics), -1 unset */
	int64_t pids;        /* maximum number of tasks; <= 0 unset */
	int64_t cpu_quota;   /* microseconds per period; <= 0 unset */
	uint64_t cpu_period; /* microseconds; 0: the kernel's (100000) */
	uint64_t cpu_shares; /* v1 shares (v2: converted to cpu.weight); 0 unset */
	/* Applied in order, the last matching rule deciding: on v1 by the
	 * devices controller, on v2 by a BPF_PROG_TYPE_CGROUP_DEVICE program
	 * kiln builds from them and attaches to the directory (the cgroup
	 * holds it; it goes with the directory).  Without rules, nothing
	 * restricts devices: the runtime then takes CAP_MKNOD from the
	 * container (runtime.h). */
	struct kiln_cgroup_device_rule *devices;
	size_t n_devices;
};
#define KILN_CGROUP_LIMITS_INIT { -1, -1, 0, 0, 0, 0, NULL, 0 }

/* A container's cgroup: the directory in each hierarchy it uses. */
struct kiln_cgroup {
	bool v2;
	char **dirs; /* absolute paths, n_dirs of them */
	size_t n_dirs;
	/* The kernel enforces device rules on the container: one of dirs is
	 * in a v1 devices hierarchy, or (v2) has a BPF device program. */
	bool devices;
};
#define KILN_CGROUP_INIT { false, NULL, 0, false }

/* Where the cgroup v2 hierarchy is mounted when it is not detected at
 * /sys/fs/cgroup (a hybrid host's /sys/fs/cgroup/unified); NULL or "":
 * detect.  Process-wide, set once before any cgroup is made: the command
 * line passes $KILN_CGROUP2_MOUNT (cmd/kiln/env.c). */
void kiln_cgroup_set_v2_mount(const char *path);

/* Create PARENT/ID (parent NULL: "kiln") in every hierarchy the limits
 * need and write the limits.  The directory must not exist yet (a stale
 * one is an error naming it; kiln_cgroup_destroy removes it).  On failure
 * nothing is left behind. */
int kiln_cgroup_create(struct kiln_cgroup *cg, const char *parent, const char *id,
		       const struct kiln_cgroup_limits *limits, struct kiln_error *err);

/* Find an existing container cgroup PARENT/ID (for joining it). */
int kiln_cgroup_open(struct kiln_cgroup *cg, const char *parent, const char *id,
		     struct kiln_error *err);

/* Open the cgroup.procs file of each directory for writing, O_CLOEXEC, into
 * fds[0..n_dirs-1] (fds must have room for cg->n_dirs).  Writing "0" to each
 * moves the writer into the cgroup: see kiln_cgroup_join_fds. */
int kiln_cgroup_open_procs(const struct kiln_cgroup *cg, int *fds, struct kiln_error *err);

/* Move the calling process into the cgroup through fds from
 * kiln_cgroup_open_procs.  Uses only write(2): safe in a child after clone.
 * Returns 0 or an errno value. */
int kiln_cgroup_join_fds(const int *fds, size_t n);

/* Move process pid into the cgroup. */
int kiln_cgroup_attach(const struct kiln_cgroup *cg, pid_t pid, struct kiln_error *err);

/* The pids of the processes in the cgroup (first hierarchy; with
 * descendants' cgroups), malloc'd, *n of them. */
pid_t *kiln_cgroup_pids(const struct kiln_cgroup *cg, size_t *n, struct kiln_error *err);

/* Kill (SIGKILL) every process in PARENT/ID and below, wait until they are
 * gone and remove the directories in every hierarchy.  A cgroup that does
 * not exist is not an error. */
int kiln_cgroup_destroy(const char *parent, const char *id, struct kiln_error *err);

/* Free the paths (the directories stay). */
void kiln_cgroup_release(struct kiln_cgroup *cg);

#endif
