/* test_imagefs.c - layer listings, merged views and first differences.
 * Layers are written here with libarchive's writer (gzip, zstd, plain);
 * content digests are checked against sha256sum-style one-shot hashes. */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "hash.h"
#include "imagefs.h"
#include "oci.h"
#include "snapdiff.h"
#include "tap.h"
#include "util.h"

static char *tmp;
static int seq;

/* One entry to write: type 'f' 'd' 'l' 'h' 'c' 'p'; data for files, link
 * for symlinks and hard links. */
struct spec {
	const char *path;
	char type;
	unsigned mode;
	const char *data;
	const char *link;
	int64_t mtime;
	unsigned uid;
};

/* Write a layer blob; filter is ARCHIVE_FILTER_GZIP, _ZSTD or _NONE.
 * Returns its path (malloc'd). */
static char *write_layer(const struct spec *s, size_t n, int filter)
{
	char *path = kiln_xasprintf("%s/layer-%d", tmp, ++seq);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	archive_write_set_format_pax_restricted(a);
	if (filter == ARCHIVE_FILTER_GZIP)
		archive_write_add_filter_gzip(a);
	else if (filter == ARCHIVE_FILTER_ZSTD)
		archive_write_add_filter_zstd(a);
	archive_write_open_filename(a, path);
	for (size_t i = 0; i < n; i++) {
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, s[i].path);
		archive_entry_set_mtime(e, s[i].mtime, 0);
		archive_entry_set_uid(e, s[i].uid);
		archive_entry_set_gid(e, s[i].uid);
		switch (s[i].type) {
		case 'f':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)strlen(s[i].data));
			break;
		case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_copy_symlink(e, s[i].link);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_copy_hardlink(e, s[i].link);
			archive_entry_set_size(e, 0);
			break;
		case 'c':
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_rdevmajor(e, 1);
			archive_entry_set_rdevminor(e, 3);
			break;
		case 'p': archive_entry_set_filetype(e, AE_IFIFO); break;
		}
		archive_entry_set_perm(e, s[i].mode);
		archive_write_header(a, e);
		if (s[i].type == 'f')
			archive_write_data(a, s[i].data, strlen(s[i].data));
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return path;
}

static int read_specs(const struct spec *s, size_t n, int filter, const char *media_type,
		      const char *const *keep, struct kiln_imagefs_list *out, struct kiln_error *err)
{
	_cleanup_free_ char *path = write_layer(s, n, filter);
	return kiln_imagefs_read_layer(path, media_type, keep, out, err);
}

static const struct spec base[] = {
	{ "./", 'd', 0755, NULL, NULL, 100, 0 },
	{ "./usr/", 'd', 0755, NULL, NULL, 100, 0 },
	{ "./usr/bin/", 'd', 0755, NULL, NULL, 100, 0 },
	{ "./usr/bin/zz", 'f', 0755, "#!/bin/sh\n", NULL, 200, 0 },
	{ "./usr/bin/aa", 'f', 04755, "hello\n", NULL, 200, 0 },
	{ "./usr/bin/aa-link", 'l', 0777, NULL, "aa", 200, 0 },
	{ "./usr/bin/aa-hard", 'h', 0755, NULL, "./usr/bin/aa", 200, 0 },
	{ "etc/", 'd', 0755, NULL, NULL, 100, 0 },
	{ "etc/empty", 'f', 0644, "", NULL, 300, 1000 },
	{ "dev/null", 'c', 0666, NULL, NULL, 0, 0 },
	{ "run/fifo", 'p', 0600, NULL, NULL, 0, 0 },
};

static void check_base(const struct kiln_imagefs_list *l)
{
	char hex[65];

	CHECK(l->n == 10); /* the root "./" is not an entry */
	if (l->n != 10)
		return;
	/* tar order, normalized names */
	CHECK_STR(l->e[0].path, "usr");
	CHECK_STR(l->e[2].path, "usr/bin/zz");
	CHECK_STR(l->e[3].path, "usr/bin/aa");
	CHECK_STR(l->e[9].path, "run/fifo");
	CHECK(l->e[0].type == 'd');
	CHECK(l->e[2].type == 'f' && l->e[2].mode == 0755 && l->e[2].mtime == 200);
	kiln_sha256_hex("hello\n", 6, hex);
	CHECK_STR(l->e[3].sha256, hex);
	CHECK(l->e[3].mode == 04755 && l->e[3].size == 6);
	CHECK(l->e[4].type == 'l');
	CHECK_STR(l->e[4].link, "aa");
	CHECK_STR(l->e[4].sha256, "");
	CHECK(l->e[5].type == 'h');
	CHECK_STR(l->e[5].link, "usr/bin/aa");
	kiln_sha256_hex("", 0, hex);
	CHECK_STR(l->e[7].sha256, hex);
	CHECK(l->e[7].uid == 1000 && l->e[7].gid == 1000 && l->e[7].size == 0);
	CHECK(l->e[8].type == 'c' && l->e[8].devmajor == 1 && l->e[8].devminor == 3);
	CHECK(l->e[9].type == 'p');
	CHECK(l->e[0].link == NULL && l->e[0].xattrs == NULL && l->e[0].kept == NULL);
}

