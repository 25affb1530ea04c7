/* debversion.h - Debian version strings: syntax and dpkg's ordering; and
 * the syntax of the package names they go with.
 *
 * A version is [epoch:]upstream[-revision].  Comparison follows dpkg
 * (lib/dpkg/version.c, deb-version(7)): epochs numerically, then upstream
 * and revision by alternating non-digit and digit runs, where in non-digit
 * runs '~' sorts before everything (even the end of the string), letters
 * before non-letters, and digit runs compare numerically.
 */
#ifndef KILN_DEBVERSION_H
#define KILN_DEBVERSION_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* The longest version kiln_debversion_valid accepts.  Debian's longest
 * versions are around 60 characters; the bound keeps hostile input out of
 * messages, paths and file names built from versions. */
#define KILN_DEBVERSION_MAX_LEN 256

/* <0, 0, >0 as a is older than, equal to, newer than b.  Both are assumed to
 * be syntactically valid; invalid input still compares without crashing.
 * The _n variant takes lengths (strings need not be NUL-terminated). */
int kiln_debversion_compare(const char *a, const char *b);
int kiln_debversion_compare_n(const char *a, size_t alen, const char *b, size_t blen);

/* True when s[0..len) is an exact, well-formed Debian version (what dpkg
 * accepts for a binary package's Version field, checked strictly):
 * optional epoch of digits, upstream starting with a digit and made of
 * [A-Za-z0-9.+~-:] ('-' only when there is a revision, ':' only when there
 * is an epoch), revision of [A-Za-z0-9.+~].  On false, *why (may be NULL) is
 * set to a static string saying what is wrong. */
bool kiln_debversion_valid(const char *s, size_t len, const char **why);

/* Is name[0..len) a valid Debian package name: at least 2 characters of
 * [a-z0-9+.-], starting with a letter or digit (Debian Policy 5.6.7)? */
bool kiln_debversion_package_name_valid(const char *name, size_t len);

/* Version relations as in Depends: "<<", "<=", "=", ">=", ">>". */
enum kiln_relation {
	KILN_REL_ANY = 0, /* no version constraint */
	KILN_REL_LT,      /* << */
	KILN_REL_LE,      /* <= (also the obsolete "<") */
	KILN_REL_EQ,      /* = */
	KILN_REL_GE,      /* >= (also the obsolete ">") */
	KILN_REL_GT,      /* >> */
};

/* Does version v satisfy "rel want"? */
bool kiln_debversion_satisfies(const char *v, size_t vlen, enum kiln_relation rel,
			       const char *want, size_t wantlen);

/* The relation's spelling ("<<", …; "" for ANY). */
const char *kiln_debversion_relation_str(enum kiln_relation rel);

#endif
