/* container.h - containers: their state on disk, the monitor process that
 * runs each one, and what `kiln run/ps/logs/stop/rm/exec` do with them
 * (docs/containers.md).
 *
 * There is no daemon.  Each container has a directory of state under the
 * run directory and a monitor process that owns it while the container
 * lives:
 *
 *   RUN/containers/<id>/state.json   what `kiln ps` shows (atomic rewrites)
 *                       config.json  the OCI runtime bundle's config
 *                       rootfs/      the overlay mount (the bundle's root)
 *                       log          the container's stdout and stderr (log.1 … the
 *                                    older ones, once rotated; log.lock orders
 *                                    readers and the monitor's rotation)
 *                       pid          the container's init pid (host view)
 *                       monitor.lock held (flock) by the monitor for life
 *   RUN/names/<name>                 symlink to the id: names are unique
 *   ROOT/containers/<id>/upper,work  the writable layer, deleted with it
 *   ROOT/layers/<hex>/               unpacked layers (lib/rootfs)
 *   ROOT/volumes/<name>/             named volumes, kept after rm
 *
 * ROOT is $KILN_ROOT or /var/lib/kiln; RUN is $KILN_ROOT/run or /run/kiln.
 * The monitor's lock is how every other command knows whether a container
 * is looked after: when the lock can be taken, the monitor is gone (exited
 * or killed, even by SIGKILL), and the next kiln container command reaps
 * what it left: it kills the container, deletes the runtime's state and
 * cgroup, detaches the network, unmounts the overlay and, for --rm, removes
 * the container.
 *
 * Runtimes: "kiln" (the default; $KILN_RUNTIME changes it) is kiln's own
 * executor (lib/runtime): the container's init is the monitor's child.
 * "runc" hands the same config.json to runc under its own state root
 * RUN/runc: `runc run`, or `runc create` + `runc start` when the network
 * must be wired in between (bridge); the monitor is the init's subreaper.
 *
 * Networks (lib/net): bridge (the default; RUN/net holds the leases;
 * $KILN_NET_BRIDGE, $KILN_NET_SUBNET, $KILN_NET_TABLE override kiln0,
 * 10.88.0.0/16 and the "kiln" table), none (a new namespace, lo up), host,
 * container:NAME (joins /proc/PID/ns/net of NAME's init).  The cgroup is
 * /$KILN_CGROUP_PARENT/<id> (default /kiln/<id>) in every hierarchy.
 */
#ifndef KILN_CONTAINER_H
#define KILN_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "store.h"

struct kiln_net_config;

#define KILN_CONTAINER_ID_HEX 32

enum kiln_container_status {
	KILN_CONTAINER_CREATED,
	KILN_CONTAINER_RUNNING,
	KILN_CONTAINER_EXITED,
};

struct kiln_container {
	char id[KILN_CONTAINER_ID_HEX + 1];
	char *name;
	char *snapshot;               /* SNAP as given */
	char *image;                  /* its manifest digest */
	char *commit;                 /* 40-hex commit the snapshot came from; NULL for a sha256: reference */
	char *service;                /* the service it belongs to (set by deploy); NULL otherwise */
	char **command; size_t n_command;
	char *runtime;                /* "runc" or "kiln" */
	char *network;                /* none, host, bridge, container:NAME */
	char **ports; size_t n_ports; /* "H:C/proto" as given */
	char *address;                /* bridge address, or NULL */
	char *stop_signal;            /* the image's, or NULL (SIGTERM) */
	char *error;                  /* why it did not start, or NULL */
	bool auto_remove;             /* --rm */
	bool init;                    /* --init: kiln's init is PID 1 (init.h) */
	enum kiln_container_status status;
	int exit_code;                /* when exited: code or 128+signal */
	pid_t pid;                    /* container init, host pid namespace (0: unknown) */
	pid_t monitor_pid;
	int64_t created, started, finished; /* unix seconds; 0 = not yet */
};
void kiln_container_release(struct kiln_container *c);
const char *kiln_container_status_name(enum kiln_container_status s);

/* ROOT without $KILN_ROOT. */
#define KILN_CONTAINER_ROOT_DEFAULT "/var/lib/kiln"

/* Where containers live, and the settings shared by every command. */
struct kiln_container_root;

/* Where containers live and how they are wired; the command line fills
 * it from the environment (cmd/kiln/env.c), tests directly.  NULL or
 * empty fields take the defaults. */
struct kiln_container_root_options {
	const char *root;          /* ROOT (absolute; RUN is ROOT/run); default /var/lib/kiln and /run/kiln */
	const char *cgroup_parent; /* default "kiln" */
	const char *net_bridge;    /* default KILN_NET_DEFAULT_BRIDGE */
	const char *net_subnet;    /* default KILN_NET_DEFAULT_SUBNET */
	const char *net_table;     /* default "kiln" */
};

/* Open ROOT and RUN (creating them), then reap what dead monitors left.
 * o may be NULL (every default); its strings are copied. */
struct kiln_container_root *kiln_container_root_open(const struct kiln_container_root_options *o,
						     struct kiln_error *err);
void kiln_container_root_free(struct kiln_container_root *r);
const char *kiln_container_root_dir(const struct kiln_container_root *r);
const char *kiln_container_run_dir(const struct kiln_container_root *r);
/* How its containers are networked (for a service's published ports,
 * lib/net's kiln_net_service_*). */
