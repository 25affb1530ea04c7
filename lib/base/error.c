#include "error.h"

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

void kiln_error_clear(struct kiln_error *err)
{
	if (!err)
		return;
	err->code = 0;
	err->message[0] = '\0';
}
