/* test_mirror.c - finding a mirror: the manifest's url, $KILN_MIRROR_<NAME>,
 * $KILN_MIRROR, then apt's sources (one-line .list and deb822 .sources)
 * under a temporary etc dir. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror.h"
#include "tap.h"
#include "util.h"

static char etc[] = "/tmp/kiln-test-mirror.XXXXXX";

static void put(const char *rel, const char *text)
{
	char *path = kiln_xasprintf("%s/%s", etc, rel);
	FILE *f = fopen(path, "w");
	if (!f) {
		printf("# cannot write %s\n", path);
		free(path);
		return;
	}
	fputs(text, f);
	fclose(f);
	free(path);
}

/* Empty the etc dir: sources.list and everything in sources.list.d. */
static void reset(void)
{
	char *cmd = kiln_xasprintf("rm -rf '%s'/* && mkdir '%s/sources.list.d'", etc, etc);
	if (system(cmd) != 0)
		printf("# reset failed\n");
	free(cmd);
}

/* What the apt sources give for suite ("(null)" for nothing). */
static char *from_apt(const char *suite)
{
	char *u = kiln_mirror_from_apt_sources(etc, suite);
	return u ? u : kiln_xstrdup("(null)");
}

#define CHECK_APT(suite, want)                   \
	do {                                     \
		char *u_ = from_apt(suite);      \
		CHECK_STR(u_, want);             \
		free(u_);                        \
	} while (0)

TEST(nothing_there)
{
	reset();
	CHECK_APT("bookworm", "(null)");
	/* A missing etc dir is no mirror, not an error. */
	char *u = kiln_mirror_from_apt_sources("/nonexistent/kiln/etc", "bookworm");
	CHECK(u == NULL);
	/* Empty files. */
	put("sources.list", "");
	put("sources.list.d/empty.list", "");
	put("sources.list.d/empty.sources", "");
	CHECK_APT("bookworm", "(null)");
}

TEST(one_line_format)
{
	reset();
	put("sources.list",
	    "# deb http://commented.example/debian bookworm main\n"
	    "deb-src http://src.example/debian bookworm main\n"
	    "deb cdrom:[Debian 12]/ bookworm main\n"
	    "deb ftp://ftp.example/debian bookworm main\n"
	    "deb http://deb.debian.org/debian/ bookworm main contrib # trailing comment\n"
	    "deb http://security.debian.org/debian-security bookworm-security main\n"
	    "deb\thttp://tabs.example/debian\tbookworm-updates\tmain\n");
	CHECK_APT("bookworm", "http://deb.debian.org/debian");
	CHECK_APT("bookworm-security", "http://security.debian.org/debian-security");
	CHECK_APT("bookworm-updates", "http://tabs.example/debian");
	CHECK_APT("trixie", "(null)");
	/* Suites match exactly, not by prefix. */
	CHECK_APT("book", "(null)");
	CHECK_APT("bookworm-securit", "(null)");
}

TEST(one_line_options)
{
	reset();
	put("sources.list",
	    "deb [arch=amd64 signed-by=/usr/share/keyrings/a.gpg] https://a.example/debian/// a main\n"
	    "deb [ trusted=yes ] http://b.example b main\n"
	    "deb [arch=amd64,i386] http://c.example/x c main\n"
	    "deb [unterminated http://d.example d main\n"
	    "deb [] http://e.example e\n"
	    "deb [trusted=yes] file:/srv/repo ./\n"
	    "deb http:///no-host f main\n"
	    "deb https:// g main\n"
	    "deb http://h.example\n"
	    "deb\n"
	    "\n"
	    "   deb http://indented.example i main\r\n");
	CHECK_APT("a", "https://a.example/debian");
	CHECK_APT("b", "http://b.example");
	CHECK_APT("c", "http://c.example/x");
	CHECK_APT("d", "(null)");
	CHECK_APT("e", "http://e.example");
	CHECK_APT("./", "file:/srv/repo");
	CHECK_APT("f", "(null)");
	CHECK_APT("g", "(null)");
	CHECK_APT("i", "http://indented.example");
}

