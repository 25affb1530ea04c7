#include "yamltree.h"

#include <stdint.h>
#include <string.h>
#include <yaml.h>

#include "util.h"

#define MAX_DEPTH 64
#define MAX_NODES 1000000

struct builder {
	yaml_parser_t parser;
	const char *origin;
	const char *data;             /* the text, for reader errors */
	size_t len;
	size_t nodes;
	struct kiln_error *err;
};

static struct kiln_yaml_node *node_new(enum kiln_yaml_kind kind, yaml_mark_t mark)
{
	struct kiln_yaml_node *n = kiln_xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->line = (unsigned)mark.line + 1;
	n->column = (unsigned)mark.column + 1;
	return n;
}

void kiln_yaml_free(struct kiln_yaml_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_items; i++) {
		kiln_yaml_free(n->items[i]);
		if (n->keys)
			kiln_yaml_free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->value);
	free(n);
}

const char *kiln_yaml_kind_name(enum kiln_yaml_kind kind)
{
	switch (kind) {
	case KILN_YAML_SCALAR: return "a scalar";
	case KILN_YAML_SEQUENCE: return "a list";
	case KILN_YAML_MAPPING: return "a mapping";
	}
	return "?";
}

/* How many bytes a UTF-8 sequence starting with lead says it has (1 for a
 * byte that cannot start one), as libyaml's reader counts them. */
static size_t utf8_width(unsigned char lead)
{
	return (lead & 0x80) == 0x00 ? 1 : (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3
	     : (lead & 0xf8) == 0xf0 ? 4 : 1;
}

char *kiln_yaml_reader_problem(const char *data, size_t len, const char *problem, size_t offset,
			       int value, unsigned *line, unsigned *column)
{
	_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
	const unsigned char *u = (const unsigned char *)data;
	size_t n;

	if (offset > len)
		offset = len;
	*line = 1;
	*column = 1;
	for (size_t i = 0; i < offset; i++) {
		if (u[i] == '\n') {
			(*line)++;
			*column = 1;
		} else if ((u[i] & 0xc0) != 0x80) {
			(*column)++;
		}
	}
	kiln_buf_adds(&out, problem ? problem : "unknown problem");
	if (offset == len)
		return kiln_buf_detach(&out);
	/* A bad octet: value is that byte.  Otherwise the sequence at offset
	 * (its lead and the continuation bytes that follow, as many as the
	 * lead announces), and the code point libyaml decoded from it. */
	if (value == u[offset]) {
		kiln_buf_printf(&out, " (byte 0x%02x)", u[offset]);
		return kiln_buf_detach(&out);
	}
	n = 1;
	while (n < utf8_width(u[offset]) && offset + n < len && (u[offset + n] & 0xc0) == 0x80)
		n++;
	kiln_buf_adds(&out, n == 1 ? " (byte" : " (bytes");
	for (size_t i = 0; i < n; i++)
		kiln_buf_printf(&out, " 0x%02x", u[offset + i]);
	if (value >= 0)
		kiln_buf_printf(&out, ": U+%04X", (unsigned)value);
	if (value >= 0xd800 && value <= 0xdfff)
		kiln_buf_adds(&out, ", a UTF-16 surrogate, as CESU-8 writes them");
	kiln_buf_addch(&out, ')');
	return kiln_buf_detach(&out);
}

static int fail_at(struct builder *b, yaml_mark_t mark, const char *msg, const char *detail)
{
	return kiln_error_set(b->err, "%s:%zu:%zu: %s%s", b->origin, mark.line + 1, mark.column + 1,
			      msg, detail ? detail : "");
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev)) {
		yaml_mark_t m = b->parser.problem_mark;

		/* Reader errors have no mark, only an offset into the text. */
		if (b->parser.error == YAML_READER_ERROR) {
			unsigned line, column;
			_cleanup_free_ char *what = kiln_yaml_reader_problem(
				b->data, b->len, b->parser.problem, b->parser.problem_offset,
				b->parser.problem_value, &line, &column);
			return kiln_error_set(b->err, "%s:%u:%u: not valid UTF-8 text: %s", b->origin,
					      line, column, what);
		}
		return kiln_error_set(b->err, "%s:%zu:%zu: YAML syntax error: %s%s%s", b->origin,
				      m.line + 1, m.column + 1,
				      b->parser.problem ? b->parser.problem : "unknown problem",
				      b->parser.context ? " " : "",
				      b->parser.context ? b->parser.context : "");
	}
	return 0;
}

