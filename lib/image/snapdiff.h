/* snapdiff.h - what differs between two images: packages (from each
 * image's var/lib/dpkg/status) and files (the merged views, path by path),
 * for `kiln diff`.
 *
 * Packages are the installed stanzas (Status "… installed") of the status
 * file, keyed by Package name; a name installed for several architectures
 * (Multi-Arch: same) is keyed "name:arch" for each.  An image without a
 * status file has no packages.  Everything is sorted: packages by name,
 * files by path bytes.
 *
 * The image configs are compared field by field (kiln_snapdiff_configs):
 * config.Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, Volumes,
 * Labels, StopSignal and the platform (architecture, variant, os).  The
 * creation time, history and layer digests are not: they change with every
 * build, and the layers are compared as packages and files.
 *
 * A file is changed when anything but its mtime differs; entries whose only
 * difference is the mtime are listed apart (mtime_only), because a package
 * bump moves the mtimes of every file it ships, including those whose
 * content stayed the same, which would bury the changes a reviewer looks
 * for.
 */
#ifndef KILN_SNAPDIFF_H
#define KILN_SNAPDIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "imagefs.h"

struct kiln_store;

#define KILN_SNAPDIFF_STATUS_PATH "var/lib/dpkg/status"

struct kiln_snapdiff_package {
	char *name;          /* "name", or "name:arch" (see above) */
	char *architecture;  /* of the newer side (of the older for removed) */
	char *from_architecture; /* changed only: the older side's, when it differs; else NULL */
	char *from, *to;     /* version; from is NULL for added, to for removed */
};

struct kiln_snapdiff_file {
	char *path;
	unsigned changes;    /* enum kiln_fsentry_change bits (changed: never only MTIME) */
};

/* One difference of the image configs.  field is the config's JSON name
 * ("Entrypoint", "Env", "architecture"); key is NULL for a whole value
 * (Entrypoint, Cmd: the compact JSON array; WorkingDir, User, StopSignal,
 * the platform: the string), else the name within a keyed field: an Env
 * variable, a Labels key, an ExposedPorts port or a Volumes path.  from and
 * to are the values, NULL on the side that lacks it (so added: from NULL,
 * removed: to NULL).  ExposedPorts and Volumes are sets: member is true and
 * the present side's value is "". */
struct kiln_snapdiff_config {
	char *field, *key;
	char *from, *to;
	bool member;
};

struct kiln_snapdiff {
	struct kiln_snapdiff_config *cfg_added, *cfg_removed, *cfg_changed;
	size_t n_cfg_added, n_cfg_removed, n_cfg_changed;
	struct kiln_snapdiff_package *pkg_added, *pkg_removed, *pkg_changed;
	size_t n_pkg_added, n_pkg_removed, n_pkg_changed;
	struct kiln_snapdiff_file *added, *removed, *changed, *mtime_only;
	size_t n_added, n_removed, n_changed, n_mtime_only;
};

/* Compare two dpkg status texts (either may be NULL: no packages).
 * Fails on malformed text (err names which side: "from"/"to" label). */
int kiln_snapdiff_packages(const char *status_a, size_t len_a, const char *status_b,
			   size_t len_b, struct kiln_snapdiff *out, struct kiln_error *err);

/* Compare two merged (sorted) views. */
void kiln_snapdiff_files(const struct kiln_imagefs_list *a, const struct kiln_imagefs_list *b,
			 struct kiln_snapdiff *out);

/* Compare two OCI image config JSON texts (see above).  Fails on text that
 * is not a JSON object or whose fields have the wrong types (err names the
 * side by label_a / label_b; out is then unchanged).  Fills out's cfg_*
 * lists, which must be empty. */
int kiln_snapdiff_configs(const char *json_a, size_t len_a, const char *label_a, const char *json_b,
			  size_t len_b, const char *label_b, struct kiln_snapdiff *out,
			  struct kiln_error *err);

/* All three, for two image manifests in a store: each layer blob is read once
 * (a layer both images share is read once for both) and checked against
 * its digest as it is read.  Messages start with "a: " or "b: " replaced by
 * label_a / label_b, e.g. "t@1a2b3c4d5e6f: layer 2 of 5 (sha256:…): …";
 * a digest mismatch sets err->code = KILN_EXIT_VERIFY. */
int kiln_snapdiff_images(const struct kiln_store *s, const char *manifest_a, const char *label_a,
			 const char *manifest_b, const char *label_b, struct kiln_snapdiff *out,
			 struct kiln_error *err);

/* No config field, package or file differs (mtime-only changes count as differences). */
bool kiln_snapdiff_empty(const struct kiln_snapdiff *d);

/* Changes' names joined: "content, mode" (malloc'd). */
char *kiln_snapdiff_changes_text(unsigned changes);

void kiln_snapdiff_release(struct kiln_snapdiff *d);

#endif
