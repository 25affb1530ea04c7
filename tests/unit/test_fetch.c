/* test_fetch.c - the package cache: paths, re-hashing cached files, pool
 * path checks, and kiln_fetch_all against file:// mirrors in a temporary
 * directory (parallel batches, the cache, damaged cache files, wrong
 * digests, fallback URLs, resumed and contended .part files).  The HTTP
 * failure paths are in test_fetch_http.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "fsutil.h"
#include "hash.h"
#include "tap.h"
#include "util.h"

static char top[] = "/tmp/kiln-test-fetch.XXXXXX";

/* A mirror file: pool path, bytes, digest, and file:// base URLs. */
struct pkg {
	const char *filename;
	size_t size;
	unsigned seed;
	char *data;
	char sha256[KILN_SHA256_HEX_LEN + 1];
};

static struct pkg pkgs[] = {
	{ "pool/main/a/app/app_1.0+b1~rc1_amd64.deb", 1000, 1 },
	{ "pool/main/a/applib/applib_2.0_amd64.deb", 200000, 2 },
	{ "pool/main/libv/libv/libv_0.5_amd64.deb", 3 << 20, 3 },
	{ "pool/main/d/data-all/data-all_1.0_all.deb", 1, 4 },
	{ "pool/main/o/only-second/only-second_1.0_amd64.deb", 70000, 5 },
};
#define N_PKGS KILN_ARRAY_SIZE(pkgs)
/* The last package is only on the second mirror. */
#define ONLY_SECOND (N_PKGS - 1)

static char *mirror1, *mirror2, *url1, *url2, *missing_url;

static void write_file(const char *path, const void *data, size_t len)
{
	_cleanup_free_ char *dir = kiln_path_dirname(path);
	FILE *f;

	if (kiln_mkdir_p(dir, 0755, NULL) < 0 || !(f = fopen(path, "wb"))) {
		printf("# cannot write %s\n", path);
		return;
	}
	if (len && fwrite(data, 1, len, f) != len)
		printf("# short write %s\n", path);
	fclose(f);
}

static char *make_bytes(unsigned seed, size_t len)
{
	char *p = kiln_xmalloc(len ? len : 1);
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (char)(x >> 24);
	}
	return p;
}

static bool file_equals(const char *path, const void *data, size_t len)
{
	size_t got = 0;
	_cleanup_free_ char *text = kiln_file_read(path, len + 16, &got, NULL);

	return text && got == len && memcmp(text, data, len) == 0;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A cache directory of its own for each test. */
static char *new_cache(const char *name)
{
	return kiln_xasprintf("%s/cache-%s", top, name);
}

static char *part_path(const char *cache, const char *sha256)
{
	return kiln_xasprintf("%s/packages/tmp/%s.part", cache, sha256);
}

/* Entries in CACHE/packages/sha256 (0 when it does not exist). */
static int count_cached(const char *cache)
{
	_cleanup_free_ char *dir = kiln_xasprintf("%s/packages/sha256", cache);
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void fill_item(struct kiln_fetch_item *it, const struct pkg *p, char *const *urls, size_t n_urls)
{
	*it = (struct kiln_fetch_item){
		.filename = p->filename, .size = p->size, .sha256 = p->sha256,
		.base_urls = urls, .n_base_urls = n_urls,
	};
}

static void free_items(struct kiln_fetch_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].path);
		items[i].path = NULL;
	}
}

struct progress_log {
	unsigned calls;
	uint64_t last_done, last_total;
	bool went_past_total;
};

static void on_progress(void *ctx, const char *label, uint64_t done, uint64_t total)
{
	struct progress_log *p = ctx;

	p->calls++;
	if (done > total)
		p->went_past_total = true;
	p->last_done = done;
	p->last_total = total;
}

