/* test_dsse.c - DSSE v1: PAE byte for byte against the spec, base64 that
 * must decode exactly, envelopes that round-trip, hostile envelopes that
 * must fail with exit 3, and interop with `openssl pkeyutl` both ways. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "dsse.h"
#include "fsutil.h"
#include "process.h"
#include "sign.h"
#include "tap.h"
#include "util.h"

static char top[] = "/tmp/kiln-test-dsse.XXXXXX";
static struct kiln_key *signer, *signer_pub, *stranger;
static char *priv_path, *pub_path;

static const char type_intoto[] = KILN_DSSE_IN_TOTO;
static const char statement[] = "{\"_type\":\"https://in-toto.io/Statement/v1\"}";

/* Run argv; its exit status (-1 when it could not run). */
static int run(char *const argv[], struct kiln_buf *out)
{
	struct kiln_error err = { 0 };
	_cleanup_buf_ struct kiln_buf errout = KILN_BUF_INIT;
	int status = -1;

	if (kiln_process_capture(argv, out, &errout, &status, &err) < 0) {
		printf("# %s: %s\n", argv[0], err.message);
		return -1;
	}
	if (status != 0)
		printf("# %s exited %d: %s\n", argv[0], status, errout.data ? errout.data : "");
	return status;
}

TEST(pae_matches_spec_example)
{
	_cleanup_buf_ struct kiln_buf pae = KILN_BUF_INIT;
	static const char want[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";

	kiln_dsse_pae("http://example.com/HelloWorld", "hello world", 11, &pae);
	CHECK(pae.len == strlen(want));
	CHECK(pae.len == strlen(want) && memcmp(pae.data, want, pae.len) == 0);
}

TEST(pae_edges)
{
	_cleanup_buf_ struct kiln_buf empty = KILN_BUF_INIT, binary = KILN_BUF_INIT;
	static const char body[] = { 'a', '\0', ' ', '\n', 'b' };
	static const char want[] = "DSSEv1 1 t 5 a\0 \nb";

	kiln_dsse_pae("", "", 0, &empty);
	CHECK(empty.len == 12 && memcmp(empty.data, "DSSEv1 0  0 ", 12) == 0);
	/* The body's length counts bytes, NULs included. */
	kiln_dsse_pae("t", body, sizeof(body), &binary);
	CHECK(binary.len == sizeof(want) - 1 && memcmp(binary.data, want, binary.len) == 0);
}

TEST(base64_exact)
{
	static const struct { const char *plain, *b64; } good[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
		{ "\xfb\xff", "+/8=" },
	};
	static const char *const bad[] = {
		"Zg", "Zg=", "Zm9", "Zg===", "Zh==", "Zm9=", "Zm9v\n", " Zm9v", "Zm 9v",
		"Zm9v====", "=Zm9", "Zg==Zg==", "-_8=", "Zm9v!", "Z===",
	};
	unsigned char *d;
	size_t len;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(good); i++) {
		_cleanup_free_ char *e = kiln_dsse_base64_encode(good[i].plain, strlen(good[i].plain));
		CHECK_STR(e, good[i].b64);
		d = kiln_dsse_base64_decode(good[i].b64, strlen(good[i].b64), &len);
		CHECK(d && len == strlen(good[i].plain) && memcmp(d, good[i].plain, len) == 0);
		free(d);
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		d = kiln_dsse_base64_decode(bad[i], strlen(bad[i]), &len);
		if (d)
			printf("# accepted \"%s\"\n", bad[i]);
		CHECK(d == NULL);
		free(d);
	}
	/* A NUL inside the text. */
	d = kiln_dsse_base64_decode("Zm\0v", 4, &len);
	CHECK(d == NULL);
	free(d);
}

