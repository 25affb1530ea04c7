/* test_layer.c - the in-memory tree (merged /usr, safe path resolution,
 * hostile packages), the deterministic layer tar writer and the dpkg
 * database.  The judges are tools kiln did not write: GNU tar lists and
 * unpacks the layers, dpkg reads the database (-l, -S, --verify). */
#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "deb.h"
#include "debcraft.h"
#include "dpkg.h"
#include "fsutil.h"
#include "hash.h"
#include "layer.h"
#include "tap.h"
#include "util.h"

static char *tmp;
static int seq;

/* ---- helpers ------------------------------------------------------------- */

/* Add a crafted package (control for name, data tar from the entries the
 * caller wrote into *data) to layer; returns the error message, "" when it
 * worked.  *pkg (may be NULL) gets the dpkg record. */
static char *add_tar(struct kiln_layer_tree *t, int layer, const char *control,
		     const struct kiln_buf *data, struct kiln_dpkg_package *pkg)
{
	_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf ended = KILN_BUF_INIT;
	struct kiln_dpkg_package scratch;
	struct kiln_error err = { 0 };
	struct kiln_deb *d;

	kiln_buf_add(&ended, data->data, data->len);
	craft_tar_end(&ended);
	craft_deb(&deb, control, &ended);
	d = kiln_deb_open_memory(deb.data, deb.len, "crafted.deb", NULL, &err);
	if (d) {
		if (kiln_layer_tree_add_deb(t, d, layer, pkg ? pkg : &scratch, &err) == 0 && !pkg)
			kiln_dpkg_package_release(&scratch);
		kiln_deb_free(d);
	}
	return kiln_xstrdup(err.message);
}

#define CHECK_ADD(t, layer, control, data, pkg, want)                         \
	do {                                                                  \
		_cleanup_free_ char *m_ = add_tar(t, layer, control, data, pkg); \
		if (*(want))                                                  \
			CHECK_CONTAINS(m_, want);                             \
		else                                                          \
			CHECK_STR(m_, "");                                    \
	} while (0)

static int add_deb_file(struct kiln_layer_tree *t, int layer, const char *path,
			struct kiln_dpkg_package *pkg)
{
	struct kiln_error err = { 0 };
	_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_file(path, NULL, NULL, &err);

	if (!d || kiln_layer_tree_add_deb(t, d, layer, pkg, &err) < 0) {
		printf("# %s: %s\n", path, err.message);
		return -1;
	}
	return 0;
}

static const struct kiln_layer_options default_opts = { .epoch = 0, .clamp = -1 };

/* Write layer to a new file under tmp; returns its path (caller frees). */
static char *layer_file(const struct kiln_layer_tree *t, int layer, const struct kiln_layer_options *o,
			struct kiln_layer_result *res)
{
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	struct kiln_layer_result scratch;
	char *path = kiln_xasprintf("%s/layer-%d-%d.tar", tmp, layer, ++seq);

	if (kiln_layer_write(t, layer, o ? o : &default_opts, &tar, res ? res : &scratch,
				  &err) < 0) {
		printf("# write layer %d: %s\n", layer, err.message);
		free(path);
		return NULL;
	}
	if (kiln_file_write_atomic(path, tar.data, tar.len, 0644, &err) < 0) {
		printf("# %s\n", err.message);
		free(path);
		return NULL;
	}
	return path;
}

/* `tar --list --verbose --numeric-owner --full-time` in UTC, with runs of
 * spaces squeezed to one. */
static char *tar_list(const char *tarfile, bool numeric)
{
	struct kiln_buf out = KILN_BUF_INIT, errs = KILN_BUF_INIT;
	char *tz = getenv("TZ") ? kiln_xstrdup(getenv("TZ")) : NULL;
	int st;
	size_t o = 0;

	setenv("TZ", "UTC", 1);
	st = craft_run(&out, &errs, "tar", "--list", "--verbose", "--full-time",
		       numeric ? "--numeric-owner" : "--verbose", "-f", tarfile, (char *)NULL);
	if (tz) {
		setenv("TZ", tz, 1);
		free(tz);
	} else {
		unsetenv("TZ");
	}
	if (st != 0 || errs.len)
		printf("# tar --list: %d %s\n", st, errs.data ? errs.data : "");
	kiln_buf_release(&errs);
	for (size_t i = 0; i < out.len; i++)
		if (!(out.data[i] == ' ' && o && out.data[o - 1] == ' '))
			out.data[o++] = out.data[i];
	out.len = o;
	if (out.data)
		out.data[o] = '\0';
	return kiln_buf_detach(&out);
}

/* Unpack tar files in order into dir with GNU tar, keeping owners and modes. */
static bool tar_extract(const char *dir, const char *tarfile)
{
	struct kiln_buf errs = KILN_BUF_INIT;
	int st = craft_run(NULL, &errs, "tar", "-x", "--same-owner", "--same-permissions",
			   "--numeric-owner", "-C", dir, "-f", tarfile, (char *)NULL);
	bool ok = st == 0 && errs.len == 0;

	if (!ok)
		printf("# tar -x %s: %d %s\n", tarfile, st, errs.data ? errs.data : "");
	kiln_buf_release(&errs);
	return ok;
}

static char *new_dir(const char *name)
{
	char *d = kiln_xasprintf("%s/%s-%d", tmp, name, ++seq);
	craft_mkdir(d, "", 0755);
	return d;
}

static bool lstat_in(const char *dir, const char *rel, struct stat *st)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/%s", dir, rel);
	return lstat(p, st) == 0;
}

static char *read_in(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/%s", dir, rel);
	struct kiln_error err = { 0 };
	return kiln_file_read(p, 1 << 20, NULL, &err);
}

static char *readlink_in(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/%s", dir, rel);
	char buf[4096];
	ssize_t n = readlink(p, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return kiln_xstrdup(buf);
}

#define CHECK_MODE(dir, rel, type, perm, uid_, gid_, mtime_)                      \
	do {                                                                     \
		struct stat s_;                                                  \
		bool ok_ = lstat_in(dir, rel, &s_);                              \
		CHECK(ok_);                                                      \
		if (ok_) {                                                       \
			CHECK((s_.st_mode & S_IFMT) == (type));                  \
			if ((s_.st_mode & 07777) != (perm))                      \
				printf("# %s: mode %04o, want %04o\n", rel,      \
				       (unsigned)(s_.st_mode & 07777), (unsigned)(perm)); \
			CHECK((s_.st_mode & 07777) == (perm));                   \
			CHECK(s_.st_uid == (uid_) && s_.st_gid == (gid_));       \
			if (s_.st_mtime != (mtime_))                             \
				printf("# %s: mtime %lld, want %lld\n", rel,     \
				       (long long)s_.st_mtime, (long long)(mtime_)); \
			CHECK(s_.st_mtime == (mtime_));                          \
		}                                                                \
	} while (0)

#define CHECK_HAS_LINE(listing, line)                                            \
	do {                                                                     \
		_cleanup_free_ char *w_ = kiln_xasprintf("\n%s\n", line);       \
		_cleanup_free_ char *h_ = kiln_xasprintf("\n%s", listing);      \
		if (!strstr(h_, w_))                                             \
			printf("# listing lacks: %s\n# listing:\n%s", line, listing); \
		CHECK(strstr(h_, w_) != NULL);                                   \
	} while (0)

static void list_has_path(const char *list, const char *path, bool want)
{
	_cleanup_free_ char *w = kiln_xasprintf("\n%s\n", path);
	_cleanup_free_ char *h = kiln_xasprintf("\n%s", list ? list : "");
	if ((strstr(h, w) != NULL) != want)
		printf("# .list %s %s\n", want ? "lacks" : "has", path);
	CHECK((strstr(h, w) != NULL) == want);
}

/* ---- the tree ------------------------------------------------------------- */

TEST(root_skeleton)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_free_ char *tarfile = layer_file(t, 0, NULL, NULL);
	_cleanup_free_ char *ls = tarfile ? tar_list(tarfile, true) : NULL;
	const struct kiln_layer_entry *e = kiln_layer_tree_get(t, "bin");

	CHECK(e && e->type == KILN_LAYER_SYMLINK && strcmp(e->link, "usr/bin") == 0);
	e = kiln_layer_tree_get(t, "usr/lib64");
	CHECK(e && e->type == KILN_LAYER_DIR && e->mode == 0755 && e->uid == 0 && e->layer == 0);
	CHECK_STR(ls, "lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 bin -> usr/bin\n"
		      "lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 lib -> usr/lib\n"
		      "lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 lib64 -> usr/lib64\n"
		      "lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 sbin -> usr/sbin\n"
		      "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/\n"
		      "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/\n"
		      "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/lib/\n"
		      "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/lib64/\n"
		      "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/sbin/\n");
	CHECK(kiln_layer_size(t, 0) == 9);
}

TEST(resolve_inside_root)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	struct kiln_error err = { 0 };
	struct {
		const char *path;
		bool follow;
		const char *want;
	} cases[] = {
		{ "bin/ls", false, "usr/bin/ls" },
		{ "/bin/ls", false, "usr/bin/ls" },
		{ "bin", false, "bin" },
		{ "bin", true, "usr/bin" },
		{ "../../../bin/../etc/passwd", false, "usr/etc/passwd" },
		{ "../../..", false, "" },
		{ "/lib64/ld.so", false, "usr/lib64/ld.so" },
		{ "nonexistent/../x", false, "x" },
	};

	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *r = kiln_layer_tree_resolve(t, cases[i].path, cases[i].follow, &err);
		CHECK_STR(r, cases[i].want);
	}
}

