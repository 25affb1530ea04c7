/* process.c - running helper programs; see process.h. */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* env (or the caller's environment) with LC_ALL=C; the strings are
 * borrowed, the array is the caller's to free. */
static char **environment_with_c_locale(char *const *from)
{
	size_t n = 0, k = 0;
	char **env;

	while (from[n])
		n++;
	env = kiln_xcalloc(n + 2, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (strncmp(from[i], "LC_ALL=", 7) != 0 && strncmp(from[i], "LANGUAGE=", 9) != 0)
			env[k++] = from[i];
	env[k++] = "LC_ALL=C";
	env[k] = NULL;
	return env;
}

static void add_stream(posix_spawn_file_actions_t *fa, int target, int fd, int flags)
{
	if (fd >= 0)
		posix_spawn_file_actions_adddup2(fa, fd, target);
	else
		posix_spawn_file_actions_addopen(fa, target, "/dev/null", flags, 0);
}

/* Spawn with stdout and stderr resolved to descriptors (or -1 for
 * /dev/null) by the caller. */
static pid_t spawn_fds(const struct kiln_process_options *o, int out, int errfd, struct kiln_error *err)
{
	char *const *base = o->env ? o->env : environ;
	_cleanup_free_ char **c_env = o->c_locale ? environment_with_c_locale(base) : NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	if (o->reset_signals) {
		sigset_t none, all;
		sigemptyset(&none);
		sigfillset(&all);
		posix_spawnattr_setsigmask(&attr, &none);
		posix_spawnattr_setsigdefault(&attr, &all);
		posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	}
	add_stream(&fa, 0, o->in, O_RDONLY);
	add_stream(&fa, 1, out, O_WRONLY);
	add_stream(&fa, 2, errfd, O_WRONLY);
	rc = posix_spawnp(&pid, o->argv[0], &fa, &attr, o->argv, c_env ? c_env : base);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		kiln_error_errno(err, rc, "run %s", o->argv[0]);
		return -1;
	}
	return pid;
}

pid_t kiln_process_spawn(const struct kiln_process_options *o, struct kiln_error *err)
{
	int out = o->out, errfd = o->err;

	if (out == KILN_PROCESS_CAPTURE || errfd == KILN_PROCESS_CAPTURE) {
		kiln_error_set(err, "run %s: capture needs kiln_process_run", o->argv[0]);
		return -1;
	}
	if (errfd == KILN_PROCESS_TO_STDOUT)
		errfd = out;
	return spawn_fds(o, out, errfd, err);
}

int kiln_process_wait(pid_t pid, struct kiln_error *err)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return kiln_error_errno(err, errno, "wait for process %d", (int)pid);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return kiln_error_set(err, "process %d: unexpected wait status %#x", (int)pid, st);
}

int kiln_process_run(const struct kiln_process_options *o, struct kiln_buf *out,
		     struct kiln_buf *errout, int *status, struct kiln_error *err)
{
	size_t max = o->capture_max ? o->capture_max : KILN_PROCESS_CAPTURE_MAX;
	struct kiln_buf *bufs[2] = { out, errout };
	struct pollfd fds[2] = { { -1, POLLIN, 0 }, { -1, POLLIN, 0 } };
	int child_out = o->out, child_err = o->err, open_fds = 0, code;
	int pipes[2][2] = { { -1, -1 }, { -1, -1 } };
	pid_t pid;

	for (int i = 0; i < 2; i++) {
		int want = i == 0 ? o->out : o->err;
		if (want != KILN_PROCESS_CAPTURE)
			continue;
		if (pipe2(pipes[i], O_CLOEXEC) < 0) {
			int e = errno;
			for (int j = 0; j < i; j++) {
				close(pipes[j][0]);
				close(pipes[j][1]);
			}
			return kiln_error_errno(err, e, "run %s: pipe", o->argv[0]);
		}
		fds[i].fd = pipes[i][0];
		open_fds++;
	}
	if (o->out == KILN_PROCESS_CAPTURE)
		child_out = pipes[0][1];
	if (o->err == KILN_PROCESS_CAPTURE)
		child_err = pipes[1][1];
	else if (o->err == KILN_PROCESS_TO_STDOUT)
		child_err = child_out;
	pid = spawn_fds(o, child_out, child_err, err);
	for (int i = 0; i < 2; i++)
		if (pipes[i][1] >= 0)
			close(pipes[i][1]);
	if (pid < 0) {
		for (int i = 0; i < 2; i++)
			if (fds[i].fd >= 0)
				close(fds[i].fd);
		return -1;
	}
	while (open_fds > 0) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			char chunk[8192];
			ssize_t n;

			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[i].fd, chunk, sizeof(chunk));
			if (n > 0) {
				if (bufs[i] && bufs[i]->len + (size_t)n <= max)
					kiln_buf_add(bufs[i], chunk, (size_t)n);
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			close(fds[i].fd);
			fds[i].fd = -1;
			open_fds--;
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	code = kiln_process_wait(pid, err);
	if (code < 0)
		return kiln_error_prefix(err, "%s", o->argv[0]);
	*status = code;
	return 0;
}

int kiln_process_capture(char *const argv[], struct kiln_buf *out, struct kiln_buf *errout,
		       int *status, struct kiln_error *err)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(argv);

	o.c_locale = true;
	o.out = KILN_PROCESS_CAPTURE;
	o.err = KILN_PROCESS_CAPTURE;
	return kiln_process_run(&o, out, errout, status, err);
}
