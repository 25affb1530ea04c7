/* test_release.c - Release files: fields, the SHA256 list, dates, and the
 * hostile shapes (unsafe paths, bad hashes, duplicate fields, extra
 * paragraphs). */
#include <stdlib.h>
#include <string.h>

#include "release.h"
#include "tap.h"
#include "util.h"

#define H1 "0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d"
#define H2 "91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa"

static const char debian[] =
	"Origin: Debian\n"
	"Label: Debian\n"
	"Suite: stable\n"
	"Version: 12.6\n"
	"Codename: bookworm\n"
	"Changelogs: https://metadata.ftp-master.debian.org/changelogs/@CHANGEPATH@_changelog\n"
	"Date: Sat, 29 Jun 2024 09:59:14 UTC\n"
	"Valid-Until: Sat, 06 Jul 2024 09:59:14 UTC\n"
	"Acquire-By-Hash: yes\n"
	"No-Support-for-Architecture-all: Packages\n"
	"Architectures: all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x\n"
	"Components: main contrib non-free-firmware non-free\n"
	"Description: Debian 12.6 Released 29 June 2024\n"
	"MD5Sum:\n"
	" 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all\n"
	"SHA256:\n"
	" " H1 "  1484322 contrib/Contents-all\n"
	" " H2 "    98581 main/binary-amd64/Packages.xz\n"
	" " H1 " 0 main/binary-amd64/Release\n";

static struct kiln_release *parse(const char *text, struct kiln_error *err)
{
	kiln_error_clear(err);
	return kiln_release_parse("R", text, strlen(text), err);
}

/* Parse text that must fail; the message must contain want. */
#define CHECK_FAILS(text, want)                                     \
	do {                                                        \
		struct kiln_error e_ = { 0 };                       \
		struct kiln_release *r_ = parse(text, &e_);         \
		CHECK(r_ == NULL);                                  \
		CHECK_CONTAINS(e_.message, want);                   \
		kiln_release_free(r_);                              \
	} while (0)

TEST(debian_release)
{
	struct kiln_error err = { 0 };
	struct kiln_release *r = parse(debian, &err);

	CHECK(r != NULL);
	if (!r) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK_STR(r->suite, "stable");
	CHECK_STR(r->codename, "bookworm");
	CHECK(r->date == 1719655154);
	CHECK(r->valid_until == 1719655154 + 7 * 86400);
	CHECK(r->acquire_by_hash);
	CHECK(r->arch_all_in_arch_indexes);
	CHECK(r->n_architectures == 10);
	CHECK_STR(r->architectures[0], "all");
	CHECK_STR(r->architectures[9], "s390x");
	CHECK(r->n_components == 4);
	CHECK_STR(r->components[3], "non-free");
	CHECK(r->n_files == 3);
	CHECK(kiln_release_has_architecture(r, "amd64"));
	CHECK(!kiln_release_has_architecture(r, "amd6"));
	CHECK(!kiln_release_has_architecture(r, "riscv64"));

	const struct kiln_release_file *f = kiln_release_find(r, "main/binary-amd64/Packages.xz");
	CHECK(f != NULL);
	if (f) {
		CHECK(f->size == 98581);
		CHECK_STR(f->sha256, H2);
	}
	f = kiln_release_find(r, "main/binary-amd64/Release");
	CHECK(f && f->size == 0);
	CHECK(kiln_release_find(r, "main/binary-amd64/Packages") == NULL);
	CHECK(kiln_release_find(r, "main/binary-amd64/Packages.x") == NULL);
	CHECK(kiln_release_find(r, "") == NULL);
	kiln_release_free(r);
}

