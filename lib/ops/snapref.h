/* snapref.h - naming a snapshot on the command line (docs/building.md).
 *
 *   NAME@REV      the snapshot of manifest NAME built at git revision REV
 *                 (any revision git understands: HEAD~2, v1.4, a prefix)
 *   NAME          NAME@HEAD
 *   @REV          the default manifest's name at REV
 *   sha256:HEX    an image manifest digest in the store
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

/* Resolve text to a snapshot in store.  default_name fills "@REV" (may be
 * NULL); git may be NULL when text is a digest. */
int kiln_snapref_resolve(struct kiln_git *git, const struct kiln_store *store, const char *text,
			 const char *default_name, struct kiln_snapref *out, struct kiln_error *err);
void kiln_snapref_release(struct kiln_snapref *ref);

#endif
