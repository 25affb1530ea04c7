/* fuzz_yamltree.c - libFuzzer target: the strict YAML tree. */
#include <stddef.h>
#include <stdint.h>

#include "yamltree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *root = kiln_yaml_parse("fuzz", (const char *)data, size, NULL, &err);

	if (root) {
		(void)kiln_yaml_get(root, "packages");
		kiln_yaml_free(root);
	}
	return 0;
}
