#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "lockfile.h"
#include "hash.h"
#include "util.h"

#define INDEX_MAX (64u << 20)

struct kiln_store {
	char *dir;
	int lock_fd;
	bool writable;
};

static int ensure_file(const char *dir, const char *name, const char *content, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_path_join(dir, name);
	struct stat st;

	if (stat(path, &st) == 0)
		return 0;
	return kiln_file_write_atomic(path, content, strlen(content), 0644, err);
}

/* Remove the entries of dir whose names contain `mark` (all when NULL). */
static void remove_matching(const char *dir, const char *mark)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && (!mark || strstr(de->d_name, mark)))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* Temporary files a killed writer left behind (tmp/, and the atomic-write
 * temporaries of index.json and cache entries). */
static void clear_tmp(const char *dir)
{
	_cleanup_free_ char *tmp = kiln_path_join(dir, "tmp");
	_cleanup_free_ char *cache = kiln_path_join(dir, "cache");

	remove_matching(tmp, NULL);
	remove_matching(dir, ".tmp.");
	remove_matching(cache, ".tmp.");
}

struct kiln_store *kiln_store_open(const char *dir, bool writable, struct kiln_error *err)
{
	struct kiln_store *s;
	struct stat st;

	if (writable) {
		_cleanup_free_ char *blobs = kiln_path_join(dir, "blobs/sha256");
		_cleanup_free_ char *tmp = kiln_path_join(dir, "tmp");
		_cleanup_free_ char *cache = kiln_path_join(dir, "cache");
		if (kiln_mkdir_p(blobs, 0755, err) < 0 || kiln_mkdir_p(tmp, 0755, err) < 0 ||
		    kiln_mkdir_p(cache, 0755, err) < 0)
			return NULL;
	} else if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			kiln_error_set(err, "no store at '%s': nothing has been built there yet (kiln build), "
				       "or give the store with --store DIR", dir);
		else
			kiln_error_errno(err, errno, "store '%s'", dir);
		return NULL;
	}
	s = kiln_xcalloc(1, sizeof(*s));
	s->dir = kiln_xstrdup(dir);
	s->lock_fd = -1;
	s->writable = writable;
	if (writable) {
		_cleanup_free_ char *lock = kiln_path_join(dir, ".lock");
		s->lock_fd = kiln_lockfile_open(lock, 0644, 0, err);
		if (s->lock_fd < 0) {
			kiln_error_prefix(err, "store '%s'", dir);
			kiln_store_close(s);
			return NULL;
		}
		/* Holding the lock, nobody else writes: what is under tmp/ was
		 * left by a killed build and is never part of the store. */
		clear_tmp(dir);
		if (ensure_file(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", err) < 0 ||
		    ensure_file(dir, "index.json",
				"{\"manifests\":[],\"mediaType\":\"" KILN_OCI_INDEX "\",\"schemaVersion\":2}",
				err) < 0) {
			kiln_store_close(s);
			return NULL;
		}
	}
	return s;
}

void kiln_store_close(struct kiln_store *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s);
}

const char *kiln_store_dir(const struct kiln_store *s)
{
	return s->dir;
}

char *kiln_store_blob_path(const struct kiln_store *s, const char *digest)
{
	return kiln_xasprintf("%s/blobs/sha256/%s", s->dir, digest + 7);
}

