/* bundle.h - an OCI runtime bundle's config.json from an image config and
 * a command line (OCI runtime-spec 1.0, Linux).
 *
 * The result is what Docker gives a container by default: namespaces pid,
 * ipc, uts, mount and network (per network mode), noNewPrivileges, its
 * masked and read-only /proc and /sys paths, /proc, a tmpfs /dev with pts,
 * shm and mqueue, /sys and the cgroup tree read-only, rlimits the host
 * allows, and the cgroup limits asked for; but podman's default capability
 * set (see kiln_bundle_capabilities), kiln's seccomp profile for those
 * capabilities (seccomp.h) and, in a network namespace of its own,
 * net.ipv4.ping_group_range "0 2147483647" (ping without CAP_NET_RAW, as
 * Docker).  The JSON is deterministic: keys sorted, arrays in a fixed order.
 * runc runs it as is; so does kiln's own runtime.
 */
#ifndef KILN_BUNDLE_H
#define KILN_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* What the image config says about the process (config.config in the
 * OCI image config). */
struct kiln_bundle_image {
	char *user, *workdir, *stop_signal;
	char **env; size_t n_env;
	char **entrypoint; size_t n_entrypoint;
	char **cmd; size_t n_cmd;
};
int kiln_bundle_image_parse(const char *json, size_t len, struct kiln_bundle_image *out,
			    struct kiln_error *err);
void kiln_bundle_image_release(struct kiln_bundle_image *img);

enum kiln_bundle_network {
	KILN_BUNDLE_NET_NONE,      /* a new network namespace with only lo */
	KILN_BUNDLE_NET_HOST,      /* the host's: no network namespace */
	KILN_BUNDLE_NET_BRIDGE,    /* a new one, which lib/net wires to the bridge */
	KILN_BUNDLE_NET_JOIN,      /* join netns_path (container:NAME) */
};

struct kiln_bundle_mount {
	const char *source, *destination;
	bool readonly;
};

/* The process a container runs, resolved against the image. */
struct kiln_bundle_process {
	char **args; size_t n_args;
	char **env; size_t n_env;      /* "K=V", image's then the command line's; later keys win */
	char *cwd;
	uint32_t uid, gid;
	uint32_t *gids; size_t n_gids; /* supplementary groups from the image's /etc/group */
};
void kiln_bundle_process_release(struct kiln_bundle_process *p);

struct kiln_bundle_process_options {
	char *const *entrypoint; size_t n_entrypoint; bool has_entrypoint; /* --entrypoint */
	char *const *cmd; size_t n_cmd;          /* CMD… after SNAP; replaces the image's Cmd */
	char *const *env; size_t n_env;          /* -e K=V; a bare K is not passed (the command line resolves -e K) */
	const char *user;                        /* -u, else the image's */
	const char *workdir;                     /* -w, else the image's, else / */
	const char *hostname;                    /* becomes HOSTNAME= */
	bool terminal;                           /* adds TERM=xterm when missing */
	const char *passwd, *group;              /* the image's /etc/passwd and /etc/group text, or NULL */
};
int kiln_bundle_process_resolve(const struct kiln_bundle_image *img,
				const struct kiln_bundle_process_options *o,
				struct kiln_bundle_process *out, struct kiln_error *err);

/* user is "NAME", "UID", "NAME:GROUP", "UID:GID" (numbers need no entry). */
int kiln_bundle_resolve_user(const char *user, const char *passwd, const char *group, uint32_t *uid,
			     uint32_t *gid, uint32_t **gids, size_t *n_gids, struct kiln_error *err);

struct kiln_bundle_spec {
	const char *root_path;        /* "rootfs" (relative to the bundle) or absolute */
	const char *hostname;
	const struct kiln_bundle_process *process;
	bool terminal;
	const struct kiln_bundle_mount *volumes; size_t n_volumes; /* rbind, rw unless readonly */
	enum kiln_bundle_network network;
	const char *netns_path;       /* for KILN_BUNDLE_NET_JOIN */
	int64_t memory;               /* bytes; 0 = no limit */
	int64_t pids;                 /* 0 = no limit */
	char *const *cap_add; size_t n_cap_add;   /* see kiln_bundle_capabilities */
	char *const *cap_drop; size_t n_cap_drop;
	double cpus;                  /* 0 = no limit; else quota = cpus * period */
	const char *cgroups_path;     /* e.g. "/kiln/<id>"; NULL = the runtime's default */
	uint64_t nofile_soft, nofile_hard;
	bool cgroup_ns;               /* a cgroup namespace (on cgroup v2, as Docker) */
};

/* The capabilities (bit N = capability N) of a container run with
 * --cap-add add and --cap-drop drop, as docker run computes them: kiln's
 * default set, podman's (CHOWN DAC_OVERRIDE FOWNER FSETID KILL
 * NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT), less drop,
 * plus add; ALL in add: every capability less drop; ALL in drop: only add.
 * Names with or without CAP_, in any case; capabilities kiln itself does
 * not hold (kiln_capability_held) are left out.  An unknown name is an
 * error naming it. */
int kiln_bundle_capabilities(char *const *add, size_t n_add, char *const *drop, size_t n_drop,
			     uint64_t *out, struct kiln_error *err);

/* config.json text (malloc'd). */
char *kiln_bundle_config_json(const struct kiln_bundle_spec *s, struct kiln_error *err);

/* "64M", "1g", "512k", "1048576" → bytes. */
int kiln_bundle_parse_size(const char *text, int64_t *out, struct kiln_error *err);

/* Read a file of the image (e.g. "etc/passwd") resolving every symlink
 * inside rootfs, never outside it.  NULL with no error set when it does not
 * exist; at most max bytes. */
char *kiln_bundle_read_image_file(const char *rootfs, const char *path, size_t max, struct kiln_error *err);

#endif
