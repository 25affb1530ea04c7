/* base.h - what an image is built on: the `base:` of a manifest
 * (docs/manifest.md, base; docs/building.md, Bases).
 *
 * A base is an image whose layers go, unchanged (same blobs, same
 * diff_ids), at the bottom of the image being built, whose config the
 * manifest's `config:` overrides, and whose dpkg database and accounts the
 * build's own are merged into.  It is either
 *   - another manifest of the same repository, built at the same commit
 *     (kiln_build_run does that, recursively: this module gives it the
 *     path rules, the cycle check and the depth limit), then read back
 *     from the store (kiln_base_load_store); or
 *   - an image of an OCI image layout directory, named by its image
 *     manifest digest (kiln_base_load_oci): every blob is read from
 *     blobs/sha256/ beneath the layout (no symlink followed) and checked
 *     against its digest and size before anything is used; layers must be
 *     tar streams of a type kiln reads.  Nothing is written anywhere here:
 *     the caller stores the verified blobs with the image.
 */
#ifndef KILN_BASE_H
#define KILN_BASE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "manifest.h"
#include "oci.h"
#include "util.h"

struct kiln_store;

/* How many manifests a chain of bases may hold (a → b → … ), the top
 * manifest included. */
#define KILN_BASE_MAX_DEPTH 8

/* The manifests being built, innermost first: a base that is already in
 * the chain is a cycle. */
struct kiln_base_chain {
	const char *manifest_rel;             /* relative to the work tree top */
	const struct kiln_base_chain *below;  /* the manifest that named this one as its base */
};

enum kiln_base_kind { KILN_BASE_SCRATCH, KILN_BASE_MANIFEST, KILN_BASE_OCI };

/* What kind of base spec (the value of base:; NULL is scratch) is. */
enum kiln_base_kind kiln_base_kind_of(const char *spec);

/* The path of a manifest base (or of files[].from, key names which in
 * messages: "base", "files[2].from") relative to the work tree top (malloc'd),
 * from the base as written (relative to manifest_dir_rel, "" at the top);
 * "." components dropped.  Refuses (err naming where) a path with ".."
 * components or an absolute one, a chain that would loop (naming every
 * manifest of the loop) and one deeper than KILN_BASE_MAX_DEPTH. */
char *kiln_base_manifest_path(const char *where, const char *key, const char *manifest_dir_rel, const char *spec,
			      const struct kiln_base_chain *chain, struct kiln_error *err);

/* Split "oci:PATH@sha256:HEX": *path (malloc'd) and digest. */
int kiln_base_parse_oci(const char *where, const char *spec, char **path,
			char digest[KILN_OCI_DIGEST_LEN + 1], struct kiln_error *err);

struct kiln_base {
	enum kiln_base_kind kind;
	char *label;                          /* how messages name it: "manifests/base.yaml (b@1a2b…)", "oci:dir" */
	char digest[KILN_OCI_DIGEST_LEN + 1]; /* its image manifest */
	struct kiln_oci_manifest manifest;    /* its layers */
	char **diff_ids; size_t n_diff_ids;   /* from its config, one per layer */
	char *config; size_t config_len;      /* its config JSON */
	/* OCI: the verified layer blobs, one per layer, for the caller to
	 * store with the image; empty for a manifest base (already stored). */
	struct kiln_buf *blobs;
	/* Its /var/lib/dpkg/status, /etc/passwd, /etc/group, /etc/shadow as
	 * its layers leave them; NULL when it has none. */
	char *dpkg_status; size_t dpkg_status_len;
	char *passwd, *group, *shadow;
};

/* The image manifest_digest of store s (a snapshot kiln built). */
int kiln_base_load_store(const struct kiln_store *s, const char *label, const char *manifest_digest,
			 struct kiln_base *out, struct kiln_error *err);

/* The image `digest` of the OCI layout directory layout_dir (absolute). */
int kiln_base_load_oci(const char *layout_dir, const char *label, const char *digest, struct kiln_base *out,
		       struct kiln_error *err);

void kiln_base_release(struct kiln_base *b);

/* The image config of a build on base (NULL: scratch): fills c's
 * user, workdir, stop_signal, env, entrypoint, cmd, exposed ports,
 * volumes and labels, every string malloc'd (kiln_base_config_release).
 * The rules (docs/manifest.md, base): env and labels merged by key (the
 * base's order, then new keys in the manifest's order; a key both have
 * takes the manifest's value), PATH the default when neither sets it;
 * entrypoint, cmd, user, workdir and stop_signal replaced when given
 * (an entrypoint given without cmd drops the base's cmd, as Docker
 * does); exposed ports and volumes unioned (the base's first). */
int kiln_base_config(const struct kiln_base *base, const struct kiln_image_config *ic, const char *default_path,
		     struct kiln_oci_config *c, struct kiln_error *err);
void kiln_base_config_release(struct kiln_oci_config *c);

/* The dpkg status of base + ours (dpkg.h's text of this build's
 * packages), paragraphs sorted by package name then architecture.  A
 * package both have must have the same version (it is then listed once,
 * as this build unpacked it); another version is an error naming it. */
char *kiln_base_merge_status(const struct kiln_base *base, const char *ours, struct kiln_error *err);

/* passwd, group or shadow text (which names the file): the base's lines,
 * then this build's lines for names the base does not have.  A name both
 * have with different passwd or group lines is an error naming it,
 * except kiln's own root, nobody and nogroup, which the base's keep. */
int kiln_base_merge_accounts(const char *which, const char *base_text, const char *ours, struct kiln_buf *out,
			     struct kiln_error *err);

#endif
