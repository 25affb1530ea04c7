/* test_yamltree.c - the strict YAML tree: shapes, positions, no implicit
 * typing, and everything it refuses (anchors, aliases, tags, duplicate
 * keys, several documents, deep nesting, too many nodes, NUL). */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"
#include "yamltree.h"

static struct kiln_yaml_node *parse(const char *text, struct kiln_error *err)
{
	kiln_error_clear(err);
	return kiln_yaml_parse("t.yaml", text, strlen(text), NULL, err);
}

#define CHECK_REFUSED(text, want)                                    \
	do {                                                         \
		struct kiln_error e_ = { 0 };                        \
		struct kiln_yaml_node *n_ = parse(text, &e_);        \
		CHECK(n_ == NULL);                                   \
		CHECK_CONTAINS(e_.message, want);                    \
		kiln_yaml_free(n_);                                  \
	} while (0)

TEST(shapes)
{
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *root = parse("name: web\n"
					    "list:\n"
					    "  - a\n"
					    "  - {k: v, n: [1, 2]}\n"
					    "quoted: \"x y\"\n"
					    "single: 'it''s'\n"
					    "block: |\n"
					    "  line1\n"
					    "  line2\n"
					    "folded: >\n"
					    "  a\n"
					    "  b\n"
					    "empty:\n",
					    &err);
	CHECK(root != NULL);
	if (!root) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK(root->kind == KILN_YAML_MAPPING && root->n_items == 7);
	CHECK(root->line == 1 && root->column == 1);
	struct kiln_yaml_node *n = kiln_yaml_get(root, "name");
	CHECK(n && n->kind == KILN_YAML_SCALAR && !n->quoted);
	CHECK_STR(n ? n->value : NULL, "web");
	CHECK(n && n->line == 1 && n->column == 7 && n->value_len == 3);
	CHECK(root->keys[0]->line == 1 && root->keys[0]->column == 1);

	struct kiln_yaml_node *list = kiln_yaml_get(root, "list");
	CHECK(list && list->kind == KILN_YAML_SEQUENCE && list->n_items == 2 && list->keys == NULL);
	if (list && list->n_items == 2) {
		CHECK_STR(list->items[0]->value, "a");
		CHECK(list->items[0]->line == 3 && list->items[0]->column == 5);
		struct kiln_yaml_node *m = list->items[1];
		CHECK(m->kind == KILN_YAML_MAPPING && m->line == 4 && m->column == 5);
		CHECK_STR(kiln_yaml_get(m, "k")->value, "v");
		struct kiln_yaml_node *nums = kiln_yaml_get(m, "n");
		CHECK(nums && nums->kind == KILN_YAML_SEQUENCE && nums->n_items == 2);
		CHECK(nums && nums->items[1]->column == 19);
	}
	n = kiln_yaml_get(root, "quoted");
	CHECK(n && n->quoted);
	CHECK_STR(n ? n->value : NULL, "x y");
	n = kiln_yaml_get(root, "single");
	CHECK(n && n->quoted);
	CHECK_STR(n ? n->value : NULL, "it's");
	n = kiln_yaml_get(root, "block");
	CHECK(n && n->quoted);
	CHECK_STR(n ? n->value : NULL, "line1\nline2\n");
	n = kiln_yaml_get(root, "folded");
	CHECK_STR(n ? n->value : NULL, "a b\n");
	n = kiln_yaml_get(root, "empty");
	CHECK(n && n->kind == KILN_YAML_SCALAR && n->value_len == 0 && !n->quoted);
	CHECK(kiln_yaml_get(root, "missing") == NULL);
	CHECK(kiln_yaml_get(list, "a") == NULL); /* not a mapping */
	CHECK(kiln_yaml_get(NULL, "a") == NULL);
	kiln_yaml_free(root);
	kiln_yaml_free(NULL);
}

TEST(no_implicit_typing)
{
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *root = parse("[yes, no, null, ~, 1.0, 0x10, 010, true, .inf, 2001-01-01, '1']", &err);
	static const char *const want[] = { "yes", "no", "null", "~", "1.0", "0x10", "010", "true",
					    ".inf", "2001-01-01", "1" };
	CHECK(root && root->kind == KILN_YAML_SEQUENCE && root->n_items == KILN_ARRAY_SIZE(want));
	for (size_t i = 0; root && i < root->n_items && i < KILN_ARRAY_SIZE(want); i++)
		CHECK_STR(root->items[i]->value, want[i]);
	kiln_yaml_free(root);
}

