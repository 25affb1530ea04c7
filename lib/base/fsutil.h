/* fsutil.h - files: whole reads, atomic writes, directories. */
#ifndef KILN_FSUTIL_H
#define KILN_FSUTIL_H

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
 * the old file or the new one, never a mix.  mode is the new file's mode. */
int kiln_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err);

/* The first half of an atomic write: data in a new temporary file beside
 * path ("PATH.tmp.XXXXXX", created 0600 with O_EXCL), chmod'ed to mode and
 * fsynced.  Returns its name (caller frees; the caller renames or links it
 * into place, or unlinks it), or NULL with err set and nothing left behind. */
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

/* $XDG_CACHE_HOME/kiln (or $HOME/.cache/kiln), malloc'd; KILN_CACHE overrides. */
char *kiln_cache_dir(void);

/* Remove path and everything below it, never crossing into another mount
 * or following symlinks.  A missing path is not an error. */
int kiln_remove_tree(const char *path, struct kiln_error *err);

#endif
