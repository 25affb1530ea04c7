/* test_sign.c - Ed25519 keys: generation and the files it writes, loading
 * (and refusing other key types, group-readable private keys, garbage),
 * signatures that verify and ones that must not, key ids, key lookup. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "hash.h"
#include "process.h"
#include "sign.h"
#include "tap.h"
#include "util.h"

static char top[] = "/tmp/kiln-test-sign.XXXXXX";

static char *in_top(const char *name)
{
	return kiln_path_join(top, name);
}

/* Run argv; 0 when it exited 0. */
static int run(char *const argv[])
{
	struct kiln_error err = { 0 };
	_cleanup_buf_ struct kiln_buf errout = KILN_BUF_INIT;
	int status = -1;

	if (kiln_process_capture(argv, NULL, &errout, &status, &err) < 0) {
		printf("# %s: %s\n", argv[0], err.message);
		return -1;
	}
	if (status != 0)
		printf("# %s exited %d: %s\n", argv[0], status, errout.data ? errout.data : "");
	return status == 0 ? 0 : -1;
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (st.st_mode & 07777) : (mode_t)-1;
}

TEST(keygen_writes_pem_files_with_modes)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *priv = in_top("a.key"), *pub = in_top("a.pub");
	_cleanup_free_ char *priv_text = NULL, *pub_text = NULL;
	size_t len;

	CHECK(kiln_sign_keygen(priv, pub, &err) == 0);
	CHECK(file_mode(priv) == 0600);
	CHECK(file_mode(pub) == 0644);
	priv_text = kiln_file_read(priv, 4096, &len, &err);
	pub_text = kiln_file_read(pub, 4096, &len, &err);
	CHECK(priv_text && kiln_str_has_prefix(priv_text, "-----BEGIN PRIVATE KEY-----\n"));
	CHECK(pub_text && kiln_str_has_prefix(pub_text, "-----BEGIN PUBLIC KEY-----\n"));
}

TEST(keygen_never_overwrites)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *priv = in_top("a.key"), *pub = in_top("a.pub");
	_cleanup_free_ char *pub2 = in_top("other.pub"), *before = NULL, *after = NULL;
	size_t len;

	before = kiln_file_read(priv, 4096, &len, &err);
	CHECK(kiln_sign_keygen(priv, pub2, &err) < 0);
	CHECK_CONTAINS(err.message, "a.key' exists");
	/* Refused before anything was written: no stray public key. */
	CHECK(access(pub2, F_OK) < 0);
	kiln_error_clear(&err);
	CHECK(kiln_sign_keygen(pub2, pub, &err) < 0);
	CHECK_CONTAINS(err.message, "a.pub' exists");
	CHECK(access(pub2, F_OK) < 0);
	after = kiln_file_read(priv, 4096, &len, &err);
	CHECK(before && after && strcmp(before, after) == 0);
}

TEST(write_private_overwrite)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *path = in_top("b.key"), *first = NULL, *second = NULL;
	struct kiln_key *k1 = kiln_sign_generate(&err), *k2 = kiln_sign_generate(&err);
	size_t len;

	CHECK(k1 && k2);
	if (!k1 || !k2)
		goto out;
	CHECK(kiln_sign_write_private(k1, path, false, &err) == 0);
	first = kiln_file_read(path, 4096, &len, &err);
	CHECK(kiln_sign_write_private(k2, path, false, &err) < 0);
	CHECK_CONTAINS(err.message, "exists");
	CHECK(kiln_sign_write_private(k2, path, true, &err) == 0);
	second = kiln_file_read(path, 4096, &len, &err);
	CHECK(first && second && strcmp(first, second) != 0);
	CHECK(file_mode(path) == 0600);
	/* A public key cannot be written as a private one. */
	{
		_cleanup_free_ char *pub = in_top("b.pub"), *bad = in_top("bad.key");
		struct kiln_key *p;
		CHECK(kiln_sign_write_public(k1, pub, false, &err) == 0);
		p = kiln_sign_load_public(pub, &err);
		CHECK(p && kiln_sign_write_private(p, bad, false, &err) < 0);
		kiln_sign_key_free(p);
	}
out:
	kiln_sign_key_free(k1);
	kiln_sign_key_free(k2);
}

