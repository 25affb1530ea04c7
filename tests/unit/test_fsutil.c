/* Unit tests for lib/base/fsutil.c: the cache directory comes from its
 * arguments, never the environment (docs/architecture.md, Environment). */
#include "fsutil.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>

#define CACHE_IS(want, a, b, c)                                   \
	do {                                                      \
		char *got_ = kiln_cache_dir(a, b, c);             \
		CHECK_STR(got_, want);                            \
		free(got_);                                       \
	} while (0)

TEST(cache_dir_order)
{
	CACHE_IS("/k", "/k", "/x", "/h");
	CACHE_IS("/x/kiln", "", "/x", "/h");
	CACHE_IS("/x/kiln", NULL, "/x", "/h");
	/* A relative XDG_CACHE_HOME is ignored, as the spec says. */
	CACHE_IS("/h/.cache/kiln", NULL, "rel", "/h");
	CACHE_IS("/h/.cache/kiln", NULL, "", "/h");
	CACHE_IS("/var/cache/kiln", NULL, NULL, NULL);
	CACHE_IS("/var/cache/kiln", "", "", "");
}

TEST(cache_dir_reads_no_environment)
{
	setenv("KILN_CACHE", "/from/env", 1);
	setenv("XDG_CACHE_HOME", "/xdg/env", 1);
	setenv("HOME", "/home/env", 1);
	CACHE_IS("/var/cache/kiln", NULL, NULL, NULL);
	CACHE_IS("/h/.cache/kiln", NULL, NULL, "/h");
	unsetenv("KILN_CACHE");
	unsetenv("XDG_CACHE_HOME");
}

int main(void)
{
	RUN(cache_dir_order);
	RUN(cache_dir_reads_no_environment);
	return tap_done();
}
