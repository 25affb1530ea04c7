/* test_fetch_http.c - kiln_fetch_all against the fixture's HTTP server
 * (tests/fixtures/README.md): the good repository's .debs in parallel,
 * cold and warm, and the failure paths /truncate/ /flaky/ /status/CODE/
 * /redirect/, a resumed .part (the server log must show a 206), and a
 * file larger than its locked size.  Every test puts /tag/<unique>/ in
 * front of its URLs and finds its own requests in $KILN_TEST_HTTPD_LOG.
 *
 * Needs $KILN_TEST_HTTP and $KILN_TEST_WWW (tests/run exports them); when
 * they are unset every test reports "ok N # skip no fixture". */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "fsutil.h"
#include "hash.h"
#include "tap.h"
#include "util.h"

static const char *http, *www, *httpd_log;
static char top[] = "/tmp/kiln-test-fetch-http.XXXXXX";

/* A .deb of the good repository's binary-amd64 Packages. */
struct deb {
	char *filename;
	uint64_t size;
	char sha256[KILN_SHA256_HEX_LEN + 1];
};
static struct deb *debs;
static size_t n_debs;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Filename, Size and SHA256 of every stanza. */
static int load_packages(void)
{
	_cleanup_free_ char *path = kiln_xasprintf("%s/good/dists/stable/main/binary-amd64/Packages", www);
	_cleanup_free_ char *text = kiln_file_read(path, 64 << 20, NULL, NULL);
	size_t alloc = 0;
	struct deb cur = { 0 };

	if (!text)
		return -1;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "Filename: ", 10) == 0) {
			free(cur.filename);
			cur.filename = kiln_xstrdup(line + 10);
		} else if (strncmp(line, "Size: ", 6) == 0) {
			cur.size = strtoull(line + 6, NULL, 10);
		} else if (strncmp(line, "SHA256: ", 8) == 0 && strlen(line + 8) == KILN_SHA256_HEX_LEN) {
			memcpy(cur.sha256, line + 8, KILN_SHA256_HEX_LEN + 1);
		}
		if ((*line == '\0' || !next || !*next) && cur.filename) {
			kiln_xgrow(&debs, &alloc, n_debs + 1, sizeof(*debs));
			debs[n_debs++] = cur;
			memset(&cur, 0, sizeof(cur));
		}
	}
	free(cur.filename);
	return n_debs > 0 ? 0 : -1;
}

/* The biggest .deb: resuming and size tests want more than a few bytes. */
static const struct deb *biggest(void)
{
	const struct deb *b = &debs[0];

	for (size_t i = 1; i < n_debs; i++)
		if (debs[i].size > b->size)
			b = &debs[i];
	return b;
}

static const struct deb *find_deb(const char *suffix)
{
	for (size_t i = 0; i < n_debs; i++)
		if (kiln_str_has_suffix(debs[i].filename, suffix))
			return &debs[i];
	return &debs[0];
}

/* $KILN_TEST_HTTP/tag/<pid>-<name>/<rest> */
static char *tagged(const char *name, const char *rest)
{
	return kiln_xasprintf("%s/tag/tfh%d-%s/%s", http, (int)getpid(), name, rest);
}

/* Log lines "GET <path> <status>" for this test's tag and filename
 * (status NULL: any). */
static int count_requests(const char *name, const char *filename, const char *status)
{
	_cleanup_free_ char *log = kiln_file_read(httpd_log, 256 << 20, NULL, NULL);
	_cleanup_free_ char *tag = kiln_xasprintf("/tag/tfh%d-%s/", (int)getpid(), name);
	int n = 0;

	if (!log)
		return -1;
	for (char *line = log, *next; line && *line; line = next) {
		char *sp;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "GET ", 4) != 0 || !strstr(line, tag) || !strstr(line, filename))
			continue;
		sp = strrchr(line, ' ');
		if (!status || (sp && strcmp(sp + 1, status) == 0))
			n++;
	}
	return n;
}

static char *new_cache(const char *name)
{
	return kiln_xasprintf("%s/cache-%s", top, name);
}

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

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
}

