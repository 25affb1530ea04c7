/* audit.h - `kiln audit`: rebuild a commit from nothing and compare.
 *
 * Orchestration (docs/signing.md).  For each snapshot recorded at a commit:
 * verify it (signature, statement, every digest), rebuild the commit with
 * the parameters its signed statement declares (manifest, compression,
 * source date) into an empty temporary store, with no build cache and
 * every package re-checked against its sha256, and compare the rebuilt
 * image with the recorded one byte for byte.  On a difference the result
 * names the first differing layer and, inside it, the first differing path,
 * and lists every differing path of every layer whose digest differs (up to
 * KILN_AUDIT_MAX_DIFFERENCES; the rest are counted): what a maintainer
 * needs to make a build reproducible (docs/building.md, What still varies).
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

/* Paths listed per audited snapshot; beyond it they are only counted. */
#define KILN_AUDIT_MAX_DIFFERENCES 100

/* One layer whose digest differs. */
struct kiln_audit_layer {
	size_t layer;               /* 1-based */
	char *created_by;           /* the recorded config's history for it ("run: …"), or NULL */
	size_t n_paths;             /* differences found in it, listed or not */
};

/* One difference inside a layer. */
struct kiln_audit_difference {
	size_t layer;               /* 1-based */
	char *path;                 /* NULL: the layer as a whole (same entries, other bytes) */
	char *what;                 /* kiln_imagefs_differences' reason */
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
	/* Every differing layer, in manifest order, and the differences found
	 * in them in that order (the first is layer/path/what above), at most
	 * KILN_AUDIT_MAX_DIFFERENCES; more_differences counts the rest.  Empty
	 * when the difference is not in a layer (config, manifest, provenance). */
	struct kiln_audit_layer *layers;
	size_t n_differing_layers;
	struct kiln_audit_difference *differences;
	size_t n_differences, more_differences;
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
