/* debversion.c - Debian version syntax and dpkg's ordering.
 *
 * The comparison is a transcription of dpkg's lib/dpkg/version.c
 * (verrevcmp and dpkg_version_compare) working on lengths instead of NUL
 * terminators, so that a version can be compared in place inside a
 * Packages file.  The result must agree with `dpkg --compare-versions`;
 * tests/unit/test_debversion.c checks that against the real dpkg.
 */
#include "debversion.h"

#include <string.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* A version split into its three parts (pointers into the caller's bytes). */
struct version_parts {
	const char *epoch, *upstream, *revision;
	size_t epoch_len, upstream_len, revision_len;
	bool has_epoch, has_revision; /* a ':' / a '-' was there */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Split as dpkg's parseversion() does: the epoch ends at the first ':', the
 * revision starts after the last '-' of what follows.  An absent epoch is
 * empty (compares as 0) and an absent revision is empty (compares equal to
 * "0", as in dpkg, so "1.0" and "1.0-0" are the same version). */
static void split_version(const char *s, size_t len, struct version_parts *p)
{
	const char *colon = memchr(s, ':', len);
	const char *rest = s;
	size_t rest_len = len;

	p->epoch = s;
	p->epoch_len = 0;
	p->has_epoch = colon != NULL;
	p->has_revision = false;
	if (colon) {
		p->epoch_len = (size_t)(colon - s);
		rest = colon + 1;
		rest_len = len - p->epoch_len - 1;
	}
	p->upstream = rest;
	p->upstream_len = rest_len;
	p->revision = rest + rest_len;
	p->revision_len = 0;
	for (size_t i = rest_len; i > 0; i--) {
		if (rest[i - 1] == '-') {
			p->upstream_len = i - 1;
			p->revision = rest + i;
			p->revision_len = rest_len - i;
			p->has_revision = true;
			break;
		}
	}
}

/* dpkg's order(): the weight of one character in a non-digit run.  '~'
 * sorts before everything, even the end of the string (weight 0, shared
 * with digits, which end a non-digit run); letters sort before all other
 * characters.  dpkg passes a plain `char`, which is signed on amd64, so
 * bytes >= 0x80 get 128..255 there; we fix that reading on every machine
 * so the order of (invalid) non-ASCII versions does not depend on the CPU. */
static int order(const char *s, size_t len, size_t i)
{
	int c;

	if (i >= len)
		return 0;
	c = (signed char)s[i];
	if (is_digit((char)c))
		return 0;
	if (is_alpha((char)c))
		return c;
	if (c == '~')
		return -1;
	if (c)
		return c + 256;
	return 0;
}

/* dpkg's verrevcmp() on counted strings. */
static int verrevcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, j = 0;

