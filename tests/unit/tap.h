/* tap.h - the unit-test harness: plain assertions printing TAP lines.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_STR(a, "b"); }
 *   int main(void) { RUN(name); return tap_done(); }
 *
 * Each test prints "ok N - name" or "not ok N - name" with the failed
 * checks as "# file:line: expr" comments; tap_done() exits non-zero when any
 * test failed.
 */
#ifndef KILN_TAP_H
#define KILN_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed, tap_current_failed;

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                                    \
	do {                                                                         \
		tap_current_failed = 0;                                              \
		test_##name();                                                       \
		tap_count++;                                                         \
		if (tap_current_failed)                                              \
			tap_failed++;                                                \
		printf("%sok %d - %s\n", tap_current_failed ? "not " : "", tap_count, \
		       #name);                                                       \
		fflush(stdout);                                                      \
	} while (0)

#define CHECK(expr)                                                                  \
	do {                                                                         \
		if (!(expr)) {                                                       \
			printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
			tap_current_failed = 1;                                      \
		}                                                                    \
	} while (0)

#define CHECK_STR(got, want)                                                         \
	do {                                                                         \
		const char *g_ = (got), *w_ = (want);                                \
		if (!g_ || !w_ || strcmp(g_, w_) != 0) {                             \
			printf("# %s:%d: %s: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
			       #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");         \
			tap_current_failed = 1;                                      \
		}                                                                    \
	} while (0)

/* The message contains the substring. */
#define CHECK_CONTAINS(got, sub)                                                     \
	do {                                                                         \
		const char *g_ = (got), *s_ = (sub);                                 \
		if (!g_ || !strstr(g_, s_)) {                                        \
			printf("# %s:%d: %s: \"%s\" does not contain \"%s\"\n", __FILE__, \
			       __LINE__, #got, g_ ? g_ : "(null)", s_);               \
			tap_current_failed = 1;                                      \
		}                                                                    \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
