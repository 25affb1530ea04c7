/* accounts.h - /etc/passwd, /etc/group and /etc/shadow of an image, as
 * text, from the manifest's users and groups (docs/manifest.md).
 *
 * root comes first and nobody/nogroup last, the manifest's entries in
 * between in their order; every account is locked in shadow (root and
 * nobody '*', users '!').  Pure: the same manifest gives the same bytes.
 */
#ifndef KILN_ACCOUNTS_H
#define KILN_ACCOUNTS_H

#include "manifest.h"
#include "util.h"

struct kiln_accounts {
	struct kiln_buf passwd, group, shadow;
};

/* Fill a (zeroed, or released) with the three files' text. */
void kiln_accounts_format(const struct kiln_manifest *m, struct kiln_accounts *a);
/* Free what a holds. */
void kiln_accounts_release(struct kiln_accounts *a);

#endif
