/* sign.c - Ed25519 keys with OpenSSL 3 EVP. */
#include "sign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "util.h"

/* A PEM key is a few hundred bytes; anything much larger is not one. */
#define KEY_FILE_MAX (64 * 1024)

struct kiln_key {
	EVP_PKEY *pkey;
	bool is_private;
	char *path;
	char keyid[KILN_KEYID_LEN + 1];  /* "" until known (see kiln_sign_keyid) */
};

static void bio_freep(BIO **b) { if (*b) BIO_free(*b); }
static void pkey_freep(EVP_PKEY **p) { if (*p) EVP_PKEY_free(*p); }
static void md_ctx_freep(EVP_MD_CTX **c) { if (*c) EVP_MD_CTX_free(*c); }
#define _cleanup_bio_ _cleanup_(bio_freep)
#define _cleanup_pkey_ _cleanup_(pkey_freep)
#define _cleanup_md_ctx_ _cleanup_(md_ctx_freep)

/* Fill err with the message, ": " and OpenSSL's newest queued error (if
 * any), and empty OpenSSL's queue so it does not leak into later errors. */
static int openssl_error(struct kiln_error *err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		kiln_error_set(err, "%s: %s", what, buf);
	} else {
		kiln_error_set(err, "%s", what);
	}
	ERR_clear_error();
	return -1;
}

/* Never prompt on a terminal for an encrypted key's passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static struct kiln_key *key_wrap(EVP_PKEY *pkey, bool is_private, const char *path)
{
	struct kiln_key *key = kiln_xcalloc(1, sizeof(*key));

	key->pkey = pkey;
	key->is_private = is_private;
	key->path = kiln_xstrdup(path);
	return key;
}

void kiln_sign_key_free(struct kiln_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key->path);
	free(key);
}

const char *kiln_sign_key_path(const struct kiln_key *key)
{
	return key->path;
}

struct kiln_key *kiln_sign_generate(struct kiln_error *err)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	if (!pkey) {
		openssl_error(err, "generate an Ed25519 key");
		return NULL;
	}
	return key_wrap(pkey, true, "");
}

/* Write data to a temp file beside path, then put it in place: link() when
 * an existing file must survive (it fails with EEXIST, atomically), rename()
 * when it may be replaced.  Either way no reader sees a partial key. */
static int write_key_file(const char *path, const void *data, size_t len, mode_t mode,
			  bool overwrite, struct kiln_error *err)
{
	/* The temporary file is created 0600 with O_EXCL, so the key is never,
	 * even for a moment, readable by others. */
	_cleanup_free_ char *tmp = kiln_file_write_temp(path, data, len, mode, err);

	if (!tmp)
		return -1;
	if (overwrite)
		return kiln_file_commit(tmp, path, err);
	if (link(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		if (saved == EEXIST)
			return kiln_error_set(err, "'%s' exists", path);
		return kiln_error_errno(err, saved, "create '%s'", path);
	}
	unlink(tmp);
	return kiln_fsync_dir_of(path, err);
}

/* The PEM text a BIO collected; the BIO keeps ownership. */
static size_t bio_contents(BIO *bio, const char **data)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);

	*data = p;
	return n > 0 ? (size_t)n : 0;
}

int kiln_sign_write_private(const struct kiln_key *key, const char *path, bool overwrite,
			    struct kiln_error *err)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	const char *pem;
	size_t len;

	if (!key->is_private)
		return kiln_error_set(err, "write '%s': not a private key", path);
	if (!bio || PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1)
		return openssl_error(err, "encode the private key");
	len = bio_contents(bio, &pem);
	return write_key_file(path, pem, len, 0600, overwrite, err);
}

int kiln_sign_write_public(const struct kiln_key *key, const char *path, bool overwrite,
			   struct kiln_error *err)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	const char *pem;
	size_t len;

	if (!bio || PEM_write_bio_PUBKEY(bio, key->pkey) != 1)
		return openssl_error(err, "encode the public key");
	len = bio_contents(bio, &pem);
	return write_key_file(path, pem, len, 0644, overwrite, err);
}

