/* layer.h - the image's filesystem as an in-memory tree, and the
 * deterministic layer tar writer (docs/building.md).
 *
 * A struct kiln_layer_tree holds directories, regular files (their bytes in
 * memory), symlinks and hard links keyed by normalized path: relative to
 * the image root, no leading or trailing '/', no "." or ".." components.
 * Every entry belongs to a layer (an index >= 0, e.g. a package bucket) and
 * remembers the package that shipped it.
 *
 * Paths are resolved inside the root, never on the host: adding an entry
 * at P follows the symlinks already in the tree for every PARENT component
 * of P (a relative target from the link's directory, an absolute one from
 * the root, ".." clamped at the root as in a chroot, at most
 * KILN_LAYER_MAX_SYMLINKS hops) and stores the entry at the resolved path.
 * So "bin/ls" lands at "usr/bin/ls" under merged /usr, and a package's
 * "evil -> /etc" followed by "evil/passwd" lands at "etc/passwd".  The
 * final component is never followed (a package's own symlink replaces it).
 * Nothing in this module touches the host's filesystem.
 *
 * Layers are filled in increasing order: once anything was added to layer
 * N, adding to a layer below N is an error.  Each layer keeps its own
 * version of a path, and the tree's view of a path is its version in the
 * highest layer, as when the layer tars are stacked.  So a layer's bytes
 * depend only on what was added to it and on the symlinks and directories
 * of the layers below it, never on later layers.  Within one layer:
 *   - a directory shipped twice keeps its first writer's mode and owner and
 *     the later of the two mtimes (so the order packages are added in does
 *     not change the bytes when they agree on modes);
 *   - a non-directory shipped twice: the later one replaces the earlier one
 *     (dpkg's Replaces); deterministic given the order;
 *   - replacing a directory with anything else is an error;
 *   - a package's directory where the tree has a symlink to a directory
 *     (its "bin/" under merged /usr) keeps the symlink, as dpkg does.
 */
#ifndef KILN_LAYER_H
#define KILN_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deb.h"
#include "error.h"
#include "util.h"

#define KILN_LAYER_MAX_SYMLINKS 40
/* Resolved paths longer than this are refused (symlink chains can grow them). */
#define KILN_LAYER_MAX_PATH 16384

struct kiln_layer_tree;
struct kiln_blob;
struct kiln_dpkg_package; /* dpkg.h */

enum kiln_layer_tree_type {
	KILN_LAYER_DIR,
	KILN_LAYER_FILE,
	KILN_LAYER_SYMLINK,
	KILN_LAYER_HARDLINK, /* another name for a regular file's contents */
};

/* Where an entry's mtime comes from when it is written. */
enum kiln_layer_tree_time {
	KILN_LAYER_TIME_PACKAGE, /* a .deb's mtime: lowered to the writer's clamp */
	KILN_LAYER_TIME_FIXED,   /* kiln-written content: exactly the given mtime */
	KILN_LAYER_TIME_EPOCH,   /* skeleton and implicit directories: the writer's epoch */
};

/* One version of a path, read-only for callers. */
struct kiln_layer_entry {
	char *path;                 /* resolved, normalized */
	enum kiln_layer_tree_type type;
	unsigned mode;              /* permission bits incl. setuid/setgid/sticky */
	uint32_t uid, gid;
	int64_t mtime;              /* meaningful unless time == KILN_LAYER_TIME_EPOCH */
	enum kiln_layer_tree_time time;
	bool implicit;              /* a directory created because a child needed it */
	int layer;
	const char *package;        /* shipping package (owned by the tree), or NULL */
	char *link;                 /* symlink: target verbatim; hard link: resolved target path */
	struct kiln_blob *blob;     /* file and hard link contents (shared by hard links) */
	struct kiln_layer_entry *below; /* the same path's version in a lower layer */
};

/* The tree holds file contents in memory; an image whose package files
 * add up to more is refused (a hostile .deb can claim any size). */
#define KILN_LAYER_MAX_BYTES ((uint64_t)16 << 30)

/* An empty tree (no root skeleton). */
struct kiln_layer_tree *kiln_layer_tree_new(void);

/* A tree with Debian 12's merged-/usr root in layer 0: directories usr,
 * usr/bin, usr/sbin, usr/lib, usr/lib64 (0755 0:0, epoch mtime) and the
 * symlinks bin -> usr/bin, sbin -> usr/sbin, lib -> usr/lib,
 * lib64 -> usr/lib64. */
struct kiln_layer_tree *kiln_layer_tree_new_root(void);

void kiln_layer_tree_free(struct kiln_layer_tree *tree);
static inline void kiln_layer_tree_freep(struct kiln_layer_tree **t)
{
	if (*t)
		kiln_layer_tree_free(*t);
}
#define _cleanup_tree_ __attribute__((cleanup(kiln_layer_tree_freep)))

/* Unpack the data.tar of an opened .deb (kiln_deb_read_data is called
 * here, so each deb is added once) into layer `layer`.  Directories,
 * files, symlinks and hard links land at their resolved paths; a hard link
 * must name a regular file already in the tree (its target is resolved the
 * same way).  On success *pkg (caller releases it with
 * kiln_dpkg_package_release) holds what dpkg's database needs: the control
 * data, the .list ("/.", "/bin", "/bin/ls": the package's own paths, as
 * dpkg records them), md5sums (the package's own, or computed from its
 * files when it has none) and the conffiles with their md5s.  On failure
 * the tree may hold part of the package: discard it. */
int kiln_layer_tree_add_deb(struct kiln_layer_tree *tree, struct kiln_deb *deb, int layer,
		      struct kiln_dpkg_package *pkg, struct kiln_error *err);

