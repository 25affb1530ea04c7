/* fsutil.h - files: whole reads, atomic writes, directories. */
#ifndef KILN_FSUTIL_H
#define KILN_FSUTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Read a whole file into a NUL-terminated malloc'd buffer (caller frees).
 * Fails when the file is larger than max_size bytes. */
char *kiln_file_read(const char *path, size_t max_size, size_t *len, struct kiln_error *err);
/* Like kiln_file_read, for files others may have replaced (store blobs,
 * records): only a regular file is read; a FIFO, device or directory is an
 * error, never a hang.  Such a file, or one over max_size, is a failed
 * verification (exit 3): something that is not kiln's is in kiln's place. */
char *kiln_file_read_regular(const char *path, size_t max_size, size_t *len, struct kiln_error *err);

/* Write data to path atomically: a temp file in the same directory,
 * fsync, rename over path, fsync of the directory.  A crash leaves either
 * the old file or the new one, never a mix.  mode is the new file's mode.
 * The writer holds a lock (flock) on its temp file until the rename, so
 * the temps of earlier writers that were killed ("PATH.tmp.XXXXXX" that
 * nobody holds) are removed on the way, and a live writer's never are. */
int kiln_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err);

/* The first half of an atomic write: data in a new temporary file beside
 * path ("PATH.tmp.XXXXXX", created 0600 with O_EXCL), chmod'ed to mode and
 * fsynced.  Returns its name (caller frees; the caller renames or links it
 * into place, or unlinks it), or NULL with err set and nothing left behind.
 * The temp is not locked once this returns: a kiln_file_write_atomic of
 * the same path meanwhile may take it for a killed writer's. */
char *kiln_file_write_temp(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err);

/* Flags of kiln_file_replace and kiln_file_rename. */
enum {
	/* No fsync of the file or of its directory: for volatile state (on a
	 * tmpfs, or records that a reboot makes stale anyway) that must be
	 * cheap to write.  The rename still makes the replacement
	 * all-or-nothing for readers; only durability across a crash is
	 * given up. */
	KILN_FILE_NOSYNC = 1 << 0,
};

/* kiln_file_write_atomic with flags (KILN_FILE_NOSYNC): the one writer of
 * whole files by temporary file and rename. */
int kiln_file_replace(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
		      struct kiln_error *err);

/* kiln_file_commit with flags: rename tmp_path over path (tmp_path is
 * unlinked if that fails) and, unless KILN_FILE_NOSYNC, fsync the
 * directory.  For a file written first and moved into place only once
 * something else accepted it. */
int kiln_file_rename(const char *tmp_path, const char *path, unsigned flags,
		     struct kiln_error *err);

/* Write all of data to fd (retrying short writes and EINTR); returns 0 or
 * an errno value. */
int kiln_write_all(int fd, const void *data, size_t len);

/* Rename tmp_path over path and fsync the directory (tmp_path must already be
 * fsynced and in the same directory). */
int kiln_file_commit(const char *tmp_path, const char *path, struct kiln_error *err);

/* fsync the directory that holds path, so a rename or link into it is
 * durable. */
int kiln_fsync_dir_of(const char *path, struct kiln_error *err);

/* mkdir -p with the given mode for directories it creates. */
int kiln_mkdir_p(const char *path, mode_t mode, struct kiln_error *err);

/* The directory part of path, malloc'd ("." when there is none). */
char *kiln_path_dirname(const char *path);

/* Join a and b with exactly one '/', malloc'd. */
char *kiln_path_join(const char *a, const char *b);

/* The shared cache directory, malloc'd, from the values of $KILN_CACHE,
 * $XDG_CACHE_HOME and $HOME (each may be NULL; the command line reads
 * them): kiln_cache if not empty, else XDG_CACHE_HOME/kiln if absolute,
 * else HOME/.cache/kiln, else /var/cache/kiln. */
char *kiln_cache_dir(const char *kiln_cache, const char *xdg_cache_home, const char *home);

/* Remove path and everything below it, never crossing into another mount
 * or following symlinks.  A missing path is not an error. */
int kiln_remove_tree(const char *path, struct kiln_error *err);

/* Remove the temporary files "PATH.tmp.XXXXXX" that killed writers of path
 * left beside it: only regular files no live writer holds (see
 * kiln_file_write_atomic), by unlinkat() in the directory already open, so
 * a symlink is never followed.  Best effort: errors are ignored. */
void kiln_file_remove_stale_temps(const char *path);

/* ---- beneath a directory kiln has verified -------------------------------
 *
 * A cloned repository decides what its work tree holds, symlinks included:
 * a committed `snapshots/tmp -> /victim` must not make kiln delete, write or
 * read anything in /victim.  So below a directory the user chose (the work
 * tree, --store, $KILN_STORE, $KILN_CACHE) kiln opens each directory and
 * file with openat() relative to the descriptor of the directory above it
 * and O_NOFOLLOW, as openat2's RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS would,
 * on every kernel: nothing is re-resolved from a path string later, and a
 * symlink (or anything not a directory) where kiln expects its own
 * directory or file is refused, naming it, as something that is not kiln's
 * in kiln's place (exit 3).  See docs/building.md, "What the store trusts".
 */

