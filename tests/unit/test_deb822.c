/* test_deb822.c - the control-format scanner: paragraphs, fields,
 * continuation lines, comments, line numbers, and the slice helpers. */
#include <stdlib.h>
#include <string.h>

#include "deb822.h"
#include "tap.h"
#include "util.h"

/* Scan the whole text into "Name=value|" per field and "/" per paragraph
 * end, "$" at the end of the text; on an error "!message". */
static char *scan(const char *text, size_t len, bool comments)
{
	struct kiln_deb822 s;
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	struct kiln_slice name, value;
	unsigned line;
	bool eof;
	int rc;

	kiln_deb822_init(&s, "t", text, len);
	s.allow_comments = comments;
	for (int guard = 0; guard < 100000; guard++) {
		rc = kiln_deb822_next(&s, &name, &value, &line, &eof, &err);
		if (rc < 0) {
			kiln_buf_printf(&out, "!%s", err.message);
			break;
		}
		if (rc == 1) {
			kiln_buf_printf(&out, "%.*s@%u=%.*s|", (int)name.len, name.ptr, line,
					(int)value.len, value.ptr);
			continue;
		}
		kiln_buf_adds(&out, eof ? "$" : "/");
		if (eof)
			break;
	}
	return kiln_buf_detach(&out);
}

static char *scans(const char *text)
{
	return scan(text, strlen(text), false);
}

#define CHECK_SCAN(text, want)                          \
	do {                                            \
		char *got_ = scans(text);               \
		CHECK_STR(got_, want);                  \
		free(got_);                             \
	} while (0)

TEST(empty)
{
	CHECK_SCAN("", "$");
	CHECK_SCAN("\n\n\n", "$");
	CHECK_SCAN(" \t\n\r\n", "$");
	/* A NULL buffer of length 0 is an empty text too. */
	char *got = scan(NULL, 0, false);
	CHECK_STR(got, "$");
	free(got);
}

TEST(one_paragraph)
{
	CHECK_SCAN("A: 1\nB:2\n", "A@1=1|B@2=2|$");
	/* No newline at the end. */
	CHECK_SCAN("A: 1\nB: 2", "A@1=1|B@2=2|$");
	/* Leading and trailing blanks on the value go, inner ones stay. */
	CHECK_SCAN("A: \t x  y \t\n", "A@1=x  y|$");
	/* An empty value. */
	CHECK_SCAN("A:\nB:   \n", "A@1=|B@2=|$");
	/* A value may contain ':' */
	CHECK_SCAN("A: b: c\n", "A@1=b: c|$");
}

TEST(paragraphs_and_separators)
{
	CHECK_SCAN("A: 1\n\nB: 2\n", "A@1=1|/B@3=2|$");
	/* Runs of blank lines are one separator; lines of blanks are blank. */
	CHECK_SCAN("\n\nA: 1\n\n \n\t\n\nB: 2\n\n\n", "A@3=1|/B@8=2|/$");
	/* A whitespace-only line right after a field ends the paragraph (it
	 * is blank), it does not continue the field. */
	CHECK_SCAN("A: 1\n \nB: 2\n", "A@1=1|/B@3=2|$");
	CHECK_SCAN("A: 1\n more\n\t\nB: 2\n", "A@1=1\n more|/B@4=2|$");
}

TEST(continuation_lines)
{
	CHECK_SCAN("A: x\n y\n\tz\nB: 2\n", "A@1=x\n y\n\tz|B@4=2|$");
	/* An empty first line (the SHA256 list shape). */
	CHECK_SCAN("SHA256:\n h 1 p\n h 2 q\n", "SHA256@1=\n h 1 p\n h 2 q|$");
	/* " ." lines of descriptions stay verbatim. */
	CHECK_SCAN("D: s\n .\n l\n", "D@1=s\n .\n l|$");
	/* Continuation at the end of the text without a newline. */
	CHECK_SCAN("A: x\n y", "A@1=x\n y|$");
}