/* Entries of a small merged-/usr package. */
static void merged_entries(struct kiln_buf *d)
{
	craft_tar_entry(d, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./bin/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./bin/ls", '0', 0755, "ls\n", NULL, 0);
	craft_tar_entry(d, "./lib/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./lib/x86_64-linux-gnu/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./lib/x86_64-linux-gnu/libls.so.1", '0', 0644, "lib\n", NULL, 0);
	craft_tar_entry(d, "./sbin/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./sbin/init", '2', 0777, NULL, "../lib/systemd/systemd", 0);
	craft_tar_entry(d, "./usr/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/bin/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/bin/dir", '1', 0755, NULL, "./bin/ls", 0);
}

TEST(merged_usr)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
	struct kiln_dpkg_package pkg;
	const struct kiln_layer_entry *e;
	_cleanup_free_ char *l0 = NULL, *l1 = NULL, *ls = NULL, *dir = NULL;
	struct stat st_ls, st_dir;

	merged_entries(&d);
	CHECK_ADD(t, 1, CRAFT_CONTROL("coreutils-t", "1.0", "amd64"), &d, &pkg, "");
	e = kiln_layer_tree_get(t, "usr/bin/ls");
	CHECK(e && e->type == KILN_LAYER_FILE && e->layer == 1 && e->package &&
	      strcmp(e->package, "coreutils-t") == 0);
	CHECK(kiln_layer_tree_get(t, "bin/ls") == NULL);
	e = kiln_layer_tree_get(t, "bin");
	CHECK(e && e->type == KILN_LAYER_SYMLINK && e->layer == 0);
	CHECK(kiln_layer_tree_get(t, "usr/lib/x86_64-linux-gnu/libls.so.1") != NULL);
	e = kiln_layer_tree_get(t, "usr/sbin/init");
	CHECK(e && e->type == KILN_LAYER_SYMLINK && strcmp(e->link, "../lib/systemd/systemd") == 0);
	/* The hard link's target "bin/ls" resolves through the symlink too. */
	e = kiln_layer_tree_get(t, "usr/bin/dir");
	CHECK(e && e->type == KILN_LAYER_HARDLINK && strcmp(e->link, "usr/bin/ls") == 0);
	/* dpkg's .list keeps the package's own paths. */
	CHECK_STR(pkg.list, "/.\n/bin\n/bin/ls\n/lib\n/lib/x86_64-linux-gnu\n"
			    "/lib/x86_64-linux-gnu/libls.so.1\n/sbin\n/sbin/init\n/usr\n/usr/bin\n"
			    "/usr/bin/dir\n");
	CHECK_CONTAINS(pkg.md5sums, "  bin/ls\n");
	CHECK_CONTAINS(pkg.md5sums, "  usr/bin/dir\n");

	l0 = layer_file(t, 0, NULL, NULL);
	l1 = layer_file(t, 1, NULL, NULL);
	ls = l1 ? tar_list(l1, true) : NULL;
	/* No "bin/" directory can hide the symlink in a lower layer. */
	CHECK(ls && !strstr(ls, " bin/") && !strstr(ls, " lib/") && !strstr(ls, " sbin/"));
	CHECK_HAS_LINE(ls, "-rwxr-xr-x 0/0 3 2024-06-01 00:00:00 usr/bin/dir");
	CHECK_HAS_LINE(ls, "hrwxr-xr-x 0/0 0 2024-06-01 00:00:00 usr/bin/ls link to usr/bin/dir");
	/* usr/lib was not shipped as such ("./lib/" kept the symlink): an ancestor. */
	CHECK_HAS_LINE(ls, "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/lib/");
	CHECK_HAS_LINE(ls, "drwxr-xr-x 0/0 0 2024-06-01 00:00:00 usr/lib/x86_64-linux-gnu/");
	CHECK_HAS_LINE(ls, "lrwxrwxrwx 0/0 0 2024-06-01 00:00:00 usr/sbin/init -> ../lib/systemd/systemd");

	dir = new_dir("merged");
	CHECK(l0 && tar_extract(dir, l0));
	CHECK(l1 && tar_extract(dir, l1));
	{
		_cleanup_free_ char *link = readlink_in(dir, "bin");
		_cleanup_free_ char *data = read_in(dir, "bin/ls");
		CHECK_STR(link, "usr/bin");
		CHECK_STR(data, "ls\n");
	}
	CHECK_MODE(dir, "usr/bin/ls", S_IFREG, 0755, 0, 0, CRAFT_MTIME);
	CHECK(lstat_in(dir, "usr/bin/ls", &st_ls) && lstat_in(dir, "usr/bin/dir", &st_dir) &&
	      st_ls.st_ino == st_dir.st_ino && st_ls.st_nlink == 2);
	kiln_dpkg_package_release(&pkg);
}

TEST(escape_attempts_stay_inside)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
	struct kiln_dpkg_package pkg;
	const struct kiln_layer_entry *e;
	_cleanup_free_ char *passwd = kiln_file_read("/etc/passwd", 1 << 20, NULL, NULL);
	_cleanup_free_ char *l0 = NULL, *l1 = NULL, *ls = NULL, *dir = NULL;

	CHECK(!craft_exists("/tmp/kiln-escape-test"));
	craft_tar_entry(&d, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&d, "./evil", '2', 0777, NULL, "/etc", 0);
	craft_tar_entry(&d, "./evil/passwd", '0', 0644, "pwned\n", NULL, 0);
	craft_tar_entry(&d, "./evil2", '2', 0777, NULL, "../../../../../../../tmp/kiln-escape-test", 0);
	craft_tar_entry(&d, "./evil2/pwned", '0', 0644, "pwned\n", NULL, 0);
	craft_tar_entry(&d, "./usr/share/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&d, "./usr/share/up", '2', 0777, NULL, "../../../../../../..", 0);
	craft_tar_entry(&d, "./usr/share/up/etc/shadow-kiln", '0', 0600, "pwned\n", NULL, 0);
	craft_tar_entry(&d, "./hl", '1', 0644, NULL, "evil/passwd", 0);
	CHECK_ADD(t, 1, CRAFT_CONTROL("evil", "1.0", "all"), &d, &pkg, "");

	e = kiln_layer_tree_get(t, "etc/passwd");
	CHECK(e && e->type == KILN_LAYER_FILE);
	e = kiln_layer_tree_get(t, "tmp/kiln-escape-test/pwned");
	CHECK(e && e->type == KILN_LAYER_FILE);
	CHECK(kiln_layer_tree_get(t, "etc/shadow-kiln") != NULL);
	e = kiln_layer_tree_get(t, "hl");
	CHECK(e && e->type == KILN_LAYER_HARDLINK && strcmp(e->link, "etc/passwd") == 0);
	CHECK(kiln_layer_tree_get(t, "evil/passwd") == NULL);
	list_has_path(pkg.list, "/evil/passwd", true);

	l0 = layer_file(t, 0, NULL, NULL);
	l1 = layer_file(t, 1, NULL, NULL);
	ls = l1 ? tar_list(l1, true) : NULL;
	CHECK(ls && !strstr(ls, " evil/") && !strstr(ls, " evil2/"));
	CHECK_HAS_LINE(ls, "lrwxrwxrwx 0/0 0 2024-06-01 00:00:00 evil -> /etc");
	CHECK_HAS_LINE(ls, "-rw-r--r-- 0/0 6 2024-06-01 00:00:00 etc/passwd");
	CHECK_HAS_LINE(ls, "hrw-r--r-- 0/0 0 2024-06-01 00:00:00 hl link to etc/passwd");
	dir = new_dir("escape");
	CHECK(l0 && tar_extract(dir, l0) && l1 && tar_extract(dir, l1));
	{
		_cleanup_free_ char *p = read_in(dir, "etc/passwd");
		_cleanup_free_ char *q = read_in(dir, "tmp/kiln-escape-test/pwned");
		_cleanup_free_ char *r = read_in(dir, "etc/shadow-kiln");
		CHECK_STR(p, "pwned\n");
		CHECK_STR(q, "pwned\n");
		CHECK_STR(r, "pwned\n");
	}
	/* Nothing outside the tree changed. */
	CHECK(!craft_exists("/tmp/kiln-escape-test"));
	CHECK(!craft_exists("/etc/shadow-kiln"));
	{
		_cleanup_free_ char *now = kiln_file_read("/etc/passwd", 1 << 20, NULL, NULL);
		CHECK(passwd && now && strcmp(passwd, now) == 0 && !strstr(now, "pwned"));
	}
	kiln_dpkg_package_release(&pkg);
}

static void chain_entries(struct kiln_buf *d, int links)
{
	craft_tar_entry(d, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./real/", '5', 0755, NULL, NULL, 0);
	for (int i = 0; i < links; i++) {
		char name[32], target[32];
		snprintf(name, sizeof(name), "./l%d", i);
		if (i == links - 1)
			snprintf(target, sizeof(target), "real");
		else
			snprintf(target, sizeof(target), i % 2 ? "/l%d" : "l%d", i + 1);
		craft_tar_entry(d, name, '2', 0777, NULL, target, 0);
	}
	craft_tar_entry(d, "./l0/f", '0', 0644, "end of the chain\n", NULL, 0);
}

TEST(symlink_loops)
{
	struct {
		const char *what;
		const char *entries[8][2]; /* name, symlink target */
		const char *write;
		const char *want;
	} cases[] = {
		{ "pair", { { "./a", "b" }, { "./b", "a" } }, "./a/x", "too many levels of symbolic links" },
		{ "self", { { "./s", "s" } }, "./s/x", "too many levels of symbolic links" },
		{ "absolute self", { { "./c", "/c" } }, "./c/x", "too many levels of symbolic links" },
		{ "through dotdot", { { "./d", "./d/../d" } }, "./d/x", "too many levels of symbolic links" },
	};

	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
		_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
		_cleanup_free_ char *m = NULL;

		craft_tar_entry(&d, "./", '5', 0755, NULL, NULL, 0);
		for (int k = 0; k < 8 && cases[i].entries[k][0]; k++)
			craft_tar_entry(&d, cases[i].entries[k][0], '2', 0777, NULL,
					cases[i].entries[k][1], 0);
		craft_tar_entry(&d, cases[i].write, '0', 0644, "x", NULL, 0);
		m = add_tar(t, 1, CRAFT_CONTROL("loop", "1.0", "all"), &d, NULL);
		printf("# %s: %s\n", cases[i].what, m);
		CHECK_CONTAINS(m, cases[i].want);
	}
	/* 40 hops are fine, 41 are not. */
	{
		_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
		_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
		chain_entries(&d, 40);
		CHECK_ADD(t, 1, CRAFT_CONTROL("chain", "1.0", "all"), &d, NULL, "");
		CHECK(kiln_layer_tree_get(t, "real/f") != NULL);
	}
	{
		_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
		_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
		chain_entries(&d, 41);
		CHECK_ADD(t, 1, CRAFT_CONTROL("chain", "1.0", "all"), &d, NULL,
			  "'l0/f': too many levels of symbolic links");
	}
}