static char *part_path(const char *cache, const char *sha256)
{
	return kiln_xasprintf("%s/packages/tmp/%s.part", cache, sha256);
}

static void fill(struct kiln_fetch_item *it, const struct deb *d, char *const *urls, size_t n)
{
	*it = (struct kiln_fetch_item){
		.filename = d->filename, .size = d->size, .sha256 = d->sha256,
		.base_urls = urls, .n_base_urls = n,
	};
}

/* The cache file has the bytes the fixture serves. */
static bool same_as_served(const char *path, const struct deb *d)
{
	_cleanup_free_ char *served = kiln_xasprintf("%s/good/%s", www, d->filename);
	char a[KILN_SHA256_HEX_LEN + 1], b[KILN_SHA256_HEX_LEN + 1];

	return path && kiln_sha256_file(path, a, NULL, NULL) == 0 &&
	       kiln_sha256_file(served, b, NULL, NULL) == 0 && strcmp(a, b) == 0 &&
	       strcmp(a, d->sha256) == 0;
}

static double bench_cold_ms, bench_warm_ms;
static uint64_t bench_bytes;

TEST(good_repo_parallel)
{
	_cleanup_free_ char *cache = new_cache("good");
	_cleanup_free_ char *base = tagged("good", "good");
	char *urls[] = { base };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	struct kiln_fetch_item *items = kiln_xcalloc(n_debs, sizeof(*items));
	struct kiln_fetch_stats st;
	struct kiln_error err = { 0 };
	uint64_t total = 0;
	bool all_same = true, all_once = true;
	double t0;

	for (size_t i = 0; i < n_debs; i++) {
		fill(&items[i], &debs[i], urls, 1);
		total += debs[i].size;
	}
	t0 = now_ms();
	CHECK(kiln_fetch_all(&opt, items, n_debs, &st, &err) == 0);
	bench_cold_ms = now_ms() - t0;
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(st.downloaded == n_debs);
	CHECK(st.bytes_downloaded == total);
	bench_bytes = total;
	for (size_t i = 0; i < n_debs; i++) {
		all_same &= items[i].downloaded && same_as_served(items[i].path, &debs[i]);
		/* One GET per file, no retries. */
		all_once &= count_requests("good", debs[i].filename, NULL) == 1;
		free(items[i].path);
	}
	CHECK(all_same);
	CHECK(all_once);
	CHECK(count_cached(cache) == (int)n_debs);

	/* Warm: everything re-hashed from the cache, no request. */
	t0 = now_ms();
	CHECK(kiln_fetch_all(&opt, items, n_debs, &st, &err) == 0);
	bench_warm_ms = now_ms() - t0;
	CHECK(st.cached == n_debs && st.downloaded == 0 && st.bytes_downloaded == 0);
	all_same = all_once = true;
	for (size_t i = 0; i < n_debs; i++) {
		all_same &= !items[i].downloaded && same_as_served(items[i].path, &debs[i]);
		all_once &= count_requests("good", debs[i].filename, NULL) == 1;
		free(items[i].path);
	}
	CHECK(all_same);
	CHECK(all_once);
	free(items);
	printf("# bench: %zu debs, %" PRIu64 " bytes: cold %.1f ms, warm %.1f ms\n", n_debs, bench_bytes,
	       bench_cold_ms, bench_warm_ms);
}