TEST(read_gzip_zstd_plain)
{
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list g = KILN_IMAGEFS_LIST_INIT, z = KILN_IMAGEFS_LIST_INIT, p = KILN_IMAGEFS_LIST_INIT;
	char *path, *what;

	CHECK(read_specs(base, KILN_ARRAY_SIZE(base), ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &g, &err) == 0);
	check_base(&g);
	CHECK(read_specs(base, KILN_ARRAY_SIZE(base), ARCHIVE_FILTER_ZSTD, KILN_OCI_LAYER_ZSTD, NULL, &z, &err) == 0);
	check_base(&z);
	CHECK(read_specs(base, KILN_ARRAY_SIZE(base), ARCHIVE_FILTER_NONE,
			 "application/vnd.oci.image.layer.v1.tar", NULL, &p, &err) == 0);
	check_base(&p);
	CHECK(kiln_imagefs_first_difference(&g, &z, &path, &what) == 0);
	CHECK(kiln_imagefs_first_difference(&g, &p, &path, &what) == 0);
	CHECK(path == NULL && what == NULL);
}

TEST(empty_layers)
{
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list g = KILN_IMAGEFS_LIST_INIT, z = KILN_IMAGEFS_LIST_INIT, p = KILN_IMAGEFS_LIST_INIT;
	_cleanup_free_ char *empty = kiln_xasprintf("%s/zero-bytes", tmp);
	FILE *f = fopen(empty, "w");

	fclose(f);
	CHECK(read_specs(base, 0, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &g, &err) == 0 && g.n == 0);
	CHECK(read_specs(base, 0, ARCHIVE_FILTER_ZSTD, KILN_OCI_LAYER_ZSTD, NULL, &z, &err) == 0 && z.n == 0);
	CHECK(read_specs(base, 0, ARCHIVE_FILTER_NONE, "application/vnd.oci.image.layer.v1.tar", NULL, &p,
			 &err) == 0 && p.n == 0);
	/* Zero bytes are not a tar stream (a tar ends with two zero blocks). */
	kiln_error_clear(&err);
	CHECK(kiln_imagefs_read_layer(empty, "application/vnd.oci.image.layer.v1.tar", NULL, &p, &err) < 0);
	CHECK_CONTAINS(err.message, "zero-bytes: ");
}

TEST(media_type_must_match)
{
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list l = KILN_IMAGEFS_LIST_INIT;

	CHECK(read_specs(base, 3, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_ZSTD, NULL, &l, &err) < 0);
	CHECK(l.n == 0);
	kiln_error_clear(&err);
	CHECK(read_specs(base, 3, ARCHIVE_FILTER_GZIP, "application/vnd.oci.image.layer.v1.tar", NULL, &l, &err) < 0);
	kiln_error_clear(&err);
	CHECK(read_specs(base, 3, ARCHIVE_FILTER_ZSTD, KILN_OCI_LAYER_GZIP, NULL, &l, &err) < 0);
	kiln_error_clear(&err);
	CHECK(read_specs(base, 3, ARCHIVE_FILTER_GZIP, "application/octet-stream", NULL, &l, &err) < 0);
	CHECK_CONTAINS(err.message, "is not a layer type");
	kiln_error_clear(&err);
	CHECK(read_specs(base, 3, ARCHIVE_FILTER_GZIP, "application/vnd.docker.image.rootfs.diff.tar.gzip",
			 NULL, &l, &err) == 0);
	CHECK(l.n == 2);
}

TEST(kept_bytes)
{
	static const struct spec s[] = {
		{ "var/lib/dpkg/status", 'f', 0644, "Package: old\n", NULL, 0, 0 },
		{ "var/lib/dpkg/status", 'f', 0644, "Package: a\nVersion: 1\n", NULL, 0, 0 },
		{ "var/lib/dpkg/other", 'f', 0644, "x", NULL, 0, 0 },
	};
	static const char *const keep[] = { "var/lib/dpkg/status", NULL };
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list l = KILN_IMAGEFS_LIST_INIT, m = KILN_IMAGEFS_LIST_INIT;
	const char *k;
	size_t len = 0;

	CHECK(read_specs(s, 3, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, keep, &l, &err) == 0);
	k = kiln_imagefs_kept(&l, "var/lib/dpkg/status", &len);
	CHECK(k && len == 22 && memcmp(k, "Package: a\nVersion: 1\n", 22) == 0);
	CHECK(kiln_imagefs_kept(&l, "var/lib/dpkg/other", &len) == NULL);
	CHECK(kiln_imagefs_merge(&l, 1, &m, &err) == 0);
	k = kiln_imagefs_kept(&m, "var/lib/dpkg/status", &len);
	CHECK(k && len == 22 && memcmp(k, "Package: a\n", 11) == 0);
	CHECK(m.n == 2 && m.sorted);
}