static void setup(void)
{
	if (!mkdtemp(top)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	mirror1 = kiln_xasprintf("%s/mirror1", top);
	mirror2 = kiln_xasprintf("%s/mirror2", top);
	url1 = kiln_xasprintf("file://%s", mirror1);
	url2 = kiln_xasprintf("file://%s", mirror2);
	missing_url = kiln_xasprintf("file://%s/nothing-here", top);
	for (size_t i = 0; i < N_PKGS; i++) {
		struct pkg *p = &pkgs[i];
		_cleanup_free_ char *p1 = kiln_path_join(mirror1, p->filename);
		_cleanup_free_ char *p2 = kiln_path_join(mirror2, p->filename);

		p->data = make_bytes(p->seed, p->size);
		kiln_sha256_hex(p->data, p->size, p->sha256);
		if (i != ONLY_SECOND)
			write_file(p1, p->data, p->size);
		write_file(p2, p->data, p->size);
	}
}

static void teardown(void)
{
	_cleanup_free_ char *cmd = kiln_xasprintf("rm -rf '%s'", top);

	if (system(cmd) != 0)
		printf("# cleanup of %s failed\n", top);
	for (size_t i = 0; i < N_PKGS; i++)
		free(pkgs[i].data);
	free(mirror1);
	free(mirror2);
	free(url1);
	free(url2);
	free(missing_url);
}

TEST(cache_path)
{
	char *p = kiln_fetch_cache_path("/var/cache/kiln",
					"0f2d6ec4ad2b3e8c1e4f1bd2c0e8f7a9b6d5c4e3f2a1b0c9d8e7f6a5b4c3d2e1");
	CHECK_STR(p, "/var/cache/kiln/packages/sha256/"
		     "0f2d6ec4ad2b3e8c1e4f1bd2c0e8f7a9b6d5c4e3f2a1b0c9d8e7f6a5b4c3d2e1");
	free(p);
}

TEST(filename_checks)
{
	CHECK(kiln_fetch_filename_valid("pool/main/b/busybox/busybox-static_1.35.0-4+b3_amd64.deb"));
	CHECK(kiln_fetch_filename_valid("pool/main/a/app/app_1.0~rc1_amd64.deb"));
	CHECK(kiln_fetch_filename_valid("x.deb"));
	CHECK(kiln_fetch_filename_valid("pool/main/l/libfoo/libfoo_1.0.2_amd64.deb"));
	CHECK(!kiln_fetch_filename_valid(NULL));
	CHECK(!kiln_fetch_filename_valid(""));
	CHECK(!kiln_fetch_filename_valid("/pool/main/a/app/app_1.0_amd64.deb"));
	CHECK(!kiln_fetch_filename_valid("pool/../../etc/passwd"));
	CHECK(!kiln_fetch_filename_valid(".."));
	CHECK(!kiln_fetch_filename_valid("pool/main/a/app/.."));
	CHECK(!kiln_fetch_filename_valid("pool/main/a/app_1..0.deb"));
	CHECK(!kiln_fetch_filename_valid("pool//main/a/app.deb"));
	CHECK(!kiln_fetch_filename_valid("pool/main/a/app.deb?x=1"));
	CHECK(!kiln_fetch_filename_valid("pool/main/a/app.deb#frag"));
	CHECK(!kiln_fetch_filename_valid("pool/main/a/app%2e%2e/x.deb"));
	CHECK(!kiln_fetch_filename_valid("pool/main/a/app x.deb"));
	CHECK(!kiln_fetch_filename_valid("pool/main/a/app\n.deb"));
	CHECK(!kiln_fetch_filename_valid("pool\\main\\app.deb"));
	CHECK(!kiln_fetch_filename_valid("pool/main/\xc3\xa9.deb"));
	CHECK(!kiln_fetch_filename_valid("pool/main/a/"));
	/* Huge: bounded. */
	char *huge = kiln_xmalloc(10000);
	memset(huge, 'a', 9999);
	huge[9999] = '\0';
	CHECK(!kiln_fetch_filename_valid(huge));
	free(huge);
}

TEST(verify_cached)
{
	const struct pkg *p = &pkgs[1];
	_cleanup_free_ char *path = kiln_xasprintf("%s/verify/file", top);
	struct kiln_error err = { 0 };
	char wrong[KILN_SHA256_HEX_LEN + 1];

	write_file(path, p->data, p->size);
	CHECK(kiln_fetch_verify_cached(path, p->size, p->sha256, &err) == 0);

	/* Wrong size: found without hashing; a verification failure. */
	kiln_error_clear(&err);
	CHECK(kiln_fetch_verify_cached(path, p->size + 1, p->sha256, &err) == -1);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "size mismatch");

	/* Same size, other bytes. */
	memset(wrong, 'a', KILN_SHA256_HEX_LEN);
	wrong[KILN_SHA256_HEX_LEN] = '\0';
	kiln_error_clear(&err);
	CHECK(kiln_fetch_verify_cached(path, p->size, wrong, &err) == -1);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "sha256 mismatch (want aaaa");
	CHECK_CONTAINS(err.message, p->sha256);

	/* One flipped byte. */
	{
		char *copy = kiln_xmalloc(p->size);
		memcpy(copy, p->data, p->size);
		copy[p->size / 2] ^= 1;
		write_file(path, copy, p->size);
		free(copy);
	}
	kiln_error_clear(&err);
	CHECK(kiln_fetch_verify_cached(path, p->size, p->sha256, &err) == -1);
	CHECK(err.code == KILN_EXIT_VERIFY);

	/* Missing: an ordinary error, not a verification failure. */
	unlink(path);
	kiln_error_clear(&err);
	CHECK(kiln_fetch_verify_cached(path, p->size, p->sha256, &err) == -1);
	CHECK(err.code != KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "No such file");

	/* A directory is not a cached file. */
	kiln_error_clear(&err);
	CHECK(kiln_fetch_verify_cached(top, 0, p->sha256, &err) == -1);
}

