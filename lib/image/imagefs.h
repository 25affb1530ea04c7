/* imagefs.h - what an image's layers hold: entry listings read from layer
 * tars, the merged view of a whole image, and the differences between two
 * layers (for `kiln audit` and `kiln diff`).
 *
 * Reading is one streaming pass over the blob: file contents are hashed as
 * they go by and never held, except for the few paths the caller asks to
 * keep (var/lib/dpkg/status).  Nothing here touches the host's filesystem
 * beyond reading the blob: paths are data, never resolved or followed.
 *
 * Paths are as the tar names them with "." components, repeated and
 * trailing '/' removed ("./usr//bin/" is "usr/bin"; the root entry "." or
 * "./" is skipped).  Hostile names are kept so they can be reported, never
 * resolved: an absolute name keeps its leading '/', ".." components stay
 * (kiln_imagefs_path_hostile() tells them).
 */
#ifndef KILN_IMAGEFS_H
#define KILN_IMAGEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct kiln_store;

/* Bounds for hostile or absurd layers: refused with a message saying which. */
#define KILN_IMAGEFS_MAX_ENTRIES 4000000u                /* per layer */
#define KILN_IMAGEFS_MAX_PATH 16384                      /* bytes of a name or link target */
#define KILN_IMAGEFS_MAX_BYTES ((uint64_t)64 << 30)      /* uncompressed tar bytes per layer */
#define KILN_IMAGEFS_MAX_KEPT ((size_t)64 << 20)         /* bytes of one kept file */
#define KILN_IMAGEFS_MAX_XATTRS 65536                    /* bytes of one entry's xattr text */

struct kiln_fsentry {
	char *path;          /* relative, no "./", no trailing "/" ("" never; see above) */
	char type;           /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' 'b' 'p' devices/fifo, 's' socket */
	uint32_t mode, uid, gid;   /* mode = permission bits incl. suid/sgid/sticky */
	uint64_t size;       /* bytes of content (regular files; a hard link's own data, usually 0) */
	int64_t mtime;
	char *link;          /* symlink target (verbatim) or hard link target path (normalized as paths are); NULL otherwise */
	char sha256[65];     /* hex of a regular file's content (or a hard link's own data), "" otherwise */
	char *xattrs;        /* canonical "name=hexvalue;…" sorted by name, or NULL when none */
	uint32_t devmajor, devminor; /* 'c' and 'b' */
	char *kept;          /* the bytes, when the path was in keep_paths; else NULL */
	size_t kept_len;
};

struct kiln_imagefs_list {
	struct kiln_fsentry *e;
	size_t n;
	size_t alloc;        /* internal */
	bool sorted;         /* true for a merged view: sorted by path bytes, one entry per path */
};
#define KILN_IMAGEFS_LIST_INIT { NULL, 0, 0, false }

/* Read one layer blob into entries in tar order.  media_type decides the
 * compression: OCI or Docker layer types with gzip, zstd or none (the
 * nondistributable variants too); any other type is refused, and so is a
 * blob not compressed as its type says.  Bounded by the KILN_IMAGEFS_MAX_*
 * limits.  keep_paths (NULL-terminated, may be NULL): for regular files at
 * these paths also keep the bytes (kiln_imagefs_kept).  Hard link entries
 * get type 'h'.  On failure *out is empty and err names the blob and the
 * cause (libarchive's message for a corrupt or truncated stream). */
int kiln_imagefs_read_layer(const char *blob_path, const char *media_type,
			    const char *const *keep_paths, struct kiln_imagefs_list *out,
			    struct kiln_error *err);

/* Like kiln_imagefs_read_layer, also checking that the blob's bytes hash to
 * digest ("sha256:…") while they are read, without a second pass.  A blob
 * that does not is reported as that (err->code = KILN_EXIT_VERIFY), even when
 * the bad bytes also made the stream unreadable. */
int kiln_imagefs_read_layer_checked(const char *blob_path, const char *media_type,
				    const char *digest, const char *const *keep_paths,
				    struct kiln_imagefs_list *out, struct kiln_error *err);

/* Bytes kept for path (an entry of the list, the last one of that path in
 * a layer), or NULL when none were kept.  *len gets their length. */
const char *kiln_imagefs_kept(const struct kiln_imagefs_list *l, const char *path, size_t *len);

/* The entry at path in a merged (sorted) list, by binary search; in a
 * layer listing, the last entry of that path.  NULL when there is none. */
const struct kiln_fsentry *kiln_imagefs_find(const struct kiln_imagefs_list *l, const char *path);

/* Apply layers bottom (layers[0]) to top into the final view, sorted by
 * path bytes, one entry per path.  OCI whiteouts: ".wh.NAME" removes NAME
 * and everything below it from the layers beneath; ".wh..wh..opq" removes
 * everything below its directory from the layers beneath; neither appears
 * in the view.  A later entry replaces an earlier one of the same path; a
 * non-directory replacing a directory also removes what was below it.
 * Kept bytes are carried along.  Returns 0 (err is for future bounds). */
int kiln_imagefs_merge(const struct kiln_imagefs_list *layers, size_t n, struct kiln_imagefs_list *out,
		       struct kiln_error *err);