TEST(merge_whiteouts_and_opaque)
{
	static const struct spec l0[] = {
		{ "a/", 'd', 0755, NULL, NULL, 0, 0 },
		{ "a/keep", 'f', 0644, "1", NULL, 0, 0 },
		{ "a/gone", 'f', 0644, "2", NULL, 0, 0 },
		{ "a/sub/", 'd', 0755, NULL, NULL, 0, 0 },
		{ "a/sub/deep", 'f', 0644, "3", NULL, 0, 0 },
		{ "a-b", 'f', 0644, "sorts between a and a/", NULL, 0, 0 },
		{ "o/", 'd', 0755, NULL, NULL, 0, 0 },
		{ "o/x", 'f', 0644, "4", NULL, 0, 0 },
		{ "o/y/", 'd', 0755, NULL, NULL, 0, 0 },
		{ "o/y/z", 'f', 0644, "5", NULL, 0, 0 },
		{ "d/", 'd', 0755, NULL, NULL, 0, 0 },
		{ "d/child", 'f', 0644, "6", NULL, 0, 0 },
		{ "top", 'f', 0644, "7", NULL, 0, 0 },
	};
	static const struct spec l1[] = {
		{ "a/.wh.gone", 'f', 0644, "", NULL, 0, 0 },
		{ "a/.wh.sub", 'f', 0644, "", NULL, 0, 0 },
		{ "o/", 'd', 0700, NULL, NULL, 0, 0 },
		{ "o/.wh..wh..opq", 'f', 0644, "", NULL, 0, 0 },
		{ "o/new", 'f', 0644, "8", NULL, 0, 0 },
		{ "d", 'l', 0777, NULL, "elsewhere", 0, 0 },   /* a non-dir replaces a dir */
		{ ".wh.top", 'f', 0644, "", NULL, 0, 0 },
		{ "top", 'f', 0600, "re-added in the same layer", NULL, 0, 0 },
		{ "a/keep", 'f', 0600, "later", NULL, 0, 0 },
	};
	static const struct spec l2[] = {
		{ "a/gone", 'f', 0644, "back", NULL, 0, 0 },
		{ "o/.wh.new", 'f', 0644, "", NULL, 0, 0 },
	};
	static const char *want[] = { "a", "a-b", "a/gone", "a/keep", "d", "o", "top" };
	struct kiln_error err = { 0 };
	struct kiln_imagefs_list layers[3] = { KILN_IMAGEFS_LIST_INIT, KILN_IMAGEFS_LIST_INIT, KILN_IMAGEFS_LIST_INIT };
	_cleanup_fslist_ struct kiln_imagefs_list m = KILN_IMAGEFS_LIST_INIT;
	const struct kiln_fsentry *e;

	CHECK(read_specs(l0, KILN_ARRAY_SIZE(l0), ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &layers[0], &err) == 0);
	CHECK(read_specs(l1, KILN_ARRAY_SIZE(l1), ARCHIVE_FILTER_ZSTD, KILN_OCI_LAYER_ZSTD, NULL, &layers[1], &err) == 0);
	CHECK(read_specs(l2, KILN_ARRAY_SIZE(l2), ARCHIVE_FILTER_NONE, "application/vnd.oci.image.layer.v1.tar", NULL, &layers[2], &err) == 0);
	CHECK(kiln_imagefs_merge(layers, 3, &m, &err) == 0);
	CHECK(m.n == KILN_ARRAY_SIZE(want));
	for (size_t i = 0; i < m.n && i < KILN_ARRAY_SIZE(want); i++)
		CHECK_STR(m.e[i].path, want[i]);
	e = kiln_imagefs_find(&m, "a/keep");
	CHECK(e && e->mode == 0600 && e->size == 5);
	e = kiln_imagefs_find(&m, "o");
	CHECK(e && e->mode == 0700);
	e = kiln_imagefs_find(&m, "d");
	CHECK(e && e->type == 'l');
	e = kiln_imagefs_find(&m, "top");
	CHECK(e && e->mode == 0600);
	CHECK(kiln_imagefs_find(&m, "o/new") == NULL);
	CHECK(kiln_imagefs_find(&m, "nothing") == NULL);
	/* Only the lowest layer: everything it has, sorted. */
	kiln_imagefs_list_release(&m);
	CHECK(kiln_imagefs_merge(layers, 1, &m, &err) == 0);
	CHECK(m.n == KILN_ARRAY_SIZE(l0));
	kiln_imagefs_list_release(&m);
	CHECK(kiln_imagefs_merge(layers, 0, &m, &err) == 0 && m.n == 0);
	for (int i = 0; i < 3; i++)
		kiln_imagefs_list_release(&layers[i]);
}

TEST(merge_opaque_root)
{
	static const struct spec l0[] = { { "x", 'f', 0644, "1", NULL, 0, 0 }, { "y/", 'd', 0755, NULL, NULL, 0, 0 } };
	static const struct spec l1[] = { { ".wh..wh..opq", 'f', 0644, "", NULL, 0, 0 }, { "z", 'f', 0644, "", NULL, 0, 0 } };
	struct kiln_error err = { 0 };
	struct kiln_imagefs_list layers[2] = { KILN_IMAGEFS_LIST_INIT, KILN_IMAGEFS_LIST_INIT };
	_cleanup_fslist_ struct kiln_imagefs_list m = KILN_IMAGEFS_LIST_INIT;

	CHECK(read_specs(l0, 2, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &layers[0], &err) == 0);
	CHECK(read_specs(l1, 2, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &layers[1], &err) == 0);
	CHECK(kiln_imagefs_merge(layers, 2, &m, &err) == 0);
	CHECK(m.n == 1 && strcmp(m.e[0].path, "z") == 0);
	kiln_imagefs_list_release(&layers[0]);
	kiln_imagefs_list_release(&layers[1]);
}

/* first_difference of base against base with one entry changed by edit. */
static void diff_case(void (*edit)(struct spec *s, size_t *n), const char *want_path, const char *want_what)
{
	struct spec s[KILN_ARRAY_SIZE(base) + 1];
	size_t n = KILN_ARRAY_SIZE(base);
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list a = KILN_IMAGEFS_LIST_INIT, b = KILN_IMAGEFS_LIST_INIT;
	_cleanup_free_ char *path = NULL, *what = NULL;

	memcpy(s, base, sizeof(base));
	edit(s, &n);
	CHECK(read_specs(base, KILN_ARRAY_SIZE(base), ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &a, &err) == 0);
	CHECK(read_specs(s, n, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &b, &err) == 0);
	CHECK(kiln_imagefs_first_difference(&a, &b, &path, &what) == 1);
	CHECK_STR(path, want_path);
	CHECK_CONTAINS(what, want_what);
}