TEST(crlf)
{
	/* CR before LF is not part of the value. */
	CHECK_SCAN("A: 1\r\nB: 2\r\n\r\nC: 3\r\n", "A@1=1|B@2=2|/C@4=3|$");
	/* Folded value: inner CRs are kept verbatim, the last one goes. */
	CHECK_SCAN("A: x\r\n y\r\n", "A@1=x\r\n y|$");
}

TEST(line_numbers)
{
	CHECK_SCAN("A: 1\n x\n x\nB: 2\n\n\nC: 3\n", "A@1=1\n x\n x|B@4=2|/C@7=3|$");
	/* Errors name the line. */
	CHECK_SCAN("A: 1\nB: 2\nnot a field\n", "A@1=1|B@2=2|!t:3: expected \"Field: value\"");
}

TEST(malformed)
{
	CHECK_SCAN(" x: 1\n", "!t:1: continuation line without a field");
	CHECK_SCAN("A: 1\n\n\tcont\n", "A@1=1|/!t:3: continuation line without a field");
	CHECK_SCAN("no colon here\n", "!t:1: expected \"Field: value\"");
	CHECK_SCAN(": empty name\n", "!t:1: expected \"Field: value\"");
	CHECK_SCAN("Bad Name: v\n", "!t:1: bad character in field name");
	CHECK_SCAN("Bad\x7f: v\n", "!t:1: bad character in field name");
	CHECK_SCAN("B\xc3\xa4" "d: v\n", "!t:1: bad character in field name");
	/* The colon must be on the field's own line. */
	CHECK_SCAN("Name\n: v\n", "!t:1: expected \"Field: value\"");
	/* Without allow_comments a comment line is not a field. */
	CHECK_SCAN("# a comment\nA: 1\n", "!t:1: expected \"Field: value\"");
	CHECK_SCAN("# a: comment\nA: 1\n", "!t:1: bad character in field name");
}

TEST(nul_bytes)
{
	/* A NUL in a name is refused; in a value it is kept (the consumers
	 * validate values) and does not end the scan early. */
	static const char name_nul[] = "A\0B: 1\n";
	static const char value_nul[] = "A: x\0y\nB: 2\n";
	char *got = scan(name_nul, sizeof(name_nul) - 1, false);
	CHECK_STR(got, "!t:1: bad character in field name");
	free(got);

	struct kiln_deb822 s;
	struct kiln_slice name, value;
	unsigned line;
	bool eof;
	kiln_deb822_init(&s, "t", value_nul, sizeof(value_nul) - 1);
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 1);
	CHECK(value.len == 3 && memcmp(value.ptr, "x\0y", 3) == 0);
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 1);
	CHECK(kiln_slice_eq(name, "B") && line == 2);
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 0 && eof);
}

TEST(comments)
{
	const char *t1 = "# head\nTypes: deb\n# inside\nURIs: http://x\n\n#only\n\n";
	char *got = scan(t1, strlen(t1), true);
	CHECK_STR(got, "Types@2=deb|URIs@4=http://x|/$");
	free(got);
	/* A comment-only text is empty. */
	got = scan("# a\n#b\n", strlen("# a\n#b\n"), true);
	CHECK_STR(got, "$");
	free(got);
}

TEST(huge_line)
{
	size_t n = 4u << 20;
	char *text = kiln_xmalloc(n + 16);
	struct kiln_deb822 s;
	struct kiln_slice name, value;
	unsigned line;
	bool eof;

	memcpy(text, "Big: ", 5);
	memset(text + 5, 'x', n);
	memcpy(text + 5 + n, "\nC: 1\n", 6);
	kiln_deb822_init(&s, "t", text, n + 11);
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 1);
	CHECK(value.len == n && value.ptr[0] == 'x' && value.ptr[n - 1] == 'x');
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 1);
	CHECK(kiln_slice_eq(name, "C") && line == 2);
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 0 && eof);
	/* Calling again after the end stays at the end. */
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 0 && eof);
	free(text);

	/* A huge field name is fine too; a huge run of continuation lines. */
	struct kiln_buf b = KILN_BUF_INIT;
	kiln_buf_adds(&b, "A:");
	for (int i = 0; i < 100000; i++)
		kiln_buf_adds(&b, "\n x");
	kiln_buf_adds(&b, "\nB: 1\n");
	kiln_deb822_init(&s, "t", b.data, b.len);
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 1);
	CHECK(value.len == 100000 * 3 && value.ptr[0] == '\n');
	CHECK(kiln_deb822_next(&s, &name, &value, &line, &eof, NULL) == 1);
	CHECK(line == 100002);
	kiln_buf_release(&b);
}

