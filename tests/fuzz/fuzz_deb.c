/* fuzz_deb.c - hostile .deb files: the ar container, control.tar and
 * data.tar readers, and unpacking into the in-memory tree (safe path
 * resolution, hard links, the dpkg database) and writing the layer. */
#include <stddef.h>
#include <stdint.h>

#include "deb.h"
#include "dpkg.h"
#include "layer.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_error err = { 0 };
	struct kiln_deb_options opts = { .max_entries = 10000, .max_file_size = 1 << 20 };
	struct kiln_deb *deb = kiln_deb_open_memory(data, size, "fuzz.deb", &opts, &err);
	struct kiln_dpkg_package pkg = { 0 };
	struct kiln_layer_tree *tree;

	if (!deb)
		return 0;
	tree = kiln_layer_tree_new_root();
	if (kiln_layer_tree_add_deb(tree, deb, 1, &pkg, &err) == 0) {
		struct kiln_buf tar = KILN_BUF_INIT;
		struct kiln_layer_options lo = { .epoch = 0, .clamp = -1 };
		struct kiln_layer_result res;

		if (kiln_layer_tree_add_dpkg_status(tree, &pkg, 1, 2, 0, &err) == 0)
			for (int layer = 0; layer <= 2; layer++) {
				kiln_buf_reset(&tar);
				kiln_layer_write(tree, layer, &lo, &tar, &res, &err);
			}
		kiln_buf_release(&tar);
	}
	kiln_dpkg_package_release(&pkg);
	kiln_layer_tree_free(tree);
	kiln_deb_free(deb);
	return 0;
}
