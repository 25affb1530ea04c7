/* error.h - how kiln's library reports failure.
 *
 * Every fallible function takes a `struct kiln_error *err` as its last
 * argument, returns -1 (or NULL) on failure and fills `err` with one line
 * that names the object and the cause.  Callers add context on the way up
 * with kiln_error_prefix(), so the command prints a single line such as
 * "lock: fetch http://…/InRelease: HTTP 404".  Library code never prints
 * and never exits.
 *
 * Beside the message, an error carries a cause (enum kiln_cause) set by
 * the code that decided it, and the exit code the command should use.  A
 * caller that must tell failures apart tests the cause with
 * kiln_error_is(), never the message text (docs/architecture.md, Errors).
 */
#ifndef KILN_ERROR_H
#define KILN_ERROR_H

#include <stdbool.h>
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

/* Why something failed, for callers that decide on it.  Kept small: a
 * cause exists because some caller branches on it or because an errno
 * maps to it; everything else is KILN_CAUSE_NONE and the message says
 * what happened. */
enum kiln_cause {
	KILN_CAUSE_NONE = 0,    /* no particular cause: the message says it */
	KILN_CAUSE_NOT_FOUND,   /* the object named does not exist (ENOENT, no such record) */
	KILN_CAUSE_EXISTS,      /* it exists already (EEXIST, ENOTEMPTY) */
	KILN_CAUSE_INVALID,     /* the input is malformed or breaks a rule (EINVAL) */
	KILN_CAUSE_VERIFY,      /* a signature, digest or record does not check: exit 3 */
	KILN_CAUSE_IO,          /* the system failed to read or write (EIO, ENOSPC, …) */
	KILN_CAUSE_BUSY,        /* held by someone else: a lock, a mount (EBUSY, EAGAIN) */
	KILN_CAUSE_UNSUPPORTED, /* this host or kernel lacks it (ENOSYS, EOPNOTSUPP) */
	KILN_CAUSE_DENIED,      /* not permitted (EACCES, EPERM, EROFS) */
};

struct kiln_error {
	int code;                 /* a kiln_exit value the command should use */
	enum kiln_cause cause;
	char message[KILN_ERROR_MAX];
};

/* An error to pass where the callee's failure is not wanted (cleanup on
 * a path that already failed, a best-effort removal): a fresh temporary
 * per use, so the callee may write to it and nobody reads it. */
#define KILN_ERROR_IGNORE (&(struct kiln_error){ 0 })

/* Set the message (printf format); returns -1 so callers can
 * `return kiln_error_set(err, …);`.  err may be NULL.  The cause and code
 * already in err stay: an error is set on a cleared struct, and a caller
 * that rewords a failure keeps what was decided below it. */
int kiln_error_set(struct kiln_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like kiln_error_set, appending ": strerror(errnum)"; the cause is
 * kiln_cause_from_errno(errnum). */
int kiln_error_errno(struct kiln_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Put "context: " in front of the current message; returns -1.  The
 * cause and code are kept. */
int kiln_error_prefix(struct kiln_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Record the cause of the error already set, and the exit code it
 * implies (kiln_cause_exit); returns -1.  err may be NULL. */
int kiln_error_cause(struct kiln_error *err, enum kiln_cause cause);

/* Mark the error as a failed verification (signature, digest): exit 3. */
static inline int kiln_error_verification(struct kiln_error *err)
{
	return kiln_error_cause(err, KILN_CAUSE_VERIFY);
}

/* Whether err holds a failure of this cause. */
static inline bool kiln_error_is(const struct kiln_error *err, enum kiln_cause cause)
{
	return err && (err->code || err->message[0]) && err->cause == cause;
}

/* Whether err holds a failure at all: for functions whose NULL return
 * means "absent" unless they also set err. */
static inline bool kiln_error_isset(const struct kiln_error *err)
{
	return err && (err->code || err->message[0]);
}

/* The cause an errno value stands for (0 gives KILN_CAUSE_NONE; a value
 * without a closer meaning gives KILN_CAUSE_IO). */
enum kiln_cause kiln_cause_from_errno(int errnum);

/* The exit code a cause implies: 3 for KILN_CAUSE_VERIFY, else 1.  A
 * command may still choose its own (usage, 126/127 of `kiln exec`) by
 * setting err->code after the cause. */
int kiln_cause_exit(enum kiln_cause cause);

/* A short name for the cause ("not found"), for JSON output and tests. */
const char *kiln_cause_name(enum kiln_cause cause);

/* Reset to "no error". */
void kiln_error_clear(struct kiln_error *err);

#endif