	while (i < alen || j < blen) {
		int first_diff = 0;

		while ((i < alen && !is_digit(a[i])) || (j < blen && !is_digit(b[j]))) {
			int ac = order(a, alen, i);
			int bc = order(b, blen, j);

			if (ac != bc)
				return ac - bc;
			if (i < alen)
				i++;
			if (j < blen)
				j++;
		}
		/* Digit runs compare numerically: skip leading zeros, then the
		 * longer run is larger, else the first differing digit decides.
		 * No conversion to an integer, so any length works. */
		while (i < alen && a[i] == '0')
			i++;
		while (j < blen && b[j] == '0')
			j++;
		while (i < alen && is_digit(a[i]) && j < blen && is_digit(b[j])) {
			if (!first_diff)
				first_diff = a[i] - b[j];
			i++;
			j++;
		}
		if (i < alen && is_digit(a[i]))
			return 1;
		if (j < blen && is_digit(b[j]))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

/* Epochs are digit strings of any length; compare them as numbers without
 * converting (dpkg caps them at INT_MAX, which kiln_debversion_valid
 * enforces; the comparison itself need not care). */
static int epoch_compare(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	while (alen > 0 && *a == '0')
		a++, alen--;
	while (blen > 0 && *b == '0')
		b++, blen--;
	if (alen != blen)
		return alen < blen ? -1 : 1;
	if (alen == 0)
		return 0;
	c = memcmp(a, b, alen);
	return c;
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

int kiln_debversion_compare_n(const char *a, size_t alen, const char *b, size_t blen)
{
	struct version_parts pa, pb;
	int rc;

	/* dpkg's strings end at a NUL byte; so do ours. */
	alen = strnlen(a, alen);
	blen = strnlen(b, blen);
	split_version(a, alen, &pa);
	split_version(b, blen, &pb);
	rc = epoch_compare(pa.epoch, pa.epoch_len, pb.epoch, pb.epoch_len);
	if (rc)
		return sign(rc);
	rc = verrevcmp(pa.upstream, pa.upstream_len, pb.upstream, pb.upstream_len);
	if (rc)
		return sign(rc);
	return sign(verrevcmp(pa.revision, pa.revision_len, pb.revision, pb.revision_len));
}

int kiln_debversion_compare(const char *a, const char *b)
{
	return kiln_debversion_compare_n(a, strlen(a), b, strlen(b));
}

bool kiln_debversion_valid(const char *s, size_t len, const char **why)
{
	struct version_parts p;
	const char *dummy;

	if (!why)
		why = &dummy;
	if (len == 0) {
		*why = "version is empty";
		return false;
	}
	if (len > KILN_DEBVERSION_MAX_LEN) {
		*why = "version is longer than " STRINGIFY(KILN_DEBVERSION_MAX_LEN) " characters";
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0') {
			*why = "version contains a NUL byte";
			return false;
		}
		/* dpkg trims surrounding blanks; a pin must be written exactly. */
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
			*why = "version contains whitespace";
			return false;
		}
	}
	split_version(s, len, &p);
	if (p.has_epoch) {
		const char *e = p.epoch;
		size_t n = p.epoch_len;

		if (n == 0) {
			*why = "epoch before ':' is empty";
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			if (!is_digit(e[i])) {
				*why = "epoch before ':' is not a number";
				return false;
			}
		}
		/* dpkg stores the epoch in an int. */
		while (n > 1 && *e == '0')
			e++, n--;
		if (n > 10 || (n == 10 && memcmp(e, "2147483647", 10) > 0)) {
			*why = "epoch is larger than 2147483647";
			return false;
		}
		if (p.epoch_len + 1 == len) {
			*why = "nothing after the epoch's ':'";
			return false;
		}
	}
	if (p.has_revision && p.revision_len == 0) {
		*why = "revision after the last '-' is empty";
		return false;
	}
	if (p.upstream_len == 0) {
		*why = "upstream version is empty";
		return false;
	}
	if (!is_digit(p.upstream[0])) {
		*why = "upstream version must start with a digit";
		return false;
	}
	for (size_t i = 0; i < p.upstream_len; i++) {
		char c = p.upstream[i];

		if (!is_digit(c) && !is_alpha(c) && !strchr(".+~-:", c)) {
			*why = "upstream version may contain only letters, digits and . + ~ - :";
			return false;
		}
	}
	for (size_t i = 0; i < p.revision_len; i++) {
		char c = p.revision[i];

		if (!is_digit(c) && !is_alpha(c) && !strchr(".+~", c)) {
			*why = "revision may contain only letters, digits and . + ~";
			return false;
		}
	}
	*why = NULL;
	return true;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

bool kiln_debversion_package_name_valid(const char *name, size_t len)
{
	if (len < 2 || !is_lower_alnum(name[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_lower_alnum(name[i]) && name[i] != '+' && name[i] != '.' && name[i] != '-')
			return false;
	return true;
}

bool kiln_debversion_satisfies(const char *v, size_t vlen, enum kiln_relation rel,
			       const char *want, size_t wantlen)
{
	int c;

	if (rel == KILN_REL_ANY)
		return true;
	c = kiln_debversion_compare_n(v, vlen, want, wantlen);
	switch (rel) {
	case KILN_REL_LT:
		return c < 0;
	case KILN_REL_LE:
		return c <= 0;
	case KILN_REL_EQ:
		return c == 0;
	case KILN_REL_GE:
		return c >= 0;
	case KILN_REL_GT:
		return c > 0;
	case KILN_REL_ANY:
		break;
	}
	return true;
}

const char *kiln_debversion_relation_str(enum kiln_relation rel)
{
	switch (rel) {
	case KILN_REL_LT:
		return "<<";
	case KILN_REL_LE:
		return "<=";
	case KILN_REL_EQ:
		return "=";
	case KILN_REL_GE:
		return ">=";
	case KILN_REL_GT:
		return ">>";
	case KILN_REL_ANY:
		break;
	}
	return "";
}
