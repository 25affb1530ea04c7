/* test_record.c - snapshot records: signed and unsigned round trips, the
 * canonical form (and every single-byte change of a signed record refused),
 * hostile members, the commits/ tree of a store (read, list, misplaced and
 * junk files), and the git note line. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsse.h"
#include "fsutil.h"
#include "record.h"
#include "sign.h"
#include "store.h"
#include "tap.h"
#include "util.h"

static char top[] = "/tmp/kiln-test-record.XXXXXX";
static struct kiln_key *key1, *key2;
static char keyid1[KILN_KEYID_LEN + 1];

static const char commit_a[] = "0123456789abcdef0123456789abcdef01234567";
static const char commit_b[] = "89abcdef0123456789abcdef0123456789abcdef";

/* "sha256:" and 64 copies of c. */
static void digest(char out[KILN_OCI_DIGEST_LEN + 1], char c)
{
	memcpy(out, "sha256:", 7);
	memset(out + 7, c, 64);
	out[KILN_OCI_DIGEST_LEN] = '\0';
}

static void sample(struct kiln_record *r, const char *name, const char *commit, bool with_envelope)
{
	memset(r, 0, sizeof(*r));
	r->name = kiln_xstrdup(name);
	strcpy(r->commit, commit);
	digest(r->manifest, '1');
	r->size = 12345;
	digest(r->lock, '2');
	if (with_envelope) {
		digest(r->envelope, '3');
		digest(r->referrer, '4');
	}
	r->kiln_version = kiln_xstrdup("0.4.0");
	r->build_time = kiln_xstrdup("2026-11-27T20:30:00Z");
}

/* A record's text, signed by key (or unsigned when key is NULL). */
static char *record_text(const struct kiln_key *key)
{
	struct kiln_error err = { 0 };
	struct kiln_record r;
	char *text;

	sample(&r, "hello-web", commit_a, key != NULL);
	text = kiln_record_format(&r, key, &err);
	if (!text)
		printf("# format: %s\n", err.message);
	kiln_record_release(&r);
	return text;
}

/* Parse must refuse text as a failed verification whose message contains
 * want (when not NULL). */
static bool refused(const char *text, size_t len, const char *want)
{
	struct kiln_error err = { 0 };
	struct kiln_record r;
	bool ok;

	if (kiln_record_parse("t.json", text, len, &r, &err) == 0) {
		printf("# accepted: %.*s\n", (int)len, text);
		kiln_record_release(&r);
		return false;
	}
	ok = err.code == KILN_EXIT_VERIFY && (!want || strstr(err.message, want));
	if (!ok)
		printf("# code %d, message \"%s\" (want \"%s\")\n", err.code, err.message, want ? want : "");
	/* A failed parse leaves nothing to free. */
	ok = ok && r.name == NULL && r.sigs == NULL && r.n_sigs == 0;
	return ok;
}

static bool refused_str(const char *text, const char *want)
{
	return refused(text, strlen(text), want);
}

static bool parses(const char *text)
{
	struct kiln_error err = { 0 };
	struct kiln_record r;

	if (kiln_record_parse("t.json", text, strlen(text), &r, &err) < 0) {
		printf("# refused: %s\n#   %s", err.message, text);
		return false;
	}
	kiln_record_release(&r);
	return true;
}

/* text with its first occurrence of old replaced by new (malloc'd). */
static char *replace(const char *text, const char *old, const char *new)
{
	const char *at = strstr(text, old);
	struct kiln_buf b = KILN_BUF_INIT;

	if (!at)
		return kiln_xstrdup("(replace: not found)");
	kiln_buf_add(&b, text, (size_t)(at - text));
	kiln_buf_adds(&b, new);
	kiln_buf_adds(&b, at + strlen(old));
	return kiln_buf_detach(&b);
}

/* The canonical text of text's JSON with member key set to value (JSON
 * text) or removed (value NULL): only the member's meaning changes, so the
 * check that refuses it is the member check, not the canonical form. */
static char *with_member(const char *text, const char *key, const char *value)
{
	json_t *o = json_loads(text, 0, NULL);
	char *dumped, *line;

	if (value)
		json_object_set_new(o, key, json_loads(value, JSON_DECODE_ANY, NULL));
	else
		json_object_del(o, key);
	dumped = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(o);
	line = kiln_xasprintf("%s\n", dumped);
	free(dumped);
	return line;
}

static struct kiln_sign_keyring ring_of(struct kiln_key **keys, size_t n)
{
	struct kiln_sign_keyring ring = { keys, n, n };
	return ring;
}

TEST(name_rule)
{
	char long_name[130];

	CHECK(kiln_record_name_valid("hello-web"));
	CHECK(kiln_record_name_valid("a"));
	CHECK(kiln_record_name_valid("0web_2.v1-x"));
	CHECK(!kiln_record_name_valid(""));
	CHECK(!kiln_record_name_valid("Hello"));
	CHECK(!kiln_record_name_valid("a/b"));
	CHECK(!kiln_record_name_valid("..x"));
	CHECK(!kiln_record_name_valid(".x"));
	CHECK(!kiln_record_name_valid("-x"));
	CHECK(!kiln_record_name_valid("_x"));
	CHECK(!kiln_record_name_valid("a b"));
	CHECK(!kiln_record_name_valid("a\xc3\xa9"));
	memset(long_name, 'a', 128);
	long_name[128] = '\0';
	CHECK(kiln_record_name_valid(long_name));
	long_name[128] = 'a';
	long_name[129] = '\0';
	CHECK(!kiln_record_name_valid(long_name));
}

