/* test_accounts.c - lib/formats/accounts.c: the image's passwd, group
 * and shadow text, byte for byte (the examples' digests depend on it). */
#include "accounts.h"
#include "tap.h"

TEST(no_accounts_root_and_nobody)
{
	struct kiln_manifest m = { 0 };
	struct kiln_accounts a = { KILN_BUF_INIT, KILN_BUF_INIT, KILN_BUF_INIT };

	kiln_accounts_format(&m, 0, &a);
	CHECK_STR(a.passwd.data, "root:x:0:0:root:/root:/bin/sh\n"
				 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	CHECK_STR(a.group.data, "root:x:0:\nnogroup:x:65534:\n");
	CHECK_STR(a.shadow.data, "root:*::0:99999:7:::\nnobody:*::0:99999:7:::\n");
	kiln_accounts_release(&a);
}

TEST(users_and_groups_in_manifest_order_locked)
{
	char *members[] = { "web", "ops" };
	struct kiln_group groups[] = { { "www", "33", members, 2 }, { "empty", "40", NULL, 0 } };
	struct kiln_user users[] = {
		{ "web", "1000", "33", "/srv/web", "/bin/sh", NULL, 0 },
		{ "svc", "1001", "1001", NULL, NULL, NULL, 0 },
	};
	struct kiln_manifest m = { 0 };
	struct kiln_accounts a = { KILN_BUF_INIT, KILN_BUF_INIT, KILN_BUF_INIT };

	m.groups = groups;
	m.n_groups = 2;
	m.users = users;
	m.n_users = 2;
	kiln_accounts_format(&m, 0, &a);
	CHECK_STR(a.passwd.data, "root:x:0:0:root:/root:/bin/sh\n"
				 "web:x:1000:33::/srv/web:/bin/sh\n"
				 "svc:x:1001:1001::/:/usr/sbin/nologin\n"
				 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	CHECK_STR(a.group.data, "root:x:0:\nwww:x:33:web,ops\nempty:x:40:\nnogroup:x:65534:\n");
	CHECK_STR(a.shadow.data, "root:*::0:99999:7:::\nweb:!::0:99999:7:::\nsvc:!::0:99999:7:::\n"
				 "nobody:*::0:99999:7:::\n");
	kiln_accounts_release(&a);
}

/* The last-change day is the epoch's day (useradd under
 * SOURCE_DATE_EPOCH); day 0 would force a password change at login
 * (shadow(5)), so any epoch inside it leaves the field empty instead. */
TEST(shadow_last_change_is_epoch_day_never_zero)
{
	struct kiln_user users[] = { { "pg", "104", "104", "/var/lib/postgresql", "/bin/bash", NULL, 0 } };
	struct kiln_manifest m = { 0 };
	struct kiln_accounts a = { KILN_BUF_INIT, KILN_BUF_INIT, KILN_BUF_INIT };

	m.users = users;
	m.n_users = 1;
	/* 2023-06-10 12:00:00 UTC is day 19518. */
	kiln_accounts_format(&m, 1686398400, &a);
	CHECK_STR(a.shadow.data, "root:*:19518:0:99999:7:::\npg:!:19518:0:99999:7:::\n"
				 "nobody:*:19518:0:99999:7:::\n");
	kiln_accounts_release(&a);

	kiln_accounts_format(&m, KILN_ACCOUNTS_DAY - 1, &a);
	CHECK_STR(a.shadow.data, "root:*::0:99999:7:::\npg:!::0:99999:7:::\nnobody:*::0:99999:7:::\n");
	kiln_accounts_release(&a);

	kiln_accounts_format(&m, KILN_ACCOUNTS_DAY, &a);
	CHECK_STR(a.shadow.data, "root:*:1:0:99999:7:::\npg:!:1:0:99999:7:::\nnobody:*:1:0:99999:7:::\n");
	kiln_accounts_release(&a);
}

int main(void)
{
	RUN(no_accounts_root_and_nobody);
	RUN(users_and_groups_in_manifest_order_locked);
	RUN(shadow_last_change_is_epoch_day_never_zero);
	return tap_done();
}