/* The batch used by the next tests: every package, mirror1 first, then
 * mirror2 (which alone has the last one). */
static char *const *both_urls(void)
{
	static char *urls[2];
	urls[0] = url1;
	urls[1] = url2;
	return urls;
}

static int fetch_batch(const char *cache, struct kiln_fetch_item *items, unsigned parallel,
		       struct kiln_fetch_stats *stats, struct progress_log *prog, struct kiln_error *err)
{
	struct kiln_fetch_options opt = {
		.cache_dir = cache, .parallel = parallel,
		.progress = prog ? on_progress : NULL, .progress_ctx = prog,
	};
	for (size_t i = 0; i < N_PKGS; i++)
		fill_item(&items[i], &pkgs[i], both_urls(), 2);
	return kiln_fetch_all(&opt, items, N_PKGS, stats, err);
}

TEST(parallel_batch_then_cached)
{
	_cleanup_free_ char *cache = new_cache("batch");
	struct kiln_fetch_item items[N_PKGS];
	struct kiln_fetch_stats st;
	struct kiln_error err = { 0 };
	struct progress_log prog = { 0 };
	uint64_t total = 0;

	for (size_t i = 0; i < N_PKGS; i++)
		total += pkgs[i].size;
	CHECK(fetch_batch(cache, items, 3, &st, &prog, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	for (size_t i = 0; i < N_PKGS; i++) {
		_cleanup_free_ char *want = kiln_fetch_cache_path(cache, pkgs[i].sha256);
		CHECK_STR(items[i].path, want);
		CHECK(items[i].downloaded);
		CHECK(items[i].path && file_equals(items[i].path, pkgs[i].data, pkgs[i].size));
	}
	CHECK(st.downloaded == N_PKGS);
	CHECK(st.cached == 0);
	CHECK(st.bytes_downloaded == total);
	CHECK(st.seconds >= 0);
	CHECK(count_cached(cache) == (int)N_PKGS);
	/* One batch progress: it ends at done == total, never past it. */
	CHECK(prog.calls >= 2);
	CHECK(prog.last_total == total);
	CHECK(prog.last_done == total);
	CHECK(!prog.went_past_total);
	/* No .part left behind. */
	for (size_t i = 0; i < N_PKGS; i++) {
		_cleanup_free_ char *part = part_path(cache, pkgs[i].sha256);
		CHECK(!exists(part));
	}
	free_items(items, N_PKGS);

	/* Second run: all from the cache, nothing downloaded. */
	memset(&prog, 0, sizeof(prog));
	CHECK(fetch_batch(cache, items, 3, &st, &prog, &err) == 0);
	for (size_t i = 0; i < N_PKGS; i++) {
		CHECK(!items[i].downloaded);
		CHECK(items[i].path && file_equals(items[i].path, pkgs[i].data, pkgs[i].size));
	}
	CHECK(st.downloaded == 0);
	CHECK(st.cached == N_PKGS);
	CHECK(st.bytes_downloaded == 0);
	free_items(items, N_PKGS);

	/* One at a time works too. */
	_cleanup_free_ char *cache1 = new_cache("serial");
	CHECK(fetch_batch(cache1, items, 1, &st, NULL, &err) == 0);
	CHECK(st.downloaded == N_PKGS);
	free_items(items, N_PKGS);
}

TEST(corrupted_cache_refetched)
{
	_cleanup_free_ char *cache = new_cache("corrupt");
	struct kiln_fetch_item items[N_PKGS];
	struct kiln_fetch_stats st;
	struct kiln_error err = { 0 };

	CHECK(fetch_batch(cache, items, 4, &st, NULL, &err) == 0);
	free_items(items, N_PKGS);

	/* pkgs[1]: one flipped byte; pkgs[2]: truncated; pkgs[3]: removed;
	 * the others intact. */
	{
		_cleanup_free_ char *p1 = kiln_fetch_cache_path(cache, pkgs[1].sha256);
		_cleanup_free_ char *p2 = kiln_fetch_cache_path(cache, pkgs[2].sha256);
		_cleanup_free_ char *p3 = kiln_fetch_cache_path(cache, pkgs[3].sha256);
		char *copy = kiln_xmalloc(pkgs[1].size);
		memcpy(copy, pkgs[1].data, pkgs[1].size);
		copy[12345] ^= 0x40;
		write_file(p1, copy, pkgs[1].size);
		free(copy);
		write_file(p2, pkgs[2].data, pkgs[2].size / 3);
		unlink(p3);
	}
	CHECK(fetch_batch(cache, items, 4, &st, NULL, &err) == 0);
	CHECK(!items[0].downloaded);
	CHECK(items[1].downloaded);
	CHECK(items[2].downloaded);
	CHECK(items[3].downloaded);
	CHECK(!items[4].downloaded);
	CHECK(st.downloaded == 3 && st.cached == 2);
	for (size_t i = 0; i < N_PKGS; i++)
		CHECK(items[i].path && file_equals(items[i].path, pkgs[i].data, pkgs[i].size));
	free_items(items, N_PKGS);
}

TEST(wrong_sha256_rejected)
{
	_cleanup_free_ char *cache = new_cache("wrongsha");
	char *urls[] = { url1 };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };
	char other[KILN_SHA256_HEX_LEN + 1];
	const struct pkg *p = &pkgs[1];

	/* The lock says another digest than the mirror's bytes have. */
	kiln_sha256_hex("something else", 14, other);
	fill_item(&it, p, urls, 1);
	it.sha256 = other;
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == -1);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "fetch pool/main/a/applib/applib_2.0_amd64.deb: ");
	CHECK_CONTAINS(err.message, url1);
	{
		_cleanup_free_ char *want = kiln_xasprintf("sha256 mismatch (want %s, got %s)", other, p->sha256);
		CHECK_CONTAINS(err.message, want);
	}
	CHECK(it.path == NULL);
	CHECK(count_cached(cache) == 0);
	free(it.path);

	/* With a fallback that has the right bytes, it is no error. */
	{
		_cleanup_free_ char *bad_mirror = kiln_xasprintf("%s/bad-mirror", top);
		_cleanup_free_ char *bad_url = kiln_xasprintf("file://%s", bad_mirror);
		_cleanup_free_ char *bad_file = kiln_path_join(bad_mirror, p->filename);
		char *copy = kiln_xmalloc(p->size);
		char *urls2[] = { bad_url, url2 };
		struct kiln_fetch_stats st;

		memcpy(copy, p->data, p->size);
		copy[0] ^= 1;
		write_file(bad_file, copy, p->size);
		free(copy);
		fill_item(&it, p, urls2, 2);
		kiln_error_clear(&err);
		CHECK(kiln_fetch_all(&opt, &it, 1, &st, &err) == 0);
		CHECK(it.downloaded);
		CHECK(it.path && file_equals(it.path, p->data, p->size));
		free(it.path);

		/* Only the bad one: exit 3. */
		_cleanup_free_ char *cache2 = new_cache("wrongsha2");
		struct kiln_fetch_options opt2 = { .cache_dir = cache2 };
		fill_item(&it, p, urls2, 1);
		kiln_error_clear(&err);
		CHECK(kiln_fetch_all(&opt2, &it, 1, &st, &err) == -1);
		CHECK(err.code == KILN_EXIT_VERIFY);
		CHECK_CONTAINS(err.message, "sha256 mismatch");
		CHECK(count_cached(cache2) == 0);
		free(it.path);
	}
}

