#include "verify.h"

#include <jansson.h>
#include <string.h>

#include "dsse.h"
#include "fsutil.h"
#include "hash.h"
#include "lock.h"
#include "provenance.h"
#include "util.h"

#define JSON_BLOB_MAX (16u << 20)

static int fail(struct kiln_error *err)
{
	return kiln_error_verification(err);
}

/* The record NAME@REV, NAME or @REV names. */
static int find_record(struct kiln_git *git, const struct kiln_store *store, const char *text,
		       const char *default_name, struct kiln_record *out, struct kiln_error *err)
{
	const char *at = strchr(text, '@');
	_cleanup_free_ char *name = NULL;
	char commit[KILN_GIT_OID_HEX + 1];
	int64_t when;
	bool found;

	memset(out, 0, sizeof(*out));
	name = at ? kiln_xstrndup(text, (size_t)(at - text)) : kiln_xstrdup(text);
	if (!*name) {
		free(name);
		name = default_name ? kiln_xstrdup(default_name) : NULL;
		if (!name)
			return kiln_error_set(err, "\"%s\": no snapshot name before '@' and no manifest to take it from", text);
	}
	if (!kiln_record_name_valid(name))
		return kiln_error_set(err, "\"%s\" is not a snapshot name", name);
	if (!git)
		return kiln_error_set(err, "\"%s\": naming a snapshot by revision needs a git repository", text);
	if (kiln_git_resolve(git, at ? at + 1 : "HEAD", commit, &when, err) < 0)
		return -1;
	if (kiln_record_read(store, commit, name, out, &found, err) < 0)
		return -1;
	if (!found)
		return kiln_error_set(err, "no snapshot of %s at %.12s is recorded in %s (build it: kiln build "
				      "--rev %s)", name, commit, kiln_store_dir(store), at ? at + 1 : "HEAD");
	return 0;
}

/* Re-hash a blob file and check its size. */
static int rehash(const struct kiln_store *store, const char *what, const char *digest, uint64_t want_size,
		  struct kiln_verify_result *res, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_store_blob_path(store, digest);
	/* Opened beneath the store, never through a symlink (store.h). */
	_cleanup_close_ int fd = kiln_store_blob_open(store, digest, err);
	char hex[KILN_SHA256_HEX_LEN + 1];
	uint64_t size;

	if (fd < 0 || kiln_sha256_fd(fd, path, hex, &size, err) < 0)
		return kiln_error_prefix(err, "%s %s", what, digest), fail(err);
	res->n_blobs++;
	res->bytes += size;
	if (strcmp(hex, digest + 7) != 0) {
		kiln_error_set(err, "%s %s: content does not match its digest (the bytes hash to sha256:%s)",
			       what, digest, hex);
		return fail(err);
	}
	if (size != want_size) {
		kiln_error_set(err, "%s %s: %llu bytes, but its descriptor says %llu", what, digest,
			       (unsigned long long)size, (unsigned long long)want_size);
		return fail(err);
	}
	return 0;
}

/* Read a small JSON blob, checking its digest. */
static char *read_json_blob(const struct kiln_store *store, const char *what, const char *digest,
			    size_t *len, struct kiln_verify_result *res, struct kiln_error *err)
{
	char *data = kiln_store_read_blob(store, digest, JSON_BLOB_MAX, len, err);

	if (!data) {
		kiln_error_prefix(err, "%s", what);
		fail(err);
		return NULL;
	}
	res->n_blobs++;
	res->bytes += *len;
	return data;
}

