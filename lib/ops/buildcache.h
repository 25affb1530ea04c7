/* buildcache.h - the build cache: which layer a layer key made before,
 * authenticated (docs/building.md).
 *
 * The entries live in the store (kiln_store_cache_get/put), which others
 * may be able to write; an entry they planted would put their layer into
 * an image this builder then signs.  So every entry carries an HMAC under
 * a secret only this user's cache directory holds
 * (CACHE_DIR/build-cache.key, 0600), and an entry that does not
 * authenticate is a miss.  Another machine's entries are misses too: they
 * are rebuilt, byte for byte the same.
 *
 * An entry is "DIGEST DIFF_ID SIZE MEDIA MAC STAMP": the MAC authenticates
 * what the layer is; the stamp (kiln_buildcache_blob_stamp) only says when
 * its blob was last found intact, so it stays outside the MAC and can be
 * renewed without it.
 */
#ifndef KILN_BUILDCACHE_H
#define KILN_BUILDCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "error.h"
#include "oci.h"
#include "store.h"

#define KILN_BUILDCACHE_STAMP_MAX 128

struct kiln_buildcache {
	struct kiln_store *store;
	unsigned char secret[32];
	bool usable;               /* the secret is loaded */
};

struct kiln_buildcache_entry {
	char digest[KILN_OCI_DIGEST_LEN + 1];
	char diff_id[KILN_OCI_DIGEST_LEN + 1];
	uint64_t size;
	const char *media_type;    /* KILN_OCI_LAYER_GZIP or _ZSTD */
	char stamp[KILN_BUILDCACHE_STAMP_MAX]; /* "" when the entry has none */
};

/* Load (creating it when missing) the secret of cache_dir (NULL:
 * kiln_cache_dir()).  On failure the cache is unusable (every lookup a
 * miss, nothing written) and err says why. */
int kiln_buildcache_open(struct kiln_buildcache *c, struct kiln_store *store, const char *cache_dir,
			 struct kiln_error *err);

/* The entry for key, when there is one that authenticates: true and e
 * filled.  false for a miss (none, damaged, foreign or stale); err is set
 * only when the store could not be read. */
bool kiln_buildcache_get(const struct kiln_buildcache *c, const char *key, struct kiln_buildcache_entry *e,
			 struct kiln_error *err);

/* Write key's entry (e->stamp, "-" when empty). */
int kiln_buildcache_put(const struct kiln_buildcache *c, const char *key, const struct kiln_buildcache_entry *e,
			struct kiln_error *err);

/* A blob's stamp: what stat says of it (inode, size, mtime, ctime), taken
 * when its bytes were last hashed.  Any write to the file moves its ctime,
 * which no user can set back, so an unchanged stamp means unchanged bytes
 * (git's index trusts the same), and a cache hit costs one stat per layer
 * instead of re-hashing every layer. */
void kiln_buildcache_blob_stamp(const struct stat *st, char out[KILN_BUILDCACHE_STAMP_MAX]);

#endif