TEST(slice_eq)
{
	struct kiln_slice s = { "SHA256xyz", 6 };
	CHECK(kiln_slice_eq(s, "SHA256"));
	CHECK(!kiln_slice_eq(s, "sha256"));
	CHECK(!kiln_slice_eq(s, "SHA2"));
	CHECK(!kiln_slice_eq(s, "SHA256x"));
	CHECK(kiln_slice_eq_nocase(s, "sha256"));
	CHECK(!kiln_slice_eq_nocase(s, "sha25"));
	CHECK(!kiln_slice_eq_nocase(s, "sha2567"));
	struct kiln_slice empty = { "", 0 };
	CHECK(kiln_slice_eq(empty, ""));
	CHECK(kiln_slice_eq_nocase(empty, ""));
	CHECK(!kiln_slice_eq(empty, "a"));
}

static bool u64(const char *s, unsigned long long *v)
{
	return kiln_slice_to_u64((struct kiln_slice){ s, strlen(s) }, v);
}

TEST(slice_to_u64)
{
	unsigned long long v = 7;
	CHECK(u64("0", &v) && v == 0);
	CHECK(u64("2757936", &v) && v == 2757936);
	CHECK(u64("18446744073709551615", &v) && v == 18446744073709551615ULL);
	CHECK(u64("00000000000000000001", &v) && v == 1);
	v = 7;
	CHECK(!u64("18446744073709551616", &v) && v == 7);
	CHECK(!u64("99999999999999999999", &v));
	CHECK(!u64("000000000000000000001", &v)); /* 21 digits */
	CHECK(!u64("", &v));
	CHECK(!u64("-1", &v));
	CHECK(!u64("+1", &v));
	CHECK(!u64(" 1", &v));
	CHECK(!u64("1 ", &v));
	CHECK(!u64("0x10", &v));
	CHECK(!u64("1e3", &v));
	CHECK(!kiln_slice_to_u64((struct kiln_slice){ "1\0" "2", 3 }, &v));
}

TEST(slice_next_word)
{
	struct kiln_slice rest = { " \t a  bc\r\n d\n", 13 }, w;
	CHECK(kiln_slice_next_word(&rest, &w) && kiln_slice_eq(w, "a"));
	CHECK(kiln_slice_next_word(&rest, &w) && kiln_slice_eq(w, "bc"));
	CHECK(kiln_slice_next_word(&rest, &w) && kiln_slice_eq(w, "d"));
	CHECK(!kiln_slice_next_word(&rest, &w));
	CHECK(rest.len == 0);
	CHECK(!kiln_slice_next_word(&rest, &w));
	struct kiln_slice none = { "", 0 };
	CHECK(!kiln_slice_next_word(&none, &w));
	struct kiln_slice one = { "word", 4 };
	CHECK(kiln_slice_next_word(&one, &w) && kiln_slice_eq(w, "word") && one.len == 0);
}

int main(void)
{
	RUN(empty);
	RUN(one_paragraph);
	RUN(paragraphs_and_separators);
	RUN(continuation_lines);
	RUN(crlf);
	RUN(line_numbers);
	RUN(malformed);
	RUN(nul_bytes);
	RUN(comments);
	RUN(huge_line);
	RUN(slice_eq);
	RUN(slice_to_u64);
	RUN(slice_next_word);
	return tap_done();
}
