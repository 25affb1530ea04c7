#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
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

/* A new "PATH.tmp.XXXXXX" holding data, fsynced (unless KILN_FILE_NOSYNC),
 * with an exclusive flock held on *fd_out: kiln_file_remove_stale_temps
 * leaves it alone while it is held.  Returns its name, or NULL with err set
 * and nothing left. */
static char *write_locked_temp(const char *path, const void *data, size_t len, mode_t mode,
			       unsigned flags, int *fd_out, struct kiln_error *err)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		_cleanup_free_ char *tmp = kiln_xasprintf("%s.tmp.XXXXXX", path);
		_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
		struct stat st;
		int rc;

		if (fd < 0) {
			kiln_error_errno(err, errno, "create temporary file for '%s'", path);
			return NULL;
		}
		/* A sweep may have taken the new file for a dead writer's between
		 * its creation and the lock: then it is unlinked, and we start over. */
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0) {
			rc = errno;
			unlink(tmp);
			kiln_error_errno(err, rc, "lock '%s'", tmp);
			return NULL;
		}
		if (st.st_nlink == 0)
			continue;
		if ((rc = kiln_write_all(fd, data, len)) != 0 || (fchmod(fd, mode) < 0 && (rc = errno)) ||
		    (!(flags & KILN_FILE_NOSYNC) && fsync(fd) < 0 && (rc = errno))) {
			unlink(tmp);
			kiln_error_errno(err, rc, "write '%s'", tmp);
			return NULL;
		}
		*fd_out = kiln_steal_fd(&fd);
		return kiln_steal_pointer(&tmp);
	}
	kiln_error_set(err, "create temporary file for '%s': removed by another process again and again", path);
	return NULL;
}

char *kiln_file_write_temp(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err)
{
	_cleanup_close_ int fd = -1;

	return write_locked_temp(path, data, len, mode, 0, &fd, err);
}

int kiln_file_replace(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
		      struct kiln_error *err)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;

	kiln_file_remove_stale_temps(path);
	tmp = write_locked_temp(path, data, len, mode, flags, &fd, err);
	if (!tmp)
		return -1;
	/* The lock is held across the rename: until then the temp is ours. */
	return kiln_file_rename(tmp, path, flags, err);
}

int kiln_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err)
{
	return kiln_file_replace(path, data, len, mode, 0, err);
}

