/* audit.h - `kiln audit`: rebuild a commit from nothing and compare.
 *
 * Orchestration (docs/signing.md).  For each snapshot recorded at a commit:
 * verify it (signature, statement, every digest), rebuild the commit with
 * the parameters its signed statement declares (manifest, compression,
 * source date) into an empty temporary store, with no build cache and
 * every package re-checked against its sha256, and compare the rebuilt
 * image with the recorded one byte for byte.  On a difference the result
 * names the first differing layer and, inside it, the first differing path.
 */
#ifndef KILN_AUDIT_H
#define KILN_AUDIT_H

#include <stdbool.h>

#include "build.h"
#include "error.h"
#include "oci.h"
#include "sign.h"

struct kiln_audit_options {
	const char *workdir;        /* inside the git work tree */
	const char *store_dir;      /* the recorded store (NULL: default) */
	const char *rev;            /* NULL: HEAD */
	const char *name;           /* only this snapshot name (NULL: every one at the commit) */
	const struct kiln_sign_keyring *ring;
	const char *cache_dir;      /* package cache (NULL: the shared one, files re-hashed) */
	const char *tmp_dir;        /* where the scratch store goes (NULL or "": /tmp) */
	const char *cgroup_parent;  /* of the rebuild's run: steps (NULL: "kiln") */
	const struct kiln_mirror_settings *mirrors; /* for the rebuild (NULL: apt's sources) */
	kiln_progress_fn progress; void *progress_ctx;
};

enum kiln_audit_verdict {
	KILN_AUDIT_IDENTICAL,
	KILN_AUDIT_DIFFERENT,       /* exit 4 */
};

struct kiln_audit_item {
	char *name;
	char commit[KILN_GIT_OID_HEX + 1];
	char recorded[KILN_OCI_DIGEST_LEN + 1];
	char rebuilt[KILN_OCI_DIGEST_LEN + 1];
	enum kiln_audit_verdict verdict;
	bool statement_identical;
	/* When different: where.  layer is 1-based; 0 for the config or manifest. */
	size_t layer, n_layers;
	char *layer_what;           /* "layer 10/10 (files)" or "config" */
	char *path;                 /* first differing path, or NULL */
	char *what;                 /* why, in a few words */
	double seconds;
	/* This snapshot could not be audited: error (exit code error_code: 3
	 * when it does not verify, 1 otherwise).  The verdict is then meaningless. */
	bool failed;
	int error_code;
	char *error;
};

/* Audit every snapshot recorded at rev (or only opt->name).  Returns -1 on
 * errors that stop the whole audit (no such revision, no snapshot recorded:
 * exit 1; the latter with cause KILN_CAUSE_NOT_FOUND, which `kiln verify
 * --range` reports as "none" and goes on); each snapshot's own outcome is in items[]: its verdict, or
 * failed with its error (a snapshot that does not verify: error_code 3). */
int kiln_audit_commit(const struct kiln_audit_options *opt, struct kiln_audit_item **items, size_t *n,
		      struct kiln_error *err);
void kiln_audit_items_free(struct kiln_audit_item *items, size_t n);

#endif
