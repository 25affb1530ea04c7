/* mirror.h - which mirror serves a source (docs/lockfile.md, "Mirrors").
 *
 * Mirrors are transport, not identity: every file is pinned by sha256, so
 * a source without `url:` uses this machine's mirror for its suite, in this
 * order: $KILN_MIRROR_<NAME> (source name upper-cased, other characters
 * as '_'), $KILN_MIRROR, then the first http(s) URI that apt's own sources
 * give for the suite ($KILN_APT_ETC or /etc/apt: sources.list,
 * sources.list.d/ *.list one-line entries and *.sources deb822 entries).
 * The command line reads those variables (cmd/kiln/env.c) and passes them
 * in a struct kiln_mirror_settings; this module reads no environment.
 */
#ifndef KILN_MIRROR_H
#define KILN_MIRROR_H

#include "error.h"

/* What this machine says about mirrors, besides apt's sources. */
struct kiln_mirror_settings {
	/* "KILN_MIRROR_<NAME>=URL" entries (as in environ), NULL-terminated;
	 * NULL: none. */
	const char *const *named;
	const char *fallback;       /* $KILN_MIRROR; NULL or "": none */
	const char *apt_etc;        /* $KILN_APT_ETC; NULL or "": /etc/apt */
};

/* The base URL (no trailing '/') for source `name` serving `suite`; url is
 * the manifest's own value or NULL; set may be NULL (no settings: apt's
 * sources in /etc/apt only).  *how (may be NULL) says where it came from,
 * for messages.  Returns malloc'd text. */
char *kiln_mirror_for_source(const struct kiln_mirror_settings *set, const char *name,
			     const char *suite, const char *url, const char **how,
			     struct kiln_error *err);

/* Search apt's sources under etc_dir for suite; malloc'd URI or NULL. */
char *kiln_mirror_from_apt_sources(const char *etc_dir, const char *suite);

#endif
