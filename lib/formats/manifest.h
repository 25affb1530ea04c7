/* manifest.h - kiln.yaml, the manifest (docs/manifest.md), parsed strictly.
 *
 * Every scalar is taken as the string it is written as (no YAML implicit
 * typing).  Unknown keys, wrong types, duplicate keys, anchors/aliases,
 * unpinned or malformed versions and unsafe paths are errors whose message
 * reads "FILE:LINE:COL: key.path: what was expected".  Optional fields
 * that are absent are NULL (strings) or 0 (counts).
 */
#ifndef KILN_MANIFEST_H
#define KILN_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Bounds on hostile input: the largest manifest read (bytes), the deepest
 * nesting of lists and mappings, and the most YAML values (scalars, lists
 * and mappings together) in one manifest. */
#define KILN_MANIFEST_MAX_SIZE (4 * 1024 * 1024)
#define KILN_MANIFEST_MAX_DEPTH 64
#define KILN_MANIFEST_MAX_NODES 100000

/* Where a value was written, for error messages of later stages. */
struct kiln_mark {
	unsigned line, column; /* 1-based */
};

struct kiln_source {
	char *name;            /* [a-z0-9][a-z0-9._-]*, unique in the manifest */
	char *suite;           /* e.g. bookworm, bookworm-security */
	char **components;     /* default {"main"} */
	size_t n_components;
	char *keyring;         /* path; NULL when trusted */
	bool trusted;          /* "trusted: true": skip signature checks */
	char *url;             /* optional base URL (http:// or https://) */
	char **fallback;       /* optional more base URLs for pinned files */
	size_t n_fallback;
	struct kiln_mark mark;
};

struct kiln_package_pin {
	char *name;            /* Debian package name */
	char *version;         /* exact Debian version */
	struct kiln_mark mark; /* of the version scalar */
};

struct kiln_file_copy {
	char *src;             /* relative, no "..", may end in "/" */
	char *dst;             /* absolute path in the image */
	char *mode;            /* octal string or NULL (default 0644) */
	char *dir_mode;        /* octal string or NULL (default 0755) */
	char *owner;           /* "UID:GID" or NULL (default 0:0) */
	char *from;            /* NULL: src from the commit's tree; else another manifest (relative, .yaml/.yml)
	                        * whose image src (then absolute) is copied from */
	struct kiln_mark mark;
};

struct kiln_group {
	char *name;
	char *gid;
	char **members;
	size_t n_members;
};

struct kiln_user {
	char *name;
	char *uid;
	char *gid;
	char *home;            /* NULL: "/" */
	char *shell;           /* NULL: /usr/sbin/nologin */
	char **groups;         /* supplementary group names */
	size_t n_groups;
};

/* One run: step (docs/manifest.md): a string is a shell command
 * (argv = { the string }, run as /bin/sh -c STRING), a list is the
 * argv itself (exec form, no shell). */
struct kiln_run_step {
	char **argv; size_t n_argv;
	bool exec;             /* written as a list */
	struct kiln_mark mark;
};

struct kiln_keyval {
	char *key;
	char *value;
};

struct kiln_image_config {
	char **entrypoint; size_t n_entrypoint; bool has_entrypoint;
	char **cmd; size_t n_cmd; bool has_cmd;
	struct kiln_keyval *env; size_t n_env;        /* in file order */
	char *workdir;
	char *user;
	char **ports; size_t n_ports;                 /* "8080/tcp" */
	struct kiln_keyval *labels; size_t n_labels;  /* in file order */
	char *stop_signal;
	char **volumes; size_t n_volumes;             /* absolute paths */
};

struct kiln_health {
	char *http;            /* path, e.g. "/" */
	char *port;            /* with http only */
	char *tcp;             /* a container port to connect to */
	char **cmd; size_t n_cmd;
	char *interval, *timeout, *start_period; /* durations "500ms", "2s" */
	char *retries;
};

struct kiln_service {
	bool present;
	char *network;         /* bridge | host | none | container:NAME */
	char **publish; size_t n_publish;   /* "[IP:]HOST:CONTAINER[/tcp|udp]" */
	char **volumes; size_t n_volumes;   /* "NAME:/path[:ro]" */
	struct kiln_health health; bool has_health;
	char *memory, *pids, *cpus;         /* resources */
	char *init;            /* "true" | "false" */
	char **after; size_t n_after;       /* names of other services */
	char *update_order;    /* start-first | stop-first */
	char *update_drain;    /* duration */
	char *update_grace;    /* duration */
	char *update_monitor;  /* duration */
	char *update_on_failure; /* rollback | pause | continue */
};

struct kiln_manifest {
	char *path;            /* as given to kiln_manifest_load */
	char *name;
	char *architecture;    /* default "amd64" */
	struct kiln_source *sources; size_t n_sources;
	struct kiln_package_pin *packages; size_t n_packages; /* in file order */
	char *epoch;           /* decimal seconds; default "0" */
	char *base;            /* "scratch" (default), a manifest path, or oci:PATH@sha256:HEX */
	struct kiln_file_copy *files; size_t n_files;
	struct kiln_group *groups; size_t n_groups;
	struct kiln_user *users; size_t n_users;
	struct kiln_run_step *run; size_t n_run;
	char *scripts;         /* "run" or "skip" as written; NULL: not given (run) */
	/* debconf: "PACKAGE QUESTION TYPE VALUE" lines, as written (checked),
	 * fed to debconf-set-selections before packages are configured. */
	char **debconf; size_t n_debconf;
	/* volatile: absolute path patterns (fnmatch, FNM_PATHNAME) left out of
	 * the configure layer and every run: layer (docs/manifest.md). */
	char **volatile_paths; size_t n_volatile_paths;
	struct kiln_image_config config;
	struct kiln_service service;
};

/* Parse a manifest held in memory; `path` is used in messages only. */
struct kiln_manifest *kiln_manifest_parse(const char *path, const char *data, size_t len,
					  struct kiln_error *err);

/* Read and parse the file at path (at most 4 MiB). */
struct kiln_manifest *kiln_manifest_load(const char *path, struct kiln_error *err);

void kiln_manifest_free(struct kiln_manifest *m);
static inline void kiln_manifest_freep(struct kiln_manifest **m) { if (*m) kiln_manifest_free(*m); }
#define _cleanup_manifest_ __attribute__((cleanup(kiln_manifest_freep)))

#endif
