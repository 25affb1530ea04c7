#include "yamltree.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "hash.h"

/* How much of a user's value a message quotes. */
#define QUOTE_MAX 80

struct builder {
	yaml_parser_t parser;
	const struct kiln_yaml_options *opts;
	const char *data;             /* the text, for reader errors */
	size_t len;
	size_t nodes;
	struct kiln_yaml_walk walk;   /* origin, error, the path being built */
};

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
	case KILN_YAML_SCALAR: return "a string";
	case KILN_YAML_SEQUENCE: return "a list";
	case KILN_YAML_MAPPING: return "a mapping";
	}
	return "?";
}

const char *kiln_yaml_node_kind(const struct kiln_yaml_node *n)
{
	if (n->kind == KILN_YAML_SCALAR && n->value_len == 0 && !n->quoted)
		return "an empty value";
	return kiln_yaml_kind_name(n->kind);
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

/* ------------------------------------------------------------------------ */
/* The walker: messages and key paths                                        */

/* Is ch one of the characters of set?  (strchr alone would say yes to NUL.) */
static bool in_set(char ch, const char *set)
{
	return ch != '\0' && strchr(set, ch) != NULL;
}

/* Append s[0..len) for a message, escaped and cut (see
 * kiln_yaml_walk_quote), and the closing quote. */
static void add_escaped(struct kiln_buf *b, const char *s, size_t len)
{
	size_t n = len;

	if (n > QUOTE_MAX) {
		n = QUOTE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			kiln_buf_addch(b, '\\');
			kiln_buf_addch(b, (char)ch);
		} else if (ch == '\n') {
			kiln_buf_adds(b, "\\n");
		} else if (ch == '\t') {
			kiln_buf_adds(b, "\\t");
		} else if (ch < 0x20 || ch == 0x7f) {
			kiln_buf_printf(b, "\\x%02x", ch);
		} else {
			kiln_buf_addch(b, (char)ch);
		}
	}
	kiln_buf_addch(b, '"');
	if (n < len)
		kiln_buf_adds(b, "...");
}

void kiln_yaml_walk_release(struct kiln_yaml_walk *w)
{
	kiln_buf_release(&w->path);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(w->quotes); i++)
		kiln_buf_release(&w->quotes[i]);
}

const char *kiln_yaml_walk_quote(struct kiln_yaml_walk *w, const char *s, size_t len)
{
	struct kiln_buf *b = &w->quotes[w->next_quote++ % KILN_ARRAY_SIZE(w->quotes)];

	kiln_buf_reset(b);
	kiln_buf_addch(b, '"');
	add_escaped(b, s, len);
	return b->data;
}

const char *kiln_yaml_walk_quote_node(struct kiln_yaml_walk *w, const struct kiln_yaml_node *n)
{
	return kiln_yaml_walk_quote(w, n->value ? n->value : "", n->value_len);
}

static int walk_fail_at(struct kiln_yaml_walk *w, unsigned line, unsigned column, const char *fmt,
			va_list ap)
{
	_cleanup_free_ char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	if (w->path.len > 0)
		return kiln_error_set(w->err, "%s:%u:%u: %s: %s", w->origin, line, column,
				      w->path.data, msg ? msg : "out of memory");
	return kiln_error_set(w->err, "%s:%u:%u: %s", w->origin, line, column,
			      msg ? msg : "out of memory");
}

int kiln_yaml_walk_fail(struct kiln_yaml_walk *w, const struct kiln_yaml_node *at,
			const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = walk_fail_at(w, at->line, at->column, fmt, ap);
	va_end(ap);
	return rc;
}

size_t kiln_yaml_walk_push_key(struct kiln_yaml_walk *w, const char *key, size_t len)
{
	size_t old = w->path.len;
	bool plain = len > 0 && len <= 128;

	for (size_t i = 0; i < len && plain; i++) {
		char ch = key[i];
		plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			(ch >= '0' && ch <= '9') || in_set(ch, "._-+/");
	}
	if (plain) {
		if (old > 0)
			kiln_buf_addch(&w->path, '.');
		kiln_buf_add(&w->path, key, len);
	} else {
		/* A key a reader could not tell apart from the path around it. */
		kiln_buf_printf(&w->path, "[%s]", kiln_yaml_walk_quote(w, key, len));
	}
	return old;
}

