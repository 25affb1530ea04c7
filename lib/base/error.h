/* error.h - how kiln's library reports failure.
 *
 * Every fallible function takes a `struct kiln_error *err` as its last
 * argument, returns -1 (or NULL) on failure and fills `err` with one line
 * that names the object and the cause.  Callers add context on the way up
 * with kiln_error_prefix(), so the command prints a single line such as
 * "lock: fetch http://…/InRelease: HTTP 404".  Library code never prints
 * and never exits.
 */
#ifndef KILN_ERROR_H
#define KILN_ERROR_H

#include <stddef.h>

#define KILN_ERROR_MAX 4096

/* Exit codes shared by every command (docs/architecture.md, Conventions). */
enum kiln_exit {
	KILN_EXIT_OK = 0,
	KILN_EXIT_FAILED = 1,
	KILN_EXIT_USAGE = 2,
	KILN_EXIT_VERIFY = 3,
	KILN_EXIT_AUDIT = 4,
};

struct kiln_error {
	int code;                 /* a kiln_exit value the command should use */
	char message[KILN_ERROR_MAX];
};

/* Set the message (printf format); returns -1 so callers can
 * `return kiln_error_set(err, …);`.  err may be NULL. */
int kiln_error_set(struct kiln_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like kiln_error_set, appending ": strerror(errnum)". */
int kiln_error_errno(struct kiln_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Put "context: " in front of the current message; returns -1. */
int kiln_error_prefix(struct kiln_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Mark the error as a failed verification (signature, digest): exit 3. */
static inline int kiln_error_verification(struct kiln_error *err)
{
	if (err)
		err->code = KILN_EXIT_VERIFY;
	return -1;
}

/* Reset to "no error". */
void kiln_error_clear(struct kiln_error *err);

#endif