TEST(envelope_round_trip)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *env = kiln_dsse_envelope(type_intoto, statement, strlen(statement),
						      signer, &err);
	_cleanup_free_ char *env2 = kiln_dsse_envelope(type_intoto, statement, strlen(statement),
						       signer, &err);
	_cleanup_free_ char *payload = NULL, *type = NULL, *b64 = NULL, *want = NULL;
	char keyid[KILN_KEYID_LEN + 1];
	size_t len = 0;

	CHECK(env != NULL);
	if (!env) {
		printf("# %s\n", err.message);
		return;
	}
	/* Deterministic: same payload and key, same bytes. */
	CHECK_STR(env, env2);
	/* Exactly the documented shape, keys sorted, compact. */
	CHECK(kiln_sign_keyid(signer, keyid, &err) == 0);
	b64 = kiln_dsse_base64_encode(statement, strlen(statement));
	want = kiln_xasprintf("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"",
			      b64, type_intoto, keyid);
	CHECK(kiln_str_has_prefix(env, want));
	CHECK(kiln_str_has_suffix(env, "\"}]}"));
	CHECK(kiln_dsse_verify(env, strlen(env), &signer_pub, 1, &payload, &len, &type, &err) == 0);
	CHECK(payload && len == strlen(statement) && memcmp(payload, statement, len) == 0);
	CHECK_STR(type, type_intoto);
	/* The private key verifies too; the outputs are optional. */
	CHECK(kiln_dsse_verify(env, strlen(env), &signer, 1, NULL, NULL, NULL, &err) == 0);
	/* Among several trusted keys, any one will do. */
	{
		struct kiln_key *keys[] = { stranger, signer_pub };
		CHECK(kiln_dsse_verify(env, strlen(env), keys, 2, NULL, NULL, NULL, &err) == 0);
	}
}

TEST(envelope_empty_and_binary_payloads)
{
	struct kiln_error err = { 0 };
	static const char bin[] = { 0, 1, 2, '"', '\\', (char)0xff, 0 };
	_cleanup_free_ char *e1 = kiln_dsse_envelope("text/plain", "", 0, signer, &err);
	_cleanup_free_ char *e2 = kiln_dsse_envelope("application/octet-stream", bin, sizeof(bin),
						     signer, &err);
	_cleanup_free_ char *p1 = NULL, *p2 = NULL;
	size_t l1 = 99, l2 = 0;

	CHECK(e1 && e2);
	CHECK(e1 && kiln_dsse_verify(e1, strlen(e1), &signer_pub, 1, &p1, &l1, NULL, &err) == 0);
	CHECK(l1 == 0 && p1 && p1[0] == '\0');
	CHECK(e2 && kiln_dsse_verify(e2, strlen(e2), &signer_pub, 1, &p2, &l2, NULL, &err) == 0);
	CHECK(l2 == sizeof(bin) && p2 && memcmp(p2, bin, l2) == 0);
	/* A public key cannot sign. */
	CHECK(kiln_dsse_envelope("t", "x", 1, signer_pub, &err) == NULL);
}

/* Verify text that must fail with exit 3 and a message containing want. */
static void check_fails(const char *env, const char *want, int line)
{
	struct kiln_error err = { 0 };
	char *payload = NULL, *type = NULL;
	struct kiln_key *keys[] = { stranger, signer_pub };

	if (kiln_dsse_verify(env, strlen(env), keys, 2, &payload, NULL, &type, &err) == 0) {
		printf("# line %d: accepted %s\n", line, env);
		tap_current_failed = 1;
	} else if (err.code != KILN_EXIT_VERIFY || !strstr(err.message, want)) {
		printf("# line %d: code %d, message \"%s\", wanted \"%s\"\n", line, err.code,
		       err.message, want);
		tap_current_failed = 1;
	}
	if (payload || type) {
		printf("# line %d: outputs set on failure\n", line);
		tap_current_failed = 1;
	}
	free(payload);
	free(type);
}
#define CHECK_FAILS(env, want) check_fails(env, want, __LINE__)

/* A good envelope's parts, for building bad ones. */
struct parts {
	char *payload, *sig, *keyid;
};

