/* test_gc.c - kiln gc on a hand-made store: two snapshots sharing a layer,
 * each with a signature referrer; nothing goes while both are recorded;
 * dropping one record frees exactly its own blobs, its index entries and
 * its cache entry; dry runs delete nothing; an unreadable record or a
 * damaged manifest stops gc before it deletes anything; what is not kiln's
 * (odd files in blobs/, foreign cache values) is left alone. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "gc.h"
#include "oci.h"
#include "record.h"
#include "sign.h"
#include "store.h"
#include "tap.h"
#include "util.h"

static char top[] = "/tmp/kiln-test-gc.XXXXXX";
static struct kiln_key *key;

struct snap {
	const char *name, *commit;
	char layer_own[KILN_OCI_DIGEST_LEN + 1], config[KILN_OCI_DIGEST_LEN + 1];
	char manifest[KILN_OCI_DIGEST_LEN + 1], envelope[KILN_OCI_DIGEST_LEN + 1];
	char referrer[KILN_OCI_DIGEST_LEN + 1];
};

static char shared_layer[KILN_OCI_DIGEST_LEN + 1], empty_blob[KILN_OCI_DIGEST_LEN + 1];

static int put(struct kiln_store *s, const char *text, char digest[KILN_OCI_DIGEST_LEN + 1])
{
	struct kiln_error err = { 0 };
	int rc = kiln_store_put_blob(s, text, strlen(text), digest, &err);
	if (rc < 0)
		printf("# put: %s\n", err.message);
	return rc;
}

static int cache_put(struct kiln_store *s, const char *key_seed, const char *layer)
{
	struct kiln_error err = { 0 };
	char k[65];
	_cleanup_free_ char *value = kiln_xasprintf("%s sha256:%064d 10 %s\n", layer, 1, KILN_OCI_LAYER_GZIP);
	memset(k, key_seed[0], 64);
	k[64] = 0;
	return kiln_store_cache_put(s, k, value, &err);
}

/* A snapshot: its own layer, the shared one, a config, a manifest, an
 * envelope and a referrer, tagged and recorded (signed). */
static int make_snap(struct kiln_store *s, struct snap *sn)
{
	struct kiln_error err = { 0 };
	struct kiln_oci_descriptor cfg = { .media_type = KILN_OCI_CONFIG }, layers[2];
	struct kiln_oci_descriptor env = { .media_type = "application/vnd.dsse.envelope.v1+json" };
	struct kiln_oci_descriptor subject = { .media_type = KILN_OCI_MANIFEST };
	_cleanup_free_ char *own = kiln_xasprintf("layer of %s", sn->commit);
	_cleanup_free_ char *config = kiln_xasprintf("{\"config of\":\"%s\"}", sn->commit);
	_cleanup_free_ char *envelope = kiln_xasprintf("{\"envelope of\":\"%s\"}", sn->commit);
	_cleanup_free_ char *manifest = NULL, *referrer = NULL, *ref = NULL;
	struct kiln_record r = { 0 };

	if (put(s, own, sn->layer_own) < 0 || put(s, config, sn->config) < 0 ||
	    put(s, envelope, sn->envelope) < 0 || put(s, "{}", empty_blob) < 0)
		return -1;
	memcpy(cfg.digest, sn->config, sizeof(cfg.digest));
	cfg.size = strlen(config);
	layers[0] = (struct kiln_oci_descriptor){ .media_type = KILN_OCI_LAYER_GZIP, .size = 12 };
	memcpy(layers[0].digest, shared_layer, sizeof(layers[0].digest));
	layers[1] = (struct kiln_oci_descriptor){ .media_type = KILN_OCI_LAYER_GZIP, .size = strlen(own) };
	memcpy(layers[1].digest, sn->layer_own, sizeof(layers[1].digest));
	manifest = kiln_oci_manifest_json(&cfg, layers, 2, NULL, NULL, 0);
	if (put(s, manifest, sn->manifest) < 0)
		return -1;
	memcpy(env.digest, sn->envelope, sizeof(env.digest));
	env.size = strlen(envelope);
	memcpy(subject.digest, sn->manifest, sizeof(subject.digest));
	subject.size = strlen(manifest);
	referrer = kiln_oci_referrer_json(env.media_type, &env, &subject);
	if (put(s, referrer, sn->referrer) < 0)
		return -1;
	ref = kiln_xasprintf("%s@%s", sn->name, sn->commit);
	if (kiln_store_tag(s, sn->manifest, strlen(manifest), ref, sn->commit, &err) < 0 ||
	    kiln_store_add_referrer(s, sn->referrer, strlen(referrer), env.media_type, sn->manifest,
				    &err) < 0) {
		printf("# tag: %s\n", err.message);
		return -1;
	}
	r.name = (char *)sn->name;
	snprintf(r.commit, sizeof(r.commit), "%s", sn->commit);
	memcpy(r.manifest, sn->manifest, sizeof(r.manifest));
	r.size = 100;
	snprintf(r.lock, sizeof(r.lock), "sha256:%064d", 7);
	memcpy(r.envelope, sn->envelope, sizeof(r.envelope));
	memcpy(r.referrer, sn->referrer, sizeof(r.referrer));
	r.kiln_version = "0.0.0";
	r.build_time = "2026-01-01T00:00:00Z";
	if (kiln_record_write(s, &r, key, &err) < 0) {
		printf("# record: %s\n", err.message);
		return -1;
	}
	return 0;
}