const struct kiln_net_config *kiln_container_root_net(const struct kiln_container_root *r);

/* Reap every container whose monitor is gone (see above). */
int kiln_container_reap(struct kiln_container_root *r, struct kiln_error *err);

/* Every container, oldest first (caller frees with kiln_container_list_free). */
int kiln_container_list(struct kiln_container_root *r, struct kiln_container **out, size_t *n,
			struct kiln_error *err);
void kiln_container_list_free(struct kiln_container *v, size_t n);

/* A container by name, or by id or a unique id prefix (at least 4 digits). */
int kiln_container_find(struct kiln_container_root *r, const char *name_or_id, struct kiln_container *out,
			struct kiln_error *err);

/* Is the container's monitor alive (the container looked after)? */
bool kiln_container_monitored(const struct kiln_container_root *r, const struct kiln_container *c);

/* Without --pids: at most 2048 processes, as podman. */
#define KILN_CONTAINER_PIDS_DEFAULT 2048
/* Without --log-max: 10 MB × 2 files, as Docker's json-file with
 * max-size=10m max-file=2: RUN is often a tmpfs (memory). */
#define KILN_CONTAINER_LOG_MAX_DEFAULT (10 << 20)
#define KILN_CONTAINER_LOG_FILES_DEFAULT 2
#define KILN_CONTAINER_LOG_FILES_MAX 100

/* --log-max "SIZE[:FILES]" (SIZE as 10M, 512k, …; FILES 1 to 100, default
 * 2): files is left alone without ":FILES". */
int kiln_container_parse_log_max(const char *text, int64_t *size, int *files, struct kiln_error *err);

struct kiln_container_options {
	const struct kiln_store *store;
	const char *manifest_digest;  /* the image */
	const char *snapshot;         /* SNAP as given (for ps) */
	const char *commit;           /* the commit SNAP resolved to (40 hex), or NULL */
	const char *service;          /* the service the container belongs to, or NULL */
	const char *name;             /* NULL: the id's first 12 digits */
	const char *hostname;         /* NULL: the name */
	const char *network;          /* NULL: bridge */
	char *const *ports; size_t n_ports;
	char *const *volumes; size_t n_volumes;  /* "NAME:PATH[:ro]" or "/HOST:PATH[:ro]" */
	char *const *env; size_t n_env;
	const char *user, *workdir;
	char *const *entrypoint; size_t n_entrypoint; bool has_entrypoint;
	char *const *cmd; size_t n_cmd;
	int64_t memory;
	int64_t pids;                 /* 0: KILN_CONTAINER_PIDS_DEFAULT; < 0: no limit */
	double cpus;
	char *const *cap_add; size_t n_cap_add;   /* see kiln_bundle_capabilities */
	char *const *cap_drop; size_t n_cap_drop;
	int64_t log_max;              /* rotate the log at this size; 0: KILN_CONTAINER_LOG_MAX_DEFAULT */
	int log_files;                /* keep this many files; 0: KILN_CONTAINER_LOG_FILES_DEFAULT */
	const char *runtime;          /* "kiln" or "runc"; NULL: kiln (the command line passes $KILN_RUNTIME) */
	bool auto_remove, detach, terminal;
	/* --init: kiln's init (lib/runtime/init.h) is the container's PID 1,
	 * at /dev/init, and runs the command: it forwards signals to it and
	 * reaps every orphan (--init, service.init). */
	bool init;
};

/* Create the container (layers unpacked, overlay mounted, config.json
 * written, state "created"), then start it under its monitor.
 *
 * detach: the monitor runs in the background (its own session); returns
 * once the container runs, with *exit_code 0.  Otherwise this process is
 * the monitor: the container's output goes to this process's stdout and
 * stderr as well as to its log (or, with terminal, the container gets this
 * terminal), SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded, and *exit_code
 * is the container's.  out (may be NULL) receives the container. */
int kiln_container_run(struct kiln_container_root *r, const struct kiln_container_options *o,
		       struct kiln_container *out, int *exit_code, struct kiln_error *err);

/* Stop: the image's stop signal (SIGTERM), then SIGKILL after timeout
 * seconds; returns once the monitor has recorded the exit. */
int kiln_container_stop(struct kiln_container_root *r, const struct kiln_container *c, int timeout,
			struct kiln_error *err);

/* Remove a container that is not running (force: kill it first). */
int kiln_container_remove(struct kiln_container_root *r, const struct kiln_container *c, bool force,
			  struct kiln_error *err);

/* Run argv inside a running container, with this process's stdio (a
 * terminal when terminal); *exit_code is the command's. */
int kiln_container_exec(struct kiln_container_root *r, const struct kiln_container *c, char *const argv[],
			bool terminal, int *exit_code, struct kiln_error *err);

/* Copy the container's log to fd, its older files first; follow: keep
 * copying until the container has exited, across rotations (a reader so
 * slow that a file it has not read yet was rotated away skips it). */
int kiln_container_logs(struct kiln_container_root *r, const struct kiln_container *c, bool follow, int fd,
			struct kiln_error *err);

/* Is name a valid container or volume name ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 64)? */
bool kiln_container_name_valid(const char *name);

#endif