static void edit_content(struct spec *s, size_t *n) { s[4].data = "hellO\n"; }
static void edit_mode(struct spec *s, size_t *n) { s[3].mode = 0700; }
static void edit_mtime(struct spec *s, size_t *n) { s[3].mtime = 86400; }
static void edit_owner(struct spec *s, size_t *n) { s[8].uid = 0; }
static void edit_link(struct spec *s, size_t *n) { s[5].link = "zz"; }
static void edit_type(struct spec *s, size_t *n) { s[5].type = 'f'; s[5].data = "aa"; }
static void edit_added(struct spec *s, size_t *n)
{
	memmove(&s[5], &s[4], (*n - 4) * sizeof(*s));
	s[4] = (struct spec){ "usr/bin/new", 'f', 0755, "new", NULL, 0, 0 };
	(*n)++;
}
static void edit_removed(struct spec *s, size_t *n) { (*n)--; }
static void edit_order(struct spec *s, size_t *n)
{
	struct spec t = s[3];
	s[3] = s[4];
	s[4] = t;
}

TEST(first_difference)
{
	diff_case(edit_content, "usr/bin/aa", "content differs (sha256:");
	diff_case(edit_mode, "usr/bin/zz", "mode 0755 vs 0700");
	diff_case(edit_mtime, "usr/bin/zz", "mtime 1970-01-01T00:03:20Z vs 1970-01-02T00:00:00Z");
	diff_case(edit_owner, "etc/empty", "owner 1000:1000 vs 0:0");
	diff_case(edit_link, "usr/bin/aa-link", "link target 'aa' vs 'zz'");
	diff_case(edit_type, "usr/bin/aa-link", "type symlink vs file");
	diff_case(edit_added, "usr/bin/new", "only in the rebuilt layer");
	diff_case(edit_removed, "run/fifo", "only in the recorded layer");
	diff_case(edit_order, "usr/bin/zz", "entry order");
}

TEST(first_difference_labeled)
{
	static const struct spec one[] = { { "a", 'f', 0644, "x", NULL, 0, 0 } };
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list a = KILN_IMAGEFS_LIST_INIT, b = KILN_IMAGEFS_LIST_INIT;
	_cleanup_free_ char *path = NULL, *what = NULL;

	CHECK(read_specs(one, 1, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &a, &err) == 0);
	CHECK(kiln_imagefs_first_difference_labeled(&a, "old", &b, "new", &path, &what) == 1);
	CHECK_STR(path, "a");
	CHECK_STR(what, "only in the old layer");
}

/* Every difference, one "path: what" line each, in the order yielded. */
static int collect(const char *path, const char *what, void *ctx)
{
	kiln_buf_printf(ctx, "%s: %s\n", path, what);
	return 0;
}

static char *all_differences(const struct spec *sa, size_t na, const struct spec *sb, size_t nb, int *rc)
{
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list a = KILN_IMAGEFS_LIST_INIT, b = KILN_IMAGEFS_LIST_INIT;
	struct kiln_buf out = KILN_BUF_INIT;

	CHECK(read_specs(sa, na, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &a, &err) == 0);
	CHECK(read_specs(sb, nb, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &b, &err) == 0);
	*rc = kiln_imagefs_differences(&a, "recorded", &b, "rebuilt", collect, &out);
	kiln_buf_addch(&out, '\0');
	return kiln_buf_detach(&out);
}

