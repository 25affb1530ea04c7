/* test_locker.c - `kiln lock`'s orchestration (lib/ops/locker.c) against the
 * shared fixture's apt repositories on 127.0.0.1 (tests/fixtures/README.md):
 * a small closure resolved and written, a second run finding it current,
 * and an unsigned or wrongly signed Release refused with the previous lock
 * left exactly as it was. */
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "lock.h"
#include "locker.h"
#include "opsfix.h"
#include "tap.h"

static char *read_text(const char *path)
{
	struct kiln_error err = { 0 };
	size_t len;
	return kiln_file_read(path, 1 << 20, &len, &err);
}

/* app 2.0 depends on applib (>= 2.0) and data-all: a closure of three. */
TEST(resolves_small_closure)
{
	struct opsfix f;
	struct kiln_locker_options o = { 0 };
	struct kiln_locker_result r = { 0 };
	struct kiln_error err = { 0 };

	opsfix_init(&f, "locker");
	opsfix_manifest(&f, "t", "good", "{app: \"2.0\"}");
	o.manifest_path = f.manifest;
	CHECK(kiln_locker_run(&o, &r, &err) == 0);
	CHECK_STR(err.message, "");
	CHECK(r.written);
	CHECK(!r.current);
	CHECK(r.n_packages == 3);
	CHECK(r.n_changes == 3);
	CHECK_STR(r.lock_path, f.lock);

	_cleanup_free_ char *text = read_text(f.lock);
	CHECK_CONTAINS(text, "app");
	CHECK_CONTAINS(text, "applib");
	CHECK_CONTAINS(text, "data-all");
	CHECK_CONTAINS(text, "sha256");
	kiln_locker_result_release(&r);

	/* The same manifest again: current, not rewritten, no change. */
	memset(&r, 0, sizeof(r));
	CHECK(kiln_locker_run(&o, &r, &err) == 0);
	CHECK(r.current);
	CHECK(!r.written);
	CHECK(r.n_changes == 0);
	_cleanup_free_ char *again = read_text(f.lock);
	CHECK(text && again && strcmp(text, again) == 0);
	kiln_locker_result_release(&r);
	opsfix_release(&f);
}

/* --check on a manifest whose lock is stale fails and writes nothing. */
TEST(check_refuses_stale_lock)
{
	struct opsfix f;
	struct kiln_locker_options o = { 0 };
	struct kiln_locker_result r = { 0 };
	struct kiln_error err = { 0 };

	opsfix_init(&f, "locker");
	opsfix_manifest(&f, "t", "good", "{app: \"2.0\"}");
	o.manifest_path = f.manifest;
	CHECK(kiln_locker_run(&o, &r, &err) == 0);
	kiln_locker_result_release(&r);
	_cleanup_free_ char *before = read_text(f.lock);

	opsfix_manifest(&f, "t", "good", "{app: \"1.0\"}");
	o.check = true;
	memset(&r, 0, sizeof(r));
	CHECK(kiln_locker_run(&o, &r, &err) < 0);
	CHECK(err.message[0] != '\0');
	CHECK(!r.written);
	_cleanup_free_ char *after = read_text(f.lock);
	CHECK(before && after && strcmp(before, after) == 0);
	kiln_locker_result_release(&r);
	opsfix_release(&f);
}

/* A repository with no signature at all, and one signed by another key:
 * both refused, the error names the Release, and the earlier lock stays. */
TEST(refuses_unsigned_release)
{
	static const char *const repos[] = { "unsigned", "badsig" };

	for (size_t i = 0; i < 2; i++) {
		struct opsfix f;
		struct kiln_locker_options o = { 0 };
		struct kiln_locker_result r = { 0 };
		struct kiln_error err = { 0 };

		opsfix_init(&f, "locker");
		opsfix_manifest(&f, "t", "good", "{app: \"1.0\"}");
		o.manifest_path = f.manifest;
		CHECK(kiln_locker_run(&o, &r, &err) == 0);
		kiln_locker_result_release(&r);
		_cleanup_free_ char *before = read_text(f.lock);

		opsfix_manifest(&f, "t", repos[i], "{app: \"1.0\"}");
		memset(&r, 0, sizeof(r));
		err = (struct kiln_error){ 0 };
		CHECK(kiln_locker_run(&o, &r, &err) < 0);
		printf("# %s: %s\n", repos[i], err.message);
		CHECK_CONTAINS(err.message, repos[i]);
		CHECK(strstr(err.message, "Release") || strstr(err.message, "signature"));
		CHECK(err.code == KILN_EXIT_VERIFY);
		CHECK(!r.written);
		_cleanup_free_ char *after = read_text(f.lock);
		CHECK(before && after && strcmp(before, after) == 0);
		kiln_locker_result_release(&r);
		opsfix_release(&f);
	}
}

/* A package no source has: the error names it, and no lock appears. */
TEST(unknown_package_named)
{
	struct opsfix f;
	struct kiln_locker_options o = { 0 };
	struct kiln_locker_result r = { 0 };
	struct kiln_error err = { 0 };

	opsfix_init(&f, "locker");
	opsfix_manifest(&f, "t", "good", "{no-such-package-here: \"*\"}");
	o.manifest_path = f.manifest;
	CHECK(kiln_locker_run(&o, &r, &err) < 0);
	CHECK_CONTAINS(err.message, "no-such-package-here");
	CHECK(!craft_exists(f.lock));
	kiln_locker_result_release(&r);
	opsfix_release(&f);
}

int main(void)
{
	RUN(resolves_small_closure);
	RUN(check_refuses_stale_lock);
	RUN(refuses_unsigned_release);
	RUN(unknown_package_named);
	return tap_done();
}
