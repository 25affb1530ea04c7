/* sign.h - Ed25519 signing keys (OpenSSL 3 EVP), and where kiln finds them.
 *
 * Keys are PEM files: the private key as PKCS#8 ("BEGIN PRIVATE KEY", mode
 * 0600), the public key as SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"), so
 * `openssl pkeyutl` reads both.  Only Ed25519 is accepted: a file holding any
 * other key type is refused with a message naming the file and the type.
 *
 * A key's id is "sha256:" + the hex digest of its DER SubjectPublicKeyInfo;
 * it is a hint for finding the right key, never a proof of anything.
 *
 * Lookup (docs/signing.md): the private key is --key, else $KILN_KEY, else
 * WORKDIR/.kiln/signing.key; trusted public keys are the --pub files, else
 * every WORKDIR/.kiln/trusted/NAME.pub.
 */
#ifndef KILN_SIGN_H
#define KILN_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define KILN_SIG_LEN 64
/* "sha256:" + 64 hex digits (without the NUL). */
#define KILN_KEYID_LEN (7 + 64)

/* A public key, or a private key (which can also verify). */
struct kiln_key;

/* Generate a fresh Ed25519 key pair (NULL only if OpenSSL fails). */
struct kiln_key *kiln_sign_generate(struct kiln_error *err);

/* Write key's private half as PKCS#8 PEM (mode 0600) or its public half as
 * SPKI PEM (mode 0644), atomically: a temp file in the same directory, then
 * link()ed into place, which fails with "'PATH' exists" when the file is
 * already there; with overwrite, renamed over it instead.  The directory
 * must exist. */
int kiln_sign_write_private(const struct kiln_key *key, const char *path, bool overwrite,
			    struct kiln_error *err);
int kiln_sign_write_public(const struct kiln_key *key, const char *path, bool overwrite,
			   struct kiln_error *err);

/* Generate a key pair and write both files, never overwriting either
 * (checked before anything is written). */
int kiln_sign_keygen(const char *priv_path, const char *pub_path, struct kiln_error *err);

/* Load a private key (PKCS#8 PEM, unencrypted).  Refuses a file that group
 * or others may access ("chmod 600 PATH"), and non-Ed25519 keys. */
struct kiln_key *kiln_sign_load_private(const char *path, struct kiln_error *err);
/* Load a public key (SPKI PEM).  Refuses non-Ed25519 keys. */
struct kiln_key *kiln_sign_load_public(const char *path, struct kiln_error *err);
void kiln_sign_key_free(struct kiln_key *key);

/* The file the key was loaded from ("" for a generated key). */
const char *kiln_sign_key_path(const struct kiln_key *key);

/* Sign len bytes with a private key: 64 bytes into sig. */
int kiln_sign(const struct kiln_key *key, const void *data, size_t len,
	      unsigned char sig[KILN_SIG_LEN], struct kiln_error *err);

/* 0 when sig is key's Ed25519 signature over data; otherwise -1 with the
 * error marked as a failed verification (exit 3). */
int kiln_sign_verify(const struct kiln_key *key, const void *data, size_t len,
		     const unsigned char *sig, size_t siglen, struct kiln_error *err);

/* "sha256:HEX" of the key's DER SubjectPublicKeyInfo into out. */
int kiln_sign_keyid(const struct kiln_key *key, char out[KILN_KEYID_LEN + 1],
		    struct kiln_error *err);

/* The private key's path (malloc'd): option if given (the command line
 * passes --key, else $KILN_KEY if set and not empty), else
 * WORKDIR/.kiln/signing.key. */
char *kiln_sign_find_private(const char *option, const char *workdir);

/* A key path inside the work tree workdir (the default .kiln/signing.key,
 * .kiln/trusted/…) is the cloned repository's ground: check that it leads
 * through no symlink (fsutil.h, kiln_path_check_beneath), so a committed
 * `.kiln -> elsewhere` cannot make kiln read or write a key outside the
 * work tree.  A path outside workdir is the user's own and passes.  0, or
 * -1 with err naming what is refused (exit 3). */
int kiln_sign_check_key_path(const char *path, const char *workdir, struct kiln_error *err);

/* A set of trusted public keys. */
struct kiln_sign_keyring {
	struct kiln_key **keys;
	size_t n, alloc;
};
#define KILN_KEYRING_INIT { NULL, 0, 0 }

/* Load the trusted public keys: the n_paths files in pub_paths, or when
 * n_paths is 0 every WORKDIR/.kiln/trusted/NAME.pub (in name order).  Finding
 * no key at all is an error.  On failure ring holds nothing. */
int kiln_sign_load_trusted(const char *const *pub_paths, size_t n_paths, const char *workdir,
			   struct kiln_sign_keyring *ring, struct kiln_error *err);
void kiln_sign_keyring_release(struct kiln_sign_keyring *ring);

/* The WORKDIR/.kiln/trusted/NAME.pub files, in name order (malloc'd; none
 * when the directory does not exist). */
int kiln_sign_trusted_paths(const char *workdir, char ***paths, size_t *n, struct kiln_error *err);
void kiln_sign_trusted_paths_free(char **paths, size_t n);

#endif
