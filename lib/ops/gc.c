/* gc.c - dropping what no recorded snapshot reaches. */
#include "gc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "record.h"
#include "util.h"

#define MANIFEST_MAX (4u << 20)

typedef char digest_t[KILN_OCI_DIGEST_LEN + 1];

/* A set of digests: appended to, then sorted once and searched. */
struct digest_set {
	digest_t *d;
	size_t n, alloc;
};

static void set_add(struct digest_set *set, const char *digest)
{
	kiln_xgrow(&set->d, &set->alloc, set->n + 1, sizeof(*set->d));
	snprintf(set->d[set->n++], sizeof(digest_t), "%s", digest);
}

static int compare_digest(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void set_seal(struct digest_set *set)
{
	size_t out = 0;

	if (set->n)
		qsort(set->d, set->n, sizeof(*set->d), compare_digest);
	for (size_t i = 0; i < set->n; i++)
		if (out == 0 || strcmp(set->d[out - 1], set->d[i]) != 0)
			memmove(set->d[out++], set->d[i], sizeof(digest_t));
	set->n = out;
}

static bool set_has(const struct digest_set *set, const char *digest)
{
	return digest && set->n && bsearch(digest, set->d, set->n, sizeof(*set->d), compare_digest);
}

/* Add manifest_digest and the config and layers it names.  The manifest
 * itself must be in the store and intact: without it gc cannot know what
 * the snapshot needs, so it stops (what names the snapshot). */
static int reach_manifest(struct kiln_store *s, const char *manifest_digest, const char *what,
			  struct digest_set *set, struct kiln_error *err)
{
	struct kiln_oci_manifest m;
	_cleanup_free_ char *data = NULL;
	size_t len;

	set_add(set, manifest_digest);
	data = kiln_store_read_blob(s, manifest_digest, MANIFEST_MAX, &len, err);
	if (!data || kiln_oci_manifest_parse(data, len, &m, err) < 0)
		return kiln_error_prefix(err, "%s: manifest %s", what, manifest_digest);
	set_add(set, m.config.digest);
	for (size_t i = 0; i < m.n_layers; i++)
		set_add(set, m.layers[i].digest);
	kiln_oci_manifest_release(&m);
	return 0;
}

struct index_ctx {
	const struct kiln_record *records;
	size_t n_records;
	const struct digest_set *reachable;
};

/* Is ref "NAME@COMMIT" a recorded snapshot with this manifest? */
static bool ref_recorded(const struct index_ctx *c, const char *digest, const char *ref)
{
	const char *at = strrchr(ref, '@');

	for (size_t i = 0; i < c->n_records; i++) {
		const struct kiln_record *r = &c->records[i];
		if ((size_t)(at - ref) == strlen(r->name) && strncmp(ref, r->name, at - ref) == 0 &&
		    strcmp(at + 1, r->commit) == 0)
			return strcmp(r->manifest, digest) == 0;
	}
	return false;
}

static bool keep_index_entry(void *ctx, const char *digest, const char *ref_name, const char *subject)
{
	const struct index_ctx *c = ctx;
	const char *at = ref_name ? strrchr(ref_name, '@') : NULL;

	if (!set_has(c->reachable, digest))
		return false;
	/* An image ref kiln wrote (NAME@COMMIT) stays only while that
	 * commit's record of that name names this manifest: an identical
	 * image recorded under another commit does not keep a stale ref. */
	if (at && strlen(at + 1) == KILN_GIT_OID_HEX)
		return ref_recorded(c, digest, ref_name);
	/* A referrer goes with its subject. */
	if (subject)
		return set_has(c->reachable, subject);
	return true;
}

/* The layer digest a cache entry names (its first word), or "" when the
 * entry is not one kiln's build wrote. */
static void cache_digest(const char *value, digest_t out)
{
	size_t n = strcspn(value, " \n");

	out[0] = 0;
	if (n == KILN_OCI_DIGEST_LEN) {
		memcpy(out, value, n);
		out[n] = 0;
		if (!kiln_oci_digest_valid(out))
			out[0] = 0;
	}
}

int kiln_gc_run(struct kiln_store *s, const struct kiln_gc_options *opt,
		struct kiln_gc_result *res, struct kiln_error *err)
{
	struct kiln_record *records = NULL;
	size_t n_records = 0, n_blobs = 0, n_keys = 0;
	struct kiln_store_blob *blobs = NULL;
	struct digest_set reachable = { 0 }, kept = { 0 };
	char **keys = NULL;
	struct index_ctx ictx;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	/* 1. The roots, all of them readable, or nothing happens. */
	if (kiln_record_list(s, &records, &n_records, err) < 0) {
		kiln_error_prefix(err, "refusing to collect (a record is unreadable; fix or remove it)");
		goto out;
	}
	res->records = n_records;
	for (size_t i = 0; i < n_records; i++) {
		const struct kiln_record *r = &records[i];
		_cleanup_free_ char *what = kiln_xasprintf("refusing to collect: snapshot %s@%.12s",
							   r->name, r->commit);
		if (reach_manifest(s, r->manifest, what, &reachable, err) < 0)
			goto out;
		if (r->envelope[0])
			set_add(&reachable, r->envelope);
		if (r->referrer[0] && reach_manifest(s, r->referrer, what, &reachable, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < opt->n_extra_roots; i++) {
		const char *d = opt->extra_roots[i];
		_cleanup_free_ char *what = kiln_xasprintf("refusing to collect: deployed snapshot %s", d);
		if (!kiln_store_has_blob(s, d))
			continue;
		if (reach_manifest(s, d, what, &reachable, err) < 0)
			goto out;
	}
	set_seal(&reachable);

	if (kiln_store_blob_list(s, &blobs, &n_blobs, err) < 0)
		goto out;
	/* A store full of images but without a single record is more likely
	 * one kiln did not record (or the wrong store) than garbage. */
	if (n_records == 0 && n_blobs && !opt->allow_no_records) {
		kiln_error_set(err, "refusing to collect: store '%s' has %zu blobs but no snapshot "
			       "record under commits/, so every blob would go (--force to do it)",
			       kiln_store_dir(s), n_blobs);
		goto out;
	}

	/* 2. index.json first, atomically: after it no ref names what goes. */
	ictx = (struct index_ctx){ records, n_records, &reachable };
	if (kiln_store_index_filter(s, keep_index_entry, &ictx, opt->dry_run, &res->index_removed,
				    err) < 0)
		goto out;

	/* 3. What stays and what goes. */
	res->removed = kiln_xcalloc(n_blobs ? n_blobs : 1, sizeof(*res->removed));
	for (size_t i = 0; i < n_blobs; i++) {
		if (set_has(&reachable, blobs[i].digest)) {
			set_add(&kept, blobs[i].digest);
			res->blobs_kept++;
			res->bytes_kept += blobs[i].size;
		} else {
			memcpy(res->removed[res->blobs_removed++], blobs[i].digest, sizeof(digest_t));
			res->bytes_removed += blobs[i].size;
		}
	}
	set_seal(&kept);

	/* 4. Cache entries whose layer will not be in the store: a build
	 * would find them stale anyway. */
	if (kiln_store_cache_list(s, &keys, &n_keys, err) < 0)
		goto out;
	for (size_t i = 0; i < n_keys; i++) {
		struct kiln_error miss = { 0 };
		_cleanup_free_ char *value = kiln_store_cache_get(s, keys[i], &miss);
		digest_t layer;
		if (!value && kiln_error_isset(&miss)) {
			if (err)
				*err = miss;
			goto out;
		}
		if (!value)
			continue;
		cache_digest(value, layer);
		if (!layer[0] || set_has(&kept, layer))
			continue;
		if (!opt->dry_run && kiln_store_cache_remove(s, keys[i], err) < 0)
			goto out;
		res->cache_removed++;
	}

	/* 5. The blobs. */
	for (size_t i = 0; i < res->blobs_removed && !opt->dry_run; i++)
		if (kiln_store_blob_remove(s, res->removed[i], err) < 0)
			goto out;
	if (!opt->dry_run && (res->blobs_removed || res->cache_removed) && kiln_store_sync(s, err) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; i < n_keys; i++)
		free(keys[i]);
	free(keys);
	free(blobs);
	free(reachable.d);
	free(kept.d);
	kiln_record_list_free(records, n_records);
	if (rc < 0)
		kiln_gc_result_release(res);
	return rc;
}

void kiln_gc_result_release(struct kiln_gc_result *res)
{
	free(res->removed);
	memset(res, 0, sizeof(*res));
}