TEST(signed_round_trip)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *text = record_text(key1), *again = NULL;
	struct kiln_key *only1[] = { key1 }, *only2[] = { key2 }, *both[] = { key2, key1 };
	struct kiln_sign_keyring ring1 = ring_of(only1, 1), ring2 = ring_of(only2, 1), ring12 = ring_of(both, 2);
	struct kiln_sign_keyring none = ring_of(NULL, 0);
	const struct kiln_key *signer = (const struct kiln_key *)&err;
	struct kiln_record r;
	char d[KILN_OCI_DIGEST_LEN + 1];

	CHECK(text != NULL);
	if (!text)
		return;
	/* Compact, sorted keys, one newline at the end and only there. */
	CHECK(kiln_str_has_prefix(text, "{\"build_time\":\"2026-11-27T20:30:00Z\",\"commit\":\""));
	CHECK(strchr(text, '\n') == text + strlen(text) - 1);
	CHECK(strchr(text, ' ') == NULL);
	CHECK(strstr(text, "\"schema\":\"kiln.record.v1\",\"signatures\":[{\"keyid\":\"sha256:") != NULL);
	CHECK(kiln_str_has_suffix(text, "\"}],\"size\":12345}\n"));

	CHECK(kiln_record_parse("t.json", text, strlen(text), &r, &err) == 0);
	CHECK_STR(r.name, "hello-web");
	CHECK_STR(r.commit, commit_a);
	digest(d, '1');
	CHECK_STR(r.manifest, d);
	digest(d, '2');
	CHECK_STR(r.lock, d);
	digest(d, '3');
	CHECK_STR(r.envelope, d);
	digest(d, '4');
	CHECK_STR(r.referrer, d);
	CHECK(r.size == 12345);
	CHECK_STR(r.kiln_version, "0.4.0");
	CHECK_STR(r.build_time, "2026-11-27T20:30:00Z");
	CHECK(r.n_sigs == 1);
	CHECK_STR(r.keyid, keyid1);
	CHECK(r.n_sigs == 1 && strcmp(r.sig_keyids[0], keyid1) == 0);

	CHECK(kiln_record_verify(&r, &ring1, &signer, &err) == 0);
	CHECK(signer == key1);
	CHECK(kiln_record_verify(&r, &ring12, &signer, &err) == 0);
	CHECK(signer == key1);
	CHECK(kiln_record_verify(&r, &ring1, NULL, &err) == 0);

	kiln_error_clear(&err);
	CHECK(kiln_record_verify(&r, &ring2, &signer, &err) < 0);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK(signer == NULL);
	CHECK_CONTAINS(err.message, "no signature verifies");
	CHECK_CONTAINS(err.message, keyid1);
	kiln_error_clear(&err);
	CHECK(kiln_record_verify(&r, &none, NULL, &err) < 0);
	CHECK(err.code == KILN_EXIT_VERIFY);

	/* Ed25519 is deterministic: re-signing what was read gives the bytes. */
	again = kiln_record_format(&r, key1, &err);
	CHECK_STR(again, text);
	kiln_record_release(&r);
}

/* kiln_record_judge: the one trust policy of verify, log and every
 * command using a snapshot by name. */
TEST(judge_policy)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *signed_text = record_text(key1), *unsigned_text = record_text(NULL);
	struct kiln_key *only1[] = { key1 }, *only2[] = { key2 }, *both[] = { key2, key1 };
	struct kiln_sign_keyring ring1 = ring_of(only1, 1), ring2 = ring_of(only2, 1), ring12 = ring_of(both, 2);
	struct kiln_sign_keyring none = ring_of(NULL, 0);
	const struct kiln_key *signer = NULL;
	struct kiln_record r;

	CHECK(signed_text && unsigned_text);
	if (!signed_text || !unsigned_text)
		return;
	CHECK(kiln_record_parse("t.json", signed_text, strlen(signed_text), &r, &err) == 0);
	CHECK(kiln_record_judge(&r, &ring1, &signer, &err) == KILN_RECORD_SIGNED && signer == key1);
	CHECK(kiln_record_judge(&r, &ring12, &signer, &err) == KILN_RECORD_SIGNED && signer == key1);
	kiln_error_clear(&err);
	CHECK(kiln_record_judge(&r, &ring2, &signer, &err) == KILN_RECORD_UNTRUSTED && signer == NULL);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "not a trusted key");
	CHECK(kiln_record_judge(&r, &none, NULL, &err) == KILN_RECORD_UNTRUSTED);
	CHECK(kiln_record_judge(&r, NULL, NULL, &err) == KILN_RECORD_UNTRUSTED);
	/* Another image's digest put in (the file rewritten canonically): the
	 * trusted key it names does not verify it. */
	digest(r.manifest, '5');
	kiln_error_clear(&err);
	CHECK(kiln_record_judge(&r, &ring1, &signer, &err) == KILN_RECORD_BAD_SIGNATURE && signer == NULL);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "changed after it was signed");
	CHECK(kiln_record_verify(&r, &ring1, NULL, &err) < 0);
	CHECK(kiln_record_judge(&r, &ring2, NULL, &err) == KILN_RECORD_UNTRUSTED);
	digest(r.manifest, '1');
	/* A signature that is not even base64, under the trusted key's id. */
	free(r.sigs[0]);
	r.sigs[0] = kiln_xstrdup("!!not base64!!");
	CHECK(kiln_record_judge(&r, &ring1, NULL, &err) == KILN_RECORD_BAD_SIGNATURE);
	kiln_record_release(&r);

	CHECK(kiln_record_parse("t.json", unsigned_text, strlen(unsigned_text), &r, &err) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_record_judge(&r, &ring1, &signer, &err) == KILN_RECORD_UNSIGNED && signer == NULL);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "not signed");
	CHECK(kiln_record_judge(&r, NULL, NULL, &err) == KILN_RECORD_UNSIGNED);
	CHECK(kiln_record_verify(&r, &ring1, NULL, &err) < 0);
	kiln_record_release(&r);
}

TEST(signed_needs_envelope)
{
	struct kiln_error err = { 0 };
	struct kiln_record r;
	char *text;

	sample(&r, "hello-web", commit_a, false);
	text = kiln_record_format(&r, key1, &err);
	CHECK(text == NULL);
	CHECK_CONTAINS(err.message, "needs its envelope");
	free(text);
	kiln_record_release(&r);
}

