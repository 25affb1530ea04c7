/* kiln-init.c - the container's PID 1 for `kiln run --init`
 * (docs/containers.md, "--init").
 *
 *   /dev/init -- PROGRAM [ARG…]
 *
 * A program started as a container's PID 1 gets no default signal
 * actions: the kernel drops any signal it has no handler for, so a
 * `sleep` or a python that never installed a SIGTERM handler ignores
 * `kiln stop` until the grace time runs out and SIGKILL comes.  And
 * every orphan in the container is reparented to PID 1, which most
 * programs never wait for, so they stay zombies.  This init does what
 * tini and podman's catatonit do, and nothing more:
 *
 *   - runs PROGRAM as its one child, in a process group of its own (the
 *     terminal's foreground group when stdin is a terminal);
 *   - forwards every signal it can catch to that process group (to the
 *     child alone when the group is gone); the signals a fault raises
 *     (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT) are left to their defaults,
 *     and SIGKILL/SIGSTOP cannot be caught;
 *   - reaps every child, the program and any orphan reparented to it;
 *   - exits with the program's status: its exit code, or 128+N when
 *     signal N killed it (as a shell reports it); 127 when PROGRAM cannot
 *     be found, 126 when it cannot be run.
 *
 * It is linked statically (the image may have no libc at all) and built
 * by the Makefile into build/kiln-init, whose bytes kiln embeds (see
 * lib/runtime/init.h); no stdio, so the binary stays small.
 *
 * Signals are blocked and taken with sigwaitinfo(), not by handlers: the
 * kernel never drops a blocked signal, even for a PID 1 without a handler
 * (it stays pending until it is waited for), and there is no race between
 * a handler and waitpid().
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void say(const char *a, const char *b, const char *c)
{
	const char *parts[] = { "kiln-init: ", a, b, c, "\n" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i] && write(2, parts[i], strlen(parts[i])) < 0)
			return;
}

/* Every signal but the ones a fault raises: those must keep their default
 * action, or a fault in this process would loop instead of ending it. */
static void forwarded_set(sigset_t *set)
{
	static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
	sigfillset(set);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(set, faults[i]);
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

static void start_child(char **argv, const sigset_t *old_mask)
{
	/* Its own group, so that forwarding reaches what it starts too and
	 * never this process; with a terminal, the group that owns it (the
	 * signals blocked here include SIGTTOU, which tcsetpgrp would raise). */
	setpgid(0, 0);
	if (isatty(0))
		tcsetpgrp(0, getpid());
	sigprocmask(SIG_SETMASK, old_mask, NULL);
	execvp(argv[0], argv);
	int e = errno;
	say("exec ", argv[0], e == ENOENT ? ": not found" : e == EACCES ? ": permission denied" : ": cannot run");
	_exit(e == ENOENT ? 127 : 126);
}

int main(int argc, char **argv)
{
	sigset_t set, old_mask;
	pid_t child;
	int first = 1;

	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	if (first >= argc) {
		say("usage: /dev/init -- PROGRAM [ARG...]", NULL, NULL);
		return 2;
	}
	/* Not PID 1 (a runtime that gives us a parent in the container):
	 * orphans still come to us. */
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	forwarded_set(&set);
	sigprocmask(SIG_BLOCK, &set, &old_mask);
	child = fork();
	if (child < 0) {
		say("fork: ", strerror(errno), NULL);
		return 1;
	}
	if (child == 0)
		start_child(argv + first, &old_mask);
	/* Also here: whichever of the two runs first, the group exists
	 * before a signal is forwarded to it. */
	setpgid(child, child);

	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&set, &info);

		if (sig < 0)
			continue; /* EINTR: a stop and continue */
		if (sig != SIGCHLD) {
			if (kill(-child, sig) < 0 && errno == ESRCH)
				kill(child, sig);
			continue;
		}
		/* One SIGCHLD may stand for many exits: reap until none is left. */
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);
			if (pid <= 0)
				break;
			if (pid == child)
				return status_code(status);
		}
	}
}