TEST(minimal)
{
	struct kiln_error err = { 0 };
	struct kiln_release *r = parse("SHA256:\n", &err);

	/* Only SHA256 is required; it may be empty. */
	CHECK(r != NULL);
	if (r) {
		CHECK(r->suite == NULL && r->codename == NULL);
		CHECK(r->date == 0 && r->valid_until == 0);
		CHECK(!r->acquire_by_hash && !r->arch_all_in_arch_indexes);
		CHECK(r->n_files == 0 && r->n_architectures == 0 && r->n_components == 0);
		CHECK(kiln_release_find(r, "x") == NULL);
		CHECK(!kiln_release_has_architecture(r, "amd64"));
	}
	kiln_release_free(r);

	/* Entries may start on the field's own line. */
	r = parse("SHA256: " H1 " 5 main/a\n " H2 " 6 main/b\n", &err);
	CHECK(r && r->n_files == 2);
	if (r)
		CHECK(kiln_release_find(r, "main/b")->size == 6);
	kiln_release_free(r);
	kiln_release_free(NULL);
}

TEST(empty_and_missing_sha256)
{
	CHECK_FAILS("", "R: no SHA256 field");
	CHECK_FAILS("\n\n", "R: no SHA256 field");
	CHECK_FAILS("Suite: stable\nMD5Sum:\n 0ed6d4c8891eb86358b94bb35d9e4da4 1 main/x\n",
		    "no SHA256 field (kiln does not trust MD5 or SHA1 alone)");
}

TEST(field_options)
{
	struct kiln_error err = { 0 };
	struct kiln_release *r;

	/* Field names are case-insensitive; values are compared as given. */
	r = parse("suite: s\nACQUIRE-BY-HASH: Yes\nNo-Support-For-Architecture-All: packages\n"
		  "sha256:\n", &err);
	CHECK(r && r->acquire_by_hash && !r->arch_all_in_arch_indexes);
	if (r)
		CHECK_STR(r->suite, "s");
	kiln_release_free(r);

	r = parse("Acquire-By-Hash: no\nSHA256:\n", &err);
	CHECK(r && !r->acquire_by_hash);
	kiln_release_free(r);
}

TEST(crlf)
{
	struct kiln_error err = { 0 };
	struct kiln_release *r = parse("Suite: stable\r\nDate: Sat, 29 Jun 2024 09:59:14 UTC\r\n"
				       "Architectures: amd64 all\r\n"
				       "SHA256:\r\n " H1 " 12 main/a\r\n " H2 " 7 main/b\r\n", &err);
	CHECK(r != NULL);
	if (!r) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK_STR(r->suite, "stable");
	CHECK(r->date == 1719655154);
	CHECK(r->n_architectures == 2 && kiln_release_has_architecture(r, "all"));
	CHECK(r->n_files == 2);
	CHECK(kiln_release_find(r, "main/a") && kiln_release_find(r, "main/a")->size == 12);
	CHECK(kiln_release_find(r, "main/b") && kiln_release_find(r, "main/b")->size == 7);
	kiln_release_free(r);
}

TEST(bad_entries)
{
	/* Errors name the entry's own line. */
	CHECK_FAILS("Suite: s\nSHA256:\n " H1 " 1 main/a\n " H1 " 2\n", "R:4: SHA256 entry: expected");
	CHECK_FAILS("SHA256:\n " H1 " 1 main/a extra\n", "R:2: SHA256 entry: expected");
	CHECK_FAILS("SHA256:\n " H1 "\n", "expected \"HASH SIZE PATH\"");
	/* Bad hashes: short, long, upper case, not hex, an MD5. */
	CHECK_FAILS("SHA256:\n 0f2d 1 main/a\n", "R:2: SHA256 entry: \"0f2d\" is not a sha256");
	CHECK_FAILS("SHA256:\n " H1 "0 1 main/a\n", "is not a sha256");
	CHECK_FAILS("SHA256:\n 0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D 1 main/a\n",
		    "is not a sha256");
	CHECK_FAILS("SHA256:\n 0g2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d 1 main/a\n",
		    "is not a sha256");
	CHECK_FAILS("SHA256:\n 0ed6d4c8891eb86358b94bb35d9e4da4 1 main/a\n", "is not a sha256");
	/* Bad sizes. */
	CHECK_FAILS("SHA256:\n " H1 " -1 main/a\n", "R:2: SHA256 entry: bad size");
	CHECK_FAILS("SHA256:\n " H1 " 1k main/a\n", "bad size");
	CHECK_FAILS("SHA256:\n " H1 " 18446744073709551616 main/a\n", "bad size");
}