static void parts_of(const char *env, struct parts *p)
{
	json_auto_t *j = json_loads(env, 0, NULL);
	json_t *s = json_array_get(json_object_get(j, "signatures"), 0);

	p->payload = kiln_xstrdup(json_string_value(json_object_get(j, "payload")));
	p->sig = kiln_xstrdup(json_string_value(json_object_get(s, "sig")));
	p->keyid = kiln_xstrdup(json_string_value(json_object_get(s, "keyid")));
}

static void parts_release(struct parts *p)
{
	free(p->payload);
	free(p->sig);
	free(p->keyid);
}

TEST(tampered_and_wrong_key)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *env = kiln_dsse_envelope(type_intoto, statement, strlen(statement),
						      signer, &err);
	_cleanup_free_ char *other = kiln_dsse_envelope(type_intoto, statement, strlen(statement),
							stranger, &err);
	_cleanup_free_ char *evil64 = NULL, *flipped = NULL;
	char *e;
	struct parts p;

	if (!env || !other) {
		CHECK(0);
		return;
	}
	parts_of(env, &p);
	/* Another payload under the same signature. */
	evil64 = kiln_dsse_base64_encode("{\"_type\":\"evil\"}", 16);
	e = kiln_xasprintf("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}",
			   evil64, type_intoto, p.keyid, p.sig);
	CHECK_FAILS(e, "no signature by a trusted key");
	free(e);
	/* Another payload type: PAE binds it. */
	e = kiln_xasprintf("{\"payload\":\"%s\",\"payloadType\":\"application/json\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}",
			   p.payload, p.keyid, p.sig);
	CHECK_FAILS(e, "no signature by a trusted key");
	free(e);
	/* A flipped signature byte (still canonical base64). */
	flipped = kiln_xstrdup(p.sig);
	flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
	e = kiln_xasprintf("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}",
			   p.payload, type_intoto, p.keyid, flipped);
	CHECK_FAILS(e, "no signature by a trusted key");
	free(e);
	/* Signed by a key nobody trusts, whatever keyid it claims. */
	{
		struct kiln_key *only_signer[] = { signer_pub };
		CHECK(kiln_dsse_verify(other, strlen(other), only_signer, 1, NULL, NULL, NULL, &err) < 0);
		CHECK(err.code == KILN_EXIT_VERIFY);
		CHECK_CONTAINS(err.message, "no signature by a trusted key");
	}
	{
		struct parts o;
		parts_of(other, &o);
		e = kiln_xasprintf("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}",
				   o.payload, type_intoto, p.keyid, o.sig);
		struct kiln_key *only_signer[] = { signer_pub };
		kiln_error_clear(&err);
		CHECK(kiln_dsse_verify(e, strlen(e), only_signer, 1, NULL, NULL, NULL, &err) < 0);
		CHECK(err.code == KILN_EXIT_VERIFY);
		free(e);
		parts_release(&o);
	}
	/* No trusted keys at all. */
	CHECK(kiln_dsse_verify(env, strlen(env), NULL, 0, NULL, NULL, NULL, &err) < 0);
	CHECK(err.code == KILN_EXIT_VERIFY);
	/* keyid is only a hint: wrong or absent, a good signature still counts,
	 * and a bad signature before a good one does not spoil it. */
	e = kiln_xasprintf("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"},{\"keyid\":\"sha256:00\",\"sig\":\"%s\"},{\"sig\":\"%s\"}]}",
			   p.payload, type_intoto, p.keyid, flipped, p.sig, p.sig);
	CHECK(kiln_dsse_verify(e, strlen(e), &signer_pub, 1, NULL, NULL, NULL, &err) == 0);
	free(e);
	parts_release(&p);
}

TEST(malformed_envelopes)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *env = kiln_dsse_envelope(type_intoto, statement, strlen(statement),
						      signer, &err);
	struct parts p;
	char *e;

	if (!env) {
		CHECK(0);
		return;
	}
	parts_of(env, &p);
