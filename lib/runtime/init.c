/* init.c - the embedded container init and its file under ROOT; see init.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "hash.h"
#include "init.h"
#include "util.h"

/* lib/runtime/init/blob.S: the bytes of build/kiln-init. */
extern const unsigned char kiln_init_start[], kiln_init_end[];

const unsigned char *kiln_init_program(size_t *len)
{
	*len = (size_t)(kiln_init_end - kiln_init_start);
	return kiln_init_start;
}

char *kiln_init_install(const char *root, struct kiln_error *err)
{
	size_t len;
	const unsigned char *data = kiln_init_program(&len);
	char want[KILN_SHA256_HEX_LEN + 1], have[KILN_SHA256_HEX_LEN + 1];
	_cleanup_free_ char *dir = kiln_path_join(root, "init");
	char *path;
	uint64_t size;
	struct stat st;

	kiln_sha256_hex(data, len, want);
	path = kiln_xasprintf("%s/%s", dir, want);
	/* Already there: only if it is exactly these bytes (a truncated or
	 * altered file would become every container's PID 1). */
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0555 &&
	    (uint64_t)st.st_size == len && kiln_sha256_file(path, have, &size, KILN_ERROR_IGNORE) == 0 &&
	    strcmp(have, want) == 0)
		return path;
	if (kiln_mkdir_p(dir, 0755, err) < 0 ||
	    kiln_file_write_atomic(path, data, len, 0555, err) < 0) {
		free(path);
		kiln_error_prefix(err, "container init");
		return NULL;
	}
	return path;
}