TEST(bad_links_and_types)
{
	struct {
		const char *what;
		const char *e[4][4]; /* name, type, data, link */
		const char *want;
	} cases[] = {
		{ "hard link to missing", { { "./h", "1", NULL, "./missing" } },
		  "hard link 'h' to 'missing': no such file in the tree" },
		{ "hard link to directory", { { "./d/", "5", NULL, NULL }, { "./h", "1", NULL, "./d" } },
		  "hard link 'h' to 'd': not a regular file" },
		{ "hard link to symlink", { { "./f", "0", "x", NULL }, { "./s", "2", NULL, "f" }, { "./h", "1", NULL, "./s" } },
		  "hard link 'h' to 's': not a regular file" },
		{ "hard link out through symlink", { { "./up", "2", NULL, "../../.." }, { "./h", "1", NULL, "./up/etc/shadow" } },
		  "hard link 'h' to 'up/etc/shadow': no such file in the tree" },
		{ "file as directory", { { "./f", "0", "x", NULL }, { "./f/x", "0", "y", NULL } },
		  "'f/x': 'f' is not a directory" },
		{ "file over directory", { { "./d/", "5", NULL, NULL }, { "./d", "0", "x", NULL } },
		  "cannot replace directory 'd' with a file" },
		{ "symlink over directory", { { "./d/", "5", NULL, NULL }, { "./d", "2", NULL, "x" } },
		  "cannot replace directory 'd' with a symlink" },
		{ "directory over symlink to file", { { "./f", "0", "x", NULL }, { "./s", "2", NULL, "f" }, { "./s/", "5", NULL, NULL } },
		  "'s' is a symlink, and not to a directory" },
		{ "usr/bin over the skeleton", { { "./usr/bin", "0", "x", NULL } },
		  "cannot replace directory 'usr/bin' with a file" },
	};

	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
		_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
		_cleanup_free_ char *m = NULL;

		craft_tar_entry(&d, "./", '5', 0755, NULL, NULL, 0);
		for (int k = 0; k < 4 && cases[i].e[k][0]; k++)
			craft_tar_entry(&d, cases[i].e[k][0], cases[i].e[k][1][0], 0644,
					cases[i].e[k][2], cases[i].e[k][3], 0);
		m = add_tar(t, 1, CRAFT_CONTROL("bad", "1.0", "all"), &d, NULL);
		printf("# %s: %s\n", cases[i].what, m);
		CHECK_CONTAINS(m, cases[i].want);
		CHECK_CONTAINS(m, "crafted.deb");
	}
	CHECK(!craft_exists("/tmp/kiln-escape-test"));
}

TEST(shared_paths_between_packages)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_buf_ struct kiln_buf a = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf b = KILN_BUF_INIT;
	struct kiln_dpkg_package pa, pb;
	const struct kiln_layer_entry *e;
	uint64_t size;

	craft_mtime = 1000;
	craft_tar_entry(&a, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&a, "./usr/share/common/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&a, "./usr/share/common/f", '0', 0644, "from a\n", NULL, 0);
	craft_mtime = 2000;
	craft_tar_entry(&b, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&b, "./usr/share/common/", '5', 0700, NULL, NULL, 0);
	craft_tar_entry(&b, "./usr/share/common/f", '0', 0600, "from b\n", NULL, 0);
	craft_mtime = CRAFT_MTIME;
	CHECK_ADD(t, 1, CRAFT_CONTROL("pkg-a", "1.0", "all"), &a, &pa, "");
	CHECK_ADD(t, 1, CRAFT_CONTROL("pkg-b", "1.0", "all"), &b, &pb, "");
	/* The later file wins; the directory keeps its first writer's mode,
	 * and the later mtime. */
	e = kiln_layer_tree_get(t, "usr/share/common/f");
	CHECK(e && strcmp(e->package, "pkg-b") == 0 && e->mode == 0600);
	CHECK(e && memcmp(kiln_layer_entry_data(e, &size), "from b\n", 7) == 0 && size == 7);
	e = kiln_layer_tree_get(t, "usr/share/common");
	CHECK(e && e->mode == 0755 && e->mtime == 2000 && strcmp(e->package, "pkg-a") == 0);
	list_has_path(pa.list, "/usr/share/common/f", true);
	list_has_path(pb.list, "/usr/share/common/f", true);
	kiln_dpkg_package_release(&pa);
	kiln_dpkg_package_release(&pb);

	/* In two layers each layer keeps its own version; the tree shows the
	 * upper one, as the stacked layers do. */
	{
		_cleanup_tree_ struct kiln_layer_tree *t2 = kiln_layer_tree_new_root();
		_cleanup_free_ char *f1 = NULL, *f2 = NULL, *dir = NULL;
		CHECK_ADD(t2, 1, CRAFT_CONTROL("pkg-a", "1.0", "all"), &a, NULL, "");
		CHECK_ADD(t2, 2, CRAFT_CONTROL("pkg-b", "1.0", "all"), &b, NULL, "");
		e = kiln_layer_tree_get(t2, "usr/share/common/f");
		CHECK(e && e->layer == 2 && e->below && e->below->layer == 1);
		f1 = layer_file(t2, 1, NULL, NULL);
		f2 = layer_file(t2, 2, NULL, NULL);
		dir = new_dir("shared");
		CHECK(f1 && tar_extract(dir, f1));
		{
			_cleanup_free_ char *s = read_in(dir, "usr/share/common/f");
			CHECK_STR(s, "from a\n");
		}
		CHECK(f2 && tar_extract(dir, f2));
		{
			_cleanup_free_ char *s = read_in(dir, "usr/share/common/f");
			CHECK_STR(s, "from b\n");
		}
		CHECK_MODE(dir, "usr/share/common", S_IFDIR, 0700, 0, 0, 2000);
	}
}

TEST(layers_are_filled_in_order)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
	struct kiln_error err = { 0 };

	craft_tar_entry(&d, "./", '5', 0755, NULL, NULL, 0);
	CHECK_ADD(t, 2, CRAFT_CONTROL("late", "1.0", "all"), &d, NULL, "");
	CHECK_ADD(t, 1, CRAFT_CONTROL("early", "1.0", "all"), &d, NULL,
		  "layer 1: layer 2 was already added to, and layers are filled in increasing order");
	CHECK(kiln_layer_tree_put_file(t, "x", 0644, 0, 0, 0, "x", 1, 1, &err) == -1);
	CHECK(kiln_layer_tree_put_file(t, "x", 0644, 0, 0, 0, "x", 1, -1, &err) == -1);
	CHECK(kiln_layer_tree_put_file(t, "x", 0644, 0, 0, 0, "x", 1, 2, &err) == 0);
}

/* ---- writing layers -------------------------------------------------------- */

static char *name_of(char c, int n)
{
	char *s = kiln_xmalloc((size_t)n + 1);
	memset(s, c, (size_t)n);
	s[n] = '\0';
	return s;
}

