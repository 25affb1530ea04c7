/* hash.h - SHA-256 digests (OpenSSL 3 EVP). */
#ifndef KILN_HASH_H
#define KILN_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define KILN_SHA256_HEX_LEN 64

struct kiln_sha256;

/* Incremental hashing; _final writes 64 lowercase hex chars + NUL into hex. */
struct kiln_sha256 *kiln_sha256_new(void);
void kiln_sha256_update(struct kiln_sha256 *h, const void *data, size_t len);
void kiln_sha256_final(struct kiln_sha256 *h, char hex[KILN_SHA256_HEX_LEN + 1]);
void kiln_sha256_free(struct kiln_sha256 *h);

/* One-shot digest of a buffer. */
void kiln_sha256_hex(const void *data, size_t len, char hex[KILN_SHA256_HEX_LEN + 1]);

/* Digest of a file's bytes; also returns its size when size != NULL.  Only
 * a regular file is read, and a symlink is not followed. */
int kiln_sha256_file(const char *path, char hex[KILN_SHA256_HEX_LEN + 1], uint64_t *size,
		     struct kiln_error *err);
/* Digest of the bytes of the regular file open as fd, from its offset to
 * its end (label names it in messages). */
int kiln_sha256_fd(int fd, const char *label, char hex[KILN_SHA256_HEX_LEN + 1], uint64_t *size,
		   struct kiln_error *err);

/* FNV-1a, for in-memory hash tables (not for anything an attacker chooses
 * to collide: the tables it feeds hold verified index data). */
static inline uint64_t kiln_hash_fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* True when s is exactly 64 lowercase hex digits. */
bool kiln_sha256_hex_valid(const char *s, size_t len);

#endif
