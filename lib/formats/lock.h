/* lock.h - kiln.lock, the lockfile (docs/lockfile.md).
 *
 * YAML written by kiln only, in a stable order (packages sorted by name), so
 * a lock diff in review shows exactly which packages moved.  Reading is
 * strict: unknown keys, missing fields and malformed values are errors
 * naming FILE:LINE:COL.  No mirror host is ever recorded.
 */
#ifndef KILN_LOCK_H
#define KILN_LOCK_H

#include <stdint.h>

#include "error.h"
#include "manifest.h"

#define KILN_LOCK_VERSION "1"

struct kiln_lock_source {
	char *name;
	char *suite;
	char *release;              /* "sha256:<hex>" of the verified Release text */
};

struct kiln_lock_package {
	char *name;
	char *version;
	char *architecture;
	char *source;               /* a source name of the manifest */
	char *filename;             /* pool path relative to the mirror's base */
	uint64_t size;
	char *sha256;               /* 64 hex digits */
	char **depends; size_t n_depends;
	/* What dpkg would run to configure it, of config, postinst, preinst
	 * and triggers, in that order (empty: nothing, or not looked at:
	 * scripts: skip). */
	char **scripts; size_t n_scripts;
	/* Why a package not in the pins' closure is there: "essential" (the
	 * suite's Essential: yes set, which maintainer scripts assume) or
	 * "essential-dependency"; NULL for the pins' closure. */
	char *why;
};

/* The control members that make a package need configuring, in the
 * order a lock lists them. */
#define KILN_LOCK_SCRIPTS { "config", "postinst", "preinst", "triggers" }

struct kiln_lock {
	char *inputs;               /* "sha256:<hex>", see kiln_lock_inputs */
	struct kiln_lock_source *sources; size_t n_sources;
	struct kiln_lock_package *packages; size_t n_packages; /* sorted by name */
};

/* The lockfile path of a manifest: "x.yaml" → "x.lock" (else PATH.lock). */
char *kiln_lock_path_for(const char *manifest_path);

/* Digest of what a lock depends on in the manifest: architecture, sources
 * (name, suite, components, keyring or trusted, not url or fallback: mirrors
 * are transport) and the pinned packages.  Returns "sha256:<hex>". */
char *kiln_lock_inputs(const struct kiln_manifest *m);

/* A one-line human summary of how the manifest's inputs differ from what
 * the lock was made for, e.g. "packages.curl: 7.88.1-10 → 7.88.1-10+deb12u5".
 * Returns NULL when the lock carries no pins to compare. */
char *kiln_lock_explain_drift(const struct kiln_lock *lock, const struct kiln_manifest *m);

/* Serialize (deterministic bytes, ends with a newline). */
char *kiln_lock_format(const struct kiln_lock *lock);

struct kiln_lock *kiln_lock_parse(const char *path, const char *data, size_t len,
				  struct kiln_error *err);
struct kiln_lock *kiln_lock_load(const char *path, struct kiln_error *err);
void kiln_lock_free(struct kiln_lock *lock);

#endif
