/* deb822.h - scanning Debian control-format text (Release, Packages,
 * .sources, status files) without copying it.
 *
 * Text is a sequence of paragraphs separated by blank lines; each field is
 * "Name: value", continued on lines that start with a space or tab.  The
 * scanner hands out slices of the caller's buffer; nothing is allocated.
 */
#ifndef KILN_DEB822_H
#define KILN_DEB822_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "util.h"   /* struct kiln_slice */

struct kiln_deb822 {
	const char *pos, *end;
	unsigned line;            /* 1-based line of the next unread byte */
	const char *origin;       /* file name for messages */
	bool allow_comments;      /* '#' lines are comments (.sources files) */
	bool in_paragraph;        /* a field of the current paragraph was returned */
};

void kiln_deb822_init(struct kiln_deb822 *s, const char *origin, const char *data, size_t len);

/* Next field of the current paragraph.
 * Returns 1 with name and value set (value: first line stripped, continuation
 * lines included verbatim with their newlines, trailing whitespace
 * removed) and *line the field's line; 0 at the end of a paragraph (a blank
 * line, or the end of the text, which also sets *eof: the paragraph read so
 * far, if any, is complete and nothing follows); -1 on malformed text (err
 * says where). */
int kiln_deb822_next(struct kiln_deb822 *s, struct kiln_slice *name, struct kiln_slice *value,
		     unsigned *line, bool *eof, struct kiln_error *err);

bool kiln_slice_eq(struct kiln_slice s, const char *lit);
bool kiln_slice_eq_nocase(struct kiln_slice s, const char *lit);
/* Parse a decimal unsigned 64-bit number filling the slice exactly. */
bool kiln_slice_to_u64(struct kiln_slice s, unsigned long long *out);
/* Split off the next whitespace-separated word; false when none is left. */
bool kiln_slice_next_word(struct kiln_slice *rest, struct kiln_slice *word);

#endif