TEST(scalar_roots_and_empty)
{
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *n = parse("hello\n", &err);
	CHECK(n && n->kind == KILN_YAML_SCALAR);
	CHECK_STR(n ? n->value : NULL, "hello");
	kiln_yaml_free(n);
	/* An explicitly empty quoted string is a value, not an empty file. */
	n = parse("''\n", &err);
	CHECK(n && n->kind == KILN_YAML_SCALAR && n->value_len == 0 && n->quoted);
	kiln_yaml_free(n);
	/* Markers around one document are fine. */
	n = parse("%YAML 1.1\n---\na: 1\n...\n", &err);
	CHECK(n && n->kind == KILN_YAML_MAPPING);
	kiln_yaml_free(n);

	CHECK_REFUSED("", "t.yaml:1:1: the YAML file is empty");
	CHECK_REFUSED("\n\n   \n", "t.yaml:1:1: the YAML file is empty");
	CHECK_REFUSED("# just a comment\n", "t.yaml:1:1: the YAML file is empty");
	/* A document marker and nothing else is one empty value, which the
	 * schema then refuses where it stands ("expected a mapping"). */
	n = parse("---\n", &err);
	CHECK(n && n->kind == KILN_YAML_SCALAR && n->value_len == 0 && !n->quoted);
	CHECK_STR(n ? kiln_yaml_node_kind(n) : NULL, "an empty value");
	kiln_yaml_free(n);
	/* A NULL buffer of length 0 is empty too. */
	n = kiln_yaml_parse("t.yaml", NULL, 0, NULL, &err);
	CHECK(n == NULL);
	CHECK_CONTAINS(err.message, "the YAML file is empty");
}

TEST(several_documents)
{
	CHECK_REFUSED("a: 1\n---\nb: 2\n", "t.yaml:2:1: a second YAML document: a YAML file is a single document");
	CHECK_REFUSED("---\na\n---\nb\n", "a second YAML document");
	CHECK_REFUSED("a\n...\n---\n", "a second YAML document");
}

TEST(anchors_aliases_tags)
{
	CHECK_REFUSED("a: &x 1\nb: *x\n", "t.yaml:1:4: anchors (&name) are not allowed in a YAML file: found \"x\"");
	CHECK_REFUSED("a: &x [1, 2]\n", "t.yaml:1:4: anchors (&name) are not allowed in a YAML file: found \"x\"");
	CHECK_REFUSED("a: &x {b: 1}\n", "are not allowed in a YAML file");
	CHECK_REFUSED("&x a: 1\n", "are not allowed in a YAML file");
	CHECK_REFUSED("- &x\n", "are not allowed in a YAML file");
	/* An alias to nothing is refused too (by libyaml or by us). */
	CHECK_REFUSED("a: *x\n", "t.yaml:1:4:");
	/* Billion laughs never gets past the first anchor. */
	CHECK_REFUSED("a: &a [x, x, x, x, x, x, x, x, x]\n"
		      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
		      "t.yaml:1:4: anchors (&name) are not allowed in a YAML file: found \"a\"");

	CHECK_REFUSED("a: !!str 1\n", "t.yaml:1:4: explicit tags are not allowed in a YAML file (every value is a string): found \"tag:yaml.org,2002:str\"");
	CHECK_REFUSED("a: !!binary aGVsbG8=\n", "explicit tags are not allowed");
	CHECK_REFUSED("a: !local x\n", "explicit tags are not allowed in a YAML file (every value is a string): found \"!local\"");
	CHECK_REFUSED("a: !!map {b: 1}\n", "explicit tags are not allowed");
	CHECK_REFUSED("a: !!seq [1]\n", "explicit tags are not allowed");
	CHECK_REFUSED("!!map\na: 1\n", "explicit tags are not allowed");
	CHECK_REFUSED("a: !<tag:yaml.org,2002:int> 1\n", "explicit tags are not allowed");
	/* The non-specific tag "!" is a tag written out too. */
	CHECK_REFUSED("a: ! 1\n", "t.yaml:1:4: explicit tags are not allowed in a YAML file (every value is a string): found \"!\"");
	CHECK_REFUSED("a: ! [1]\n", "explicit tags are not allowed");
	CHECK_REFUSED("%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n", "explicit tags are not allowed");
}

TEST(duplicate_keys)
{
	CHECK_REFUSED("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: duplicate key \"a\" (first at line 1)");
	CHECK_REFUSED("{a: 1, a: 1}", "t.yaml:1:8: duplicate key \"a\"");
	/* Same text however it is quoted. */
	CHECK_REFUSED("a: 1\n'a': 2\n", "duplicate key \"a\"");
	CHECK_REFUSED("a: 1\n\"\\x61\": 2\n", "duplicate key \"a\"");
	CHECK_REFUSED("outer:\n  x: 1\n  y: 2\n  x: 3\n", "t.yaml:4:3: outer: duplicate key \"x\" (first at line 2)");
	/* Keys equal only in another type system are different text. */
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *n = parse("1: a\n1.0: b\n01: c\ntrue: d\nyes: e\n", &err);
	CHECK(n && n->n_items == 5);
	kiln_yaml_free(n);
	/* The same key in sibling mappings is fine. */
	n = parse("- a: 1\n- a: 2\n", &err);
	CHECK(n && n->n_items == 2);
	kiln_yaml_free(n);
}