bool kiln_store_has_blob(const struct kiln_store *s, const char *digest)
{
	_cleanup_free_ char *path = kiln_store_blob_path(s, digest);
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int kiln_store_put_blob(struct kiln_store *s, const void *data, size_t len,
			char digest[KILN_OCI_DIGEST_LEN + 1], struct kiln_error *err)
{
	char hex[KILN_SHA256_HEX_LEN + 1];
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int rc;

	kiln_sha256_hex(data, len, hex);
	snprintf(digest, KILN_OCI_DIGEST_LEN + 1, "sha256:%s", hex);
	path = kiln_store_blob_path(s, digest);
	/* A blob already there is kept only if it is what its name says:
	 * bytes planted or damaged under the name of a blob to come are
	 * replaced, not trusted (builds are reproducible, so names are
	 * predictable).  Only blobs a build writes pass here, never the
	 * cached layers, so this costs the small ones a hash. */
	if (kiln_store_has_blob(s, digest)) {
		char have[KILN_SHA256_HEX_LEN + 1];
		uint64_t size;
		struct kiln_error ignored = { 0 };
		if (kiln_sha256_file(path, have, &size, &ignored) == 0 && size == len && strcmp(have, hex) == 0)
			return 0;
	}
	tmp = kiln_xasprintf("%s/tmp/blob-%s-XXXXXX", s->dir, hex);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return kiln_error_errno(err, errno, "create temporary blob in '%s/tmp'", s->dir);
	if ((rc = kiln_write_all(fd, data, len)) != 0) {
		unlink(tmp);
		return kiln_error_errno(err, rc, "write blob %s", digest);
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		int saved = errno;
		unlink(tmp);
		return kiln_error_errno(err, saved, "write blob %s", digest);
	}
	return kiln_file_commit(tmp, path, err);
}

char *kiln_store_read_blob(const struct kiln_store *s, const char *digest, size_t max, size_t *len,
			   struct kiln_error *err)
{
	_cleanup_free_ char *path = NULL;
	char hex[KILN_SHA256_HEX_LEN + 1];
	char *data;

	if (!kiln_oci_digest_valid(digest)) {
		kiln_error_set(err, "\"%s\" is not a sha256 digest", digest);
		return NULL;
	}
	path = kiln_store_blob_path(s, digest);
	data = kiln_file_read_regular(path, max, len, err);
	if (!data)
		return NULL;
	kiln_sha256_hex(data, *len, hex);
	if (strcmp(hex, digest + 7) != 0) {
		free(data);
		kiln_error_set(err, "blob %s: its bytes hash to sha256:%s", digest, hex);
		kiln_error_verification(err);
		return NULL;
	}
	return data;
}

static json_t *load_index(const struct kiln_store *s, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_path_join(s->dir, "index.json");
	_cleanup_free_ char *text = NULL;
	json_error_t jerr;
	json_t *root;
	size_t len;

	text = kiln_file_read(path, INDEX_MAX, &len, err);
	if (!text)
		return NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root) || !json_is_array(json_object_get(root, "manifests"))) {
		json_decref(root);
		kiln_error_set(err, "%s: not an OCI index (line %d: %s)", path, jerr.line, jerr.text);
		kiln_error_verification(err);
		return NULL;
	}
	return root;
}

static const char *ref_of(json_t *m)
{
	json_t *a = json_object_get(m, "annotations");
	json_t *r = a ? json_object_get(a, "org.opencontainers.image.ref.name") : NULL;
	return json_is_string(r) ? json_string_value(r) : NULL;
}

/* Replace index.json with root (consumed), atomically. */
static int save_index(struct kiln_store *s, json_t *root, struct kiln_error *err)
{
	_cleanup_free_ char *path = kiln_path_join(s->dir, "index.json");
	char *text;
	int rc;

	json_object_set_new(root, "schemaVersion", json_integer(2));
	json_object_set_new(root, "mediaType", json_string(KILN_OCI_INDEX));
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	rc = kiln_file_write_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return rc;
}

int kiln_store_tag(struct kiln_store *s, const char *manifest_digest, uint64_t size,
		   const char *ref_name, const char *revision, struct kiln_error *err)
{
	json_t *root = load_index(s, err), *list, *desc, *ann;
	size_t i;

	if (!root)
		return -1;
	list = json_object_get(root, "manifests");
	for (i = 0; i < json_array_size(list);) {
		const char *r = ref_of(json_array_get(list, i));
		if (r && strcmp(r, ref_name) == 0)
			json_array_remove(list, i);
		else
			i++;
	}
	desc = json_object();
	json_object_set_new(desc, "mediaType", json_string(KILN_OCI_MANIFEST));
	json_object_set_new(desc, "digest", json_string(manifest_digest));
	json_object_set_new(desc, "size", json_integer((json_int_t)size));
	ann = json_object();
	json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(ref_name));
	if (revision)
		json_object_set_new(ann, "org.opencontainers.image.revision", json_string(revision));
	json_object_set_new(desc, "annotations", ann);
	json_array_append_new(list, desc);
	return save_index(s, root, err);
}