static struct kiln_yaml_node *build(struct builder *b, yaml_event_t *ev, int depth);

/* A hash index of one mapping's keys (slot: key position + 1, 0 empty), so
 * finding duplicates stays linear: comparing every key with every other
 * made a 100,000-key mapping take 20 seconds. */
struct key_index {
	size_t *slots;
	size_t cap;
};

static size_t key_hash(const struct kiln_yaml_node *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < key->value_len; i++) {
		h ^= (unsigned char)key->value[i];
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* The slot of a key equal to key in map, or the empty slot where it goes. */
static size_t key_slot(const struct key_index *ki, const struct kiln_yaml_node *map,
		       const struct kiln_yaml_node *key)
{
	size_t s = key_hash(key) & (ki->cap - 1);
	while (ki->slots[s]) {
		const struct kiln_yaml_node *k = map->keys[ki->slots[s] - 1];
		if (k->value_len == key->value_len && memcmp(k->value, key->value, k->value_len) == 0)
			return s;
		s = (s + 1) & (ki->cap - 1);
	}
	return s;
}

/* Make room for one more key (load factor under 1/2). */
static void key_index_reserve(struct key_index *ki, const struct kiln_yaml_node *map)
{
	if ((map->n_items + 1) * 2 <= ki->cap)
		return;
	free(ki->slots);
	ki->cap = ki->cap ? ki->cap * 2 : 16;
	ki->slots = kiln_xcalloc(ki->cap, sizeof(*ki->slots));
	for (size_t i = 0; i < map->n_items; i++)
		ki->slots[key_slot(ki, map, map->keys[i])] = i + 1;
}

static int check_plain_node(struct builder *b, const yaml_event_t *ev, yaml_char_t *anchor,
			    yaml_char_t *tag, int implicit)
{
	if (anchor)
		return fail_at(b, ev->start_mark, "anchors and aliases are not allowed", NULL);
	/* Any tag written out, even the non-specific "!" that libyaml reports
	 * as implicit for scalars. */
	if (tag)
		return fail_at(b, ev->start_mark, "explicit tags are not allowed: ", (char *)tag);
	if (++b->nodes > MAX_NODES)
		return fail_at(b, ev->start_mark, "too many nodes", NULL);
	return 0;
}

/* Build the node that starts with ev (ownership of ev stays with caller). */
static struct kiln_yaml_node *build(struct builder *b, yaml_event_t *ev, int depth)
{
	struct kiln_yaml_node *n = NULL;
	struct key_index ki = { NULL, 0 };

	if (depth > MAX_DEPTH) {
		fail_at(b, ev->start_mark, "nested too deeply", NULL);
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		fail_at(b, ev->start_mark, "anchors and aliases are not allowed", NULL);
		return NULL;
	case YAML_SCALAR_EVENT:
		if (check_plain_node(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag,
				     ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit) < 0)
			return NULL;
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
			fail_at(b, ev->start_mark, "NUL character in a value", NULL);
			return NULL;
		}
		n = node_new(KILN_YAML_SCALAR, ev->start_mark);
		n->value = kiln_xstrndup((char *)ev->data.scalar.value, ev->data.scalar.length);
		n->value_len = ev->data.scalar.length;
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		return n;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		yaml_char_t *anchor = map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
		yaml_char_t *tag = map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
		int implicit = map ? ev->data.mapping_start.implicit : ev->data.sequence_start.implicit;

		if (check_plain_node(b, ev, anchor, tag, implicit) < 0)
			return NULL;
		n = node_new(map ? KILN_YAML_MAPPING : KILN_YAML_SEQUENCE, ev->start_mark);
		for (;;) {
			yaml_event_t child;
			struct kiln_yaml_node *key = NULL, *value;
			size_t key_at = 0;

			if (next_event(b, &child) < 0)
				goto fail;
			if (child.type == (map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT)) {
				yaml_event_delete(&child);
				free(ki.slots);
				return n;
			}
			if (map) {
				if (child.type != YAML_SCALAR_EVENT) {
					fail_at(b, child.start_mark, "mapping keys must be plain scalars", NULL);
					yaml_event_delete(&child);
					goto fail;
				}
				key = build(b, &child, depth + 1);
				yaml_event_delete(&child);
				if (!key)
					goto fail;
				key_index_reserve(&ki, n);
				key_at = key_slot(&ki, n, key);
				if (ki.slots[key_at]) {
					kiln_error_set(b->err, "%s:%u:%u: duplicate key \"%s\" "
						       "(first at line %u)", b->origin, key->line,
						       key->column, key->value,
						       n->keys[ki.slots[key_at] - 1]->line);
					kiln_yaml_free(key);
					goto fail;
				}
				if (next_event(b, &child) < 0) {
					kiln_yaml_free(key);
					goto fail;
				}
			}
			value = build(b, &child, depth + 1);
			yaml_event_delete(&child);
			if (!value) {
				kiln_yaml_free(key);
				goto fail;
			}
			size_t alloc = n->alloc_items;
			kiln_xgrow(&n->items, &n->alloc_items, n->n_items + 1, sizeof(*n->items));
			if (map)
				kiln_xgrow(&n->keys, &alloc, n->n_items + 1, sizeof(*n->keys));
			if (map) {
				n->keys[n->n_items] = key;
				ki.slots[key_at] = n->n_items + 1;
			}
			n->items[n->n_items++] = value;
		}
	}
	default:
		fail_at(b, ev->start_mark, "unexpected YAML event", NULL);
		return NULL;
	}
