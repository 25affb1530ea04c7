/* gc.h - dropping what no recorded snapshot reaches (`kiln gc`).
 *
 * The roots are the snapshot records (STORE/commits/<commit>/<name>.json)
 * and the images a deploy history names (kiln_gc_options.extra_roots):
 * a record reaches its image manifest, that manifest's config and layers,
 * its DSSE envelope, and its referrer manifest with that manifest's config
 * (the empty `{}` blob) and layers.  Everything else goes: index.json
 * entries (an image ref NAME@COMMIT whose record is gone, a referrer whose
 * subject is gone), blobs, and build cache entries that name a layer blob
 * the store no longer has.
 *
 * Never on doubt: a record that does not parse, or a recorded manifest
 * that is missing or does not hash to its name, stops gc before anything is
 * deleted, with a message naming it.  Order for crash safety: index.json is
 * replaced first (atomically), then cache entries and blobs are deleted, so
 * a kill in between leaves only blobs nothing refers to, which the next gc
 * removes.
 */
#ifndef KILN_GC_H
#define KILN_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

struct kiln_gc_options {
	bool dry_run;               /* count, delete nothing */
	bool allow_no_records;      /* a store with images but no record at all may be emptied */
	/* More roots: image manifest digests that must stay with their config
	 * and layers even without a record (every snapshot a service's
	 * deploy history names: docs/deploy.md, Rollback).  Ones the store
	 * does not hold are skipped. */
	char *const *extra_roots; size_t n_extra_roots;
};

struct kiln_gc_result {
	size_t records;             /* roots */
	size_t blobs_kept;
	uint64_t bytes_kept;
	size_t blobs_removed;       /* (that would be, with dry_run) */
	uint64_t bytes_removed;
	size_t index_removed;
	size_t cache_removed;
	/* The removed blobs' digests, sorted (malloc'd). */
	char (*removed)[KILN_OCI_DIGEST_LEN + 1];
};

/* Collect store, which must be open for writing (so gc holds its lock and
 * no build runs meanwhile). */
int kiln_gc_run(struct kiln_store *store, const struct kiln_gc_options *opt,
		struct kiln_gc_result *res, struct kiln_error *err);
void kiln_gc_result_release(struct kiln_gc_result *res);

#endif
