/* kiln.h - what the command files share: global options and helpers. */
#ifndef KILN_CMD_H
#define KILN_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "container.h"
#include "error.h"
#include "gitrepo.h"
#include "store.h"

struct kiln_cli {
	const char *manifest;       /* -f; NULL means ./kiln.yaml */
	const char *store;          /* --store */
	bool json, quiet, verbose;
	const char *command;        /* for messages: "kiln: lock: …" */
};

struct kiln_command {
	const char *name;
	int (*run)(int argc, char **argv, struct kiln_cli *cli);
	const char *summary;        /* one line for `kiln --help` */
};

/* Print "kiln: COMMAND: message" once and return the exit code to use. */
int kiln_cli_fail(const struct kiln_cli *cli, const struct kiln_error *err);
/* Usage error: message + "see kiln COMMAND --help"; returns 2. */
int kiln_cli_usage(const struct kiln_cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print s with control bytes escaped ("\x1b"): for names and paths that
 * come from hostile input (tar entries, record files, YAML values). */
void kiln_cli_print_escaped(FILE *out, const char *s);
/* The same with every control byte escaped, "\n  " too: for an image's
 * paths and link targets in a report, where no name may forge a line. */
void kiln_cli_print_bytes(FILE *out, const char *s);
/* A JSON string for bytes that need not be UTF-8 (json_string refuses
 * them): when they are not, bytes above 0x7f become "\xNN" text. */
json_t *kiln_cli_json_bytes(const char *s);

/* The manifest path to use (-f or ./kiln.yaml). */
const char *kiln_cli_manifest(const struct kiln_cli *cli);

/* Progress on a terminal: a transient status line on stderr, redrawn at
 * most ten times a second; silent when stderr is not a terminal or -q. */
void kiln_cli_progress(void *cli, const char *label, uint64_t done, uint64_t total);
void kiln_cli_progress_done(const struct kiln_cli *cli);

/* What a command naming snapshots opens: the git repository (NULL outside
 * a work tree: then only sha256: names resolve), the store (read-only: no
 * lock is taken) and the manifest's name, which "@REV" means (NULL when
 * there is no manifest). */
struct kiln_cli_snapshots {
	struct kiln_git *git;
	struct kiln_store *store;
	char *store_dir;
	char *default_name;
};
int kiln_cli_snapshots_open(const struct kiln_cli *cli, struct kiln_cli_snapshots *s,
			    struct kiln_error *err);
void kiln_cli_snapshots_close(struct kiln_cli_snapshots *s);
/* The kiln_snapref_resolve flags: KILN_SNAPREF_INSECURE when --insecure
 * was given or $KILN_INSECURE is set (to anything but "" or "0"), for
 * stores built with --no-sign. */
unsigned kiln_cli_snapref_flags(bool insecure_option);

/* Generate a key pair where `kiln keygen` would put it (key_opt, pub_opt
 * may be NULL: $KILN_KEY or WORKDIR/.kiln/signing.key, and
 * WORKDIR/.kiln/trusted/<id>.pub); paths returned malloc'd. */
int kiln_cli_keygen(const char *workdir, const char *key_opt, const char *pub_opt, bool force,
		    char keyid[7 + 64 + 1], char **priv_out, char **pub_out, struct kiln_error *err);

/* The environment, read in cmd/kiln/env.c alone and passed down as
 * options (docs/architecture.md, Environment).  Strings are NULL when the
 * variable is unset or empty unless said otherwise. */
struct kiln_mirror_settings;
const char *kiln_env_store(void);          /* $KILN_STORE */
const char *kiln_env_key(void);            /* $KILN_KEY */
bool kiln_env_insecure(void);              /* $KILN_INSECURE set, not "" or "0" */
const char *kiln_env_tmpdir(void);         /* $TMPDIR, else "/tmp" */
const char *kiln_env_build_cgroup_parent(void); /* $KILN_CGROUP_PARENT, for run: steps */
/* The shared cache from $KILN_CACHE, $XDG_CACHE_HOME, $HOME; malloc'd. */
char *kiln_env_cache_dir(void);
/* $KILN_MIRROR_<NAME>, $KILN_MIRROR, $KILN_APT_ETC; read once, static. */
const struct kiln_mirror_settings *kiln_env_mirrors(void);
/* `-e KEY=VALUE` as is, `-e KEY` as KEY=<the caller's value>; both
 * malloc'd; NULL when KEY is unset (it is not passed). */
char *kiln_env_resolve_var(const char *kv);
/* Settings the library keeps per process ($KILN_CGROUP2_MOUNT), made once
 * by main() before any command runs. */
void kiln_env_apply_process_settings(void);
/* The store option to pass down: --store if not empty, else $KILN_STORE. */
const char *kiln_cli_store(const struct kiln_cli *cli);

int cmd_init(int argc, char **argv, struct kiln_cli *cli);
int cmd_lock(int argc, char **argv, struct kiln_cli *cli);
int cmd_build(int argc, char **argv, struct kiln_cli *cli);
int cmd_export(int argc, char **argv, struct kiln_cli *cli);
int cmd_keygen(int argc, char **argv, struct kiln_cli *cli);
int cmd_run(int argc, char **argv, struct kiln_cli *cli);
int cmd_ps(int argc, char **argv, struct kiln_cli *cli);
int cmd_logs(int argc, char **argv, struct kiln_cli *cli);
int cmd_stop(int argc, char **argv, struct kiln_cli *cli);
int cmd_rm(int argc, char **argv, struct kiln_cli *cli);
int cmd_exec(int argc, char **argv, struct kiln_cli *cli);
int cmd_verify(int argc, char **argv, struct kiln_cli *cli);
int cmd_audit(int argc, char **argv, struct kiln_cli *cli);
int cmd_log(int argc, char **argv, struct kiln_cli *cli);
int cmd_hook(int argc, char **argv, struct kiln_cli *cli);
int cmd_gc(int argc, char **argv, struct kiln_cli *cli);
int cmd_diff(int argc, char **argv, struct kiln_cli *cli);
int cmd_deploy(int argc, char **argv, struct kiln_cli *cli);
int cmd_rollback(int argc, char **argv, struct kiln_cli *cli);
int cmd_history(int argc, char **argv, struct kiln_cli *cli);

/* "12.3 MB" (decimal units, as progress shows them) into buf. */
void kiln_cli_format_size(uint64_t bytes, char buf[32]);

/* ---- the environment (env.c): containers and builds ---- */

/* KILN_ROOT, KILN_CGROUP_PARENT, KILN_NET_BRIDGE/SUBNET/TABLE (and their
 * older names KILN_BRIDGE, KILN_SUBNET, KILN_NFT_TABLE) into o; the
 * strings are the environment's. */
void kiln_env_container_root(struct kiln_container_root_options *o);
/* kiln_container_root_open with the options the environment gives. */
struct kiln_container_root *kiln_env_container_root_open(struct kiln_error *err);
/* $KILN_RUNTIME: the runtime when --runtime is not given (NULL: unset). */
const char *kiln_env_runtime(void);
/* ROOT: $KILN_ROOT, else KILN_CONTAINER_ROOT_DEFAULT (services' histories live there). */
const char *kiln_env_root_dir(void);
/* $SOURCE_DATE_EPOCH (reproducible-builds.org), NULL when unset. */
const char *kiln_env_source_date_epoch(void);

#endif