#define ENV(fmt, ...) (e = kiln_xasprintf(fmt, __VA_ARGS__))
	/* Duplicate keys, at the top and inside a signature: the first or the
	 * last could be what another parser reads. */
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}]}",
			p.payload, p.payload, type_intoto, p.sig), "duplicate");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\",\"sig\":\"%s\"}]}",
			p.payload, type_intoto, p.sig, p.sig), "duplicate");
	free(e);
	/* Missing or mistyped fields. */
	CHECK_FAILS(ENV("{\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}]}", type_intoto, p.sig),
		    "\"payload\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}]}", p.payload, p.sig),
		    "\"payloadType\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\"}", p.payload, type_intoto),
		    "\"signatures\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[]}", p.payload,
			type_intoto), "\"signatures\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":{\"sig\":\"%s\"}}",
			p.payload, type_intoto, p.sig), "\"signatures\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"keyid\":\"%s\"}]}",
			p.payload, type_intoto, p.keyid), "signatures[0] has no \"sig\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"},\"%s\"]}",
			p.payload, type_intoto, p.sig, p.sig), "signatures[1] has no \"sig\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"keyid\":7,\"sig\":\"%s\"}]}",
			p.payload, type_intoto, p.sig), "keyid is not a string");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":%d,\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}]}", 5,
			type_intoto, p.sig), "\"payload\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":null,\"signatures\":[{\"sig\":\"%s\"}]}",
			p.payload, p.sig), "\"payloadType\"");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"a\\u0000b\",\"signatures\":[{\"sig\":\"%s\"}]}",
			p.payload, p.sig), "NUL");
	free(e);
	/* Bad base64: payload and signature. */
	CHECK_FAILS(ENV("{\"payload\":\"%s!\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}]}",
			p.payload, type_intoto, p.sig), "bad base64 in payload");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\\n\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}]}",
			p.payload, type_intoto, p.sig), "bad base64 in payload");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%.86s\"}]}",
			p.payload, type_intoto, p.sig), "bad base64 in signatures[0].sig");
	free(e);
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"},{\"sig\":\"*%s\"}]}",
			p.payload, type_intoto, p.sig, p.sig), "bad base64 in signatures[1].sig");
	free(e);
	/* A signature of the wrong length. */
	CHECK_FAILS(ENV("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}]}",
			p.payload, type_intoto, "AAAA"), "no signature by a trusted key");
	free(e);
#undef ENV
	/* Not an envelope at all. */
	CHECK_FAILS("", "bad JSON");
	CHECK_FAILS("{", "bad JSON");
	CHECK_FAILS("[]", "not a JSON object");
	CHECK_FAILS("null", "bad JSON");
	CHECK_FAILS("{}", "\"payload\"");
	CHECK_FAILS("{\"payload\":\"\"} trailing", "bad JSON");
	parts_release(&p);
}

static int write_file(const char *path, const void *data, size_t len)
{
	struct kiln_error err = { 0 };

	if (kiln_file_write_atomic(path, data, len, 0644, &err) < 0) {
		printf("# %s\n", err.message);
		return -1;
	}
	return 0;
}

/* OpenSSL, not kiln, checks what kiln signed (docs/signing.md). */
TEST(openssl_verifies_kiln_signatures)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *env = kiln_dsse_envelope(type_intoto, statement, strlen(statement),
						      signer, &err);
	_cleanup_free_ char *pae_path = kiln_path_join(top, "pae"), *sig_path = kiln_path_join(top, "sig");
	_cleanup_free_ char *bad_path = kiln_path_join(top, "pae.bad"), *sig = NULL;
	_cleanup_buf_ struct kiln_buf pae = KILN_BUF_INIT, out = KILN_BUF_INIT, out2 = KILN_BUF_INIT;
	char *verify[] = { "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub_path, "-rawin",
			   "-in", pae_path, "-sigfile", sig_path, NULL };
	char *verify_bad[] = { "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub_path, "-rawin",
			       "-in", bad_path, "-sigfile", sig_path, NULL };
	struct parts p;
	size_t sig_len = 0;

	if (!env) {
		CHECK(0);
		return;
	}
	parts_of(env, &p);
	sig = (char *)kiln_dsse_base64_decode(p.sig, strlen(p.sig), &sig_len);
	CHECK(sig && sig_len == KILN_SIG_LEN);
	kiln_dsse_pae(type_intoto, statement, strlen(statement), &pae);
	CHECK(write_file(pae_path, pae.data, pae.len) == 0 && write_file(sig_path, sig, sig_len) == 0);
	CHECK(run(verify, &out) == 0);
	CHECK_CONTAINS(out.data, "Signature Verified Successfully");
	/* And openssl does reject a changed PAE, so the check means something. */
	pae.data[pae.len - 2] ^= 1;
	CHECK(write_file(bad_path, pae.data, pae.len) == 0);
	printf("# (openssl is expected to fail next)\n");
	CHECK(run(verify_bad, &out2) != 0);
	parts_release(&p);
}