TEST(many_keys)
{
	/* Duplicate detection must not compare every key with every other:
	 * 200,000 keys (and one duplicate at the very end) take well under a
	 * second, not minutes. */
	struct kiln_buf b = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *n;

	for (int i = 0; i < 200000; i++)
		kiln_buf_printf(&b, "key%d: %d\n", i, i);
	n = kiln_yaml_parse("t.yaml", b.data, b.len, NULL, &err);
	CHECK(n && n->n_items == 200000);
	if (n)
		CHECK_STR(kiln_yaml_get(n, "key199999")->value, "199999");
	kiln_yaml_free(n);
	kiln_buf_adds(&b, "key123456: again\n");
	n = kiln_yaml_parse("t.yaml", b.data, b.len, NULL, &err);
	CHECK(n == NULL);
	CHECK_STR(err.message, "t.yaml:200001:1: duplicate key \"key123456\" (first at line 123457)");
	kiln_buf_release(&b);
}

TEST(non_scalar_keys)
{
	CHECK_REFUSED("? [a, b]\n: 1\n", "t.yaml:1:3: keys must be strings, got a list");
	CHECK_REFUSED("{[a]: 1}\n", "keys must be strings");
	CHECK_REFUSED("? {a: 1}\n: 1\n", "keys must be strings");
	CHECK_REFUSED("? *x\n: 1\n", "t.yaml:1:3:");
}

static char *nested(int depth, const char *open, const char *inner, const char *close)
{
	struct kiln_buf b = KILN_BUF_INIT;
	for (int i = 0; i < depth; i++)
		kiln_buf_adds(&b, open);
	kiln_buf_adds(&b, inner);
	for (int i = 0; i < depth; i++)
		kiln_buf_adds(&b, close);
	return kiln_buf_detach(&b);
}

TEST(deep_nesting)
{
	struct kiln_error err = { 0 };
	char *text;
	struct kiln_yaml_node *n;

	/* 64 levels below the root are fine… */
	text = nested(64, "[", "x", "]");
	n = parse(text, &err);
	CHECK(n != NULL);
	kiln_yaml_free(n);
	free(text);
	/* …one more is not. */
	text = nested(65, "[", "x", "]");
	CHECK_REFUSED(text, "nested deeper than 64 levels");
	free(text);
	/* 1000-deep flow sequences, mappings, and block mappings. */
	text = nested(1000, "[", "x", "]");
	CHECK_REFUSED(text, "t.yaml:1:65: nested deeper than 64 levels");
	free(text);
	text = nested(1000, "{a: ", "x", "}");
	CHECK_REFUSED(text, "nested deeper than 64 levels");
	free(text);
	struct kiln_buf b = KILN_BUF_INIT;
	for (int i = 0; i < 1000; i++) {
		for (int k = 0; k < i; k++)
			kiln_buf_addch(&b, ' ');
		kiln_buf_adds(&b, "k:\n");
	}
	CHECK_REFUSED(b.data, "nested deeper than 64 levels");
	kiln_buf_release(&b);
	/* 100000 unclosed brackets: no recursion blows the stack. */
	text = nested(100000, "[", "", "");
	CHECK_REFUSED(text, "t.yaml:1:");
	free(text);
}

TEST(too_many_nodes)
{
	struct kiln_buf b = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *n;

	/* The root plus 999,999 items is the limit… */
	kiln_buf_adds(&b, "[");
	for (int i = 0; i < 999999; i++)
		kiln_buf_adds(&b, i ? ",x" : "x");
	kiln_buf_adds(&b, "]");
	n = kiln_yaml_parse("t.yaml", b.data, b.len, NULL, &err);
	CHECK(n && n->n_items == 999999);
	kiln_yaml_free(n);
	/* …one more is refused. */
	b.len -= 1;
	kiln_buf_adds(&b, ",x]");
	n = kiln_yaml_parse("t.yaml", b.data, b.len, NULL, &err);
	CHECK(n == NULL);
	CHECK_CONTAINS(err.message, "t.yaml:1:2000000: more than 1000000 values: too large for a YAML file");
	kiln_buf_release(&b);
}

