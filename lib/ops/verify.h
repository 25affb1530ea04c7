/* verify.h - `kiln verify`: is this snapshot what its signer built?
 *
 * Orchestration over record, dsse, provenance and store (docs/signing.md):
 *   1. the record commits/<commit>/<name>.json parses, is canonical, and a
 *      trusted key signed it;
 *   2. index.json lists NAME@COMMIT, naming the record's image;
 *   3. the DSSE envelope blob verifies under a trusted key, and its
 *      statement's subject, name and gitCommit are the record's;
 *   4. the referrer manifest attaches exactly that envelope to that image;
 *   5. every blob the snapshot reaches is re-hashed (manifest, config,
 *      each layer, envelope, referrer, empty config), sizes checked;
 *   6. when the git repository has the commit, the lock file there hashes
 *      to the record's lock digest.
 * The first failure stops it with a message naming the object; failures
 * of signatures or digests are exit 3.
 */
#ifndef KILN_VERIFY_H
#define KILN_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "gitrepo.h"
#include "oci.h"
#include "record.h"
#include "sign.h"
#include "store.h"

struct kiln_verify_result {
	struct kiln_record record;
	const struct kiln_key *signer;   /* in the keyring given */
	char *statement;                 /* the verified payload */
	size_t n_packages;
	size_t n_blobs;
	uint64_t bytes;                  /* bytes re-hashed */
	bool lock_checked;
	char *builder_version;
};


/* Verify the snapshot text names (NAME@REV, NAME, @REV with default_name,
 * or sha256:DIGEST: then whichever record of that image verifies, signed
 * ones first).  git may be NULL for a digest.
 * KILN_VERIFY_SKIP_LAYERS: check everything but the layer blobs' bytes
 * (kiln audit, which rebuilds the layers and compares their digests, so
 * re-hashing the stored copies would only repeat work; `kiln verify` is
 * what checks the store's bytes). */
#define KILN_VERIFY_SKIP_LAYERS 1u
int kiln_verify_snapshot(struct kiln_git *git, const struct kiln_store *store, const char *text,
			 const char *default_name, const struct kiln_sign_keyring *ring, unsigned flags,
			 struct kiln_verify_result *res, struct kiln_error *err);
void kiln_verify_result_release(struct kiln_verify_result *res);

#endif