TEST(differences)
{
	struct spec s[KILN_ARRAY_SIZE(base) + 1];
	size_t n = KILN_ARRAY_SIZE(base);
	_cleanup_free_ char *none = NULL, *all = NULL, *ordered = NULL, *repeat = NULL;
	_cleanup_free_ char *sha_a = NULL, *sha_b = NULL, *want = NULL;
	int rc = -1;

	none = all_differences(base, n, base, n, &rc);
	CHECK(rc == 0);
	CHECK_STR(none, "");

	/* Every kind at once, one layer: an added and a removed path between
	 * changed ones, so the walk must step over them and stay in step. */
	memcpy(s, base, sizeof(base));
	s[3].mode = 0700;                  /* usr/bin/zz */
	s[4].data = "hellO\n";             /* usr/bin/aa */
	s[5].link = "zz";                  /* usr/bin/aa-link */
	memmove(&s[7], &s[6], (n - 6) * sizeof(*s)); /* usr/bin/new after aa-link */
	s[6] = (struct spec){ "usr/bin/new", 'f', 0644, "new", NULL, 0, 0 };
	n++;
	s[8].mtime = 86400;                /* etc/ */
	s[9].uid = 0;                      /* etc/empty */
	memmove(&s[10], &s[11], sizeof(*s)); /* dev/null removed */
	n--;
	all = all_differences(base, KILN_ARRAY_SIZE(base), s, n, &rc);
	CHECK(rc == 1);
	sha_a = kiln_xstrndup(strstr(all, "sha256:") + 7, 12);
	sha_b = kiln_xstrndup(strstr(strstr(all, "sha256:") + 7, "sha256:") + 7, 12);
	want = kiln_xasprintf("usr/bin/zz: mode 0755 vs 0700\n"
			      "usr/bin/aa: content differs (sha256:%s… vs sha256:%s…)\n"
			      "usr/bin/aa-link: link target 'aa' vs 'zz'\n"
			      "usr/bin/new: only in the rebuilt layer\n"
			      "etc: mtime 1970-01-01T00:01:40Z vs 1970-01-02T00:00:00Z\n"
			      "etc/empty: owner 1000:1000 vs 0:0\n"
			      "dev/null: only in the recorded layer\n", sha_a, sha_b);
	CHECK_STR(all, want);
	CHECK(strcmp(sha_a, sha_b) != 0);

	/* Another order: said once, then the rest compared path by path. */
	memcpy(s, base, sizeof(base));
	n = KILN_ARRAY_SIZE(base);
	s[3] = base[4];
	s[4] = base[3];
	s[4].mode = 0700;
	ordered = all_differences(base, n, s, n, &rc);
	CHECK(rc == 1);
	CHECK_STR(ordered, "usr/bin/zz: entry order (entry 3 is usr/bin/zz in the recorded layer, usr/bin/aa in the "
			   "rebuilt layer)\nusr/bin/zz: mode 0755 vs 0700\n");

	/* A path repeated at the end of one side. */
	memcpy(s, base, sizeof(base));
	s[n] = base[3];
	repeat = all_differences(base, n, s, n + 1, &rc);
	CHECK(rc == 1);
	CHECK_STR(repeat, "usr/bin/zz: entry 11 repeats the path, only in the rebuilt layer\n");
}

/* The first difference is the first the walker yields, whatever the kind. */
static int count_and_stop(const char *path, const char *what, void *ctx)
{
	(*(int *)ctx)++;
	return 1;
}

TEST(differences_stop)
{
	struct spec s[KILN_ARRAY_SIZE(base)];
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list a = KILN_IMAGEFS_LIST_INIT, b = KILN_IMAGEFS_LIST_INIT;
	int calls = 0;

	memcpy(s, base, sizeof(base));
	s[3].mode = 0700;
	s[4].mode = 0700;
	CHECK(read_specs(base, KILN_ARRAY_SIZE(base), ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &a, &err) == 0);
	CHECK(read_specs(s, KILN_ARRAY_SIZE(base), ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &b, &err) == 0);
	CHECK(kiln_imagefs_differences(&a, "recorded", &b, "rebuilt", count_and_stop, &calls) == 1);
	CHECK(calls == 1);
}

TEST(hostile_names)
{
	static const struct spec s[] = {
		{ "../../etc/passwd", 'f', 0644, "root::0:0\n", NULL, 0, 0 },
		{ "/etc/shadow", 'f', 0600, "x", NULL, 0, 0 },
		{ "usr/../../escape", 'l', 0777, NULL, "/", 0, 0 },
		{ "ok/.wh...", 'f', 0644, "", NULL, 0, 0 },
		{ "ünïcødé/ñame.txt", 'f', 0644, "u", NULL, 0, 0 },
		{ ".//usr/./bin//x/", 'd', 0755, NULL, NULL, 0, 0 },
	};
	struct kiln_error err = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list l = KILN_IMAGEFS_LIST_INIT, clean = KILN_IMAGEFS_LIST_INIT, m = KILN_IMAGEFS_LIST_INIT;
	_cleanup_free_ char *path = NULL, *what = NULL;

	CHECK(read_specs(s, KILN_ARRAY_SIZE(s), ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &l, &err) == 0);
	CHECK(l.n == 6);
	if (l.n != 6)
		return;
	CHECK_STR(l.e[5].path, "usr/bin/x");
	CHECK_STR(l.e[0].path, "../../etc/passwd");
	CHECK_STR(l.e[1].path, "/etc/shadow");
	CHECK_STR(l.e[2].path, "usr/../../escape");
	CHECK_STR(l.e[4].path, "ünïcødé/ñame.txt");
	CHECK(kiln_imagefs_path_hostile(l.e[0].path));
	CHECK(kiln_imagefs_path_hostile(l.e[1].path));
	CHECK(kiln_imagefs_path_hostile(l.e[2].path));
	CHECK(!kiln_imagefs_path_hostile(l.e[4].path));
	CHECK(!kiln_imagefs_path_hostile("a/..b/c.."));
	CHECK(kiln_imagefs_path_hostile(".."));
	CHECK(kiln_imagefs_merge(&l, 1, &m, &err) == 0);
	CHECK(m.n == 5); /* the ".wh..." whiteout is not an entry */
	CHECK(read_specs(s + 4, 1, ARCHIVE_FILTER_GZIP, KILN_OCI_LAYER_GZIP, NULL, &clean, &err) == 0);
	CHECK(kiln_imagefs_first_difference(&l, &clean, &path, &what) == 1);
	CHECK_STR(path, "../../etc/passwd");
	CHECK_STR(what, "only in the recorded layer");
}