void kiln_file_remove_stale_temps(const char *path)
{
	_cleanup_free_ char *dir = kiln_path_dirname(path);
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *prefix = kiln_xasprintf("%s.tmp.", slash ? slash + 1 : path);
	size_t plen = strlen(prefix);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		_cleanup_close_ int fd = -1;
		struct stat st, now;

		/* Exactly mkostemp's names: PATH.tmp. and six characters. */
		if (strncmp(de->d_name, prefix, plen) != 0 || strlen(de->d_name) != plen + 6)
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		/* Held: a live writer's.  Free: its writer is gone. */
		if (flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		if (fstatat(dfd, de->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino &&
		    now.st_dev == st.st_dev)
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
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

char *kiln_cache_dir(const char *kiln_cache, const char *xdg_cache_home, const char *home)
{
	if (kiln_cache && *kiln_cache)
		return kiln_xstrdup(kiln_cache);
	if (xdg_cache_home && *xdg_cache_home == '/')
		return kiln_path_join(xdg_cache_home, "kiln");
	if (home && *home)
		return kiln_xasprintf("%s/.cache/kiln", home);
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

/* ---- beneath a verified directory ---- */

/* The message for a component of label/rel that could not be opened as
 * kiln's own directory or file; sets errno back to saved. */
static int refuse_entry(struct kiln_error *err, int dirfd, const char *name, const char *shown, int saved,
			const char *want)
{
	struct stat st;

	if ((saved == ELOOP || saved == ENOTDIR || saved == EISDIR || saved == ENXIO) &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode)) {
			char target[256];
			ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
			target[n > 0 ? n : 0] = '\0';
			kiln_error_set(err, "'%s' is a symbolic link (to '%s%s'), where kiln expects its own %s: "
				       "refusing to follow it", shown, target,
				       n == (ssize_t)sizeof(target) - 1 ? "..." : "", want);
			saved = ELOOP;
		} else {
			kiln_error_set(err, "'%s' is not a %s", shown, want);
			saved = ENOTDIR;
		}
		kiln_error_verification(err);
	} else {
		kiln_error_errno(err, saved, "open '%s'", shown);
	}
	errno = saved;
	return -1;
}

int kiln_dir_open(const char *path, bool create, mode_t mode, struct kiln_error *err)
{
	int fd;

	if (create && kiln_mkdir_p(path, mode, err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int saved = errno;
		kiln_error_errno(err, saved, "open directory '%s'", path);
		errno = saved;
	}
	return fd;
}

int kiln_dir_open_beneath(int dirfd, const char *label, const char *rel, bool create, mode_t mode,
			  struct kiln_error *err)
{
	_cleanup_free_ char *copy = kiln_xstrdup(rel);
	int cur = -1;
	char *save = NULL;

	if (!*rel || rel[0] == '/') {
		kiln_error_set(err, "'%s' is not a path beneath '%s'", rel, label);
		errno = EINVAL;
		return -1;
	}
	for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int at = cur >= 0 ? cur : dirfd;
		int next;

		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			if (cur >= 0)
				close(cur);
			kiln_error_set(err, "'%s' is not a path beneath '%s'", rel, label);
			errno = EINVAL;
			return -1;
		}
		next = openat(at, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(at, comp, mode) < 0 && errno != EEXIST)
				next = -1;
			else
				next = openat(at, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int saved = errno;
			/* The path as far as it got: "snapshots/blobs". */
			size_t upto = (size_t)(comp - copy) + strlen(comp);
			_cleanup_free_ char *partial = kiln_xstrndup(rel, upto);
			_cleanup_free_ char *shown = kiln_path_join(label, partial);
			refuse_entry(err, at, comp, shown, saved, "directory");
			saved = errno;
			if (cur >= 0)
				close(cur);
			errno = saved;
			return -1;
		}
		if (cur >= 0)
			close(cur);
		cur = next;
	}
	return cur;
}

int kiln_file_open_at(int dirfd, const char *label, const char *name, struct kiln_error *err)
{
	_cleanup_free_ char *shown = kiln_path_join(label, name);
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return refuse_entry(err, dirfd, name, shown, errno, "file");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		kiln_error_set(err, "read '%s': not a regular file", shown);
		kiln_error_verification(err);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

char *kiln_file_read_at(int dirfd, const char *label, const char *name, size_t max_size, size_t *len,
			struct kiln_error *err)
{
	_cleanup_close_ int fd = kiln_file_open_at(dirfd, label, name, err);
	_cleanup_free_ char *shown = NULL;

	if (fd < 0)
		return NULL;
	shown = kiln_path_join(label, name);
	return read_open_file(fd, shown, true, max_size, len, err);
}

int kiln_file_create_temp_at(int dirfd, const char *prefix, char **name)
{
	static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned char r[6];
		char suffix[7];
		char *candidate;
		int fd;

		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return -1;
		for (size_t i = 0; i < sizeof(r); i++)
			suffix[i] = chars[r[i] % (sizeof(chars) - 1)];
		suffix[6] = '\0';
		candidate = kiln_xasprintf("%s%s", prefix, suffix);
		fd = openat(dirfd, candidate, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			*name = candidate;
			return fd;
		}
		free(candidate);
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

int kiln_fsync_fd(int fd, const char *label, struct kiln_error *err)
{
	if (fsync(fd) < 0 && errno != EINVAL)
		return kiln_error_errno(err, errno, "fsync directory '%s'", label);
	return 0;
}

int kiln_file_write_atomic_at(int dirfd, const char *label, const char *name, const void *data,
			      size_t len, mode_t mode, struct kiln_error *err)
{
	_cleanup_free_ char *prefix = kiln_xasprintf("%s.tmp.", name);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = kiln_file_create_temp_at(dirfd, prefix, &tmp);
	int rc;

	if (fd < 0) {
		_cleanup_free_ char *shown = kiln_path_join(label, name);
		return kiln_error_errno(err, errno, "create temporary file for '%s'", shown);
	}
	if ((rc = kiln_write_all(fd, data, len)) != 0 || (fchmod(fd, mode) < 0 && (rc = errno)) ||
	    (fsync(fd) < 0 && (rc = errno)) || (renameat(dirfd, tmp, dirfd, name) < 0 && (rc = errno))) {
		_cleanup_free_ char *shown = kiln_path_join(label, name);
		unlinkat(dirfd, tmp, 0);
		return kiln_error_errno(err, rc, "write '%s'", shown);
	}
	return kiln_fsync_fd(dirfd, label, err);
}

void kiln_dir_remove_matching(int dirfd, const char *mark)
{
	int fd = dup(dirfd);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	/* The duplicate shares its offset with dirfd: start from the top. */
	rewinddir(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && (!mark || strstr(de->d_name, mark)))
			unlinkat(dirfd, de->d_name, 0);
	closedir(d);
}

int kiln_dir_ensure_beneath(const char *base, const char *rel, mode_t mode, struct kiln_error *err)
{
	_cleanup_close_ int top = kiln_dir_open(base, true, mode, err);
	_cleanup_close_ int fd = -1;

	if (top < 0)
		return -1;
	fd = kiln_dir_open_beneath(top, base, rel, true, mode, err);
	return fd < 0 ? -1 : 0;
}

char *kiln_file_read_nofollow(const char *path, size_t max_size, size_t *len, struct kiln_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);

	if (fd < 0) {
		int saved = errno;
		if (saved == ELOOP) {
			kiln_error_set(err, "'%s' is a symbolic link, where kiln expects its own file: "
				       "refusing to follow it", path);
			kiln_error_verification(err);
		} else {
			kiln_error_errno(err, saved, "open '%s'", path);
		}
		errno = saved;
		return NULL;
	}
	return read_open_file(fd, path, true, max_size, len, err);
}

int kiln_path_check_beneath(const char *base, const char *rel, struct kiln_error *err)
{
	_cleanup_close_ int top = kiln_dir_open(base, false, 0, err);
	_cleanup_close_ int dir = -1;
	_cleanup_free_ char *dir_rel = NULL, *label = NULL;
	const char *slash = strrchr(rel, '/');
	const char *name = slash ? slash + 1 : rel;
	struct stat st;

	if (top < 0)
		return -1;
	if (slash) {
		dir_rel = kiln_xstrndup(rel, (size_t)(slash - rel));
		dir = kiln_dir_open_beneath(top, base, dir_rel, false, 0, err);
		if (dir < 0) {
			if (errno != ENOENT)
				return -1;
			kiln_error_clear(err);
			return 0;
		}
		label = kiln_path_join(base, dir_rel);
	}
	if (fstatat(dir >= 0 ? dir : top, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
		_cleanup_free_ char *shown = kiln_path_join(label ? label : base, name);
		kiln_error_set(err, "'%s' is a symbolic link, where kiln expects its own file: refusing to "
			       "follow it", shown);
		return kiln_error_verification(err);
	}
	return 0;
}

DIR *kiln_dir_stream(int fd)
{
	int dup_fd = dup(fd);
	DIR *d;

	if (dup_fd < 0)
		return NULL;
	d = fdopendir(dup_fd);
	if (!d) {
		int saved = errno;
		close(dup_fd);
		errno = saved;
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* ---- copying a tree ---- */

/* Owner first: chown clears the setuid bits that chmod then sets. */
static int copy_attributes(int fd, const struct stat *st, const char *shown, struct kiln_error *err)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	mode_t mode = st->st_mode & 07777;

	if (!S_ISDIR(st->st_mode))
		mode &= ~(mode_t)(S_ISUID | S_ISGID);
	if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, mode) < 0 || futimens(fd, times) < 0)
		return kiln_error_errno(err, errno, "copy '%s': set its owner, mode and times", shown);
	return 0;
}

/* One tree copy: the read buffer, the copy's root, and the files with
 * several names copied so far (their path below the root), so that another
 * name of one becomes a link to its copy: a layer holds a file's bytes
 * once however many names it has, and so must the copy, or a small image
 * fills the disk. */
struct copy {
	char *buf; size_t buf_size;
	int root;
	struct copied { dev_t dev; ino_t ino; char *rel; } *linked;
	size_t n_linked, alloc_linked;
};

static int copy_file(struct copy *cp, int src, int dst, const char *name, const char *rel, const char *shown,
		     struct kiln_error *err)
{
	_cleanup_close_ int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	struct stat st;
	ssize_t n;

	if (in < 0 || fstat(in, &st) < 0)
		return kiln_error_errno(err, errno, "copy '%s'", shown);
	if (!S_ISREG(st.st_mode))
		return kiln_error_set(err, "copy '%s': changed while being copied", shown);
	if (st.st_nlink > 1)
		for (size_t i = 0; i < cp->n_linked; i++)
			if (cp->linked[i].dev == st.st_dev && cp->linked[i].ino == st.st_ino) {
				if (linkat(cp->root, cp->linked[i].rel, dst, name, 0) < 0)
					return kiln_error_errno(err, errno, "copy '%s': link it to its other name",
								shown);
				return 0;
			}
	out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return kiln_error_errno(err, errno, "copy '%s': create the copy", shown);
	while ((n = read(in, cp->buf, cp->buf_size)) != 0) {
		int werr;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kiln_error_errno(err, errno, "copy '%s': read", shown);
		}
		werr = kiln_write_all(out, cp->buf, (size_t)n);
		if (werr)
			return kiln_error_errno(err, werr, "copy '%s': write", shown);
	}
	if (copy_attributes(out, &st, shown, err) < 0)
		return -1;
	if (st.st_nlink > 1) {
		kiln_xgrow(&cp->linked, &cp->alloc_linked, cp->n_linked + 1, sizeof(*cp->linked));
		cp->linked[cp->n_linked++] = (struct copied){ st.st_dev, st.st_ino, kiln_xstrdup(rel) };
	}
	return 0;
}

/* The link itself: its target is text, never resolved. */
static int copy_link(int src, int dst, const char *name, const struct stat *st, const char *shown,
		     struct kiln_error *err)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	_cleanup_free_ char *target = NULL;
	size_t alloc = 0;
	ssize_t n;

	/* st_size is the target's length on most file systems; grow when not. */
	for (size_t want = (size_t)st->st_size + 1;; want = alloc * 2) {
		kiln_xgrow(&target, &alloc, want < 64 ? 64 : want, 1);
		n = readlinkat(src, name, target, alloc);
		if (n < 0)
			return kiln_error_errno(err, errno, "copy '%s': read the link", shown);
		if ((size_t)n < alloc)
			break;
		if (alloc > 1 << 20)
			return kiln_error_set(err, "copy '%s': the link's target is too long", shown);
	}
	target[n] = '\0';
	if (symlinkat(target, dst, name) < 0)
		return kiln_error_errno(err, errno, "copy '%s': create the link", shown);
	if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    utimensat(dst, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_error_errno(err, errno, "copy '%s': set the link's owner and times", shown);
	return 0;
}

static int copy_dir(struct copy *cp, int src, int dst, const char *rel, const char *shown, unsigned depth,
		    struct kiln_error *err)
{
	char **names = NULL;
	size_t n_names = 0, alloc = 0;
	struct dirent *de;
	int rc = 0;
	DIR *d = kiln_dir_stream(src);

	if (!d)
		return kiln_error_errno(err, errno, "copy '%s': read the directory", shown);
	/* The names first, so that one stream is open per level, not two. */
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		kiln_xgrow(&names, &alloc, n_names + 1, sizeof(char *));
		names[n_names++] = kiln_xstrdup(de->d_name);
		errno = 0;
	}
	if (errno)
		rc = kiln_error_errno(err, errno, "copy '%s': read the directory", shown);
	closedir(d);
	for (size_t i = 0; rc == 0 && i < n_names; i++) {
		_cleanup_free_ char *path = kiln_path_join(shown, names[i]);
		_cleanup_free_ char *below = *rel ? kiln_path_join(rel, names[i]) : kiln_xstrdup(names[i]);
		struct stat st;

		if (fstatat(src, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = kiln_error_errno(err, errno, "copy '%s'", path);
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(cp, src, dst, names[i], below, path, err);
		} else if (S_ISLNK(st.st_mode)) {
			rc = copy_link(src, dst, names[i], &st, path, err);
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int from = -1, to = -1;
			if (depth + 1 >= KILN_COPY_DEPTH_MAX) {
				rc = kiln_error_set(err, "copy '%s': more than %d directories deep", path,
						    KILN_COPY_DEPTH_MAX);
				break;
			}
			from = openat(src, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (from < 0 || fstat(from, &st) < 0) {
				rc = kiln_error_errno(err, errno, "copy '%s'", path);
				break;
			}
			if (mkdirat(dst, names[i], 0700) < 0 ||
			    (to = openat(dst, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
				rc = kiln_error_errno(err, errno, "copy '%s': create the directory", path);
				break;
			}
			rc = copy_dir(cp, from, to, below, path, depth + 1, err);
			/* Times last: creating entries changed the mtime. */
			if (rc == 0)
				rc = copy_attributes(to, &st, path, err);
		}
		/* Sockets, FIFOs and devices: not data a volume starts from. */
	}
	kiln_strv_free(names, n_names);
	return rc;
}

int kiln_dir_copy_tree(int src_dirfd, int dst_dirfd, const char *label, struct kiln_error *err)
{
	struct copy cp = { .buf_size = 1 << 16, .root = dst_dirfd };
	struct stat st;
	int rc;

	if (fstat(src_dirfd, &st) < 0)
		return kiln_error_errno(err, errno, "copy '%s'", label);
	cp.buf = kiln_xmalloc(cp.buf_size);
	rc = copy_dir(&cp, src_dirfd, dst_dirfd, "", label, 0, err);
	if (rc == 0)
		rc = copy_attributes(dst_dirfd, &st, label, err);
	for (size_t i = 0; i < cp.n_linked; i++)
		free(cp.linked[i].rel);
	free(cp.linked);
	free(cp.buf);
	return rc;
}
