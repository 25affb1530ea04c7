/* fuzz_record.c - libFuzzer target: kiln_record_parse, and for what parses,
 * kiln_record_verify against a key (a signature must never verify by
 * accident) and kiln_record_format(r, NULL): for an unsigned record that
 * gives back exactly the bytes read (only the canonical form parses). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kiln_key *key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_error err = { 0 };
	struct kiln_record r;
	char *again;

	if (!key && !(key = kiln_sign_generate(&err)))
		abort();
	if (kiln_record_parse("fuzz", (const char *)data, size, &r, &err) < 0) {
		if (err.code != KILN_EXIT_VERIFY)
			abort(); /* every refusal is a failed verification */
		return 0;
	}
	{
		struct kiln_sign_keyring ring = { &key, 1, 1 };
		const struct kiln_key *signer;
		if (r.n_sigs == 0 && kiln_record_verify(&r, &ring, &signer, &err) == 0)
			abort(); /* unsigned never verifies */
		(void)kiln_record_verify(&r, &ring, &signer, &err);
	}
	free(kiln_record_note_line(&r));
	again = kiln_record_format(&r, NULL, &err);
	if (!again)
		abort();
	if (r.n_sigs == 0 && (strlen(again) != size || memcmp(again, data, size) != 0))
		abort(); /* canonical: the bytes parsed are the bytes written */
	free(again);
	kiln_record_release(&r);
	return 0;
}
