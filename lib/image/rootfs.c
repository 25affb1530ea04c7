#include "rootfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "oci.h"
#include "util.h"

/* Layers larger than this (compressed) are refused: they are read whole. */
#define LAYER_MAX ((size_t)8 << 30)

/* A tar entry's name as a clean relative path ("a/b"): leading "./" and
 * "/"-runs removed, "." components dropped.  NULL when it is absolute or
 * has a ".." component (hostile); "" for the layer's root itself. */
static char *clean_path(const char *path)
{
	struct kiln_buf b = KILN_BUF_INIT;
	const char *p = path, *end;

	if (!path || path[0] == '/')
		return NULL;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchrnul(p, '/');
		if (end - p == 1 && p[0] == '.') {
			p = end;
			continue;
		}
		if (end - p == 2 && p[0] == '.' && p[1] == '.') {
			kiln_buf_release(&b);
			return NULL;
		}
		if (b.len)
			kiln_buf_addch(&b, '/');
		kiln_buf_add(&b, p, end - p);
		p = end;
	}
	return kiln_buf_detach(&b);
}

/* Open (creating when missing) the directory rel under dirfd without
 * following any symlink: a whiteout must land inside the layer. */
static int open_dir_nofollow(int dirfd, const char *rel, struct kiln_error *err)
{
	_cleanup_free_ char *copy = kiln_xstrdup(rel);
	int fd = dup(dirfd), next;
	char *save = NULL;

	if (fd < 0)
		return kiln_error_errno(err, errno, "dup");
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
			kiln_error_errno(err, errno, "mkdir '%s'", rel);
			close(fd);
			return -1;
		}
		next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return kiln_error_errno(err, errno, "'%s' is not a directory inside the layer", rel);
		fd = next;
	}
	return fd;
}

/* Is any directory above path (inside the layer) a symlink?  Writing
 * through one would land outside the layer, or somewhere else in it. */