int kiln_store_add_referrer(struct kiln_store *s, const char *manifest_digest, uint64_t size,
			    const char *artifact_type, const char *subject_digest,
			    struct kiln_error *err)
{
	json_t *root = load_index(s, err), *list, *desc, *ann;

	if (!root)
		return -1;
	list = json_object_get(root, "manifests");
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *d = json_object_get(json_array_get(list, i), "digest");
		if (json_is_string(d) && strcmp(json_string_value(d), manifest_digest) == 0) {
			json_decref(root);
			return 0;
		}
	}
	desc = json_object();
	json_object_set_new(desc, "mediaType", json_string(KILN_OCI_MANIFEST));
	json_object_set_new(desc, "artifactType", json_string(artifact_type));
	json_object_set_new(desc, "digest", json_string(manifest_digest));
	json_object_set_new(desc, "size", json_integer((json_int_t)size));
	ann = json_object();
	json_object_set_new(ann, KILN_STORE_SUBJECT_ANNOTATION, json_string(subject_digest));
	json_object_set_new(desc, "annotations", ann);
	json_array_append_new(list, desc);
	return save_index(s, root, err);
}

char *kiln_store_lookup(const struct kiln_store *s, const char *ref_name, struct kiln_error *err)
{
	json_t *root = load_index(s, err), *list;
	char *found = NULL;

	if (!root)
		return NULL;
	list = json_object_get(root, "manifests");
	for (size_t i = 0; i < json_array_size(list) && !found; i++) {
		json_t *m = json_array_get(list, i);
		const char *r = ref_of(m);
		json_t *d = json_object_get(m, "digest");
		if (r && strcmp(r, ref_name) == 0 && json_is_string(d) &&
		    kiln_oci_digest_valid(json_string_value(d)))
			found = kiln_xstrdup(json_string_value(d));
	}
	json_decref(root);
	return found;
}

static bool key_valid(const char *key)
{
	return kiln_sha256_hex_valid(key, strlen(key));
}

char *kiln_store_cache_get(const struct kiln_store *s, const char *key, struct kiln_error *err)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (!key_valid(key)) {
		kiln_error_set(err, "bad cache key \"%s\"", key);
		return NULL;
	}
	path = kiln_xasprintf("%s/cache/%s", s->dir, key);
	if (stat(path, &st) < 0)
		return NULL;
	return kiln_file_read(path, 1 << 20, NULL, err);
}

int kiln_store_cache_put(struct kiln_store *s, const char *key, const char *value,
			 struct kiln_error *err)
{
	_cleanup_free_ char *path = NULL;

	if (!key_valid(key))
		return kiln_error_set(err, "bad cache key \"%s\"", key);
	path = kiln_xasprintf("%s/cache/%s", s->dir, key);
	return kiln_file_write_atomic(path, value, strlen(value), 0644, err);
}

char *kiln_store_default_dir(const char *option, const char *workdir)
{
	const char *env = getenv("KILN_STORE");

	if (option && *option)
		return kiln_xstrdup(option);
	if (env && *env)
		return kiln_xstrdup(env);
	return kiln_path_join(workdir, "snapshots");
}

/* ---- listing and removing, for `kiln gc` ---- */

static int compare_blob(const void *a, const void *b)
{
	return strcmp(((const struct kiln_store_blob *)a)->digest,
		      ((const struct kiln_store_blob *)b)->digest);
}

