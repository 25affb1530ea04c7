/* resolve.h - the dependency closure of a set of exact pins (docs/lockfile.md).
 *
 * Follows Depends and Pre-Depends (Recommends and Suggests are ignored),
 * version relations with dpkg's ordering, alternatives left to right,
 * virtual packages through Provides (versioned Provides too; a real
 * package of the name wins over a provider), one version per package
 * name, and fails on Conflicts or Breaks inside the closure.
 *
 * Unpinned packages get the newest version that fits, unless `prefer`
 * names a version that still fits (so re-locking keeps what a lock had).
 * When a later requirement rules out a version chosen earlier for an
 * unpinned package, that version is set aside and the search starts again
 * (bounded), which finds closures a single greedy pass would miss.
 */
#ifndef KILN_RESOLVE_H
#define KILN_RESOLVE_H

#include "error.h"
#include "packages.h"

struct kiln_resolve_pin {
	const char *name;
	const char *version;
	const char *where;          /* "kiln.yaml:12:3" for messages, or NULL */
};

struct kiln_resolve_request {
	const struct kiln_packages *index;
	const char *architecture;
	const struct kiln_resolve_pin *pins; size_t n_pins;
	const struct kiln_resolve_pin *prefer; size_t n_prefer;
	const char *const *origin_names; size_t n_origins; /* origin → source name */
};

struct kiln_resolved {
	uint32_t pkg;               /* index entry chosen */
	char **depends;             /* names of chosen packages it depends on, sorted */
	size_t n_depends;
	bool pinned;
};

struct kiln_resolution {
	struct kiln_resolved *pkgs; /* sorted by name */
	size_t n_pkgs;
	unsigned restarts;          /* how often a choice had to be revised */
};

int kiln_resolve(const struct kiln_resolve_request *req, struct kiln_resolution *out,
		 struct kiln_error *err);
void kiln_resolution_release(struct kiln_resolution *res);

#endif
