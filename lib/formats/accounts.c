/* accounts.c - the image's passwd, group and shadow text; see accounts.h. */
#include "accounts.h"

void kiln_accounts_format(const struct kiln_manifest *m, struct kiln_accounts *a)
{
	kiln_buf_adds(&a->passwd, "root:x:0:0:root:/root:/bin/sh\n");
	kiln_buf_adds(&a->group, "root:x:0:\n");
	kiln_buf_adds(&a->shadow, "root:*:0:0:99999:7:::\n");
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
		kiln_buf_printf(&a->shadow, "%s:!:0:0:99999:7:::\n", u->name);
	}
	kiln_buf_adds(&a->passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	kiln_buf_adds(&a->group, "nogroup:x:65534:\n");
	kiln_buf_adds(&a->shadow, "nobody:*:0:0:99999:7:::\n");
}

void kiln_accounts_release(struct kiln_accounts *a)
{
	kiln_buf_release(&a->passwd);
	kiln_buf_release(&a->group);
	kiln_buf_release(&a->shadow);
}
