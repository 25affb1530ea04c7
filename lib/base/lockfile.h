/* lockfile.h - advisory locks on files (flock), the one way kiln's
 * processes take turns: the store, the network state, the containers'
 * state and monitors, the package cache's partial downloads, git notes.
 *
 * A lock is an open descriptor; closing it (or the process dying)
 * releases it, so a killed kiln never leaves a lock behind.
 */
#ifndef KILN_LOCKFILE_H
#define KILN_LOCKFILE_H

#include <sys/types.h>

#include "error.h"

enum {
	KILN_LOCKFILE_SHARED = 1 << 0,    /* a shared lock; exclusive without it */
	KILN_LOCKFILE_TRY = 1 << 1,       /* do not wait for a holder: KILN_LOCKFILE_BUSY */
	KILN_LOCKFILE_NO_CREATE = 1 << 2, /* the file must exist already */
};

/* Returned with KILN_LOCKFILE_TRY when another holds a conflicting lock. */
#define KILN_LOCKFILE_BUSY (-2)

/* Open path (O_RDWR | O_CLOEXEC | O_NOFOLLOW, created with mode unless
 * KILN_LOCKFILE_NO_CREATE) and lock it as flags say, waiting for the
 * holder unless KILN_LOCKFILE_TRY (an interrupted wait is retried).
 * Returns the locked descriptor (the caller closes it to unlock),
 * KILN_LOCKFILE_BUSY (err untouched), or -1 with err naming the path and
 * errno left at the cause (ENOENT: no such file with NO_CREATE). */
int kiln_lockfile_open(const char *path, mode_t mode, unsigned flags, struct kiln_error *err);

/* Take, or change, the lock on an open descriptor (path names it in the
 * message).  Returns 0, KILN_LOCKFILE_BUSY with KILN_LOCKFILE_TRY, or -1
 * with err set. */
int kiln_lockfile_lock(int fd, const char *path, unsigned flags, struct kiln_error *err);

/* Drop the lock but keep the descriptor open. */
void kiln_lockfile_unlock(int fd);

#endif
