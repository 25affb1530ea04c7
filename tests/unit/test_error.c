/* Unit tests for lib/base/error.c: causes beside the message, kept
 * through kiln_error_prefix, taken from errno, and the exit codes they
 * imply (docs/architecture.md, Errors). */
#include "error.h"
#include "fsutil.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

TEST(fresh_error_is_not_set)
{
	struct kiln_error err = { 0 };

	CHECK(!kiln_error_isset(&err));
	CHECK(!kiln_error_isset(NULL));
	CHECK(!kiln_error_is(&err, KILN_CAUSE_NONE));
	CHECK(!kiln_error_is(NULL, KILN_CAUSE_NOT_FOUND));
}

TEST(set_has_no_cause_and_fails_with_1)
{
	struct kiln_error err = { 0 };

	CHECK(kiln_error_set(&err, "thing %d broke", 7) == -1);
	CHECK(kiln_error_isset(&err));
	CHECK(kiln_error_is(&err, KILN_CAUSE_NONE));
	CHECK(err.code == KILN_EXIT_FAILED);
	CHECK_STR(err.message, "thing 7 broke");
}

TEST(cause_is_recorded_and_sets_exit)
{
	struct kiln_error err = { 0 };

	kiln_error_set(&err, "no record of x");
	CHECK(kiln_error_cause(&err, KILN_CAUSE_NOT_FOUND) == -1);
	CHECK(kiln_error_is(&err, KILN_CAUSE_NOT_FOUND));
	CHECK(!kiln_error_is(&err, KILN_CAUSE_VERIFY));
	CHECK(err.code == KILN_EXIT_FAILED);
	CHECK(kiln_error_cause(NULL, KILN_CAUSE_IO) == -1);
}

TEST(verification_is_cause_verify_exit_3)
{
	struct kiln_error err = { 0 };

	kiln_error_set(&err, "sha256 mismatch");
	CHECK(kiln_error_verification(&err) == -1);
	CHECK(kiln_error_is(&err, KILN_CAUSE_VERIFY));
	CHECK(err.code == KILN_EXIT_VERIFY);
}

TEST(prefix_keeps_cause_and_code)
{
	struct kiln_error err = { 0 };

	kiln_error_set(&err, "bad signature");
	kiln_error_verification(&err);
	kiln_error_prefix(&err, "snapshot %s", "web");
	kiln_error_prefix(&err, "verify");
	CHECK_STR(err.message, "verify: snapshot web: bad signature");
	CHECK(kiln_error_is(&err, KILN_CAUSE_VERIFY));
	CHECK(err.code == KILN_EXIT_VERIFY);

	kiln_error_clear(&err);
	kiln_error_errno(&err, ENOENT, "open '%s'", "/x");
	kiln_error_prefix(&err, "read config");
	CHECK(kiln_error_is(&err, KILN_CAUSE_NOT_FOUND));
	CHECK(err.code == KILN_EXIT_FAILED);
}

TEST(set_after_cause_keeps_it)
{
	/* A caller that rewords a failure keeps what was decided below. */
	struct kiln_error err = { 0 };

	kiln_error_set(&err, "digest mismatch");
	kiln_error_verification(&err);
	kiln_error_set(&err, "blob is corrupt");
	CHECK(kiln_error_is(&err, KILN_CAUSE_VERIFY));
	CHECK(err.code == KILN_EXIT_VERIFY);
}