/* A package with every kind of entry and mode; owners too. */
static void full_entries(struct kiln_buf *d)
{
	_cleanup_free_ char *d60 = name_of('d', 60), *f80 = name_of('f', 80), *g200 = name_of('g', 200);
	_cleanup_free_ char *longdir = kiln_xasprintf("./usr/share/full/%s/", d60);
	_cleanup_free_ char *longfile = kiln_xasprintf("./usr/share/full/%s/%s.txt", d60, f80);
	_cleanup_free_ char *longer = kiln_xasprintf("./usr/share/full/%s/%s/%s", d60, g200, f80);
	_cleanup_free_ char *longerdir = kiln_xasprintf("./usr/share/full/%s/%s/", d60, g200);
	_cleanup_free_ char *longtarget = kiln_xasprintf("../full/%s/%s.txt", d60, f80);

	craft_tar_entry(d, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./etc/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./etc/full.conf", '0', 0644, "conf = 1\n", NULL, 0);
	craft_tar_entry(d, "./usr/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/bin/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/bin/suid", '0', 04755, "suid\n", NULL, 0);
	craft_tar_entry(d, "./usr/bin/sgid", '0', 02755, "sgid\n", NULL, 0);
	craft_tar_entry(d, "./usr/share/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/share/full/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/share/full/private/", '5', 0700, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/share/full/private/secret", '0', 0600, "secret\n", NULL, 0);
	craft_tar_entry(d, "./usr/share/full/sticky/", '5', 01777, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/share/full/empty/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, "./usr/share/full/with space.txt", '0', 0644, "space\n", NULL, 0);
	craft_tar_entry(d, "./usr/share/full/\xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9.txt", '0',
			0644, "utf8\n", NULL, 0);
	craft_tar_entry(d, "./usr/share/full/z-target", '0', 0644, "linked\n", NULL, 0);
	craft_tar_entry(d, "./usr/share/full/a-link", '1', 0644, NULL, "./usr/share/full/z-target", 0);
	craft_tar_entry(d, "./usr/share/full/abs", '2', 0777, NULL, "/etc/full.conf", 0);
	craft_tar_entry(d, longdir, '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, longfile, '0', 0644, "long\n", NULL, 0);
	craft_tar_entry(d, longerdir, '5', 0755, NULL, NULL, 0);
	craft_tar_entry(d, longer, '0', 0644, "longer\n", NULL, 0);
	craft_tar_entry(d, "./usr/share/full/long-link", '2', 0777, NULL, longtarget, 0);
	craft_uid = 1000;
	craft_gid = 50;
	craft_tar_entry(d, "./usr/share/full/owned", '0', 0640, "owned\n", NULL, 0);
	craft_uid = craft_gid = 0;
}

TEST(layer_tar_through_gnu_tar)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	struct kiln_layer_result res;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *l0 = NULL, *l1 = NULL, *ls = NULL, *named = NULL, *dir = NULL;
	_cleanup_free_ char *d60 = name_of('d', 60), *f80 = name_of('f', 80), *g200 = name_of('g', 200);
	char hex[KILN_SHA256_HEX_LEN + 1];
	struct stat a, z;

	full_entries(&d);
	CHECK_ADD(t, 1, CRAFT_CONTROL("full", "1.0", "all"), &d, NULL, "");
	CHECK(kiln_layer_tree_put_file(t, "/srv/www/index.html", 0644, 33, 33, 1234567, "<h1>hi</h1>\n",
				 12, 1, &err) == 0);
	/* An owner beyond ustar's 7 octal digits needs a pax uid record. */
	CHECK(kiln_layer_tree_put_file(t, "usr/share/full/big-uid", 0644, 3000000, 0, CRAFT_MTIME, "big\n",
				 4, 1, &err) == 0);
	l0 = layer_file(t, 0, NULL, NULL);
	l1 = layer_file(t, 1, &(struct kiln_layer_options){ .epoch = 7, .clamp = -1 }, &res);
	CHECK(l1 != NULL);
	if (!l1)
		return;
	{
		/* diff_id is the sha256 of exactly these bytes. */
		struct kiln_layer_result r2;
		CHECK(kiln_layer_write(t, 1, &(struct kiln_layer_options){ .epoch = 7, .clamp = -1 },
					    &tar, &r2, &err) == 0);
		kiln_sha256_hex(tar.data, tar.len, hex);
		CHECK(strncmp(r2.diff_id, "sha256:", 7) == 0 && strcmp(r2.diff_id + 7, hex) == 0);
		CHECK(r2.size == tar.len && tar.len % 512 == 0);
		CHECK_STR(r2.diff_id, res.diff_id);
		/* No times beyond mtime, no names, no host data in pax records. */
		CHECK(!memmem(tar.data, tar.len, "atime=", 6) && !memmem(tar.data, tar.len, "ctime=", 6) &&
		      !memmem(tar.data, tar.len, "mtime=", 6) && !memmem(tar.data, tar.len, "uname", 5) &&
		      !memmem(tar.data, tar.len, "root", 4));
		{
			char host[256] = "";
			gethostname(host, sizeof(host));
			CHECK(!host[0] || !memmem(tar.data, tar.len, host, strlen(host)));
		}
	}
	ls = tar_list(l1, true);
	printf("# entries %llu\n", (unsigned long long)res.entries);
	CHECK_HAS_LINE(ls, "drwxr-xr-x 0/0 0 2024-06-01 00:00:00 usr/");
	CHECK_HAS_LINE(ls, "-rwsr-xr-x 0/0 5 2024-06-01 00:00:00 usr/bin/suid");
	CHECK_HAS_LINE(ls, "-rwxr-sr-x 0/0 5 2024-06-01 00:00:00 usr/bin/sgid");
	CHECK_HAS_LINE(ls, "drwx------ 0/0 0 2024-06-01 00:00:00 usr/share/full/private/");
	CHECK_HAS_LINE(ls, "-rw------- 0/0 7 2024-06-01 00:00:00 usr/share/full/private/secret");
	CHECK_HAS_LINE(ls, "drwxrwxrwt 0/0 0 2024-06-01 00:00:00 usr/share/full/sticky/");
	CHECK_HAS_LINE(ls, "-rw-r----- 1000/50 6 2024-06-01 00:00:00 usr/share/full/owned");
	CHECK_HAS_LINE(ls, "-rw-r--r-- 3000000/0 4 2024-06-01 00:00:00 usr/share/full/big-uid");
	CHECK_HAS_LINE(ls, "-rw-r--r-- 0/0 7 2024-06-01 00:00:00 usr/share/full/a-link");
	CHECK_HAS_LINE(ls, "hrw-r--r-- 0/0 0 2024-06-01 00:00:00 usr/share/full/z-target link to usr/share/full/a-link");
	CHECK_HAS_LINE(ls, "lrwxrwxrwx 0/0 0 2024-06-01 00:00:00 usr/share/full/abs -> /etc/full.conf");
	CHECK_HAS_LINE(ls, "drwxr-xr-x 0/0 0 1970-01-01 00:00:07 srv/");
	CHECK_HAS_LINE(ls, "drwxr-xr-x 0/0 0 1970-01-01 00:00:07 srv/www/");
	CHECK_HAS_LINE(ls, "-rw-r--r-- 33/33 12 1970-01-15 06:56:07 srv/www/index.html");
	/* usr/bin is the skeleton's (layer 0) but shipped again here. */
	CHECK_HAS_LINE(ls, "drwxr-xr-x 0/0 0 2024-06-01 00:00:00 usr/bin/");
	CHECK(!strstr(ls, "PaxHeader"));
	/* Without --numeric-owner tar has no names to show either. */
	named = tar_list(l1, false);
	CHECK(named && !strstr(named, "root"));
	CHECK_HAS_LINE(named, "-rw-r----- 1000/50 6 2024-06-01 00:00:00 usr/share/full/owned");

	/* Sorted by path bytes, parents first. */
	{
		_cleanup_free_ char *prev = kiln_xstrdup("");
		bool sorted = true;
		for (const char *l = ls; l && *l;) {
			const char *nl = strchr(l, '\n');
			const char *p = l;
			char *path;
			for (int f = 0; f < 5; f++)
				p = strchr(p, ' ') + 1;
			path = kiln_xstrndup(p, (size_t)(nl - p));
			if (strstr(path, " -> "))
				*strstr(path, " -> ") = '\0';
			if (strstr(path, " link to "))
				*strstr(path, " link to ") = '\0';
			if (kiln_str_has_suffix(path, "/"))
				path[strlen(path) - 1] = '\0';
			/* tar shows non-ASCII bytes as octal escapes: not comparable. */
			if (!strchr(path, '\\') && strcmp(prev, path) >= 0) {
				printf("# order: '%s' before '%s'\n", prev, path);
				sorted = false;
			}
			free(prev);
			prev = path;
			l = nl + 1;
		}
		CHECK(sorted);
	}

	/* A second reader: Python's tarfile, strict about pax records. */
	if (craft_have("python3")) {
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT, errs = KILN_BUF_INIT;
		_cleanup_free_ char *want_long = kiln_xasprintf(
			"0 0644 0 0 1717200000 usr/share/full/%s/%s/%s -\n", d60, g200, f80);
		int st = craft_run(&out, &errs, "python3", "-c",
				   "import sys, tarfile\n"
				   "with tarfile.open(sys.argv[1], errorlevel=2) as t:\n"
				   "    for m in t:\n"
				   "        print(m.type.decode(), '%04o' % m.mode, m.uid, m.gid, m.mtime,\n"
				   "              m.name, m.linkname or '-', m.uname or '', m.gname or '')\n",
				   l1, (char *)NULL);
		CHECK(st == 0 && errs.len == 0);
		CHECK_CONTAINS(out.data, "0 0644 3000000 0 1717200000 usr/share/full/big-uid -  \n");
		CHECK_CONTAINS(out.data, "1 0644 0 0 1717200000 usr/share/full/z-target usr/share/full/a-link  \n");
		CHECK_CONTAINS(out.data, "0 4755 0 0 1717200000 usr/bin/suid -  \n");
		want_long[strlen(want_long) - 1] = '\0';
		CHECK_CONTAINS(out.data, want_long);
		CHECK(!strstr(out.data ? out.data : "", "x "));
	}

	dir = new_dir("full");
	CHECK(l0 && tar_extract(dir, l0) && tar_extract(dir, l1));
	CHECK_MODE(dir, "usr/bin/suid", S_IFREG, 04755, 0, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/bin/sgid", S_IFREG, 02755, 0, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/share/full/private", S_IFDIR, 0700, 0, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/share/full/private/secret", S_IFREG, 0600, 0, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/share/full/sticky", S_IFDIR, 01777, 0, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/share/full/empty", S_IFDIR, 0755, 0, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/share/full/owned", S_IFREG, 0640, 1000, 50, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/share/full/big-uid", S_IFREG, 0644, 3000000, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/share/full/with space.txt", S_IFREG, 0644, 0, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "usr/share/full/\xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9.txt", S_IFREG, 0644,
		   0, 0, CRAFT_MTIME);
	CHECK_MODE(dir, "srv", S_IFDIR, 0755, 0, 0, 7);
	CHECK_MODE(dir, "srv/www/index.html", S_IFREG, 0644, 33, 33, 1234567);
	CHECK(lstat_in(dir, "usr/share/full/a-link", &a) && lstat_in(dir, "usr/share/full/z-target", &z) &&
	      a.st_ino == z.st_ino && a.st_nlink == 2);
	{
		_cleanup_free_ char *lf = kiln_xasprintf("usr/share/full/%s/%s.txt", d60, f80);
		_cleanup_free_ char *lg = kiln_xasprintf("usr/share/full/%s/%s/%s", d60, g200, f80);
		_cleanup_free_ char *target = kiln_xasprintf("../full/%s/%s.txt", d60, f80);
		_cleanup_free_ char *s1 = read_in(dir, lf);
		_cleanup_free_ char *s2 = read_in(dir, lg);
		_cleanup_free_ char *s3 = readlink_in(dir, "usr/share/full/long-link");
		_cleanup_free_ char *s4 = readlink_in(dir, "usr/share/full/abs");
		CHECK_STR(s1, "long\n");
		CHECK_STR(s2, "longer\n");
		CHECK_STR(s3, target);
		CHECK_STR(s4, "/etc/full.conf");
		CHECK(strlen(lg) > 255);
	}
}

TEST(clamp_and_epoch)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_buf_ struct kiln_buf d = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *f1 = NULL, *f2 = NULL, *ls1 = NULL, *ls2 = NULL;

	craft_tar_entry(&d, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&d, "./opt/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&d, "./opt/new", '0', 0644, "new\n", NULL, 0);
	craft_mtime = 100;
	craft_tar_entry(&d, "./opt/old", '0', 0644, "old\n", NULL, 0);
	craft_mtime = -5;
	craft_mtime = CRAFT_MTIME;
	CHECK_ADD(t, 1, CRAFT_CONTROL("times", "1.0", "all"), &d, NULL, "");
	CHECK(kiln_layer_tree_put_file(t, "opt/kiln", 0644, 0, 0, 1800000000, "k", 1, 1, &err) == 0);
	CHECK(kiln_layer_tree_put_file(t, "var/lib/x/y", 0644, 0, 0, 5, "k", 1, 1, &err) == 0);
	f1 = layer_file(t, 1, &(struct kiln_layer_options){ .epoch = 10, .clamp = 1000000000 }, NULL);
	f2 = layer_file(t, 1, &(struct kiln_layer_options){ .epoch = 0, .clamp = -1 }, NULL);
	ls1 = f1 ? tar_list(f1, true) : NULL;
	ls2 = f2 ? tar_list(f2, true) : NULL;
	CHECK_HAS_LINE(ls1, "-rw-r--r-- 0/0 4 2001-09-09 01:46:40 opt/new");
	CHECK_HAS_LINE(ls1, "-rw-r--r-- 0/0 4 1970-01-01 00:01:40 opt/old");
	CHECK_HAS_LINE(ls1, "drwxr-xr-x 0/0 0 2001-09-09 01:46:40 opt/");
	CHECK_HAS_LINE(ls1, "-rw-r--r-- 0/0 1 2027-01-15 08:00:00 opt/kiln");
	CHECK_HAS_LINE(ls1, "drwxr-xr-x 0/0 0 1970-01-01 00:00:10 var/lib/x/");
	CHECK_HAS_LINE(ls1, "-rw-r--r-- 0/0 1 1970-01-01 00:00:05 var/lib/x/y");
	CHECK_HAS_LINE(ls2, "-rw-r--r-- 0/0 4 2024-06-01 00:00:00 opt/new");
	CHECK_HAS_LINE(ls2, "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 var/");
	{
		_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
		struct kiln_layer_result r;
		CHECK(kiln_layer_write(t, 1, &(struct kiln_layer_options){ .epoch = -1, .clamp = -1 },
					    &tar, &r, &err) == -1);
	}
}

TEST(hard_links_across_layers)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_buf_ struct kiln_buf a = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf b = KILN_BUF_INIT;
	_cleanup_free_ char *f1 = NULL, *f2 = NULL, *ls1 = NULL, *ls2 = NULL, *dir = NULL;

	craft_tar_entry(&a, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&a, "./usr/share/a", '0', 0644, "shared bytes\n", NULL, 0);
	craft_tar_entry(&b, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&b, "./usr/share/b", '1', 0644, NULL, "./usr/share/a", 0);
	craft_tar_entry(&b, "./usr/share/c", '1', 0644, NULL, "./usr/share/a", 0);
	CHECK_ADD(t, 1, CRAFT_CONTROL("pkg-a", "1.0", "all"), &a, NULL, "");
	CHECK_ADD(t, 2, CRAFT_CONTROL("pkg-b", "1.0", "all"), &b, NULL, "");
	f1 = layer_file(t, 1, NULL, NULL);
	f2 = layer_file(t, 2, NULL, NULL);
	ls1 = f1 ? tar_list(f1, true) : NULL;
	ls2 = f2 ? tar_list(f2, true) : NULL;
	CHECK_HAS_LINE(ls1, "-rw-r--r-- 0/0 13 2024-06-01 00:00:00 usr/share/a");
	/* a is in layer 1: b is written as a copy, and c as a link to b. */
	CHECK_HAS_LINE(ls2, "-rw-r--r-- 0/0 13 2024-06-01 00:00:00 usr/share/b");
	CHECK_HAS_LINE(ls2, "hrw-r--r-- 0/0 0 2024-06-01 00:00:00 usr/share/c link to usr/share/b");
	CHECK(ls2 && !strstr(ls2, "usr/share/a"));
	dir = new_dir("xlayer");
	CHECK(f2 && tar_extract(dir, f2));
	{
		_cleanup_free_ char *s = read_in(dir, "usr/share/b");
		CHECK_STR(s, "shared bytes\n");
	}
}

/* Two packages with disjoint files and shared directories (different
 * directory mtimes), added to one layer in the given order. */
static void build_pair(struct kiln_layer_tree *t, bool reverse)
{
	_cleanup_buf_ struct kiln_buf p = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf q = KILN_BUF_INIT;

	craft_mtime = 1600000000;
	craft_tar_entry(&p, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&p, "./usr/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&p, "./usr/share/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&p, "./usr/share/doc/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&p, "./usr/share/doc/p/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&p, "./usr/share/doc/p/README", '0', 0644, "p\n", NULL, 0);
	craft_tar_entry(&p, "./bin/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&p, "./bin/p", '0', 0755, "#!/bin/sh\n", NULL, 0);
	craft_mtime = 1700000000;
	craft_tar_entry(&q, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&q, "./usr/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&q, "./usr/share/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&q, "./usr/share/doc/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&q, "./usr/share/doc/q/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&q, "./usr/share/doc/q/README", '0', 0644, "q\n", NULL, 0);
	craft_tar_entry(&q, "./usr/lib/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&q, "./usr/lib/q.so", '0', 0644, "elf\n", NULL, 0);
	craft_tar_entry(&q, "./usr/lib/q.so.1", '2', 0777, NULL, "q.so", 0);
	craft_mtime = CRAFT_MTIME;
	if (!reverse) {
		CHECK_ADD(t, 1, CRAFT_CONTROL("pkg-p", "1.0", "all"), &p, NULL, "");
		CHECK_ADD(t, 1, CRAFT_CONTROL("pkg-q", "1.0", "all"), &q, NULL, "");
	} else {
		CHECK_ADD(t, 1, CRAFT_CONTROL("pkg-q", "1.0", "all"), &q, NULL, "");
		CHECK_ADD(t, 1, CRAFT_CONTROL("pkg-p", "1.0", "all"), &p, NULL, "");
	}
}

static void pair_layer(bool reverse, struct kiln_buf *tar, struct kiln_layer_result *res)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	struct kiln_error err = { 0 };

	build_pair(t, reverse);
	CHECK(kiln_layer_write(t, 1, &(struct kiln_layer_options){ .epoch = 0, .clamp = 1650000000 },
				    tar, res, &err) == 0);
}

TEST(deterministic_bytes)
{
	_cleanup_buf_ struct kiln_buf t1 = KILN_BUF_INIT, t2 = KILN_BUF_INIT, t3 = KILN_BUF_INIT,
				      t4 = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf g1 = KILN_BUF_INIT, g2 = KILN_BUF_INIT;
	struct kiln_layer_result r1, r2, r3, r4;
	struct kiln_error err = { 0 };
	char *old_tz = getenv("TZ") ? kiln_xstrdup(getenv("TZ")) : NULL;
	char *old_lc = getenv("LC_ALL") ? kiln_xstrdup(getenv("LC_ALL")) : NULL;
	mode_t old_umask;

	pair_layer(false, &t1, &r1);
	pair_layer(false, &t2, &r2);
	CHECK(t1.len == t2.len && memcmp(t1.data, t2.data, t1.len) == 0);
	CHECK_STR(r1.diff_id, r2.diff_id);

	/* Another umask, time zone and locale: same bytes. */
	old_umask = umask(077);
	setenv("TZ", "America/New_York", 1);
	tzset();
	setenv("LC_ALL", "C.UTF-8", 1);
	setlocale(LC_ALL, "");
	pair_layer(false, &t3, &r3);
	umask(old_umask);
	if (old_tz)
		setenv("TZ", old_tz, 1);
	else
		unsetenv("TZ");
	tzset();
	if (old_lc)
		setenv("LC_ALL", old_lc, 1);
	else
		unsetenv("LC_ALL");
	setlocale(LC_ALL, "C");
	free(old_tz);
	free(old_lc);
	CHECK(t1.len == t3.len && memcmp(t1.data, t3.data, t1.len) == 0);

	/* Another order of adding the packages: same bytes. */
	pair_layer(true, &t4, &r4);
	CHECK(t1.len == t4.len && memcmp(t1.data, t4.data, t1.len) == 0);
	CHECK_STR(r1.diff_id, r4.diff_id);
	printf("# pair layer: %llu entries, %llu bytes, %s\n", (unsigned long long)r1.entries,
	       (unsigned long long)r1.size, r1.diff_id);

	/* And so is its compression. */
	CHECK(kiln_compress_gzip(t1.data, t1.len, 0, &g1, &err) == 0);
	CHECK(kiln_compress_gzip(t4.data, t4.len, 0, &g2, &err) == 0);
	CHECK(g1.len == g2.len && memcmp(g1.data, g2.data, g1.len) == 0);
}

/* ---- kiln's own content -------------------------------------------------- */

TEST(put_api)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	struct kiln_error err = { 0 };
	const struct kiln_layer_entry *e;
	uint64_t size;

	CHECK(kiln_layer_tree_put_dir(t, "/srv/www/", 0750, 0, 33, 5, 2, &err) == 0);
	e = kiln_layer_tree_get(t, "srv/www");
	CHECK(e && e->type == KILN_LAYER_DIR && e->mode == 0750 && e->gid == 33 && !e->implicit);
	e = kiln_layer_tree_get(t, "srv");
	CHECK(e && e->implicit && e->mode == 0755);
	/* put_dir again: kiln's word is final. */
	CHECK(kiln_layer_tree_put_dir(t, "srv/www", 0755, 0, 0, 6, 2, &err) == 0);
	e = kiln_layer_tree_get(t, "srv/www");
	CHECK(e && e->mode == 0755 && e->gid == 0 && e->mtime == 6);
	CHECK(kiln_layer_tree_put_symlink(t, "/sbin/nologin-link", "/usr/sbin/nologin", 0, 0, 5, 2, &err) == 0);
	e = kiln_layer_tree_get(t, "usr/sbin/nologin-link");
	CHECK(e && e->type == KILN_LAYER_SYMLINK && strcmp(e->link, "/usr/sbin/nologin") == 0);
	CHECK(kiln_layer_tree_put_file(t, "etc/passwd", 0644, 0, 0, 5, "root:x:0:0::/root:/bin/sh\n", 26, 2,
				 &err) == 0);
	CHECK(kiln_layer_tree_put_file(t, "etc/passwd", 0600, 0, 0, 5, "x", 1, 3, &err) == 0);
	e = kiln_layer_tree_get(t, "etc/passwd");
	CHECK(e && e->layer == 3 && e->mode == 0600 && e->below && e->below->layer == 2);
	CHECK(e && kiln_layer_entry_data(e, &size) && size == 1);
	/* Refused: "..", a file as a directory, a directory replaced. */
	CHECK(kiln_layer_tree_put_file(t, "../etc/x", 0644, 0, 0, 5, "x", 1, 3, &err) == -1);
	CHECK_CONTAINS(err.message, "'..' is not allowed");
	CHECK(kiln_layer_tree_put_file(t, "etc/passwd/x", 0644, 0, 0, 5, "x", 1, 3, &err) == -1);
	CHECK_CONTAINS(err.message, "put 'etc/passwd/x': 'etc/passwd/x': 'etc/passwd' is not a directory");
	CHECK(kiln_layer_tree_put_file(t, "srv", 0644, 0, 0, 5, "x", 1, 3, &err) == -1);
	CHECK_CONTAINS(err.message, "cannot replace directory 'srv' with a file");
	CHECK(kiln_layer_tree_put_symlink(t, "x", "", 0, 0, 5, 3, &err) == -1);
	/* The root is a directory and stays one. */
	CHECK(kiln_layer_tree_put_dir(t, "/", 0700, 0, 0, 5, 3, &err) == 0);
	CHECK(kiln_layer_tree_put_file(t, "/", 0644, 0, 0, 5, "x", 1, 3, &err) == -1);
}

/* put_hardlink: one inode, written once and then as a link to the first
 * name in path order; a link to nothing, to a directory or to another
 * layer's file is refused. */
TEST(put_hardlink)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new();
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	struct kiln_layer_options lo = { .epoch = 0, .clamp = -1 };
	struct kiln_layer_result res;
	struct kiln_error err = { 0 };
	const struct kiln_layer_entry *e;
	uint64_t size;

	CHECK(kiln_layer_tree_put_file(t, "lower", 0644, 0, 0, 5, "l", 1, 0, &err) == 0);
	CHECK(kiln_layer_tree_put_dir(t, "srv", 0755, 0, 0, 5, 1, &err) == 0);
	CHECK(kiln_layer_tree_put_file(t, "srv/one", 0600, 7, 8, 9, "one\n", 4, 1, &err) == 0);
	CHECK(kiln_layer_tree_put_hardlink(t, "srv/a-link", "/srv/one", 1, &err) == 0);
	e = kiln_layer_tree_get(t, "srv/a-link");
	CHECK(e && e->type == KILN_LAYER_HARDLINK && e->mode == 0600 && e->uid == 7 && e->gid == 8 && e->mtime == 9);
	CHECK(e && kiln_layer_entry_data(e, &size) && size == 4);
	CHECK(kiln_layer_tree_put_hardlink(t, "srv/x", "srv/none", 1, &err) == -1);
	CHECK_CONTAINS(err.message, "no such file in the tree");
	CHECK(kiln_layer_tree_put_hardlink(t, "srv/x", "srv", 1, &err) == -1);
	CHECK_CONTAINS(err.message, "not a regular file");
	CHECK(kiln_layer_tree_put_hardlink(t, "srv/x", "lower", 1, &err) == -1);
	CHECK_CONTAINS(err.message, "in another layer");
	CHECK(kiln_layer_write(t, 1, &lo, &tar, &res, &err) == 0);
	CHECK(res.entries == 3);
	{
		char path[] = "/tmp/kiln-test-layer-XXXXXX";
		int fd = mkstemp(path);
		_cleanup_free_ char *list = NULL;
		CHECK(fd >= 0 && kiln_write_all(fd, tar.data, tar.len) == 0);
		close(fd);
		list = tar_list(path, true);
		unlink(path);
		/* "srv/a-link" sorts first: it holds the bytes, "srv/one" links to it. */
		CHECK_CONTAINS(list, "-rw------- 7/8 4 1970-01-01 00:00:09 srv/a-link\n");
		CHECK_CONTAINS(list, "hrw------- 7/8 0 1970-01-01 00:00:09 srv/one link to srv/a-link\n");
	}
}