TEST(list_directory_order)
{
	reset();
	/* sources.list first, then sources.list.d in name order. */
	put("sources.list.d/b.list", "deb http://b.example s main\n");
	put("sources.list.d/a.list", "deb http://a.example s main\ndeb http://a.example t main\n");
	put("sources.list.d/c.sources", "Types: deb\nURIs: http://c.example\nSuites: s t u\n");
	put("sources.list.d/ignored.txt", "deb http://txt.example v main\n");
	put("sources.list.d/ignored.list.save", "deb http://save.example v main\n");
	CHECK_APT("s", "http://a.example");
	CHECK_APT("u", "http://c.example");
	CHECK_APT("v", "(null)");
	put("sources.list", "deb http://main.example s main\n");
	CHECK_APT("s", "http://main.example");
	CHECK_APT("t", "http://a.example");
	/* A directory named like a list is skipped. */
	char *d = kiln_xasprintf("%s/sources.list.d/0dir.list", etc);
	CHECK(mkdir(d, 0755) == 0);
	CHECK_APT("t", "http://a.example");
	free(d);
}

TEST(deb822_format)
{
	reset();
	put("sources.list.d/debian.sources",
	    "# Modernized from /etc/apt/sources.list\n"
	    "Types: deb deb-src\n"
	    "URIs: mirror+file:///etc/apt/mirrors.txt http://deb.debian.org/debian/\n"
	    "Suites: bookworm bookworm-updates\n"
	    "Components: main\n"
	    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
	    "\n"
	    "Types: deb-src\n"
	    "URIs: http://src-only.example\n"
	    "Suites: trixie\n"
	    "\n"
	    "types: deb\n"
	    "uris: http://disabled.example\n"
	    "suites: sid\n"
	    "enabled: no\n"
	    "\n"
	    "Types: deb\n"
	    "URIs:\n"
	    " https://folded.example/debian\n"
	    "Suites:\n"
	    " sid\n"
	    " experimental\n"
	    "Signed-By:\n"
	    " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
	    " .\n"
	    " mQINBGQ...\n"
	    " -----END PGP PUBLIC KEY BLOCK-----\n");
	CHECK_APT("bookworm", "http://deb.debian.org/debian");
	CHECK_APT("bookworm-updates", "http://deb.debian.org/debian");
	CHECK_APT("trixie", "(null)");
	CHECK_APT("sid", "https://folded.example/debian");
	CHECK_APT("experimental", "https://folded.example/debian");
	CHECK_APT("Components:", "(null)");
}

TEST(deb822_enabled_spellings)
{
	static const char *const off[] = { "no", "No", "false", "off", "0", "disable", "without" };
	for (size_t i = 0; i < KILN_ARRAY_SIZE(off); i++) {
		char *text = kiln_xasprintf("Types: deb\nURIs: http://x.example\nSuites: s\nEnabled: %s\n", off[i]);
		reset();
		put("sources.list.d/x.sources", text);
		char *u = from_apt("s");
		if (strcmp(u, "(null)") != 0)
			printf("# Enabled: %s\n", off[i]);
		CHECK_STR(u, "(null)");
		free(u);
		free(text);
	}
	reset();
	put("sources.list.d/x.sources", "Types: deb\nURIs: http://x.example\nSuites: s\nEnabled: yes\n");
	CHECK_APT("s", "http://x.example");
}

TEST(deb822_edges)
{
	reset();
	/* CRLF, a paragraph missing Types or Suites, a disabled one first. */
	put("sources.list.d/a.sources",
	    "URIs: http://no-types.example\r\nSuites: s\r\n\r\n"
	    "Types: deb\r\nURIs: http://no-suites.example\r\n\r\n"
	    "Types: deb\r\nSuites: s\r\n\r\n"
	    "Types: deb\r\nURIs: http://crlf.example/\r\nSuites: s\r\n");
	CHECK_APT("s", "http://crlf.example");
	/* A malformed file is skipped; the next file still counts. */
	put("sources.list.d/0bad.sources", "Types deb\nURIs: http://bad.example\nSuites: s\n");
	put("sources.list.d/1bad.sources", " leading continuation\n");
	CHECK_APT("s", "http://crlf.example");
	/* Only whitespace between paragraphs. */
	reset();
	put("sources.list.d/w.sources", "Types: deb\nURIs: http://one.example\nSuites: one\n \t\n"
					"Types: deb\nURIs: http://two.example\nSuites: two\n");
	CHECK_APT("one", "http://one.example");
	CHECK_APT("two", "http://two.example");
	/* A huge file is not read (1 MiB bound), not an error. */
	reset();
	struct kiln_buf b = KILN_BUF_INIT;
	for (int i = 0; i < 40000; i++)
		kiln_buf_adds(&b, "# padding padding padding padding\n");
	kiln_buf_adds(&b, "deb http://late.example late main\n");
	put("sources.list", b.data);
	CHECK_APT("late", "(null)");
	kiln_buf_release(&b);
	/* A NUL byte ends what is read of a one-line file. */
	reset();
	char *path = kiln_xasprintf("%s/sources.list", etc);
	FILE *f = fopen(path, "w");
	static const char nul[] = "deb http://a.example a main\n\0deb http://b.example b main\n";
	fwrite(nul, 1, sizeof(nul) - 1, f);
	fclose(f);
	free(path);
	CHECK_APT("a", "http://a.example");
	CHECK_APT("b", "(null)");
}

