/* accounts.h - /etc/passwd, /etc/group and /etc/shadow of an image, as
 * text, from the manifest's users and groups (docs/manifest.md).
 *
 * root comes first and nobody/nogroup last, the manifest's entries in
 * between in their order; every account is locked in shadow (root and
 * nobody '*', users '!').  The day of the last password change is the
 * layer epoch's day, as useradd writes it under SOURCE_DATE_EPOCH; an
 * epoch within day 0 leaves the field empty (aging disabled), never 0,
 * which shadow(5) reads as "must change the password at the next login".
 * Pure: the same manifest and epoch give the same bytes.
 */
#ifndef KILN_ACCOUNTS_H
#define KILN_ACCOUNTS_H

#include "manifest.h"
#include "util.h"

#include <stdint.h>

/* Seconds in shadow(5)'s day. */
#define KILN_ACCOUNTS_DAY 86400

struct kiln_accounts {
	struct kiln_buf passwd, group, shadow;
};

/* Fill a (zeroed, or released) with the three files' text; epoch is the
 * layer epoch in seconds (the manifest's epoch:). */
void kiln_accounts_format(const struct kiln_manifest *m, int64_t epoch, struct kiln_accounts *a);
/* One /etc/shadow line for name (password "*" or "!"), its last change
 * the epoch's day as above. */
void kiln_accounts_shadow_line(struct kiln_buf *shadow, const char *name, const char *password, int64_t epoch);
/* Free what a holds. */
void kiln_accounts_release(struct kiln_accounts *a);

#endif