/* ---- the dpkg database ----------------------------------------------------- */

static const char *status_fields =
	"Package: kt-app\n"
	"Status: install ok installed\n"
	"Version: 1:2.0-1\n"
	"Architecture: amd64\n"
	"Multi-Arch: foreign\n"
	"Maintainer: kiln tests <t@kiln.invalid>\n"
	"Depends: kt-lib\n"
	"Conffiles:\n"
	" /etc/kt-app.conf 3bd267aa73ad63405dfb1652b6831884\n"
	"Description: app\n"
	" the app\n"
	"\n";

static bool dpkg_tools(void)
{
	return craft_have("dpkg") && craft_have("dpkg-query") && craft_have("tar");
}

TEST(dpkg_database)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	_cleanup_buf_ struct kiln_buf app = KILN_BUF_INIT, lib = KILN_BUF_INIT, mer = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf meta = KILN_BUF_INIT;
	struct kiln_dpkg_package pkgs[4];
	struct kiln_error err = { 0 };
	_cleanup_free_ char *status = NULL, *dir = NULL, *admin = NULL, *root = NULL;
	_cleanup_free_ char *conf_md5 = NULL;
	const struct kiln_layer_entry *e;
	uint64_t size;

	craft_tar_entry(&app, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&app, "./etc/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&app, "./etc/kt-app.conf", '0', 0644, "answer = 42\n", NULL, 0);
	craft_tar_entry(&app, "./usr/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&app, "./usr/bin/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&app, "./usr/bin/kt-app", '0', 0755, "#!/bin/sh\necho kt-app\n", NULL, 0);
	craft_tar_entry(&lib, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&lib, "./usr/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&lib, "./usr/lib/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&lib, "./usr/lib/x86_64-linux-gnu/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&lib, "./usr/lib/x86_64-linux-gnu/libkt.so.1", '0', 0644, "\177ELF\n", NULL, 0);
	craft_tar_entry(&mer, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&mer, "./bin/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&mer, "./bin/kt-merged", '0', 0755, "#!/bin/sh\n", NULL, 0);
	/* No regular file at all: its md5sums is empty, and still there. */
	craft_tar_entry(&meta, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&meta, "./usr/share/doc/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&meta, "./usr/share/doc/kt-meta", '2', 0777, NULL, "kt-app", 0);
	{
		_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;
		_cleanup_buf_ struct kiln_buf ctl = KILN_BUF_INIT;
		_cleanup_buf_ struct kiln_buf data = KILN_BUF_INIT;
		_cleanup_buf_ struct kiln_buf ended = KILN_BUF_INIT;
		struct kiln_deb *d;

		/* kt-app has conffiles and no md5sums: kiln computes them. */
		kiln_buf_add(&ended, app.data, app.len);
		craft_tar_end(&ended);
		craft_control_tar_gz(&ctl,
				     "Package: kt-app\nVersion: 1:2.0-1\nArchitecture: amd64\n"
				     "Multi-Arch: foreign\nMaintainer: kiln tests <t@kiln.invalid>\n"
				     "Depends: kt-lib\nDescription: app\n the app\n",
				     "/etc/kt-app.conf\n");
		kiln_compress_gzip(ended.data, ended.len, 6, &data, &err);
		kiln_buf_add(&deb, "!<arch>\n", 8);
		craft_ar_member(&deb, "debian-binary", "2.0\n", 4);
		craft_ar_member(&deb, "control.tar.gz", ctl.data, ctl.len);
		craft_ar_member(&deb, "data.tar.gz", data.data, data.len);
		d = kiln_deb_open_memory(deb.data, deb.len, "kt-app.deb", NULL, &err);
		CHECK(d && kiln_layer_tree_add_deb(t, d, 1, &pkgs[0], &err) == 0);
		kiln_deb_free(d);
	}
	CHECK_ADD(t, 1, "Package: kt-lib\nVersion: 0.9\nArchitecture: amd64\nMulti-Arch: same\n"
			"Maintainer: kiln tests <t@kiln.invalid>\nDescription: lib\n", &lib, &pkgs[1], "");
	CHECK_ADD(t, 2, "Package: kt-merged\nVersion: 3\nArchitecture: all\n"
			"Maintainer: kiln tests <t@kiln.invalid>\nDescription: merged\n", &mer, &pkgs[2], "");
	CHECK_ADD(t, 2, "Package: kt-meta\nVersion: 1\nArchitecture: all\n"
			"Maintainer: kiln tests <t@kiln.invalid>\nDescription: meta\n", &meta, &pkgs[3], "");
	CHECK_STR(pkgs[3].md5sums, "");
	CHECK_STR(pkgs[0].conffiles_status, " /etc/kt-app.conf 3bd267aa73ad63405dfb1652b6831884\n");
	CHECK_STR(pkgs[0].md5sums, "78baca476e1b60ff75df50dfbac1d3be  usr/bin/kt-app\n");
	{
		/* Checked against md5sum(1). */
		_cleanup_free_ char *f = kiln_xasprintf("%s/conf", tmp);
		struct kiln_buf out = KILN_BUF_INIT;
		kiln_file_write_atomic(f, "answer = 42\n", 12, 0644, &err);
		craft_run(&out, NULL, "md5sum", f, (char *)NULL);
		conf_md5 = out.data ? kiln_xstrndup(out.data, 32) : NULL;
		kiln_buf_release(&out);
		CHECK_STR(conf_md5, "3bd267aa73ad63405dfb1652b6831884");
	}

	status = kiln_dpkg_status_text(pkgs, 4, &err);
	CHECK(status && kiln_str_has_prefix(status, status_fields));
	CHECK_CONTAINS(status, "\nPackage: kt-lib\nStatus: install ok installed\nVersion: 0.9\n");
	CHECK(status && strstr(status, "kt-app") < strstr(status, "kt-lib") &&
	      strstr(status, "kt-lib") < strstr(status, "kt-merged"));
	CHECK(kiln_layer_tree_add_dpkg_status(t, pkgs, 4, 3, 0, &err) == 0);
	e = kiln_layer_tree_get(t, "var/lib/dpkg/info/kt-meta.md5sums");
	CHECK(e && kiln_layer_entry_data(e, &size) && size == 0);
	CHECK(kiln_layer_tree_get(t, "var/lib/dpkg/info/kt-meta.conffiles") == NULL);
	e = kiln_layer_tree_get(t, "var/lib/dpkg/info/kt-lib:amd64.list");
	CHECK(e && e->layer == 3);
	CHECK(kiln_layer_tree_get(t, "var/lib/dpkg/info/kt-app.list") != NULL);
	CHECK(kiln_layer_tree_get(t, "var/lib/dpkg/info/kt-app.conffiles") != NULL);
	CHECK(kiln_layer_tree_get(t, "var/lib/dpkg/info/kt-merged.md5sums") != NULL);
	e = kiln_layer_tree_get(t, "var/lib/dpkg/status");
	CHECK(e && kiln_layer_entry_data(e, &size) && size == strlen(status));
	{
		/* The same package twice is refused. */
		struct kiln_dpkg_package twice[2] = { pkgs[0], pkgs[0] };
		char *s = kiln_dpkg_status_text(twice, 2, &err);
		CHECK(s == NULL);
		CHECK_CONTAINS(err.message, "kt-app:amd64 twice");
	}

	if (!dpkg_tools()) {
		printf("# SKIP: no dpkg or tar\n");
		goto out;
	}
	dir = new_dir("dpkgroot");
	for (int layer = 0; layer <= 3; layer++) {
		_cleanup_free_ char *f = layer_file(t, layer, NULL, NULL);
		CHECK(f && tar_extract(dir, f));
	}
	admin = kiln_xasprintf("--admindir=%s/var/lib/dpkg", dir);
	root = kiln_xasprintf("--root=%s", dir);
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT, errs = KILN_BUF_INIT;
		int st = craft_run(&out, &errs, "dpkg", admin, "-l", (char *)NULL);
		CHECK(st == 0);
		printf("# dpkg -l: %s%s", out.data ? out.data : "", errs.data ? errs.data : "");
		CHECK_CONTAINS(out.data, "\nii  kt-app ");
		CHECK_CONTAINS(out.data, "\nii  kt-lib:amd64 ");
		CHECK_CONTAINS(out.data, "\nii  kt-merged ");
		CHECK(errs.len == 0);
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT, errs = KILN_BUF_INIT;
		CHECK(craft_run(&out, &errs, "dpkg", admin, "-S", "/usr/bin/kt-app", (char *)NULL) == 0);
		CHECK_STR(out.data, "kt-app: /usr/bin/kt-app\n");
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(craft_run(&out, NULL, "dpkg", admin, "-S", "/bin/kt-merged", (char *)NULL) == 0);
		CHECK_STR(out.data, "kt-merged: /bin/kt-merged\n");
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(craft_run(&out, NULL, "dpkg", admin, "-S", "libkt.so.1", (char *)NULL) == 0);
		CHECK_STR(out.data, "kt-lib:amd64: /usr/lib/x86_64-linux-gnu/libkt.so.1\n");
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(craft_run(&out, NULL, "dpkg", admin, "-L", "kt-lib", (char *)NULL) == 0);
		CHECK_STR(out.data, "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n"
				    "/usr/lib/x86_64-linux-gnu/libkt.so.1\n");
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(craft_run(&out, NULL, "dpkg-query", admin, "-W", "-f",
				"${Package} ${Version} ${db:Status-Abbrev}${Conffiles}\n",
				(char *)NULL) == 0);
		CHECK_STR(out.data, "kt-app 1:2.0-1 ii  /etc/kt-app.conf 3bd267aa73ad63405dfb1652b6831884\n"
				    "kt-lib 0.9 ii \nkt-merged 3 ii \nkt-meta 1 ii \n");
	}
	{
		/* dpkg checks every file against the md5sums and conffiles. */
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT, errs = KILN_BUF_INIT;
		int st = craft_run(&out, &errs, "dpkg", root, "--verify", (char *)NULL);
		if (st != 0 || out.len || errs.len)
			printf("# dpkg --verify: %d %s %s\n", st, out.data ? out.data : "",
			       errs.data ? errs.data : "");
		CHECK(st == 0 && out.len == 0 && errs.len == 0);
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT, errs = KILN_BUF_INIT;
		int st = craft_run(&out, &errs, "dpkg", admin, "--audit", (char *)NULL);
		CHECK(st == 0 && out.len == 0 && errs.len == 0);
	}
out:
	for (int i = 0; i < 4; i++)
		kiln_dpkg_package_release(&pkgs[i]);
}

/* ---- the fixture repository ---------------------------------------------- */

TEST(fixture_packages)
{
	const char *www = getenv("KILN_TEST_WWW");
	const char *files[] = {
		"pool/main/l/layout-edge/layout-edge_1.0_amd64.deb", /* xz, every edge */
		"pool/main/a/app/app_2.0_amd64.deb",                  /* xz */
		"pool/main/a/applib/applib_1.0_amd64.deb",            /* gzip, Multi-Arch: same */
		"pool/main/d/data-all/data-all_1.0_all.deb",          /* zstd */
		"pool/main/a/alt-a/alt-a_1.0_amd64.deb",              /* uncompressed */
	};
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new_root();
	struct kiln_dpkg_package pkgs[KILN_ARRAY_SIZE(files)];
	struct kiln_error err = { 0 };
	_cleanup_free_ char *dir = NULL, *admin = NULL, *root = NULL;
	const struct kiln_layer_entry *e;
	struct stat a, b;
	size_t n = 0;

	if (!www) {
		printf("# SKIP: KILN_TEST_WWW not set (run through tests/run)\n");
		return;
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = kiln_xasprintf("%s/good/%s", www, files[i]);
		if (add_deb_file(t, 1 + (int)i / 2, p, &pkgs[n]) == 0)
			n++;
	}
	CHECK(n == KILN_ARRAY_SIZE(files));
	CHECK(kiln_layer_tree_add_dpkg_status(t, pkgs, n, 4, 0, &err) == 0);

	e = kiln_layer_tree_get(t, "usr/bin/layout-edge");
	CHECK(e && e->type == KILN_LAYER_FILE && e->mode == 0755);
	CHECK(kiln_layer_tree_get(t, "usr/lib/layout-edge/plugin.txt") != NULL);
	CHECK(kiln_layer_tree_get(t, "var/lib/layout-edge-postinst-ran") == NULL);
	list_has_path(pkgs[0].list, "/bin/layout-edge", true);
	list_has_path(pkgs[0].list, "/usr/bin/layout-edge", false);
	list_has_path(pkgs[0].list, "/.", true);
	CHECK_CONTAINS(pkgs[0].conffiles_status, " /etc/layout-edge.conf ");

	dir = new_dir("fixture");
	for (int layer = 0; layer <= 4; layer++) {
		_cleanup_free_ char *f = layer_file(t, layer, &(struct kiln_layer_options){ 0, -1 }, NULL);
		CHECK(f && tar_extract(dir, f));
	}
	{
		_cleanup_free_ char *bin = readlink_in(dir, "bin");
		_cleanup_free_ char *le = readlink_in(dir, "usr/bin/le-link");
		_cleanup_free_ char *abs = readlink_in(dir, "usr/share/layout-edge/abs-link");
		_cleanup_free_ char *via = read_in(dir, "usr/bin/le-link");
		_cleanup_free_ char *plugin = read_in(dir, "lib/layout-edge/plugin.txt");
		_cleanup_free_ char *conf = read_in(dir, "etc/layout-edge.conf");
		CHECK_STR(bin, "usr/bin");
		CHECK_STR(le, "layout-edge");
		CHECK_STR(abs, "/etc/layout-edge.conf");
		CHECK_STR(via, "#!/bin/sh\necho layout-edge\n");
		CHECK_STR(plugin, "plugin data\n");
		CHECK_STR(conf, "setting = 1\n");
	}
	CHECK_MODE(dir, "usr/share/layout-edge/private", S_IFDIR, 0700, 0, 0, 1717200000);
	CHECK_MODE(dir, "usr/share/layout-edge/private/mode-0600", S_IFREG, 0600, 0, 0, 1717200000);
	CHECK_MODE(dir, "usr/bin/le-suid", S_IFREG, 04755, 0, 0, 1717200000);
	CHECK_MODE(dir, "usr/share/layout-edge/empty-dir", S_IFDIR, 0755, 0, 0, 1717200000);
	CHECK_MODE(dir, "usr/share/layout-edge/with space.txt", S_IFREG, 0644, 0, 0, 1717200000);
	CHECK_MODE(dir, "usr/share/layout-edge/\xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9.txt", S_IFREG,
		   0644, 0, 0, 1717200000);
	CHECK_MODE(dir, "usr/share/layout-edge/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff.txt",
		   S_IFREG, 0644, 0, 0, 1717200000);
	CHECK(lstat_in(dir, "usr/share/layout-edge/hard-a", &a) &&
	      lstat_in(dir, "usr/share/layout-edge/hard-b", &b) && a.st_ino == b.st_ino);
	CHECK(!lstat_in(dir, "var/lib/layout-edge-postinst-ran", &a));
	CHECK(!lstat_in(dir, "var/lib/dpkg/info/layout-edge.postinst", &a));
	/* bin stayed a symlink after every layer. */
	CHECK(lstat_in(dir, "bin", &a) && S_ISLNK(a.st_mode));

	if (!dpkg_tools()) {
		printf("# SKIP: no dpkg\n");
		goto out;
	}
	admin = kiln_xasprintf("--admindir=%s/var/lib/dpkg", dir);
	root = kiln_xasprintf("--root=%s", dir);
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(craft_run(&out, NULL, "dpkg-query", admin, "-W", "-f",
				"${binary:Package} ${Version} ${db:Status-Abbrev}\n", (char *)NULL) == 0);
		CHECK_STR(out.data, "alt-a 1.0 ii \napp 2.0 ii \napplib:amd64 1.0 ii \ndata-all 1.0 ii \n"
				    "layout-edge 1.0 ii \n");
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(craft_run(&out, NULL, "dpkg", admin, "-S", "/usr/bin/app", (char *)NULL) == 0);
		CHECK_STR(out.data, "app: /usr/bin/app\n");
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(craft_run(&out, NULL, "dpkg", admin, "-S", "/bin/layout-edge", (char *)NULL) == 0);
		CHECK_STR(out.data, "layout-edge: /bin/layout-edge\n");
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT, errs = KILN_BUF_INIT;
		int st = craft_run(&out, &errs, "dpkg", root, "--verify", (char *)NULL);
		if (st != 0 || out.len)
			printf("# dpkg --verify: %d %s %s\n", st, out.data ? out.data : "",
			       errs.data ? errs.data : "");
		CHECK(st == 0 && out.len == 0);
	}
out:
	for (size_t i = 0; i < n; i++)
		kiln_dpkg_package_release(&pkgs[i]);
}

/* ---- extended attributes ------------------------------------------------- */

/* cap_net_raw+ep as setcap writes it: vfs_cap_data revision 2 with the
 * effective flag, permitted bit 13, nothing inheritable. */
static const unsigned char cap_net_raw[20] = {
	0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* A layer with a file, a hard link to it and a plain file; the first two
 * carry the capability when `cap`. */
static void xattr_tree(bool cap, struct kiln_buf *tar)
{
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new();
	struct kiln_error err = { 0 };
	struct kiln_layer_result res;

	CHECK(kiln_layer_tree_put_file(t, "usr/bin/ping", 0755, 0, 0, 1000, "ping\n", 5, 0, &err) == 0);
	CHECK(kiln_layer_tree_put_hardlink(t, "usr/bin/ping4", "usr/bin/ping", 0, &err) == 0);
	CHECK(kiln_layer_tree_put_file(t, "usr/bin/plain", 0755, 0, 0, 1000, "plain\n", 6, 0, &err) == 0);
	if (cap)
		CHECK(kiln_layer_tree_set_xattr(t, "usr/bin/ping4", KILN_LAYER_XATTR_CAPABILITY, cap_net_raw,
						sizeof(cap_net_raw), &err) == 0);
	CHECK(kiln_layer_write(t, 0, &default_opts, tar, &res, &err) == 0);
}

TEST(xattr_capability)
{
	_cleanup_buf_ struct kiln_buf with = KILN_BUF_INIT, without = KILN_BUF_INIT, record = KILN_BUF_INIT;
	_cleanup_tree_ struct kiln_layer_tree *t = kiln_layer_tree_new();
	struct kiln_error err = { 0 };
	const char *found = NULL;
	char hex[KILN_SHA256_HEX_LEN + 1];
	struct archive *a;
	struct archive_entry *ae;
	int files = 0;

	xattr_tree(true, &with);
	xattr_tree(false, &without);
	/* Without an attribute, the bytes kiln wrote before attributes existed
	 * (the digest main's kiln, without attributes, wrote). */
	kiln_sha256_hex(without.data, without.len, hex);
	CHECK_STR(hex, "d7974515ef5078ba26ad70b45765776ed8943b6070e013346f4573c8ea5bfc3d");
	/* With one: exactly one pax header more (a block and a block of
	 * records), before the file's first name, holding one record with
	 * the raw 20 bytes; everything else the same. */
	CHECK(with.len == without.len + 1024);
	kiln_buf_adds(&record, "57 SCHILY.xattr.security.capability=");
	kiln_buf_add(&record, cap_net_raw, sizeof(cap_net_raw));
	kiln_buf_addch(&record, '\n');
	for (size_t off = 0; off + 1024 <= with.len; off += 512)
		if (with.data[off + 156] == 'x') {
			CHECK(found == NULL);
			found = with.data + off;
			CHECK(memcmp(with.data + off + 512, record.data, record.len) == 0);
			CHECK(memcmp(with.data, without.data, off) == 0);
			CHECK(memcmp(with.data + off + 1024, without.data + off, without.len - off) == 0);
			CHECK_STR(with.data + off + 1024, "usr/bin/ping");
		}
	CHECK(found != NULL);

	/* libarchive (what umoci's and podman's peers read with) sees it on
	 * the file, and the hard link and the plain file have none. */
	a = archive_read_new();
	archive_read_support_format_tar(a);
	CHECK(archive_read_open_memory(a, with.data, with.len) == ARCHIVE_OK);
	while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		const char *name, *path = archive_entry_pathname(ae);
		const void *value;
		size_t size;
		int n = archive_entry_xattr_reset(ae);

		if (archive_entry_filetype(ae) != AE_IFREG && !archive_entry_hardlink(ae))
			continue;
		files++;
		if (strcmp(path, "usr/bin/ping") == 0 && !archive_entry_hardlink(ae)) {
			CHECK(n == 1);
			CHECK(archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK);
			CHECK_STR(name, "security.capability");
			CHECK(size == sizeof(cap_net_raw) && memcmp(value, cap_net_raw, size) == 0);
		} else {
			CHECK(n == 0);
		}
	}
	archive_read_free(a);
	CHECK(files == 3);

	/* Only regular files of the top layer, bounded values. */
	CHECK(kiln_layer_tree_put_dir(t, "etc", 0755, 0, 0, 0, 0, &err) == 0);
	CHECK(kiln_layer_tree_put_file(t, "etc/f", 0644, 0, 0, 0, "", 0, 0, &err) == 0);
	CHECK(kiln_layer_tree_set_xattr(t, "etc", "security.capability", cap_net_raw, 20, &err) < 0);
	CHECK_CONTAINS(err.message, "not a regular file");
	CHECK(kiln_layer_tree_set_xattr(t, "etc/none", "security.capability", cap_net_raw, 20, &err) < 0);
	CHECK_CONTAINS(err.message, "no such file");
	CHECK(kiln_layer_tree_set_xattr(t, "etc/f", "security.capability", cap_net_raw, KILN_LAYER_MAX_XATTR + 1,
					&err) < 0);
	CHECK_CONTAINS(err.message, "too long");
	CHECK(kiln_layer_tree_put_file(t, "etc/g", 0644, 0, 0, 0, "", 0, 1, &err) == 0);
	CHECK(kiln_layer_tree_set_xattr(t, "etc/f", "security.capability", cap_net_raw, 20, &err) < 0);
	CHECK_CONTAINS(err.message, "lower layer");
}

int main(void)
{
	setlocale(LC_ALL, "C");
	tmp = craft_tmpdir("test-layer");
	RUN(root_skeleton);
	RUN(resolve_inside_root);
	RUN(merged_usr);
	RUN(escape_attempts_stay_inside);
	RUN(symlink_loops);
	RUN(bad_links_and_types);
	RUN(shared_paths_between_packages);
	RUN(layers_are_filled_in_order);
	RUN(layer_tar_through_gnu_tar);
	RUN(clamp_and_epoch);
	RUN(hard_links_across_layers);
	RUN(deterministic_bytes);
	RUN(put_api);
	RUN(put_hardlink);
	RUN(xattr_capability);
	RUN(dpkg_database);
	RUN(fixture_packages);
	craft_rm_rf(tmp);
	free(tmp);
	return tap_done();
}