TEST(errno_maps_to_causes)
{
	static const struct {
		int errnum;
		enum kiln_cause cause;
	} cases[] = {
		{ ENOENT, KILN_CAUSE_NOT_FOUND }, { ENOTDIR, KILN_CAUSE_NOT_FOUND },
		{ EEXIST, KILN_CAUSE_EXISTS },    { ENOTEMPTY, KILN_CAUSE_EXISTS },
		{ EACCES, KILN_CAUSE_DENIED },    { EPERM, KILN_CAUSE_DENIED },
		{ EROFS, KILN_CAUSE_DENIED },     { EINVAL, KILN_CAUSE_INVALID },
		{ EBUSY, KILN_CAUSE_BUSY },       { EWOULDBLOCK, KILN_CAUSE_BUSY },
		{ ENOSYS, KILN_CAUSE_UNSUPPORTED }, { EOPNOTSUPP, KILN_CAUSE_UNSUPPORTED },
		{ EIO, KILN_CAUSE_IO },           { ENOSPC, KILN_CAUSE_IO },
		{ 0, KILN_CAUSE_NONE },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kiln_error err = { 0 };
		if (kiln_cause_from_errno(cases[i].errnum) != cases[i].cause)
			printf("# errno %d: cause %s\n", cases[i].errnum,
			       kiln_cause_name(kiln_cause_from_errno(cases[i].errnum)));
		CHECK(kiln_cause_from_errno(cases[i].errnum) == cases[i].cause);
		if (!cases[i].errnum)
			continue;
		kiln_error_errno(&err, cases[i].errnum, "op");
		CHECK(kiln_error_is(&err, cases[i].cause));
		CHECK(err.code == KILN_EXIT_FAILED);
		CHECK(strncmp(err.message, "op: ", 4) == 0);
	}
}

TEST(exit_codes_follow_causes)
{
	CHECK(kiln_cause_exit(KILN_CAUSE_VERIFY) == KILN_EXIT_VERIFY);
	for (int c = KILN_CAUSE_NONE; c <= KILN_CAUSE_DENIED; c++) {
		if (c != KILN_CAUSE_VERIFY)
			CHECK(kiln_cause_exit(c) == KILN_EXIT_FAILED);
		CHECK(strcmp(kiln_cause_name(c), "unknown") != 0);
	}
}

TEST(clear_resets_cause)
{
	struct kiln_error err = { 0 };

	kiln_error_errno(&err, EEXIST, "mkdir");
	kiln_error_clear(&err);
	CHECK(!kiln_error_isset(&err));
	CHECK(err.cause == KILN_CAUSE_NONE);
	CHECK(err.code == 0);
}

TEST(null_err_is_accepted)
{
	CHECK(kiln_error_set(NULL, "x") == -1);
	CHECK(kiln_error_errno(NULL, ENOENT, "x") == -1);
	CHECK(kiln_error_prefix(NULL, "x") == -1);
	CHECK(kiln_error_verification(NULL) == -1);
	kiln_error_clear(NULL);
}

TEST(ignore_is_a_fresh_error_each_time)
{
	/* A real callee writing to it, twice: each use is its own struct. */
	size_t len;
	char *data = kiln_file_read("/nonexistent/kiln-test-error", 1024, &len, KILN_ERROR_IGNORE);
	CHECK(data == NULL);
	struct kiln_error *a = KILN_ERROR_IGNORE;
	CHECK(!kiln_error_isset(a));
}

TEST(real_callee_reports_not_found)
{
	struct kiln_error err = { 0 };
	size_t len;

	CHECK(kiln_file_read("/nonexistent/kiln-test-error", 1024, &len, &err) == NULL);
	CHECK(kiln_error_is(&err, KILN_CAUSE_NOT_FOUND));
}

int main(void)
{
	RUN(fresh_error_is_not_set);
	RUN(set_has_no_cause_and_fails_with_1);
	RUN(cause_is_recorded_and_sets_exit);
	RUN(verification_is_cause_verify_exit_3);
	RUN(prefix_keeps_cause_and_code);
	RUN(set_after_cause_keeps_it);
	RUN(errno_maps_to_causes);
	RUN(exit_codes_follow_causes);
	RUN(clear_resets_cause);
	RUN(null_err_is_accepted);
	RUN(ignore_is_a_fresh_error_each_time);
	RUN(real_callee_reports_not_found);
	return tap_done();
}
