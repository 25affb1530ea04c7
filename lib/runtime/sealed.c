/* sealed.c - re-execute kiln from a sealed memfd copy (why: sealed.h). */
#include "sealed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "util.h"

#define SEALED_NAME "kiln-sealed"

static bool running_sealed(void)
{
	char link[64];
	ssize_t n = readlink("/proc/self/exe", link, sizeof(link) - 1);

	if (n <= 0)
		return false;
	link[n] = '\0';
	return strncmp(link, "/memfd:" SEALED_NAME, strlen("/memfd:" SEALED_NAME)) == 0;
}

static int reexec_sealed(struct kiln_error *err)
{
	_cleanup_close_ int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int copy = memfd_create(SEALED_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	_cleanup_free_ char *cmdline = NULL;
	_cleanup_free_ char **args = NULL;
	size_t len, n_args = 0, alloc = 0;
	struct stat st;
	off_t off = 0;

	if (src < 0 || copy < 0 || fstat(src, &st) < 0)
		return kiln_error_errno(err, errno, "make a sealed copy of kiln");
	while (off < st.st_size) {
		ssize_t w = sendfile(copy, src, &off, (size_t)(st.st_size - off));
		if (w <= 0)
			return kiln_error_errno(err, w < 0 ? errno : EIO, "copy kiln into memory");
	}
	if (fcntl(copy, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		return kiln_error_errno(err, errno, "seal kiln's copy");
	cmdline = kiln_file_read("/proc/self/cmdline", 1 << 20, &len, err);
	if (!cmdline)
		return -1;
	for (size_t i = 0; i < len; i += strlen(cmdline + i) + 1) {
		kiln_xgrow(&args, &alloc, n_args + 2, sizeof(*args));
		args[n_args++] = cmdline + i;
	}
	if (!n_args)
		return kiln_error_set(err, "no command line to re-execute");
	args[n_args] = NULL;
	fexecve(copy, args, environ);
	return kiln_error_errno(err, errno, "re-execute kiln from its sealed copy");
}

int kiln_sealed_reexec(struct kiln_error *err)
{
	if (running_sealed())
		return 0;
	return reexec_sealed(err);
}