TEST(fallback_to_second_url)
{
	_cleanup_free_ char *cache = new_cache("fallback");
	struct kiln_fetch_options opt = { .cache_dir = cache };
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };
	struct kiln_fetch_stats st;
	const struct pkg *p = &pkgs[ONLY_SECOND];

	/* Not on mirror1: mirror2 has it. */
	{
		char *urls[] = { url1, url2 };
		fill_item(&it, p, urls, 2);
		CHECK(kiln_fetch_all(&opt, &it, 1, &st, &err) == 0);
		CHECK(it.downloaded);
		CHECK(it.path && file_equals(it.path, p->data, p->size));
		free(it.path);
	}
	/* A URL scheme fetch does not speak is skipped like a missing file. */
	{
		_cleanup_free_ char *cache2 = new_cache("fallback-scheme");
		struct kiln_fetch_options opt2 = { .cache_dir = cache2 };
		char *urls[] = { "ftp://127.0.0.1/debian", "scp://x/y", url2 };
		fill_item(&it, p, urls, 3);
		kiln_error_clear(&err);
		CHECK(kiln_fetch_all(&opt2, &it, 1, &st, &err) == 0);
		CHECK(it.path && file_equals(it.path, p->data, p->size));
		free(it.path);
	}
	/* Nowhere: the message names the file and every URL's error. */
	{
		_cleanup_free_ char *cache3 = new_cache("fallback-none");
		struct kiln_fetch_options opt3 = { .cache_dir = cache3 };
		char *urls[] = { missing_url, url1, "ftp://127.0.0.1/debian" };
		fill_item(&it, p, urls, 3);
		kiln_error_clear(&err);
		CHECK(kiln_fetch_all(&opt3, &it, 1, &st, &err) == -1);
		CHECK(err.code == KILN_EXIT_FAILED);
		CHECK_CONTAINS(err.message, "fetch pool/main/o/only-second/only-second_1.0_amd64.deb: ");
		CHECK_CONTAINS(err.message, missing_url);
		CHECK_CONTAINS(err.message, url1);
		CHECK_CONTAINS(err.message, "ftp://127.0.0.1/debian/pool/main/o/only-second");
		CHECK_CONTAINS(err.message, "not an http, https or file URL");
		CHECK(it.path == NULL);
		CHECK(count_cached(cache3) == 0);
	}
}