static struct kiln_store *store;
static struct snap a = { .name = "app", .commit = "1111111111111111111111111111111111111111" };
static struct snap b = { .name = "app", .commit = "2222222222222222222222222222222222222222" };

static bool has(const char *digest)
{
	return kiln_store_has_blob(store, digest);
}

static size_t count_blobs(void)
{
	struct kiln_error err = { 0 };
	struct kiln_store_blob *list;
	size_t n;
	if (kiln_store_blob_list(store, &list, &n, &err) < 0)
		return (size_t)-1;
	free(list);
	return n;
}

static char *index_text(void)
{
	_cleanup_free_ char *path = kiln_path_join(top, "store/index.json");
	return kiln_file_read(path, 1 << 20, NULL, NULL);
}

TEST(setup)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *dir = NULL;

	CHECK(mkdtemp(top) != NULL);
	dir = kiln_path_join(top, "store");
	store = kiln_store_open(dir, true, &err);
	CHECK(store != NULL);
	key = kiln_sign_generate(&err);
	CHECK(key != NULL);
	CHECK(put(store, "shared layer", shared_layer) == 0);
	CHECK(make_snap(store, &a) == 0);
	CHECK(make_snap(store, &b) == 0);
	CHECK(cache_put(store, "a", a.layer_own) == 0);
	CHECK(cache_put(store, "b", b.layer_own) == 0);
	CHECK(cache_put(store, "c", shared_layer) == 0);
	/* Not kiln's to judge: a foreign cache value and an odd blobs/ file. */
	{
		char k[65];
		memset(k, 'd', 64);
		k[64] = 0;
		CHECK(kiln_store_cache_put(store, k, "something else\n", &err) == 0);
		_cleanup_free_ char *odd = kiln_path_join(top, "store/blobs/sha256/README");
		CHECK(kiln_file_write_atomic(odd, "x", 1, 0644, &err) == 0);
	}
	CHECK(count_blobs() == 12); /* shared, empty, and 5 of each snapshot */
}

TEST(everything_recorded_nothing_goes)
{
	struct kiln_gc_options opt = { 0 };
	struct kiln_gc_result res;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *before = index_text(), *after = NULL;

	CHECK(kiln_gc_run(store, &opt, &res, &err) == 0);
	CHECK(res.records == 2);
	CHECK(res.blobs_removed == 0 && res.bytes_removed == 0);
	CHECK(res.index_removed == 0 && res.cache_removed == 0);
	CHECK(res.blobs_kept == 12);
	kiln_gc_result_release(&res);
	after = index_text();
	CHECK_STR(after, before);
}

TEST(dry_run_deletes_nothing)
{
	struct kiln_gc_options opt = { .dry_run = true };
	struct kiln_gc_result res;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *path = kiln_xasprintf("%s/store/commits/%s/app.json", top, b.commit);
	_cleanup_free_ char *saved = kiln_file_read(path, 1 << 20, NULL, &err);
	_cleanup_free_ char *before = index_text(), *after = NULL;

	CHECK(saved && unlink(path) == 0);
	CHECK(kiln_gc_run(store, &opt, &res, &err) == 0);
	CHECK(res.records == 1);
	CHECK(res.blobs_removed == 5);
	CHECK(res.index_removed == 2);
	CHECK(res.cache_removed == 1);
	kiln_gc_result_release(&res);
	CHECK(count_blobs() == 12);
	after = index_text();
	CHECK_STR(after, before);
	CHECK(kiln_file_write_atomic(path, saved, strlen(saved), 0644, &err) == 0);
}

TEST(corrupt_record_stops_gc)
{
	struct kiln_gc_options opt = { 0 };
	struct kiln_gc_result res;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *path = kiln_xasprintf("%s/store/commits/%s/app.json", top, a.commit);
	_cleanup_free_ char *saved = kiln_file_read(path, 1 << 20, NULL, &err);
	_cleanup_free_ char *bpath = kiln_xasprintf("%s/store/commits/%s/app.json", top, b.commit);
	_cleanup_free_ char *bsaved = kiln_file_read(bpath, 1 << 20, NULL, &err);

	/* b's record gone, a's damaged: gc must not take b's blobs either. */
	CHECK(saved && bsaved && unlink(bpath) == 0);
	CHECK(kiln_file_write_atomic(path, "{\"x\":1}\n", 8, 0644, &err) == 0);
	CHECK(kiln_gc_run(store, &opt, &res, &err) == -1);
	CHECK_CONTAINS(err.message, path);
	CHECK(count_blobs() == 12);
	CHECK(kiln_file_write_atomic(path, saved, strlen(saved), 0644, &err) == 0);

	/* A damaged recorded manifest: exit 3, nothing deleted. */
	{
		_cleanup_free_ char *mpath = kiln_store_blob_path(store, a.manifest);
		_cleanup_free_ char *m = kiln_file_read(mpath, 1 << 20, NULL, &err);
		_cleanup_free_ char *bad = kiln_xstrdup(m);
		bad[0] = '[';
		CHECK(kiln_file_write_atomic(mpath, bad, strlen(bad), 0644, &err) == 0);
		kiln_error_clear(&err);
		CHECK(kiln_gc_run(store, &opt, &res, &err) == -1);
		CHECK(err.code == KILN_EXIT_VERIFY);
		CHECK_CONTAINS(err.message, a.manifest);
		CHECK(count_blobs() == 12);
		CHECK(kiln_file_write_atomic(mpath, m, strlen(m), 0644, &err) == 0);
	}
	CHECK(kiln_file_write_atomic(bpath, bsaved, strlen(bsaved), 0644, &err) == 0);
}