TEST(for_source_order)
{
	/* The settings come as arguments; the environment, set here to
	 * other values, is not read (cmd/kiln/env.c reads it). */
	const char *named[] = { "KILN_MIRROR_OTHER=http://other.example", NULL, NULL };
	struct kiln_mirror_settings set = { .named = named, .fallback = "http://env.example/",
					    .apt_etc = etc };
	const char *how = NULL;
	struct kiln_error err = { 0 };
	char *u;

	reset();
	put("sources.list", "deb http://apt.example/debian bookworm main\n");
	setenv("KILN_MIRROR", "http://wrong.example", 1);
	setenv("KILN_MIRROR_DEBIAN", "http://wrong.example", 1);
	setenv("KILN_APT_ETC", "/nonexistent/kiln/etc", 1);

	/* The manifest's url wins over everything (trailing '/' dropped). */
	u = kiln_mirror_for_source(&set, "debian", "bookworm", "https://url.example/debian/", &how, &err);
	CHECK_STR(u, "https://url.example/debian");
	CHECK_STR(how, "url: in the manifest");
	free(u);

	/* KILN_MIRROR_<NAME>: upper case, other characters as '_'. */
	named[1] = "KILN_MIRROR_DEBIAN_SECURITY=http://named.example//";
	u = kiln_mirror_for_source(&set, "debian-security", "bookworm", NULL, &how, &err);
	CHECK_STR(u, "http://named.example");
	CHECK_STR(how, "$KILN_MIRROR_<NAME>");
	free(u);
	u = kiln_mirror_for_source(&set, "debian.security", "bookworm", NULL, NULL, &err);
	CHECK_STR(u, "http://named.example");
	free(u);
	/* A prefix of another name is not that name. */
	u = kiln_mirror_for_source(&set, "debian-sec", "bookworm", NULL, &how, &err);
	CHECK_STR(u, "http://env.example");
	free(u);
	/* An empty value does not count. */
	named[1] = "KILN_MIRROR_DEBIAN_SECURITY=";
	u = kiln_mirror_for_source(&set, "debian-security", "bookworm", NULL, &how, &err);
	CHECK_STR(u, "http://env.example");
	CHECK_STR(how, "$KILN_MIRROR");
	free(u);
	named[1] = NULL;

	/* Then apt's sources. */
	set.fallback = NULL;
	u = kiln_mirror_for_source(&set, "debian", "bookworm", NULL, &how, &err);
	CHECK_STR(u, "http://apt.example/debian");
	CHECK_STR(how, "apt's sources");
	free(u);

	/* Nothing: the message says every way to give one. */
	u = kiln_mirror_for_source(&set, "my-src", "trixie", NULL, &how, &err);
	CHECK(u == NULL);
	CHECK_CONTAINS(err.message, "source my-src: no mirror for suite \"trixie\"");
	CHECK_CONTAINS(err.message, "KILN_MIRROR_MY_SRC");
	CHECK_CONTAINS(err.message, etc);

	/* No settings: /etc/apt alone, whatever the environment says. */
	kiln_error_clear(&err);
	u = kiln_mirror_for_source(NULL, "my-src", "no-such-suite-kiln", NULL, &how, &err);
	CHECK(u == NULL);
	CHECK_CONTAINS(err.message, "/etc/apt");
	free(u);
	unsetenv("KILN_MIRROR");
	unsetenv("KILN_MIRROR_DEBIAN");
	unsetenv("KILN_APT_ETC");
}

int main(void)
{
	if (!mkdtemp(etc)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(nothing_there);
	RUN(one_line_format);
	RUN(one_line_options);
	RUN(list_directory_order);
	RUN(deb822_format);
	RUN(deb822_enabled_spellings);
	RUN(deb822_edges);
	RUN(for_source_order);
	char *cmd = kiln_xasprintf("rm -rf '%s'", etc);
	if (system(cmd) != 0)
		printf("# cleanup of %s failed\n", etc);
	free(cmd);
	return tap_done();
}
