#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
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
	int dir_fd;                 /* the store itself */
	int blobs_fd;               /* blobs/sha256/ (-1: a read-only store without one) */
	int tmp_fd, cache_fd;       /* tmp/ and cache/ (-1 unless writable) */
	int lock_fd;
	bool writable;
};


/* An OCI layout file, written when missing.  One that is there but is not
 * a regular file (a symlink out of the store) is refused, not followed. */
static int ensure_file(struct kiln_store *s, const char *name, const char *content, struct kiln_error *err)
{
	struct stat st;

	if (fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		int fd;
		if (S_ISREG(st.st_mode))
			return 0;
		/* Fails (not a regular file), saying what is there instead. */
		fd = kiln_file_open_at(s->dir_fd, s->dir, name, err);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return kiln_file_write_atomic_at(s->dir_fd, s->dir, name, content, strlen(content), 0644, err);
}

/* Temporary files a killed writer left behind: tmp/, the atomic-write
 * temporaries of index.json, cache entries and records (commits/<id>/).
 * Everything goes through the descriptors opened beneath the store, so
 * none of it can reach outside; a commits/<id> that is a symlink is left
 * for the record reader to refuse. */
static void clear_tmp(struct kiln_store *s)
{
	_cleanup_close_ int commits = -1;
	DIR *d;
	struct dirent *de;

	kiln_dir_remove_matching(s->tmp_fd, NULL);
	kiln_dir_remove_matching(s->dir_fd, ".tmp.");
	kiln_dir_remove_matching(s->cache_fd, ".tmp.");
	commits = kiln_dir_open_beneath(s->dir_fd, s->dir, "commits", false, 0, KILN_ERROR_IGNORE);
	if (commits < 0 || !(d = kiln_dir_stream(commits)))
		return;
	while ((de = readdir(d))) {
		_cleanup_close_ int sub = -1;
		if (de->d_name[0] == '.')
			continue;
		sub = openat(commits, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			kiln_dir_remove_matching(sub, ".tmp.");
	}
	closedir(d);
}

/* Open the store whose directory is root_fd (named dir), and what a
 * writer needs in it. */
static struct kiln_store *store_open_fd(int root_fd, const char *dir, bool writable, struct kiln_error *err)
{
	struct kiln_store *s = kiln_xcalloc(1, sizeof(*s));

	s->dir = kiln_xstrdup(dir);
	s->dir_fd = root_fd;
	s->blobs_fd = s->tmp_fd = s->cache_fd = s->lock_fd = -1;
	s->writable = writable;
	if (writable) {
		s->lock_fd = openat(root_fd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (s->lock_fd < 0) {
			_cleanup_free_ char *lock = kiln_path_join(dir, ".lock");
			int saved = errno;
			if (saved == ELOOP) {
				kiln_error_set(err, "'%s' is a symbolic link, where kiln expects its own lock file: "
					       "refusing to follow it", lock);
				kiln_error_verification(err);
			} else {
				kiln_error_errno(err, saved, "lock store '%s'", dir);
			}
			goto fail;
		}
		if (kiln_lockfile_lock(s->lock_fd, dir, 0, err) < 0) {
			kiln_error_prefix(err, "store '%s'", dir);
			goto fail;
		}
		if ((s->blobs_fd = kiln_dir_open_beneath(root_fd, dir, "blobs/sha256", true, 0755, err)) < 0 ||
		    (s->tmp_fd = kiln_dir_open_beneath(root_fd, dir, "tmp", true, 0755, err)) < 0 ||
		    (s->cache_fd = kiln_dir_open_beneath(root_fd, dir, "cache", true, 0755, err)) < 0)
			goto fail;
		/* Holding the lock, nobody else writes: what is under tmp/ was
		 * left by a killed build and is never part of the store. */
		clear_tmp(s);
		if (ensure_file(s, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", err) < 0 ||
		    ensure_file(s, "index.json",
				"{\"manifests\":[],\"mediaType\":\"" KILN_OCI_INDEX "\",\"schemaVersion\":2}",
				err) < 0)
			goto fail;
	} else {
		/* A store nothing has been written to yet has no blobs: that is
		 * an empty store, not a broken one. */
		s->blobs_fd = kiln_dir_open_beneath(root_fd, dir, "blobs/sha256", false, 0, err);
		if (s->blobs_fd < 0) {
			if (errno != ENOENT)
				goto fail;
			kiln_error_clear(err);
		}
	}
	return s;
fail:
	kiln_store_free(s);
	return NULL;
}

static int missing_store(const char *dir, int saved, struct kiln_error *err)
{
	if (saved == ENOENT && err) {
		kiln_error_set(err, "no store at '%s': nothing has been built there yet (kiln build), "
			       "or give the store with --store DIR", dir);
		err->code = KILN_EXIT_FAILED;
	}
	return -1;
}

struct kiln_store *kiln_store_open(const char *dir, bool writable, struct kiln_error *err)
{
	int fd = kiln_dir_open(dir, writable, 0755, err);

	if (fd < 0) {
		missing_store(dir, errno, err);
		return NULL;
	}
	return store_open_fd(fd, dir, writable, err);
}

struct kiln_store *kiln_store_open_default(const char *option, const char *workdir, bool writable,
					   struct kiln_error *err)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int top = -1;
	int fd;

	if (option && *option)
		return kiln_store_open(option, writable, err);
	/* snapshots/ is in the work tree, which a cloned repository fills:
	 * it may not be, or pass through, a symlink. */
	dir = kiln_path_join(workdir, "snapshots");
	if ((top = kiln_dir_open(workdir, false, 0, err)) < 0)
		return NULL;
	fd = kiln_dir_open_beneath(top, workdir, "snapshots", writable, 0755, err);
	if (fd < 0) {
		int saved = errno;
		if (saved == ELOOP && err) {
			size_t len = strlen(err->message);
			snprintf(err->message + len, sizeof(err->message) - len,
				 " (a store elsewhere is named with --store DIR or $KILN_STORE)");
		}
		missing_store(dir, saved, err);
		return NULL;
	}
	return store_open_fd(fd, dir, writable, err);
}

void kiln_store_free(struct kiln_store *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	if (s->blobs_fd >= 0)
		close(s->blobs_fd);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->cache_fd >= 0)
		close(s->cache_fd);
	free(s->dir);
	free(s);
}

const char *kiln_store_dir(const struct kiln_store *s)
{
	return s->dir;
}

int kiln_store_open_dir(const struct kiln_store *s, const char *rel, bool create, struct kiln_error *err)
{
	if (create && !s->writable) {
		kiln_error_set(err, "store '%s' is not open for writing", s->dir);
		errno = EROFS;
		return -1;
	}
	return kiln_dir_open_beneath(s->dir_fd, s->dir, rel, create, 0755, err);
}

char *kiln_store_blob_path(const struct kiln_store *s, const char *digest)
{
	return kiln_xasprintf("%s/blobs/sha256/%s", s->dir, digest + 7);
}

/* "blobs/sha256" as messages show it. */
static char *blobs_label(const struct kiln_store *s)
{
	return kiln_path_join(s->dir, "blobs/sha256");
}

int kiln_store_blob_stat(const struct kiln_store *s, const char *digest, struct stat *st)
{
	if (!kiln_oci_digest_valid(digest)) {
		errno = EINVAL;
		return -1;
	}
	if (s->blobs_fd < 0) {
		errno = ENOENT;
		return -1;
	}
	return fstatat(s->blobs_fd, digest + 7, st, AT_SYMLINK_NOFOLLOW);
}

bool kiln_store_has_blob(const struct kiln_store *s, const char *digest)
{
	struct stat st;

	return kiln_store_blob_stat(s, digest, &st) == 0 && S_ISREG(st.st_mode);
}

int kiln_store_blob_open(const struct kiln_store *s, const char *digest, struct kiln_error *err)
{
	_cleanup_free_ char *label = blobs_label(s);

	if (!kiln_oci_digest_valid(digest)) {
		kiln_error_set(err, "\"%s\" is not a sha256 digest", digest);
		errno = EINVAL;
		return -1;
	}
	if (s->blobs_fd < 0) {
		_cleanup_free_ char *path = kiln_store_blob_path(s, digest);
		kiln_error_errno(err, ENOENT, "open '%s'", path);
		errno = ENOENT;
		return -1;
	}
	return kiln_file_open_at(s->blobs_fd, label, digest + 7, err);
}

int kiln_store_put_blob(struct kiln_store *s, const void *data, size_t len,
			char digest[KILN_OCI_DIGEST_LEN + 1], struct kiln_error *err)
{
	char hex[KILN_SHA256_HEX_LEN + 1];
	_cleanup_free_ char *tmp = NULL, *prefix = NULL, *tmp_label = NULL;
	_cleanup_close_ int fd = -1;
	int rc;

	if (!s->writable)
		return kiln_error_set(err, "store '%s' is not open for writing", s->dir);
	kiln_sha256_hex(data, len, hex);
	snprintf(digest, KILN_OCI_DIGEST_LEN + 1, "sha256:%s", hex);
	/* A blob already there is kept only if it is what its name says:
	 * bytes planted or damaged under the name of a blob to come are
	 * replaced, not trusted (builds are reproducible, so names are
	 * predictable).  Only blobs a build writes pass here, never the
	 * cached layers, so this costs the small ones a hash. */
	if (kiln_store_has_blob(s, digest)) {
		char have[KILN_SHA256_HEX_LEN + 1];
		uint64_t size;
		_cleanup_close_ int old = kiln_store_blob_open(s, digest, KILN_ERROR_IGNORE);
		if (old >= 0 && kiln_sha256_fd(old, digest, have, &size, KILN_ERROR_IGNORE) == 0 && size == len &&
		    strcmp(have, hex) == 0)
			return 0;
	}
	tmp_label = kiln_path_join(s->dir, "tmp");
	prefix = kiln_xasprintf("blob-%s-", hex);
	fd = kiln_file_create_temp_at(s->tmp_fd, prefix, &tmp);
	if (fd < 0)
		return kiln_error_errno(err, errno, "create temporary blob in '%s'", tmp_label);
	if ((rc = kiln_write_all(fd, data, len)) != 0 || (fchmod(fd, 0644) < 0 && (rc = errno)) ||
	    (fsync(fd) < 0 && (rc = errno))) {
		unlinkat(s->tmp_fd, tmp, 0);
		return kiln_error_errno(err, rc, "write blob %s", digest);
	}
	/* From tmp/ into blobs/sha256/, both descriptors opened beneath the
	 * store: a symlink in the blob's place is replaced, not followed. */
	if (renameat(s->tmp_fd, tmp, s->blobs_fd, hex) < 0) {
		rc = errno;
		unlinkat(s->tmp_fd, tmp, 0);
		return kiln_error_errno(err, rc, "write blob %s: rename into '%s/blobs/sha256'", digest, s->dir);
	}
	{
		_cleanup_free_ char *label = blobs_label(s);
		return kiln_fsync_fd(s->blobs_fd, label, err);
	}
}

char *kiln_store_read_blob(const struct kiln_store *s, const char *digest, size_t max, size_t *len,
			   struct kiln_error *err)
{
	_cleanup_free_ char *label = blobs_label(s);
	char hex[KILN_SHA256_HEX_LEN + 1];
	char *data;

	if (!kiln_oci_digest_valid(digest)) {
		kiln_error_set(err, "\"%s\" is not a sha256 digest", digest);
		return NULL;
	}
	if (s->blobs_fd < 0) {
		_cleanup_free_ char *path = kiln_store_blob_path(s, digest);
		kiln_error_errno(err, ENOENT, "open '%s'", path);
		errno = ENOENT;
		return NULL;
	}
	data = kiln_file_read_at(s->blobs_fd, label, digest + 7, max, len, err);
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

	text = kiln_file_read_at(s->dir_fd, s->dir, "index.json", INDEX_MAX, &len, err);
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
	char *text;
	int rc;

	json_object_set_new(root, "schemaVersion", json_integer(2));
	json_object_set_new(root, "mediaType", json_string(KILN_OCI_INDEX));
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	rc = kiln_file_write_atomic_at(s->dir_fd, s->dir, "index.json", text, strlen(text), 0644, err);
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

static char *cache_label(const struct kiln_store *s)
{
	return kiln_path_join(s->dir, "cache");
}

char *kiln_store_cache_get(const struct kiln_store *s, const char *key, struct kiln_error *err)
{
	_cleanup_free_ char *label = NULL;
	struct stat st;

	if (!key_valid(key)) {
		kiln_error_set(err, "bad cache key \"%s\"", key);
		return NULL;
	}
	if (s->cache_fd < 0 || fstatat(s->cache_fd, key, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return NULL;
	label = cache_label(s);
	return kiln_file_read_at(s->cache_fd, label, key, 1 << 20, NULL, err);
}

int kiln_store_cache_put(struct kiln_store *s, const char *key, const char *value,
			 struct kiln_error *err)
{
	_cleanup_free_ char *label = NULL;

	if (!key_valid(key))
		return kiln_error_set(err, "bad cache key \"%s\"", key);
	if (!s->writable)
		return kiln_error_set(err, "store '%s' is not open for writing", s->dir);
	label = cache_label(s);
	return kiln_file_write_atomic_at(s->cache_fd, label, key, value, strlen(value), 0644, err);
}

char *kiln_store_default_dir(const char *option, const char *workdir)
{
	if (option && *option)
		return kiln_xstrdup(option);
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
	_cleanup_free_ char *dir = blobs_label(s);
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	if (s->blobs_fd < 0)
		return 0;
	d = kiln_dir_stream(s->blobs_fd);
	if (!d)
		return kiln_error_errno(err, errno, "list '%s'", dir);
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
	if (!s->writable)
		return kiln_error_set(err, "store '%s' is not open for writing", s->dir);
	if (!kiln_oci_digest_valid(digest))
		return kiln_error_set(err, "\"%s\" is not a sha256 digest", digest);
	/* unlinkat on blobs/sha256/'s own descriptor: nothing re-resolved. */
	if (unlinkat(s->blobs_fd, digest + 7, 0) < 0 && errno != ENOENT) {
		_cleanup_free_ char *path = kiln_store_blob_path(s, digest);
		return kiln_error_errno(err, errno, "remove blob '%s'", path);
	}
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
	_cleanup_free_ char *dir = cache_label(s);
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	*keys = NULL;
	*n = 0;
	if (s->cache_fd < 0)
		return 0;
	d = kiln_dir_stream(s->cache_fd);
	if (!d)
		return kiln_error_errno(err, errno, "list '%s'", dir);
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
	if (!s->writable)
		return kiln_error_set(err, "store '%s' is not open for writing", s->dir);
	if (!key_valid(key))
		return kiln_error_set(err, "bad cache key \"%s\"", key);
	if (unlinkat(s->cache_fd, key, 0) < 0 && errno != ENOENT) {
		_cleanup_free_ char *path = kiln_xasprintf("%s/cache/%s", s->dir, key);
		return kiln_error_errno(err, errno, "remove cache entry '%s'", path);
	}
	return 0;
}

int kiln_store_sync(struct kiln_store *s, struct kiln_error *err)
{
	_cleanup_free_ char *blobs = blobs_label(s), *cache = cache_label(s);

	if (!s->writable)
		return kiln_error_set(err, "store '%s' is not open for writing", s->dir);
	if (kiln_fsync_fd(s->blobs_fd, blobs, err) < 0 || kiln_fsync_fd(s->cache_fd, cache, err) < 0)
		return -1;
	return 0;
}