TEST(bad_items_refused)
{
	_cleanup_free_ char *cache = new_cache("bad-items");
	struct kiln_fetch_options opt = { .cache_dir = cache };
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };
	char *urls[] = { url1 };

	fill_item(&it, &pkgs[0], urls, 1);
	it.filename = "pool/../../../etc/passwd";
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == -1);
	CHECK_CONTAINS(err.message, "unsafe filename \"pool/../../../etc/passwd\"");

	fill_item(&it, &pkgs[0], urls, 1);
	it.filename = "pool/main/a/app.deb?evil=1";
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == -1);
	CHECK_CONTAINS(err.message, "unsafe filename");

	fill_item(&it, &pkgs[0], urls, 1);
	it.sha256 = "0F2D";
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == -1);
	CHECK_CONTAINS(err.message, "not 64 lowercase hex digits");

	fill_item(&it, &pkgs[0], urls, 0);
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == -1);
	CHECK_CONTAINS(err.message, "no URL");

	/* Nothing to do is no error. */
	struct kiln_fetch_stats st;
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt, NULL, 0, &st, &err) == 0);
	CHECK(st.downloaded == 0 && st.cached == 0);
}

TEST(larger_than_locked_size)
{
	_cleanup_free_ char *cache = new_cache("too-large");
	struct kiln_fetch_options opt = { .cache_dir = cache };
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };
	char *urls[] = { url1 };
	const struct pkg *p = &pkgs[2];   /* 3 MiB */
	_cleanup_free_ char *part = part_path(cache, p->sha256);

	fill_item(&it, p, urls, 1);
	it.size = 100000;
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == -1);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "size mismatch (want 100000 bytes");
	CHECK(count_cached(cache) == 0);
	/* Never more than the locked size on disk. */
	CHECK(file_size(part) <= 100000);
}

