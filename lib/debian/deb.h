/* deb.h - reading Debian binary packages (.deb) without dpkg.
 *
 * A .deb is an ar archive: "debian-binary" ("2.0\n"), then control.tar
 * (uncompressed, .gz, .xz or .zst), then data.tar (uncompressed, .gz, .xz,
 * .zst or .bz2); members whose names start with '_' (signatures) may follow
 * debian-binary anywhere and are skipped, anything else is an error.  The
 * file is read in one streaming pass with libarchive (the inner tars are
 * decompressed straight out of the ar member), never unpacked to disk.
 *
 *   deb = kiln_deb_open_file(path, NULL, &opts, err);   reads, checks control
 *   kiln_deb_control(deb)->package ...
 *   kiln_deb_read_data(deb, callback, ctx, err);  each data.tar entry
 *   kiln_deb_free(deb);
 *
 * Everything in a .deb is untrusted.  Data entries are refused (with an
 * error naming the .deb and the entry) when their path is absolute, has a
 * ".." component or a newline, when they are device nodes, fifos or
 * sockets, when a name is longer than KILN_DEB_MAX_NAME bytes, a file
 * larger than the size limit, or the archive has more entries than the
 * entry limit.
 */
#ifndef KILN_DEB_H
#define KILN_DEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define KILN_DEB_MAX_ENTRIES 1000000ULL
#define KILN_DEB_MAX_FILE_SIZE (4ULL << 30) /* 4 GiB */
#define KILN_DEB_MAX_NAME 4096              /* paths and link targets, bytes */
/* control, md5sums and conffiles are read into memory: bound them. */
#define KILN_DEB_MAX_CONTROL_FILE (64U << 20)

/* What the caller expects (from the lock) and the limits to apply.  A NULL
 * expected field is not checked; a 0 limit means the default above. */
struct kiln_deb_options {
	const char *package;
	const char *version;
	const char *architecture;
	uint64_t max_entries;
	uint64_t max_file_size;
};

/* The package's control data, owned by the struct kiln_deb. */
struct kiln_deb_control {
	char *package, *version, *architecture;
	char *multi_arch;  /* "same", "foreign", "allowed", or NULL when absent */
	/* The control file, normalized: one paragraph, every field as
	 * "Name: value\n" (continuation lines verbatim), no blank lines. */
	char *paragraph;
	char *md5sums;     /* DEBIAN/md5sums text, or NULL when the .deb has none */
	char *conffiles;   /* DEBIAN/conffiles text, or NULL when the .deb has none */
	/* The other control members dpkg keeps in /var/lib/dpkg/info (see
	 * KILN_DEB_INFO_MEMBERS), in that order; others are skipped. */
	struct kiln_deb_member *members; size_t n_members;
};

/* A control member kept for dpkg's database: a maintainer script, debconf's
 * config and templates, triggers, shlibs, symbols. */
struct kiln_deb_member {
	const char *name;          /* one of KILN_DEB_INFO_MEMBERS */
	char *data; size_t len;
	bool executable;           /* the scripts: installed 0755, the rest 0644 */
};

/* The control members kept, in the order members[] has them. */
#define KILN_DEB_INFO_MEMBERS { "config", "postinst", "postrm", "preinst", "prerm", "shlibs", \
				"symbols", "templates", "triggers" }

/* The member of that name, or NULL. */
const struct kiln_deb_member *kiln_deb_control_member(const struct kiln_deb_control *c, const char *name);

/* Does the member make the package need configuring: a preinst,
 * postinst or config that is there, a triggers file that declares an
 * interest (one that only activates does not: docs/lockfile.md)? */
bool kiln_deb_needs_configure(const struct kiln_deb_control *c, const char *name);

enum kiln_deb_type {
	KILN_DEB_DIR,
	KILN_DEB_FILE,
	KILN_DEB_SYMLINK,
	KILN_DEB_HARDLINK,
};