TEST(truncate_fails)
{
	_cleanup_free_ char *cache = new_cache("truncate");
	_cleanup_free_ char *base = tagged("truncate", "truncate/good");
	char *urls[] = { base };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	const struct deb *d = biggest();
	_cleanup_free_ char *part = part_path(cache, d->sha256);
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };

	fill(&it, d, urls, 1);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == -1);
	CHECK(err.code == KILN_EXIT_FAILED);
	CHECK_CONTAINS(err.message, "fetch ");
	CHECK_CONTAINS(err.message, d->filename);
	CHECK_CONTAINS(err.message, base);
	CHECK_CONTAINS(err.message, "truncated");
	printf("# %s\n", err.message);
	CHECK(it.path == NULL);
	CHECK(count_cached(cache) == 0);
	/* Tried 1 + 3 times (default retries), each later try resuming what
	 * the earlier ones got; the .part stays for the next run. */
	CHECK(count_requests("truncate", d->filename, NULL) == 4);
	CHECK(count_requests("truncate", d->filename, "206") == 3);
	CHECK(file_size(part) > d->size / 2 && file_size(part) < d->size);

	/* The next run, from a good URL, finishes it with one range request. */
	_cleanup_free_ char *good = tagged("truncate-resume", "good");
	char *urls2[] = { good };
	struct kiln_fetch_stats st;
	uint64_t had = file_size(part);
	fill(&it, d, urls2, 1);
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt, &it, 1, &st, &err) == 0);
	CHECK(st.bytes_downloaded == d->size - had);
	CHECK(count_requests("truncate-resume", d->filename, "206") == 1);
	CHECK(same_as_served(it.path, d));
	free(it.path);
}

TEST(flaky_retried)
{
	_cleanup_free_ char *cache = new_cache("flaky");
	_cleanup_free_ char *base = tagged("flaky", "flaky/good");
	char *urls[] = { base };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	const struct deb *d = find_deb("/app_2.0_amd64.deb");
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };

	fill(&it, d, urls, 1);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(it.downloaded);
	CHECK(same_as_served(it.path, d));
	CHECK(count_requests("flaky", d->filename, "503") == 1);
	CHECK(count_requests("flaky", d->filename, "200") == 1);
	free(it.path);
}

TEST(status_500_then_fallback)
{
	_cleanup_free_ char *cache = new_cache("s500");
	_cleanup_free_ char *bad = tagged("s500", "status/500/good");
	_cleanup_free_ char *good = tagged("s500", "good");
	char *urls[] = { bad, good };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	const struct deb *d = find_deb("/applib_2.0_amd64.deb");
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };
	double t0 = now_ms(), ms;

	fill(&it, d, urls, 1 + 1);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == 0);
	ms = now_ms() - t0;
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(same_as_served(it.path, d));
	/* 5xx is retried (1 + 3 tries, backoff 0.2 + 0.4 + 0.8 s) before the
	 * fallback. */
	CHECK(count_requests("s500", d->filename, "500") == 4);
	CHECK(count_requests("s500", d->filename, "200") == 1);
	/* (No timing check: the request counts above prove the retries.) */
	(void)ms;
	free(it.path);
}

TEST(status_404_then_fallback)
{
	_cleanup_free_ char *cache = new_cache("s404");
	_cleanup_free_ char *gone = tagged("s404", "status/404/good");
	_cleanup_free_ char *also_gone = tagged("s404", "status/410/good");
	_cleanup_free_ char *good = tagged("s404", "good");
	char *urls[] = { gone, also_gone, good };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	const struct deb *d = find_deb("/data-all_1.0_all.deb");
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };

	fill(&it, d, urls, 3);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(same_as_served(it.path, d));
	/* Not found is not retried: straight to the next base URL. */
	CHECK(count_requests("s404", d->filename, "404") == 1);
	CHECK(count_requests("s404", d->filename, "410") == 1);
	CHECK(count_requests("s404", d->filename, "200") == 1);
	free(it.path);
}

TEST(all_urls_fail)
{
	_cleanup_free_ char *cache = new_cache("allfail");
	_cleanup_free_ char *a = tagged("allfail", "status/503/good");
	_cleanup_free_ char *b = tagged("allfail", "status/403/good");
	_cleanup_free_ char *c = tagged("allfail", "status/404/good");
	char *urls[] = { a, b, c };
	struct kiln_fetch_options opt = { .cache_dir = cache, .retries = 1 };
	const struct deb *d = find_deb("/app_2.0_amd64.deb");
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };

	fill(&it, d, urls, 3);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == -1);
	CHECK(err.code == KILN_EXIT_FAILED);
	printf("# %s\n", err.message);
	{
		_cleanup_free_ char *want = kiln_xasprintf("fetch %s: %s/%s: HTTP 503; %s/%s: HTTP 403; %s/%s: HTTP 404",
							   d->filename, a, d->filename, b, d->filename, c,
							   d->filename);
		CHECK_STR(err.message, want);
	}
	CHECK(count_requests("allfail", d->filename, "503") == 2);
	CHECK(count_requests("allfail", d->filename, "403") == 1);
	CHECK(count_cached(cache) == 0);
}