TEST(load_sign_verify_round_trip)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *priv = in_top("a.key"), *pub = in_top("a.pub");
	struct kiln_key *sk = kiln_sign_load_private(priv, &err);
	struct kiln_key *pk = kiln_sign_load_public(pub, &err);
	unsigned char sig[KILN_SIG_LEN], sig2[KILN_SIG_LEN];
	static const char msg[] = "hello world";
	char id1[KILN_KEYID_LEN + 1], id2[KILN_KEYID_LEN + 1];

	CHECK(sk && pk);
	if (!sk || !pk) {
		printf("# %s\n", err.message);
		goto out;
	}
	CHECK_STR(kiln_sign_key_path(sk), priv);
	CHECK(kiln_sign(sk, msg, strlen(msg), sig, &err) == 0);
	/* Ed25519 is deterministic. */
	CHECK(kiln_sign(sk, msg, strlen(msg), sig2, &err) == 0);
	CHECK(memcmp(sig, sig2, sizeof(sig)) == 0);
	CHECK(kiln_sign_verify(pk, msg, strlen(msg), sig, sizeof(sig), &err) == 0);
	CHECK(kiln_sign_verify(sk, msg, strlen(msg), sig, sizeof(sig), &err) == 0);
	/* Empty messages are messages too. */
	CHECK(kiln_sign(sk, "", 0, sig2, &err) == 0);
	CHECK(kiln_sign_verify(pk, "", 0, sig2, sizeof(sig2), &err) == 0);
	/* A public key cannot sign. */
	CHECK(kiln_sign(pk, msg, strlen(msg), sig2, &err) < 0);

	CHECK(kiln_sign_keyid(sk, id1, &err) == 0);
	CHECK(kiln_sign_keyid(pk, id2, &err) == 0);
	CHECK_STR(id1, id2);
	CHECK(kiln_str_has_prefix(id1, "sha256:") && kiln_sha256_hex_valid(id1 + 7, strlen(id1 + 7)));
out:
	kiln_sign_key_free(sk);
	kiln_sign_key_free(pk);
}

/* The key id is sha256 of the DER SubjectPublicKeyInfo, as openssl writes it. */
TEST(keyid_matches_openssl_der)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *pub = in_top("a.pub"), *der = in_top("a.der"), *der_bytes = NULL;
	char *argv[] = { "openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER", "-out", der, NULL };
	struct kiln_key *pk = kiln_sign_load_public(pub, &err);
	char id[KILN_KEYID_LEN + 1], hex[KILN_SHA256_HEX_LEN + 1];
	size_t len = 0;

	CHECK(pk && run(argv) == 0);
	der_bytes = kiln_file_read(der, 4096, &len, &err);
	CHECK(der_bytes && len == 44);
	if (pk && der_bytes) {
		kiln_sha256_hex(der_bytes, len, hex);
		CHECK(kiln_sign_keyid(pk, id, &err) == 0);
		CHECK_STR(id + 7, hex);
	}
	kiln_sign_key_free(pk);
}

/* Expect verification to fail with exit code 3. */
#define CHECK_BAD_SIG(key, data, len, sig, siglen)                                  \
	do {                                                                        \
		struct kiln_error e_ = { 0 };                                       \
		CHECK(kiln_sign_verify(key, data, len, sig, siglen, &e_) < 0);      \
		CHECK(e_.code == KILN_EXIT_VERIFY);                                 \
		CHECK_CONTAINS(e_.message, "bad signature");                        \
	} while (0)

