/* fuzz_packages.c - libFuzzer target: a Packages index from hostile bytes,
 * then every dependency-style field of every kept stanza. */
#include <stddef.h>
#include <stdint.h>

#include "packages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_packages *idx = kiln_packages_new("amd64");
	struct kiln_error err = { 0 };
	struct kiln_deps deps = KILN_DEPS_INIT;

	kiln_packages_add_buffer(idx, (const char *)data, size, "fuzz", 0, &err);
	for (size_t i = 0; i < kiln_packages_count(idx); i++) {
		const struct kiln_pkg *p = kiln_packages_get(idx, (uint32_t)i);
		const struct kiln_slice fields[] = { p->depends, p->pre_depends, p->provides,
						     p->conflicts, p->breaks };
		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			kiln_deps_parse(fields[f], true, &deps, &err);
			kiln_deps_parse(fields[f], false, &deps, &err);
		}
		(void)kiln_packages_lookup(idx, p->name.ptr, p->name.len);
		(void)kiln_packages_providers(idx, p->name.ptr, p->name.len);
	}
	kiln_deps_release(&deps);
	/* The raw bytes as one dependency field too. */
	kiln_deps_parse((struct kiln_slice){ (const char *)data, size }, true, &deps, &err);
	kiln_deps_release(&deps);
	kiln_packages_free(idx);
	return 0;
}
