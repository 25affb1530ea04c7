/* build.h - `kiln build`: one commit of a manifest → an OCI image in the store.
 *
 * Orchestration (docs/building.md): it reads the manifest, its lock and the
 * files it copies from the commit's tree (never the work directory),
 * checks the lock is current, fetches the locked packages, assembles the
 * layers deterministically, and records the image in the store under
 * NAME@COMMIT.  Every layer has a cache key computed from everything that
 * produces it; a key seen before reuses its layer without reading a
 * single package.
 */
#ifndef KILN_BUILD_H
#define KILN_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "gitrepo.h"
#include "http.h"

struct kiln_mirror_settings; /* mirror.h */
struct kiln_base_chain;      /* base.h */
#include "oci.h"
#include "sign.h"

/* Bump when anything that shapes layer bytes changes: every cache key
 * includes it, so old cache entries stop matching. */
#define KILN_FORMAT_VERSION "kiln-layers-2"

/* How many layers packages are spread over (stable buckets by name). */
#define KILN_PACKAGE_BUCKETS 8

struct kiln_build_options {
	const char *manifest_path;  /* as given (relative to the current directory) */
	const char *rev;            /* git revision; NULL: HEAD */
	const char *store_dir;      /* --store or $KILN_STORE; NULL: snapshots/ */
	bool no_cache;
	bool zstd;
	/* Signing (docs/signing.md): the key is key_path (--key or $KILN_KEY), else
	 * .kiln/signing.key at the top of the work tree; a build with no key
	 * fails before any work unless no_sign. */
	const char *key_path;
	bool no_sign;
	/* The package cache (NULL: kiln_cache_dir's default). */
	const char *cache_dir;
	const struct kiln_mirror_settings *mirrors; /* NULL: apt's sources only */
	/* run: steps (stage.h): their scratch directory goes under tmp_dir
	 * (NULL: /tmp), their cgroups under cgroup_parent (NULL: "kiln"). */
	const char *tmp_dir;
	const char *cgroup_parent;
	/* Leave no record or git note (kiln audit's scratch builds). */
	bool no_record;
	/* The image time: source_date_epoch when set (KILN_BUILD_DATE_ENV:
	 * the text of the caller's $SOURCE_DATE_EPOCH, which the command line
	 * passes; NULL or "": the commit time), the given source_date, or the
	 * commit time. */
	enum { KILN_BUILD_DATE_ENV, KILN_BUILD_DATE_GIVEN, KILN_BUILD_DATE_COMMIT } date_mode;
	const char *source_date_epoch;
	int64_t source_date;
	int gzip_level;             /* 0: default (6) */
	kiln_progress_fn progress; void *progress_ctx;
	/* One line per layer as it is decided ("cached", "built"), for the command to show. */
	void (*note)(void *ctx, const char *line);
	void *note_ctx;
	/* base: (lib/ops/base.h), for the build of a base manifest that
	 * kiln_build_run starts itself: the repository (NULL: the manifest's
	 * directory), the manifests that named it (cycle check, depth), and
	 * whether the store's record of NAME@COMMIT, when there is one, is
	 * used as it is instead of building again. */
	const char *repo_dir;
	const struct kiln_base_chain *base_chain;
	bool reuse_record;
};

struct kiln_build_layer_result {
	char *what;                 /* "packages 3/8: libc6 2.36-9+deb12u14, …", "files", … */
	struct kiln_oci_descriptor blob;
	char diff_id[KILN_OCI_DIGEST_LEN + 1];
	bool cached;
};

struct kiln_build_result {
	char *name;
	char commit[KILN_GIT_OID_HEX + 1];
	char manifest_digest[KILN_OCI_DIGEST_LEN + 1];
	char config_digest[KILN_OCI_DIGEST_LEN + 1];
	uint64_t manifest_size;
	char *store_dir;
	struct kiln_build_layer_result *layers; size_t n_layers;
	unsigned packages_downloaded, packages_cached;
	double seconds;
	uint64_t size;              /* manifest + config + layers */
	char *manifest_path;        /* relative to the top of the work tree */
	char lock_digest[KILN_OCI_DIGEST_LEN + 1];
	char *statement;            /* the in-toto statement (signed or not) */
	char envelope_digest[KILN_OCI_DIGEST_LEN + 1]; /* "" when unsigned */
	char referrer_digest[KILN_OCI_DIGEST_LEN + 1];
	uint64_t referrer_size;
	char keyid[KILN_KEYID_LEN + 1];
	char *record_path;          /* NULL with no_record */
	char *warning;              /* something the user should hear (a git note not written) */
};

int kiln_build_run(const struct kiln_build_options *opt, struct kiln_build_result *res,
		   struct kiln_error *err);
void kiln_build_result_release(struct kiln_build_result *res);

#endif