TEST(bad_signatures_fail_with_exit_3)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *priv = in_top("a.key"), *pub = in_top("a.pub");
	struct kiln_key *sk = kiln_sign_load_private(priv, &err);
	struct kiln_key *pk = kiln_sign_load_public(pub, &err);
	struct kiln_key *other = kiln_sign_generate(&err);
	unsigned char sig[KILN_SIG_LEN], zero[KILN_SIG_LEN] = { 0 };
	char msg[] = "hello world";

	CHECK(sk && pk && other);
	if (!sk || !pk || !other)
		goto out;
	CHECK(kiln_sign(sk, msg, strlen(msg), sig, &err) == 0);
	/* Every flipped bit of the message or signature fails. */
	for (size_t i = 0; i < strlen(msg) * 8; i++) {
		msg[i / 8] ^= (char)(1 << (i % 8));
		CHECK(kiln_sign_verify(pk, msg, strlen(msg), sig, sizeof(sig), NULL) < 0);
		msg[i / 8] ^= (char)(1 << (i % 8));
	}
	for (size_t i = 0; i < sizeof(sig) * 8; i++) {
		sig[i / 8] ^= (unsigned char)(1 << (i % 8));
		CHECK(kiln_sign_verify(pk, msg, strlen(msg), sig, sizeof(sig), NULL) < 0);
		sig[i / 8] ^= (unsigned char)(1 << (i % 8));
	}
	CHECK(kiln_sign_verify(pk, msg, strlen(msg), sig, sizeof(sig), &err) == 0);
	CHECK_BAD_SIG(pk, "hello worle", 11, sig, sizeof(sig));
	CHECK_BAD_SIG(other, msg, strlen(msg), sig, sizeof(sig));
	CHECK_BAD_SIG(pk, msg, strlen(msg), zero, sizeof(zero));
	CHECK_BAD_SIG(pk, msg, strlen(msg), sig, sizeof(sig) - 1);
	CHECK_BAD_SIG(pk, msg, strlen(msg), sig, 0);
out:
	kiln_sign_key_free(sk);
	kiln_sign_key_free(pk);
	kiln_sign_key_free(other);
}

TEST(refuses_other_key_types)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *rsa = in_top("rsa.key"), *ec = in_top("ec.key");
	_cleanup_free_ char *ec_pub = in_top("ec.pub"), *x = in_top("x25519.key");
	char *gen_rsa[] = { "openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
			    "rsa_keygen_bits:1024", "-out", rsa, NULL };
	char *gen_ec[] = { "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
			   "ec_paramgen_curve:P-256", "-out", ec, NULL };
	char *gen_ec_pub[] = { "openssl", "pkey", "-in", ec, "-pubout", "-out", ec_pub, NULL };
	char *gen_x[] = { "openssl", "genpkey", "-algorithm", "X25519", "-out", x, NULL };
	struct kiln_key *k;

	CHECK(run(gen_rsa) == 0 && run(gen_ec) == 0 && run(gen_ec_pub) == 0 && run(gen_x) == 0);
	chmod(rsa, 0600);
	chmod(ec, 0600);
	chmod(x, 0600);
	k = kiln_sign_load_private(rsa, &err);
	CHECK(k == NULL);
	CHECK_CONTAINS(err.message, rsa);
	CHECK_CONTAINS(err.message, "type RSA");
	CHECK_CONTAINS(err.message, "Ed25519");
	kiln_sign_key_free(k);
	k = kiln_sign_load_private(ec, &err);
	CHECK(k == NULL);
	CHECK_CONTAINS(err.message, ec);
	CHECK_CONTAINS(err.message, "type EC");
	kiln_sign_key_free(k);
	k = kiln_sign_load_public(ec_pub, &err);
	CHECK(k == NULL);
	CHECK_CONTAINS(err.message, ec_pub);
	CHECK_CONTAINS(err.message, "type EC");
	kiln_sign_key_free(k);
	k = kiln_sign_load_private(x, &err);
	CHECK(k == NULL);
	CHECK_CONTAINS(err.message, "X25519");
	kiln_sign_key_free(k);
}

/* Ed25519 public keys are read without OpenSSL's PEM decoders (a fast
 * path for `kiln run`): the same key, id and answers as OpenSSL's reading,
 * whatever the line ends or text around the block; other 44-byte keys
 * (X25519) are still told apart. */
