/* buildcache.c - the authenticated build cache; see buildcache.h. */
#include "buildcache.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "fsutil.h"
#include "util.h"

int kiln_buildcache_open(struct kiln_buildcache *c, struct kiln_store *store, const char *cache_dir,
			 struct kiln_error *err)
{
	_cleanup_free_ char *dir = cache_dir ? kiln_xstrdup(cache_dir) : kiln_cache_dir(NULL, NULL, NULL);
	_cleanup_free_ char *path = kiln_path_join(dir, "build-cache.key");
	_cleanup_free_ char *tmp = NULL, *data = NULL;
	unsigned char fresh[sizeof(c->secret)];
	struct stat st;
	size_t len;

	memset(c, 0, sizeof(*c));
	c->store = store;
	if (lstat(path, &st) < 0 && errno == ENOENT) {
		if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh))
			return kiln_error_errno(err, errno, "getrandom");
		if (kiln_mkdir_p(dir, 0700, err) < 0)
			return -1;
		tmp = kiln_file_write_temp(path, fresh, sizeof(fresh), 0600, err);
		if (!tmp)
			return -1;
		/* link(), not rename(): a build racing to create it keeps its own. */
		if (link(tmp, path) < 0 && errno != EEXIST) {
			kiln_error_errno(err, errno, "create '%s'", path);
			unlink(tmp);
			return -1;
		}
		unlink(tmp);
	}
	/* Never through a symlink: the cache may sit in a cloned work tree. */
	data = kiln_file_read_nofollow(path, 4096, &len, err);
	if (!data)
		return -1;
	if (lstat(path, &st) < 0 || (st.st_mode & 077) || st.st_uid != geteuid() || len != sizeof(c->secret))
		return kiln_error_set(err, "'%s' must be %zu bytes, owned by you and private (chmod 600)", path,
				      sizeof(c->secret));
	memcpy(c->secret, data, sizeof(c->secret));
	c->usable = true;
	return 0;
}

static void cache_mac(const struct kiln_buildcache *c, const char *key, const char *fields, char hex[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	struct kiln_buf msg = KILN_BUF_INIT;

	kiln_buf_printf(&msg, "kiln-layer-cache-v1 %s %s", key, fields);
	HMAC(EVP_sha256(), c->secret, sizeof(c->secret), (const unsigned char *)msg.data, msg.len, mac, &n);
	kiln_buf_release(&msg);
	for (unsigned i = 0; i < 32 && i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	hex[64] = '\0';
}

void kiln_buildcache_blob_stamp(const struct stat *st, char out[KILN_BUILDCACHE_STAMP_MAX])
{
	snprintf(out, KILN_BUILDCACHE_STAMP_MAX, "%llu:%lld:%lld.%09ld:%lld.%09ld",
		 (unsigned long long)st->st_ino, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
		 st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

int kiln_buildcache_put(const struct kiln_buildcache *c, const char *key, const struct kiln_buildcache_entry *e,
			struct kiln_error *err)
{
	_cleanup_free_ char *fields = kiln_xasprintf("%s %s %llu %s", e->digest, e->diff_id,
						     (unsigned long long)e->size, e->media_type);
	_cleanup_free_ char *value = NULL;
	char mac[65];

	cache_mac(c, key, fields, mac);
	value = kiln_xasprintf("%s %s %s\n", fields, mac, e->stamp[0] ? e->stamp : "-");
	return kiln_store_cache_put(c->store, key, value, err);
}

bool kiln_buildcache_get(const struct kiln_buildcache *c, const char *key, struct kiln_buildcache_entry *e,
			 struct kiln_error *err)
{
	_cleanup_free_ char *value = NULL, *fields = NULL;
	char digest[80], diff_id[80], media[80], mac[80], stamp[KILN_BUILDCACHE_STAMP_MAX], want[65];
	unsigned long long size;
	int n;

	if (!c->usable)
		return false;
	value = kiln_store_cache_get(c->store, key, err);
	if (!value)
		return false;
	/* Entries written before blobs had stamps have five fields. */
	n = sscanf(value, "%79s %79s %llu %79s %79s %127s", digest, diff_id, &size, media, mac, stamp);
	if (n < 5 || !kiln_oci_digest_valid(digest) || !kiln_oci_digest_valid(diff_id))
		return false; /* a stale, damaged or foreign entry: rebuild */
	fields = kiln_xasprintf("%s %s %llu %s", digest, diff_id, size, media);
	cache_mac(c, key, fields, want);
	if (strlen(mac) != 64 || CRYPTO_memcmp(mac, want, 64) != 0)
		return false;
	memcpy(e->digest, digest, KILN_OCI_DIGEST_LEN + 1);
	memcpy(e->diff_id, diff_id, KILN_OCI_DIGEST_LEN + 1);
	e->size = size;
	e->media_type = strcmp(media, KILN_OCI_LAYER_ZSTD) == 0 ? KILN_OCI_LAYER_ZSTD : KILN_OCI_LAYER_GZIP;
	if (n == 6)
		memcpy(e->stamp, stamp, sizeof(e->stamp));
	else
		e->stamp[0] = '\0';
	return true;
}