TEST(nul_and_bad_bytes)
{
	struct kiln_error err = { 0 };
	static const char raw_nul[] = "a: b\0c\n";
	CHECK(kiln_yaml_parse("t.yaml", raw_nul, sizeof(raw_nul) - 1, NULL, &err) == NULL);
	CHECK_CONTAINS(err.message, "t.yaml:1:");
	CHECK_REFUSED("a: \"b\\0c\"\n", "t.yaml:1:4: a: \"b\\x00c\" contains a NUL byte");
	CHECK_REFUSED("\"k\\0\": 1\n", "contains a NUL byte");
	CHECK_REFUSED("a: \"\\x00\"\n", "contains a NUL byte");
	/* Invalid UTF-8, control characters, tabs for indentation. */
	CHECK_REFUSED("a: \xff\xfe\n", "t.yaml:");
	CHECK_REFUSED("a: b\x01\n", "t.yaml:1:5: not valid UTF-8 text: control characters are not allowed (byte 0x01)");
	CHECK_REFUSED("a:\n\t- b\n", "YAML syntax error");
	/* Unterminated things. */
	CHECK_REFUSED("a: [1, 2\n", "YAML syntax error");
	CHECK_REFUSED("a: \"open\n", "YAML syntax error");
	CHECK_REFUSED("a: {b: 1\n", "YAML syntax error");
	CHECK_REFUSED("a: b: c\n", "t.yaml:1:5: YAML syntax error: mapping values are not allowed");
}

/* libyaml gives reader errors an offset, no line and column, and a value
 * that is a code point, not a byte, for a sequence that decodes. */
TEST(bad_text_names_its_place_and_bytes)
{
	CHECK_REFUSED("a: 1\nb: \xff\n", "t.yaml:2:4: not valid UTF-8 text: invalid leading UTF-8 octet (byte 0xff)");
	CHECK_REFUSED("a: 1\nb: \"x\xed\xa0\x80\"\n",
		      "t.yaml:2:6: not valid UTF-8 text: invalid Unicode character (bytes 0xed 0xa0 0x80: U+D800");
	CHECK_REFUSED("a: x\xc2\x80\n", "t.yaml:1:5: not valid UTF-8 text: control characters are not allowed (bytes 0xc2 0x80: U+0080)");
	CHECK_REFUSED("a: \xe2\x82", "t.yaml:1:4: not valid UTF-8 text: incomplete UTF-8 octet sequence (bytes 0xe2 0x82)");
	/* The helper on its own: an offset past the end is the end. */
	unsigned line, column;
	char *what = kiln_yaml_reader_problem("ab\ncd", 5, "p", 99, -1, &line, &column);
	CHECK_STR(what, "p");
	CHECK(line == 2 && column == 3);
	free(what);
}

TEST(line_endings_and_bom)
{
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *n = parse("\xef\xbb\xbf" "a: 1\r\nb:\r\n  - x\r\n", &err);
	CHECK(n && n->n_items == 2);
	if (n) {
		CHECK_STR(kiln_yaml_get(n, "a")->value, "1");
		struct kiln_yaml_node *b = kiln_yaml_get(n, "b");
		CHECK(b && b->kind == KILN_YAML_SEQUENCE && b->items[0]->line == 3);
	}
	kiln_yaml_free(n);
}

TEST(huge_values)
{
	struct kiln_buf b = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	struct kiln_yaml_node *n;

	kiln_buf_adds(&b, "big: ");
	for (int i = 0; i < (1 << 20); i++)
		kiln_buf_addch(&b, 'x');
	kiln_buf_adds(&b, "\n");
	for (int i = 0; i < 5000; i++)
		kiln_buf_printf(&b, "k%d: %d\n", i, i);
	n = kiln_yaml_parse("t.yaml", b.data, b.len, NULL, &err);
	CHECK(n && n->n_items == 5001);
	if (n) {
		CHECK(kiln_yaml_get(n, "big")->value_len == (1u << 20));
		CHECK_STR(kiln_yaml_get(n, "k4999")->value, "4999");
		CHECK(kiln_yaml_get(n, "k4999")->line == 5001);
	}
	kiln_yaml_free(n);
	kiln_buf_release(&b);
}

TEST(kind_names)
{
	CHECK_STR(kiln_yaml_kind_name(KILN_YAML_SCALAR), "a string");
	CHECK_STR(kiln_yaml_kind_name(KILN_YAML_SEQUENCE), "a list");
	CHECK_STR(kiln_yaml_kind_name(KILN_YAML_MAPPING), "a mapping");
	CHECK_STR(kiln_yaml_kind_name((enum kiln_yaml_kind)42), "?");
}

int main(void)
{
	RUN(shapes);
	RUN(no_implicit_typing);
	RUN(scalar_roots_and_empty);
	RUN(several_documents);
	RUN(anchors_aliases_tags);
	RUN(duplicate_keys);
	RUN(many_keys);
	RUN(non_scalar_keys);
	RUN(deep_nesting);
	RUN(too_many_nodes);
	RUN(nul_and_bad_bytes);
	RUN(bad_text_names_its_place_and_bytes);
	RUN(line_endings_and_bom);
	RUN(huge_values);
	RUN(kind_names);
	return tap_done();
}