/* Put the whole dpkg database for pkgs (dpkg.h) into the tree, in `layer`,
 * every file and directory 0644/0755 0:0 with the given mtime (the layer
 * epoch). */
int kiln_layer_tree_add_dpkg_status(struct kiln_layer_tree *tree, const struct kiln_dpkg_package *pkgs,
			      size_t n, int layer, int64_t mtime, struct kiln_error *err);

/* Content kiln writes itself (accounts, the dpkg database, files: copied
 * from git), with exactly the given metadata.  path may start with '/';
 * ".." components are refused.  Parents resolve like package paths;
 * missing parent directories are created (0755 0:0, epoch mtime).
 * put_dir on an existing directory of the same layer replaces its
 * metadata; put_file and put_symlink replace a non-directory. */
int kiln_layer_tree_put_file(struct kiln_layer_tree *tree, const char *path, unsigned mode, uint32_t uid,
		       uint32_t gid, int64_t mtime, const void *data, size_t len, int layer,
		       struct kiln_error *err);
int kiln_layer_tree_put_dir(struct kiln_layer_tree *tree, const char *path, unsigned mode, uint32_t uid,
		      uint32_t gid, int64_t mtime, int layer, struct kiln_error *err);
int kiln_layer_tree_put_symlink(struct kiln_layer_tree *tree, const char *path, const char *target,
			  uint32_t uid, uint32_t gid, int64_t mtime, int layer,
			  struct kiln_error *err);

/* A hard link at path to the regular file (or hard link) already put at
 * target in the same layer: the link shares its contents and metadata. */
int kiln_layer_tree_put_hardlink(struct kiln_layer_tree *tree, const char *path, const char *target,
				 int layer, struct kiln_error *err);

/* The visible (highest layer) entry stored at exactly this normalized,
 * resolved path; NULL when there is none.  Nothing is followed. */
const struct kiln_layer_entry *kiln_layer_tree_get(const struct kiln_layer_tree *tree, const char *path);

/* Resolve path (leading '/' allowed) inside the tree as adding would, also
 * following a final symlink when follow_final.  Components that do not
 * exist yet are kept as they are.  Returns the resolved path (caller
 * frees), or NULL with err set (a loop, a file used as a directory). */
char *kiln_layer_tree_resolve(const struct kiln_layer_tree *tree, const char *path, bool follow_final,
			struct kiln_error *err);

/* Bytes of a file or hard link entry. */
const void *kiln_layer_entry_data(const struct kiln_layer_entry *entry, uint64_t *size);

/* Extended attributes.  A regular file (its contents, and so every hard
 * link to them: one inode) may carry one, written as a pax record
 * "SCHILY.xattr.NAME" (docs/building.md).  kiln keeps only file
 * capabilities, from a run: step or a maintainer script. */
#define KILN_LAYER_XATTR_CAPABILITY "security.capability"
/* Values larger than this are refused (a v3 vfs_cap_data is 24 bytes). */
#define KILN_LAYER_MAX_XATTR 256

/* Give the file or hard link at path (normalized, resolved, in the
 * tree's top layer) the attribute name=value, replacing one it had; its
 * hard links share it.
 * Errors: no such file, not a regular file, a value longer than
 * KILN_LAYER_MAX_XATTR. */
int kiln_layer_tree_set_xattr(struct kiln_layer_tree *tree, const char *path, const char *name,
			      const void *value, size_t len, struct kiln_error *err);

/* The entry's attribute: its name, or NULL when it has none (*value and
 * *len then untouched). */
const char *kiln_layer_entry_xattr(const struct kiln_layer_entry *entry, const void **value, size_t *len);

/* Number of entries (versions) stored in a layer. */
size_t kiln_layer_size(const struct kiln_layer_tree *tree, int layer);

struct kiln_layer_options {
	int64_t epoch;  /* mtime of skeleton, implicit and ancestor directories (>= 0) */
	int64_t clamp;  /* package mtimes above this become this; < 0: no clamp */
};

struct kiln_layer_result {
	uint64_t entries;                        /* tar entries written */
	uint64_t size;                           /* tar bytes */
	char diff_id[7 + 64 + 1];                /* "sha256:" + hex of the tar bytes */
};

/* Append layer `layer` to *tar (what *tar held stays in front; *res
 * describes only the appended stream) as a tar stream, deterministic by
 * construction: the layer's entries plus every ancestor directory they
 * need (an ancestor the layer does not hold itself is written 0755 0:0
 * with the epoch mtime), sorted by path bytes (so parents come first);
 * POSIX ustar headers with pax "path"/"linkpath"/"uid"/"gid"/"size"
 * records only where ustar cannot hold the value; numeric owners and no
 * user or group names, no atime/ctime, no host data; a file's extended
 * attribute as a "SCHILY.xattr.NAME" record of its first name (the
 * record, and the pax header, only when there is one).  Package files keep
 * their .deb mtimes, clamped; directories get "name/".  Files sharing
 * contents through a hard link within the layer are written once and then
 * as hard links to the first name in path order; a hard link whose file
 * is in another layer is written as a copy.  The root itself is not an
 * entry.  Ends with two zero blocks, no padding to a record size.  Fills
 * *res; on failure (an mtime ustar cannot hold, a negative epoch) *tar is
 * left as it was. */
int kiln_layer_write(const struct kiln_layer_tree *tree, int layer,
			  const struct kiln_layer_options *opts, struct kiln_buf *tar,
			  struct kiln_layer_result *res, struct kiln_error *err);

#endif
