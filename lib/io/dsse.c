/* dsse.c - DSSE v1 envelopes: PAE, signing, strict verification. */
#include "dsse.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>

/* Envelopes carry a statement about one image; a few MiB is plenty, and
 * EVP_EncodeBlock/DecodeBlock take int lengths. */
#define BASE64_MAX ((size_t)256 * 1024 * 1024)

void kiln_dsse_pae(const char *payload_type, const void *body, size_t len, struct kiln_buf *out)
{
	size_t type_len = strlen(payload_type);

	kiln_buf_printf(out, "DSSEv1 %zu ", type_len);
	kiln_buf_add(out, payload_type, type_len);
	kiln_buf_printf(out, " %zu ", len);
	kiln_buf_add(out, body, len);
}

char *kiln_dsse_base64_encode(const void *data, size_t len)
{
	char *out;

	if (len > BASE64_MAX)
		abort();
	out = kiln_xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

unsigned char *kiln_dsse_base64_decode(const char *text, size_t text_len, size_t *len)
{
	_cleanup_free_ unsigned char *out = NULL;
	_cleanup_free_ char *again = NULL;
	size_t pad = 0;
	int n;

	if (text_len % 4 != 0 || text_len > BASE64_MAX)
		return NULL;
	out = kiln_xmalloc(text_len / 4 * 3 + 1);
	/* EVP_DecodeBlock is lenient (it skips blanks, counts padding as
	 * zero bytes); re-encoding and comparing makes the check exact. */
	n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)text_len);
	if (n < 0)
		return NULL;
	if (text_len >= 1 && text[text_len - 1] == '=')
		pad++;
	if (text_len >= 2 && text[text_len - 2] == '=')
		pad++;
	if ((size_t)n < pad)
		return NULL;
	*len = (size_t)n - pad;
	again = kiln_dsse_base64_encode(out, *len);
	if (strlen(again) != text_len || memcmp(again, text, text_len) != 0)
		return NULL;
	out[*len] = '\0';
	return kiln_steal_pointer(&out);
}

char *kiln_dsse_envelope(const char *payload_type, const void *payload, size_t len,
			 const struct kiln_key *key, struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf pae = KILN_BUF_INIT;
	json_auto_t *env = NULL;
	_cleanup_free_ char *payload64 = NULL, *sig64 = NULL;
	unsigned char sig[KILN_SIG_LEN];
	char keyid[KILN_KEYID_LEN + 1];
	json_t *type, *signature;
	char *text;

	if (len > BASE64_MAX) {
		kiln_error_set(err, "DSSE: payload of %zu bytes is too large", len);
		return NULL;
	}
	kiln_dsse_pae(payload_type, payload, len, &pae);
	if (kiln_sign(key, pae.data, pae.len, sig, err) < 0 || kiln_sign_keyid(key, keyid, err) < 0)
		return NULL;
	type = json_string(payload_type);
	if (!type) {
		kiln_error_set(err, "DSSE: payload type is not valid UTF-8");
		return NULL;
	}
	payload64 = kiln_dsse_base64_encode(payload, len);
	sig64 = kiln_dsse_base64_encode(sig, sizeof(sig));
	signature = json_pack("{s:s, s:s}", "keyid", keyid, "sig", sig64);
	env = json_pack("{s:s, s:o, s:[o]}", "payload", payload64, "payloadType", type,
			"signatures", signature);
	if (!env) {
		kiln_error_set(err, "DSSE: could not build the envelope");
		return NULL;
	}
	text = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		kiln_error_set(err, "DSSE: could not encode the envelope");
	return text;
}