/* Every difference between two layers, a the recorded layer (label_a,
 * "recorded") and b the rebuilt one (label_b), in tar order: fn gets each
 * differing path and a short reason (both only valid during the call), and
 * returns 0 to go on or non-zero to stop.  The reasons:
 * "content differs (sha256:ab12… vs sha256:cd34…)", "mode 0644 vs 0755",
 * "owner 0:0 vs 1000:1000", "mtime 2024-06-01T00:00:00Z vs …", "type file
 * vs symlink", "link target 'a' vs 'b'", "size 3 vs 4", "xattrs differ",
 * "only in the LABEL layer" (a path one side lacks: it is stepped over on
 * that side and the walk goes on in step), "entry N repeats the path, only
 * in the LABEL layer", "entry order (entry N is … in the LABEL layer, …)"
 * (said once: the entries after it are then compared path by path).  An
 * entry that changed in several ways is one difference, named by its most
 * telling change.  Returns 0 when the layers list the same entries with the
 * same metadata and content, 1 when they differ (also when fn stopped). */
typedef int (*kiln_imagefs_difference_fn)(const char *path, const char *what, void *ctx);
int kiln_imagefs_differences(const struct kiln_imagefs_list *a, const char *label_a,
			     const struct kiln_imagefs_list *b, const char *label_b,
			     kiln_imagefs_difference_fn fn, void *ctx);

/* The first of those differences: returns 0 when there is none; 1 with
 * *path and *what (both malloc'd) the first that kiln_imagefs_differences
 * yields, labels "recorded" and "rebuilt". */
int kiln_imagefs_first_difference(const struct kiln_imagefs_list *a, const struct kiln_imagefs_list *b,
				  char **path, char **what);
/* The same, naming the two sides in messages ("only in the LABEL_A layer"). */
int kiln_imagefs_first_difference_labeled(const struct kiln_imagefs_list *a, const char *label_a,
					  const struct kiln_imagefs_list *b, const char *label_b,
					  char **path, char **what);

/* What differs between two entries of the same path: a set of these bits. */
enum kiln_fsentry_change {
	KILN_FSCHANGE_TYPE = 1 << 0,
	KILN_FSCHANGE_LINK = 1 << 1,    /* link target */
	KILN_FSCHANGE_CONTENT = 1 << 2, /* sha256 (regular files, hard link data) */
	KILN_FSCHANGE_SIZE = 1 << 3,
	KILN_FSCHANGE_MODE = 1 << 4,
	KILN_FSCHANGE_OWNER = 1 << 5,
	KILN_FSCHANGE_MTIME = 1 << 6,
	KILN_FSCHANGE_XATTRS = 1 << 7,
	KILN_FSCHANGE_DEVICE = 1 << 8,  /* device numbers */
};
unsigned kiln_fsentry_changes(const struct kiln_fsentry *a, const struct kiln_fsentry *b);
/* "type", "link target", "content", "size", "mode", "owner", "mtime", "xattrs", "device". */
const char *kiln_fsentry_change_name(unsigned one_bit);
/* "file", "directory", "symlink", "hard link", "char device", … */
const char *kiln_fsentry_type_name(char type);

/* Absolute, or a ".." component. */
bool kiln_imagefs_path_hostile(const char *path);

void kiln_imagefs_list_release(struct kiln_imagefs_list *l);
static inline void kiln_imagefs_list_releasep(struct kiln_imagefs_list *l) { kiln_imagefs_list_release(l); }
#define _cleanup_fslist_ __attribute__((cleanup(kiln_imagefs_list_releasep)))

/* Read layer `index` (0-based) of `count` of an image in store s, as
 * described by d (media type, digest, size), checking digest and size as
 * it is read.  Messages: "layer INDEX+1 of COUNT (sha256:…): …". */
struct kiln_oci_descriptor;
int kiln_imagefs_read_image_layer(const struct kiln_store *s, const struct kiln_oci_descriptor *d,
				  size_t index, size_t count, const char *const *keep_paths,
				  struct kiln_imagefs_list *out, struct kiln_error *err);

/* Every layer of the image manifest `manifest_digest`, unmerged, in
 * manifest order (for comparing images layer by layer): *layers is a
 * malloc'd array of *n lists; release with kiln_imagefs_list_release_array. */
int kiln_imagefs_read_layers(const struct kiln_store *s, const char *manifest_digest,
			     const char *const *keep_paths, struct kiln_imagefs_list **layers, size_t *n,
			     struct kiln_error *err);
void kiln_imagefs_list_release_array(struct kiln_imagefs_list *layers, size_t n);

/* Read every layer of the image manifest `manifest_digest` in store s
 * (manifest checked against its digest, each layer blob too while it is
 * read: a mismatch fails with err->code = KILN_EXIT_VERIFY) and merge them.
 * Messages name the layer: "layer 2 of 5 (sha256:…): …". */
int kiln_imagefs_read_image(const struct kiln_store *s, const char *manifest_digest,
			    const char *const *keep_paths, struct kiln_imagefs_list *merged,
			    struct kiln_error *err);

#endif