static bool parent_is_symlink(int rootfd, const char *path)
{
	_cleanup_free_ char *copy = kiln_xstrdup(path);
	struct stat st;

	for (char *slash = strchr(copy, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		if (fstatat(rootfd, copy, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return true;
		*slash = '/';
	}
	return false;
}

static int whiteout(int rootfd, const char *path, const char *base, struct kiln_error *err)
{
	_cleanup_free_ char *parent = kiln_xstrndup(path, base - path > 0 ? (size_t)(base - path - 1) : 0);
	const char *name = base + 4;
	_cleanup_close_ int fd = -1;

	fd = open_dir_nofollow(rootfd, parent, err);
	if (fd < 0)
		return kiln_error_prefix(err, "whiteout '%s'", path);
	if (strcmp(base, ".wh..wh..opq") == 0) {
		if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return kiln_error_errno(err, errno, "opaque whiteout '%s'", path);
		return 0;
	}
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return kiln_error_set(err, "whiteout '%s': bad name", path);
	unlinkat(fd, name, 0); /* the same layer shipped NAME too: the whiteout wins */
	if (mknodat(fd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return kiln_error_errno(err, errno, "whiteout '%s'", path);
	return 0;
}

static int copy_data(struct archive *in, struct archive *out, const char *path, struct kiln_error *err)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	int r;

	for (;;) {
		r = archive_read_data_block(in, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_OK)
			return kiln_error_set(err, "read '%s': %s", path, archive_error_string(in));
		if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_OK)
			return kiln_error_set(err, "write '%s': %s", path, archive_error_string(out));
	}
}

/* Of an entry's extended attributes (pax SCHILY.xattr.*), keep only file
 * capabilities, which ARCHIVE_EXTRACT_XATTR then restores after the owner
 * and mode (a chown would clear them).  A layer's trusted.overlay.* would
 * steer the overlayfs this directory becomes a layer of, and a
 * security.selinux label is some other host's. */
static void keep_capability(struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	void *cap = NULL;
	size_t cap_size = 0;

	if (archive_entry_xattr_reset(e) <= 0)
		return;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
		if (strcmp(name, "security.capability") == 0 && size && !cap) {
			cap = kiln_xmalloc(size);
			memcpy(cap, value, size);
			cap_size = size;
		}
	archive_entry_xattr_clear(e);
	if (cap)
		archive_entry_xattr_add_entry(e, "security.capability", cap, cap_size);
	free(cap);
}

static int unpack_entries(struct archive *in, struct archive *out, int rootfd, struct kiln_error *err)
{
	struct archive_entry *e;
	int r;

	while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		const char *raw = archive_entry_pathname(e), *link = archive_entry_hardlink(e), *base;
		_cleanup_free_ char *path = clean_path(raw), *target = NULL;
		mode_t type = archive_entry_filetype(e);

		if (!path)
			return kiln_error_set(err, "entry '%s': absolute or with '..': refused", raw ? raw : "");
		if (!*path)
			continue;
		base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		if (parent_is_symlink(rootfd, path))
			return kiln_error_set(err, "entry '%s' is below a symlink: refused", path);
		if (kiln_str_has_prefix(base, ".wh.")) {
			if (whiteout(rootfd, path, base, err) < 0)
				return -1;
			continue;
		}
		if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK)
			continue; /* devices come from the runtime's /dev, never from a layer */
		archive_entry_set_pathname(e, path);
		keep_capability(e);
		if (link) {
			target = clean_path(link);
			if (!target || !*target)
				return kiln_error_set(err, "hard link '%s' -> '%s' leaves the layer: refused", path, link);
			archive_entry_set_hardlink(e, target);
		}
		if (archive_write_header(out, e) < ARCHIVE_OK)
			return kiln_error_set(err, "'%s': %s", path, archive_error_string(out));
		if (archive_entry_size(e) > 0 && copy_data(in, out, path, err) < 0)
			return -1;
		if (archive_write_finish_entry(out) < ARCHIVE_OK)
			return kiln_error_set(err, "'%s': %s", path, archive_error_string(out));
	}
	if (r != ARCHIVE_EOF)
		return kiln_error_set(err, "read: %s", archive_error_string(in));
	if (archive_write_close(out) < ARCHIVE_OK)
		return kiln_error_set(err, "finish: %s", archive_error_string(out));
	return 0;
}

int kiln_rootfs_unpack(const void *data, size_t len, const char *dir, struct kiln_error *err)
{
	_cleanup_close_ int rootfd = -1, saved = -1;
	struct archive *in = NULL, *out = NULL;
	int rc;

	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return kiln_error_errno(err, errno, "open '%s'", dir);
	saved = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (saved < 0)
		return kiln_error_errno(err, errno, "open the current directory");
	in = archive_read_new();
	out = archive_write_disk_new();
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	/* Extraction is relative to the current directory: libarchive's
	 * SECURE_* checks need relative names. */
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						    ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_PERM |
						    ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
						    ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_UNLINK);
	if (archive_read_open_memory(in, data, len) != ARCHIVE_OK) {
		rc = kiln_error_set(err, "open layer: %s", archive_error_string(in));
	} else if (fchdir(rootfd) < 0) {
		rc = kiln_error_errno(err, errno, "chdir '%s'", dir);
	} else {
		rc = unpack_entries(in, out, rootfd, err);
		if (fchdir(saved) < 0 && rc == 0)
			rc = kiln_error_errno(err, errno, "chdir back");
	}
	archive_read_free(in);
	archive_write_free(out);
	if (rc < 0)
		kiln_error_prefix(err, "unpack into '%s'", dir);
	return rc;
}

/* Temporary directories of unpacks that were killed: an hour old means
 * nobody is still writing them. */
static void remove_stale_temps(const char *layers_dir)
{
	DIR *d = opendir(layers_dir);
	struct dirent *de;
	time_t now = time(NULL);
	struct stat st;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		if (!kiln_str_has_prefix(de->d_name, ".tmp-"))
			continue;
		path = kiln_path_join(layers_dir, de->d_name);
		if (lstat(path, &st) == 0 && st.st_mtime < now - 3600)
			kiln_rootfs_remove(path, NULL);
	}
	if (d)
		closedir(d);
}

char *kiln_rootfs_layer(const char *layers_dir, const struct kiln_store *store, const char *digest,
			struct kiln_error *err)
{
	_cleanup_free_ char *dir = NULL, *tmp = NULL, *data = NULL;
	struct stat st;
	size_t len;
	int fd;