/* Open the directory path as the user named it: symlinks on the way are
 * the user's choice and are followed.  create: mkdir -p (mode).  Returns an
 * O_DIRECTORY descriptor, or -1 with err set and errno saying why. */
int kiln_dir_open(const char *path, bool create, mode_t mode, struct kiln_error *err);

/* Open the directory rel ("a" or "a/b/c": relative, no empty, "." or ".."
 * component) beneath the open directory dirfd, whose path label names in
 * messages, following no symlink.  create makes missing components (mode).
 * Returns an O_DIRECTORY descriptor, or -1 with err naming the path and
 * errno saying why: ENOENT (missing, without create), ELOOP (a component is
 * a symlink) or ENOTDIR (not a directory), both refused with exit 3, or the
 * system's error. */
int kiln_dir_open_beneath(int dirfd, const char *label, const char *rel, bool create, mode_t mode,
			  struct kiln_error *err);

/* Open the regular file name (one component) in dirfd for reading, with
 * O_NOFOLLOW and O_NONBLOCK: a symlink, FIFO, device or directory is
 * refused (exit 3), never followed or waited on.  Returns the descriptor,
 * or -1 with err set and errno ENOENT when there is no such file. */
int kiln_file_open_at(int dirfd, const char *label, const char *name, struct kiln_error *err);
/* kiln_file_read_regular of name in dirfd, opened as kiln_file_open_at does. */
char *kiln_file_read_at(int dirfd, const char *label, const char *name, size_t max_size, size_t *len,
			struct kiln_error *err);

/* Create a new file in dirfd named prefix + 6 random characters, 0600,
 * O_EXCL (so never through a symlink).  Returns its descriptor and *name
 * (malloc'd), or -1 with errno set. */
int kiln_file_create_temp_at(int dirfd, const char *prefix, char **name);

/* kiln_file_write_atomic of name in dirfd: "NAME.tmp.XXXXXX" created in
 * dirfd, written, fsynced, renamed over name with renameat() (a symlink in
 * name's place is replaced, never followed), then dirfd fsynced.  The temp
 * is not locked: callers hold a lock of their own (the store's). */
int kiln_file_write_atomic_at(int dirfd, const char *label, const char *name, const void *data,
			      size_t len, mode_t mode, struct kiln_error *err);

/* Remove the entries of dirfd whose names contain mark (when mark is NULL,
 * every entry whose name does not start with '.'), with unlinkat() on dirfd:
 * a symlink entry is removed itself, never followed; directories stay. */
void kiln_dir_remove_matching(int dirfd, const char *mark);

/* A directory stream over fd, read from its start, on a duplicate of fd:
 * closedir() leaves fd open for its owner.  NULL with errno set. */
DIR *kiln_dir_stream(int fd);

/* mkdir -p of rel beneath the directory base: base as the user named it
 * (kiln_dir_open), rel beneath it following no symlink
 * (kiln_dir_open_beneath), so that a later path base/rel/… leads where it
 * says.  For kiln's cache, which the user may have put inside a work tree. */
int kiln_dir_ensure_beneath(const char *base, const char *rel, mode_t mode, struct kiln_error *err);

/* Check that rel ("a/b/name") beneath the directory base leads through no
 * symlink: each directory on the way is a real directory (or missing), and
 * name, when it exists, is not a symlink.  0, or -1 with err naming what is
 * refused (exit 3).  For a file kiln then reaches by its path, such as the
 * default signing key .kiln/signing.key in a cloned work tree. */
int kiln_path_check_beneath(const char *base, const char *rel, struct kiln_error *err);

/* kiln_file_read_regular without following a symlink as path's last
 * component (refused, exit 3): for kiln's own files in a directory checked
 * with kiln_dir_ensure_beneath. */
char *kiln_file_read_nofollow(const char *path, size_t max_size, size_t *len, struct kiln_error *err);

/* Copy the tree below the directory src_dirfd into the empty directory
 * dst_dirfd, then give dst src's owner, group, mode and times: directories,
 * regular files (their bytes), symbolic links (the link itself, never
 * followed), each with its numeric owner and group, permission bits and
 * access and modification times.  Every entry of src is opened relative to
 * its directory with O_NOFOLLOW, so nothing outside src is read.  Setuid
 * and setgid bits of copied files are cleared (a directory keeps setgid and
 * the sticky bit); files with several names below src are copied once,
 * their other names hard links to the copy; sockets, FIFOs and
 * device nodes are skipped; extended attributes are not copied.  label
 * names src in messages ("the image's /data").  Directories deeper than
 * KILN_COPY_DEPTH_MAX below src are refused.  On failure, dst holds part
 * of the copy: the caller removes it. */
#define KILN_COPY_DEPTH_MAX 256
int kiln_dir_copy_tree(int src_dirfd, int dst_dirfd, const char *label, struct kiln_error *err);

/* fsync an open directory; 0 or -1 with err naming label. */
int kiln_fsync_fd(int fd, const char *label, struct kiln_error *err);

#endif