TEST(public_pem_forms)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *priv = in_top("a.key"), *pub = in_top("a.pub"), *crlf = in_top("crlf.pub");
	_cleanup_free_ char *x = in_top("x25519.key"), *x_pub = in_top("x25519.pub");
	_cleanup_free_ char *ossl = in_top("ossl.pub"), *text = NULL;
	char *gen_x[] = { "openssl", "genpkey", "-algorithm", "X25519", "-out", x, NULL };
	char *gen_x_pub[] = { "openssl", "pkey", "-in", x, "-pubout", "-out", x_pub, NULL };
	char *gen_ossl[] = { "openssl", "pkey", "-in", priv, "-pubout", "-out", ossl, NULL };
	struct kiln_key *sk = kiln_sign_load_private(priv, &err), *k;
	struct kiln_buf b = KILN_BUF_INIT;
	char want[KILN_KEYID_LEN + 1] = "", id[KILN_KEYID_LEN + 1];
	unsigned char sig[KILN_SIG_LEN];
	size_t len = 0;

	CHECK(sk && kiln_sign_keyid(sk, want, &err) == 0 && kiln_sign(sk, "m", 1, sig, &err) == 0);
	text = kiln_file_read(pub, 4096, &len, &err);
	CHECK(text != NULL);
	/* CRLF line ends and a comment before the block. */
	kiln_buf_printf(&b, "a comment openssl skips\r\n");
	for (const char *p = text; p && *p; p++)
		kiln_buf_printf(&b, *p == '\n' ? "\r\n" : "%c", *p);
	CHECK(kiln_file_write_atomic(crlf, b.data, b.len, 0644, &err) == 0);
	kiln_buf_release(&b);
	CHECK(run(gen_ossl) == 0);
	for (int i = 0; i < 2; i++) {
		k = kiln_sign_load_public(i ? ossl : crlf, &err);
		CHECK(k != NULL);
		if (!k)
			continue;
		CHECK(kiln_sign_keyid(k, id, &err) == 0);
		CHECK_STR(id, want);
		CHECK(kiln_sign_verify(k, "m", 1, sig, sizeof(sig), &err) == 0);
		CHECK(kiln_sign_verify(k, "n", 1, sig, sizeof(sig), &err) < 0);
		kiln_sign_key_free(k);
	}
	CHECK(run(gen_x) == 0 && run(gen_x_pub) == 0);
	k = kiln_sign_load_public(x_pub, &err);
	CHECK(k == NULL);
	CHECK_CONTAINS(err.message, "X25519");
	kiln_sign_key_free(k);
	kiln_sign_key_free(sk);
}

TEST(refuses_group_or_world_readable_private_key)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *priv = in_top("a.key");
	static const mode_t bad_modes[] = { 0644, 0640, 0604, 0660, 0610 };
	struct kiln_key *k;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad_modes); i++) {
		kiln_error_clear(&err);
		CHECK(chmod(priv, bad_modes[i]) == 0);
		k = kiln_sign_load_private(priv, &err);
		CHECK(k == NULL);
		CHECK_CONTAINS(err.message, "chmod 600");
		CHECK_CONTAINS(err.message, priv);
		kiln_sign_key_free(k);
	}
	CHECK(chmod(priv, 0400) == 0);
	k = kiln_sign_load_private(priv, &err);
	CHECK(k != NULL);
	kiln_sign_key_free(k);
	CHECK(chmod(priv, 0600) == 0);
}

TEST(refuses_garbage_and_missing_files)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *junk = in_top("junk.key"), *missing = in_top("missing.key");
	_cleanup_free_ char *pub = in_top("a.pub"), *priv = in_top("a.key"), *empty = in_top("empty");
	_cleanup_free_ char *enc = in_top("enc.key");
	char *gen_enc[] = { "openssl", "genpkey", "-algorithm", "ED25519", "-aes-128-cbc", "-pass",
			    "pass:secret", "-out", enc, NULL };
	struct kiln_key *k;

	CHECK(kiln_file_write_atomic(junk, "-----BEGIN PRIVATE KEY-----\nnonsense\n", 38, 0600,
				     &err) == 0);
	CHECK(kiln_file_write_atomic(empty, "", 0, 0600, &err) == 0);
	CHECK((k = kiln_sign_load_private(junk, &err)) == NULL);
	CHECK_CONTAINS(err.message, junk);
	CHECK((k = kiln_sign_load_public(junk, &err)) == NULL);
	CHECK_CONTAINS(err.message, junk);
	CHECK((k = kiln_sign_load_private(empty, &err)) == NULL);
	CHECK((k = kiln_sign_load_public(empty, &err)) == NULL);
	CHECK((k = kiln_sign_load_private(missing, &err)) == NULL);
	CHECK_CONTAINS(err.message, missing);
	CHECK((k = kiln_sign_load_public(missing, &err)) == NULL);
	CHECK_CONTAINS(err.message, missing);
	/* The wrong half. */
	CHECK((k = kiln_sign_load_private(pub, &err)) == NULL);
	CHECK((k = kiln_sign_load_public(priv, &err)) == NULL);
	/* An encrypted key is refused without prompting for a passphrase. */
	CHECK(run(gen_enc) == 0);
	chmod(enc, 0600);
	CHECK((k = kiln_sign_load_private(enc, &err)) == NULL);
	CHECK_CONTAINS(err.message, enc);
}

