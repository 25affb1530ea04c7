/* release.h - a repository's Release file (the verified text only).
 *
 * Pure format code: it reads the bytes gpgv verified and knows nothing of
 * HTTP or signatures.  See https://wiki.debian.org/DebianRepository/Format.
 */
#ifndef KILN_RELEASE_H
#define KILN_RELEASE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "hash.h"

struct kiln_release_file {
	char *path;               /* relative to dists/SUITE/, e.g. main/binary-amd64/Packages.xz */
	uint64_t size;
	char sha256[KILN_SHA256_HEX_LEN + 1];
};

struct kiln_release {
	char *suite;
	char *codename;
	time_t date;              /* 0 when absent */
	time_t valid_until;       /* 0 when absent */
	bool acquire_by_hash;
	bool arch_all_in_arch_indexes; /* "No-Support-for-Architecture-all: Packages" */
	char **architectures; size_t n_architectures;
	char **components; size_t n_components;
	struct kiln_release_file *files; size_t n_files;
};

/* Parse the text of a Release file (origin names it in messages). */
struct kiln_release *kiln_release_parse(const char *origin, const char *data, size_t len,
					struct kiln_error *err);
void kiln_release_free(struct kiln_release *r);

/* The SHA256 entry for path, or NULL. */
const struct kiln_release_file *kiln_release_find(const struct kiln_release *r, const char *path);

bool kiln_release_has_architecture(const struct kiln_release *r, const char *arch);

/* Parse an RFC 2822 date as Release files write it ("Sat, 11 Jul 2026 10:16:37 UTC").
 * Returns (time_t)-1 when it is not one. */
time_t kiln_release_parse_date(const char *s, size_t len);

#endif