static const char *str_at(json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The referrer manifest must attach exactly this envelope to this image. */
static int check_referrer(const struct kiln_store *store, const struct kiln_record *r, size_t envelope_len,
			  uint64_t manifest_size, struct kiln_verify_result *res, struct kiln_error *err)
{
	size_t len;
	_cleanup_free_ char *text = read_json_blob(store, "referrer manifest", r->referrer, &len, res, err);
	json_t *o, *layers, *subject, *config;
	const char *why = NULL;
	json_error_t jerr;

	if (!text)
		return -1;
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	layers = o ? json_object_get(o, "layers") : NULL;
	subject = o ? json_object_get(o, "subject") : NULL;
	config = o ? json_object_get(o, "config") : NULL;
	if (!o)
		why = "not JSON";
	else if (!str_at(o, "artifactType") || strcmp(str_at(o, "artifactType"), KILN_OCI_DSSE) != 0)
		why = "artifactType is not " KILN_OCI_DSSE;
	else if (!str_at(subject, "digest") || strcmp(str_at(subject, "digest"), r->manifest) != 0 ||
		 json_integer_value(json_object_get(subject, "size")) != (json_int_t)manifest_size)
		why = "its subject is not the snapshot's image manifest";
	else if (json_array_size(layers) != 1 || !str_at(json_array_get(layers, 0), "digest") ||
		 strcmp(str_at(json_array_get(layers, 0), "digest"), r->envelope) != 0 ||
		 json_integer_value(json_object_get(json_array_get(layers, 0), "size")) != (json_int_t)envelope_len)
		why = "it does not carry the record's envelope";
	else if (!str_at(config, "digest") || strcmp(str_at(config, "digest"), KILN_OCI_EMPTY_DIGEST) != 0)
		why = "its config is not the empty descriptor";
	json_decref(o);
	if (why) {
		kiln_error_set(err, "referrer manifest %s: %s", r->referrer, why);
		return fail(err);
	}
	return rehash(store, "empty config", KILN_OCI_EMPTY_DIGEST, 2, res, err);
}

/* Count the pkg:deb dependencies of a statement (for the summary). */
static size_t count_packages(const char *statement)
{
	json_t *o = json_loads(statement, 0, NULL);
	json_t *deps = json_object_get(json_object_get(json_object_get(o, "predicate"), "buildDefinition"),
				       "resolvedDependencies");
	size_t n = 0;

	for (size_t i = 0; i < json_array_size(deps); i++) {
		const char *uri = str_at(json_array_get(deps, i), "uri");
		n += uri && kiln_str_has_prefix(uri, "pkg:deb/");
	}
	json_decref(o);
	return n;
}

static int check_lock(struct kiln_git *git, const struct kiln_record *r, const char *manifest_path,
		      struct kiln_verify_result *res, struct kiln_error *err)
{
	_cleanup_free_ char *lock_path = kiln_lock_path_for(manifest_path);
	_cleanup_free_ char *text = NULL;
	char id[KILN_GIT_OID_HEX + 1], hex[KILN_SHA256_HEX_LEN + 1];
	int64_t when;
	size_t len;
	bool found;

	/* A store checked away from its repository (or a shallow clone)
	 * cannot compare the lock: say so in the result, not an error. */
	if (!git || kiln_git_resolve(git, r->commit, id, &when, KILN_ERROR_IGNORE) < 0)
		return 0;
	text = kiln_git_read_file(git, r->commit, lock_path, &len, &found, err);
	if (!text) {
		if (found || kiln_error_isset(err))
			return -1;
		kiln_error_set(err, "%s is not in commit %.12s, but the record names a lock", lock_path, r->commit);
		return fail(err);
	}
	kiln_sha256_hex(text, len, hex);
	if (strcmp(hex, r->lock + 7) != 0) {
		kiln_error_set(err, "%s at %.12s hashes to sha256:%.12s…, the record says %.19s…", lock_path,
			       r->commit, hex, r->lock);
		return fail(err);
	}
	res->lock_checked = true;
	return 0;
}

/* Verify the snapshot whose record is already in res->record. */
static int verify_record(struct kiln_git *git, const struct kiln_store *store,
			 const struct kiln_sign_keyring *ring, unsigned flags, struct kiln_verify_result *res,
			 struct kiln_error *err)
{
	struct kiln_record *r = &res->record;
	struct kiln_provenance_info info = { 0 };
	struct kiln_oci_manifest m = { 0 };
	_cleanup_free_ char *envelope = NULL, *manifest = NULL, *ref = NULL, *indexed = NULL;
	size_t envelope_len, manifest_len, statement_len;
	_cleanup_free_ char *payload_type = NULL;
	uint64_t total;
	int rc = -1;

	/* 1. The record: signed by a trusted key. */
	if (kiln_record_verify(r, ring, &res->signer, err) < 0)
		return -1;
	/* 2. index.json lists the snapshot, as the record says: it is what
	 * skopeo, umoci and podman read, so a snapshot missing there is not
	 * one OCI tools can use (a build killed before updating it). */
	ref = kiln_xasprintf("%s@%s", r->name, r->commit);
	indexed = kiln_store_lookup(store, ref, err);
	if (!indexed && kiln_error_isset(err))
		return -1;
	if (!indexed) {
		kiln_error_set(err, "%s/index.json has no entry for %s (the record's image %s), so OCI tools "
			       "do not find it (a build killed before it updated index.json, or the entry "
			       "removed: kiln build --rev %.12s adds it again)", kiln_store_dir(store), ref,
			       r->manifest, r->commit);
		return fail(err);
	}
	if (strcmp(indexed, r->manifest) != 0) {
		kiln_error_set(err, "index.json names %s for %s, but the signed record says %s (index.json "
			       "edited, or a build killed before it updated index.json: build again)", indexed,
			       ref, r->manifest);
		return fail(err);
	}
	/* 3. The envelope and its statement. */
	envelope = read_json_blob(store, "envelope", r->envelope, &envelope_len, res, err);
	if (!envelope)
		return -1;
	if (kiln_dsse_verify(envelope, envelope_len, ring->keys, ring->n, &res->statement, &statement_len,
			     &payload_type, err) < 0)
		return kiln_error_prefix(err, "envelope %s", r->envelope);
	if (strcmp(payload_type, KILN_DSSE_IN_TOTO) != 0) {
		kiln_error_set(err, "envelope %s: payloadType is %s, not " KILN_DSSE_IN_TOTO, r->envelope,
			       payload_type);
		return fail(err);
	}
	if (kiln_provenance_parse(res->statement, statement_len, &info, err) < 0)
		return kiln_error_prefix(err, "envelope %s", r->envelope);
	if (strcmp(info.subject_digest, r->manifest) != 0 || strcmp(info.commit, r->commit) != 0 ||
	    strcmp(info.subject_name, r->name) != 0) {
		kiln_error_set(err, "the signed statement is about %s@%.12s (%s), not the record's %s@%.12s (%s)",
			       info.subject_name, info.commit, info.subject_digest, r->name, r->commit, r->manifest);
		fail(err);
		goto out;
	}
	res->n_packages = count_packages(res->statement);
	res->builder_version = kiln_xstrdup(info.builder_version);
	/* 4-5. The image and every blob it reaches. */
	manifest = read_json_blob(store, "image manifest", r->manifest, &manifest_len, res, err);
	if (!manifest)
		goto out;
	if (check_referrer(store, r, envelope_len, manifest_len, res, err) < 0)
		goto out;
	if (kiln_oci_manifest_parse(manifest, manifest_len, &m, err) < 0) {
		kiln_error_prefix(err, "image manifest %s", r->manifest);
		fail(err);
		goto out;
	}
	if (rehash(store, "config", m.config.digest, m.config.size, res, err) < 0)
		goto out;
	total = manifest_len + m.config.size;
	for (size_t i = 0; i < m.n_layers; i++) {
		char what[64];
		snprintf(what, sizeof(what), "layer %zu/%zu", i + 1, m.n_layers);
		if (!(flags & KILN_VERIFY_SKIP_LAYERS) &&
		    rehash(store, what, m.layers[i].digest, m.layers[i].size, res, err) < 0)
			goto out;
		total += m.layers[i].size;
	}
	if (total != r->size) {
		kiln_error_set(err, "the image is %llu bytes, the record says %llu", (unsigned long long)total,
			       (unsigned long long)r->size);
		fail(err);
		goto out;
	}
	/* 6. The lock the statement was made from. */
	if (check_lock(git, r, info.manifest_path, res, err) < 0)
		goto out;
	rc = 0;
out:
	kiln_oci_manifest_release(&m);
	kiln_provenance_info_release(&info);
	return rc;
}

/* Several records may name one image (a forged unsigned one among them):
 * the image verifies when one of them does, signed ones tried first. */
static int verify_by_digest(struct kiln_git *git, const struct kiln_store *store, const char *digest,
			    const struct kiln_sign_keyring *ring, unsigned flags, struct kiln_verify_result *res,
			    struct kiln_error *err)
{
	struct kiln_record *all = NULL;
	size_t n = 0, skipped = 0, tried = 0;
	struct kiln_error first = { 0 };
	int rc = -1;

	if (kiln_record_scan(store, &all, &n, &skipped, err) < 0)
		return -1;
	for (int pass = 0; pass < 2 && rc < 0; pass++) {
		for (size_t i = 0; i < n && rc < 0; i++) {
			bool is_signed = all[i].n_sigs > 0;
			struct kiln_error one = { 0 };
			if (strcmp(all[i].manifest, digest) != 0 || is_signed != (pass == 0))
				continue;
			tried++;
			kiln_verify_result_release(res);
			res->record = all[i];
			memset(&all[i], 0, sizeof(all[i]));
			if (verify_record(git, store, ring, flags, res, &one) == 0)
				rc = 0;
			else if (!kiln_error_isset(&first))
				first = one;
		}
	}
	kiln_record_list_free(all, n);
	if (rc == 0)
		return 0;
	if (tried)
		*err = first;
	else
		kiln_error_set(err, "no snapshot record names the image %s in %s%s", digest, kiln_store_dir(store),
			       skipped ? " (some records could not be read)" : "");
	return -1;
}

int kiln_verify_snapshot(struct kiln_git *git, const struct kiln_store *store, const char *text,
			 const char *default_name, const struct kiln_sign_keyring *ring, unsigned flags,
			 struct kiln_verify_result *res, struct kiln_error *err)
{
	memset(res, 0, sizeof(*res));
	if (kiln_str_has_prefix(text, "sha256:")) {
		if (!kiln_oci_digest_valid(text))
			return kiln_error_set(err, "\"%s\" is not sha256: and 64 hex digits", text);
		return verify_by_digest(git, store, text, ring, flags, res, err);
	}
	if (find_record(git, store, text, default_name, &res->record, err) < 0)
		return -1;
	return verify_record(git, store, ring, flags, res, err);
}

void kiln_verify_result_release(struct kiln_verify_result *res)
{
	kiln_record_release(&res->record);
	free(res->statement);
	free(res->builder_version);
	memset(res, 0, sizeof(*res));
}
