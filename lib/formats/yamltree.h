/* yamltree.h - the one YAML reader of kiln's own files (kiln.yaml,
 * kiln.lock) and the schema walker both are checked with.
 *
 * (Not "yaml.h": that is libyaml's header, and an -I path would shadow it.)
 *
 * The reader builds a tree from libyaml's event stream so that what kiln
 * refuses is refused before any value is looked at: anchors and aliases
 * (no billion laughs), explicit tags (every value is a string), more than
 * one document, duplicate mapping keys, keys that are not strings, a NUL
 * in any scalar (one policy for every file: refused by the reader, so no
 * consumer can be fooled by a C string cut short), nesting deeper than
 * KILN_YAML_MAX_DEPTH and more nodes than the caller allows.  Every scalar
 * is kept as the text it was written as: there is no implicit typing.
 * Input is UTF-8 (a leading byte-order mark is skipped); text that is not,
 * or holds a character YAML forbids, is refused with its line and column.
 *
 * Every message is "ORIGIN:LINE:COL: PATH: what is wrong", PATH the key
 * path of the offending value ("sources[0].suite"), left out at the top.
 */
#ifndef KILN_YAMLTREE_H
#define KILN_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "util.h"

/* Levels of sequences and mappings, the root included. */
#define KILN_YAML_MAX_DEPTH 64

enum kiln_yaml_kind { KILN_YAML_SCALAR, KILN_YAML_SEQUENCE, KILN_YAML_MAPPING };

struct kiln_yaml_node {
	enum kiln_yaml_kind kind;
	unsigned line, column;        /* 1-based */
	char *value;                  /* scalars: the text, NUL-terminated, holds no NUL */
	size_t value_len;
	bool quoted;                  /* scalar written with quotes or as a block */
	/* Sequences: items; mappings: keys[i] → items[i] (keys are scalars). */
	struct kiln_yaml_node **items;
	struct kiln_yaml_node **keys;
	size_t n_items, alloc_items;
};

struct kiln_yaml_options {
	/* What the file is, for messages: "manifest" gives "anchors are not
	 * allowed in a manifest", "the manifest is empty". */
	const char *what;
	/* Most nodes (scalars, keys included, sequences, mappings) accepted.
	 * A parameter because the files differ by three orders: a manifest is
	 * written by hand and holds a few thousand values, a lock is written
	 * by kiln and grows with the package closure (about 10 values a
	 * package, plus dependencies). */
	size_t max_nodes;
};

/* Parse data as exactly one YAML document; opts NULL means a "YAML file"
 * of at most 1,000,000 nodes.  An empty stream (nothing, or comments only)
 * is an error; a document of one empty value ("---") is an empty plain
 * scalar.  The caller frees the tree with kiln_yaml_free. */
struct kiln_yaml_node *kiln_yaml_parse(const char *origin, const char *data, size_t len,
				       const struct kiln_yaml_options *opts, struct kiln_error *err);
void kiln_yaml_free(struct kiln_yaml_node *node);

static inline void kiln_yaml_freep(struct kiln_yaml_node **n)
{
	kiln_yaml_free(*n);
}
#define _cleanup_yaml_ _cleanup_(kiln_yaml_freep)

/* The value for key in a mapping, or NULL. */
struct kiln_yaml_node *kiln_yaml_get(const struct kiln_yaml_node *map, const char *key);

/* "a string", "an empty value" (plain and empty, `key:`), "a list",
 * "a mapping": what a message says a node is. */
const char *kiln_yaml_node_kind(const struct kiln_yaml_node *n);
/* "a string", "a list", "a mapping": what a message says was wanted. */
const char *kiln_yaml_kind_name(enum kiln_yaml_kind kind);

