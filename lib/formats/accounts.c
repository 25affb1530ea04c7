/* accounts.c - the image's passwd, group and shadow text; see accounts.h. */
#include "accounts.h"

/* shadow(5)'s third field, the day of the last password change.  0 would
 * mean "change the password at the next login", so a day that rounds to 0
 * is written as an empty field (aging disabled), as useradd does. */
void kiln_accounts_shadow_line(struct kiln_buf *shadow, const char *name, const char *password, int64_t epoch)
{
	if (epoch >= KILN_ACCOUNTS_DAY)
		kiln_buf_printf(shadow, "%s:%s:%lld:0:99999:7:::\n", name, password,
				(long long)(epoch / KILN_ACCOUNTS_DAY));
	else
		kiln_buf_printf(shadow, "%s:%s::0:99999:7:::\n", name, password);
}

void kiln_accounts_format(const struct kiln_manifest *m, int64_t epoch, struct kiln_accounts *a)
{
	kiln_buf_adds(&a->passwd, "root:x:0:0:root:/root:/bin/sh\n");
	kiln_buf_adds(&a->group, "root:x:0:\n");
	kiln_accounts_shadow_line(&a->shadow, "root", "*", epoch);
	for (size_t i = 0; i < m->n_groups; i++) {
		const struct kiln_group *g = &m->groups[i];
		kiln_buf_printf(&a->group, "%s:x:%s:", g->name, g->gid);
		for (size_t j = 0; j < g->n_members; j++)
			kiln_buf_printf(&a->group, "%s%s", j ? "," : "", g->members[j]);
		kiln_buf_addch(&a->group, '\n');
	}
	for (size_t i = 0; i < m->n_users; i++) {
		const struct kiln_user *u = &m->users[i];
		kiln_buf_printf(&a->passwd, "%s:x:%s:%s::%s:%s\n", u->name, u->uid, u->gid,
				u->home ? u->home : "/", u->shell ? u->shell : "/usr/sbin/nologin");
		kiln_accounts_shadow_line(&a->shadow, u->name, "!", epoch);
	}
	kiln_buf_adds(&a->passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	kiln_buf_adds(&a->group, "nogroup:x:65534:\n");
	kiln_accounts_shadow_line(&a->shadow, "nobody", "*", epoch);
}

void kiln_accounts_release(struct kiln_accounts *a)
{
	kiln_buf_release(&a->passwd);
	kiln_buf_release(&a->group);
	kiln_buf_release(&a->shadow);
}
