/* packages.h - Packages indexes and dependency fields.
 *
 * An index is loaded by mapping the (already verified) file and keeping
 * slices into it, so a 50 MB index costs one pass and no copies.  Stanzas
 * for architectures other than the one asked for (and "all") are skipped.
 */
#ifndef KILN_PACKAGES_H
#define KILN_PACKAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "debversion.h"
#include "deb822.h"
#include "error.h"

#define KILN_PKG_NONE UINT32_MAX

struct kiln_pkg {
	struct kiln_slice name, version, architecture, multi_arch;
	struct kiln_slice depends, pre_depends, provides, conflicts, breaks;
	struct kiln_slice filename, sha256;
	struct kiln_slice essential;  /* "yes" for the Essential set; empty when absent */
	struct kiln_slice priority;   /* "required", "important", …; empty when absent */
	uint64_t size;
	uint32_t origin;          /* the `origin` given to kiln_packages_add_file */
	uint32_t file;            /* which loaded file (for messages) */
	uint32_t line;            /* line of the stanza in that file */
	uint32_t next_same_name;  /* chain of packages with this name */
};

/* One name (or version) a Provides field offers. */
struct kiln_provide {
	struct kiln_slice name;
	struct kiln_slice version; /* empty for an unversioned Provides */
	uint32_t pkg;
	uint32_t next;             /* chain of providers of this name */
};

struct kiln_packages;

struct kiln_packages *kiln_packages_new(const char *architecture);
void kiln_packages_free(struct kiln_packages *idx);

/* Map and index the Packages file at path.  origin is the caller's tag for
 * where the file came from (the source's position in the manifest); label
 * names the file in messages.  Malformed stanzas are errors naming label:line. */
int kiln_packages_add_file(struct kiln_packages *idx, const char *path, const char *label,
			   uint32_t origin, struct kiln_error *err);
/* The same for bytes in memory (copied); used by tests and fuzzers. */
int kiln_packages_add_buffer(struct kiln_packages *idx, const char *data, size_t len,
			     const char *label, uint32_t origin, struct kiln_error *err);

size_t kiln_packages_count(const struct kiln_packages *idx);
const struct kiln_pkg *kiln_packages_get(const struct kiln_packages *idx, uint32_t i);
const char *kiln_packages_file_label(const struct kiln_packages *idx, uint32_t file);

/* First package named name (then follow next_same_name), or KILN_PKG_NONE. */
uint32_t kiln_packages_lookup(const struct kiln_packages *idx, const char *name, size_t len);
/* First Provides entry offering name (then follow ->next), or KILN_PKG_NONE. */
uint32_t kiln_packages_providers(const struct kiln_packages *idx, const char *name, size_t len);
const struct kiln_provide *kiln_packages_provide(const struct kiln_packages *idx, uint32_t i);

/* A relation in a Depends-style field: NAME[:ARCH] [(REL VERSION)]. */
struct kiln_dep_atom {
	struct kiln_slice name;
	struct kiln_slice arch_qualifier;   /* "any", "native", an arch, or empty */
	enum kiln_relation rel;
	struct kiln_slice version;
};

/* A parsed field: clauses of alternatives ("a | b, c" is two clauses).
 * Clause i holds atoms [clause_start(i), clause_end[i]). */
struct kiln_deps {
	struct kiln_dep_atom *atoms; size_t n_atoms, alloc_atoms;
	size_t *clause_end; size_t n_clauses, alloc_clauses;
};
#define KILN_DEPS_INIT { 0 }

/* Parse a Depends/Pre-Depends/Conflicts/Breaks/Provides field.  Build
 * profile and architecture restrictions are accepted and ignored (binary
 * indexes do not carry them).  allow_alternatives is false for fields
 * where '|' is not allowed (Conflicts, Breaks, Provides). */
int kiln_deps_parse(struct kiln_slice field, bool allow_alternatives, struct kiln_deps *out,
		    struct kiln_error *err);
static inline size_t kiln_deps_clause_start(const struct kiln_deps *d, size_t i)
{
	return i == 0 ? 0 : d->clause_end[i - 1];
}
void kiln_deps_release(struct kiln_deps *d);

#endif
