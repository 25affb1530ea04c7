#include "util.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static void *oom(size_t size)
{
	fprintf(stderr, "kiln: out of memory allocating %zu bytes\n", size);
	abort();
}

void *kiln_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	return p ? p : oom(size);
}

void *kiln_xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	return p ? p : oom(count * size);
}

void *kiln_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	return p ? p : oom(size);
}

void kiln_xgrow(void *array_ptr, size_t *alloc, size_t need, size_t elem_size)
{
	void **array = array_ptr;
	size_t n;

	if (need <= *alloc)
		return;
	n = *alloc ? *alloc : 8;
	while (n < need) {
		if (n > (size_t)-1 / 2 / elem_size)
			oom((size_t)-1);
		n *= 2;
	}
	*array = kiln_xrealloc(*array, n * elem_size);
	*alloc = n;
}

char *kiln_xstrdup(const char *s)
{
	return kiln_xstrndup(s, strlen(s));
}

char *kiln_xstrndup(const char *s, size_t n)
{
	char *p = kiln_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *kiln_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom(strlen(fmt));
	va_end(ap);
	return s;
}

bool kiln_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool kiln_str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

void kiln_buf_add(struct kiln_buf *b, const void *data, size_t len)
{
	kiln_xgrow(&b->data, &b->alloc, b->len + len + 1, 1);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void kiln_buf_adds(struct kiln_buf *b, const char *s)
{
	kiln_buf_add(b, s, strlen(s));
}

void kiln_buf_addch(struct kiln_buf *b, char c)
{
	kiln_buf_add(b, &c, 1);
}

void kiln_buf_printf(struct kiln_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	kiln_xgrow(&b->data, &b->alloc, b->len + (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void kiln_buf_reset(struct kiln_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *kiln_buf_detach(struct kiln_buf *b)
{
	char *s = b->data ? b->data : kiln_xstrdup("");
	b->data = NULL;
	b->len = b->alloc = 0;
	return s;
}

void kiln_buf_release(struct kiln_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
}

void kiln_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void kiln_strv_free_terminated(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

char **kiln_strv_dup(char *const *v, size_t n)
{
	char **d = kiln_xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		d[i] = kiln_xstrdup(v[i]);
	return d;
}

char *kiln_slice_dup(struct kiln_slice s)
{
	return kiln_xstrndup(s.ptr, s.len);
}

double kiln_monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t kiln_now_seconds(void)
{
	return (int64_t)time(NULL);
}
