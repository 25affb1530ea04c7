/* util.h - memory, cleanup attributes and small string helpers.
 *
 * kiln_xmalloc and friends abort on out-of-memory, as git's xmalloc does:
 * there is no sensible recovery and checking every small allocation would
 * hide the real error paths.
 */
#ifndef KILN_UTIL_H
#define KILN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void *kiln_xmalloc(size_t size);
void *kiln_xcalloc(size_t count, size_t size);
void *kiln_xrealloc(void *ptr, size_t size);
/* Grow *array (of *alloc elements of elem_size) so index `need-1` fits. */
void kiln_xgrow(void *array_ptr, size_t *alloc, size_t need, size_t elem_size);
char *kiln_xstrdup(const char *s);
char *kiln_xstrndup(const char *s, size_t n);
char *kiln_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void kiln_freep(void *p) { free(*(void **)p); }
static inline void kiln_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void kiln_fclosep(FILE **f) { if (*f) fclose(*f); }

#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _cleanup_free_ _cleanup_(kiln_freep)
#define _cleanup_close_ _cleanup_(kiln_closep)
#define _cleanup_fclose_ _cleanup_(kiln_fclosep)

/* Take ownership out of a cleanup variable: `return steal_pointer(&p);` */
static inline void *kiln_steal_pointer(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
static inline int kiln_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#define KILN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

bool kiln_str_has_prefix(const char *s, const char *prefix);
bool kiln_str_has_suffix(const char *s, const char *suffix);

/* A string vector: n owned strings, then a NULL (so it can be an argv).
 * kiln_strv_free frees the first n strings and the array; NULL is
 * accepted.  kiln_strv_free_terminated frees up to the NULL, for vectors
 * that carry no count. */
void kiln_strv_free(char **v, size_t n);
void kiln_strv_free_terminated(char **v);
/* A copy of v[0..n), NULL-terminated. */
char **kiln_strv_dup(char *const *v, size_t n);

/* Bytes of someone else's buffer, not NUL-terminated (the deb822 scanner
 * and the parsers over it hand these out). */
struct kiln_slice {
	const char *ptr;
	size_t len;
};
/* A NUL-terminated copy of the slice; the caller frees it. */
char *kiln_slice_dup(struct kiln_slice s);

/* Seconds on the monotonic clock, for measuring how long something took. */
double kiln_monotonic_seconds(void);
/* Seconds since the epoch, for timestamps that are stored or shown. */
int64_t kiln_now_seconds(void);

/* Growable byte buffer, always NUL-terminated. */
struct kiln_buf {
	char *data;
	size_t len;
	size_t alloc;
};
#define KILN_BUF_INIT { NULL, 0, 0 }
void kiln_buf_add(struct kiln_buf *b, const void *data, size_t len);
void kiln_buf_adds(struct kiln_buf *b, const char *s);
void kiln_buf_addch(struct kiln_buf *b, char c);
void kiln_buf_printf(struct kiln_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kiln_buf_reset(struct kiln_buf *b);
/* Hand the string to the caller (never NULL); the buffer is left empty. */
char *kiln_buf_detach(struct kiln_buf *b);
void kiln_buf_release(struct kiln_buf *b);
static inline void kiln_buf_releasep(struct kiln_buf *b) { kiln_buf_release(b); }
#define _cleanup_buf_ _cleanup_(kiln_buf_releasep)

#endif