int kiln_sign_keygen(const char *priv_path, const char *pub_path, struct kiln_error *err)
{
	struct kiln_key *key;
	int rc;

	/* Check both first so a refused public key leaves no new private key. */
	if (access(priv_path, F_OK) == 0)
		return kiln_error_set(err, "'%s' exists", priv_path);
	if (access(pub_path, F_OK) == 0)
		return kiln_error_set(err, "'%s' exists", pub_path);
	key = kiln_sign_generate(err);
	if (!key)
		return -1;
	rc = kiln_sign_write_private(key, priv_path, false, err);
	if (rc == 0 && (rc = kiln_sign_write_public(key, pub_path, false, err)) < 0)
		unlink(priv_path);
	kiln_sign_key_free(key);
	return rc;
}

/* Refuse anything but Ed25519, naming the file and what it holds. */
static int check_ed25519(EVP_PKEY *pkey, const char *path, struct kiln_error *err)
{
	const char *type;

	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519)
		return 0;
	type = EVP_PKEY_get0_type_name(pkey);
	return kiln_error_set(err, "'%s' holds a key of type %s; kiln signs only with Ed25519 keys",
			      path, type ? type : "unknown");
}

/* Read a key file (bounded) into a memory BIO. */
static BIO *key_file_bio(const char *path, char **text, size_t *len, struct kiln_error *err)
{
	BIO *bio;

	/* Regular files only: a FIFO given as a key must not hang kiln. */
	*text = kiln_file_read_regular(path, KEY_FILE_MAX, len, err);
	if (!*text)
		return NULL;
	bio = BIO_new_mem_buf(*text, (int)*len);
	if (!bio)
		openssl_error(err, "read key");
	return bio;
}

struct kiln_key *kiln_sign_load_private(const char *path, struct kiln_error *err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_bio_ BIO *bio = NULL;
	_cleanup_pkey_ EVP_PKEY *pkey = NULL;
	size_t text_len = 0;
	struct stat st;

	bio = key_file_bio(path, &text, &text_len, err);
	if (!bio) {
		kiln_error_prefix(err, "private key");
		return NULL;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	/* The PEM text is a secret: wipe our copy. */
	OPENSSL_cleanse(text, text_len);
	if (!pkey) {
		char what[KILN_ERROR_MAX / 2];
		snprintf(what, sizeof(what), "'%s' is not an unencrypted PEM private key", path);
		openssl_error(err, what);
		return NULL;
	}
	/* Like ssh: a signing key others can read is no longer only ours. */
	if (stat(path, &st) < 0) {
		kiln_error_errno(err, errno, "private key '%s'", path);
		return NULL;
	}
	if (st.st_mode & 0077) {
		kiln_error_set(err, "private key '%s' is accessible by group or others (mode %04o): "
			       "chmod 600 '%s'", path, (unsigned)(st.st_mode & 07777), path);
		return NULL;
	}
	if (check_ed25519(pkey, path, err) < 0)
		return NULL;
	return key_wrap(kiln_steal_pointer(&pkey), true, path);
}

/* The DER SubjectPublicKeyInfo of an Ed25519 key is these 12 bytes
 * (SEQUENCE, AlgorithmIdentifier id-Ed25519 1.3.101.112, BIT STRING) and
 * the 32-byte key (RFC 8410 §4): 44 bytes, 60 characters of base64. */
static const unsigned char ed25519_spki_prefix[12] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
						       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };
#define ED25519_SPKI_LEN 44

/* An Ed25519 public key in PEM, read without OpenSSL's PEM decoders: their
 * first use builds decoder chains over every provider, milliseconds that
 * `kiln run` would pay to check one record (docs/signing.md, "Using a
 * snapshot").  NULL, and no error, for anything else: the caller then
 * asks OpenSSL, which says what is wrong. */
static EVP_PKEY *ed25519_public_from_pem(const char *text, size_t len, unsigned char der[ED25519_SPKI_LEN])
{
	static const char begin_line[] = "-----BEGIN PUBLIC KEY-----", end_line[] = "-----END PUBLIC KEY-----";
	const char *begin = memmem(text, len, begin_line, sizeof(begin_line) - 1), *end;
	unsigned char b64[64], out[64];
	size_t n = 0;

	if (!begin)
		return NULL;
	begin += sizeof(begin_line) - 1;
	end = memmem(begin, len - (size_t)(begin - text), end_line, sizeof(end_line) - 1);
	if (!end)
		return NULL;
	for (const char *p = begin; p < end; p++) {
		if (*p == '\n' || *p == '\r')
			continue;
		if (n == 60)
			return NULL;
		b64[n++] = (unsigned char)*p;
	}
	/* 44 bytes: 60 characters, the last one '=' padding. */
	if (n != 60 || b64[59] != '=' || b64[58] == '=' || EVP_DecodeBlock(out, b64, 60) != 45 ||
	    memcmp(out, ed25519_spki_prefix, sizeof(ed25519_spki_prefix)) != 0)
		return NULL;
	memcpy(der, out, ED25519_SPKI_LEN);
	return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, out + sizeof(ed25519_spki_prefix), 32);
}

