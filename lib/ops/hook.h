/* hook.h - kiln's git post-commit hook: every commit builds its snapshot.
 *
 * The hook is a small sh script marked as kiln's by a comment line
 * (KILN_HOOK_MARKER), so kiln only ever replaces or removes its own hook.
 * It lives where git looks for hooks: core.hooksPath when set (relative to
 * the work tree's top, as git takes it), else hooks/ in the repository's
 * common directory, so one hook serves every worktree.  It builds with
 *
 *   KILN -C TOP build --rev COMMIT -f MANIFEST [--store DIR]
 *
 * for each manifest, TOP being the top of the work tree that committed.  In
 * the background mode (the default) it starts that detached (setsid, nohup)
 * with its output in COMMON_DIR/kiln/logs/COMMIT.log and returns at once,
 * telling on stderr where the log goes; the log ends with the line
 * "kiln hook: done (exit N)".  In the foreground mode it builds inline.
 * Builds started by quick successive commits wait for each other on the
 * store's lock.
 */
#ifndef KILN_HOOK_H
#define KILN_HOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define KILN_HOOK_MARKER "# kiln-hook: post-commit v1"
#define KILN_HOOK_DONE "kiln hook: done (exit "

/* Where the hook of the repository containing dir lives. */
struct kiln_hook_location {
	char *hook_path;            /* …/post-commit */
	char *workdir;              /* top of the work tree */
	char *common_dir;           /* git's common directory (no trailing '/') */
	char *log_dir;              /* COMMON_DIR/kiln/logs */
	bool from_hooks_path;       /* core.hooksPath is set */
};
int kiln_hook_locate(const char *dir, struct kiln_hook_location *loc, struct kiln_error *err);
void kiln_hook_location_release(struct kiln_hook_location *loc);

struct kiln_hook_options {
	char **manifests;           /* paths relative to the work tree's top */
	size_t n_manifests;
	bool foreground;
	const char *kiln;           /* absolute path of the kiln binary; NULL: `kiln` on PATH */
	const char *store;          /* --store for the builds (absolute), or NULL */
};

/* A manifest path as the user gave it (relative to the current directory
 * or absolute) → relative to the top of the work tree (malloc'd).  The file
 * must exist inside the work tree. */
char *kiln_hook_manifest_path(const struct kiln_hook_location *loc, const char *path,
			      struct kiln_error *err);

/* The hook script's text (malloc'd).  Paths holding a newline are
 * refused. */
char *kiln_hook_script(const struct kiln_hook_options *opt, struct kiln_error *err);

/* Write the hook (mode 0755, atomically), replacing kiln's own hook.  A
 * post-commit hook kiln did not write is an error unless force, which
 * moves it to post-commit.pre-kiln first (refused if that exists);
 * *moved_aside (may be NULL) then tells. */
int kiln_hook_install(const struct kiln_hook_location *loc, const struct kiln_hook_options *opt,
		      bool force, bool *moved_aside, struct kiln_error *err);

/* Remove kiln's hook; an absent hook is not an error (*removed false);
 * someone else's is, and is left alone.  A post-commit.pre-kiln that
 * install moved aside is put back (*restored, may be NULL). */
int kiln_hook_uninstall(const struct kiln_hook_location *loc, bool *removed, bool *restored,
			struct kiln_error *err);

struct kiln_hook_status {
	bool exists;                /* a post-commit hook is there */
	bool is_kiln;               /* and kiln wrote it */
	bool foreground;
	char **manifests; size_t n_manifests;
	char *kiln;                 /* the binary it calls */
	char *store;                /* or NULL */
};
int kiln_hook_status(const struct kiln_hook_location *loc, struct kiln_hook_status *st,
		     struct kiln_error *err);
void kiln_hook_status_release(struct kiln_hook_status *st);

#endif
