/* aptrepo.h - one apt source: its signed Release and its Packages indexes.
 *
 * Fetches InRelease (or Release + Release.gpg), verifies it with gpgv and
 * parses only the verified bytes, then loads each component's Packages
 * index after checking it against the Release's SHA256 list.  Indexes are
 * kept decompressed under CACHE/indexes/sha256/<digest of the uncompressed
 * file>, so a second lock downloads nothing but a conditional InRelease.
 */
#ifndef KILN_APTREPO_H
#define KILN_APTREPO_H

#include <stdbool.h>

#include "error.h"
#include "hash.h"
#include "http.h"
#include "packages.h"

struct kiln_aptrepo_source {
	const char *name;
	const char *suite;
	char *const *components;
	size_t n_components;
	const char *keyring;        /* NULL when trusted */
	bool trusted;
	const char *base_url;       /* without trailing '/' */
	const char *architecture;
};

struct kiln_aptrepo {
	struct kiln_http *http;
	char *cache_dir;            /* CACHE (kiln's cache root) */
	kiln_progress_fn progress;
	void *progress_ctx;
	/* Counters for the caller's summary. */
	unsigned indexes_downloaded, indexes_cached;
};

struct kiln_aptrepo *kiln_aptrepo_new(const char *cache_dir, struct kiln_error *err);
void kiln_aptrepo_free(struct kiln_aptrepo *repo);

/* Load src's indexes into idx tagged with origin; on success write the
 * sha256 of the verified Release text to release_sha256. */
int kiln_aptrepo_load(struct kiln_aptrepo *repo, const struct kiln_aptrepo_source *src,
		      uint32_t origin, struct kiln_packages *idx,
		      char release_sha256[KILN_SHA256_HEX_LEN + 1], struct kiln_error *err);

/* Decompress (xz, gzip, bzip2, zstd or plain, detected from the bytes) in_path
 * into out_path, at most max_out bytes, returning the output's sha256. */
int kiln_decompress_file(const char *in_path, const char *out_path, uint64_t max_out,
			 char sha256[KILN_SHA256_HEX_LEN + 1], uint64_t *out_size,
			 struct kiln_error *err);

#endif
