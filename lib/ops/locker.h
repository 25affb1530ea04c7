/* locker.h - `kiln lock`: manifest → resolved, verified lockfile.
 *
 * Orchestration only: it knows the manifest, the mirrors, the repository
 * client, the resolver and the lock format, and ties them together.  On
 * any failure the previous lockfile is left exactly as it was.
 */
#ifndef KILN_LOCKER_H
#define KILN_LOCKER_H

#include <stdbool.h>

#include "error.h"
#include "http.h"

struct kiln_mirror_settings; /* mirror.h */

struct kiln_locker_options {
	const char *manifest_path;
	/* Re-resolve these packages to their newest fitting versions
	 * (others keep their locked versions when they still fit). */
	char *const *update; size_t n_update;
	bool update_all;            /* ignore the previous lock entirely */
	bool check;                 /* do not write; fail if the lock is not current */
	const char *cache_dir;      /* the shared cache (NULL: kiln_cache_dir's default) */
	const struct kiln_mirror_settings *mirrors; /* NULL: apt's sources only */
	kiln_progress_fn progress; void *progress_ctx;
};

struct kiln_locker_result {
	char *lock_path;
	size_t n_packages;
	bool written;               /* the lockfile was (re)written */
	bool current;               /* the existing lock already said the same */
	char **changes; size_t n_changes; /* "+ libc6 2.36-9", "~ a 1 -> 2", "- b 1" */
	unsigned indexes_downloaded, indexes_cached, restarts;
};

int kiln_locker_run(const struct kiln_locker_options *opt, struct kiln_locker_result *res,
		    struct kiln_error *err);
void kiln_locker_result_release(struct kiln_locker_result *res);

#endif
