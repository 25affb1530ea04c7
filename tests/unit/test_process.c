/* test_process.c - lib/base/process.c, the one spawner: the LC_ALL policy
 * per call, the environment given or inherited, captured streams and
 * their bound, stderr joined to stdout, the signal reset, exit codes. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process.h"
#include "tap.h"
#include "util.h"

static int run_sh(const char *script, struct kiln_process_options *o, struct kiln_buf *out,
		  struct kiln_buf *errout)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	struct kiln_error err = { 0 };
	int status = -1;

	o->argv = argv;
	if (kiln_process_run(o, out, errout, &status, &err) < 0)
		return -1;
	return status;
}

TEST(c_locale_is_a_choice)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(NULL);
	struct kiln_buf out = KILN_BUF_INIT;

	setenv("LC_ALL", "fr_FR.UTF-8", 1);
	setenv("LANGUAGE", "fr", 1);
	o.out = KILN_PROCESS_CAPTURE;
	CHECK(run_sh("echo \"$LC_ALL/${LANGUAGE-unset}\"", &o, &out, NULL) == 0);
	CHECK_STR(out.data, "fr_FR.UTF-8/fr\n");
	kiln_buf_reset(&out);
	o.c_locale = true;
	CHECK(run_sh("echo \"$LC_ALL/${LANGUAGE-unset}\"", &o, &out, NULL) == 0);
	CHECK_STR(out.data, "C/unset\n");
	kiln_buf_release(&out);
	unsetenv("LC_ALL");
	unsetenv("LANGUAGE");
}

TEST(given_environment_replaces_the_callers)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(NULL);
	struct kiln_buf out = KILN_BUF_INIT;
	char *env[] = { "PATH=/usr/bin:/bin", "ONLY=this", NULL };

	setenv("KILN_TEST_LEAK", "leaked", 1);
	o.env = env;
	o.c_locale = true;
	o.out = KILN_PROCESS_CAPTURE;
	CHECK(run_sh("echo \"$ONLY/${KILN_TEST_LEAK-none}/$LC_ALL\"", &o, &out, NULL) == 0);
	CHECK_STR(out.data, "this/none/C\n");
	kiln_buf_release(&out);
	unsetenv("KILN_TEST_LEAK");
}

TEST(streams_captured_apart_or_joined)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(NULL);
	struct kiln_buf out = KILN_BUF_INIT, errout = KILN_BUF_INIT;

	o.out = o.err = KILN_PROCESS_CAPTURE;
	CHECK(run_sh("echo out; echo err >&2; exit 7", &o, &out, &errout) == 7);
	CHECK_STR(out.data, "out\n");
	CHECK_STR(errout.data, "err\n");
	kiln_buf_reset(&out);
	kiln_buf_reset(&errout);
	o.err = KILN_PROCESS_TO_STDOUT;
	CHECK(run_sh("echo one; echo two >&2; echo three", &o, &out, &errout) == 0);
	CHECK_STR(out.data, "one\ntwo\nthree\n");
	CHECK(errout.len == 0);
	kiln_buf_release(&out);
	kiln_buf_release(&errout);
}

TEST(capture_is_bounded_and_drained)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(NULL);
	struct kiln_buf out = KILN_BUF_INIT;

	/* 1 MiB of output against a 4 KiB bound: kept short, never blocked. */
	o.out = KILN_PROCESS_CAPTURE;
	o.capture_max = 4096;
	CHECK(run_sh("head -c 1048576 /dev/zero | tr '\\0' x; echo done >&2", &o, &out, NULL) == 0);
	CHECK(out.len <= 4096);
	kiln_buf_release(&out);
}

/* The line-th hex number of text. */
static unsigned long long sig_bits(const char *text, int line)
{
	while (line-- > 0 && text && (text = strchr(text, '\n')))
		text++;
	return text ? strtoull(text, NULL, 16) : ~0ull;
}

TEST(signals_reset_only_when_asked)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(NULL);
	struct kiln_buf out = KILN_BUF_INIT;
	sigset_t block, old;

	/* SIGUSR1 ignored and SIGUSR2 blocked here, as the child's
	 * /proc/self/status shows (SigBlk, then SigIgn, in hex).  Only these
	 * bits are checked for SigIgn: glibc's own real-time signals, which
	 * sigfillset leaves out, may be ignored by whoever started the test. */
	signal(SIGUSR1, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, &old);
	o.out = KILN_PROCESS_CAPTURE;
	/* awk itself reads the status, with no shell between that might
	 * change the mask. */
	char *argv[] = { "awk", "/^SigBlk|^SigIgn/ { print $2 }", "/proc/self/status", NULL };
	struct kiln_error err = { 0 };
	int status = -1;
	o.argv = argv;
	CHECK(kiln_process_run(&o, &out, NULL, &status, &err) == 0 && status == 0);
	CHECK(sig_bits(out.data, 0) & (1ull << (SIGUSR2 - 1)));  /* blocked, inherited */
	CHECK(sig_bits(out.data, 1) & (1ull << (SIGUSR1 - 1)));  /* ignored, inherited */
	kiln_buf_reset(&out);
	o.reset_signals = true;
	CHECK(kiln_process_run(&o, &out, NULL, &status, &err) == 0 && status == 0);
	CHECK(sig_bits(out.data, 0) == 0);
	CHECK(!(sig_bits(out.data, 1) & (1ull << (SIGUSR1 - 1))));
	kiln_buf_release(&out);
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGUSR1, SIG_DFL);
}

TEST(spawn_and_wait)
{
	char *argv[] = { "sh", "-c", "kill -TERM $$", NULL };
	char *missing[] = { "kiln-no-such-program", NULL };
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(argv);
	struct kiln_error err = { 0 };
	pid_t pid = kiln_process_spawn(&o, &err);

	CHECK(pid > 0);
	CHECK(kiln_process_wait(pid, &err) == 128 + SIGTERM);
	o.out = KILN_PROCESS_CAPTURE;
	CHECK(kiln_process_spawn(&o, &err) == -1);
	CHECK_CONTAINS(err.message, "kiln_process_run");
	o.out = KILN_PROCESS_DEVNULL;
	o.argv = missing;
	CHECK(kiln_process_spawn(&o, &err) == -1);
	CHECK_CONTAINS(err.message, "run kiln-no-such-program");
}

int main(void)
{
	RUN(c_locale_is_a_choice);
	RUN(given_environment_replaces_the_callers);
	RUN(streams_captured_apart_or_joined);
	RUN(capture_is_bounded_and_drained);
	RUN(signals_reset_only_when_asked);
	RUN(spawn_and_wait);
	return tap_done();
}
