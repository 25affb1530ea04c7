#include "deb822.h"

#include <string.h>
#include <strings.h>

void kiln_deb822_init(struct kiln_deb822 *s, const char *origin, const char *data, size_t len)
{
	s->pos = data;
	s->end = len ? data + len : data; /* data may be NULL when len is 0 */
	s->line = 1;
	s->origin = origin;
	s->allow_comments = false;
	s->in_paragraph = false;
}

static const char *line_end(const struct kiln_deb822 *s, const char *p)
{
	const char *nl = memchr(p, '\n', (size_t)(s->end - p));
	return nl ? nl : s->end;
}

static bool is_blank_line(const char *p, const char *e)
{
	for (; p < e; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return false;
	return true;
}

static void advance_line(struct kiln_deb822 *s, const char *e)
{
	s->pos = e < s->end ? e + 1 : s->end;
	s->line++;
}

int kiln_deb822_next(struct kiln_deb822 *s, struct kiln_slice *name, struct kiln_slice *value,
		     unsigned *line, bool *eof, struct kiln_error *err)
{
	const char *e, *colon, *v, *vend;

	*eof = false;
	for (;;) {
		if (s->pos >= s->end) {
			*eof = true;
			s->in_paragraph = false;
			return 0;
		}
		e = line_end(s, s->pos);
		if (s->allow_comments && *s->pos == '#') {
			advance_line(s, e);
			continue;
		}
		if (is_blank_line(s->pos, e)) {
			advance_line(s, e);
			/* A blank line ends a paragraph; runs of them are one separator. */
			if (s->in_paragraph) {
				s->in_paragraph = false;
				return 0;
			}
			continue;
		}
		break;
	}
	if (*s->pos == ' ' || *s->pos == '\t')
		return kiln_error_set(err, "%s:%u: continuation line without a field", s->origin,
				      s->line);
	colon = memchr(s->pos, ':', (size_t)(e - s->pos));
	if (!colon || colon == s->pos)
		return kiln_error_set(err, "%s:%u: expected \"Field: value\"", s->origin, s->line);
	for (const char *c = s->pos; c < colon; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 127)
			return kiln_error_set(err, "%s:%u: bad character in field name", s->origin,
					      s->line);
	name->ptr = s->pos;
	name->len = (size_t)(colon - s->pos);
	*line = s->line;
	v = colon + 1;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	vend = e;
	advance_line(s, e);
	/* Continuation lines belong to this field; a line of only blanks is a
	 * paragraph separator (as at the top of the loop), not a continuation. */
	while (s->pos < s->end && (*s->pos == ' ' || *s->pos == '\t')) {
		const char *ce = line_end(s, s->pos);
		if (is_blank_line(s->pos, ce))
			break;
		vend = ce;
		advance_line(s, ce);
	}
	while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r' ||
			    vend[-1] == '\n'))
		vend--;
	value->ptr = v;
	value->len = (size_t)(vend - v);
	s->in_paragraph = true;
	return 1;
}

bool kiln_slice_eq(struct kiln_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

bool kiln_slice_eq_nocase(struct kiln_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

bool kiln_slice_to_u64(struct kiln_slice s, unsigned long long *out)
{
	unsigned long long v = 0;

	if (s.len == 0 || s.len > 20)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d;
		if (s.ptr[i] < '0' || s.ptr[i] > '9')
			return false;
		d = (unsigned)(s.ptr[i] - '0');
		if (v > (~0ULL - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool kiln_slice_next_word(struct kiln_slice *rest, struct kiln_slice *word)
{
	const char *p, *e;

	if (rest->len == 0)
		return false; /* also an absent (NULL) slice */
	p = rest->ptr;
	e = rest->ptr + rest->len;
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p == e) {
		rest->ptr = e;
		rest->len = 0;
		return false;
	}
	word->ptr = p;
	while (p < e && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	word->len = (size_t)(p - word->ptr);
	rest->ptr = p;
	rest->len = (size_t)(e - p);
	return true;
}
