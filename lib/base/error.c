#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void error_vformat(struct kiln_error *err, const char *fmt, va_list ap)
{
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	if (err->code == 0)
		err->code = KILN_EXIT_FAILED;
}

int kiln_error_set(struct kiln_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	error_vformat(err, fmt, ap);
	va_end(ap);
	return -1;
}

int kiln_error_errno(struct kiln_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (!err)
		return -1;
	va_start(ap, fmt);
	error_vformat(err, fmt, ap);
	va_end(ap);
	len = strlen(err->message);
	snprintf(err->message + len, sizeof(err->message) - len, ": %s", strerror(errnum));
	err->cause = kiln_cause_from_errno(errnum);
	if (err->cause == KILN_CAUSE_VERIFY)
		err->code = KILN_EXIT_VERIFY;
	return -1;
}

int kiln_error_prefix(struct kiln_error *err, const char *fmt, ...)
{
	char prefix[KILN_ERROR_MAX];
	size_t plen, olen;
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
	va_end(ap);
	/* "prefix: old", keeping as much of the old message as fits. */
	plen = strlen(prefix);
	memcpy(prefix + plen, ": ", 3);
	plen += 2;
	olen = strnlen(err->message, sizeof(err->message) - 1);
	if (plen + olen >= sizeof(err->message))
		olen = sizeof(err->message) - 1 - plen;
	memmove(err->message + plen, err->message, olen);
	memcpy(err->message, prefix, plen);
	err->message[plen + olen] = '\0';
	if (err->code == 0)
		err->code = KILN_EXIT_FAILED;
	return -1;
}

int kiln_error_cause(struct kiln_error *err, enum kiln_cause cause)
{
	if (!err)
		return -1;
	err->cause = cause;
	err->code = kiln_cause_exit(cause);
	return -1;
}

enum kiln_cause kiln_cause_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return KILN_CAUSE_NONE;
	case ENOENT:
	case ENOTDIR:
	case ESRCH:
		return KILN_CAUSE_NOT_FOUND;
	case EEXIST:
	case ENOTEMPTY:
		return KILN_CAUSE_EXISTS;
	case EINVAL:
	case ENAMETOOLONG:
	case ELOOP:
		return KILN_CAUSE_INVALID;
	case EBUSY:
	case EAGAIN:
	case ETXTBSY:
		return KILN_CAUSE_BUSY;
	case ENOSYS:
	case EOPNOTSUPP:
	case EAFNOSUPPORT:
	case EPROTONOSUPPORT:
		return KILN_CAUSE_UNSUPPORTED;
	case EACCES:
	case EPERM:
	case EROFS:
		return KILN_CAUSE_DENIED;
	default:
		return KILN_CAUSE_IO;
	}
}

int kiln_cause_exit(enum kiln_cause cause)
{
	return cause == KILN_CAUSE_VERIFY ? KILN_EXIT_VERIFY : KILN_EXIT_FAILED;
}

const char *kiln_cause_name(enum kiln_cause cause)
{
	switch (cause) {
	case KILN_CAUSE_NONE: return "none";
	case KILN_CAUSE_NOT_FOUND: return "not found";
	case KILN_CAUSE_EXISTS: return "exists";
	case KILN_CAUSE_INVALID: return "invalid";
	case KILN_CAUSE_VERIFY: return "verification failed";
	case KILN_CAUSE_IO: return "i/o";
	case KILN_CAUSE_BUSY: return "busy";
	case KILN_CAUSE_UNSUPPORTED: return "unsupported";
	case KILN_CAUSE_DENIED: return "denied";
	}
	return "unknown";
}

void kiln_error_clear(struct kiln_error *err)
{
	if (!err)
		return;
	err->code = 0;
	err->cause = KILN_CAUSE_NONE;
	err->message[0] = '\0';
}