/* Copy a blob, damaged by f, and read it back. */
static void damaged(const char *src, void (*f)(char *data, size_t *len), const char *media_type,
		    const char *digest, struct kiln_error *err, int *rc)
{
	_cleanup_free_ char *dst = kiln_xasprintf("%s/damaged-%d", tmp, ++seq);
	_cleanup_fslist_ struct kiln_imagefs_list l = KILN_IMAGEFS_LIST_INIT;
	FILE *in = fopen(src, "rb"), *out;
	char *data = kiln_xmalloc(1 << 20);
	size_t len = fread(data, 1, 1 << 20, in);

	fclose(in);
	f(data, &len);
	out = fopen(dst, "wb");
	fwrite(data, 1, len, out);
	fclose(out);
	free(data);
	kiln_error_clear(err);
	*rc = digest ? kiln_imagefs_read_layer_checked(dst, media_type, digest, NULL, &l, err)
		     : kiln_imagefs_read_layer(dst, media_type, NULL, &l, err);
	CHECK(*rc == 0 || l.n == 0);
}

static void truncate_half(char *d, size_t *len) { *len /= 2; }
static void flip_middle(char *d, size_t *len) { d[*len / 2] ^= 0x5a; }
static void flip_magic(char *d, size_t *len) { d[0] ^= 0x01; }
static void flip_trailer(char *d, size_t *len) { d[*len - 2] ^= 0x01; }
static void nothing(char *d, size_t *len) { }

TEST(corrupt_blobs)
{
	/* Enough incompressible-ish data that damage lands inside a file. */
	struct spec s[40];
	char bodies[40][200];
	struct kiln_error err = { 0 };
	_cleanup_free_ char *gz = NULL, *zs = NULL;
	char hex[65], digest[80];
	int rc;

	for (int i = 0; i < 40; i++) {
		for (int j = 0; j < 199; j++)
			bodies[i][j] = (char)('a' + (i * 7 + j * j) % 26);
		bodies[i][199] = 0;
		s[i] = (struct spec){ NULL, 'f', 0644, bodies[i], NULL, 0, 0 };
	}
	char names[40][16];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "f%02d", i);
		s[i].path = names[i];
	}
	gz = write_layer(s, 40, ARCHIVE_FILTER_GZIP);
	zs = write_layer(s, 40, ARCHIVE_FILTER_ZSTD);

	damaged(gz, truncate_half, KILN_OCI_LAYER_GZIP, NULL, &err, &rc);
	CHECK(rc < 0 && err.code != KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "damaged-");
	printf("# truncated gzip: %s\n", err.message);
	damaged(gz, flip_magic, KILN_OCI_LAYER_GZIP, NULL, &err, &rc);
	CHECK(rc < 0);
	damaged(zs, truncate_half, KILN_OCI_LAYER_ZSTD, NULL, &err, &rc);
	CHECK(rc < 0);
	damaged(zs, flip_magic, KILN_OCI_LAYER_ZSTD, NULL, &err, &rc);
	CHECK(rc < 0);
	/* A flipped bit inside the deflate stream may still inflate (libarchive
	 * does not check gzip's CRC): no crash; the digest check below is what
	 * catches it. */
	damaged(gz, flip_middle, KILN_OCI_LAYER_GZIP, NULL, &err, &rc);
	damaged(zs, flip_middle, KILN_OCI_LAYER_ZSTD, NULL, &err, &rc);

	/* With the digest: the cause is named and marked a failed verification. */
	{
		uint64_t size;
		CHECK(kiln_sha256_file(gz, hex, &size, &err) == 0);
		snprintf(digest, sizeof(digest), "sha256:%s", hex);
	}
	damaged(gz, nothing, KILN_OCI_LAYER_GZIP, digest, &err, &rc);
	CHECK(rc == 0);
	damaged(gz, flip_middle, KILN_OCI_LAYER_GZIP, digest, &err, &rc);
	CHECK(rc < 0 && err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "its bytes hash to sha256:");
	printf("# flipped byte: %s\n", err.message);
	CHECK_CONTAINS(err.message, digest);
	damaged(gz, flip_trailer, KILN_OCI_LAYER_GZIP, digest, &err, &rc);
	CHECK(rc < 0 && err.code == KILN_EXIT_VERIFY);
	damaged(gz, truncate_half, KILN_OCI_LAYER_GZIP, digest, &err, &rc);
	CHECK(rc < 0 && err.code == KILN_EXIT_VERIFY);

	/* Not a blob at all. */
	{
		_cleanup_fslist_ struct kiln_imagefs_list l = KILN_IMAGEFS_LIST_INIT;
		_cleanup_free_ char *missing = kiln_xasprintf("%s/missing", tmp);
		kiln_error_clear(&err);
		CHECK(kiln_imagefs_read_layer(missing, KILN_OCI_LAYER_GZIP, NULL, &l, &err) < 0);
		CHECK_CONTAINS(err.message, "No such file");
	}
}

TEST(many_entries_fast)
{
	/* 50000 entries in one layer, merged over a second one: one pass. */
	_cleanup_free_ char *path = kiln_xasprintf("%s/big", tmp);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	struct kiln_error err = { 0 };
	struct kiln_imagefs_list layers[2] = { KILN_IMAGEFS_LIST_INIT, KILN_IMAGEFS_LIST_INIT };
	_cleanup_fslist_ struct kiln_imagefs_list m = KILN_IMAGEFS_LIST_INIT;

	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_gzip(a);
	archive_write_open_filename(a, path);
	for (int i = 0; i < 50000; i++) {
		char name[64];
		snprintf(name, sizeof(name), "usr/share/d%03d/file-%05d", i % 500, i);
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 4);
		archive_write_header(a, e);
		archive_write_data(a, "data", 4);
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	CHECK(kiln_imagefs_read_layer(path, KILN_OCI_LAYER_GZIP, NULL, &layers[0], &err) == 0);
	CHECK(kiln_imagefs_read_layer(path, KILN_OCI_LAYER_GZIP, NULL, &layers[1], &err) == 0);
	CHECK(layers[0].n == 50000);
	CHECK(kiln_imagefs_merge(layers, 2, &m, &err) == 0);
	CHECK(m.n == 50000);
	for (size_t i = 1; i < m.n; i++)
		if (strcmp(m.e[i - 1].path, m.e[i].path) >= 0) {
			CHECK(!"sorted");
			break;
		}
	kiln_imagefs_list_release(&layers[0]);
	kiln_imagefs_list_release(&layers[1]);
}