TEST(unsigned_round_trip)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *text = record_text(NULL);
	struct kiln_key *only1[] = { key1 };
	struct kiln_sign_keyring ring1 = ring_of(only1, 1);
	struct kiln_record r;

	CHECK(text != NULL);
	if (!text)
		return;
	CHECK(strstr(text, "signatures") == NULL);
	CHECK(strstr(text, "envelope") == NULL);
	CHECK(strstr(text, "referrer") == NULL);
	CHECK(kiln_record_parse("t.json", text, strlen(text), &r, &err) == 0);
	CHECK(r.n_sigs == 0);
	CHECK_STR(r.keyid, "");
	CHECK_STR(r.envelope, "");
	CHECK_STR(r.referrer, "");
	CHECK(kiln_record_verify(&r, &ring1, NULL, &err) < 0);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "not signed");
	kiln_record_release(&r);
}

TEST(format_unsigned_clears_keyid)
{
	struct kiln_error err = { 0 };
	struct kiln_record r;
	_cleanup_free_ char *s = NULL, *u = NULL;

	sample(&r, "hello-web", commit_a, true);
	s = kiln_record_format(&r, key1, &err);
	CHECK_STR(r.keyid, keyid1);
	u = kiln_record_format(&r, NULL, &err);
	CHECK_STR(r.keyid, "");
	CHECK(u && strstr(u, "signatures") == NULL);
	kiln_record_release(&r);
}

TEST(canonical_form_enforced)
{
	_cleanup_free_ char *text = record_text(key1);
	size_t len = text ? strlen(text) : 0;
	char *t;

	if (!text)
		return;
	CHECK(parses(text));
	/* Spaces. */
	t = replace(text, "\":\"", "\": \"");
	CHECK(refused_str(t, "canonical"));
	free(t);
	t = replace(text, ",\"commit\"", ", \"commit\"");
	CHECK(refused_str(t, "canonical"));
	free(t);
	t = kiln_xasprintf(" %s", text);
	CHECK(refused_str(t, "canonical"));
	free(t);
	/* Escapes that mean the same characters. */
	t = replace(text, "\"0.4.0\"", "\"\\u0030.4.0\"");
	CHECK(refused_str(t, "canonical"));
	free(t);
	t = replace(text, "\"0.4.0\"", "\"0\\u002e4.0\"");
	CHECK(refused_str(t, "canonical"));
	free(t);
	t = replace(text, "\"hello-web\"", "\"hello\\u002dweb\"");
	CHECK(refused_str(t, "canonical"));
	free(t);
	t = replace(text, "\"build_time\"", "\"build\\u005ftime\"");
	CHECK(refused_str(t, "canonical"));
	free(t);
	/* Key order. */
	{
		json_t *o = json_loads(text, 0, NULL), *rev = json_object();
		const char *keys[16];
		size_t n = 0;
		const char *k;
		json_t *v;
		char *dumped;

		json_object_foreach(o, k, v) keys[n++] = k;
		for (size_t i = n; i-- > 0;)
			json_object_set(rev, keys[i], json_object_get(o, keys[i]));
		dumped = json_dumps(rev, JSON_COMPACT | JSON_ENSURE_ASCII);
		t = kiln_xasprintf("%s\n", dumped);
		CHECK(!kiln_str_has_prefix(t, "{\"build_time\""));
		CHECK(refused_str(t, "canonical"));
		free(t);
		free(dumped);
		/* Pretty-printed, the same members. */
		dumped = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		t = kiln_xasprintf("%s\n", dumped);
		CHECK(refused_str(t, "canonical"));
		free(t);
		free(dumped);
		json_decref(rev);
		json_decref(o);
	}
	/* The end of the file. */
	CHECK(refused(text, len - 1, "canonical"));
	t = kiln_xasprintf("%.*s\r\n", (int)len - 1, text);
	CHECK(refused_str(t, "canonical"));
	free(t);
	t = kiln_xasprintf("%s\n", text);
	CHECK(refused_str(t, "canonical"));
	free(t);
	t = kiln_xasprintf("%s ", text);
	CHECK(refused_str(t, "canonical"));
	free(t);
	/* Trailing data that is not blank is already not JSON. */
	t = kiln_xasprintf("%s{}\n", text);
	CHECK(refused_str(t, NULL));
	free(t);
	t = kiln_xasprintf("%sx", text);
	CHECK(refused_str(t, NULL));
	free(t);
	/* A NUL after the newline: the length counts, not the string. */
	{
		_cleanup_free_ char *nul = kiln_xmalloc(len + 1);
		memcpy(nul, text, len);
		nul[len] = '\0';
		CHECK(refused(nul, len + 1, NULL));
	}
	CHECK(refused("", 0, NULL));
	CHECK(refused_str("\n", NULL));
	CHECK(refused_str("[]\n", NULL));
	CHECK(refused_str("{}\n", NULL));
	CHECK(refused_str("null\n", NULL));
}

/* Change every byte of a signed record to every other value: parse or
 * verify must refuse each one. */