TEST(redirect_followed)
{
	_cleanup_free_ char *cache = new_cache("redirect");
	_cleanup_free_ char *base = tagged("redirect", "redirect/good");
	char *urls[] = { base };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	const struct deb *d = find_deb("/app_2.0_amd64.deb");
	struct kiln_fetch_item it;
	struct kiln_error err = { 0 };

	fill(&it, d, urls, 1);
	CHECK(kiln_fetch_all(&opt, &it, 1, NULL, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(same_as_served(it.path, d));
	CHECK(count_requests("redirect", d->filename, "301") == 1);
	CHECK(count_requests("redirect", d->filename, "200") == 1);
	free(it.path);
}

TEST(resumed_download)
{
	_cleanup_free_ char *cache = new_cache("resume");
	_cleanup_free_ char *base = tagged("resume", "good");
	char *urls[] = { base };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	const struct deb *d = biggest();
	_cleanup_free_ char *part = part_path(cache, d->sha256);
	_cleanup_free_ char *served = kiln_xasprintf("%s/good/%s", www, d->filename);
	_cleanup_free_ char *tmpdir = kiln_xasprintf("%s/packages/tmp", cache);
	_cleanup_free_ char *bytes = NULL;
	struct kiln_fetch_item it;
	struct kiln_fetch_stats st;
	struct kiln_error err = { 0 };
	size_t len = 0, half;

	/* A killed earlier run left the first half. */
	bytes = kiln_file_read(served, 64 << 20, &len, NULL);
	CHECK(bytes != NULL && len == d->size);
	if (!bytes)
		return;
	half = len / 2;
	kiln_mkdir_p(tmpdir, 0755, NULL);
	CHECK(kiln_file_write_atomic(part, bytes, half, 0644, NULL) == 0);

	fill(&it, d, urls, 1);
	CHECK(kiln_fetch_all(&opt, &it, 1, &st, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(it.downloaded);
	CHECK(st.bytes_downloaded == d->size - half);
	CHECK(same_as_served(it.path, d));
	CHECK(count_requests("resume", d->filename, "206") == 1);
	CHECK(count_requests("resume", d->filename, NULL) == 1);
	CHECK(file_size(part) == UINT64_MAX);
	free(it.path);

	/* A .part with wrong bytes resumes, fails the sha256 check, and is
	 * fetched once more from zero: a 206, then a 200. */
	_cleanup_free_ char *cache2 = new_cache("resume-bad");
	_cleanup_free_ char *part2 = part_path(cache2, d->sha256);
	_cleanup_free_ char *tmpdir2 = kiln_xasprintf("%s/packages/tmp", cache2);
	_cleanup_free_ char *base2 = tagged("resume-bad", "good");
	char *urls2[] = { base2 };
	struct kiln_fetch_options opt2 = { .cache_dir = cache2 };
	bytes[0] ^= 0xff;
	kiln_mkdir_p(tmpdir2, 0755, NULL);
	CHECK(kiln_file_write_atomic(part2, bytes, half, 0644, NULL) == 0);
	fill(&it, d, urls2, 1);
	kiln_error_clear(&err);
	CHECK(kiln_fetch_all(&opt2, &it, 1, &st, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(same_as_served(it.path, d));
	CHECK(count_requests("resume-bad", d->filename, "206") == 1);
	CHECK(count_requests("resume-bad", d->filename, "200") == 1);
	free(it.path);
}

TEST(larger_than_lock_size)
{
	_cleanup_free_ char *cache = new_cache("large");
	_cleanup_free_ char *base = tagged("large", "good");
	char *urls[] = { base };
	struct kiln_fetch_options opt = { .cache_dir = cache };
	const struct deb *d = biggest();
	_cleanup_free_ char *part = part_path(cache, d->sha256);
	struct kiln_fetch_item it;
	struct kiln_fetch_stats st;
	struct kiln_error err = { 0 };
	uint64_t small = d->size / 4;

	fill(&it, d, urls, 1);
	it.size = small;
	CHECK(kiln_fetch_all(&opt, &it, 1, &st, &err) == -1);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, d->filename);
	CHECK_CONTAINS(err.message, "size mismatch");
	printf("# %s\n", err.message);
	CHECK(it.path == NULL);
	CHECK(count_cached(cache) == 0);
	CHECK(st.bytes_downloaded <= small);
	CHECK(file_size(part) <= small);
	/* The wrong file is not retried. */
	CHECK(count_requests("large", d->filename, NULL) == 1);
}

/* One item fails while others are still downloading (slowly): the batch
 * stops at once, nothing half-written is in packages/sha256, and the
 * unfinished downloads keep their .part for the next run. */
TEST(failure_stops_others)
{
	_cleanup_free_ char *cache = new_cache("stop");
	_cleanup_free_ char *slow = tagged("stop", "slow/good");
	_cleanup_free_ char *gone = tagged("stop", "status/404/good");
	char *slow_urls[] = { slow };
	char *gone_urls[] = { gone };
	struct kiln_fetch_options opt = { .cache_dir = cache, .parallel = 4 };
	struct kiln_fetch_item items[2];
	struct kiln_error err = { 0 };
	const struct deb *big = biggest();
	const struct deb *other = find_deb("/app_2.0_amd64.deb");
	_cleanup_free_ char *part = part_path(cache, big->sha256);
	double t0 = now_ms(), ms;

	/* The big file at ~10 KiB/s takes ~2 s; the 404 fails in
	 * milliseconds. */
	fill(&items[0], big, slow_urls, 1);
	fill(&items[1], other, gone_urls, 1);
	CHECK(kiln_fetch_all(&opt, items, 2, NULL, &err) == -1);
	ms = now_ms() - t0;
	CHECK_CONTAINS(err.message, other->filename);
	CHECK_CONTAINS(err.message, "HTTP 404");
	/* The slow transfer was stopped, not waited for: its .part is short
	 * (checked below, without timing anything). */
	(void)ms;
	CHECK(count_cached(cache) == 0);
	CHECK(file_size(part) < big->size);
	CHECK(items[0].path == NULL && items[1].path == NULL);
}

#define ALL_TESTS(X)                                                                 \
	X(good_repo_parallel) X(truncate_fails) X(flaky_retried) X(status_500_then_fallback) \
	X(status_404_then_fallback) X(all_urls_fail) X(redirect_followed)             \
	X(resumed_download) X(larger_than_lock_size) X(failure_stops_others)

#define SKIP_ONE(name) printf("ok %d # skip no fixture\n", ++n);
#define RUN_ONE(name) RUN(name);

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	http = getenv("KILN_TEST_HTTP");
	www = getenv("KILN_TEST_WWW");
	httpd_log = getenv("KILN_TEST_HTTPD_LOG");
	if (!http || !*http || !www || !*www) {
		int n = 0;
		ALL_TESTS(SKIP_ONE)
		printf("1..%d\n", n);
		return 0;
	}
	if (!httpd_log || !*httpd_log) {
		printf("Bail out! KILN_TEST_HTTPD_LOG is not set\n");
		return 1;
	}
	if (load_packages() < 0 || !mkdtemp(top)) {
		printf("Bail out! cannot read the good repository's Packages or make a temp dir\n");
		return 1;
	}
	ALL_TESTS(RUN_ONE)
	{
		_cleanup_free_ char *cmd = kiln_xasprintf("rm -rf '%s'", top);
		if (system(cmd) != 0)
			printf("# cleanup of %s failed\n", top);
	}
	for (size_t i = 0; i < n_debs; i++)
		free(debs[i].filename);
	free(debs);
	return tap_done();
}