struct kiln_key *kiln_sign_load_public(const char *path, struct kiln_error *err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_bio_ BIO *bio = NULL;
	_cleanup_pkey_ EVP_PKEY *pkey = NULL;
	unsigned char der[ED25519_SPKI_LEN];
	size_t text_len = 0;

	bio = key_file_bio(path, &text, &text_len, err);
	if (!bio) {
		kiln_error_prefix(err, "public key");
		return NULL;
	}
	pkey = ed25519_public_from_pem(text, text_len, der);
	if (pkey) {
		/* Its id is the hash of those DER bytes (kiln_sign_keyid). */
		struct kiln_key *key = key_wrap(kiln_steal_pointer(&pkey), false, path);
		char hex[KILN_SHA256_HEX_LEN + 1];
		kiln_sha256_hex(der, sizeof(der), hex);
		snprintf(key->keyid, sizeof(key->keyid), "sha256:%s", hex);
		return key;
	}
	pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	if (!pkey) {
		char what[KILN_ERROR_MAX / 2];
		snprintf(what, sizeof(what), "'%s' is not a PEM public key", path);
		openssl_error(err, what);
		return NULL;
	}
	if (check_ed25519(pkey, path, err) < 0)
		return NULL;
	return key_wrap(kiln_steal_pointer(&pkey), false, path);
}

int kiln_sign(const struct kiln_key *key, const void *data, size_t len,
	      unsigned char sig[KILN_SIG_LEN], struct kiln_error *err)
{
	_cleanup_md_ctx_ EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = KILN_SIG_LEN;

	if (!key->is_private)
		return kiln_error_set(err, "sign: '%s' is a public key", key->path);
	/* Ed25519 is "pure": no digest is named, the message goes in whole. */
	if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, data, len) != 1)
		return openssl_error(err, "sign");
	if (siglen != KILN_SIG_LEN)
		return kiln_error_set(err, "sign: signature of %zu bytes, not %d", siglen, KILN_SIG_LEN);
	return 0;
}

int kiln_sign_verify(const struct kiln_key *key, const void *data, size_t len,
		     const unsigned char *sig, size_t siglen, struct kiln_error *err)
{
	_cleanup_md_ctx_ EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc;

	if (siglen != KILN_SIG_LEN) {
		kiln_error_set(err, "bad signature: %zu bytes, an Ed25519 signature has %d", siglen,
			       KILN_SIG_LEN);
		return kiln_error_verification(err);
	}
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) != 1)
		return openssl_error(err, "verify");
	rc = EVP_DigestVerify(ctx, sig, siglen, data, len);
	ERR_clear_error();
	if (rc != 1) {
		char id[KILN_KEYID_LEN + 1] = "";
		kiln_sign_keyid(key, id, NULL);
		kiln_error_set(err, "bad signature: does not verify under key %s%s%s%s", id,
			       key->path[0] ? " ('" : "", key->path, key->path[0] ? "')" : "");
		return kiln_error_verification(err);
	}
	return 0;
}

int kiln_sign_keyid(const struct kiln_key *key, char out[KILN_KEYID_LEN + 1],
		    struct kiln_error *err)
{
	unsigned char *der = NULL;
	char hex[KILN_SHA256_HEX_LEN + 1];
	int n;

	if (key->keyid[0]) {
		memcpy(out, key->keyid, sizeof(key->keyid));
		return 0;
	}
	n = i2d_PUBKEY(key->pkey, &der);
	if (n <= 0) {
		out[0] = '\0';
		return openssl_error(err, "encode the public key");
	}
	kiln_sha256_hex(der, (size_t)n, hex);
	OPENSSL_free(der);
	snprintf(out, KILN_KEYID_LEN + 1, "sha256:%s", hex);
	return 0;
}

char *kiln_sign_find_private(const char *option, const char *workdir)
{
	if (option)
		return kiln_xstrdup(option);
	return kiln_path_join(workdir, ".kiln/signing.key");
}

