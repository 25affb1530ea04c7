#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define CAPTURE_MAX (1u << 20)

static char **environment_with_c_locale(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = kiln_xcalloc(n + 2, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LC_ALL=", 7) != 0 && strncmp(environ[i], "LANGUAGE=", 9) != 0)
			env[k++] = environ[i];
	env[k++] = "LC_ALL=C";
	env[k] = NULL;
	return env;
}

int kiln_process_capture(char *const argv[], struct kiln_buf *out, struct kiln_buf *errout,
		       int *status, struct kiln_error *err)
{
	_cleanup_free_ char **env = environment_with_c_locale();
	posix_spawn_file_actions_t fa;
	int pout[2], perr[2], wstatus, rc;
	pid_t pid;
	struct kiln_buf *bufs[2] = { out, errout };

	if (pipe2(pout, O_CLOEXEC) < 0)
		return kiln_error_errno(err, errno, "run %s: pipe", argv[0]);
	if (pipe2(perr, O_CLOEXEC) < 0) {
		close(pout[0]);
		close(pout[1]);
		return kiln_error_errno(err, errno, "run %s: pipe", argv[0]);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(pout[1]);
	close(perr[1]);
	if (rc != 0) {
		close(pout[0]);
		close(perr[0]);
		return kiln_error_errno(err, rc, "run %s", argv[0]);
	}

	struct pollfd fds[2] = { { pout[0], POLLIN, 0 }, { perr[0], POLLIN, 0 } };
	int open_fds = 2;
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
				if (bufs[i] && bufs[i]->len + (size_t)n <= CAPTURE_MAX)
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
	while (waitpid(pid, &wstatus, 0) < 0) {
		if (errno != EINTR)
			return kiln_error_errno(err, errno, "wait for %s", argv[0]);
	}
	*status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	return 0;
}
