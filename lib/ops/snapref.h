/* snapref.h - naming a snapshot on the command line (docs/building.md).
 *
 *   NAME@REV      the snapshot of manifest NAME built at git revision REV
 *                 (any revision git understands: HEAD~2, v1.4, a prefix)
 *   NAME          NAME@HEAD
 *   @REV          the default manifest's name at REV
 *   sha256:HEX    an image manifest digest in the store
 *
 * A name is only as good as the record that maps it to an image: anyone
 * who can write the store can edit commits/<commit>/<name>.json.  So a
 * snapshot named by NAME, NAME@REV or @REV resolves only when its record
 * is signed by a key of WORKDIR/.kiln/trusted/ (kiln_record_judge, the
 * policy `kiln verify` applies); an unsigned, untrusted or badly signed
 * record, or none at all, is a failed verification (exit 3) saying why
 * and how to proceed.  A sha256: name is content-addressed: the digest is
 * the identity, no record is needed (docs/signing.md, "Using snapshots").
 */
#ifndef KILN_SNAPREF_H
#define KILN_SNAPREF_H

#include "error.h"
#include "gitrepo.h"
#include "store.h"

struct kiln_snapref {
	char *name;                 /* NULL for a bare digest */
	char commit[KILN_GIT_OID_HEX + 1]; /* "" for a bare digest */
	char *manifest_digest;      /* "sha256:…" */
};

/* Use the record without checking its signature (`--insecure`,
 * KILN_INSECURE=1: stores built with --no-sign).  Without a record, the
 * image index.json names is used then. */
#define KILN_SNAPREF_INSECURE 1u

/* Resolve text to a snapshot in store.  default_name fills "@REV" (may be
 * NULL); git may be NULL when text is a digest.  flags: KILN_SNAPREF_*. */
int kiln_snapref_resolve(struct kiln_git *git, const struct kiln_store *store, const char *text,
			 const char *default_name, unsigned flags, struct kiln_snapref *out,
			 struct kiln_error *err);
void kiln_snapref_release(struct kiln_snapref *ref);

#endif
