/* store.h - the snapshot store: an OCI image layout (DESIGN.md §5).
 *
 * snapshots/ is itself a valid OCI image layout (oci-layout, index.json,
 * blobs/sha256/…), so skopeo, umoci and podman read it directly.  Every
 * write is atomic: blobs are written under tmp/, fsynced and renamed into
 * blobs/sha256/ only when their digest is checked, so a killed build never
 * leaves a partial blob visible; index.json is replaced whole.  A writer
 * holds an exclusive lock on the store for as long as it is open.
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "oci.h"

struct kiln_store;

/* Open (creating when writable) the store at dir.  A writable store waits
 * for, then holds, an exclusive lock on dir/.lock. */
struct kiln_store *kiln_store_open(const char *dir, bool writable, struct kiln_error *err);
void kiln_store_close(struct kiln_store *s);
const char *kiln_store_dir(const struct kiln_store *s);

/* Add bytes as a blob; digest receives "sha256:…".  Existing blobs are kept. */
int kiln_store_put_blob(struct kiln_store *s, const void *data, size_t len,
			char digest[KILN_OCI_DIGEST_LEN + 1], struct kiln_error *err);
bool kiln_store_has_blob(const struct kiln_store *s, const char *digest);
/* blobs/sha256/<hex> under the store (malloc'd). */
char *kiln_store_blob_path(const struct kiln_store *s, const char *digest);
/* Read a blob and check that its bytes hash to its name. */
char *kiln_store_read_blob(const struct kiln_store *s, const char *digest, size_t max, size_t *len,
			   struct kiln_error *err);

/* Point index.json at a manifest under ref_name (NAME@COMMIT), replacing an
 * earlier manifest of the same ref name. */
int kiln_store_tag(struct kiln_store *s, const char *manifest_digest, uint64_t size,
		   const char *ref_name, const char *revision, struct kiln_error *err);
/* List an OCI 1.1 referrer manifest (one whose "subject" is another
 * manifest: kiln's signature) in index.json, without a ref name, with its
 * artifactType and the annotation KILN_STORE_SUBJECT_ANNOTATION naming the
 * subject, so tools reading the layout find it.  Listing it twice is a no-op. */
#define KILN_STORE_SUBJECT_ANNOTATION "dev.kiln.subject"
int kiln_store_add_referrer(struct kiln_store *s, const char *manifest_digest, uint64_t size,
			    const char *artifact_type, const char *subject_digest,
			    struct kiln_error *err);
/* The manifest digest index.json gives for ref_name, or NULL (no error) when none. */
char *kiln_store_lookup(const struct kiln_store *s, const char *ref_name, struct kiln_error *err);

/* Build cache: small text values under cache/<key>.  get returns NULL
 * (and no error) on a miss. */
char *kiln_store_cache_get(const struct kiln_store *s, const char *key, struct kiln_error *err);
int kiln_store_cache_put(struct kiln_store *s, const char *key, const char *value,
			 struct kiln_error *err);

/* The store to use: --store, else $KILN_STORE, else snapshots/ at the top of
 * the git work tree (workdir). malloc'd. */
char *kiln_store_default_dir(const char *option, const char *workdir);

#endif