TEST(changes_and_names)
{
	struct kiln_fsentry a = { .path = "x", .type = 'f', .mode = 0644, .sha256 = "aa" }, b = a;

	CHECK(kiln_fsentry_changes(&a, &b) == 0);
	b.mode = 0755;
	b.mtime = 5;
	CHECK(kiln_fsentry_changes(&a, &b) == (KILN_FSCHANGE_MODE | KILN_FSCHANGE_MTIME));
	b.type = 'l';
	CHECK(kiln_fsentry_changes(&a, &b) == KILN_FSCHANGE_TYPE);
	CHECK_STR(kiln_fsentry_change_name(KILN_FSCHANGE_LINK), "link target");
	CHECK_STR(kiln_fsentry_type_name('h'), "hard link");
}

TEST(snapdiff_packages)
{
	static const char a[] =
		"Package: app\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
		"Package: gone-config\nStatus: deinstall ok config-files\nVersion: 9\nArchitecture: amd64\n\n"
		"Package: libms1\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
		"Package: wget\nStatus: install ok installed\nVersion: 1.21.3-1+b2\nArchitecture: amd64\n"
		"Description: x\n continued\n";
	static const char b[] =
		"Package: libms1\nStatus: install ok installed\nVersion: 1.0\nArchitecture: i386\n\n"
		"Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\n\n"
		"Package: libms1\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
		"Package: app\nStatus: install ok installed\nVersion: 2.0\nArchitecture: all\n";
	struct kiln_snapdiff d = { 0 };
	struct kiln_error err = { 0 };

	CHECK(kiln_snapdiff_packages(a, strlen(a), b, strlen(b), &d, &err) == 0);
	CHECK(d.n_pkg_changed == 1 && d.n_pkg_added == 2 && d.n_pkg_removed == 1);
	if (d.n_pkg_changed == 1 && d.n_pkg_added == 2 && d.n_pkg_removed == 1) {
		CHECK_STR(d.pkg_changed[0].name, "app");
		CHECK_STR(d.pkg_changed[0].from, "1.0");
		CHECK_STR(d.pkg_changed[0].to, "2.0");
		CHECK_STR(d.pkg_changed[0].from_architecture, "amd64");
		CHECK_STR(d.pkg_changed[0].architecture, "all");
		CHECK_STR(d.pkg_added[0].name, "curl");
		CHECK_STR(d.pkg_added[0].to, "7.88.1-10+deb12u5");
		CHECK(d.pkg_added[0].from == NULL);
		CHECK_STR(d.pkg_added[1].name, "libms1:i386");
		CHECK_STR(d.pkg_removed[0].name, "wget");
		CHECK_STR(d.pkg_removed[0].from, "1.21.3-1+b2");
	}
	CHECK(!kiln_snapdiff_empty(&d));
	kiln_snapdiff_release(&d);

	/* No status file on one side: everything is added; same text: nothing. */
	CHECK(kiln_snapdiff_packages(NULL, 0, a, strlen(a), &d, &err) == 0);
	CHECK(d.n_pkg_added == 3 && d.n_pkg_removed == 0);
	kiln_snapdiff_release(&d);
	CHECK(kiln_snapdiff_packages(a, strlen(a), a, strlen(a), &d, &err) == 0);
	CHECK(kiln_snapdiff_empty(&d));
	kiln_snapdiff_release(&d);
	CHECK(kiln_snapdiff_packages(" bad continuation\n", 18, a, strlen(a), &d, &err) < 0);
	CHECK_CONTAINS(err.message, "dpkg/status");
	CHECK(d.n_pkg_added == 0);
}

/* Image configs: Env is a set (order does not matter), keyed fields list
 * what was added, removed and changed, "" is the same as absent. */