TEST(dropping_a_record_frees_exactly_its_blobs)
{
	struct kiln_gc_options opt = { 0 };
	struct kiln_gc_result res;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *path = kiln_xasprintf("%s/store/commits/%s/app.json", top, b.commit);
	_cleanup_free_ char *idx = NULL, *ref_b = kiln_xasprintf("app@%s", b.commit);
	_cleanup_free_ char *cache_b = NULL, *cache_d = NULL;
	char k[65];

	CHECK(unlink(path) == 0);
	CHECK(kiln_gc_run(store, &opt, &res, &err) == 0);
	CHECK(res.blobs_removed == 5 && res.index_removed == 2 && res.cache_removed == 1);
	CHECK(res.blobs_kept == 7);
	kiln_gc_result_release(&res);
	CHECK(!has(b.manifest) && !has(b.config) && !has(b.layer_own) && !has(b.envelope) &&
	      !has(b.referrer));
	CHECK(has(a.manifest) && has(a.config) && has(a.layer_own) && has(a.envelope) &&
	      has(a.referrer) && has(shared_layer) && has(empty_blob));
	idx = index_text();
	CHECK(idx && !strstr(idx, b.manifest) && !strstr(idx, b.referrer) && !strstr(idx, ref_b));
	CHECK(idx && strstr(idx, a.manifest) && strstr(idx, a.referrer));
	memset(k, 'b', 64);
	k[64] = 0;
	cache_b = kiln_store_cache_get(store, k, &err);
	CHECK(cache_b == NULL);
	memset(k, 'd', 64);
	cache_d = kiln_store_cache_get(store, k, &err);
	CHECK(cache_d != NULL); /* not a layer entry: kept */
	{
		_cleanup_free_ char *odd = kiln_path_join(top, "store/blobs/sha256/README");
		struct stat st;
		CHECK(stat(odd, &st) == 0);
	}
	/* And again: nothing more. */
	CHECK(kiln_gc_run(store, &opt, &res, &err) == 0);
	CHECK(res.blobs_removed == 0 && res.index_removed == 0 && res.cache_removed == 0);
	kiln_gc_result_release(&res);
}

TEST(a_stale_ref_of_a_recorded_manifest_goes)
{
	struct kiln_gc_options opt = { 0 };
	struct kiln_gc_result res;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *idx = NULL;
	const char *gone = "3333333333333333333333333333333333333333";
	_cleanup_free_ char *ref = kiln_xasprintf("app@%s", gone);

	/* The same image under an unrecorded commit: the ref goes, the blob stays. */
	CHECK(kiln_store_tag(store, a.manifest, 10, ref, gone, &err) == 0);
	CHECK(kiln_gc_run(store, &opt, &res, &err) == 0);
	CHECK(res.index_removed == 1 && res.blobs_removed == 0);
	kiln_gc_result_release(&res);
	idx = index_text();
	CHECK(idx && !strstr(idx, ref) && strstr(idx, a.manifest));
}

TEST(no_records_at_all_needs_force)
{
	struct kiln_gc_options opt = { 0 };
	struct kiln_gc_result res;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *path = kiln_xasprintf("%s/store/commits/%s/app.json", top, a.commit);

	CHECK(unlink(path) == 0);
	CHECK(kiln_gc_run(store, &opt, &res, &err) == -1);
	CHECK_CONTAINS(err.message, "no snapshot record");
	CHECK(count_blobs() == 7);
	opt.allow_no_records = true;
	CHECK(kiln_gc_run(store, &opt, &res, &err) == 0);
	CHECK(res.blobs_removed == 7);
	kiln_gc_result_release(&res);
	CHECK(count_blobs() == 0);
}

int main(void)
{
	RUN(setup);
	RUN(everything_recorded_nothing_goes);
	RUN(dry_run_deletes_nothing);
	RUN(corrupt_record_stops_gc);
	RUN(dropping_a_record_frees_exactly_its_blobs);
	RUN(a_stale_ref_of_a_recorded_manifest_goes);
	RUN(no_records_at_all_needs_force);
	kiln_store_free(store);
	kiln_sign_key_free(key);
	{
		_cleanup_free_ char *cmd = kiln_xasprintf("rm -rf '%s'", top);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", top);
	}
	return tap_done();
}
