/* mirror.h - which mirror serves a source (docs/lockfile.md, "Mirrors").
 *
 * Mirrors are transport, not identity: every file is pinned by sha256, so
 * a source without `url:` uses this machine's mirror for its suite, in this
 * order: $KILN_MIRROR_<NAME> (source name upper-cased, other characters
 * as '_'), $KILN_MIRROR, then the first http(s) URI that apt's own sources
 * give for the suite ($KILN_APT_ETC or /etc/apt: sources.list,
 * sources.list.d/ *.list one-line entries and *.sources deb822 entries).
 */
#ifndef KILN_MIRROR_H
#define KILN_MIRROR_H

#include "error.h"

/* The base URL (no trailing '/') for source `name` serving `suite`; url is
 * the manifest's own value or NULL.  *how (may be NULL) says where it came
 * from, for messages.  Returns malloc'd text. */
char *kiln_mirror_for_source(const char *name, const char *suite, const char *url,
			     const char **how, struct kiln_error *err);

/* Search apt's sources under etc_dir for suite; malloc'd URI or NULL. */
char *kiln_mirror_from_apt_sources(const char *etc_dir, const char *suite);

#endif
