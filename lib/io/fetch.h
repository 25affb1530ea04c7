/* fetch.h - the locked .deb files, downloaded in parallel into a
 * content-addressed cache and verified before anything reads them.
 *
 * Layout under the cache root (kiln_cache_dir()):
 *
 *   packages/sha256/<sha256>     verified files, named by their digest
 *   packages/tmp/<sha256>.part   downloads in progress; a killed run leaves
 *                                them for the next one to resume
 *
 * A file is only ever renamed into packages/sha256/ after fsync and a
 * size + sha256 check, so nothing there is half written; and a file found
 * there is re-hashed before it is used, so a damaged cache costs a
 * download, never a wrong image.  Each .part is held with flock() while it
 * is written: kiln processes sharing one cache wait for each other instead
 * of writing the same file twice.
 */
#ifndef KILN_FETCH_H
#define KILN_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "http.h"

struct kiln_fetch_item {
	const char *filename;          /* pool path from the lock, e.g. pool/main/b/busybox/busybox-static_…_amd64.deb */
	uint64_t size;                 /* from the lock */
	const char *sha256;            /* from the lock, 64 hex */
	char *const *base_urls;        /* mirror first, then the source's fallback: URLs; no trailing '/' */
	size_t n_base_urls;
	char *path;                    /* out: the verified cache file (malloc'd; caller frees) */
	bool downloaded;               /* out: fetched now (false: was in the cache) */
	/* For the caller's use after fetching (kiln build keeps the package
	 * with its data.tar decompressed here); fetch never touches it. */
	void *expanded;
	size_t expanded_len;
};

struct kiln_fetch_options {
	const char *cache_dir;         /* kiln_cache_dir(); files go to CACHE/packages/sha256/<sha256> */
	unsigned parallel;             /* concurrent transfers, default 6 when 0 */
	unsigned retries;              /* per URL, default 3 when 0 (backoff 0.2 s, 0.4 s, …) */
	kiln_progress_fn progress;     /* (ctx, label, bytes done, bytes total) for the whole batch */
	void *progress_ctx;
};

struct kiln_fetch_stats {
	unsigned downloaded, cached;   /* items fetched now / found verified in the cache */
	uint64_t bytes_downloaded;     /* body bytes received in this call */
	double seconds;                /* wall time of the call */
};

/* Make every item available as a verified file in the cache and set its
 * path and downloaded fields.  Each item's URL is base + "/" + filename,
 * tried base by base: 404/410 (or a missing file:// file) moves to the next
 * base URL; 5xx, timeouts, resets and truncation are retried with backoff
 * (opt->retries times) first.  An interrupted download continues with a
 * Range request from its .part file.
 *
 * Returns 0 when every item is in the cache.  On failure returns -1 with
 * one message naming the filename and the last error at each URL, stops
 * every other transfer and leaves their .part files for the next run; some
 * items may already have path set (the caller frees every item's path
 * either way).  err->code is KILN_EXIT_VERIFY when a server delivered
 * bytes that do not match the lock (wrong sha256 or size) and no later
 * base URL delivered the right ones: "sha256 mismatch (want …, got …)".
 * stats may be NULL; progress is called often, the callback throttles. */
int kiln_fetch_all(const struct kiln_fetch_options *opt, struct kiln_fetch_item *items, size_t n,
		   struct kiln_fetch_stats *stats, struct kiln_error *err);

/* CACHE/packages/sha256/<hex>, malloc'd. */
char *kiln_fetch_cache_path(const char *cache_dir, const char *sha256);

/* Re-hash a cached file: 0 when it is there with the right size and sha256.
 * A file that is there but wrong is a verification failure (err->code
 * KILN_EXIT_VERIFY); a missing one is an ordinary error. */
int kiln_fetch_verify_cached(const char *path, uint64_t size, const char *sha256, struct kiln_error *err);

/* Whether a lock's pool path is safe to append to a base URL and to name
 * in messages: relative, printable ASCII without spaces, and none of "..",
 * "//", '?', '#', '%' or '\\'.  The lock parser refuses these already;
 * fetch checks again because it is the last step before the network. */
bool kiln_fetch_filename_valid(const char *filename);

#endif
