/* yamltree.h - a strict, small YAML tree for kiln's own files.
 *
 * Built from libyaml's event stream so that what kiln refuses is refused
 * before any value is looked at: anchors and aliases (no billion laughs),
 * explicit tags, more than one document, duplicate mapping keys, nesting
 * deeper than 64 and more than 1,000,000 nodes.  Every scalar is kept as
 * the text it was written as: there is no implicit typing.
 */
#ifndef KILN_YAMLTREE_H
#define KILN_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

enum kiln_yaml_kind { KILN_YAML_SCALAR, KILN_YAML_SEQUENCE, KILN_YAML_MAPPING };

struct kiln_yaml_node {
	enum kiln_yaml_kind kind;
	unsigned line, column;        /* 1-based */
	char *value;                  /* scalars: the text (may contain NUL? no: refused) */
	size_t value_len;
	bool quoted;                  /* scalar written with quotes or as a block */
	/* Sequences: items; mappings: keys[i] → items[i] (keys are scalars). */
	struct kiln_yaml_node **items;
	struct kiln_yaml_node **keys;
	size_t n_items, alloc_items;
};

/* Parse data as exactly one YAML document.  origin names it in messages:
 * "origin:LINE:COL: message".  An empty document is an error. */
struct kiln_yaml_node *kiln_yaml_parse(const char *origin, const char *data, size_t len,
				       struct kiln_error *err);
void kiln_yaml_free(struct kiln_yaml_node *node);

/* The value for key in a mapping, or NULL. */
struct kiln_yaml_node *kiln_yaml_get(const struct kiln_yaml_node *map, const char *key);

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

#endif
