/* provenance.h - what went into a snapshot, as a signed statement.
 *
 * An in-toto Statement v1 (https://in-toto.io/Statement/v1) whose subject is
 * the image manifest digest and whose predicate is SLSA provenance v1
 * (https://slsa.dev/provenance/v1):
 *
 *   buildDefinition.buildType            KILN_PROVENANCE_BUILD_TYPE
 *   buildDefinition.externalParameters   manifest path, snapshot name, layer
 *                                        compression, and the source date
 *                                        when SOURCE_DATE_EPOCH set it: all a
 *                                        rebuild needs to give the same bytes
 *   buildDefinition.internalParameters   kiln's layer format version
 *   buildDefinition.resolvedDependencies the git commit ({"gitCommit": id}),
 *                                        the lock file, and every package as
 *                                        pkg:deb/debian/NAME@VERSION?arch=ARCH
 *                                        with its sha256, and the base image
 *                                        ({"name": "base", "uri": …, "digest":
 *                                        {"sha256": …}}) when there is one
 *   runDetails.builder                   id KILN_PROVENANCE_BUILDER, version
 *
 * Nothing in it depends on the machine, the mirror that served the files or
 * the time of the build, so the same commit gives the same statement bytes
 * anywhere (keys sorted, compact): a rebuild can compare statements too.
 * Pure format code: bytes in, structs out.
 */
#ifndef KILN_PROVENANCE_H
#define KILN_PROVENANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define KILN_PROVENANCE_STATEMENT "https://in-toto.io/Statement/v1"
#define KILN_PROVENANCE_PREDICATE "https://slsa.dev/provenance/v1"
#define KILN_PROVENANCE_BUILD_TYPE "https://kiln.dev/build/oci-image/v1"
#define KILN_PROVENANCE_BUILDER "https://kiln.dev/builder/v1"

struct kiln_provenance_package {
	const char *name, *version, *architecture;
	const char *sha256;         /* 64 hex digits */
};

struct kiln_provenance {
	const char *name;           /* the snapshot's name */
	const char *image_digest;   /* "sha256:…" of the image manifest (the subject) */
	const char *commit;         /* 40 hex digits */
	const char *manifest_path;  /* the manifest, relative to the top of the work tree */
	const char *lock_path;      /* the lock, relative to the top of the work tree */
	const char *lock_digest;    /* "sha256:…" of the lock file's bytes */
	const char *compression;    /* "gzip" or "zstd" */
	bool has_source_date; int64_t source_date; /* SOURCE_DATE_EPOCH, when it set the time */
	const char *layer_format;   /* KILN_FORMAT_VERSION */
	const char *kiln_version;
	const struct kiln_provenance_package *packages; size_t n_packages;
	/* The image it is built on (docs/manifest.md, base), or NULL:
	 * "kiln:PATH@COMMIT#NAME" for another manifest, "oci:PATH" for an OCI
	 * layout, and its image manifest digest. */
	const char *base_uri, *base_digest;
};

/* The statement JSON (malloc'd, compact, sorted keys, no newline). */
char *kiln_provenance_statement(const struct kiln_provenance *p, struct kiln_error *err);

/* pkg:deb/debian/NAME@VERSION?arch=ARCH, percent-encoding what a purl must
 * (malloc'd). */
char *kiln_provenance_purl(const char *name, const char *version, const char *architecture);

/* What kiln reads back from a statement it verified. */
struct kiln_provenance_info {
	char *subject_name;
	char *subject_digest;       /* "sha256:…" */
	char *commit;
	char *manifest_path;
	char *compression;
	bool has_source_date; int64_t source_date;
	char *builder_version;
};

/* Parse a statement strictly enough to trust what it is used for: the
 * statement and predicate types, one subject with a sha256 digest, the
 * build type, the gitCommit dependency and the external parameters.
 * Failures are marked as failed verifications (exit 3). */
int kiln_provenance_parse(const char *json, size_t len, struct kiln_provenance_info *out,
			  struct kiln_error *err);
void kiln_provenance_info_release(struct kiln_provenance_info *info);

#endif
