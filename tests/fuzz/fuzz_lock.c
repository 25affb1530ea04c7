/* fuzz_lock.c - libFuzzer target: kiln_lock_parse, and for what parses,
 * format → parse → format must give the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_error err = { 0 };
	struct kiln_lock *lock = kiln_lock_parse("fuzz", (const char *)data, size, &err);

	if (lock) {
		char *once = kiln_lock_format(lock);
		struct kiln_lock *again = kiln_lock_parse("fuzz2", once, strlen(once), &err);
		char *twice;

		if (!again)
			abort(); /* what kiln writes it must read back */
		twice = kiln_lock_format(again);
		if (strcmp(once, twice) != 0)
			abort();
		free(twice);
		kiln_lock_free(again);
		free(once);
		kiln_lock_free(lock);
	}
	return 0;
}
