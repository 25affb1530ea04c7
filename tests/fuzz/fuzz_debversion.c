/* fuzz_debversion.c - libFuzzer target for Debian version syntax and order.
 *
 * The input is split at '\n' into up to three versions a, b, c.  Besides
 * not crashing, the comparison must be an order: reflexive, antisymmetric
 * and transitive, agree between the counted and the C-string entry points,
 * and kiln_debversion_satisfies must agree with it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "debversion.h"

#define PROMISE(cond)                                                                \
	do {                                                                         \
		if (!(cond))                                                         \
			abort();                                                     \
	} while (0)

struct piece {
	const char *s;
	size_t len;
};

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static int cmp(struct piece a, struct piece b)
{
	return sign(kiln_debversion_compare_n(a.s, a.len, b.s, b.len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct piece p[3] = { { "", 0 }, { "", 0 }, { "", 0 } };
	const char *s = (const char *)data, *end = s + size;
	size_t n = 0;

	while (n < 3) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		p[n].s = s;
		p[n].len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		n++;
		if (!nl)
			break;
		s = nl + 1;
	}

	for (size_t i = 0; i < 3; i++) {
		const char *why = NULL;
		bool ok = kiln_debversion_valid(p[i].s, p[i].len, &why);

		PROMISE(ok == (why == NULL));
		PROMISE(cmp(p[i], p[i]) == 0);
		for (size_t j = 0; j < 3; j++) {
			int c = cmp(p[i], p[j]);

			PROMISE(c == -cmp(p[j], p[i]));
			PROMISE(kiln_debversion_satisfies(p[i].s, p[i].len, KILN_REL_LT, p[j].s, p[j].len) == (c < 0));
			PROMISE(kiln_debversion_satisfies(p[i].s, p[i].len, KILN_REL_LE, p[j].s, p[j].len) == (c <= 0));
			PROMISE(kiln_debversion_satisfies(p[i].s, p[i].len, KILN_REL_EQ, p[j].s, p[j].len) == (c == 0));
			PROMISE(kiln_debversion_satisfies(p[i].s, p[i].len, KILN_REL_GE, p[j].s, p[j].len) == (c >= 0));
			PROMISE(kiln_debversion_satisfies(p[i].s, p[i].len, KILN_REL_GT, p[j].s, p[j].len) == (c > 0));
			PROMISE(kiln_debversion_satisfies(p[i].s, p[i].len, KILN_REL_ANY, p[j].s, p[j].len));
		}
	}
	/* Transitivity, for every ordering of the three. */
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 3; j++)
			for (size_t k = 0; k < 3; k++)
				if (cmp(p[i], p[j]) <= 0 && cmp(p[j], p[k]) <= 0)
					PROMISE(cmp(p[i], p[k]) <= 0);

	/* The C-string entry point sees the same bytes up to a NUL. */
	{
		char *a = strndup(p[0].s, p[0].len), *b = strndup(p[1].s, p[1].len);

		if (a && b)
			PROMISE(sign(kiln_debversion_compare(a, b)) == cmp(p[0], p[1]));
		free(a);
		free(b);
	}
	return 0;
}
