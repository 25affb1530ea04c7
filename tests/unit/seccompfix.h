/* seccompfix.h - what the seccomp-running unit tests share: run a probe
 * under a compiled profile in a forked child and collect its report. */
#ifndef KILN_TEST_SECCOMPFIX_H
#define KILN_TEST_SECCOMPFIX_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp.h"
#include "util.h"

/* Run probe under the filter compiled from profile, in a child (no new
 * privileges, the filter installed); what it wrote to fd, malloc'd. */
static char *under_filter(json_t *profile, void (*probe)(int fd))
{
	struct kiln_seccomp s;
	struct kiln_error err = { 0 };
	struct kiln_buf b = KILN_BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int p[2], st;

	if (kiln_seccomp_compile(profile, &s, &err) < 0)
		return kiln_xasprintf("compile: %s", err.message);
	if (pipe(p) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		int e = kiln_seccomp_install(&s);
		if (e)
			dprintf(p[1], "install: %s\n", strerror(e));
		else
			probe(p[1]);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], chunk, sizeof(chunk))) > 0)
		kiln_buf_add(&b, chunk, (size_t)n);
	close(p[0]);
	waitpid(pid, &st, 0);
	kiln_seccomp_release(&s);
	return kiln_buf_detach(&b);
}

#endif
