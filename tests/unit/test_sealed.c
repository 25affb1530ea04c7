/* test_sealed.c - kiln_sealed_reexec: the process goes on from a sealed
 * memfd copy of its binary, with the same command line, and nothing can
 * write that copy.  The test binary re-executes itself as "child". */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sealed.h"
#include "tap.h"
#include "util.h"

/* In the re-executed child: report what it runs from, and whether its own
 * binary can be changed.  Exit 0 when sealed. */
static int child(void)
{
	struct kiln_error err = { 0 };
	char link[256];
	ssize_t n;
	int fd, seals;

	if (kiln_sealed_reexec(&err) < 0) {
		printf("reexec failed: %s\n", err.message);
		return 2;
	}
	/* Reached only once re-executed: the first call never returns. */
	n = readlink("/proc/self/exe", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	printf("exe=%s\n", link);
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	seals = fd < 0 ? -1 : fcntl(fd, F_GET_SEALS);
	printf("seals=%d\n", seals);
	if (open("/proc/self/exe", O_WRONLY) >= 0)
		printf("writable\n");
	/* A second call in the sealed copy is a no-op. */
	if (kiln_sealed_reexec(&err) < 0)
		return 3;
	return 0;
}

TEST(reexec_runs_from_a_sealed_copy)
{
	int out[2];
	pid_t pid;
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	int status;

	CHECK(pipe(out) == 0);
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execl("/proc/self/exe", "test_sealed", "child", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	while (len < sizeof(buf) - 1 && (n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(out[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_CONTAINS(buf, "exe=/memfd:kiln-sealed");
	CHECK(strstr(buf, "writable") == NULL);
	{
		const char *s = strstr(buf, "seals=");
		int seals = s ? atoi(s + 6) : -1;
		CHECK(seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_SEAL) &&
		      (seals & F_SEAL_GROW) && (seals & F_SEAL_SHRINK));
	}
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		printf("# child: %s\n", line);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	RUN(reexec_runs_from_a_sealed_copy);
	return tap_done();
}
