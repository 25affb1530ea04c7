/* store.h - the snapshot store: an OCI image layout (docs/building.md).
 *
 * snapshots/ is itself a valid OCI image layout (oci-layout, index.json,
 * blobs/sha256/…), so skopeo, umoci and podman read it directly.  Every
 * write is atomic: blobs are written under tmp/, fsynced and renamed into
 * blobs/sha256/ only when their digest is checked, so a killed build never
 * leaves a partial blob visible; index.json is replaced whole.  A writer
 * holds an exclusive lock on the store for as long as it is open.
 *
 * Nothing inside the store is reached by a path string: the store's
 * directory is opened once, and blobs/sha256/, tmp/, cache/, commits/ and
 * every file in them are opened beneath it with openat() and O_NOFOLLOW
 * (fsutil.h).  A symlink (or a file, FIFO, …) in the place of one of the
 * store's directories or files is refused with a message naming it (exit
 * 3), so a repository that commits `snapshots/tmp -> /victim` cannot make
 * kiln write, read or delete anything in /victim.  Only the store's own
 * path may lead through symlinks, and only when the user named it
 * (--store, $KILN_STORE).
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "error.h"
#include "oci.h"

struct kiln_store;

/* Open (creating when writable) the store at dir, a path the user chose
 * (symlinks on the way are followed).  A writable store waits for, then
 * holds, an exclusive lock on dir/.lock, and removes what killed writers
 * left (tmp/, and "*.tmp.*" in the store, cache/ and commits/<id>/). */
struct kiln_store *kiln_store_open(const char *dir, bool writable, struct kiln_error *err);
/* Open the store kiln_store_default_dir names: option (the command line
 * passes --store, else $KILN_STORE) as kiln_store_open; else snapshots/ in the work tree
 * workdir, which may not be a symlink (a cloned repository could have
 * committed one): it is opened beneath workdir without following any. */
struct kiln_store *kiln_store_open_default(const char *option, const char *workdir, bool writable,
					   struct kiln_error *err);
void kiln_store_free(struct kiln_store *s);
const char *kiln_store_dir(const struct kiln_store *s);
/* Open the directory rel ("commits" or "commits/<id>") beneath the store
 * without following symlinks (kiln_dir_open_beneath); create needs the
 * store open for writing.  -1 with err set, and errno ENOENT when it does
 * not exist. */
int kiln_store_open_dir(const struct kiln_store *s, const char *rel, bool create, struct kiln_error *err);

/* Add bytes as a blob; digest receives "sha256:…".  Existing blobs are kept. */
int kiln_store_put_blob(struct kiln_store *s, const void *data, size_t len,
			char digest[KILN_OCI_DIGEST_LEN + 1], struct kiln_error *err);
bool kiln_store_has_blob(const struct kiln_store *s, const char *digest);
/* blobs/sha256/<hex> under the store (malloc'd), for messages: open a
 * blob with kiln_store_blob_open, never by this path. */
char *kiln_store_blob_path(const struct kiln_store *s, const char *digest);
/* lstat a blob beneath the store (never through a symlink): 0, or -1 with
 * errno set (ENOENT when there is none). */
int kiln_store_blob_stat(const struct kiln_store *s, const char *digest, struct stat *st);
/* Open a blob for reading: a regular file under blobs/sha256/, opened
 * beneath the store (a symlink, FIFO or device in its place is refused,
 * exit 3).  Its bytes are not checked.  -1 with err set, and errno ENOENT
 * when there is no such blob. */
int kiln_store_blob_open(const struct kiln_store *s, const char *digest, struct kiln_error *err);
/* Read a blob and check that its bytes hash to its name. */
char *kiln_store_read_blob(const struct kiln_store *s, const char *digest, size_t max, size_t *len,
			   struct kiln_error *err);

/* Point index.json at a manifest under ref_name (NAME@COMMIT), replacing an
 * earlier manifest of the same ref name. */
int kiln_store_tag(struct kiln_store *s, const char *manifest_digest, uint64_t size,
		   const char *ref_name, const char *revision, struct kiln_error *err);
/* List an OCI 1.1 referrer manifest (one whose "subject" is another
 * manifest: kiln's signature) in index.json, without a ref name, with its
 * artifactType and the annotation KILN_STORE_SUBJECT_ANNOTATION naming the
 * subject, so tools reading the layout find it.  Listing it twice is a no-op. */
#define KILN_STORE_SUBJECT_ANNOTATION "dev.kiln.subject"
int kiln_store_add_referrer(struct kiln_store *s, const char *manifest_digest, uint64_t size,
			    const char *artifact_type, const char *subject_digest,
			    struct kiln_error *err);
/* The manifest digest index.json gives for ref_name, or NULL (no error) when none. */
char *kiln_store_lookup(const struct kiln_store *s, const char *ref_name, struct kiln_error *err);

/* Build cache: small text values under cache/<key>.  get returns NULL
 * (and no error) on a miss. */
char *kiln_store_cache_get(const struct kiln_store *s, const char *key, struct kiln_error *err);
int kiln_store_cache_put(struct kiln_store *s, const char *key, const char *value,
			 struct kiln_error *err);

/* The store to use: option if not empty (the command line passes --store,
 * else $KILN_STORE), else snapshots/ at the top of the git work tree
 * (workdir). malloc'd.  Open it with kiln_store_open_default, which knows
 * which of these may be a symlink. */
char *kiln_store_default_dir(const char *option, const char *workdir);

/* ---- listing and removing (kiln gc).  Removing needs the store open for
 * writing, so the caller holds its lock and no build runs meanwhile. ---- */

struct kiln_store_blob {
	char digest[KILN_OCI_DIGEST_LEN + 1];
	uint64_t size;
};
/* Every blob under blobs/sha256/ (regular files named by 64 hex digits),
 * sorted by digest; *out is malloc'd (NULL when there are none). */
int kiln_store_blob_list(const struct kiln_store *s, struct kiln_store_blob **out, size_t *n,
			 struct kiln_error *err);
/* Delete a blob (no error when it is already gone).  Not durable until
 * kiln_store_sync. */
int kiln_store_blob_remove(struct kiln_store *s, const char *digest, struct kiln_error *err);

/* Decide whether index.json keeps an entry: its digest, its ref name (NULL
 * when it has none) and, for a referrer, its subject annotation (else NULL). */
typedef bool (*kiln_store_index_keep_fn)(void *ctx, const char *digest, const char *ref_name,
					 const char *subject);
/* Drop every index.json entry keep rejects, replacing index.json atomically
 * (not at all when nothing is dropped or dry_run); *removed counts them. */
int kiln_store_index_filter(struct kiln_store *s, kiln_store_index_keep_fn keep, void *ctx,
			    bool dry_run, size_t *removed, struct kiln_error *err);

/* The build cache's keys, sorted; each and *keys malloc'd. */
int kiln_store_cache_list(const struct kiln_store *s, char ***keys, size_t *n,
			  struct kiln_error *err);
/* Delete a cache entry (no error when it is already gone). */
int kiln_store_cache_remove(struct kiln_store *s, const char *key, struct kiln_error *err);

/* fsync blobs/sha256/ and cache/, making removals durable. */
int kiln_store_sync(struct kiln_store *s, struct kiln_error *err);

#endif