TEST(every_byte_change_refused)
{
	_cleanup_free_ char *text = record_text(key1);
	struct kiln_key *only1[] = { key1 };
	struct kiln_sign_keyring ring1 = ring_of(only1, 1);
	size_t len = text ? strlen(text) : 0, accepted = 0, tried = 0;
	_cleanup_free_ char *copy = NULL;

	if (!text)
		return;
	copy = kiln_xstrdup(text);
	for (size_t i = 0; i < len; i++) {
		for (unsigned x = 1; x < 256; x++) {
			struct kiln_error err = { 0 };
			struct kiln_record r;
			int rc;

			copy[i] = (char)(text[i] ^ x);
			tried++;
			rc = kiln_record_parse("t.json", copy, len, &r, &err);
			if (rc == 0) {
				rc = kiln_record_verify(&r, &ring1, NULL, &err);
				kiln_record_release(&r);
			}
			if (rc == 0) {
				if (accepted++ < 5)
					printf("# byte %zu ^ 0x%02x accepted ('%c' -> '%c'): %.20s…\n", i, x, text[i],
					       copy[i], text + (i > 10 ? i - 10 : 0));
			} else if (err.code != KILN_EXIT_VERIFY) {
				printf("# byte %zu ^ 0x%02x: exit code %d\n", i, x, err.code);
				accepted++;
			}
		}
		copy[i] = text[i];
	}
	printf("# %zu changes tried, %zu accepted\n", tried, accepted);
	CHECK(accepted == 0);
	CHECK(strcmp(copy, text) == 0);
}

/* Swap one signature's keyid for another key's: the signature still
 * verifies, but the record would then claim the wrong signer. */
TEST(keyid_must_name_the_signer)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *text = record_text(key1), *t = NULL;
	char keyid2[KILN_KEYID_LEN + 1];
	struct kiln_key *only1[] = { key1 }, *both[] = { key1, key2 };
	struct kiln_sign_keyring ring1 = ring_of(only1, 1), ring12 = ring_of(both, 2);
	struct kiln_record r;

	if (!text)
		return;
	CHECK(kiln_sign_keyid(key2, keyid2, &err) == 0);
	t = replace(text, keyid1, keyid2);
	CHECK(kiln_record_parse("t.json", t, strlen(t), &r, &err) == 0);
	CHECK(kiln_record_verify(&r, &ring1, NULL, &err) < 0);
	CHECK(err.code == KILN_EXIT_VERIFY);
	kiln_error_clear(&err);
	CHECK(kiln_record_verify(&r, &ring12, NULL, &err) < 0);
	CHECK(err.code == KILN_EXIT_VERIFY);
	kiln_record_release(&r);
}

/* kiln signs a record once: a second signature, even a good one, is refused
 * (it could only have been added, and its keyid would be shown as signer). */
TEST(several_signatures)
{
	_cleanup_free_ char *text = record_text(key1);
	json_t *o, *sigs, *one;
	char *dumped, *t;

	if (!text)
		return;
	o = json_loads(text, 0, NULL);
	sigs = json_object_get(o, "signatures");
	one = json_deep_copy(json_array_get(sigs, 0));
	json_array_insert_new(sigs, 0, one);
	dumped = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	t = kiln_xasprintf("%s\n", dumped);
	free(dumped);
	CHECK(refused_str(t, "exactly one signature"));
	free(t);
	json_array_clear(sigs);
	dumped = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	t = kiln_xasprintf("%s\n", dumped);
	free(dumped);
	CHECK(refused_str(t, "exactly one signature"));
	free(t);
	json_decref(o);
}

TEST(unknown_members_refused)
{
	_cleanup_free_ char *text = record_text(key1), *unsig = record_text(NULL);
	char *t;

	if (!text || !unsig)
		return;
	t = with_member(text, "extra", "1");
	CHECK(refused_str(t, "unknown member \"extra\""));
	free(t);
	t = with_member(unsig, "Name", "\"hello-web\"");
	CHECK(refused_str(t, "unknown member"));
	free(t);
	t = with_member(unsig, "", "\"\"");
	CHECK(refused_str(t, "unknown member"));
	free(t);
	/* One inside a signature. */
	t = replace(text, "{\"keyid\":", "{\"extra\":1,\"keyid\":");
	CHECK(refused_str(t, "exactly \"keyid\" and \"sig\""));
	free(t);
}

TEST(duplicate_keys_refused)
{
	_cleanup_free_ char *text = record_text(key1), *unsig = record_text(NULL);
	char *t;

	if (!text || !unsig)
		return;
	t = replace(unsig, "{", "{\"build_time\":\"2026-11-27T20:30:00Z\",");
	CHECK(refused_str(t, "duplicate"));
	free(t);
	/* The second spelling would win in a lenient parser. */
	t = replace(unsig, "\"size\":12345", "\"size\":12345,\"size\":1");
	CHECK(refused_str(t, "duplicate"));
	free(t);
	t = replace(text, "{\"keyid\":", "{\"sig\":\"x\",\"keyid\":");
	CHECK(refused_str(t, "duplicate"));
	free(t);
}

TEST(wrong_types_refused)
{
	_cleanup_free_ char *text = record_text(key1);
	static const struct {
		const char *key, *value, *want;
	} cases[] = {
		{ "schema", "1", "schema" },
		{ "schema", "\"kiln.record.v2\"", "schema" },
		{ "schema", "\"\"", "schema" },
		{ "name", "1", "name" },
		{ "name", "null", "name" },
		{ "name", "[\"hello-web\"]", "name" },
		{ "commit", "1", "commit" },
		{ "commit", "{}", "commit" },
		{ "manifest", "1", "manifest" },
		{ "manifest", "null", "manifest" },
		{ "lock", "true", "lock" },
		{ "envelope", "[]", "envelope" },
		{ "referrer", "false", "referrer" },
		{ "size", "\"12345\"", "size" },
		{ "size", "12345.0", "size" },
		{ "size", "1e3", "size" },
		{ "size", "-1", "size" },
		{ "size", "true", "size" },
		{ "size", "null", "size" },
		{ "kiln_version", "4", "kiln_version" },
		{ "build_time", "{}", "build_time" },
		{ "signatures", "{}", "signatures" },
		{ "signatures", "\"sig\"", "signatures" },
		{ "signatures", "null", "signatures" },
		{ "signatures", "[1]", "signature" },
		{ "signatures", "[[]]", "signature" },
		{ "signatures", "[null]", "signature" },
	};

	if (!text)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = with_member(text, cases[i].key, cases[i].value);
		if (!refused_str(t, cases[i].want)) {
			printf("# case %s: %s\n", cases[i].key, cases[i].value);
			CHECK(!"wrong type accepted or wrong message");
		}
		free(t);
	}
}