	if (!kiln_oci_digest_valid(digest)) {
		kiln_error_set(err, "layer \"%s\": not a sha256 digest", digest);
		return NULL;
	}
	dir = kiln_path_join(layers_dir, digest + 7);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return kiln_steal_pointer(&dir);
	if (kiln_mkdir_p(layers_dir, 0700, err) < 0)
		return NULL;
	remove_stale_temps(layers_dir);
	data = kiln_store_read_blob(store, digest, LAYER_MAX, &len, err);
	if (!data) {
		kiln_error_prefix(err, "layer %.19s", digest);
		return NULL;
	}
	tmp = kiln_xasprintf("%s/.tmp-%.12s-XXXXXX", layers_dir, digest + 7);
	if (!mkdtemp(tmp)) {
		kiln_error_errno(err, errno, "mkdtemp '%s'", tmp);
		return NULL;
	}
	if ((chmod(tmp, 0755) < 0 && kiln_error_errno(err, errno, "chmod '%s'", tmp)) ||
	    kiln_rootfs_unpack(data, len, tmp, err) < 0) {
		kiln_rootfs_remove(tmp, NULL);
		kiln_error_prefix(err, "layer %.19s", digest);
		return NULL;
	}
	/* The files must be on disk before the name says the layer is whole. */
	fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	/* A directory published by rename, not fsutil's file writer: the
	 * first unpacker to rename wins (EEXIST/ENOTEMPTY), where a file
	 * replace would overwrite, and its contents were synced above with
	 * syncfs, not one fsync. */
	if (rename(tmp, dir) < 0) {
		int e = errno;
		kiln_rootfs_remove(tmp, NULL);
		/* Another kiln unpacked it first: theirs is as good as ours. */
		if (e != EEXIST && e != ENOTEMPTY) {
			kiln_error_errno(err, e, "rename '%s' to '%s'", tmp, dir);
			return NULL;
		}
	} else {
		kiln_fsync_dir_of(dir, NULL);
	}
	return kiln_steal_pointer(&dir);
}

int kiln_rootfs_mount(char *const *lowers, size_t n_lowers, const char *upper, const char *work,
		      const char *target, struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf opts = KILN_BUF_INIT;
	long page = sysconf(_SC_PAGESIZE);

	if (n_lowers == 0)
		return kiln_error_set(err, "overlay at '%s': no layers", target);
	for (size_t i = 0; i < n_lowers; i++)
		if (strpbrk(lowers[i], ":,\\"))
			return kiln_error_set(err, "overlay: layer path '%s' has ':', ',' or '\\'", lowers[i]);
	if (strpbrk(upper, ":,\\") || strpbrk(work, ":,\\"))
		return kiln_error_set(err, "overlay: '%s' or '%s' has ':', ',' or '\\'", upper, work);
	if (kiln_mkdir_p(upper, 0755, err) < 0 || kiln_mkdir_p(work, 0700, err) < 0 ||
	    kiln_mkdir_p(target, 0755, err) < 0)
		return -1;
	kiln_buf_adds(&opts, "lowerdir=");
	for (size_t i = 0; i < n_lowers; i++) {
		if (i)
			kiln_buf_addch(&opts, ':');
		kiln_buf_adds(&opts, lowers[i]);
	}
	kiln_buf_printf(&opts, ",upperdir=%s,workdir=%s", upper, work);
	if (page > 0 && opts.len >= (size_t)page)
		return kiln_error_set(err, "overlay at '%s': %zu layers make options longer than a page", target,
				      n_lowers);
	if (mount("overlay", target, "overlay", MS_NODEV, opts.data) < 0)
		return kiln_error_errno(err, errno, "mount overlay at '%s'", target);
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

int kiln_rootfs_is_mounted(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0) {
		char *save = NULL, *field = strtok_r(line, " ", &save);
		for (int i = 1; field && i < 5; i++)
			field = strtok_r(NULL, " ", &save);
		if (field) {
			unescape_octal(field);
			found = strcmp(field, path) == 0;
		}
	}
	free(line);
	return found;
}

int kiln_rootfs_unmount(const char *target, struct kiln_error *err)
{
	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
		return kiln_error_errno(err, errno, "unmount '%s'", target);
	return 0;
}

int kiln_rootfs_remove(const char *path, struct kiln_error *err)
{
	if (!path)
		return 0;
	return kiln_remove_tree(path, err);
}