size_t kiln_yaml_walk_push_index(struct kiln_yaml_walk *w, size_t i)
{
	size_t old = w->path.len;

	kiln_buf_printf(&w->path, "[%zu]", i);
	return old;
}

void kiln_yaml_walk_pop(struct kiln_yaml_walk *w, size_t old)
{
	w->path.len = old;
	if (w->path.data)
		w->path.data[old] = '\0';
}

int kiln_yaml_walk_expect(struct kiln_yaml_walk *w, const struct kiln_yaml_node *n,
			  enum kiln_yaml_kind kind)
{
	if (n->kind != kind)
		return kiln_yaml_walk_fail(w, n, "expected %s, got %s", kiln_yaml_kind_name(kind),
					   kiln_yaml_node_kind(n));
	return 0;
}

/* Edits (insert, delete, replace, swap two neighbours) that turn a into b;
 * UINT_MAX for strings too long to be a typo of a key. */
static unsigned edit_distance(const char *a, size_t alen, const char *b)
{
	enum { MAX = 32 };
	size_t blen = strlen(b);
	unsigned d[MAX + 1][MAX + 1];

	if (alen > MAX || blen > MAX)
		return UINT_MAX;
	for (size_t i = 0; i <= alen; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= blen; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= alen; i++) {
		for (size_t j = 1; j <= blen; j++) {
			unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[alen][blen];
}

static int unknown_key(struct kiln_yaml_walk *w, const struct kiln_yaml_node *k,
		       const char *const *keys, unsigned n_keys)
{
	_cleanup_buf_ struct kiln_buf list = KILN_BUF_INIT;
	const char *guess = NULL;
	/* Suggest the nearest key for a typo, not for a short word that is
	 * merely two letters from one. */
	unsigned best = k->value_len <= 4 ? 2 : 3;

	for (unsigned j = 0; j < n_keys; j++) {
		unsigned d = edit_distance(k->value, k->value_len, keys[j]);

		kiln_buf_printf(&list, "%s%s", j ? ", " : "", keys[j]);
		if (d < best) {
			best = d;
			guess = keys[j];
		}
	}
	if (guess)
		return kiln_yaml_walk_fail(w, k, "unknown key %s (expected one of: %s); did you mean \"%s\"?",
					   kiln_yaml_walk_quote_node(w, k), list.data, guess);
	return kiln_yaml_walk_fail(w, k, "unknown key %s (expected one of: %s)",
				   kiln_yaml_walk_quote_node(w, k), list.data);
}

int kiln_yaml_walk_map(struct kiln_yaml_walk *w, const struct kiln_yaml_node *map,
		       const char *const *keys, unsigned required, kiln_yaml_field_fn fn, void *obj)
{
	bool seen[32] = { false };
	unsigned n_keys = 0;

	while (keys[n_keys])
		n_keys++;
	if (kiln_yaml_walk_expect(w, map, KILN_YAML_MAPPING) < 0)
		return -1;
	for (size_t i = 0; i < map->n_items; i++) {
		const struct kiln_yaml_node *k = map->keys[i];
		unsigned idx;
		size_t old;
		int rc;

		for (idx = 0; idx < n_keys; idx++)
			if (strcmp(keys[idx], k->value) == 0)
				break;
		if (idx == n_keys)
			return unknown_key(w, k, keys, n_keys);
		/* The reader refused duplicate keys. */
		seen[idx] = true;
		if (!fn)
			continue;
		old = kiln_yaml_walk_push_key(w, keys[idx], k->value_len);
		rc = fn(w, idx, map->items[i], obj);
		kiln_yaml_walk_pop(w, old);
		if (rc < 0)
			return -1;
	}
	{
		_cleanup_buf_ struct kiln_buf missing = KILN_BUF_INIT;
		unsigned n_missing = 0, last = 0;

		for (unsigned j = 0; j < n_keys; j++)
			if ((required & (1u << j)) && !seen[j])
				n_missing++, last = j;
		if (n_missing == 0)
			return 0;
		for (unsigned j = 0, count = 0; j < n_keys; j++) {
			if (!(required & (1u << j)) || seen[j])
				continue;
			if (count++)
				kiln_buf_adds(&missing, j == last ? " and " : ", ");
			kiln_buf_printf(&missing, "\"%s\"", keys[j]);
		}
		return kiln_yaml_walk_fail(w, map, "missing required key%s %s (in the mapping that starts here)",
					   n_missing > 1 ? "s" : "", missing.data);
	}
}

int kiln_yaml_walk_entries(struct kiln_yaml_walk *w, const struct kiln_yaml_node *map,
			   const char *key_what, kiln_yaml_rule_fn key_rule, kiln_yaml_entry_fn fn,
			   void *obj)
{
	if (kiln_yaml_walk_expect(w, map, KILN_YAML_MAPPING) < 0)
		return -1;
	for (size_t i = 0; i < map->n_items; i++) {
		const struct kiln_yaml_node *k = map->keys[i];
		const char *why;
		size_t old;
		int rc;

		if ((why = key_rule(k->value, k->value_len)))
			return kiln_yaml_walk_fail(w, k, "%s is not a valid %s: %s",
						   kiln_yaml_walk_quote_node(w, k), key_what, why);
		old = kiln_yaml_walk_push_key(w, k->value, k->value_len);
		rc = fn(w, i, k, map->items[i], obj);
		kiln_yaml_walk_pop(w, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The reader                                                                */

static unsigned clamp_uint(size_t v)
{
	return v == 0 || v >= UINT_MAX ? UINT_MAX : (unsigned)v;
}

/* A problem with a value (a duplicate key, a NUL): its key path is named. */
static int fail_value(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_value(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;
	int rc;

	/* libyaml counts from 0, messages from 1. */
	va_start(ap, fmt);
	rc = walk_fail_at(&b->walk, clamp_uint(mark.line + 1), clamp_uint(mark.column + 1), fmt, ap);
	va_end(ap);
	return rc;
}

/* A problem with the text itself (an anchor, a tag, the nesting, the
 * size): the line and column say where, a key path would only be noise. */
static int fail_at(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;
	int rc;

	kiln_yaml_walk_pop(&b->walk, 0);
	va_start(ap, fmt);
	rc = walk_fail_at(&b->walk, clamp_uint(mark.line + 1), clamp_uint(mark.column + 1), fmt, ap);
	va_end(ap);
	return rc;
}

/* A syntax or reader error is about the text, not a value: no path. */
static int syntax_error(struct builder *b)
{
	const yaml_parser_t *p = &b->parser;
	const char *problem = p->problem ? p->problem : "unknown error";
	const char *tab_hint = "";
	const char *origin = b->walk.origin;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return kiln_error_set(b->walk.err, "%s:1:1: out of memory reading YAML", origin);
	case YAML_READER_ERROR: {
		/* Bad UTF-8 or a character YAML refuses: an offset, no mark. */
		unsigned line, column;
		_cleanup_free_ char *what = kiln_yaml_reader_problem(
			b->data, b->len, problem, p->problem_offset, p->problem_value, &line, &column);
		return kiln_error_set(b->walk.err, "%s:%u:%u: not valid UTF-8 text: %s", origin,
				      line, column, what);
	}
	default:
		/* The commonest cause, worth naming. */
		if (p->problem_mark.index < b->len && b->data[p->problem_mark.index] == '\t')
			tab_hint = "; YAML does not allow tabs for indentation, use spaces";
		if (p->context)
			return kiln_error_set(b->walk.err,
					      "%s:%u:%u: YAML syntax error: %s (%s at line %u, column %u)%s",
					      origin, clamp_uint(p->problem_mark.line + 1),
					      clamp_uint(p->problem_mark.column + 1), problem, p->context,
					      clamp_uint(p->context_mark.line + 1),
					      clamp_uint(p->context_mark.column + 1), tab_hint);
		return kiln_error_set(b->walk.err, "%s:%u:%u: YAML syntax error: %s%s", origin,
				      clamp_uint(p->problem_mark.line + 1),
				      clamp_uint(p->problem_mark.column + 1), problem, tab_hint);
	}
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev)) {
		/* The path is of the value being read, not of the bad text. */
		return syntax_error(b);
	}
	return 0;
}

/* A hash index of one mapping's keys (slot: key position + 1, 0 empty), so
 * finding duplicates stays linear: comparing every key with every other
 * made a 100,000-key mapping take 20 seconds. */
struct key_index {
	size_t *slots;
	size_t cap;
};

/* The slot of a key equal to key in map, or the empty slot where it goes. */
static size_t key_slot(const struct key_index *ki, const struct kiln_yaml_node *map,
		       const struct kiln_yaml_node *key)
{
	size_t s = (size_t)kiln_hash_fnv1a(key->value, key->value_len) & (ki->cap - 1);
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

static const char *quoted(struct builder *b, const yaml_char_t *s)
{
	return kiln_yaml_walk_quote(&b->walk, (const char *)s, strlen((const char *)s));
}

/* Anchors and aliases are how "billion laughs" documents multiply
 * themselves; kiln's files have no need for them.  Tags would give a
 * scalar a type, and every value here is a string. */
static int check_plain_node(struct builder *b, const yaml_event_t *ev, const yaml_char_t *anchor,
			    const yaml_char_t *tag)
{
	const char *what = b->opts->what;

	if (anchor)
		return fail_at(b, ev->start_mark, "anchors (&name) are not allowed in a %s: found %s",
			       what, quoted(b, anchor));
	/* Any tag written out, even the non-specific "!". */
	if (tag)
		return fail_at(b, ev->start_mark,
			       "explicit tags are not allowed in a %s (every value is a string): found %s",
			       what, quoted(b, tag));
	if (++b->nodes > b->opts->max_nodes)
		return fail_at(b, ev->start_mark, "more than %zu values: too large for a %s",
			       b->opts->max_nodes, what);
	return 0;
}

/* Build the node that starts with ev (ownership of ev stays with caller);
 * depth counts the sequences and mappings around it. */
static struct kiln_yaml_node *build(struct builder *b, yaml_event_t *ev, unsigned depth)
{
	struct kiln_yaml_node *n = NULL;
	struct key_index ki = { NULL, 0 };

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		fail_at(b, ev->start_mark, "aliases (*name) are not allowed in a %s: found %s",
			b->opts->what, quoted(b, ev->data.alias.anchor));
		return NULL;
	case YAML_SCALAR_EVENT:
		if (check_plain_node(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag) < 0)
			return NULL;
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
			fail_value(b, ev->start_mark, "%s contains a NUL byte",
				kiln_yaml_walk_quote(&b->walk, (const char *)ev->data.scalar.value,
						     ev->data.scalar.length));
			return NULL;
		}
		n = kiln_xcalloc(1, sizeof(*n));
		n->kind = KILN_YAML_SCALAR;
		n->line = clamp_uint(ev->start_mark.line + 1);
		n->column = clamp_uint(ev->start_mark.column + 1);
		n->value = kiln_xstrndup((char *)ev->data.scalar.value, ev->data.scalar.length);
		n->value_len = ev->data.scalar.length;
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		return n;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		yaml_char_t *anchor = map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
		yaml_char_t *tag = map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;

		if (check_plain_node(b, ev, anchor, tag) < 0)
			return NULL;
		if (depth >= KILN_YAML_MAX_DEPTH) {
			fail_at(b, ev->start_mark, "nested deeper than %d levels", KILN_YAML_MAX_DEPTH);
			return NULL;
		}
		n = kiln_xcalloc(1, sizeof(*n));
		n->kind = map ? KILN_YAML_MAPPING : KILN_YAML_SEQUENCE;
		n->line = clamp_uint(ev->start_mark.line + 1);
		n->column = clamp_uint(ev->start_mark.column + 1);
		for (;;) {
			yaml_event_t child;
			struct kiln_yaml_node *key = NULL, *value;
			size_t key_at = 0, old;

			if (next_event(b, &child) < 0)
				goto fail;
			if (child.type == (map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT)) {
				yaml_event_delete(&child);
				free(ki.slots);
				return n;
			}
			if (map) {
				if (child.type != YAML_SCALAR_EVENT && child.type != YAML_ALIAS_EVENT) {
					fail_value(b, child.start_mark, "keys must be strings, got %s",
						child.type == YAML_SEQUENCE_START_EVENT ? "a list" : "a mapping");
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
					fail_value(b, (yaml_mark_t){ .line = key->line - 1, .column = key->column - 1 },
						"duplicate key %s (first at line %u)",
						kiln_yaml_walk_quote_node(&b->walk, key),
						n->keys[ki.slots[key_at] - 1]->line);
					kiln_yaml_free(key);
					goto fail;
				}
				if (next_event(b, &child) < 0) {
					kiln_yaml_free(key);
					goto fail;
				}
				old = kiln_yaml_walk_push_key(&b->walk, key->value, key->value_len);
			} else {
				old = kiln_yaml_walk_push_index(&b->walk, n->n_items);
			}
			value = build(b, &child, depth + 1);
			yaml_event_delete(&child);
			if (!value) {
				kiln_yaml_free(key);
				goto fail;
			}
			kiln_yaml_walk_pop(&b->walk, old);
			size_t alloc = n->alloc_items;
			kiln_xgrow(&n->items, &n->alloc_items, n->n_items + 1, sizeof(*n->items));
			if (map) {
				kiln_xgrow(&n->keys, &alloc, n->n_items + 1, sizeof(*n->keys));
				n->keys[n->n_items] = key;
				ki.slots[key_at] = n->n_items + 1;
			}
			n->items[n->n_items++] = value;
		}
	}
	default:
		fail_at(b, ev->start_mark, "unexpected YAML event");
		return NULL;
	}
fail:
	free(ki.slots);
	kiln_yaml_free(n);
	return NULL;
}

struct kiln_yaml_node *kiln_yaml_parse(const char *origin, const char *data, size_t len,
				       const struct kiln_yaml_options *opts, struct kiln_error *err)
{
	static const struct kiln_yaml_options defaults = { "YAML file", 1000000 };
	struct builder b = { .opts = opts ? opts : &defaults,
			     .walk = KILN_YAML_WALK_INIT(origin, err) };
	struct kiln_yaml_node *root = NULL;
	yaml_event_t ev;
	int stage = 0; /* 0 stream start, 1 doc start, 2 root, 3 doc end, 4 stream end */

	/* libyaml asserts on a NULL input; an empty buffer may well be NULL. */
	if (!data) {
		data = "";
		len = 0;
	}
	/* Editors may start UTF-8 with a byte-order mark.  libyaml skips one
	 * only when it detects the encoding itself, which we do not let it do;
	 * an editor shows no column for it, so neither do we. */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	b.data = data;
	b.len = len;
	if (!yaml_parser_initialize(&b.parser)) {
		kiln_error_set(err, "%s:1:1: out of memory initialising the YAML parser", origin);
		return NULL;
	}
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)data, len);
	/* kiln's files are UTF-8: no guessing UTF-16 from a BOM. */
	yaml_parser_set_encoding(&b.parser, YAML_UTF8_ENCODING);
	for (;;) {
		if (next_event(&b, &ev) < 0)
			goto fail;
		if (stage == 0 && ev.type == YAML_STREAM_START_EVENT) {
			stage = 1;
		} else if (stage == 1 && ev.type == YAML_DOCUMENT_START_EVENT) {
			stage = 2;
		} else if (stage == 1 && ev.type == YAML_STREAM_END_EVENT) {
			kiln_error_set(err, "%s:1:1: the %s is empty", origin, b.opts->what);
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
			fail_at(&b, ev.start_mark, "a second YAML document: a %s is a single document",
				b.opts->what);
			yaml_event_delete(&ev);
			goto fail;
		} else {
			fail_at(&b, ev.start_mark, "unexpected YAML structure");
			yaml_event_delete(&ev);
			goto fail;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&b.parser);
	kiln_yaml_walk_release(&b.walk);
	return root;
fail:
	yaml_parser_delete(&b.parser);
	kiln_yaml_walk_release(&b.walk);
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