TEST(missing_members_refused)
{
	_cleanup_free_ char *text = record_text(key1);
	static const char *const keys[] = { "schema", "name", "commit", "manifest", "lock",
					    "size", "kiln_version", "build_time" };

	if (!text)
		return;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *t = with_member(text, keys[i], NULL);
		if (!refused_str(t, keys[i])) {
			printf("# without %s\n", keys[i]);
			CHECK(!"missing member accepted");
		}
		free(t);
	}
}

TEST(bad_digests_refused)
{
	_cleanup_free_ char *text = record_text(key1);
	static const char *const keys[] = { "manifest", "lock", "envelope", "referrer" };
	static const char *const values[] = {
		"\"\"",
		"\"sha256:\"",
		"\"sha256:111111111111111111111111111111111111111111111111111111111111111\"",   /* 63 */
		"\"sha256:11111111111111111111111111111111111111111111111111111111111111111\"", /* 65 */
		"\"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
		"\"sha256:gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg\"",
		"\"sha512:1111111111111111111111111111111111111111111111111111111111111111\"",
		"\"SHA256:1111111111111111111111111111111111111111111111111111111111111111\"",
		"\"1111111111111111111111111111111111111111111111111111111111111111\"",
		"\"sha256:111111111111111111111111111111111111111111111111111111111111111 \"",
	};

	if (!text)
		return;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			char *t = with_member(text, keys[k], values[v]);
			if (!refused_str(t, "not a sha256 digest")) {
				printf("# %s = %s\n", keys[k], values[v]);
				CHECK(!"bad digest accepted");
			}
			free(t);
		}
}

TEST(bad_commits_refused)
{
	_cleanup_free_ char *text = record_text(key1);
	static const char *const values[] = {
		"\"\"",
		"\"0123456789abcdef0123456789abcdef0123456\"",   /* 39 */
		"\"0123456789abcdef0123456789abcdef012345678\"", /* 41 */
		"\"0123456789ABCDEF0123456789abcdef01234567\"",
		"\"0123456789abcdeg0123456789abcdef01234567\"",
		"\"0123456789abcdef0123456789abcdef0123456 \"",
		"\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
	};

	if (!text)
		return;
	for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
		char *t = with_member(text, "commit", values[v]);
		if (!refused_str(t, "40-digit commit")) {
			printf("# commit = %s\n", values[v]);
			CHECK(!"bad commit accepted");
		}
		free(t);
	}
}

TEST(bad_names_refused)
{
	_cleanup_free_ char *text = record_text(key1);
	char long_name[131];
	char *t;
	static const char *const values[] = {
		"\"\"", "\"a/b\"", "\"..x\"", "\"../x\"", "\".x\"", "\"Hello\"", "\"a b\"",
		"\"caf\\u00e9\"", "\"-x\"",
	};

	if (!text)
		return;
	for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
		t = with_member(text, "name", values[v]);
		if (!refused_str(t, NULL)) {
			printf("# name = %s\n", values[v]);
			CHECK(!"bad name accepted");
		}
		free(t);
	}
	/* jansson refuses a NUL inside a string. */
	t = replace(text, "\"hello-web\"", "\"hello\\u0000web\"");
	CHECK(refused_str(t, NULL));
	free(t);
	long_name[0] = '"';
	memset(long_name + 1, 'a', 129);
	long_name[130] = '\0';
	t = kiln_xasprintf("%s\"", long_name);
	{
		char *u = with_member(text, "name", t);
		CHECK(refused_str(u, "snapshot name"));
		free(u);
	}
	free(t);
}

TEST(signature_list_shape)
{
	_cleanup_free_ char *text = record_text(key1);
	char keyid_long[KILN_KEYID_LEN + 8];
	char *t, *v;

	if (!text)
		return;
	t = with_member(text, "signatures", "[]");
	CHECK(refused_str(t, "exactly one signature"));
	free(t);
	t = with_member(text, "signatures", "[{\"keyid\":\"k\"}]");
	CHECK(refused_str(t, "exactly"));
	free(t);
	t = with_member(text, "signatures", "[{\"sig\":\"AAAA\"}]");
	CHECK(refused_str(t, "exactly"));
	free(t);
	t = with_member(text, "signatures", "[{\"keyid\":\"k\",\"sig\":\"AAAA\",\"x\":1}]");
	CHECK(refused_str(t, "exactly"));
	free(t);
	t = with_member(text, "signatures", "[{\"keyid\":1,\"sig\":\"AAAA\"}]");
	CHECK(refused_str(t, "exactly"));
	free(t);
	t = with_member(text, "signatures", "[{\"keyid\":\"k\",\"sig\":null}]");
	CHECK(refused_str(t, "exactly"));
	free(t);
	memset(keyid_long, 'a', KILN_KEYID_LEN + 1);
	keyid_long[KILN_KEYID_LEN + 1] = '\0';
	v = kiln_xasprintf("[{\"keyid\":\"%s\",\"sig\":\"AAAA\"}]", keyid_long);
	t = with_member(text, "signatures", v);
	CHECK(refused_str(t, "exactly"));
	free(t);
	free(v);
	/* Well formed but not a signature: parse keeps it, verify refuses. */
	{
		struct kiln_error err = { 0 };
		struct kiln_key *only1[] = { key1 };
		struct kiln_sign_keyring ring1 = ring_of(only1, 1);
		struct kiln_record r;
		static const char *const sigs[] = { "AAAA", "", "not base64!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==" };
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
			v = kiln_xasprintf("[{\"keyid\":\"%s\",\"sig\":\"%s\"}]", keyid1, sigs[i]);
			t = with_member(text, "signatures", v);
			kiln_error_clear(&err);
			CHECK(kiln_record_parse("t.json", t, strlen(t), &r, &err) == 0);
			CHECK(kiln_record_verify(&r, &ring1, NULL, &err) < 0);
			CHECK(err.code == KILN_EXIT_VERIFY);
			kiln_record_release(&r);
			free(t);
			free(v);
		}
	}
}