int kiln_sign_check_key_path(const char *path, const char *workdir, struct kiln_error *err)
{
	size_t n = strlen(workdir);

	while (n > 1 && workdir[n - 1] == '/')
		n--;
	if (strncmp(path, workdir, n) != 0 || path[n] != '/')
		return 0;
	return kiln_path_check_beneath(workdir, path + n + 1, err);
}

void kiln_sign_keyring_release(struct kiln_sign_keyring *ring)
{
	for (size_t i = 0; i < ring->n; i++)
		kiln_sign_key_free(ring->keys[i]);
	free(ring->keys);
	ring->keys = NULL;
	ring->n = ring->alloc = 0;
}

static int keyring_add(struct kiln_sign_keyring *ring, const char *path, struct kiln_error *err)
{
	struct kiln_key *key = kiln_sign_load_public(path, err);

	if (!key)
		return -1;
	kiln_xgrow(&ring->keys, &ring->alloc, ring->n + 1, sizeof(*ring->keys));
	ring->keys[ring->n++] = key;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the directory rather than glob() over WORKDIR: a work tree path
 * holding glob characters ("proj[ab]") must not match other directories. */
int kiln_sign_trusted_paths(const char *workdir, char ***paths, size_t *n, struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_path_join(workdir, ".kiln/trusted");
	_cleanup_close_ int top = -1, fd = -1;
	struct dirent *de;
	size_t alloc = 0;
	DIR *d;

	*paths = NULL;
	*n = 0;
	/* .kiln/trusted/ is the cloned repository's: opened beneath the work
	 * tree following no symlink, and a *.pub that is a symlink is refused,
	 * so no key is read from outside the work tree (fsutil.h). */
	if ((top = kiln_dir_open(workdir, false, 0, err)) < 0)
		return -1;
	fd = kiln_dir_open_beneath(top, workdir, ".kiln/trusted", false, 0, err);
	if (fd < 0) {
		if (errno != ENOENT)
			return -1;
		kiln_error_clear(err);
		return 0;
	}
	d = fdopendir(fd);
	if (!d)
		return kiln_error_errno(err, errno, "open '%s'", dir);
	fd = -1;
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' || !kiln_str_has_suffix(de->d_name, ".pub"))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
			kiln_error_set(err, "'%s/%s' is a symbolic link, where kiln expects a public key file: "
				       "refusing to follow it", dir, de->d_name);
			kiln_error_verification(err);
			closedir(d);
			kiln_sign_trusted_paths_free(*paths, *n);
			*paths = NULL;
			*n = 0;
			return -1;
		}
		kiln_xgrow(paths, &alloc, *n + 1, sizeof(**paths));
		(*paths)[(*n)++] = kiln_path_join(dir, de->d_name);
	}
	if (errno) {
		int e = errno;
		closedir(d);
		kiln_sign_trusted_paths_free(*paths, *n);
		*paths = NULL;
		*n = 0;
		return kiln_error_errno(err, e, "read '%s'", dir);
	}
	closedir(d);
	/* In name order, so the order (and any error) is the same each run. */
	if (*n)
		qsort(*paths, *n, sizeof(**paths), compare_names);
	return 0;
}

void kiln_sign_trusted_paths_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int kiln_sign_load_trusted(const char *const *pub_paths, size_t n_paths, const char *workdir,
			   struct kiln_sign_keyring *ring, struct kiln_error *err)
{
	char **found = NULL;
	size_t n_found = 0;
	int rc = 0;

	if (n_paths > 0) {
		for (size_t i = 0; i < n_paths && rc == 0; i++)
			rc = keyring_add(ring, pub_paths[i], err);
		if (rc < 0)
			kiln_sign_keyring_release(ring);
		return rc;
	}
	if (kiln_sign_trusted_paths(workdir, &found, &n_found, err) < 0)
		return -1;
	if (n_found == 0) {
		_cleanup_free_ char *dir = kiln_path_join(workdir, ".kiln/trusted");
		return kiln_error_set(err, "no trusted public keys: none given with --pub, no *.pub in '%s'", dir);
	}
	for (size_t i = 0; i < n_found && rc == 0; i++)
		rc = keyring_add(ring, found[i], err);
	kiln_sign_trusted_paths_free(found, n_found);
	if (rc < 0)
		kiln_sign_keyring_release(ring);
	return rc;
}