TEST(find_private_key)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

	/* The library reads no environment: $KILN_KEY is the command
	 * line's to pass as the option (cmd/kiln/env.c). */
	setenv("KILN_KEY", "/env/key", 1);
	a = kiln_sign_find_private(NULL, "/w");
	CHECK_STR(a, "/w/.kiln/signing.key");
	unsetenv("KILN_KEY");
	b = kiln_sign_find_private("/opt/key", "/w");
	CHECK_STR(b, "/opt/key");
	c = kiln_sign_find_private(NULL, "/w/");
	CHECK_STR(c, "/w/.kiln/signing.key");
}

TEST(trusted_keys)
{
	struct kiln_error err = { 0 };
	struct kiln_sign_keyring ring = KILN_KEYRING_INIT;
	_cleanup_free_ char *work = in_top("work"), *trusted = in_top("work/.kiln/trusted");
	_cleanup_free_ char *p1 = in_top("work/.kiln/trusted/one.pub");
	_cleanup_free_ char *p2 = in_top("work/.kiln/trusted/two.pub");
	_cleanup_free_ char *notpub = in_top("work/.kiln/trusted/README");
	_cleanup_free_ char *k1 = in_top("work/one.key"), *k2 = in_top("work/two.key");
	_cleanup_free_ char *ec_pub = in_top("ec.pub"), *pub = in_top("a.pub");
	const char *paths[] = { pub };
	const char *bad_paths[] = { pub, ec_pub };

	CHECK(kiln_mkdir_p(trusted, 0755, &err) == 0);
	CHECK(kiln_sign_load_trusted(NULL, 0, work, &ring, &err) < 0);
	CHECK_CONTAINS(err.message, "no trusted public keys");
	CHECK(kiln_sign_keygen(k1, p1, &err) == 0 && kiln_sign_keygen(k2, p2, &err) == 0);
	CHECK(kiln_file_write_atomic(notpub, "x", 1, 0644, &err) == 0);
	CHECK(kiln_sign_load_trusted(NULL, 0, work, &ring, &err) == 0);
	CHECK(ring.n == 2);
	if (ring.n == 2) {
		CHECK_STR(kiln_sign_key_path(ring.keys[0]), p1);
		CHECK_STR(kiln_sign_key_path(ring.keys[1]), p2);
	}
	kiln_sign_keyring_release(&ring);
	CHECK(ring.n == 0 && ring.keys == NULL);
	/* --pub paths replace the directory. */
	CHECK(kiln_sign_load_trusted(paths, 1, work, &ring, &err) == 0);
	CHECK(ring.n == 1);
	kiln_sign_keyring_release(&ring);
	/* One bad key fails the whole set, naming it. */
	CHECK(kiln_sign_load_trusted(bad_paths, 2, work, &ring, &err) < 0);
	CHECK_CONTAINS(err.message, ec_pub);
	CHECK(ring.n == 0);
	kiln_sign_keyring_release(&ring);
}

int main(void)
{
	if (!mkdtemp(top)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN(keygen_writes_pem_files_with_modes);
	RUN(keygen_never_overwrites);
	RUN(write_private_overwrite);
	RUN(load_sign_verify_round_trip);
	RUN(keyid_matches_openssl_der);
	RUN(bad_signatures_fail_with_exit_3);
	RUN(refuses_other_key_types);
	RUN(public_pem_forms);
	RUN(refuses_group_or_world_readable_private_key);
	RUN(refuses_garbage_and_missing_files);
	RUN(find_private_key);
	RUN(trusted_keys);
	{
		_cleanup_free_ char *cmd = kiln_xasprintf("rm -rf '%s'", top);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", top);
	}
	return tap_done();
}