fail:
	free(ki.slots);
	kiln_yaml_free(n);
	return NULL;
}

struct kiln_yaml_node *kiln_yaml_parse(const char *origin, const char *data, size_t len,
				       struct kiln_error *err)
{
	struct builder b = { .origin = origin, .data = data ? data : "", .len = data ? len : 0, .err = err };
	struct kiln_yaml_node *root = NULL;
	yaml_event_t ev;
	int stage = 0; /* 0 stream start, 1 doc start, 2 root, 3 doc end, 4 stream end */

	if (!yaml_parser_initialize(&b.parser)) {
		kiln_error_set(err, "%s: libyaml cannot start", origin);
		return NULL;
	}
	/* libyaml asserts on a NULL input; an empty buffer may well be NULL. */
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)(data ? data : ""), data ? len : 0);
	for (;;) {
		if (next_event(&b, &ev) < 0)
			goto fail;
		if (stage == 0 && ev.type == YAML_STREAM_START_EVENT) {
			stage = 1;
		} else if (stage == 1 && ev.type == YAML_DOCUMENT_START_EVENT) {
			stage = 2;
		} else if (stage == 1 && ev.type == YAML_STREAM_END_EVENT) {
			kiln_error_set(err, "%s: empty file", origin);
			yaml_event_delete(&ev);
			goto fail;
		} else if (stage == 2) {
			root = build(&b, &ev, 0);
			if (!root) {
				yaml_event_delete(&ev);
				goto fail;
			}
			stage = 3;
		} else if (stage == 3 && ev.type == YAML_DOCUMENT_END_EVENT) {
			stage = 4;
		} else if (stage == 4 && ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		} else if (stage == 4 && ev.type == YAML_DOCUMENT_START_EVENT) {
			fail_at(&b, ev.start_mark, "more than one YAML document", NULL);
			yaml_event_delete(&ev);
			goto fail;
		} else {
			fail_at(&b, ev.start_mark, "unexpected YAML structure", NULL);
			yaml_event_delete(&ev);
			goto fail;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&b.parser);
	if (root->kind == KILN_YAML_SCALAR && root->value_len == 0 && !root->quoted) {
		kiln_error_set(err, "%s: empty file", origin);
		kiln_yaml_free(root);
		return NULL;
	}
	return root;
fail:
	yaml_parser_delete(&b.parser);
	kiln_yaml_free(root);
	return NULL;
}

struct kiln_yaml_node *kiln_yaml_get(const struct kiln_yaml_node *map, const char *key)
{
	if (!map || map->kind != KILN_YAML_MAPPING)
		return NULL;
	for (size_t i = 0; i < map->n_items; i++)
		if (strcmp(map->keys[i]->value, key) == 0)
			return map->items[i];
	return NULL;
}