/* libyaml's reader error (text that is not UTF-8, or a character YAML does
 * not allow), said about data, the text libyaml was given: libyaml names
 * only a byte offset, and a value that is the offending byte for a bad
 * octet but the decoded code point otherwise (U+D800 for the CESU-8 bytes
 * ED A0 80).  Sets *line and *column (from 1; the column in characters)
 * and returns "PROBLEM (byte 0xNN)" or "PROBLEM (bytes 0xNN 0xNN…: U+XXXX)"
 * with the bytes as they stand in data.  The caller frees it. */
char *kiln_yaml_reader_problem(const char *data, size_t len, const char *problem, size_t offset,
			       int value, unsigned *line, unsigned *column);

/* ------------------------------------------------------------------------ */
/* The schema walker: a key path for messages, kinds, keys.                  */

struct kiln_yaml_walk {
	const char *origin;
	struct kiln_error *err;
	struct kiln_buf path;       /* "sources[0].suite" */
	struct kiln_buf quotes[4];  /* scratch space for quoted values in one message */
	unsigned next_quote;
};

#define KILN_YAML_WALK_INIT(origin_, err_) { .origin = (origin_), .err = (err_) }

void kiln_yaml_walk_release(struct kiln_yaml_walk *w);
#define _cleanup_yaml_walk_ _cleanup_(kiln_yaml_walk_release)

/* Fill w->err with "ORIGIN:LINE:COL: PATH: message" about node at; -1. */
int kiln_yaml_walk_fail(struct kiln_yaml_walk *w, const struct kiln_yaml_node *at,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* s[0..len) double-quoted, quotes, backslashes and control characters
 * escaped so a hostile value cannot drive a terminal, cut after 80 bytes
 * (on a UTF-8 boundary) with "..." after the closing quote.  Valid until
 * three more quote calls on w. */
const char *kiln_yaml_walk_quote(struct kiln_yaml_walk *w, const char *s, size_t len);
const char *kiln_yaml_walk_quote_node(struct kiln_yaml_walk *w, const struct kiln_yaml_node *n);

/* Path elements; push returns the length to give back to pop. */
size_t kiln_yaml_walk_push_key(struct kiln_yaml_walk *w, const char *key, size_t len);
size_t kiln_yaml_walk_push_index(struct kiln_yaml_walk *w, size_t i);
void kiln_yaml_walk_pop(struct kiln_yaml_walk *w, size_t old);

/* "expected a list, got a string" unless n is of kind. */
int kiln_yaml_walk_expect(struct kiln_yaml_walk *w, const struct kiln_yaml_node *n,
			  enum kiln_yaml_kind kind);

typedef int (*kiln_yaml_field_fn)(struct kiln_yaml_walk *w, unsigned key,
				  const struct kiln_yaml_node *value, void *obj);

/* A mapping with a fixed set of keys (NULL-terminated; at most 32), of
 * which those whose bit is set in required must be there.  An unknown key
 * is refused naming the expected ones, and the nearest of them when it
 * looks like a typo ("did you mean \"suite\"?").  fn, when not NULL, is
 * called for each key in file order with the key pushed on the path. */
int kiln_yaml_walk_map(struct kiln_yaml_walk *w, const struct kiln_yaml_node *map,
		       const char *const *keys, unsigned required, kiln_yaml_field_fn fn, void *obj);

/* NULL when s[0..len) is fine, else why not (a rule for values). */
typedef const char *(*kiln_yaml_rule_fn)(const char *s, size_t len);
typedef int (*kiln_yaml_entry_fn)(struct kiln_yaml_walk *w, size_t index,
				  const struct kiln_yaml_node *key, const struct kiln_yaml_node *value,
				  void *obj);

/* A mapping whose keys are data (packages, env, labels): each key must
 * pass key_rule ("\"k\" is not a valid KEY_WHAT: WHY"); fn sees each pair
 * in file order with the key pushed on the path. */
int kiln_yaml_walk_entries(struct kiln_yaml_walk *w, const struct kiln_yaml_node *map,
			   const char *key_what, kiln_yaml_rule_fn key_rule, kiln_yaml_entry_fn fn,
			   void *obj);

#endif