TEST(unsafe_paths)
{
	CHECK_FAILS("SHA256:\n " H1 " 1 ../main/a\n", "R:2: SHA256 entry: unsafe path \"../main/a\"");
	CHECK_FAILS("SHA256:\n " H1 " 1 main/../../etc/passwd\n", "unsafe path");
	CHECK_FAILS("SHA256:\n " H1 " 1 main/..\n", "unsafe path");
	CHECK_FAILS("SHA256:\n " H1 " 1 ..\n", "unsafe path");
	CHECK_FAILS("SHA256:\n " H1 " 1 /etc/passwd\n", "unsafe path");
	CHECK_FAILS("SHA256:\n " H1 " 1 main/%2e%2e/x\n", "unsafe path");
	CHECK_FAILS("SHA256:\n " H1 " 1 main/a?x=1\n", "unsafe path");
	CHECK_FAILS("SHA256:\n " H1 " 1 main/a#frag\n", "unsafe path");
	CHECK_FAILS("SHA256:\n " H1 " 1 main\\..\\x\n", "unsafe path");
	CHECK_FAILS("SHA256:\n " H1 " 1 main/\xc3\xa4\n", "unsafe path");
	/* Names that merely contain dots are fine. */
	struct kiln_error err = { 0 };
	struct kiln_release *r = parse("SHA256:\n " H1 " 1 main/..a/b..\n " H1 " 2 ./x...\n", &err);
	CHECK(r && r->n_files == 2);
	kiln_release_free(r);
	/* A path of 1025 bytes is too long. */
	struct kiln_buf b = KILN_BUF_INIT;
	kiln_buf_adds(&b, "SHA256:\n " H1 " 1 ");
	for (int i = 0; i < 1025; i++)
		kiln_buf_addch(&b, 'a');
	kiln_buf_addch(&b, '\n');
	CHECK_FAILS(b.data, "unsafe path");
	kiln_buf_release(&b);
}

TEST(duplicate_fields)
{
	CHECK_FAILS("SHA256:\n " H1 " 1 main/a\nSHA256:\n " H2 " 1 main/a\n",
		    "R:3: SHA256 field given twice");
	CHECK_FAILS("SHA256:\nsha256:\n", "R:2: SHA256 field given twice");
	CHECK_FAILS("Suite: a\nSuite: b\nSHA256:\n", "R:2: Suite field given twice");
	CHECK_FAILS("Architectures: amd64\nSHA256:\narchitectures: i386\n",
		    "R:3: Architectures field given twice");
	CHECK_FAILS("Date: Sat, 29 Jun 2024 09:59:14 UTC\nDate: Sat, 29 Jun 2024 09:59:14 UTC\nSHA256:\n",
		    "Date field given twice");
	/* Fields kiln does not read may repeat. */
	struct kiln_error err = { 0 };
	struct kiln_release *r = parse("X-Foo: 1\nX-Foo: 2\nSHA256:\n", &err);
	CHECK(r != NULL);
	kiln_release_free(r);
}

TEST(paragraphs)
{
	struct kiln_error err = { 0 };
	struct kiln_release *r;

	/* Blank lines before and after the paragraph are fine. */
	r = parse("\n\nSuite: s\nSHA256:\n\n\n \n", &err);
	CHECK(r != NULL);
	kiln_release_free(r);
	/* A second paragraph is refused: it could carry a second SHA256 list. */
	CHECK_FAILS("SHA256:\n\nSHA256:\n " H1 " 1 main/a\n", "R: more than one paragraph");
	CHECK_FAILS("Suite: s\n\nSuite: t\nSHA256:\n", "more than one paragraph");
	/* Malformed text names its line. */
	CHECK_FAILS("Suite: s\ngarbage\nSHA256:\n", "R:2: expected \"Field: value\"");
	CHECK_FAILS(" leading: continuation\n", "R:1: continuation line without a field");
}