TEST(snapdiff_configs)
{
	static const char a[] =
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\",\"B=2\"],"
		"\"Entrypoint\":[\"/bin/a\"],\"WorkingDir\":\"\",\"Volumes\":{\"/data\":{}},"
		"\"Labels\":{\"k\":\"v\"}}}";
	static const char same[] =
		"{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Env\":[\"B=2\",\"A=1\"],"
		"\"Entrypoint\":[\"/bin/a\"],\"Volumes\":{\"/data\":{}},\"Labels\":{\"k\":\"v\"}},"
		"\"created\":\"2026-01-01T00:00:00Z\"}";
	static const char b[] =
		"{\"architecture\":\"arm64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\",\"C=3\"],"
		"\"Entrypoint\":[\"/bin/a\",\"x y\"],\"WorkingDir\":\"/w\",\"Volumes\":{\"/data\":{}},"
		"\"Labels\":{\"k\":\"w\"}}}";
	struct kiln_snapdiff d = { 0 };
	struct kiln_error err = { 0 };

	CHECK(kiln_snapdiff_configs(a, strlen(a), "A", same, strlen(same), "S", &d, &err) == 0);
	CHECK(kiln_snapdiff_empty(&d));
	kiln_snapdiff_release(&d);

	CHECK(kiln_snapdiff_configs(a, strlen(a), "A", b, strlen(b), "B", &d, &err) == 0);
	CHECK(d.n_cfg_changed == 3 && d.n_cfg_added == 2 && d.n_cfg_removed == 1);
	if (d.n_cfg_changed == 3 && d.n_cfg_added == 2 && d.n_cfg_removed == 1) {
		CHECK_STR(d.cfg_changed[0].field, "Entrypoint");
		CHECK(d.cfg_changed[0].key == NULL);
		CHECK_STR(d.cfg_changed[0].from, "[\"/bin/a\"]");
		CHECK_STR(d.cfg_changed[0].to, "[\"/bin/a\",\"x y\"]");
		CHECK_STR(d.cfg_changed[1].field, "Labels");
		CHECK_STR(d.cfg_changed[1].key, "k");
		CHECK_STR(d.cfg_changed[2].field, "architecture");
		CHECK_STR(d.cfg_changed[2].to, "arm64");
		CHECK_STR(d.cfg_added[0].field, "Env");
		CHECK_STR(d.cfg_added[0].key, "C");
		CHECK_STR(d.cfg_added[0].to, "3");
		CHECK(d.cfg_added[0].from == NULL);
		CHECK_STR(d.cfg_added[1].field, "WorkingDir");
		CHECK_STR(d.cfg_removed[0].key, "B");
		CHECK_STR(d.cfg_removed[0].from, "2");
	}
	kiln_snapdiff_release(&d);

	CHECK(kiln_snapdiff_configs(a, strlen(a), "A", "{\"config\":{\"Env\":\"A=1\"}}", 24, "B", &d,
				    &err) < 0);
	CHECK_CONTAINS(err.message, "B: image config: config.Env has the wrong type");
	CHECK(kiln_snapdiff_configs("[]", 2, "A", a, strlen(a), "B", &d, &err) < 0);
	CHECK_CONTAINS(err.message, "A: image config: not a JSON object");
	CHECK(d.n_cfg_added == 0);
}

TEST(snapdiff_files)
{
	struct kiln_fsentry ea[] = {
		{ .path = "a", .type = 'f', .mode = 0644, .size = 1, .sha256 = "11" },
		{ .path = "b", .type = 'f', .mode = 0644, .size = 1, .sha256 = "22", .mtime = 1 },
		{ .path = "c", .type = 'l', .mode = 0777, .link = "x" },
		{ .path = "d", .type = 'd', .mode = 0755 },
		{ .path = "gone", .type = 'f', .sha256 = "33" },
	};
	struct kiln_fsentry eb[] = {
		{ .path = "a", .type = 'f', .mode = 0644, .size = 2, .sha256 = "12", .mtime = 5 },
		{ .path = "b", .type = 'f', .mode = 0644, .size = 1, .sha256 = "22", .mtime = 2 },
		{ .path = "c", .type = 'l', .mode = 0777, .link = "y", .uid = 1 },
		{ .path = "d", .type = 'f', .mode = 0755, .sha256 = "44" },
		{ .path = "new", .type = 'p' },
	};
	struct kiln_imagefs_list a = { ea, 5, 0, true }, b = { eb, 5, 0, true };
	struct kiln_snapdiff d = { 0 };
	_cleanup_free_ char *t0 = NULL, *t1 = NULL;

	kiln_snapdiff_files(&a, &b, &d);
	CHECK(d.n_changed == 3 && d.n_added == 1 && d.n_removed == 1 && d.n_mtime_only == 1);
	if (d.n_changed == 3) {
		CHECK(d.changed[0].changes == KILN_FSCHANGE_CONTENT); /* not size, not mtime */
		t0 = kiln_snapdiff_changes_text(d.changed[1].changes);
		CHECK_STR(t0, "link target, owner");
		t1 = kiln_snapdiff_changes_text(d.changed[2].changes);
		CHECK_STR(t1, "type");
	}
	CHECK(d.n_mtime_only == 1 && strcmp(d.mtime_only[0].path, "b") == 0);
	CHECK(d.n_added == 1 && strcmp(d.added[0].path, "new") == 0);
	CHECK(d.n_removed == 1 && strcmp(d.removed[0].path, "gone") == 0);
	kiln_snapdiff_release(&d);
	kiln_snapdiff_files(&a, &a, &d);
	CHECK(kiln_snapdiff_empty(&d));
	kiln_snapdiff_release(&d);
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-test-imagefs.XXXXXX";

	tmp = mkdtemp(tmpl);
	if (!tmp)
		return 1;
	RUN(read_gzip_zstd_plain);
	RUN(empty_layers);
	RUN(media_type_must_match);
	RUN(kept_bytes);
	RUN(merge_whiteouts_and_opaque);
	RUN(merge_opaque_root);
	RUN(first_difference);
	RUN(first_difference_labeled);
	RUN(differences);
	RUN(differences_stop);
	RUN(hostile_names);
	RUN(corrupt_blobs);
	RUN(many_entries_fast);
	RUN(changes_and_names);
	RUN(snapdiff_packages);
	RUN(snapdiff_files);
	RUN(snapdiff_configs);
	{
		_cleanup_free_ char *cmd = kiln_xasprintf("rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			return 1;
	}
	return tap_done();
}