/* kiln accepts what OpenSSL signs. */
TEST(kiln_verifies_openssl_signatures)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *pae_path = kiln_path_join(top, "pae2"), *sig_path = kiln_path_join(top, "sig2");
	_cleanup_free_ char *sig = NULL, *sig64 = NULL, *payload64 = NULL, *env = NULL;
	_cleanup_free_ char *payload = NULL;
	_cleanup_buf_ struct kiln_buf pae = KILN_BUF_INIT;
	char *sign[] = { "openssl", "pkeyutl", "-sign", "-inkey", priv_path, "-rawin", "-in", pae_path,
			 "-out", sig_path, NULL };
	static const char body[] = "{\"signed\":\"by openssl\"}";
	size_t sig_len = 0, len = 0;

	kiln_dsse_pae(type_intoto, body, strlen(body), &pae);
	CHECK(write_file(pae_path, pae.data, pae.len) == 0);
	CHECK(run(sign, NULL) == 0);
	sig = kiln_file_read(sig_path, 4096, &sig_len, &err);
	CHECK(sig && sig_len == KILN_SIG_LEN);
	if (!sig)
		return;
	CHECK(kiln_sign_verify(signer_pub, pae.data, pae.len, (unsigned char *)sig, sig_len, &err) == 0);
	/* The same signature in a hand-made envelope. */
	sig64 = kiln_dsse_base64_encode(sig, sig_len);
	payload64 = kiln_dsse_base64_encode(body, strlen(body));
	env = kiln_xasprintf("{\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}],\"payload\":\"%s\"}",
			     type_intoto, sig64, payload64);
	CHECK(kiln_dsse_verify(env, strlen(env), &signer_pub, 1, &payload, &len, NULL, &err) == 0);
	CHECK(payload && len == strlen(body) && memcmp(payload, body, len) == 0);
	/* The signature over the bare body (no PAE) is not a DSSE signature. */
	CHECK(kiln_sign_verify(signer_pub, body, strlen(body), (unsigned char *)sig, sig_len, NULL) < 0);
}

int main(void)
{
	struct kiln_error err = { 0 };

	if (!mkdtemp(top)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	priv_path = kiln_path_join(top, "signing.key");
	pub_path = kiln_path_join(top, "signing.pub");
	if (kiln_sign_keygen(priv_path, pub_path, &err) < 0 ||
	    !(signer = kiln_sign_load_private(priv_path, &err)) ||
	    !(signer_pub = kiln_sign_load_public(pub_path, &err)) ||
	    !(stranger = kiln_sign_generate(&err))) {
		printf("Bail out! %s\n", err.message);
		return 1;
	}
	RUN(pae_matches_spec_example);
	RUN(pae_edges);
	RUN(base64_exact);
	RUN(envelope_round_trip);
	RUN(envelope_empty_and_binary_payloads);
	RUN(tampered_and_wrong_key);
	RUN(malformed_envelopes);
	RUN(openssl_verifies_kiln_signatures);
	RUN(kiln_verifies_openssl_signatures);
	kiln_sign_key_free(signer);
	kiln_sign_key_free(signer_pub);
	kiln_sign_key_free(stranger);
	{
		_cleanup_free_ char *cmd = kiln_xasprintf("rm -rf '%s'", top);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", top);
	}
	free(priv_path);
	free(pub_path);
	return tap_done();
}
