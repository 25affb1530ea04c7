#include "fsutil.h"

#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char *read_open_file(int fd, const char *path, bool regular_only, size_t max_size, size_t *len,
			    struct kiln_error *err)
{
	_cleanup_free_ char *data = NULL;
	struct stat st;
	size_t alloc = 0, used = 0;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		kiln_error_set(err, "read '%s': is a directory", path);
		if (regular_only)
			kiln_error_verification(err);
		return NULL;
	}
	if (regular_only && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		kiln_error_set(err, "read '%s': not a regular file", path);
		kiln_error_verification(err);
		return NULL;
	}
	for (;;) {
		ssize_t n;

		kiln_xgrow(&data, &alloc, used + 65536 + 1, 1);
		n = read(fd, data + used, alloc - used - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kiln_error_errno(err, errno, "read '%s'", path);
			return NULL;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max_size) {
			kiln_error_set(err, "read '%s': larger than %zu bytes", path, max_size);
			if (regular_only)
				kiln_error_verification(err);
			return NULL;
		}
	}
	data[used] = '\0';
	if (len)
		*len = used;
	return kiln_steal_pointer(&data);
}

char *kiln_file_read(const char *path, size_t max_size, size_t *len, struct kiln_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		kiln_error_errno(err, errno, "open '%s'", path);
		return NULL;
	}
	return read_open_file(fd, path, false, max_size, len, err);
}

char *kiln_file_read_regular(const char *path, size_t max_size, size_t *len, struct kiln_error *err)
{
	/* O_NONBLOCK: opening a FIFO planted in its place must not hang. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		kiln_error_errno(err, errno, "open '%s'", path);
		return NULL;
	}
	return read_open_file(fd, path, true, max_size, len, err);
}

int kiln_fsync_dir_of(const char *path, struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_path_dirname(path);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return kiln_error_errno(err, errno, "open directory '%s'", dir);
	if (fsync(fd) < 0 && errno != EINVAL)
		return kiln_error_errno(err, errno, "fsync directory '%s'", dir);
	return 0;
}

int kiln_file_rename(const char *tmp_path, const char *path, unsigned flags,
		     struct kiln_error *err)
{
	if (rename(tmp_path, path) < 0) {
		int saved = errno;
		unlink(tmp_path);
		return kiln_error_errno(err, saved, "rename '%s' to '%s'", tmp_path, path);
	}
	if (flags & KILN_FILE_NOSYNC)
		return 0;
	return kiln_fsync_dir_of(path, err);
}

int kiln_file_commit(const char *tmp_path, const char *path, struct kiln_error *err)
{
	return kiln_file_rename(tmp_path, path, 0, err);
}

int kiln_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static char *write_temp(const char *path, const void *data, size_t len, mode_t mode,
			unsigned flags, struct kiln_error *err)
{
	_cleanup_free_ char *tmp = kiln_xasprintf("%s.tmp.XXXXXX", path);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	int rc;

	if (fd < 0) {
		kiln_error_errno(err, errno, "create temporary file for '%s'", path);
		return NULL;
	}
	if ((rc = kiln_write_all(fd, data, len)) != 0 ||
	    (fchmod(fd, mode) < 0 && (rc = errno)) ||
	    (!(flags & KILN_FILE_NOSYNC) && fsync(fd) < 0 && (rc = errno))) {
		unlink(tmp);
		kiln_error_errno(err, rc, "write '%s'", tmp);
		return NULL;
	}
	return kiln_steal_pointer(&tmp);
}

char *kiln_file_write_temp(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err)
{
	return write_temp(path, data, len, mode, 0, err);
}

int kiln_file_replace(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
		      struct kiln_error *err)
{
	_cleanup_free_ char *tmp = write_temp(path, data, len, mode, flags, err);

	if (!tmp)
		return -1;
	return kiln_file_rename(tmp, path, flags, err);
}

int kiln_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err)
{
	return kiln_file_replace(path, data, len, mode, 0, err);
}

int kiln_mkdir_p(const char *path, mode_t mode, struct kiln_error *err)
{
	_cleanup_free_ char *copy = kiln_xstrdup(path);

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return kiln_error_errno(err, errno, "create directory '%s'", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return kiln_error_errno(err, errno, "create directory '%s'", copy);
	return 0;
}

char *kiln_path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return kiln_xstrdup(".");
	if (slash == path)
		return kiln_xstrdup("/");
	return kiln_xstrndup(path, (size_t)(slash - path));
}

char *kiln_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	return kiln_xasprintf("%.*s/%s", (int)la, a, b);
}

char *kiln_cache_dir(void)
{
	const char *v;

	if ((v = getenv("KILN_CACHE")) && *v)
		return kiln_xstrdup(v);
	if ((v = getenv("XDG_CACHE_HOME")) && *v == '/')
		return kiln_path_join(v, "kiln");
	if ((v = getenv("HOME")) && *v)
		return kiln_xasprintf("%s/.cache/kiln", v);
	return kiln_xstrdup("/var/cache/kiln");
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP ? rmdir(path) : unlink(path)) {
		if (errno != ENOENT)
			return errno;
	}
	return 0;
}

int kiln_remove_tree(const char *path, struct kiln_error *err)
{
	int rc;

	errno = 0;
	rc = nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (rc == 0 || (rc < 0 && errno == ENOENT))
		return 0;
	return kiln_error_errno(err, rc > 0 ? rc : errno, "remove '%s'", path);
}