TEST(dates)
{
	const char *d = "Sat, 29 Jun 2024 09:59:14 UTC";
	CHECK(kiln_release_parse_date(d, strlen(d)) == 1719655154);
	CHECK(kiln_release_parse_date("Thu, 01 Jan 1970 00:00:00 UTC", 29) == 0);
	CHECK(kiln_release_parse_date("Thu, 01 Jan 1970 00:00:01 GMT", 29) == 1);
	CHECK(kiln_release_parse_date("Thu, 01 Jan 1970 00:00:01 +0000", 31) == 1);
	CHECK(kiln_release_parse_date("Thu, 01 Jan 1970 00:00:01", 25) == 1);
	/* The length bounds the text: a longer buffer is cut where told. */
	CHECK(kiln_release_parse_date("Thu, 01 Jan 1970 00:00:01 UTCxxx", 29) == 1);
	CHECK(kiln_release_parse_date("", 0) == (time_t)-1);
	CHECK(kiln_release_parse_date("yesterday", 9) == (time_t)-1);
	CHECK(kiln_release_parse_date("2024-06-29T09:59:14Z", 20) == (time_t)-1);
	CHECK(kiln_release_parse_date("Sat, 29 Jun 2024 09:59:14 CEST", 30) == (time_t)-1);
	CHECK(kiln_release_parse_date("Sat, 29 Jun 2024 09:59:14 +0200", 31) == (time_t)-1);
	CHECK(kiln_release_parse_date("Sat, 29 Foo 2024 09:59:14 UTC", 29) == (time_t)-1);
	CHECK(kiln_release_parse_date("Sat, 29 Jun 2024 25:59:14 UTC", 29) == (time_t)-1);
	CHECK(kiln_release_parse_date("Sat, 29 Jun 2024 09:59:14 UTC trailing", 38) == (time_t)-1);
	/* A NUL inside must not hide what follows it. */
	CHECK(kiln_release_parse_date("Thu, 01 Jan 1970 00:00:01\0junk", 30) == (time_t)-1);
	/* Huge input is refused without copying it anywhere fixed-size. */
	size_t n = 1 << 16;
	char *big = kiln_xmalloc(n);
	memset(big, 'A', n);
	CHECK(kiln_release_parse_date(big, n) == (time_t)-1);
	free(big);

	CHECK_FAILS("Date: soon\nSHA256:\n", "R:1: Date is not an RFC 2822 date");
	CHECK_FAILS("Date:\nSHA256:\n", "R:1: Date is not an RFC 2822 date");
	CHECK_FAILS("SHA256:\nValid-Until: later\n", "R:2: Valid-Until is not an RFC 2822 date");
}

TEST(nul_bytes)
{
	static const char text[] = "Suite: st\0able\nSHA256:\n " H1 " 1 main/a\0b\n";
	struct kiln_error err = { 0 };
	struct kiln_release *r = kiln_release_parse("R", text, sizeof(text) - 1, &err);

	/* A NUL in a path is an unsafe path, never a shorter one. */
	CHECK(r == NULL);
	CHECK_CONTAINS(err.message, "unsafe path");
	kiln_release_free(r);
}

TEST(huge)
{
	/* 20000 entries and a 1 MiB description line. */
	struct kiln_buf b = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	struct kiln_release *r;

	kiln_buf_adds(&b, "Description: ");
	for (int i = 0; i < (1 << 20); i++)
		kiln_buf_addch(&b, 'd');
	kiln_buf_adds(&b, "\nSHA256:\n");
	for (int i = 0; i < 20000; i++)
		kiln_buf_printf(&b, " %s %d main/f%d\n", i % 2 ? H1 : H2, i, i);
	r = kiln_release_parse("R", b.data, b.len, &err);
	CHECK(r && r->n_files == 20000);
	if (r) {
		const struct kiln_release_file *f = kiln_release_find(r, "main/f19999");
		CHECK(f && f->size == 19999);
		CHECK_STR(f ? f->sha256 : NULL, H1);
	}
	kiln_release_free(r);
	kiln_buf_release(&b);
}

int main(void)
{
	RUN(debian_release);
	RUN(minimal);
	RUN(empty_and_missing_sha256);
	RUN(field_options);
	RUN(crlf);
	RUN(bad_entries);
	RUN(unsafe_paths);
	RUN(duplicate_fields);
	RUN(paragraphs);
	RUN(dates);
	RUN(nul_bytes);
	RUN(huge);
	return tap_done();
}
