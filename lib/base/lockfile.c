/* lockfile.c - advisory locks on files; see lockfile.h. */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

int kiln_lockfile_lock(int fd, const char *path, unsigned flags, struct kiln_error *err)
{
	int op = (flags & KILN_LOCKFILE_SHARED) ? LOCK_SH : LOCK_EX;

	if (flags & KILN_LOCKFILE_TRY)
		op |= LOCK_NB;
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		int saved = errno;
		if (saved == EWOULDBLOCK && (flags & KILN_LOCKFILE_TRY))
			return KILN_LOCKFILE_BUSY;
		kiln_error_errno(err, saved, "lock '%s'", path);
		errno = saved;
		return -1;
	}
	return 0;
}

int kiln_lockfile_open(const char *path, mode_t mode, unsigned flags, struct kiln_error *err)
{
	int oflags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
	int fd, rc;

	if (!(flags & KILN_LOCKFILE_NO_CREATE))
		oflags |= O_CREAT;
	fd = open(path, oflags, mode);
	if (fd < 0) {
		int saved = errno;
		kiln_error_errno(err, saved, "open lock file '%s'", path);
		errno = saved;
		return -1;
	}
	rc = kiln_lockfile_lock(fd, path, flags, err);
	if (rc < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return rc;
	}
	return fd;
}

void kiln_lockfile_unlock(int fd)
{
	if (fd >= 0)
		flock(fd, LOCK_UN);
}
