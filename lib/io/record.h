/* record.h - snapshot records: which snapshot each commit got (docs/signing.md).
 *
 * One file per snapshot, STORE/commits/<commit-id>/<name>.json, written by
 * `kiln build` after the image and its signature are in the store:
 *
 *   {"build_time":"2026-11-27T20:30:00Z","commit":"<40 hex>",
 *    "envelope":"sha256:…","kiln_version":"0.4.0","lock":"sha256:…",
 *    "manifest":"sha256:…","name":"hello-web","referrer":"sha256:…",
 *    "schema":"kiln.record.v1",
 *    "signatures":[{"keyid":"sha256:…","sig":"BASE64"}],"size":12345}
 *
 * compact, keys sorted, ASCII, one trailing newline.  "manifest" is the
 * image manifest digest, "size" the bytes of manifest + config + layers,
 * "lock" the sha256 of the lock file's bytes at the commit, "envelope" the
 * DSSE envelope blob and "referrer" the OCI 1.1 referrer manifest carrying
 * it.  An unsigned (`--no-sign`) build's record has no envelope, referrer
 * or signatures.
 *
 * The record is signed like a DSSE payload: its one signature's sig is
 * Ed25519 over PAE(KILN_RECORD_TYPE, BODY), BODY being the record without
 * its "signatures" member, compact with sorted keys, and its keyid must be
 * the id of the key that verifies it (so the signer kiln shows is real).  So no byte of a record
 * can change unnoticed, and `openssl pkeyutl -verify -rawin` checks it.
 */
#ifndef KILN_RECORD_H
#define KILN_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "gitrepo.h"
#include "oci.h"
#include "sign.h"
#include "store.h"

#define KILN_RECORD_TYPE "application/vnd.kiln.record.v1+json"
#define KILN_RECORD_SCHEMA "kiln.record.v1"
#define KILN_RECORD_MAX (64u << 10)

struct kiln_record {
	char *name;
	char commit[KILN_GIT_OID_HEX + 1];
	char manifest[KILN_OCI_DIGEST_LEN + 1];
	uint64_t size;
	char lock[KILN_OCI_DIGEST_LEN + 1];
	char envelope[KILN_OCI_DIGEST_LEN + 1];  /* "" when unsigned */
	char referrer[KILN_OCI_DIGEST_LEN + 1];  /* "" when unsigned */
	char keyid[KILN_KEYID_LEN + 1];          /* first signature's keyid hint; "" when unsigned */
	char *kiln_version;
	char *build_time;                        /* RFC 3339, UTC */
	/* Kept from parsing, for verification: the signatures as read. */
	char **sig_keyids, **sigs; size_t n_sigs;
};

/* Is name usable as a snapshot name (and so as a file name)?  The same
 * rule as the manifest's name: [a-z0-9][a-z0-9._-]*, at most 128 bytes. */
bool kiln_record_name_valid(const char *name);

/* STORE/commits/<commit>/<name>.json (malloc'd). */
char *kiln_record_path(const struct kiln_store *s, const char *commit, const char *name);

/* The record's canonical bytes: signed with key when key is not NULL
 * (r->keyid is then filled from key), else unsigned.  malloc'd, ends with
 * a newline. */
char *kiln_record_format(struct kiln_record *r, const struct kiln_key *key, struct kiln_error *err);

/* Write r (signed with key, or unsigned when key is NULL) atomically to its
 * path, creating commits/<commit>/.  The store must be open for writing. */
int kiln_record_write(struct kiln_store *s, struct kiln_record *r, const struct kiln_key *key,
		      struct kiln_error *err);

/* Parse a record strictly: valid JSON without duplicate keys, exactly the
 * known members with their types, digests well formed, name valid, and the
 * bytes exactly the canonical form kiln writes (so a flipped byte is never
 * silently accepted).  where names the file in messages.  Failures are
 * marked as failed verifications (exit 3). */
int kiln_record_parse(const char *where, const char *data, size_t len, struct kiln_record *out,
		      struct kiln_error *err);

/* Read the record of name at commit.  *found is false (and 0 returned)
 * when there is none. */
int kiln_record_read(const struct kiln_store *s, const char *commit, const char *name,
		     struct kiln_record *out, bool *found, struct kiln_error *err);

/* How a record stands against a set of trusted keys: kiln's one trust
 * policy, used by `kiln verify`, `kiln log` and every command that takes a
 * snapshot by name (see snapref.h). */
enum kiln_record_trust {
	KILN_RECORD_SIGNED,         /* a signature verifies under a key of the ring */
	KILN_RECORD_UNTRUSTED,      /* signed, but by no key of the ring */
	KILN_RECORD_UNSIGNED,       /* built with --no-sign */
	KILN_RECORD_BAD_SIGNATURE,  /* names a key of the ring, but does not verify */
};
/* Judge r's signatures under ring (NULL or empty: no key is trusted).  On
 * KILN_RECORD_SIGNED *signer (may be NULL) is the key that verified; any
 * other answer also fills err with the reason, marked as a failed
 * verification (exit 3).  Only the signature over the record's canonical
 * body counts; the keyid beside it is a hint and must name the key that
 * verifies. */
enum kiln_record_trust kiln_record_judge(const struct kiln_record *r, const struct kiln_sign_keyring *ring,
					 const struct kiln_key **signer, struct kiln_error *err);

/* kiln_record_judge as a check: 0 when the record is KILN_RECORD_SIGNED,
 * else -1 (exit 3) with the reason. */
int kiln_record_verify(const struct kiln_record *r, const struct kiln_sign_keyring *ring,
		       const struct kiln_key **signer, struct kiln_error *err);

/* Every record in the store, sorted by commit then name.  A file that does
 * not parse is an error naming it (callers such as gc must not guess). */
int kiln_record_list(const struct kiln_store *s, struct kiln_record **out, size_t *n,
		     struct kiln_error *err);
/* Every record that parses, sorted like kiln_record_list; *skipped counts
 * the files that do not (for lookups that must not stop at one bad file). */
int kiln_record_scan(const struct kiln_store *s, struct kiln_record **out, size_t *n, size_t *skipped,
		     struct kiln_error *err);
/* The records of one commit (possibly none), sorted by name. */
int kiln_record_list_commit(const struct kiln_store *s, const char *commit,
			    struct kiln_record **out, size_t *n, struct kiln_error *err);

void kiln_record_release(struct kiln_record *r);
void kiln_record_list_free(struct kiln_record *list, size_t n);

/* Git notes under refs/notes/kiln: the note of a commit holds one line per
 * snapshot, "NAME MANIFEST-DIGEST signed-by KEYID envelope ENVELOPE-DIGEST"
 * (or "NAME MANIFEST-DIGEST unsigned"), sorted by name.  Adding a record
 * replaces that name's line and keeps the others. */
#define KILN_NOTES_REF "refs/notes/kiln"
char *kiln_record_note_line(const struct kiln_record *r);
int kiln_record_note_add(struct kiln_git *g, const struct kiln_record *r, struct kiln_error *err);

#endif