/* A required string member: its value and length, or NULL. */
static const char *member_string(json_t *obj, const char *name, size_t *len)
{
	json_t *v = json_object_get(obj, name);

	if (!v || !json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

static int bad(struct kiln_error *err, const char *why)
{
	kiln_error_set(err, "DSSE envelope: %s", why);
	return kiln_error_verification(err);
}

int kiln_dsse_verify(const char *envelope, size_t envelope_len, struct kiln_key *const *trusted,
		     size_t n_trusted, char **payload_out, size_t *payload_len_out,
		     char **payload_type_out, struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf pae = KILN_BUF_INIT;
	json_auto_t *env = NULL;
	_cleanup_free_ unsigned char *payload = NULL;
	json_t *sigs;
	json_error_t jerr;
	const char *payload64, *type;
	size_t payload64_len, type_len, payload_len, n_sigs;

	env = json_loadb(envelope, envelope_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!env) {
		kiln_error_set(err, "DSSE envelope: bad JSON at line %d column %d: %s", jerr.line,
			       jerr.column, jerr.text);
		return kiln_error_verification(err);
	}
	if (!json_is_object(env))
		return bad(err, "not a JSON object");
	payload64 = member_string(env, "payload", &payload64_len);
	if (!payload64)
		return bad(err, "no \"payload\" string");
	type = member_string(env, "payloadType", &type_len);
	if (!type)
		return bad(err, "no \"payloadType\" string");
	/* PAE takes the type as a C string; a NUL inside would change it. */
	if (strlen(type) != type_len)
		return bad(err, "NUL byte in \"payloadType\"");
	sigs = json_object_get(env, "signatures");
	if (!sigs || !json_is_array(sigs) || json_array_size(sigs) == 0)
		return bad(err, "no \"signatures\" (a non-empty array)");
	payload = kiln_dsse_base64_decode(payload64, payload64_len, &payload_len);
	if (!payload)
		return bad(err, "bad base64 in payload");
	kiln_dsse_pae(type, payload, payload_len, &pae);

	n_sigs = json_array_size(sigs);
	/* Check every signature's shape and base64 first: a malformed one is
	 * an error even when another signature would verify. */
	for (size_t i = 0; i < n_sigs; i++) {
		json_t *s = json_array_get(sigs, i), *keyid;
		_cleanup_free_ unsigned char *sig = NULL;
		const char *sig64;
		size_t sig64_len = 0, sig_len;

		if (!json_is_object(s) || !(sig64 = member_string(s, "sig", &sig64_len))) {
			kiln_error_set(err, "DSSE envelope: signatures[%zu] has no \"sig\" string", i);
			return kiln_error_verification(err);
		}
		keyid = json_object_get(s, "keyid");
		if (keyid && !json_is_string(keyid)) {
			kiln_error_set(err, "DSSE envelope: signatures[%zu].keyid is not a string", i);
			return kiln_error_verification(err);
		}
		sig = kiln_dsse_base64_decode(sig64, sig64_len, &sig_len);
		if (!sig) {
			kiln_error_set(err, "DSSE envelope: bad base64 in signatures[%zu].sig", i);
			return kiln_error_verification(err);
		}
	}
	for (size_t i = 0; i < n_sigs; i++) {
		json_t *s = json_array_get(sigs, i);
		_cleanup_free_ unsigned char *sig = NULL;
		const char *sig64;
		size_t sig64_len = 0, sig_len = 0;

		sig64 = member_string(s, "sig", &sig64_len);
		/* Decoded once above already; it cannot fail here. */
		sig = kiln_dsse_base64_decode(sig64, sig64_len, &sig_len);
		if (!sig)
			continue;
		/* keyid is an unauthenticated hint: try every trusted key. */
		for (size_t k = 0; k < n_trusted; k++) {
			if (kiln_sign_verify(trusted[k], pae.data, pae.len, sig, sig_len, NULL) == 0) {
				if (payload_len_out)
					*payload_len_out = payload_len;
				if (payload_out)
					*payload_out = kiln_steal_pointer(&payload);
				if (payload_type_out)
					*payload_type_out = kiln_xstrdup(type);
				return 0;
			}
		}
	}
	kiln_error_set(err, "DSSE envelope: no signature by a trusted key (%zu signature%s, %zu trusted key%s)",
		       n_sigs, n_sigs == 1 ? "" : "s", n_trusted, n_trusted == 1 ? "" : "s");
	return kiln_error_verification(err);
}
