/* rootfs.h - a container's root filesystem: shared read-only layers below
 * an overlayfs with a per-container writable layer (docs/containers.md).
 *
 * Each layer blob is unpacked once, under LAYERS_DIR/<hex of its blob
 * digest>/, and then shared read-only by every container that uses it.
 * Unpacking is atomic (a temporary directory beside the final one, synced
 * and renamed into place), so a killed kiln never leaves a half layer under
 * its final name, and two kilns unpacking the same layer at once both end
 * with the one complete copy.
 *
 * Layer tars are untrusted: absolute paths, ".." components, hard links
 * whose target leaves the layer and anything written through a symlink are
 * refused; device nodes and sockets are skipped.  OCI whiteouts become
 * overlayfs ones: ".wh.NAME" a 0/0 character device NAME, ".wh..wh..opq"
 * the trusted.overlay.opaque xattr on its directory.  Of the entries'
 * extended attributes (pax SCHILY.xattr.*) only file capabilities
 * (security.capability) are restored; the others are dropped.
 */
#ifndef KILN_ROOTFS_H
#define KILN_ROOTFS_H

#include <stddef.h>

#include "error.h"
#include "store.h"

/* Unpack a layer tar (gzip, zstd or plain, detected) held in memory into
 * dir, an existing empty directory.  Refuses hostile entries (see above). */
int kiln_rootfs_unpack(const void *data, size_t len, const char *dir, struct kiln_error *err);

/* The directory of the layer blob `digest` of store, unpacked under
 * layers_dir (created as needed) unless it already is.  The blob's bytes are
 * checked against its digest first.  Returns a malloc'd path, or NULL. */
char *kiln_rootfs_layer(const char *layers_dir, const struct kiln_store *store, const char *digest,
			struct kiln_error *err);

/* Mount an overlayfs at target: lowers[0] is the top layer, then down to
 * the base; upper and work are created (mode 0755) when missing. */
int kiln_rootfs_mount(char *const *lowers, size_t n_lowers, const char *upper, const char *work,
		      const char *target, struct kiln_error *err);

/* Detach the mount at target (lazily, so a process still inside cannot
 * keep it); not being mounted is not an error. */
int kiln_rootfs_unmount(const char *target, struct kiln_error *err);

/* Is something mounted exactly at path (per /proc/self/mountinfo)? */
int kiln_rootfs_is_mounted(const char *path);

/* rm -rf path without crossing into other mounts; a missing path is fine. */
int kiln_rootfs_remove(const char *path, struct kiln_error *err);

#endif
