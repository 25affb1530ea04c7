/* test_lockfile.c - the flock helper of lib/base/lockfile.c: exclusive
 * against exclusive and shared, shared beside shared, the try that does
 * not wait, a file that must exist, and a symlink refused. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fsutil.h"
#include "lockfile.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/kiln-test-lockfile-XXXXXX";

static char *path_of(const char *name)
{
	return kiln_path_join(dir, name);
}

TEST(exclusive_excludes_a_second_opener)
{
	_cleanup_free_ char *p = path_of("a.lock");
	struct kiln_error err = { 0 };
	int a = kiln_lockfile_open(p, 0600, 0, &err), b;

	CHECK(a >= 0);
	/* flock locks belong to the open file description: a second open in
	 * the same process conflicts as another process would. */
	b = kiln_lockfile_open(p, 0600, KILN_LOCKFILE_TRY, &err);
	CHECK(b == KILN_LOCKFILE_BUSY);
	b = kiln_lockfile_open(p, 0600, KILN_LOCKFILE_TRY | KILN_LOCKFILE_SHARED, &err);
	CHECK(b == KILN_LOCKFILE_BUSY);
	close(a);
	b = kiln_lockfile_open(p, 0600, KILN_LOCKFILE_TRY, &err);
	CHECK(b >= 0);
	close(b);
}

TEST(shared_beside_shared_not_exclusive)
{
	_cleanup_free_ char *p = path_of("b.lock");
	struct kiln_error err = { 0 };
	int a = kiln_lockfile_open(p, 0600, KILN_LOCKFILE_SHARED, &err);
	int b = kiln_lockfile_open(p, 0600, KILN_LOCKFILE_SHARED | KILN_LOCKFILE_TRY, &err);
	int c = kiln_lockfile_open(p, 0600, KILN_LOCKFILE_TRY, &err);

	CHECK(a >= 0);
	CHECK(b >= 0);
	CHECK(c == KILN_LOCKFILE_BUSY);
	/* Dropping one shared lock is not enough; dropping both is. */
	kiln_lockfile_unlock(a);
	CHECK(kiln_lockfile_lock(b, p, KILN_LOCKFILE_TRY, &err) == 0); /* upgrade: alone now */
	close(a);
	close(b);
}

TEST(no_create_reports_enoent)
{
	_cleanup_free_ char *p = path_of("missing.lock");
	struct kiln_error err = { 0 };
	int fd = kiln_lockfile_open(p, 0600, KILN_LOCKFILE_NO_CREATE | KILN_LOCKFILE_TRY, &err);

	CHECK(fd == -1);
	CHECK(errno == ENOENT);
	CHECK_CONTAINS(err.message, p);
	CHECK(access(p, F_OK) < 0);
}

TEST(symlink_is_refused_with_the_path)
{
	_cleanup_free_ char *p = path_of("link.lock"), *target = path_of("target");
	struct kiln_error err = { 0 };
	int fd;

	CHECK(symlink(target, p) == 0);
	fd = kiln_lockfile_open(p, 0600, 0, &err);
	CHECK(fd == -1);
	CHECK_CONTAINS(err.message, p);
	CHECK(access(target, F_OK) < 0); /* not created through the link */
}

int main(void)
{
	struct kiln_error err = { 0 };

	if (!mkdtemp(dir))
		return 1;
	RUN(exclusive_excludes_a_second_opener);
	RUN(shared_beside_shared_not_exclusive);
	RUN(no_create_reports_enoent);
	RUN(symlink_is_refused_with_the_path);
	kiln_remove_tree(dir, &err);
	return tap_done();
}
