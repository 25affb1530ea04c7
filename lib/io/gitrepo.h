/* gitrepo.h - reading a commit's tree with libgit2.
 *
 * A build reads the manifest, its lock and the files it copies from one
 * commit's tree, never from the work directory, so what is built is
 * exactly what was committed.
 */
#ifndef KILN_GITREPO_H
#define KILN_GITREPO_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define KILN_GIT_OID_HEX 40

struct kiln_git;

/* Open the repository that contains path (searching upwards). */
struct kiln_git *kiln_git_open(const char *path, struct kiln_error *err);
void kiln_git_free(struct kiln_git *g);

/* The top of the work tree (absolute, no trailing '/'). */
const char *kiln_git_workdir(const struct kiln_git *g);

/* git's common directory, shared by every worktree of the repository
 * (absolute, as libgit2 gives it: with a trailing '/'). */
const char *kiln_git_common_dir(const struct kiln_git *g);

/* A path-valued config entry such as core.hooksPath, read as git reads it
 * ('~/' expanded).  *value is malloc'd, or NULL when the key is not set. */
int kiln_git_config_path(struct kiln_git *g, const char *key, char **value,
			 struct kiln_error *err);

/* Resolve any revision (HEAD~2, v1.4, a prefix) to a commit: its id and
 * committer time (seconds since the epoch, UTC). */
int kiln_git_resolve(struct kiln_git *g, const char *rev, char id[KILN_GIT_OID_HEX + 1],
		     int64_t *commit_time, struct kiln_error *err);

/* The bytes of the file at path (relative to the repository's top) in the
 * commit's tree; malloc'd, NUL-terminated.  *found is false (and 0 is
 * returned) when there is no such file.  A symbolic link there is refused
 * (a verification failure, exit 3), never read as its target's name. */
char *kiln_git_read_file(struct kiln_git *g, const char *commit, const char *path, size_t *len,
			 bool *found, struct kiln_error *err);

enum kiln_git_kind { KILN_GIT_FILE, KILN_GIT_EXECUTABLE, KILN_GIT_SYMLINK, KILN_GIT_DIR };

/* Visit path in the commit's tree: a file calls fn once with relpath "";
 * a directory calls fn for itself ("") and then every entry below it, in
 * git's (byte) order, with relpath relative to path.  data is the blob
 * (a symlink's target for symlinks; NULL for directories).  Submodules
 * are an error.  fn returns 0 to go on, -1 to stop with its error. */
typedef int (*kiln_git_visit_fn)(void *ctx, const char *relpath, enum kiln_git_kind kind,
				 const char *blob_id, const void *data, size_t len,
				 struct kiln_error *err);
int kiln_git_walk(struct kiln_git *g, const char *commit, const char *path, kiln_git_visit_fn fn,
		  void *ctx, bool *found, struct kiln_error *err);

/* The blob or tree id at path (for build cache keys), or "" when absent. */
int kiln_git_path_id(struct kiln_git *g, const char *commit, const char *path,
		     char id[KILN_GIT_OID_HEX + 1], struct kiln_error *err);

/* Git notes: the text of commit's note under notes_ref (malloc'd), or NULL
 * with *found false (and no error) when it has none. */
char *kiln_git_note_read(struct kiln_git *g, const char *notes_ref, const char *commit, bool *found,
			 struct kiln_error *err);
/* Set commit's note under notes_ref to text, replacing any earlier one.
 * Committed as the repository's user.name/email, else as "kiln".  Returns
 * -2 when another writer moved or holds the notes ref meanwhile (read and
 * merge again, then retry).  kiln writers take turns (an flock on
 * COMMON_DIR/kiln/notes.lock), and a NOTES_REF.lock left by a writer that
 * was killed is removed: by a kiln (its pid is left in notes.lock), or by
 * anything once it is a minute old. */
int kiln_git_note_write(struct kiln_git *g, const char *notes_ref, const char *commit,
			const char *text, struct kiln_error *err);

struct kiln_git_commit_info {
	char id[KILN_GIT_OID_HEX + 1];
	int64_t time;               /* committer time */
	char *subject;              /* first line of the message */
};
/* The commits of range, newest first (topological, then by time), at most
 * max of them (0: all): range is a revision (its history, like `git log REV`)
 * or "A..B" (reachable from B, not from A). */
int kiln_git_history(struct kiln_git *g, const char *range, size_t max,
		     struct kiln_git_commit_info **out, size_t *n, struct kiln_error *err);
void kiln_git_history_free(struct kiln_git_commit_info *list, size_t n);

#endif