TEST(sizes)
{
	_cleanup_free_ char *unsig = record_text(NULL);
	char *t;

	if (!unsig)
		return;
	t = with_member(unsig, "size", "0");
	CHECK(parses(t));
	free(t);
	t = with_member(unsig, "size", "9223372036854775807");
	CHECK(parses(t));
	free(t);
	/* Beyond what JSON integers carry here: refused, not wrapped. */
	t = replace(unsig, "\"size\":12345", "\"size\":9223372036854775808");
	CHECK(refused_str(t, NULL));
	free(t);
	t = replace(unsig, "\"size\":12345", "\"size\":18446744073709551616");
	CHECK(refused_str(t, NULL));
	free(t);
	t = replace(unsig, "\"size\":12345", "\"size\":1e400");
	CHECK(refused_str(t, NULL));
	free(t);
	t = replace(unsig, "\"size\":12345", "\"size\":012345");
	CHECK(refused_str(t, NULL));
	free(t);
	t = replace(unsig, "\"size\":12345", "\"size\":-0");
	CHECK(refused_str(t, NULL));
	free(t);
	/* Long strings where short ones are expected. */
	{
		char big[200];
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		char *v = kiln_xasprintf("\"%s\"", big);
		t = with_member(unsig, "kiln_version", v);
		CHECK(refused_str(t, "kiln_version"));
		free(t);
		t = with_member(unsig, "build_time", v);
		CHECK(refused_str(t, "build_time"));
		free(t);
		free(v);
	}
}

TEST(envelope_and_signatures_go_together)
{
	_cleanup_free_ char *text = record_text(key1), *unsig = record_text(NULL);
	char d[KILN_OCI_DIGEST_LEN + 1], *v, *t, *u;

	if (!text || !unsig)
		return;
	digest(d, '3');
	v = kiln_xasprintf("\"%s\"", d);
	t = with_member(unsig, "envelope", v);
	CHECK(refused_str(t, "no signature"));
	u = with_member(t, "referrer", v);
	CHECK(refused_str(u, "no signature"));
	free(u);
	free(t);
	t = with_member(unsig, "referrer", v);
	CHECK(refused_str(t, "no signature"));
	free(t);
	free(v);
	t = with_member(text, "envelope", NULL);
	CHECK(refused_str(t, "no envelope or referrer"));
	free(t);
	t = with_member(text, "referrer", NULL);
	CHECK(refused_str(t, "no envelope or referrer"));
	free(t);
	t = with_member(text, "signatures", NULL);
	CHECK(refused_str(t, "no signature"));
	free(t);
}

/* Write records into a fresh store under top/NAME. */
static struct kiln_store *fresh_store(const char *name)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *dir = kiln_path_join(top, name);
	struct kiln_store *s = kiln_store_open(dir, true, &err);

	if (!s)
		printf("# store: %s\n", err.message);
	return s;
}

static int write_sample(struct kiln_store *s, const char *name, const char *commit, const struct kiln_key *key)
{
	struct kiln_error err = { 0 };
	struct kiln_record r;
	int rc;

	sample(&r, name, commit, key != NULL);
	rc = kiln_record_write(s, &r, key, &err);
	if (rc < 0)
		printf("# write: %s\n", err.message);
	kiln_record_release(&r);
	return rc;
}

static int copy_file(const char *from, const char *to)
{
	struct kiln_error err = { 0 };
	size_t len;
	_cleanup_free_ char *data = kiln_file_read(from, 1 << 20, &len, &err);
	_cleanup_free_ char *dir = kiln_path_dirname(to);

	if (!data || kiln_mkdir_p(dir, 0755, &err) < 0 || kiln_file_write_atomic(to, data, len, 0644, &err) < 0) {
		printf("# copy: %s\n", err.message);
		return -1;
	}
	return 0;
}

TEST(store_write_read)
{
	struct kiln_error err = { 0 };
	struct kiln_store *s = fresh_store("s1");
	struct kiln_key *only1[] = { key1 };
	struct kiln_sign_keyring ring1 = ring_of(only1, 1);
	struct kiln_record r;
	bool found = true;
	_cleanup_free_ char *path = NULL, *data = NULL, *want = NULL;
	size_t len;
	struct stat st;

	if (!s)
		return;
	path = kiln_record_path(s, commit_a, "hello-web");
	CHECK(kiln_str_has_suffix(path, "/commits/0123456789abcdef0123456789abcdef01234567/hello-web.json"));
	CHECK(kiln_str_has_prefix(path, kiln_store_dir(s)));
	CHECK(write_sample(s, "hello-web", commit_a, key1) == 0);
	CHECK(write_sample(s, "other", commit_a, NULL) == 0);
	data = kiln_file_read(path, KILN_RECORD_MAX, &len, &err);
	want = record_text(key1);
	CHECK_STR(data, want);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);

	CHECK(kiln_record_read(s, commit_a, "hello-web", &r, &found, &err) == 0);
	CHECK(found);
	CHECK_STR(r.name, "hello-web");
	CHECK(r.n_sigs == 1);
	CHECK(kiln_record_verify(&r, &ring1, NULL, &err) == 0);
	kiln_record_release(&r);
	CHECK(kiln_record_read(s, commit_a, "other", &r, &found, &err) == 0);
	CHECK(found && r.n_sigs == 0);
	kiln_record_release(&r);

	/* Missing: no error, not found. */
	kiln_error_clear(&err);
	found = true;
	CHECK(kiln_record_read(s, commit_a, "missing", &r, &found, &err) == 0);
	CHECK(!found);
	CHECK_STR(err.message, "");
	found = true;
	CHECK(kiln_record_read(s, commit_b, "hello-web", &r, &found, &err) == 0);
	CHECK(!found);
	CHECK_STR(err.message, "");
	CHECK(r.name == NULL);
	/* Names and commits that cannot be records are never looked up. */
	found = true;
	CHECK(kiln_record_read(s, commit_a, "../hello-web", &r, &found, &err) == 0);
	CHECK(!found);
	found = true;
	CHECK(kiln_record_read(s, "0123456789ABCDEF0123456789abcdef01234567", "hello-web", &r, &found, &err) == 0);
	CHECK(!found);

	/* Rewriting replaces the record. */
	CHECK(write_sample(s, "other", commit_a, key2) == 0);
	CHECK(kiln_record_read(s, commit_a, "other", &r, &found, &err) == 0);
	CHECK(found && r.n_sigs == 1);
	kiln_record_release(&r);
	kiln_store_free(s);
}