/* Resuming: a .part from a killed run is continued, not restarted. */
TEST(resume_part)
{
	_cleanup_free_ char *cache = new_cache("resume");
	struct kiln_fetch_options opt = { .cache_dir = cache };
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };
	struct kiln_fetch_stats st;
	char *urls[] = { url1 };
	const struct pkg *p = &pkgs[2];
	_cleanup_free_ char *part = part_path(cache, p->sha256);
	size_t half = p->size / 2;

	write_file(part, p->data, half);
	fill_item(&it, p, urls, 1);
	CHECK(kiln_fetch_all(&opt, &it, 1, &st, &err) == 0);
	CHECK(it.downloaded);
	CHECK(st.bytes_downloaded == p->size - half);
	CHECK(it.path && file_equals(it.path, p->data, p->size));
	CHECK(!exists(part));
	free(it.path);

	/* A .part whose bytes are wrong: the sha256 check fails, and one
	 * more try from zero gets the file. */
	_cleanup_free_ char *cache2 = new_cache("resume-bad");
	_cleanup_free_ char *part2 = part_path(cache2, p->sha256);
	char *junk = make_bytes(99, half);
	write_file(part2, junk, half);
	free(junk);
	struct kiln_fetch_options opt2 = { .cache_dir = cache2 };
	fill_item(&it, p, urls, 1);
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt2, &it, 1, &st, &err) == 0);
	CHECK(st.bytes_downloaded == p->size - half + p->size);
	CHECK(it.path && file_equals(it.path, p->data, p->size));
	free(it.path);

	/* A complete, right .part: nothing to download. */
	_cleanup_free_ char *cache3 = new_cache("resume-complete");
	_cleanup_free_ char *part3 = part_path(cache3, p->sha256);
	write_file(part3, p->data, p->size);
	struct kiln_fetch_options opt3 = { .cache_dir = cache3 };
	fill_item(&it, p, urls, 1);
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt3, &it, 1, &st, &err) == 0);
	CHECK(st.bytes_downloaded == 0);
	CHECK(it.downloaded);
	CHECK(it.path && file_equals(it.path, p->data, p->size));
	free(it.path);

	/* A .part longer than the file: not a prefix, thrown away. */
	_cleanup_free_ char *cache4 = new_cache("resume-long");
	_cleanup_free_ char *part4 = part_path(cache4, p->sha256);
	char *longer = make_bytes(7, p->size + 10);
	write_file(part4, longer, p->size + 10);
	free(longer);
	struct kiln_fetch_options opt4 = { .cache_dir = cache4 };
	fill_item(&it, p, urls, 1);
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt4, &it, 1, &st, &err) == 0);
	CHECK(st.bytes_downloaded == p->size);
	CHECK(it.path && file_equals(it.path, p->data, p->size));
	free(it.path);
}

/* Another writer holds the .part (another kiln process downloading the
 * same file; a thread with its own open file description stands in for
 * it, since flock() locks conflict between descriptions): this one waits,
 * then finds the file in the cache. */
struct holder {
	const char *part, *final;
	const struct pkg *p;
	int ready[2];
	bool ok;
};

static void *hold_part(void *arg)
{
	struct holder *h = arg;
	int fd = open(h->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		close(h->ready[1]);
		return NULL;
	}
	if (write(h->ready[1], "x", 1) != 1)
		return NULL;
	close(h->ready[1]);
	usleep(400 * 1000);
	h->ok = write(fd, h->p->data, h->p->size) == (ssize_t)h->p->size && fsync(fd) == 0 &&
		rename(h->part, h->final) == 0;
	close(fd);
	return NULL;
}