int kiln_store_blob_list(const struct kiln_store *s, struct kiln_store_blob **out, size_t *n,
			 struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_path_join(s->dir, "blobs/sha256");
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return kiln_error_errno(err, errno, "list '%s'", dir);
	}
	errno = 0;
	while ((de = readdir(d))) {
		struct stat st;
		/* Only files named by a digest are blobs; anything else is not
		 * the store's to judge. */
		if (!kiln_sha256_hex_valid(de->d_name, strlen(de->d_name)))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			int saved = errno;
			closedir(d);
			free(*out);
			*out = NULL;
			*n = 0;
			return kiln_error_errno(err, saved, "stat '%s/%s'", dir, de->d_name);
		}
		if (!S_ISREG(st.st_mode))
			continue;
		kiln_xgrow(out, &alloc, *n + 1, sizeof(**out));
		snprintf((*out)[*n].digest, sizeof((*out)[*n].digest), "sha256:%s", de->d_name);
		(*out)[*n].size = (uint64_t)st.st_size;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), compare_blob);
	return 0;
}

int kiln_store_blob_remove(struct kiln_store *s, const char *digest, struct kiln_error *err)
{
	_cleanup_free_ char *path = NULL;

	if (!s->writable)
		return kiln_error_set(err, "store '%s' is not open for writing", s->dir);
	if (!kiln_oci_digest_valid(digest))
		return kiln_error_set(err, "\"%s\" is not a sha256 digest", digest);
	path = kiln_store_blob_path(s, digest);
	if (unlink(path) < 0 && errno != ENOENT)
		return kiln_error_errno(err, errno, "remove blob '%s'", path);
	return 0;
}

int kiln_store_index_filter(struct kiln_store *s, kiln_store_index_keep_fn keep, void *ctx,
			    bool dry_run, size_t *removed, struct kiln_error *err)
{
	json_t *root, *list;

	*removed = 0;
	if (!s->writable)
		return kiln_error_set(err, "store '%s' is not open for writing", s->dir);
	root = load_index(s, err);
	if (!root)
		return -1;
	list = json_object_get(root, "manifests");
	for (size_t i = 0; i < json_array_size(list);) {
		json_t *m = json_array_get(list, i), *d = json_object_get(m, "digest");
		json_t *a = json_object_get(m, "annotations");
		json_t *subj = json_is_object(a) ? json_object_get(a, KILN_STORE_SUBJECT_ANNOTATION) : NULL;
		const char *digest = json_is_string(d) ? json_string_value(d) : "";
		if (keep(ctx, digest, ref_of(m), json_is_string(subj) ? json_string_value(subj) : NULL)) {
			i++;
			continue;
		}
		json_array_remove(list, i);
		(*removed)++;
	}
	if (dry_run || *removed == 0) {
		json_decref(root);
		return 0;
	}
	return save_index(s, root, err);
}

static int compare_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int kiln_store_cache_list(const struct kiln_store *s, char ***keys, size_t *n,
			  struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_path_join(s->dir, "cache");
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	*keys = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return kiln_error_errno(err, errno, "list '%s'", dir);
	}
	while ((de = readdir(d))) {
		if (!key_valid(de->d_name))
			continue;
		kiln_xgrow(keys, &alloc, *n + 1, sizeof(**keys));
		(*keys)[(*n)++] = kiln_xstrdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(*keys, *n, sizeof(**keys), compare_str);
	return 0;
}

int kiln_store_cache_remove(struct kiln_store *s, const char *key, struct kiln_error *err)
{
	_cleanup_free_ char *path = NULL;

	if (!s->writable)
		return kiln_error_set(err, "store '%s' is not open for writing", s->dir);
	if (!key_valid(key))
		return kiln_error_set(err, "bad cache key \"%s\"", key);
	path = kiln_xasprintf("%s/cache/%s", s->dir, key);
	if (unlink(path) < 0 && errno != ENOENT)
		return kiln_error_errno(err, errno, "remove cache entry '%s'", path);
	return 0;
}

int kiln_store_sync(struct kiln_store *s, struct kiln_error *err)
{
	_cleanup_free_ char *blob_dir = kiln_path_join(s->dir, "blobs/sha256/x");
	_cleanup_free_ char *cache_dir = kiln_path_join(s->dir, "cache/x");

	if (kiln_fsync_dir_of(blob_dir, err) < 0 || kiln_fsync_dir_of(cache_dir, err) < 0)
		return -1;
	return 0;
}