TEST(store_misplaced_records_refused)
{
	struct kiln_error err = { 0 };
	struct kiln_store *s = fresh_store("s2");
	_cleanup_free_ char *path = NULL, *wrong_commit = NULL, *wrong_name = NULL;
	struct kiln_record r, *list = NULL;
	size_t n = 99;
	bool found = true;

	if (!s)
		return;
	CHECK(write_sample(s, "hello-web", commit_a, key1) == 0);
	path = kiln_record_path(s, commit_a, "hello-web");
	wrong_commit = kiln_record_path(s, commit_b, "hello-web");
	wrong_name = kiln_record_path(s, commit_a, "renamed");
	CHECK(copy_file(path, wrong_commit) == 0);
	CHECK(copy_file(path, wrong_name) == 0);

	CHECK(kiln_record_read(s, commit_b, "hello-web", &r, &found, &err) < 0);
	CHECK(!found);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "does not match its place");
	CHECK_CONTAINS(err.message, wrong_commit);
	CHECK(r.name == NULL);
	kiln_error_clear(&err);
	CHECK(kiln_record_read(s, commit_a, "renamed", &r, &found, &err) < 0);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, "does not match its place");
	kiln_error_clear(&err);
	CHECK(kiln_record_list(s, &list, &n, &err) < 0);
	CHECK(list == NULL && n == 0);
	CHECK_CONTAINS(err.message, "does not match its place");
	kiln_error_clear(&err);
	n = 99;
	CHECK(kiln_record_list_commit(s, commit_b, &list, &n, &err) < 0);
	CHECK(list == NULL && n == 0);
	kiln_store_free(s);
}

TEST(store_list)
{
	struct kiln_error err = { 0 };
	struct kiln_store *s = fresh_store("s3");
	struct kiln_record *list = NULL;
	size_t n = 99;

	if (!s)
		return;
	/* No commits/ at all yet. */
	CHECK(kiln_record_list(s, &list, &n, &err) == 0);
	CHECK(n == 0 && list == NULL);
	n = 99;
	CHECK(kiln_record_list_commit(s, commit_a, &list, &n, &err) == 0);
	CHECK(n == 0 && list == NULL);

	CHECK(write_sample(s, "zeta", commit_b, key1) == 0);
	CHECK(write_sample(s, "alpha", commit_b, NULL) == 0);
	CHECK(write_sample(s, "web", commit_a, key2) == 0);
	CHECK(write_sample(s, "api", commit_a, key1) == 0);
	CHECK(write_sample(s, "m", commit_a, NULL) == 0);

	CHECK(kiln_record_list(s, &list, &n, &err) == 0);
	CHECK(n == 5);
	if (n == 5) {
		CHECK_STR(list[0].commit, commit_a);
		CHECK_STR(list[0].name, "api");
		CHECK_STR(list[1].name, "m");
		CHECK_STR(list[2].name, "web");
		CHECK_STR(list[3].commit, commit_b);
		CHECK_STR(list[3].name, "alpha");
		CHECK_STR(list[4].name, "zeta");
		CHECK(list[1].n_sigs == 0 && list[2].n_sigs == 1);
	}
	kiln_record_list_free(list, n);

	CHECK(kiln_record_list_commit(s, commit_b, &list, &n, &err) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK_STR(list[0].name, "alpha");
		CHECK_STR(list[1].name, "zeta");
	}
	kiln_record_list_free(list, n);

	kiln_error_clear(&err);
	CHECK(kiln_record_list_commit(s, "HEAD", &list, &n, &err) < 0);
	CHECK_CONTAINS(err.message, "'HEAD' is not a commit id");

	/* A dot file (an atomic write's leftover) and a non-.json file are
	 * not records. */
	{
		_cleanup_free_ char *dot = kiln_xasprintf("%s/commits/%s/.web.json.tmp", kiln_store_dir(s), commit_a);
		_cleanup_free_ char *txt = kiln_xasprintf("%s/commits/%s/README", kiln_store_dir(s), commit_a);
		CHECK(kiln_file_write_atomic(dot, "x", 1, 0644, &err) == 0);
		CHECK(kiln_file_write_atomic(txt, "x", 1, 0644, &err) == 0);
		CHECK(kiln_record_list_commit(s, commit_a, &list, &n, &err) == 0);
		CHECK(n == 3);
		kiln_record_list_free(list, n);
	}
	kiln_store_free(s);
}

