/* dsse.h - DSSE v1 envelopes (Dead Simple Signing Envelope).
 *
 * https://github.com/secure-systems-lab/dsse/blob/master/protocol.md
 * A signature covers PAE(payloadType, payload), never the JSON, so the
 * envelope's formatting cannot change what was signed:
 *
 *   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
 *
 * with LEN the byte count in decimal ASCII.  The envelope is
 *
 *   {"payload":BASE64,"payloadType":TYPE,"signatures":[{"keyid":ID,"sig":BASE64}]}
 *
 * with standard base64 (padded).  kiln writes it compact with sorted keys,
 * so the same payload and key give the same bytes.
 */
#ifndef KILN_DSSE_H
#define KILN_DSSE_H

#include <stddef.h>

#include "error.h"
#include "sign.h"
#include "util.h"

#define KILN_DSSE_IN_TOTO "application/vnd.in-toto+json"

/* Append PAE(type, body) to out. */
void kiln_dsse_pae(const char *payload_type, const void *body, size_t len, struct kiln_buf *out);

/* Sign payload with a private key and return the envelope JSON (malloc'd,
 * NUL-terminated, no trailing newline), or NULL. */
char *kiln_dsse_envelope(const char *payload_type, const void *payload, size_t len,
			 const struct kiln_key *key, struct kiln_error *err);

/* Check an envelope: strict JSON (no duplicate keys), the required fields
 * with their types, base64 that decodes exactly (standard alphabet, padded,
 * canonical), and at least one signature that verifies over the PAE under
 * one of the n trusted keys.  keyid is only a hint: every signature is tried
 * against every key.  On success returns 0 and hands the caller the payload
 * (*payload, malloc'd, NUL-terminated after *payload_len bytes) and its type
 * (*payload_type, malloc'd); either pointer may be NULL.  On any failure
 * returns -1 with the error marked as a failed verification (exit 3). */
int kiln_dsse_verify(const char *envelope, size_t envelope_len, struct kiln_key *const *trusted,
		     size_t n_trusted, char **payload, size_t *payload_len, char **payload_type,
		     struct kiln_error *err);

/* Standard base64 with padding (malloc'd). */
char *kiln_dsse_base64_encode(const void *data, size_t len);
/* Decode text that must be exactly what kiln_dsse_base64_encode would give for
 * some bytes; returns them (malloc'd, NUL-terminated) or NULL. */
unsigned char *kiln_dsse_base64_decode(const char *text, size_t text_len, size_t *len);

#endif
