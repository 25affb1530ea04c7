/* fuzz_release.c - libFuzzer target: Release text and its dates. */
#include <stddef.h>
#include <stdint.h>

#include "release.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_error err = { 0 };
	struct kiln_release *r = kiln_release_parse("fuzz", (const char *)data, size, &err);

	if (r) {
		for (size_t i = 0; i < r->n_files; i++)
			(void)kiln_release_find(r, r->files[i].path);
		(void)kiln_release_has_architecture(r, "amd64");
		kiln_release_free(r);
	}
	(void)kiln_release_parse_date((const char *)data, size);
	return 0;
}