TEST(store_junk_refused)
{
	struct kiln_error err = { 0 };
	struct kiln_store *s = fresh_store("s4");
	struct kiln_record *list = NULL;
	size_t n = 99;
	_cleanup_free_ char *junk_dir = NULL, *junk_name = NULL, *bad_record = NULL, *dir_record = NULL;

	if (!s)
		return;
	CHECK(write_sample(s, "web", commit_a, key1) == 0);

	junk_dir = kiln_xasprintf("%s/commits/not-a-commit", kiln_store_dir(s));
	CHECK(kiln_mkdir_p(junk_dir, 0755, &err) == 0);
	CHECK(kiln_record_list(s, &list, &n, &err) < 0);
	CHECK(list == NULL && n == 0);
	CHECK_CONTAINS(err.message, "not-a-commit");
	CHECK_CONTAINS(err.message, "not a commit id");
	CHECK(rmdir(junk_dir) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_record_list(s, &list, &n, &err) == 0);
	CHECK(n == 1);
	kiln_record_list_free(list, n);

	junk_name = kiln_xasprintf("%s/commits/%s/Bad Name.json", kiln_store_dir(s), commit_a);
	CHECK(kiln_file_write_atomic(junk_name, "{}\n", 3, 0644, &err) == 0);
	CHECK(kiln_record_list(s, &list, &n, &err) < 0);
	CHECK_CONTAINS(err.message, "Bad Name.json");
	CHECK_CONTAINS(err.message, "not a record name");
	kiln_error_clear(&err);
	CHECK(kiln_record_list_commit(s, commit_a, &list, &n, &err) < 0);
	CHECK_CONTAINS(err.message, "Bad Name.json");
	CHECK(unlink(junk_name) == 0);

	/* A record file that does not parse: the error names it. */
	bad_record = kiln_record_path(s, commit_a, "broken");
	CHECK(kiln_file_write_atomic(bad_record, "{\"name\":\"broken\"}\n", 18, 0644, &err) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_record_list(s, &list, &n, &err) < 0);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK_CONTAINS(err.message, bad_record);
	CHECK(unlink(bad_record) == 0);

	/* A directory where a record should be is an error, whatever errno
	 * happened to hold before. */
	dir_record = kiln_record_path(s, commit_a, "adir");
	CHECK(kiln_mkdir_p(dir_record, 0755, &err) == 0);
	kiln_error_clear(&err);
	errno = ENOENT;
	CHECK(kiln_record_list(s, &list, &n, &err) < 0);
	CHECK_CONTAINS(err.message, "adir.json");
	CHECK(rmdir(dir_record) == 0);
	kiln_store_free(s);
}

/* A record file larger than KILN_RECORD_MAX is an error, never "no
 * record", even when errno held ENOENT from something earlier. */
TEST(store_oversized_record_is_an_error)
{
	struct kiln_error err = { 0 };
	struct kiln_store *s = fresh_store("s5");
	_cleanup_free_ char *path = NULL, *big = NULL;
	struct kiln_record r;
	bool found = true;

	if (!s)
		return;
	CHECK(write_sample(s, "web", commit_a, key1) == 0);
	path = kiln_record_path(s, commit_a, "web");
	big = kiln_xmalloc(KILN_RECORD_MAX + 10);
	memset(big, ' ', KILN_RECORD_MAX + 10);
	CHECK(kiln_file_write_atomic(path, big, KILN_RECORD_MAX + 10, 0644, &err) == 0);
	errno = ENOENT;
	CHECK(kiln_record_read(s, commit_a, "web", &r, &found, &err) < 0);
	CHECK(!found);
	CHECK_CONTAINS(err.message, "larger than");
	kiln_error_clear(&err);
	errno = 0;
	CHECK(kiln_record_read(s, commit_a, "web", &r, &found, &err) < 0);
	CHECK_CONTAINS(err.message, "larger than");
	kiln_store_free(s);
}

TEST(note_lines)
{
	struct kiln_error err = { 0 };
	struct kiln_record r;
	_cleanup_free_ char *text = record_text(key1), *unsig = record_text(NULL);
	_cleanup_free_ char *line = NULL, *want = NULL;
	char m[KILN_OCI_DIGEST_LEN + 1], e[KILN_OCI_DIGEST_LEN + 1];

	digest(m, '1');
	digest(e, '3');
	CHECK(kiln_record_parse("t.json", text, strlen(text), &r, &err) == 0);
	line = kiln_record_note_line(&r);
	want = kiln_xasprintf("hello-web %s signed-by %s envelope %s", m, keyid1, e);
	CHECK_STR(line, want);
	CHECK(strchr(line, '\n') == NULL);
	kiln_record_release(&r);
	free(line);
	free(want);
	CHECK(kiln_record_parse("t.json", unsig, strlen(unsig), &r, &err) == 0);
	line = kiln_record_note_line(&r);
	want = kiln_xasprintf("hello-web %s unsigned", m);
	CHECK_STR(line, want);
	kiln_record_release(&r);
}

int main(void)
{
	struct kiln_error err = { 0 };

	if (!mkdtemp(top)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	key1 = kiln_sign_generate(&err);
	key2 = kiln_sign_generate(&err);
	if (!key1 || !key2 || kiln_sign_keyid(key1, keyid1, &err) < 0) {
		printf("Bail out! keys: %s\n", err.message);
		return 1;
	}
	RUN(name_rule);
	RUN(signed_round_trip);
	RUN(judge_policy);
	RUN(signed_needs_envelope);
	RUN(unsigned_round_trip);
	RUN(format_unsigned_clears_keyid);
	RUN(canonical_form_enforced);
	RUN(every_byte_change_refused);
	RUN(keyid_must_name_the_signer);
	RUN(several_signatures);
	RUN(unknown_members_refused);
	RUN(duplicate_keys_refused);
	RUN(wrong_types_refused);
	RUN(missing_members_refused);
	RUN(bad_digests_refused);
	RUN(bad_commits_refused);
	RUN(bad_names_refused);
	RUN(signature_list_shape);
	RUN(sizes);
	RUN(envelope_and_signatures_go_together);
	RUN(store_write_read);
	RUN(store_misplaced_records_refused);
	RUN(store_list);
	RUN(store_junk_refused);
	RUN(store_oversized_record_is_an_error);
	RUN(note_lines);
	kiln_sign_key_free(key1);
	kiln_sign_key_free(key2);
	{
		_cleanup_free_ char *cmd = kiln_xasprintf("rm -rf '%s'", top);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", top);
	}
	return tap_done();
}
