/* stage.h - run a command in kiln's sandbox on top of the image so far and
 * capture what it changed as a layer (docs/building.md, Steps that run).
 *
 * A stage is a scratch directory (under tmp_dir, mode 0700) holding the
 * layers below, each unpacked once (lib/image/rootfs), bottom first.
 * kiln_stage_run mounts an overlayfs of them with a fresh upper directory,
 * runs argv there in kiln's runtime (lib/runtime: its own mount, pid, uts,
 * ipc and network namespaces, the network namespace holding only lo, a
 * cgroup of its own, no host file or volume mounted, a read-write root),
 * as root (uid 0) in "/", with exactly the environment given and stdin
 * /dev/null; its output (stdout and stderr together) goes line by line to
 * the caller.  When it exits 0, the upper directory becomes a layer tar
 * written by lib/image/layer (deterministic: path order, numeric owners,
 * pax only where needed):
 *   - new and changed files, directories, symlinks and hard links, with
 *     their modes and numeric owners, mtimes above the epoch lowered to it;
 *   - deletions: overlayfs whiteouts (0:0 character devices) become
 *     ".wh.NAME", opaque directories (trusted.overlay.opaque) ".wh..wh..opq";
 *   - known non-deterministic droppings left out (dpkg's, apt's and
 *     update-alternatives' logs, ld.so's aux-cache, debconf's *-old) and
 *     /etc/machine-id emptied;
 *   - the caller's leave_out patterns (a manifest's volatile:) left out:
 *     an entry whose path matches one, with all it holds, a deletion of
 *     such a path, and a symlink that leads into one;
 *   - file capabilities (security.capability of regular files) kept, as
 *     revision 2 (a revision 3 value for a namespace root other than uid
 *     0, or a malformed one, is an error); no other extended attribute;
 *   - sockets left out; FIFOs and device nodes are an error (the tar writer
 *     has no such entries).
 * SIGINT, SIGTERM and SIGHUP that reach the caller while the command runs
 * stop it (kiln_stage_run then fails: "stopped by …").
 * Every mount is gone when kiln_stage_run returns, and kiln_stage_free
 * removes the scratch directory: nothing is left on the host.
 *
 * Needs root (mounts, namespaces, cgroups).  The caller decides what the
 * command and its environment are (build's run: steps, a later
 * configure-packages step) and what a failure means.
 */
#ifndef KILN_STAGE_H
#define KILN_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

/* The hostname and environment of build steps (docs/building.md). */
#define KILN_STAGE_HOSTNAME "kiln-build"
#define KILN_STAGE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* How many of the last output lines a result keeps, for error messages. */
#define KILN_STAGE_TAIL_LINES 10

struct kiln_stage;

/* A new, empty stage: its scratch directory under tmp_dir (NULL: /tmp). */
struct kiln_stage *kiln_stage_new(const char *tmp_dir, struct kiln_error *err);

/* What builds killed mid-step (SIGKILL, a crash) left under tmp_dir (NULL:
 * /tmp) and below cgroup_parent (NULL: "kiln"): scratch directories whose
 * owner lock no process holds, with what is still mounted in them, and
 * the empty cgroups of their steps (a step dies with its kiln: runtime.h
 * die_with_parent).  Best effort, never an error; a live build's stage is
 * never touched. */
void kiln_stage_sweep(const char *tmp_dir, const char *cgroup_parent);

/* Unmount anything still mounted and remove the scratch directory. */
void kiln_stage_free(struct kiln_stage *s);
static inline void kiln_stage_freep(struct kiln_stage **s) { if (*s) kiln_stage_free(*s); }
#define _cleanup_stage_ __attribute__((cleanup(kiln_stage_freep)))

/* Put the next layer on top (the first call gives the bottom one): a
 * layer tar, gzip, zstd or plain, held in memory. */
int kiln_stage_add_layer(struct kiln_stage *s, const void *data, size_t len, struct kiln_error *err);

struct kiln_stage_run_options {
	char *const *argv; size_t n_argv;  /* exec'd as is: argv[0] is looked up in PATH of env */
	char *const *env; size_t n_env;    /* "K=V": the whole environment */
	const char *hostname;              /* NULL: KILN_STAGE_HOSTNAME */
	int64_t epoch;                     /* mtimes above it are lowered to it (>= 0) */
	/* Absolute path patterns (fnmatch(3), FNM_PATHNAME) whose entries
	 * are not captured; checked by the caller (manifest.h volatile). */
	char *const *leave_out; size_t n_leave_out;
	const char *cgroup_parent;         /* NULL: "kiln" */
	const char *id;                    /* cgroup leaf and messages, e.g. "build-1234-2" */
	/* Each line of output as it comes (without its newline; a very long
	 * line arrives in pieces); may be NULL. */
	void (*output)(void *ctx, const char *line);
	void *output_ctx;
};

struct kiln_stage_result {
	int exit_code;               /* 0-255, 128+signal */
	char *tail;                  /* the last KILN_STAGE_TAIL_LINES lines of output, "\n"-separated */
	struct kiln_buf tar;         /* the layer (uncompressed), when exit_code is 0 */
	char diff_id[7 + 64 + 1];    /* "sha256:" + hex of tar */
	uint64_t entries;            /* tar entries */
};
void kiln_stage_result_release(struct kiln_stage_result *r);

/* Run the command over the layers added so far (at least one) and, when
 * it exits 0, capture its changes into res->tar.  Returns 0 when the
 * command ran (whatever its exit code: the caller decides), -1 with err
 * set when it could not be run or its changes not captured. */
int kiln_stage_run(struct kiln_stage *s, const struct kiln_stage_run_options *o,
		   struct kiln_stage_result *res, struct kiln_error *err);

#endif