/* One data.tar entry, valid during the callback only. */
struct kiln_deb_entry {
	/* Normalized: no leading "./" or "/", no trailing '/', no "." or empty
	 * components; "" for the package root ("./"). */
	const char *path;
	enum kiln_deb_type type;
	unsigned mode;             /* permission bits with setuid/setgid/sticky (07777) */
	uint32_t uid, gid;         /* numeric; user and group names are ignored */
	int64_t mtime;             /* seconds */
	uint64_t size;             /* bytes of a regular file, else 0 */
	const char *link_target;   /* symlink: its target, verbatim; else NULL */
	const char *hardlink_target; /* hard link: normalized path of the target; else NULL */
	struct kiln_deb *deb;      /* for kiln_deb_entry_read */
};

struct kiln_deb;

/* Open a .deb and read up to and including its control.tar: the ar layout,
 * debian-binary, and control (Package, Version, Architecture present and
 * well-formed, and equal to opts' expectations).  name is what messages
 * call the package (NULL: the file name).  opts may be NULL.
 * Returns NULL with err set ("'app_2.0_amd64.deb': control says Package
 * 'evil', expected 'app'"). */
struct kiln_deb *kiln_deb_open_file(const char *path, const char *name,
				    const struct kiln_deb_options *opts, struct kiln_error *err);

/* The same from a buffer, which must stay valid until kiln_deb_free(). */
struct kiln_deb *kiln_deb_open_memory(const void *data, size_t len, const char *name,
				      const struct kiln_deb_options *opts,
				      struct kiln_error *err);

const struct kiln_deb_control *kiln_deb_control(const struct kiln_deb *deb);

/* The name messages use for this .deb. */
const char *kiln_deb_name(const struct kiln_deb *deb);

/* Called for each data.tar entry in archive order; return 0 to go on or -1
 * (with err set) to stop: kiln_deb_read_data then fails with that error,
 * prefixed with the .deb's name. */
typedef int (*kiln_deb_entry_fn)(void *ctx, const struct kiln_deb_entry *entry,
				 struct kiln_error *err);

/* Walk data.tar, once per opened deb.  Entries the callback does not read
 * are skipped.  Fails on a malformed, truncated or refused entry, when the
 * .deb has no data.tar, or when the callback fails. */
int kiln_deb_read_data(struct kiln_deb *deb, kiln_deb_entry_fn fn, void *ctx,
		       struct kiln_error *err);

/* Read up to len bytes of the current entry's contents (regular files
 * only); returns the count, 0 at the end, -1 on error (the message names
 * the entry; kiln_deb_read_data adds the .deb's name when the callback
 * passes the failure on). */
ssize_t kiln_deb_entry_read(const struct kiln_deb_entry *entry, void *buf, size_t len,
			    struct kiln_error *err);

void kiln_deb_free(struct kiln_deb *deb);

/* The same .deb with its data.tar member stored uncompressed (and every
 * other member as it was), in a malloc'd buffer: decompressing is the
 * costly part of reading a package, and this lets callers do it on other
 * threads before kiln_deb_open_memory() checks everything as usual.  Only
 * the ar framing is looked at here; anything unexpected fails (the caller
 * then opens the original, whose reader says precisely what is wrong).
 * The uncompressed data.tar may not exceed max_data bytes. */
void *kiln_deb_expand(const void *data, size_t len, uint64_t max_data, size_t *out_len,
		      struct kiln_error *err);
static inline void kiln_deb_closep(struct kiln_deb **deb)
{
	if (*deb)
		kiln_deb_free(*deb);
}
#define _cleanup_deb_ __attribute__((cleanup(kiln_deb_closep)))

/* Normalize a path found in a package ("./usr/bin/", "usr//bin/.") into
 * out (size >= strlen(path) + 1): drops "." and empty components (so a
 * leading "./" and a trailing '/').  Returns -1 when the path is absolute
 * (starts with '/') or has a ".." component. */
int kiln_deb_path_normalize(const char *path, char *out);

#endif
