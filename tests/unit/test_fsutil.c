/* test_fsutil.c - opening beneath a verified directory: every component a
 * real directory, a symlink or a file in a directory's place refused (exit
 * 3, named), nothing created or removed through a link; atomic writes in a
 * directory descriptor that replace a symlink rather than follow it; the
 * temp sweep that unlinks links themselves and never a live writer's temp;
 * the store refusing a symlinked default snapshots/ but taking one the user
 * named; the tree copy a new volume starts from (modes, owners, times,
 * links as links, no setuid, FIFOs skipped, a depth bound). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "store.h"
#include "tap.h"
#include "util.h"

static char top[] = "/tmp/kiln-test-fsutil.XXXXXX";

static char *at(const char *rel)
{
	return kiln_path_join(top, rel);
}

static void put_file(const char *rel, const char *text)
{
	_cleanup_free_ char *p = at(rel);
	struct kiln_error err = { 0 };

	if (kiln_file_write_atomic(p, text, strlen(text), 0644, &err) < 0)
		printf("# put %s: %s\n", rel, err.message);
}

static bool exists(const char *rel)
{
	_cleanup_free_ char *p = at(rel);
	struct stat st;

	return lstat(p, &st) == 0;
}

static char *read_rel(const char *rel)
{
	_cleanup_free_ char *p = at(rel);
	return kiln_file_read(p, 1 << 20, NULL, NULL);
}

/* victim/ is outside the trees the tests open; links lead into it. */
static void setup(void)
{
	_cleanup_free_ char *v = at("victim"), *w = at("work");
	_cleanup_free_ char *link = at("work/link");

	CHECK(mkdir(v, 0755) == 0 && mkdir(w, 0755) == 0);
	put_file("victim/keep", "keep\n");
	put_file("victim/x.tmp.123456", "bait\n");
	CHECK(symlink(v, link) == 0);
	put_file("work/file", "a file\n");
}

