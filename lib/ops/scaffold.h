/* scaffold.h - `kiln init`: a starter manifest that locks straight away.
 *
 * Versions in a manifest are exact, and mirrors drop old versions, so a
 * fixed template would go stale.  The starter is pinned to the newest
 * versions this machine's mirror has now, for the suite, its -updates and
 * -security suites where apt's sources (or KILN_MIRROR*) know them.
 */
#ifndef KILN_SCAFFOLD_H
#define KILN_SCAFFOLD_H

#include <stdbool.h>

#include "error.h"
#include "http.h"

struct kiln_mirror_settings; /* mirror.h */

struct kiln_scaffold_options {
	const char *dir;            /* where kiln.yaml goes */
	const char *name;           /* NULL: from the directory's name */
	const char *suite;          /* NULL: this machine's codename, else bookworm */
	const char *architecture;   /* NULL: this machine's */
	const char *keyring;        /* NULL: Debian's archive keyring */
	char *const *packages; size_t n_packages; /* NULL: busybox-static */
	bool force;                 /* overwrite an existing kiln.yaml */
	const char *cache_dir;      /* the shared cache (NULL: kiln_cache_dir's default) */
	const struct kiln_mirror_settings *mirrors; /* NULL: apt's sources only */
	kiln_progress_fn progress; void *progress_ctx;
};

/* Writes DIR/kiln.yaml and adds the store to DIR/.gitignore.  Returns the
 * manifest's path in *written (malloc'd). */
int kiln_scaffold_init(const struct kiln_scaffold_options *opt, char **written,
		       struct kiln_error *err);

#endif