TEST(contended_part)
{
	_cleanup_free_ char *cache = new_cache("contended");
	_cleanup_free_ char *tmpdir = kiln_xasprintf("%s/packages/tmp", cache);
	const struct pkg *p = &pkgs[1];
	_cleanup_free_ char *part = part_path(cache, p->sha256);
	_cleanup_free_ char *final = kiln_fetch_cache_path(cache, p->sha256);
	_cleanup_free_ char *shadir = kiln_xasprintf("%s/packages/sha256", cache);
	struct kiln_fetch_options opt = { .cache_dir = cache };
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };
	struct kiln_fetch_stats st;
	struct holder h = { .part = part, .final = final, .p = p };
	struct timespec t0, t1;
	char *urls[] = { url1 };
	pthread_t thread;
	char c;

	kiln_mkdir_p(tmpdir, 0755, NULL);
	kiln_mkdir_p(shadir, 0755, NULL);
	if (pipe(h.ready) < 0 || pthread_create(&thread, NULL, hold_part, &h) != 0) {
		CHECK(!"cannot start the holder");
		return;
	}
	if (read(h.ready[0], &c, 1) != 1)
		CHECK(!"holder did not lock");
	close(h.ready[0]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	fill_item(&it, p, urls, 1);
	CHECK(kiln_fetch_all(&opt, &it, 1, &st, &err) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (err.message[0])
		printf("# %s\n", err.message);
	pthread_join(thread, NULL);
	CHECK(h.ok);
	CHECK(!it.downloaded);
	CHECK(st.cached == 1);
	CHECK(st.bytes_downloaded == 0);
	CHECK(it.path && file_equals(it.path, p->data, p->size));
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 300);
	CHECK(!exists(part));
	free(it.path);
}

/* One file twice in a batch: one download, both items get the path. */
TEST(duplicate_items)
{
	_cleanup_free_ char *cache = new_cache("dup");
	struct kiln_fetch_options opt = { .cache_dir = cache, .parallel = 4 };
	struct kiln_fetch_item items[3];
	struct kiln_error err = { 0 };
	struct kiln_fetch_stats st;
	char *urls[] = { url1 };

	fill_item(&items[0], &pkgs[2], urls, 1);
	fill_item(&items[1], &pkgs[2], urls, 1);
	fill_item(&items[2], &pkgs[0], urls, 1);
	CHECK(kiln_fetch_all(&opt, items, 3, &st, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(st.downloaded + st.cached == 3);
	CHECK(st.bytes_downloaded == pkgs[2].size + pkgs[0].size);
	CHECK(items[0].path && items[1].path && strcmp(items[0].path, items[1].path) == 0);
	CHECK(items[0].downloaded != items[1].downloaded);
	CHECK(items[1].path && file_equals(items[1].path, pkgs[2].data, pkgs[2].size));
	free_items(items, 3);
}

/* The first failure stops the batch; files done so far stay, and the
 * error names the item that failed. */
TEST(failure_stops_batch)
{
	_cleanup_free_ char *cache = new_cache("stop");
	struct kiln_fetch_options opt = { .cache_dir = cache, .parallel = 2 };
	struct kiln_fetch_item items[N_PKGS];
	struct kiln_error err = { 0 };
	char *urls[] = { url1 };

	for (size_t i = 0; i < N_PKGS; i++)
		fill_item(&items[i], &pkgs[i], urls, 1);
	/* ONLY_SECOND is not on mirror1. */
	CHECK(kiln_fetch_all(&opt, items, N_PKGS, NULL, &err) == -1);
	CHECK(err.code == KILN_EXIT_FAILED);
	CHECK_CONTAINS(err.message, pkgs[ONLY_SECOND].filename);
	CHECK(count_cached(cache) <= (int)N_PKGS - 1);
	/* Whatever is in the cache is whole and right. */
	for (size_t i = 0; i < N_PKGS; i++) {
		_cleanup_free_ char *f = kiln_fetch_cache_path(cache, pkgs[i].sha256);
		if (exists(f))
			CHECK(file_equals(f, pkgs[i].data, pkgs[i].size));
	}
	free_items(items, N_PKGS);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setup();
	RUN(cache_path);
	RUN(filename_checks);
	RUN(verify_cached);
	RUN(parallel_batch_then_cached);
	RUN(corrupted_cache_refetched);
	RUN(wrong_sha256_rejected);
	RUN(fallback_to_second_url);
	RUN(bad_items_refused);
	RUN(larger_than_locked_size);
	RUN(resume_part);
	RUN(contended_part);
	RUN(duplicate_items);
	RUN(failure_stops_batch);
	teardown();
	return tap_done();
}