TEST(open_beneath_creates_real_directories)
{
	_cleanup_free_ char *w = at("work");
	_cleanup_close_ int base = open(w, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct kiln_error err = { 0 };
	int fd = kiln_dir_open_beneath(base, w, "a/b/c", true, 0755, &err);
	struct stat st;

	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(exists("work/a/b/c"));
	fd = kiln_dir_open_beneath(base, w, "a/b", false, 0, &err);
	CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
	if (fd >= 0)
		close(fd);
	/* Missing, without create: ENOENT, which callers read as "none". */
	fd = kiln_dir_open_beneath(base, w, "a/nope", false, 0, &err);
	CHECK(fd < 0 && errno == ENOENT);
}

TEST(open_beneath_refuses_symlinks_anywhere)
{
	_cleanup_free_ char *w = at("work");
	_cleanup_close_ int base = open(w, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *paths[] = { "link", "link/sub", "link/x/y" };

	for (size_t i = 0; i < KILN_ARRAY_SIZE(paths); i++) {
		struct kiln_error err = { 0 };
		int fd = kiln_dir_open_beneath(base, w, paths[i], true, 0755, &err);
		CHECK(fd < 0 && errno == ELOOP);
		CHECK(err.code == KILN_EXIT_VERIFY);
		CHECK_CONTAINS(err.message, "/work/link' is a symbolic link (to '");
		CHECK_CONTAINS(err.message, "victim");
		if (fd >= 0)
			close(fd);
	}
	/* Nothing was made through the link. */
	CHECK(!exists("victim/sub") && !exists("victim/x"));
}

TEST(open_beneath_refuses_files_and_dotdot)
{
	_cleanup_free_ char *w = at("work");
	_cleanup_close_ int base = open(w, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct kiln_error err = { 0 };
	int fd;

	fd = kiln_dir_open_beneath(base, w, "file/sub", true, 0755, &err);
	CHECK(fd < 0 && errno == ENOTDIR && err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "/work/file' is not a directory");
	kiln_error_clear(&err);
	fd = kiln_dir_open_beneath(base, w, "a/../../victim", false, 0, &err);
	CHECK(fd < 0 && errno == EINVAL);
	kiln_error_clear(&err);
	fd = kiln_dir_open_beneath(base, w, "/etc", false, 0, &err);
	CHECK(fd < 0 && errno == EINVAL);
}

TEST(file_open_at_refuses_links_and_fifos)
{
	_cleanup_free_ char *w = at("work"), *l = at("work/keep-link"), *f = at("work/fifo");
	_cleanup_free_ char *target = at("victim/keep");
	_cleanup_close_ int base = open(w, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct kiln_error err = { 0 };
	_cleanup_free_ char *text = NULL;

	CHECK(symlink(target, l) == 0 && mkfifo(f, 0644) == 0);
	CHECK(kiln_file_read_at(base, w, "keep-link", 1024, NULL, &err) == NULL);
	CHECK(errno == ELOOP && err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "keep-link' is a symbolic link");
	kiln_error_clear(&err);
	/* O_NONBLOCK: a FIFO fails at once instead of waiting for a writer. */
	CHECK(kiln_file_read_at(base, w, "fifo", 1024, NULL, &err) == NULL);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "not a regular file");
	kiln_error_clear(&err);
	CHECK(kiln_file_read_at(base, w, "nothing", 1024, NULL, &err) == NULL && errno == ENOENT);
	text = kiln_file_read_at(base, w, "file", 1024, NULL, &err);
	CHECK_STR(text, "a file\n");
}

TEST(write_atomic_at_replaces_a_link)
{
	_cleanup_free_ char *w = at("work"), *l = at("work/out"), *target = at("victim/keep");
	_cleanup_close_ int base = open(w, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct kiln_error err = { 0 };
	_cleanup_free_ char *mine = NULL, *theirs = NULL;
	struct stat st;

	CHECK(symlink(target, l) == 0);
	CHECK(kiln_file_write_atomic_at(base, w, "out", "new\n", 4, 0644, &err) == 0);
	CHECK(lstat(l, &st) == 0 && S_ISREG(st.st_mode));
	mine = read_rel("work/out");
	theirs = read_rel("victim/keep");
	CHECK_STR(mine, "new\n");
	CHECK_STR(theirs, "keep\n");
}

TEST(remove_matching_unlinks_links_not_targets)
{
	_cleanup_free_ char *d = at("sweep"), *l = at("sweep/l.tmp.abcdef"), *target = at("victim/keep");
	_cleanup_free_ char *sub = at("sweep/dir.tmp.x"), *dl = at("sweep/dirlink.tmp.y"), *v = at("victim");
	_cleanup_close_ int fd = -1;

	CHECK(mkdir(d, 0755) == 0 && mkdir(sub, 0755) == 0);
	put_file("sweep/a.tmp.123456", "x");
	put_file("sweep/.hidden.tmp.1", "x");
	put_file("sweep/keep.json", "x");
	CHECK(symlink(target, l) == 0 && symlink(v, dl) == 0);
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	kiln_dir_remove_matching(fd, ".tmp.");
	CHECK(!exists("sweep/a.tmp.123456") && !exists("sweep/l.tmp.abcdef") && !exists("sweep/dirlink.tmp.y"));
	CHECK(exists("sweep/.hidden.tmp.1") && exists("sweep/keep.json") && exists("sweep/dir.tmp.x"));
	CHECK(exists("victim/keep") && exists("victim/x.tmp.123456"));
	kiln_dir_remove_matching(fd, NULL);
	CHECK(!exists("sweep/keep.json") && exists("sweep/.hidden.tmp.1"));
}

TEST(write_atomic_sweeps_dead_temps_only)
{
	_cleanup_free_ char *live = at("lk/kiln.lock.tmp.Live02"), *l = at("lk/kiln.lock.tmp.Link03");
	_cleanup_free_ char *target = at("victim/x.tmp.123456"), *d = at("lk"), *path = at("lk/kiln.lock");
	_cleanup_close_ int held = -1;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *text = NULL;

	CHECK(mkdir(d, 0755) == 0);
	put_file("lk/kiln.lock.tmp.Dead01", "stale");
	put_file("lk/kiln.lock.tmp.Live02", "live");
	put_file("lk/kiln.lock.tmp.toolong1", "not mkostemp's");
	put_file("lk/other.tmp.Dead04", "another file's");
	CHECK(symlink(target, l) == 0);
	/* flock locks belong to an open file description: this one conflicts
	 * with the sweep's own open of the same file. */
	held = open(live, O_RDONLY | O_CLOEXEC);
	CHECK(held >= 0 && flock(held, LOCK_EX) == 0);
	CHECK(kiln_file_write_atomic(path, "lock\n", 5, 0644, &err) == 0);
	text = read_rel("lk/kiln.lock");
	CHECK_STR(text, "lock\n");
	CHECK(!exists("lk/kiln.lock.tmp.Dead01"));
	CHECK(exists("lk/kiln.lock.tmp.Live02"));
	CHECK(exists("lk/kiln.lock.tmp.toolong1") && exists("lk/other.tmp.Dead04"));
	CHECK(exists("lk/kiln.lock.tmp.Link03") && exists("victim/x.tmp.123456"));
}

TEST(store_default_refuses_a_symlinked_snapshots)
{
	_cleanup_free_ char *repo = at("repo"), *link = at("repo/snapshots"), *v = at("victim");
	struct kiln_error err = { 0 };
	struct kiln_store *s;

	CHECK(mkdir(repo, 0755) == 0 && symlink(v, link) == 0);
	unsetenv("KILN_STORE");
	s = kiln_store_open_default(NULL, repo, true, &err);
	CHECK(s == NULL && err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "/repo/snapshots' is a symbolic link");
	CHECK_CONTAINS(err.message, "--store");
	CHECK(!exists("victim/blobs") && !exists("victim/.lock") && exists("victim/x.tmp.123456"));
	kiln_store_free(s);
	/* Named by the user, the same link is the user's choice. */
	kiln_error_clear(&err);
	s = kiln_store_open_default(link, repo, true, &err);
	CHECK(s != NULL);
	kiln_store_free(s);
	CHECK(exists("victim/blobs/sha256") && exists("victim/index.json"));
	/* And that store's own temp sweep stays in it. */
	CHECK(!exists("victim/x.tmp.123456") && exists("victim/keep"));
}

#define CACHE_IS(want, a, b, c)                                   \
	do {                                                      \
		char *got_ = kiln_cache_dir(a, b, c);             \
		CHECK_STR(got_, want);                            \
		free(got_);                                       \
	} while (0)

TEST(cache_dir_order)
{
	CACHE_IS("/k", "/k", "/x", "/h");
	CACHE_IS("/x/kiln", "", "/x", "/h");
	CACHE_IS("/x/kiln", NULL, "/x", "/h");
	/* A relative XDG_CACHE_HOME is ignored, as the spec says. */
	CACHE_IS("/h/.cache/kiln", NULL, "rel", "/h");
	CACHE_IS("/h/.cache/kiln", NULL, "", "/h");
	CACHE_IS("/var/cache/kiln", NULL, NULL, NULL);
	CACHE_IS("/var/cache/kiln", "", "", "");
}

TEST(cache_dir_reads_no_environment)
{
	setenv("KILN_CACHE", "/from/env", 1);
	setenv("XDG_CACHE_HOME", "/xdg/env", 1);
	setenv("HOME", "/home/env", 1);
	CACHE_IS("/var/cache/kiln", NULL, NULL, NULL);
	CACHE_IS("/h/.cache/kiln", NULL, NULL, "/h");
	unsetenv("KILN_CACHE");
	unsetenv("XDG_CACHE_HOME");
}

static bool mkdir_rel(const char *rel)
{
	_cleanup_free_ char *p = at(rel);
	return mkdir(p, 0755) == 0;
}

/* mode and mtime of rel (lstat). */
static bool attrs_are(const char *rel, mode_t mode, time_t mtime)
{
	_cleanup_free_ char *p = at(rel);
	struct stat st;

	if (lstat(p, &st) < 0)
		return false;
	if ((st.st_mode & 07777) != mode || st.st_mtime != mtime)
		printf("# %s: mode %o mtime %lld\n", rel, st.st_mode & 07777, (long long)st.st_mtime);
	return (st.st_mode & 07777) == mode && st.st_mtime == mtime;
}

static void set_attrs(const char *rel, mode_t mode, time_t mtime)
{
	_cleanup_free_ char *p = at(rel);
	struct timespec t[2] = { { mtime, 0 }, { mtime, 0 } };

	/* As root, an owner that is not the caller's: it must be copied. */
	if (geteuid() == 0)
		CHECK(lchown(p, 10005, 10006) == 0);
	if (mode != (mode_t)-1)
		CHECK(chmod(p, mode) == 0);
	CHECK(utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW) == 0);
}

static bool owned_as_source(const char *rel)
{
	_cleanup_free_ char *p = at(rel);
	struct stat st;

	if (lstat(p, &st) < 0)
		return false;
	return geteuid() != 0 || (st.st_uid == 10005 && st.st_gid == 10006);
}

/* The copy of a tree (a new volume's start, docs/containers.md Volumes). */
TEST(copy_tree_keeps_what_a_volume_needs)
{
	_cleanup_free_ char *src = at("csrc"), *dst = at("cdst"), *fifo = at("csrc/fifo");
	_cleanup_free_ char *hard = at("csrc/hard"), *file = at("csrc/file"), *sym = at("csrc/link");
	_cleanup_free_ char *up = at("csrc/sub/up"), *copied_link = at("cdst/link"), *copied_up = at("cdst/sub/up");
	_cleanup_free_ char *copied_hard = at("cdst/hard");
	_cleanup_close_ int s = -1, d = -1;
	struct kiln_error err = { 0 };
	char target[64];
	ssize_t n;
	struct stat st;

	CHECK(mkdir(src, 0755) == 0 && mkdir(dst, 0700) == 0);
	CHECK(mkdir_rel("csrc/sub") && mkdir_rel("csrc/shared"));
	put_file("csrc/file", "bytes\n");
	put_file("csrc/sub/deep", "deep\n");
	put_file("csrc/suid", "s\n");
	CHECK(link(file, hard) == 0);
	CHECK(symlink("../victim", sym) == 0);
	CHECK(symlink("../../../../..", up) == 0);
	CHECK(mkfifo(fifo, 0644) == 0);
	set_attrs("csrc/file", 0640, 1000000000);
	set_attrs("csrc/sub/deep", 0600, 1100000000);
	set_attrs("csrc/suid", 06755, 1200000000);
	set_attrs("csrc/link", (mode_t)-1, 1300000000);
	set_attrs("csrc/shared", 03775, 1400000000);
	set_attrs("csrc/sub", 0711, 1500000000);
	set_attrs("csrc", 0750, 1600000000);
	s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(kiln_dir_copy_tree(s, d, "src", &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	_cleanup_free_ char *bytes = read_rel("cdst/file"), *deep = read_rel("cdst/sub/deep");
	CHECK_STR(bytes ? bytes : "", "bytes\n");
	CHECK_STR(deep ? deep : "", "deep\n");
	CHECK(attrs_are("cdst", 0750, 1600000000) && owned_as_source("cdst"));
	CHECK(attrs_are("cdst/file", 0640, 1000000000) && owned_as_source("cdst/file"));
	CHECK(attrs_are("cdst/sub", 0711, 1500000000) && owned_as_source("cdst/sub"));
	CHECK(attrs_are("cdst/sub/deep", 0600, 1100000000));
	/* setuid and setgid go from files; a directory keeps setgid, sticky. */
	CHECK(attrs_are("cdst/suid", 0755, 1200000000));
	CHECK(attrs_are("cdst/shared", 03775, 1400000000));
	/* Links are copied as links, their text as it was, never followed. */
	n = readlink(copied_link, target, sizeof(target) - 1);
	CHECK(n == 9 && memcmp(target, "../victim", 9) == 0);
	CHECK(lstat(copied_link, &st) == 0 && S_ISLNK(st.st_mode) && st.st_mtime == 1300000000);
	CHECK(owned_as_source("cdst/link"));
	n = readlink(copied_up, target, sizeof(target) - 1);
	CHECK(n == 14 && memcmp(target, "../../../../..", 14) == 0);
	CHECK(!exists("cdst/keep") && !exists("cdst/link/x.tmp.123456") && exists("victim/keep"));
	/* A hard link stays one: its bytes are copied once; a FIFO is left out. */
	{
		_cleanup_free_ char *copied_file = at("cdst/file");
		struct stat f;
		CHECK(stat(copied_hard, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 2);
		CHECK(stat(copied_file, &f) == 0 && f.st_ino == st.st_ino);
	}
	CHECK(!exists("cdst/fifo"));
}

TEST(copy_tree_refuses_absurd_depth)
{
	_cleanup_free_ char *src = at("dsrc"), *dst = at("ddst");
	_cleanup_close_ int s = -1, d = -1;
	struct kiln_error err = { 0 };
	struct kiln_buf rel = KILN_BUF_INIT;

	CHECK(mkdir(src, 0755) == 0 && mkdir(dst, 0700) == 0);
	s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < KILN_COPY_DEPTH_MAX + 4; i++)
		kiln_buf_adds(&rel, i ? "/d" : "d");
	int fd = kiln_dir_open_beneath(s, src, rel.data, true, 0755, &err);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	kiln_buf_release(&rel);
	CHECK(kiln_dir_copy_tree(s, d, "deep", &err) < 0);
	CHECK(strstr(err.message, "directories deep") != NULL);
}

int main(void)
{
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	setup();
	RUN(open_beneath_creates_real_directories);
	RUN(open_beneath_refuses_symlinks_anywhere);
	RUN(open_beneath_refuses_files_and_dotdot);
	RUN(file_open_at_refuses_links_and_fifos);
	RUN(write_atomic_at_replaces_a_link);
	RUN(remove_matching_unlinks_links_not_targets);
	RUN(write_atomic_sweeps_dead_temps_only);
	RUN(store_default_refuses_a_symlinked_snapshots);
	RUN(cache_dir_order);
	RUN(cache_dir_reads_no_environment);
	RUN(copy_tree_keeps_what_a_volume_needs);
	RUN(copy_tree_refuses_absurd_depth);
	{
		struct kiln_error err = { 0 };
		kiln_remove_tree(top, &err);
	}
	return tap_done();
}
