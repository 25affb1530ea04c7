/* process.h - run a helper program (gpgv, …) and capture what it says. */
#ifndef KILN_PROCESS_H
#define KILN_PROCESS_H

#include "error.h"
#include "util.h"

/* Run argv (argv[0] looked up in PATH) with stdin from /dev/null and the
 * environment plus LC_ALL=C.  stdout and stderr are captured into the
 * buffers (each may be NULL to discard), at most 1 MiB each.  *status is
 * the exit code, or 128+signal.  Returns -1 only when it could not run. */
int kiln_process_capture(char *const argv[], struct kiln_buf *out, struct kiln_buf *errout,
		       int *status, struct kiln_error *err);

#endif
