/* test_init.c - lib/runtime/init: the container init kiln carries (a
 * static program, installed content-addressed and read-only under ROOT),
 * run here as a plain child (not PID 1: it makes itself a subreaper), for
 * its exit codes and its forwarding of signals.  Containers run it as
 * PID 1 in tests/cli/t0535-run-init.sh. */
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "debcraft.h"
#include "hash.h"
#include "init.h"
#include "tap.h"
#include "util.h"

static char *root, *installed;

TEST(program_is_a_static_elf)
{
	size_t len;
	const unsigned char *p = kiln_init_program(&len);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
	bool interp = false;

	CHECK(len > sizeof(*eh));
	CHECK(memcmp(p, ELFMAG, SELFMAG) == 0);
	CHECK(eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_type == ET_EXEC);
	CHECK(eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <= len);
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (((const Elf64_Phdr *)(p + eh->e_phoff))[i].p_type == PT_INTERP)
			interp = true;
	/* No program interpreter: runs in an image without a libc. */
	CHECK(!interp);
}

TEST(install_is_content_addressed_and_read_only)
{
	struct kiln_error err = { 0 };
	size_t len;
	const unsigned char *p = kiln_init_program(&len);
	char hex[KILN_SHA256_HEX_LEN + 1];
	struct stat st, again;
	_cleanup_free_ char *want = NULL, *second = NULL, *third = NULL, *bytes = NULL;
	size_t got;

	kiln_sha256_hex(p, len, hex);
	want = kiln_xasprintf("%s/init/%s", root, hex);
	installed = kiln_init_install(root, &err);
	CHECK(installed && strcmp(installed, want) == 0);
	if (!installed)
		return;
	CHECK(stat(installed, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0555);
	bytes = kiln_file_read(installed, len + 1, &got, &err);
	CHECK(bytes && got == len && memcmp(bytes, p, len) == 0);
	/* Once there, it is used as it is (not rewritten). */
	second = kiln_init_install(root, &err);
	CHECK(second && strcmp(second, want) == 0);
	CHECK(stat(installed, &again) == 0 && again.st_ino == st.st_ino);
	/* A damaged file of that name is replaced. */
	CHECK(chmod(installed, 0755) == 0);
	FILE *f = fopen(installed, "r+");
	CHECK(f && fputs("damaged", f) >= 0);
	if (f)
		fclose(f);
	third = kiln_init_install(root, &err);
	CHECK(third && strcmp(third, want) == 0);
	free(bytes);
	bytes = kiln_file_read(installed, len + 1, &got, &err);
	CHECK(bytes && got == len && memcmp(bytes, p, len) == 0);
	CHECK(stat(installed, &again) == 0 && (again.st_mode & 07777) == 0555);
}

static pid_t start(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execv(installed, argv);
		_exit(99);
	}
	return pid;
}

static int finish(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

static int run(char *const argv[])
{
	return finish(start(argv));
}

TEST(exit_codes_pass_through)
{
	if (!installed)
		return;
	CHECK(run((char *[]){ "init", "--", "sh", "-c", "exit 3", NULL }) == 3);
	CHECK(run((char *[]){ "init", "--", "true", NULL }) == 0);
	CHECK(run((char *[]){ "init", "sh", "-c", "exit 4", NULL }) == 4); /* "--" is optional */
	CHECK(run((char *[]){ "init", "--", "sh", "-c", "kill -KILL $$", NULL }) == 128 + SIGKILL);
	CHECK(run((char *[]){ "init", "--", "/nonexistent/program", NULL }) == 127);
	CHECK(run((char *[]){ "init", "--", "/dev/null", NULL }) == 126);
	CHECK(run((char *[]){ "init", "--", NULL }) == 2);
	CHECK(run((char *[]){ "init", NULL }) == 2);
}

/* The init's child, once it runs (0: not within 10 s). */
static pid_t child_of(pid_t pid)
{
	char path[64];
	for (int i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
		FILE *f = fopen(path, "r");
		int c = 0;
		if (f) {
			if (fscanf(f, "%d", &c) != 1)
				c = 0;
			fclose(f);
		}
		if (c > 0)
			return c;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return 0;
}

TEST(signals_are_forwarded_to_the_command)
{
	if (!installed)
		return;
	/* sleep has no handler: the forwarded SIGTERM ends it, and the init
	 * reports it as a shell does. */
	pid_t pid = start((char *[]){ "init", "--", "sleep", "100", NULL });
	CHECK(child_of(pid) > 0);
	kill(pid, SIGTERM);
	CHECK(finish(pid) == 128 + SIGTERM);
	/* A signal the command handles reaches its handler. */
	_cleanup_free_ char *ready = kiln_xasprintf("%s/trap-set", root);
	_cleanup_free_ char *script = kiln_xasprintf("trap 'exit 42' USR1; : >'%s'; while :; do sleep 0.05; done",
						     ready);
	pid = start((char *[]){ "init", "--", "sh", "-c", script, NULL });
	for (int i = 0; i < 1000 && access(ready, F_OK) != 0; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	CHECK(access(ready, F_OK) == 0);
	kill(pid, SIGUSR1);
	CHECK(finish(pid) == 42);
}

int main(void)
{
	root = craft_tmpdir("init");
	RUN(program_is_a_static_elf);
	RUN(install_is_content_addressed_and_read_only);
	RUN(exit_codes_pass_through);
	RUN(signals_are_forwarded_to_the_command);
	craft_rm_rf(root);
	free(root);
	free(installed);
	return tap_done();
}
