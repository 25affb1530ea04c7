/* test_rootfs.c - layer unpacking (hostile tars, whiteouts, compression),
 * the once-only layer cache and the overlay mount (lib/rootfs). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "rootfs.h"
#include "store.h"
#include "tap.h"
#include "util.h"

struct ent {
	const char *path;
	char type;          /* f file, d dir, l symlink, h hard link, c char device */
	const char *data;   /* contents, link target */
	unsigned mode;
};

static int write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	(void)a;
	kiln_buf_add(ctx, buf, len);
	return (int)len;
}
static la_ssize_t write_cb2(struct archive *a, void *ctx, const void *buf, size_t len)
{
	return write_cb(a, ctx, buf, len);
}

/* A tar of entries; filter: 0 none, 'g' gzip, 'z' zstd. */
static void make_tar(const struct ent *e, size_t n, int filter, struct kiln_buf *out)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (filter == 'g')
		archive_write_add_filter_gzip(a);
	else if (filter == 'z')
		archive_write_add_filter_zstd(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open2(a, out, NULL, write_cb2, NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_mode(ae, e[i].mode ? e[i].mode : 0644);
		archive_entry_set_uid(ae, 0);
		archive_entry_set_gid(ae, 0);
		switch (e[i].type) {
		case 'd': archive_entry_set_filetype(ae, AE_IFDIR); break;
		case 'l': archive_entry_set_filetype(ae, AE_IFLNK); archive_entry_set_symlink(ae, e[i].data); break;
		case 'h': archive_entry_set_filetype(ae, AE_IFREG); archive_entry_set_hardlink(ae, e[i].data); break;
		case 'c': archive_entry_set_filetype(ae, AE_IFCHR); archive_entry_set_rdev(ae, makedev(1, 3)); break;
		default:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, (la_int64_t)strlen(e[i].data));
		}
		archive_write_header(a, ae);
		if (e[i].type == 'f')
			archive_write_data(a, e[i].data, strlen(e[i].data));
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static char *tmpdir(void)
{
	char *d = kiln_xstrdup("/tmp/kiln-test-rootfs-XXXXXX");
	if (!mkdtemp(d))
		abort();
	return d;
}

static int unpack(const struct ent *e, size_t n, int filter, const char *dir, struct kiln_error *err)
{
	struct kiln_buf tar = KILN_BUF_INIT;
	int rc;
	make_tar(e, n, filter, &tar);
	rc = kiln_rootfs_unpack(tar.data, tar.len, dir, err);
	kiln_buf_release(&tar);
	return rc;
}

static char *read_in(const char *dir, const char *path)
{
	_cleanup_free_ char *p = kiln_path_join(dir, path);
	size_t len;
	return kiln_file_read(p, 1 << 20, &len, NULL);
}

static bool lexists(const char *dir, const char *path)
{
	_cleanup_free_ char *p = kiln_path_join(dir, path);
	struct stat st;
	return lstat(p, &st) == 0;
}

TEST(unpack_plain_gzip_zstd)
{
	static const struct ent e[] = {
		{ "./", 'd', NULL, 0755 },
		{ "./etc/", 'd', NULL, 0755 },
		{ "./etc/passwd", 'f', "root:x:0:0::/root:/bin/sh\n", 0644 },
		{ "usr/bin/tool", 'f', "#!/bin/sh\n", 04755 },
		{ "usr/bin/alias", 'l', "tool", 0777 },
		{ "usr/bin/abs", 'l', "/etc/passwd", 0777 },
		{ "usr/bin/hard", 'h', "usr/bin/tool", 0 },
		{ "dev/null", 'c', NULL, 0666 },
	};
	int filters[] = { 0, 'g', 'z' };
	for (size_t f = 0; f < 3; f++) {
		_cleanup_free_ char *d = tmpdir();
		struct kiln_error err = { 0 };
		CHECK(unpack(e, KILN_ARRAY_SIZE(e), filters[f], d, &err) == 0);
		_cleanup_free_ char *pw = read_in(d, "etc/passwd");
		CHECK_STR(pw, "root:x:0:0::/root:/bin/sh\n");
		_cleanup_free_ char *tool = kiln_path_join(d, "usr/bin/tool"), *hard = kiln_path_join(d, "usr/bin/hard");
		struct stat a, b;
		CHECK(stat(tool, &a) == 0 && (a.st_mode & 07777) == 04755);
		CHECK(stat(hard, &b) == 0 && a.st_ino == b.st_ino);
		char target[64] = { 0 };
		_cleanup_free_ char *abs = kiln_path_join(d, "usr/bin/abs");
		CHECK(readlink(abs, target, sizeof(target) - 1) > 0 && strcmp(target, "/etc/passwd") == 0);
		CHECK(!lexists(d, "dev/null")); /* device nodes are skipped */
		kiln_rootfs_remove(d, NULL);
	}
}

TEST(unpack_refuses_hostile)
{
	static const struct ent abs[] = { { "/etc/evil", 'f', "x", 0 } };
	static const struct ent dotdot[] = { { "../evil", 'f', "x", 0 } };
	static const struct ent deep[] = { { "a/b/../../../evil", 'f', "x", 0 } };
	static const struct ent hard[] = { { "h", 'h', "../../etc/passwd", 0 } };
	static const struct ent hard_abs[] = { { "h", 'h', "/etc/passwd", 0 } };
	static const struct ent through[] = { { "lnk", 'l', "/tmp", 0777 }, { "lnk/evil", 'f', "x", 0 } };
	static const struct ent through_rel[] = { { "up", 'l', "..", 0777 }, { "up/evil", 'f', "x", 0 } };
	struct { const struct ent *e; size_t n; const char *name; } cases[] = {
		{ abs, 1, "absolute" }, { dotdot, 1, ".." }, { deep, 1, "deep .." },
		{ hard, 1, "hard link .." }, { hard_abs, 1, "hard link absolute" },
		{ through, 2, "through a symlink" }, { through_rel, 2, "through a .. symlink" },
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *parent = tmpdir();
		_cleanup_free_ char *d = kiln_path_join(parent, "layer");
		_cleanup_free_ char *evil = kiln_path_join(parent, "evil");
		struct kiln_error err = { 0 };
		mkdir(d, 0755);
		int rc = unpack(cases[i].e, cases[i].n, 0, d, &err);
		if (rc == 0)
			printf("# %s: accepted\n", cases[i].name);
		CHECK(rc < 0);
		CHECK(access(evil, F_OK) != 0);
		CHECK(access("/tmp/evil", F_OK) != 0);
		kiln_rootfs_remove(parent, NULL);
	}
}

TEST(unpack_whiteouts)
{
	static const struct ent e[] = {
		{ "etc/", 'd', NULL, 0755 },
		{ "etc/.wh.gone", 'f', "", 0 },
		{ "var/cache/.wh..wh..opq", 'f', "", 0 },
		{ "var/cache/new", 'f', "n", 0 },
	};
	static const struct ent bad[] = { { "x/.wh...", 'f', "", 0 } };
	_cleanup_free_ char *d = tmpdir();
	struct kiln_error err = { 0 };
	struct stat st;
	char val[4] = { 0 };

	CHECK(unpack(e, KILN_ARRAY_SIZE(e), 0, d, &err) == 0);
	_cleanup_free_ char *gone = kiln_path_join(d, "etc/gone"), *cache = kiln_path_join(d, "var/cache");
	CHECK(lstat(gone, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
	CHECK(!lexists(d, "etc/.wh.gone"));
	CHECK(getxattr(cache, "trusted.overlay.opaque", val, sizeof(val)) == 1 && val[0] == 'y');
	CHECK(!lexists(d, "var/cache/.wh..wh..opq"));
	CHECK(lexists(d, "var/cache/new"));
	kiln_rootfs_remove(d, NULL);

	_cleanup_free_ char *d2 = tmpdir();
	CHECK(unpack(bad, 1, 0, d2, &err) < 0);
	kiln_rootfs_remove(d2, NULL);
}

/* A pax tar (as libarchive, docker and podman write them) of two files
 * owned by 1000:1000 with extended attributes: bin/ping carries
 * cap_net_raw+ep and, like bin/plain, attributes no layer may set. */
static void make_xattr_tar(struct kiln_buf *out, const unsigned char *cap, size_t cap_len)
{
	struct archive *a = archive_write_new();
	const char *names[] = { "bin/ping", "bin/plain" };

	archive_write_set_format_pax(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open2(a, out, NULL, write_cb2, NULL, NULL);
	for (size_t i = 0; i < 2; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, names[i]);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_mode(ae, AE_IFREG | 0755);
		archive_entry_set_uid(ae, 1000);
		archive_entry_set_gid(ae, 1000);
		archive_entry_set_size(ae, 2);
		if (i == 0)
			archive_entry_xattr_add_entry(ae, "security.capability", cap, cap_len);
		archive_entry_xattr_add_entry(ae, "trusted.overlay.redirect", "/etc", 4);
		archive_entry_xattr_add_entry(ae, "user.note", "n", 1);
		archive_write_header(a, ae);
		archive_write_data(a, "x\n", 2);
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
}

TEST(unpack_capabilities)
{
	static const unsigned char cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20 };
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	_cleanup_free_ char *d = tmpdir();
	struct kiln_error err = { 0 };
	unsigned char got[64];
	struct stat st;

	make_xattr_tar(&tar, cap, sizeof(cap));
	CHECK(kiln_rootfs_unpack(tar.data, tar.len, d, &err) == 0);
	_cleanup_free_ char *ping = kiln_path_join(d, "bin/ping"), *plain = kiln_path_join(d, "bin/plain");
	/* Restored after the owner was set (a chown clears capabilities). */
	CHECK(lstat(ping, &st) == 0 && st.st_uid == 1000 && (st.st_mode & 07777) == 0755);
	CHECK(lgetxattr(ping, "security.capability", got, sizeof(got)) == (ssize_t)sizeof(cap));
	CHECK(memcmp(got, cap, sizeof(cap)) == 0);
	/* Nothing else: overlayfs' own attributes and the rest are dropped. */
	CHECK(lgetxattr(ping, "trusted.overlay.redirect", got, sizeof(got)) < 0 && errno == ENODATA);
	CHECK(lgetxattr(ping, "user.note", got, sizeof(got)) < 0 && errno == ENODATA);
	CHECK(llistxattr(plain, (char *)got, sizeof(got)) == 0);
	kiln_rootfs_remove(d, NULL);

	/* A value the kernel refuses fails the unpack, naming the file. */
	_cleanup_buf_ struct kiln_buf bad = KILN_BUF_INIT;
	_cleanup_free_ char *d2 = tmpdir();
	make_xattr_tar(&bad, (const unsigned char *)"junk", 4);
	CHECK(kiln_rootfs_unpack(bad.data, bad.len, d2, &err) < 0);
	CHECK_CONTAINS(err.message, "bin/ping");
	kiln_rootfs_remove(d2, NULL);
}

TEST(unpack_garbage)
{
	_cleanup_free_ char *d = tmpdir();
	struct kiln_error err = { 0 };
	CHECK(kiln_rootfs_unpack("\x1f\x8b\x08garbage", 10, d, &err) < 0);
	CHECK_CONTAINS(err.message, d);
	CHECK(kiln_rootfs_unpack("", 0, "/nonexistent/dir", &err) < 0);
	kiln_rootfs_remove(d, NULL);
}

TEST(layer_once)
{
	static const struct ent e[] = { { "hello", 'f', "world", 0 } };
	_cleanup_free_ char *d = tmpdir();
	_cleanup_free_ char *sdir = kiln_path_join(d, "store"), *layers = kiln_path_join(d, "layers");
	struct kiln_error err = { 0 };
	struct kiln_buf tar = KILN_BUF_INIT;
	char digest[KILN_OCI_DIGEST_LEN + 1];
	struct kiln_store *s = kiln_store_open(sdir, true, &err);

	CHECK(s != NULL);
	if (!s)
		return;
	make_tar(e, 1, 'g', &tar);
	CHECK(kiln_store_put_blob(s, tar.data, tar.len, digest, &err) == 0);
	char *one = kiln_rootfs_layer(layers, s, digest, &err);
	CHECK(one != NULL);
	_cleanup_free_ char *hello = one ? read_in(one, "hello") : NULL;
	CHECK_STR(hello, "world");
	CHECK(one && kiln_str_has_suffix(one, digest + 7));
	/* A second time: the same directory, nothing unpacked again. */
	if (one) {
		_cleanup_free_ char *marker = kiln_path_join(one, "marker");
		kiln_file_write_atomic(marker, "m", 1, 0644, NULL);
	}
	char *two = kiln_rootfs_layer(layers, s, digest, &err);
	CHECK(two && one && strcmp(one, two) == 0);
	CHECK(one && lexists(one, "marker"));
	/* No temporary directory is left beside the layer. */
	DIR *dd = opendir(layers);
	struct dirent *de;
	int entries = 0;
	while (dd && (de = readdir(dd)))
		if (de->d_name[0] != '.' || kiln_str_has_prefix(de->d_name, ".tmp"))
			entries += de->d_name[0] == '.' ? 100 : 1;
	if (dd)
		closedir(dd);
	CHECK(entries == 1);
	free(one);
	free(two);

	/* A killed unpack's temporary directory goes once it is an hour old. */
	{
		_cleanup_free_ char *old = kiln_path_join(layers, ".tmp-0123456789ab-old");
		_cleanup_free_ char *fresh = kiln_path_join(layers, ".tmp-0123456789ab-new");
		struct timespec times[2] = { { time(NULL) - 7200, 0 }, { time(NULL) - 7200, 0 } };
		static const struct ent e3[] = { { "third", 'f', "3", 0 } };
		struct kiln_buf tar3 = KILN_BUF_INIT;
		char digest3[KILN_OCI_DIGEST_LEN + 1];
		mkdir(old, 0700);
		mkdir(fresh, 0700);
		utimensat(AT_FDCWD, old, times, 0);
		make_tar(e3, 1, 0, &tar3);
		kiln_store_put_blob(s, tar3.data, tar3.len, digest3, &err);
		free(kiln_rootfs_layer(layers, s, digest3, &err));
		CHECK(access(old, F_OK) != 0);
		CHECK(access(fresh, F_OK) == 0);
		rmdir(fresh);
		kiln_buf_release(&tar3);
	}

	/* A blob whose bytes do not match its digest is refused, and leaves nothing. */
	static const struct ent e2[] = { { "other", 'f', "x", 0 } };
	struct kiln_buf tar2 = KILN_BUF_INIT;
	char digest2[KILN_OCI_DIGEST_LEN + 1];
	make_tar(e2, 1, 'g', &tar2);
	kiln_store_put_blob(s, tar2.data, tar2.len, digest2, &err);
	_cleanup_free_ char *blob = kiln_store_blob_path(s, digest2);
	chmod(blob, 0644);
	kiln_file_write_atomic(blob, tar.data, tar.len, 0644, NULL);
	CHECK(kiln_rootfs_layer(layers, s, digest2, &err) == NULL);
	_cleanup_free_ char *l2 = kiln_path_join(layers, digest2 + 7);
	CHECK(access(l2, F_OK) != 0);
	CHECK(kiln_rootfs_layer(layers, s, "sha256:nothex", &err) == NULL);
	kiln_buf_release(&tar);
	kiln_buf_release(&tar2);
	kiln_store_free(s);
	kiln_rootfs_remove(d, NULL);
}

TEST(overlay_mount)
{
	static const struct ent base[] = { { "etc/file", 'f', "base", 0 }, { "etc/old", 'f', "old", 0 } };
	static const struct ent top[] = { { "etc/.wh.old", 'f', "", 0 }, { "etc/top", 'f', "top", 0 } };
	_cleanup_free_ char *d = tmpdir();
	_cleanup_free_ char *l1 = kiln_path_join(d, "l1"), *l2 = kiln_path_join(d, "l2");
	_cleanup_free_ char *upper = kiln_path_join(d, "c/upper"), *work = kiln_path_join(d, "c/work");
	_cleanup_free_ char *merged = kiln_path_join(d, "rootfs");
	struct kiln_error err = { 0 };
	char *lowers[] = { l2, l1 };

	if (geteuid() != 0) {
		printf("# skip: overlay needs root\n");
		kiln_rootfs_remove(d, NULL);
		return;
	}
	mkdir(l1, 0755);
	mkdir(l2, 0755);
	CHECK(unpack(base, 2, 0, l1, &err) == 0);
	CHECK(unpack(top, 2, 0, l2, &err) == 0);
	CHECK(kiln_rootfs_mount(lowers, 2, upper, work, merged, &err) == 0);
	CHECK(kiln_rootfs_is_mounted(merged));
	_cleanup_free_ char *f = read_in(merged, "etc/file"), *t = read_in(merged, "etc/top");
	CHECK_STR(f, "base");
	CHECK_STR(t, "top");
	CHECK(!lexists(merged, "etc/old")); /* the whiteout hides the lower file */
	_cleanup_free_ char *mf = kiln_path_join(merged, "etc/file");
	CHECK(kiln_file_write_atomic(mf, "changed", 7, 0644, &err) == 0);
	_cleanup_free_ char *lf = read_in(l1, "etc/file"), *uf = read_in(upper, "etc/file");
	CHECK_STR(lf, "base");   /* the layer is untouched */
	CHECK_STR(uf, "changed"); /* the write is in the upper dir */
	CHECK(kiln_rootfs_unmount(merged, &err) == 0);
	CHECK(!kiln_rootfs_is_mounted(merged));
	CHECK(kiln_rootfs_unmount(merged, &err) == 0); /* twice is fine */
	char *bad[] = { "/a:b" };
	CHECK(kiln_rootfs_mount(bad, 1, upper, work, merged, &err) < 0);
	CHECK(kiln_rootfs_mount(lowers, 0, upper, work, merged, &err) < 0);
	CHECK(kiln_rootfs_remove(d, &err) == 0);
	CHECK(access(d, F_OK) != 0);
	CHECK(kiln_rootfs_remove(d, &err) == 0); /* missing is fine */
}

int main(void)
{
	RUN(unpack_plain_gzip_zstd);
	RUN(unpack_refuses_hostile);
	RUN(unpack_whiteouts);
	RUN(unpack_capabilities);
	RUN(unpack_garbage);
	RUN(layer_once);
	RUN(overlay_mount);
	return tap_done();
}
