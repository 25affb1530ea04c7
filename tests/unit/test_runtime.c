/* test_runtime.c - kiln's runtime running real containers on the real
 * kernel: a busybox rootfs in a temp dir, a config.json like `runc spec`'s
 * with Docker's default capabilities, and observations from inside.
 *
 * Also a driver for tests/cli/t0500-runtime.sh, which compares with runc:
 *   test_runtime run BUNDLE ID      run the bundle, stdio inherited; exits
 *                                   with the container's status
 *   test_runtime time BUNDLE N      N start→wait→cleanup cycles; prints
 *                                   the median in microseconds
 *   test_runtime default-seccomp    print kiln_seccomp_default_profile(0)
 *   test_runtime sctest-source      print the C source of the seccomp probe
 * Needs root (namespaces, mounts, cgroups) and /bin/busybox
 * (busybox-static).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "fsutil.h"
#include "runtime.h"
#include "seccomp.h"
#include "seccompfix.h"
#include "tap.h"
#include "util.h"

static char tmpdir[] = "/tmp/kiln-test-runtime.XXXXXX";
static char bundle[256];
static char cgparent[64];
static int seq;

static const char *const docker_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};
#define DOCKER_CAPS_HEX "00000000a80425fb"

static const char base_config[] =
	"{\"ociVersion\":\"1.0.2\","
	"\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"true\"],"
	" \"env\":[\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\",\"TERM=xterm\"],\"cwd\":\"/\","
	" \"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1048576,\"soft\":1048576}],"
	" \"noNewPrivileges\":true},"
	"\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	"\"hostname\":\"kiln-test\","
	"\"mounts\":["
	" {\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	" {\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
	" {\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\",\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\",\"gid=5\"]},"
	" {\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\",\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
	" {\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\",\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
	" {\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\",\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},"
	" {\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\",\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]}"
	"],"
	"\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
	" \"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"},{\"type\":\"cgroup\"}],"
	" \"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\",\"/proc/latency_stats\","
	"  \"/proc/timer_list\",\"/proc/timer_stats\",\"/proc/sched_debug\",\"/sys/firmware\",\"/proc/scsi\"],"
	" \"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\",\"/proc/sysrq-trigger\"]}}";

static const char *const applets[] = {
	"cp", "ln", "chmod", "sync",
	"sh", "cat", "echo", "id", "hostname", "ls", "mount", "sleep", "true", "false",
	"grep", "head", "tail", "ps", "touch", "mkdir", "wc", "readlink", "kill", "tty",
	"env", "pwd", "stat", "dd", "rm", "tr", "cut", "unshare", "find", "sed", "mknod",
};

#ifdef __x86_64__
#define NATIVE_SCMP_ARCH_FOR_TEST "SCMP_ARCH_X86_64"
#else
#define NATIVE_SCMP_ARCH_FOR_TEST "SCMP_ARCH_AARCH64"
#endif

/* A config with args (NULL-terminated); the caller may change it. */
static json_t *config_new(const char *const *args)
{
	json_error_t jerr;
	json_t *c = json_loads(base_config, 0, &jerr), *a = json_array(), *caps = json_object();

	if (!c) {
		printf("# base config: line %d: %s\n", jerr.line, jerr.text);
		abort();
	}
	for (; *args; args++)
		json_array_append_new(a, json_string(*args));
	json_object_set_new(json_object_get(c, "process"), "args", a);
	const char *sets[] = { "bounding", "effective", "permitted" };
	for (size_t s = 0; s < 3; s++) {
		json_t *l = json_array();
		for (size_t i = 0; i < KILN_ARRAY_SIZE(docker_caps); i++)
			json_array_append_new(l, json_string(docker_caps[i]));
		json_object_set_new(caps, sets[s], l);
	}
	json_object_set_new(json_object_get(c, "process"), "capabilities", caps);
	return c;
}

static void config_write(json_t *c)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/config.json", bundle);
	if (json_dump_file(c, path, JSON_INDENT(1)) < 0)
		abort();
}

static void options_init(struct kiln_runtime_options *o, char *id, size_t idlen)
{
	snprintf(id, idlen, "t%d-%d", (int)getpid(), ++seq);
	memset(o, 0, sizeof(*o));
	o->bundle = bundle;
	o->id = id;
	o->cgroup_parent = cgparent;
	o->stdio = (struct kiln_runtime_stdio){ -1, -1, -1 };
	o->console_socket_fd = -1;
}

static char *read_fd_all(int fd)
{
	struct kiln_buf b = KILN_BUF_INIT;
	char buf[4096];
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		kiln_buf_add(&b, buf, (size_t)n);
	return kiln_buf_detach(&b);
}

/* Run a container to the end with stdout+stderr into *out; returns its
 * status, or -1000 when start failed (message in *out). */
static int run_config(json_t *c, char **out)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64];
	int fd, status;
	pid_t pid;

	config_write(c);
	options_init(&o, id, sizeof(id));
	fd = open(tmpdir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
	o.stdio.out = o.stdio.err = fd;
	pid = kiln_runtime_start(&o, &err);
	if (pid < 0) {
		*out = kiln_xstrdup(err.message);
		close(fd);
		return -1000;
	}
	status = kiln_runtime_wait(pid, &err);
	if (kiln_runtime_cleanup(&o, &err) < 0)
		printf("# cleanup: %s\n", err.message);
	*out = read_fd_all(fd);
	close(fd);
	return status;
}

static int run_args(const char *const *args, char **out)
{
	json_t *c = config_new(args);
	int rc = run_config(c, out);
	json_decref(c);
	return rc;
}

#define SH(script) ((const char *const[]){ "sh", "-c", script, NULL })

TEST(pid1_is_the_command)
{
	_cleanup_free_ char *out = NULL;
	int rc = run_args(SH("echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo"), &out);

	CHECK(rc == 0);
	CHECK_STR(out, "1\nsh -c echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo \n");
}

TEST(hostname_and_cwd)
{
	_cleanup_free_ char *out = NULL;
	json_t *c = config_new(SH("hostname; pwd"));

	json_object_set_new(json_object_get(c, "process"), "cwd", json_string("/tmp/work"));
	json_object_set_new(json_object_get(c, "root"), "readonly", json_false());
	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out, "kiln-test\n/tmp/work\n");
	json_decref(c);
}

TEST(capabilities_and_no_new_privs)
{
	_cleanup_free_ char *out = NULL;
	int rc = run_args(SH("grep -E '^(Cap|NoNewPrivs)' /proc/self/status"), &out);

	CHECK(rc == 0);
	CHECK_STR(out, "CapInh:\t0000000000000000\n"
		       "CapPrm:\t" DOCKER_CAPS_HEX "\n"
		       "CapEff:\t" DOCKER_CAPS_HEX "\n"
		       "CapBnd:\t" DOCKER_CAPS_HEX "\n"
		       "CapAmb:\t0000000000000000\n"
		       "NoNewPrivs:\t1\n");
}

TEST(user_and_groups)
{
	_cleanup_free_ char *out = NULL;
	json_t *c = config_new(SH("id; grep -E '^Cap(Eff|Prm)' /proc/self/status"));
	json_t *user = json_pack("{s:i, s:i, s:[i,i]}", "uid", 1000, "gid", 1001, "additionalGids", 5, 7);

	json_object_set_new(json_object_get(c, "process"), "user", user);
	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out, "uid=1000 gid=1001 groups=5,7\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n");
	json_decref(c);
}

TEST(only_loopback_in_new_netns)
{
	_cleanup_free_ char *out = NULL;
	int rc = run_args(SH("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"), &out);

	CHECK(rc == 0);
	CHECK_STR(out, "lo\n");
}

TEST(sys_readonly_and_masked_paths)
{
	_cleanup_free_ char *out = NULL;
	int rc = run_args(SH("mkdir /sys/kiln 2>/dev/null || echo sys-ro;"
			     "cat /proc/timer_list | wc -c; cat /proc/keys | wc -c; ls /sys/firmware | wc -l;"
			     "{ echo 1 > /proc/sys/kernel/domainname; } 2>/dev/null || echo procsys-ro;"
			     "touch /etc/x 2>/dev/null || echo root-ro;"
			     "touch /tmp/x 2>/dev/null || echo tmp-ro;"
			     "echo x > /dev/shm/x && echo shm-rw"),
			  &out);

	CHECK(rc == 0);
	CHECK_STR(out, "sys-ro\n0\n0\n0\nprocsys-ro\nroot-ro\ntmp-ro\nshm-rw\n");
}

TEST(minimal_dev)
{
	_cleanup_free_ char *out = NULL;
	int rc = run_args(SH("ls /dev | tr '\\n' ' '; echo; readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin;"
			     "echo hi > /dev/null && head -c 3 /dev/zero | wc -c"),
			  &out);

	CHECK(rc == 0);
	CHECK_STR(out + (access("/proc/kcore", F_OK) < 0 ? 0 : strlen("core ")), "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \n"
		       "pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n3\n");
}

TEST(default_dev_without_dev_mount)
{
	_cleanup_free_ char *out = NULL;
	json_t *c = config_new(SH("ls /dev | tr '\\n' ' '; echo; ls -d /dev/pts/ptmx /dev/shm"));
	json_t *mounts = json_object_get(c, "mounts");

	/* Keep only /proc: kiln provides /dev, /dev/pts and /dev/shm. */
	while (json_array_size(mounts) > 1)
		json_array_remove(mounts, 1);
	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out + (access("/proc/kcore", F_OK) < 0 ? 0 : strlen("core ")), "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n"
		       "/dev/pts/ptmx\n/dev/shm\n");
	json_decref(c);
}

TEST(exit_codes)
{
	_cleanup_free_ char *out = NULL, *out2 = NULL, *out3 = NULL;

	CHECK(run_args(SH("exit 3"), &out) == 3);
	CHECK(run_args((const char *const[]){ "false", NULL }, &out2) == 1);
	CHECK(run_args((const char *const[]){ "no-such-command", NULL }, &out3) == -1000);
	CHECK_CONTAINS(out3, "exec no-such-command: No such file or directory");
}

TEST(killed_by_sigkill_is_137)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64];
	json_t *c = config_new((const char *const[]){ "sleep", "100", NULL });
	pid_t pid;

	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		return;
	}
	kill(pid, SIGKILL);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
}

TEST(memory_limit_kills)
{
	_cleanup_free_ char *out = NULL;
	/* One process: with a pipeline the kernel may pick the shell as a
	 * second victim while the first one's memory is being freed. */
	json_t *c = config_new((const char *const[]){ "dd", "if=/dev/zero", "of=/dev/null", "bs=100M",
						     "count=1", NULL });
	json_t *res = json_object_get(json_object_get(c, "linux"), "resources");

	json_object_set_new(res, "memory", json_pack("{s:I, s:I}", "limit", (json_int_t)32 << 20,
						      "swap", (json_int_t)32 << 20));
	CHECK(run_config(c, &out) == 137);
	json_object_del(res, "memory");
	free(out);
	CHECK(run_config(c, &out) == 0); /* and without the limit it works */
	json_decref(c);
}

TEST(pids_limit_refuses_fork)
{
	_cleanup_free_ char *out = NULL;
	json_t *c = config_new(SH("for i in 1 2 3 4 5 6 7 8; do sleep 2 & done 2>&1 | grep -c fork"));
	json_t *res = json_object_get(json_object_get(c, "linux"), "resources");

	json_object_set_new(res, "pids", json_pack("{s:i}", "limit", 5));
	run_config(c, &out);
	CHECK(out && atoi(out) >= 1);
	json_decref(c);
}

TEST(rlimit_nofile_clamped)
{
	_cleanup_free_ char *out = NULL;
	struct rlimit rl;
	char want[64];
	int rc = run_args(SH("ulimit -n; ulimit -Hn"), &out);

	getrlimit(RLIMIT_NOFILE, &rl);
	snprintf(want, sizeof(want), "%llu\n%llu\n", (unsigned long long)rl.rlim_max,
		 (unsigned long long)rl.rlim_max);
	CHECK(rc == 0);
	CHECK_STR(out, want);
}

struct before_start_seen {
	int calls;
	bool other_netns;
	bool fail;
};

static int before_start(void *ctx, pid_t pid, struct kiln_error *err)
{
	struct before_start_seen *s = ctx;
	char path[64];
	struct stat a, b;

	s->calls++;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat(path, &a) == 0 && stat("/proc/self/ns/net", &b) == 0)
		s->other_netns = a.st_ino != b.st_ino;
	if (s->fail)
		return kiln_error_set(err, "no network for you");
	return 0;
}

TEST(before_start_sees_new_netns)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	struct before_start_seen seen = { 0 };
	char id[64];
	json_t *c = config_new((const char *const[]){ "true", NULL });
	pid_t pid;

	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	o.before_start = before_start;
	o.before_start_ctx = &seen;
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	CHECK(kiln_runtime_wait(pid, &err) == 0);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(seen.calls == 1);
	CHECK(seen.other_netns);

	/* A failing before_start aborts the start and leaves nothing. */
	options_init(&o, id, sizeof(id));
	o.before_start = before_start;
	o.before_start_ctx = &seen;
	seen.fail = true;
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid == -1);
	CHECK_CONTAINS(err.message, "no network for you");
	struct kiln_cgroup cg;
	struct kiln_error e2 = { 0 };
	CHECK(kiln_cgroup_open(&cg, cgparent, id, &e2) == -1);
}

TEST(join_netns)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64], host[128] = "", want[160];
	json_t *c = config_new((const char *const[]){ "readlink", "/proc/self/ns/net", NULL });
	int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
	pid_t pid;

	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	o.join_netns = "/proc/self/ns/net";
	o.stdio.out = fd;
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	CHECK(kiln_runtime_wait(pid, &err) == 0);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	_cleanup_free_ char *out = read_fd_all(fd);
	close(fd);
	if (readlink("/proc/self/ns/net", host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	snprintf(want, sizeof(want), "%s\n", host);
	CHECK_STR(out, want);
}

TEST(stdio_fds)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64];
	int in[2], out_fd = open(tmpdir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
	json_t *c = config_new(SH("read line; echo got $line; echo to-err >&2"));
	pid_t pid;

	CHECK(pipe2(in, O_CLOEXEC) == 0);
	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	o.stdio.in = in[0];
	o.stdio.out = out_fd;
	o.stdio.err = -1; /* /dev/null */
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	close(in[0]);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		close(in[1]);
		close(out_fd);
		return;
	}
	CHECK(write(in[1], "hello\n", 6) == 6);
	close(in[1]);
	CHECK(kiln_runtime_wait(pid, &err) == 0);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	_cleanup_free_ char *out = read_fd_all(out_fd);
	close(out_fd);
	CHECK_STR(out, "got hello\n");
}

TEST(terminal_pty)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64];
	int master = -1;
	json_t *c = config_new(SH("tty; readlink /proc/self/fd/1; [ -t 0 ] && echo is-a-tty"));
	struct kiln_buf b = KILN_BUF_INIT;
	pid_t pid;

	json_object_set_new(json_object_get(c, "process"), "terminal", json_true());
	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	o.pty_master = &master;
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	CHECK(master >= 0);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		return;
	}
	for (;;) {
		char buf[256];
		ssize_t n = read(master, buf, sizeof(buf));
		if (n <= 0)
			break; /* EIO once the slave side is gone */
		kiln_buf_add(&b, buf, (size_t)n);
	}
	CHECK(kiln_runtime_wait(pid, &err) == 0);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	close(master);
	CHECK_STR(b.data, "/dev/pts/0\r\n/dev/pts/0\r\nis-a-tty\r\n");
	kiln_buf_release(&b);
}

TEST(exec_joins_running_container)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64];
	json_t *c = config_new((const char *const[]){ "sleep", "30", NULL });
	int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
	pid_t pid, epid;

	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		return;
	}
	o.stdio.out = o.stdio.err = fd;
	char *const argv[] = { "sh", "-c",
			       "hostname; echo $$; ps -o pid,args | grep -v grep | grep ' 1 sleep 30';"
			       "grep -E '^CapEff' /proc/self/status; pwd",
			       NULL };
	epid = kiln_runtime_exec(&o, pid, argv, NULL, "/proc", &err);
	CHECK(epid > 0);
	if (epid > 0)
		CHECK(kiln_runtime_wait(epid, &err) == 0);
	else
		printf("# %s\n", err.message);
	_cleanup_free_ char *out = read_fd_all(fd);
	close(fd);
	CHECK_CONTAINS(out, "kiln-test\n");
	CHECK_CONTAINS(out, "    1 sleep 30\n");
	CHECK_CONTAINS(out, "CapEff:\t" DOCKER_CAPS_HEX "\n/proc\n");
	/* exec's shell is not PID 1 but is in the container's pid namespace. */
	CHECK(out && strtol(strchr(out, '\n') + 1, NULL, 10) > 1);
	/* Cleanup kills the container. */
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
}

/* The host's mounts below this test's directory (the bundle, its rootfs):
 * what a leak would add.  The rest of the table is other programs' (the
 * suite runs tests in parallel, and their containers come and go). */
static char *mounts_here(void)
{
	char cwd[4096];
	_cleanup_free_ char *all = kiln_file_read("/proc/self/mountinfo", 1 << 20, NULL, NULL);
	struct kiln_buf b = KILN_BUF_INIT;

	if (!getcwd(cwd, sizeof(cwd)) || !all)
		return kiln_xstrdup("?");
	for (char *line = all, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (strstr(line, cwd)) {
			kiln_buf_adds(&b, line);
			kiln_buf_adds(&b, "\n");
		}
	}
	kiln_buf_adds(&b, "");
	return kiln_buf_detach(&b);
}

TEST(cleanup_leaves_no_cgroup_and_no_mounts)
{
	_cleanup_free_ char *before = mounts_here();
	_cleanup_free_ char *out = NULL;
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	struct kiln_cgroup cg;
	char id[64];
	json_t *c = config_new((const char *const[]){ "sleep", "30", NULL });
	pid_t pid;

	/* A bind mount from the bundle, too. */
	json_array_append_new(json_object_get(c, "mounts"),
			      json_pack("{s:s, s:s, s:s, s:[s,s,s]}", "destination", "/mnt/bundle",
					"type", "bind", "source", ".", "options", "rbind", "ro", "nosuid"));
	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	CHECK(kiln_cgroup_open(&cg, cgparent, id, &err) == 0);
	CHECK(cg.n_dirs >= 2);
	size_t n;
	_cleanup_free_ pid_t *pids = kiln_cgroup_pids(&cg, &n, &err);
	CHECK(pids && n == 1 && pids[0] == pid);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
	for (size_t i = 0; i < cg.n_dirs; i++)
		CHECK(access(cg.dirs[i], F_OK) < 0 && errno == ENOENT);
	kiln_cgroup_release(&cg);
	_cleanup_free_ char *after = mounts_here();
	CHECK_STR(after, before);
	/* A second cleanup is no error. */
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
}

TEST(cgroup_v2_layout)
{
	/* The v2 code on this machine's (controller-less) v2 hierarchy. */
	struct kiln_cgroup cg;
	struct kiln_error err = { 0 };
	struct stat st;
	char id[64];

	if (stat("/sys/fs/cgroup/unified/cgroup.procs", &st) < 0 &&
	    stat("/sys/fs/cgroup/cgroup.controllers", &st) < 0) {
		printf("# no cgroup v2 hierarchy\n");
		return;
	}
	const char *root = stat("/sys/fs/cgroup/unified/cgroup.procs", &st) == 0 ? "/sys/fs/cgroup/unified"
										  : "/sys/fs/cgroup";
	kiln_cgroup_set_v2_mount(root);
	snprintf(id, sizeof(id), "v2-%d", (int)getpid());
	CHECK(kiln_cgroup_create(&cg, cgparent, id, NULL, &err) == 0);
	CHECK(cg.v2 && cg.n_dirs == 1);
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	CHECK(kiln_cgroup_attach(&cg, child, &err) == 0);
	size_t n = 0;
	_cleanup_free_ pid_t *pids = kiln_cgroup_pids(&cg, &n, &err);
	CHECK(n == 1 && pids && pids[0] == child);
	CHECK(kiln_cgroup_destroy(cgparent, id, &err) == 0);
	int status;
	CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(access(cg.dirs[0], F_OK) < 0);
	/* A limit needing a controller the hierarchy lacks is refused cleanly. */
	struct kiln_cgroup_limits l = KILN_CGROUP_LIMITS_INIT;
	l.memory = 1 << 20;
	struct kiln_cgroup cg2;
	if (strcmp(root, "/sys/fs/cgroup/unified") == 0) {
		CHECK(kiln_cgroup_create(&cg2, cgparent, id, &l, &err) == -1);
		CHECK_CONTAINS(err.message, "controller memory not available");
	}
	/* A container on v2: born in its cgroup (clone3 CLONE_INTO_CGROUP),
	 * which its cgroup namespace makes "/". */
	_cleanup_free_ char *out = NULL;
	json_t *c = config_new(SH("grep '^0::' /proc/self/cgroup"));
	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out, "0::/\n");
	json_decref(c);
	char parent_dir[256];
	snprintf(parent_dir, sizeof(parent_dir), "%s/%s", root, cgparent);
	DIR *d = opendir(parent_dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		CHECK(e->d_type != DT_DIR || e->d_name[0] == '.'); /* no container cgroup left */
	if (d)
		closedir(d);
	rmdir(parent_dir);
	kiln_cgroup_release(&cg);
	kiln_cgroup_set_v2_mount(NULL);
}

TEST(console_socket_gets_the_pty)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64], name[64] = "", buf[256];
	int sv[2], master = -1;
	json_t *c = config_new(SH("tty"));
	pid_t pid;

	json_object_set_new(json_object_get(c, "process"), "terminal", json_true());
	config_write(c);
	json_decref(c);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	options_init(&o, id, sizeof(id));
	o.console_socket_fd = sv[0];
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		return;
	}
	/* As runc's --console-socket: the fd by SCM_RIGHTS. */
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { name, sizeof(name) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			     .msg_controllen = sizeof(u.b) };
	CHECK(recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC) > 0);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	CHECK(cm && cm->cmsg_type == SCM_RIGHTS);
	if (cm)
		memcpy(&master, CMSG_DATA(cm), sizeof(int));
	ssize_t n = master >= 0 ? read(master, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STR(buf, "/dev/pts/0\r\n");
	CHECK(kiln_runtime_wait(pid, &err) == 0);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	if (master >= 0)
		close(master);
	close(sv[0]);
	close(sv[1]);
}

TEST(cpu_limit_in_cgroup)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	struct kiln_cgroup cg;
	char id[64];
	json_t *c = config_new((const char *const[]){ "sleep", "30", NULL });
	json_t *res = json_object_get(json_object_get(c, "linux"), "resources");
	pid_t pid;

	json_object_set_new(res, "cpu", json_pack("{s:I, s:I}", "quota", (json_int_t)50000,
						   "period", (json_int_t)100000));
	json_object_set_new(res, "pids", json_pack("{s:i}", "limit", 42));
	json_object_set_new(res, "memory", json_pack("{s:I}", "limit", (json_int_t)64 << 20));
	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	CHECK(kiln_cgroup_open(&cg, cgparent, id, &err) == 0);
	int found = 0;
	for (size_t i = 0; i < cg.n_dirs; i++) {
		static const char *const files[][2] = {
			{ "cpu.cfs_quota_us", "50000\n" }, { "cpu.cfs_period_us", "100000\n" },
			{ "pids.max", "42\n" }, { "memory.limit_in_bytes", "67108864\n" },
			{ "cpu.max", "50000 100000\n" }, { "memory.max", "67108864\n" },
		};
		for (size_t f = 0; f < KILN_ARRAY_SIZE(files); f++) {
			char path[512];
			snprintf(path, sizeof(path), "%s/%s", cg.dirs[i], files[f][0]);
			_cleanup_free_ char *v = kiln_file_read(path, 4096, NULL, NULL);
			if (v) {
				CHECK_STR(v, files[f][1]);
				found++;
			}
		}
	}
	CHECK(found == 4);
	kiln_cgroup_release(&cg);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
}

TEST(devices_sysctl_signals)
{
	_cleanup_free_ char *out = NULL, *out2 = NULL;
	json_t *c = config_new(SH("stat -c '%A %u %g %t %T' /dev/kiln-null;"
				  "echo x > /dev/kiln-null && echo usable;"
				  "cat /proc/sys/net/ipv4/ip_forward"));
	json_t *linux_ = json_object_get(c, "linux");
	sigset_t block, old;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int;

	json_object_set_new(linux_, "devices",
			    json_pack("[{s:s, s:s, s:i, s:i, s:i, s:i, s:i}]", "path", "/dev/kiln-null",
				      "type", "c", "major", 1, "minor", 3, "fileMode", 0620, "uid", 7,
				      "gid", 8));
	json_object_set_new(linux_, "sysctl", json_pack("{s:s}", "net.ipv4.ip_forward", "1"));
	/* What the caller blocks or ignores does not reach the container. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGINT, &ign, &old_int);
	CHECK(run_config(c, &out) == 0);
	json_decref(c);
	/* Not through sh, which ignores SIGQUIT itself. */
	c = config_new((const char *const[]){ "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL });
	CHECK(run_config(c, &out2) == 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGINT, &old_int, NULL);
	CHECK_STR(out, "crw--w---- 7 8 1 3\nusable\n1\n");
	CHECK_STR(out2, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
	json_decref(c);
}

TEST(overlay_root)
{
	char lower[300], upper[300], work[300], merged[300], opts[1024], path[400];
	_cleanup_free_ char *out = NULL;
	json_t *c = config_new(SH("echo changed > /etc/motd; cat /etc/motd"));
	struct kiln_error err;

	snprintf(lower, sizeof(lower), "%s/rootfs", bundle);
	snprintf(upper, sizeof(upper), "%s/ov/upper", tmpdir);
	snprintf(work, sizeof(work), "%s/ov/work", tmpdir);
	snprintf(merged, sizeof(merged), "%s/ov/merged", tmpdir);
	CHECK(kiln_mkdir_p(upper, 0755, &err) == 0 && kiln_mkdir_p(work, 0755, &err) == 0 &&
	      kiln_mkdir_p(merged, 0755, &err) == 0);
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
	if (mount("overlay", merged, "overlay", 0, opts) < 0) {
		printf("# overlay mount: %s\n", strerror(errno));
		CHECK(0);
		return;
	}
	json_object_set_new(json_object_get(c, "root"), "path", json_string(merged));
	json_object_set_new(json_object_get(c, "root"), "readonly", json_false());
	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out, "changed\n");
	snprintf(path, sizeof(path), "%s/etc/motd", upper);
	CHECK(access(path, F_OK) == 0); /* the write went to the upper layer */
	snprintf(path, sizeof(path), "%s/etc/motd", lower);
	CHECK(access(path, F_OK) < 0);
	CHECK(umount2(merged, 0) == 0); /* the caller's mount is still its own */
	json_decref(c);
}

TEST(config_errors_table)
{
	static const struct {
		const char *patch; /* merged into the base config */
		const char *want;
	} cases[] = {
		{ "{\"ociVersion\":\"2.0.0\"}", "ociVersion: \"2.0.0\" is not 1.x" },
		{ "{\"process\":{\"args\":\"sh\"}}", "process.args: must be an array" },
		{ "{\"process\":{\"args\":[1]}}", "process.args[0]: must be a string" },
		{ "{\"process\":{\"cwd\":\"relative\"}}", "process.cwd: \"relative\" is not absolute" },
		{ "{\"process\":{\"user\":{\"uid\":-1}}}", "process.user.uid: -1 out of range" },
		{ "{\"process\":{\"terminal\":\"yes\"}}", "process.terminal: must be a boolean" },
		{ "{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_FLY\",\"hard\":1,\"soft\":1}]}}",
		  "process.rlimits[0].type: unknown rlimit \"RLIMIT_FLY\"" },
		{ "{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1,\"soft\":2}]}}",
		  "process.rlimits[0]: soft above hard" },
		{ "{\"hostname\":7}", "hostname: must be a string" },
		{ "{\"root\":{\"path\":null}}", "root.path: missing" },
		{ "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"user\"}]}}",
		  "a new user namespace needs its id mappings: config.json: linux.uidMappings: missing" },
		{ "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"uts\"},"
		  "{\"type\":\"user\"}],\"uidMappings\":[{\"containerID\":0,\"hostID\":1,\"size\":0}]}}",
		  "linux.uidMappings[0].size: 0 out of range" },
		{ "{\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"user\",\"path\":\"/x\"}]}}",
		  "joining a user namespace is not supported" },
		{ "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"pid\"}]}}",
		  "linux.namespaces[2].type: \"pid\" listed twice" },
		{ "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"moon\"}]}}",
		  "linux.namespaces[1].type: unknown namespace \"moon\"" },
		{ "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"uts\"}]}}",
		  "linux.namespaces: a new mount namespace is required" },
		{ "{\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]}}",
		  "hostname: needs a new uts namespace" },
		{ "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}}}",
		  "config.json: linux.seccomp.defaultAction: \"SCMP_ACT_NOTIFY\" is not supported" },
		{ "{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":"
		  "[{\"names\":[\"nope\"],\"action\":\"SCMP_ACT_ERRNO\"}]}}}",
		  "config.json: linux.seccomp.syscalls[0].names[0]: system call \"nope\" unknown" },
		{ "{\"hooks\":{\"prestart\":[{\"path\":\"/bin/true\"}]}}", "hooks: not supported" },
		{ "{\"linux\":{\"resources\":{\"memory\":{\"limit\":\"1G\"}}}}",
		  "linux.resources.memory.limit: must be an integer" },
		{ "{\"linux\":{\"resources\":{\"devices\":[{\"allow\":true,\"type\":\"x\"}]}}}",
		  "linux.resources.devices[0].type: \"x\" is not a, b or c" },
		{ "{\"linux\":{\"devices\":[{\"path\":\"/dev/x\",\"type\":\"c\"}]}}",
		  "linux.devices[0].major: missing" },
		{ "{\"linux\":{\"maskedPaths\":[\"proc/kcore\"]}}",
		  "linux.maskedPaths: \"proc/kcore\" is not absolute" },
		{ "{\"linux\":{\"sysctl\":{\"kernel.x\":1}}}", "linux.sysctl.kernel.x: must be a string" },
		{ "{\"linux\":{\"rootfsPropagation\":\"sideways\"}}",
		  "linux.rootfsPropagation: \"sideways\" unknown" },
		{ "{\"process\":{\"capabilities\":{\"ambient\":[\"CAP_NOPE\"]}}}",
		  "process.capabilities.ambient: unknown capability \"CAP_NOPE\"" },
	};

	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *out = NULL;
		json_error_t jerr;
		json_t *c = config_new((const char *const[]){ "true", NULL });
		json_t *patch = json_loads(cases[i].patch, 0, &jerr);

		if (!patch) {
			printf("# case %zu: %s\n", i, jerr.text);
			CHECK(0);
			continue;
		}
		json_object_update_recursive(c, patch);
		json_decref(patch);
		CHECK(run_config(c, &out) == -1000);
		CHECK_CONTAINS(out, cases[i].want);
		json_decref(c);
	}
	/* Not JSON at all. */
	char path[512];
	_cleanup_free_ char *out = NULL;
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	FILE *f = fopen(path, "w");
	fputs("{\"ociVersion\": \"1.0.2\",\n  oops", f);
	fclose(f);
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64];
	options_init(&o, id, sizeof(id));
	CHECK(kiln_runtime_start(&o, &err) == -1);
	CHECK_CONTAINS(err.message, "config.json: line 2:");
}

TEST(paths_stay_inside_the_root)
{
	/* A symlink in the image pointing out of it: mounts and devices follow
	 * it inside the rootfs, never onto the host. */
	char link[400], host[200], inside[400];
	_cleanup_free_ char *out = NULL;
	json_t *c = config_new(SH("ls -d /kiln-escape-test/mnt && echo inside"));

	snprintf(link, sizeof(link), "%s/rootfs/escape", bundle);
	snprintf(host, sizeof(host), "/kiln-escape-test-%d", (int)getpid());
	CHECK(symlink("../../../../../../..", link) == 0);
	json_array_append_new(json_object_get(c, "mounts"),
			      json_pack("{s:s, s:s, s:s}", "destination", "/escape/kiln-escape-test/mnt",
					"type", "tmpfs", "source", "tmpfs"));
	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out, "/kiln-escape-test/mnt\ninside\n");
	CHECK(access("/kiln-escape-test", F_OK) < 0);
	snprintf(inside, sizeof(inside), "%s/rootfs/kiln-escape-test/mnt", bundle);
	CHECK(access(inside, F_OK) == 0);
	unlink(link);
	json_decref(c);
}

TEST(exec_with_terminal)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64];
	int master = -1;
	json_t *c = config_new((const char *const[]){ "sleep", "30", NULL });
	struct kiln_buf b = KILN_BUF_INIT;
	pid_t pid, epid;

	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	o.exec_terminal = true;
	o.pty_master = &master;
	char *const argv[] = { "sh", "-c", "tty; [ -t 1 ] && echo tty-out", NULL };
	char *const env[] = { "PATH=/bin", "KILN=1", NULL };
	epid = kiln_runtime_exec(&o, pid, argv, env, NULL, &err);
	CHECK(epid > 0);
	CHECK(master >= 0);
	if (epid > 0 && master >= 0) {
		for (;;) {
			char buf[256];
			ssize_t n = read(master, buf, sizeof(buf));
			if (n <= 0)
				break;
			kiln_buf_add(&b, buf, (size_t)n);
		}
		CHECK(kiln_runtime_wait(epid, &err) == 0);
		CHECK_STR(b.data, "/dev/pts/0\r\ntty-out\r\n");
		close(master);
	} else {
		printf("# %s\n", err.message);
	}
	kiln_buf_release(&b);
	/* exec into a container that is gone fails cleanly. */
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
	o.exec_terminal = false;
	CHECK(kiln_runtime_exec(&o, pid, argv, env, NULL, &err) == -1);
	CHECK_CONTAINS(err.message, "exec sh");
}

TEST(host_network_mode)
{
	/* No network namespace: the host's interfaces, and /sys still mounts. */
	_cleanup_free_ char *out = NULL;
	char host[128] = "", want[200];
	json_t *c = config_new(SH("readlink /proc/self/ns/net; ls /sys/class/net | grep -c ."));
	json_t *ns = json_object_get(json_object_get(c, "linux"), "namespaces");
	size_t i;
	json_t *v;

	json_array_foreach(ns, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "type")), "network") == 0) {
			json_array_remove(ns, i);
			break;
		}
	}
	CHECK(run_config(c, &out) == 0);
	if (readlink("/proc/self/ns/net", host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	snprintf(want, sizeof(want), "%s\n", host);
	CHECK(out && strncmp(out, want, strlen(want)) == 0);
	CHECK(out && strchr(out, '\n') && atoi(strchr(out, '\n') + 1) >= 1);
	json_decref(c);
}

static volatile int hammer_stop;

static void *hammer_malloc(void *arg)
{
	(void)arg;
	while (!hammer_stop) {
		void *p[64];
		for (int i = 0; i < 64; i++)
			p[i] = malloc((size_t)(i + 1) * 97);
		for (int i = 0; i < 64; i++)
			free(p[i]);
	}
	return NULL;
}

TEST(caller_with_threads)
{
	/* The child between clone and exec must not need locks a caller's
	 * thread may hold (malloc's): containers still start. */
	pthread_t t[2];
	json_t *c = config_new((const char *const[]){ "true", NULL });
	int ok = 0;

	config_write(c);
	json_decref(c);
	hammer_stop = 0;
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hammer_malloc, NULL);
	for (int i = 0; i < 20; i++) {
		struct kiln_runtime_options o;
		struct kiln_error err = { 0 };
		char id[64];
		options_init(&o, id, sizeof(id));
		pid_t pid = kiln_runtime_start(&o, &err);
		if (pid > 0 && kiln_runtime_wait(pid, &err) == 0 && kiln_runtime_cleanup(&o, &err) == 0)
			ok++;
		else
			printf("# %s\n", err.message);
	}
	hammer_stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(ok == 20);
}

TEST(user_namespace)
{
	/* Root inside is uid 100000 outside; the image is owned by it. */
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64], cmd[2048], root[400], status_path[64];
	int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
	json_t *c = config_new(SH("id; cat /proc/self/uid_map | tr -s ' '; grep ^CapEff /proc/self/status;"
				  "touch /tmp/mine && stat -c '%u %g' /tmp/mine; hostname; ls /dev/null;"
				  "sleep 30"));
	json_t *linux_ = json_object_get(c, "linux");
	pid_t pid;

	/* The mapped root must be able to reach its root directory. */
	chmod(tmpdir, 0755);
	snprintf(root, sizeof(root), "%s/rootfs-userns", tmpdir);
	snprintf(cmd, sizeof(cmd), "cp -a %s/rootfs %s && chown -R 100000:100000 %s", bundle, root, root);
	CHECK(system(cmd) == 0);
	json_object_set_new(json_object_get(c, "root"), "path", json_string(root));
	json_object_set_new(json_object_get(c, "root"), "readonly", json_false());
	json_array_append_new(json_object_get(linux_, "namespaces"), json_pack("{s:s}", "type", "user"));
	json_object_set_new(linux_, "uidMappings",
			    json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", 100000, "size", 65536));
	json_object_set_new(linux_, "gidMappings",
			    json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", 100000, "size", 65536));
	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	o.stdio.out = o.stdio.err = fd;
	pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		close(fd);
		return;
	}
	/* Let the script get to its sleep. */
	for (int i = 0; i < 5000; i++) {
		_cleanup_free_ char *so_far = read_fd_all(fd);
		if (strstr(so_far, "/dev/null\n"))
			break;
		usleep(1000);
	}
	/* Seen from the host, the container's root is 100000. */
	snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)pid);
	_cleanup_free_ char *status = kiln_file_read(status_path, 1 << 16, NULL, NULL);
	CHECK_CONTAINS(status, "\nUid:\t100000\t100000\t100000\t100000\n");
	/* exec joins the user namespace too. */
	char *const argv[] = { "id", NULL };
	pid_t epid = kiln_runtime_exec(&o, pid, argv, NULL, NULL, &err);
	CHECK(epid > 0);
	if (epid > 0)
		CHECK(kiln_runtime_wait(epid, &err) == 0);
	else
		printf("# %s\n", err.message);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
	_cleanup_free_ char *out = read_fd_all(fd);
	close(fd);
	CHECK_STR(out, "uid=0 gid=0\n 0 100000 65536\n"
		       "CapEff:\t" DOCKER_CAPS_HEX "\n0 0\nkiln-test\n/dev/null\n"
		       "uid=0 gid=0\n");
}

TEST(config_errors_name_the_field)
{
	_cleanup_free_ char *o1 = NULL, *o2 = NULL, *o3 = NULL, *o4 = NULL, *o5 = NULL;
	json_t *c;

	c = config_new((const char *const[]){ "true", NULL });
	json_object_set_new(json_object_get(c, "process"), "args", json_array());
	CHECK(run_config(c, &o1) == -1000);
	CHECK_CONTAINS(o1, "process.args: empty");
	json_decref(c);

	c = config_new((const char *const[]){ "true", NULL });
	json_array_append_new(json_object_get(json_object_get(json_object_get(c, "process"), "capabilities"),
					      "bounding"),
			      json_string("CAP_FLY"));
	CHECK(run_config(c, &o2) == -1000);
	CHECK_CONTAINS(o2, "process.capabilities.bounding: unknown capability \"CAP_FLY\"");
	json_decref(c);

	c = config_new((const char *const[]){ "true", NULL });
	json_object_set_new(json_object_get(c, "root"), "path", json_string("no-such-dir"));
	CHECK(run_config(c, &o3) == -1000);
	CHECK_CONTAINS(o3, "root.path");
	json_decref(c);

	c = config_new((const char *const[]){ "true", NULL });
	json_array_append_new(json_object_get(c, "mounts"), json_pack("{s:i}", "destination", 3));
	CHECK(run_config(c, &o4) == -1000);
	CHECK_CONTAINS(o4, "mounts[7].destination: must be a string");
	json_decref(c);

	c = config_new((const char *const[]){ "true", NULL });
	json_array_append_new(json_object_get(c, "mounts"),
			      json_pack("{s:s, s:s, s:s}", "destination", "/x", "type", "nosuchfs",
					"source", "none"));
	CHECK(run_config(c, &o5) == -1000);
	CHECK_CONTAINS(o5, "mount none on /x (type nosuchfs");
	json_decref(c);
}

/* ---- seccomp, dumpable, CAP_MKNOD, recursive ro, cgroup namespace ---- */

/* A static helper in the rootfs (/bin/sctest): each line "call=result",
 * result "ok", an errno name, or (x32) how the child died. */
static const char sctest_src[] =
	"#define _GNU_SOURCE\n"
	"#include <errno.h>\n#include <sched.h>\n#include <signal.h>\n#include <stdint.h>\n"
	"#include <stdio.h>\n#include <string.h>\n#include <sys/syscall.h>\n#include <sys/wait.h>\n"
	"#include <unistd.h>\n#include <arpa/inet.h>\n#include <linux/if_ether.h>\n#include <sys/socket.h>\n"
	"static void show(const char *n, long r) {\n"
	"  const char *e = errno == EPERM ? \"EPERM\" : errno == ENOSYS ? \"ENOSYS\" : strerror(errno);\n"
	"  printf(\"%s=%s\\n\", n, r < 0 ? e : \"ok\");\n}\n"
	"int main(void) {\n"
	"  uint64_t c3[11] = { 0 }; c3[4] = SIGCHLD; long r; int st;\n"
	"  show(\"add_key\", syscall(SYS_add_key, \"user\", \"kiln\", \"x\", 1, -2));\n"
	"  show(\"keyctl\", syscall(SYS_keyctl, 0, -3, 0));\n"
	"  show(\"request_key\", syscall(SYS_request_key, \"user\", \"kiln\", NULL, 0));\n"
	"  show(\"perf_event_open\", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));\n"
	"  show(\"unshare_user\", syscall(SYS_unshare, CLONE_NEWUSER));\n"
	"  r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);\n"
	"  if (r == 0) _exit(0);\n  if (r > 0) waitpid(r, &st, 0);\n  show(\"clone_user\", r);\n"
	"  r = syscall(SYS_clone3, c3, sizeof(c3));\n"
	"  if (r == 0) _exit(0);\n  if (r > 0) waitpid(r, &st, 0);\n  show(\"clone3\", r);\n"
	"  r = fork();\n  if (r == 0) _exit(7);\n"
	"  show(\"fork\", r > 0 && waitpid(r, &st, 0) == r && WEXITSTATUS(st) == 7 ? 0 : -1);\n"
	"  r = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));\n  show(\"packet\", r);\n  if (r >= 0) close(r);\n"
	"  show(\"personality_query\", syscall(SYS_personality, 0xffffffffUL));\n"
	"  show(\"personality_linux32\", syscall(SYS_personality, 0x8UL));\n"
	"  show(\"personality_linux\", syscall(SYS_personality, 0x0UL));\n"
	"  show(\"personality_read_implies_exec\", syscall(SYS_personality, 0x0400000UL));\n"
	"  show(\"personality_addr_no_randomize\", syscall(SYS_personality, 0x0040000UL));\n"
	"  fflush(stdout);\n"
	"#ifdef __x86_64__\n"
	"  r = fork();\n  if (r == 0) { syscall(0x40000000 | SYS_getpid); _exit(0); }\n"
	"  waitpid(r, &st, 0);\n"
	"  printf(\"x32=%s\\n\", WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : \"exited\");\n"
	"#endif\n"
	"  return 0;\n}\n";

#ifdef __x86_64__
#define SCTEST_X32 "x32=Bad system call\n"
#else
#define SCTEST_X32 ""
#endif
/* packet: "ok" when the profile is for a process with CAP_NET_RAW. */
#define SCTEST_WANT_PACKET(packet) "add_key=EPERM\nkeyctl=EPERM\nrequest_key=EPERM\nperf_event_open=EPERM\n" \
	"unshare_user=EPERM\nclone_user=EPERM\nclone3=ENOSYS\nfork=ok\npacket=" packet "\n" \
	"personality_query=ok\npersonality_linux32=ok\npersonality_linux=ok\n" \
	"personality_read_implies_exec=EPERM\npersonality_addr_no_randomize=EPERM\n" SCTEST_X32
/* kiln's default profile (no CAP_NET_RAW) */
#define SCTEST_WANT SCTEST_WANT_PACKET("EPERM")

static int make_sctest(const char *rootfs)
{
	char src[512], cmd[1200];
	FILE *f;

	snprintf(src, sizeof(src), "%s/sctest.c", tmpdir);
	f = fopen(src, "w");
	if (!f)
		return -1;
	fputs(sctest_src, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gcc -static -O1 -o %s/bin/sctest %s", rootfs, src);
	return system(cmd) == 0 ? 0 : -1;
}

static void result(int fd, const char *name, long r)
{
	dprintf(fd, "%s=%s\n", name, r >= 0 ? "ok" : errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS"
							  : strerror(errno));
}

#ifdef __x86_64__
static const char *i386_outcome(int st);
#endif

static void probe_default(int fd)
{
	struct kiln_clone3 {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} c3 = { .exit_signal = SIGCHLD };
	long r;
	int st;

	/* As root with every capability: only the filter says no. */
	result(fd, "keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
	result(fd, "bpf", syscall(SYS_bpf, 0, NULL, 0));
	result(fd, "perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	result(fd, "unshare_user", syscall(SYS_unshare, CLONE_NEWUSER));
	result(fd, "unshare_user_uts", syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWUTS));
	result(fd, "unshare_uts", syscall(SYS_unshare, CLONE_NEWUTS));
	r = syscall(SYS_clone3, &c3, sizeof(c3));
	if (r == 0)
		_exit(0);
	result(fd, "clone3", r);
	r = fork();
	if (r == 0)
		_exit(0);
	result(fd, "fork", r > 0 && waitpid(r, &st, 0) == r ? 0 : -1);
	result(fd, "getpid", syscall(SYS_getpid));
#ifdef __x86_64__
	r = fork();
	if (r == 0) {
		syscall(0x40000000 | SYS_getpid); /* x32 */
		_exit(0);
	}
	waitpid(r, &st, 0);
	dprintf(fd, "x32=%s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS ? "killed" : "lived");
	r = fork();
	if (r == 0) {
		/* i386's getpid through int 0x80: a foreign architecture. */
		long ret;
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
		_exit(0);
	}
	waitpid(r, &st, 0);
	dprintf(fd, "i386=%s\n", i386_outcome(st));
#endif
}

#ifdef __x86_64__
/* How i386's getpid through int $0x80 ended, as a word. */
static const char *i386_outcome(int st)
{
	static char sig[32];

	if (!WIFSIGNALED(st))
		return "lived";
	if (WTERMSIG(st) == SIGSYS)
		return "killed";
	snprintf(sig, sizeof(sig), "SIG%s", sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
	return sig;
}

/* What this kernel does with i386's getpid through int $0x80 when no
 * filter is installed: "lived" where it has IA32 emulation; where it has
 * none (CONFIG_IA32_EMULATION off, or ia32_emulation=0 on its command
 * line) the instruction faults before any system call entry, so no seccomp
 * filter ever sees it (SIGSEGV). */
static const char *i386_without_filter(void)
{
	int st;
	pid_t r = fork();

	if (r == 0) {
		long ret;
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
		_exit(0);
	}
	if (r < 0 || waitpid(r, &st, 0) != r)
		return "unknown";
	return i386_outcome(st);
}

/* Classic BPF run as the kernel runs a seccomp filter, for the instructions
 * seccomp.c emits (anything else returns a value no action has): what the
 * filter answers for d.  For what no system call on this machine can make
 * the kernel show. */
static uint32_t filter_answer(const struct kiln_seccomp *s, const struct seccomp_data *d)
{
	uint32_t a = 0;

	for (size_t pc = 0; pc < s->len; pc++) {
		const struct sock_filter *f = &s->filter[pc];

		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (f->k > sizeof(*d) - 4)
				return 0xdeadbeef;
			memcpy(&a, (const char *)d + f->k, 4);
			break;
		case BPF_ALU | BPF_AND | BPF_K: a &= f->k; break;
		case BPF_JMP | BPF_JA: pc += f->k; break;
		case BPF_JMP | BPF_JEQ | BPF_K: pc += a == f->k ? f->jt : f->jf; break;
		case BPF_JMP | BPF_JGE | BPF_K: pc += a >= f->k ? f->jt : f->jf; break;
		case BPF_JMP | BPF_JGT | BPF_K: pc += a > f->k ? f->jt : f->jf; break;
		case BPF_JMP | BPF_JSET | BPF_K: pc += a & f->k ? f->jt : f->jf; break;
		case BPF_RET | BPF_K: return f->k;
		default: return 0xdeadbeef;
		}
	}
	return 0xdeadbeef;
}
#endif

TEST(seccomp_default_filter_in_process)
{
	json_t *profile = kiln_seccomp_default_profile(~0ULL);
#ifdef __x86_64__
	/* Before the filter: can this kernel run an i386 system call at all? */
	const char *i386 = i386_without_filter();
#endif
	_cleanup_free_ char *out = under_filter(profile, probe_default);
	_cleanup_free_ char *want = NULL;

#ifdef __x86_64__
	/* With IA32 emulation the filter must kill the call; without, the
	 * fault comes first and the filter must leave it as it was. */
	want = kiln_xasprintf("x32=killed\ni386=%s\n", strcmp(i386, "lived") == 0 ? "killed" : i386);
	if (strcmp(i386, "lived") != 0)
		printf("# this kernel has no IA32 emulation (int $0x80 without a filter: %s): no i386 "
		       "system call can reach the filter; checked instead that the filter leaves it "
		       "as it was and that its program kills the i386 architecture\n", i386);
#else
	want = kiln_xstrdup("");
#endif
	_cleanup_free_ char *all = kiln_xasprintf(
		"keyctl=EPERM\nbpf=EPERM\nperf_event_open=EPERM\nunshare_user=EPERM\n"
		"unshare_user_uts=EPERM\nunshare_uts=ok\nclone3=ENOSYS\nfork=ok\ngetpid=ok\n%s", want);
	CHECK_STR(out, all);

#ifdef __x86_64__
	/* The program, on data the kernel gives: the answers the kernel acted
	 * on above, then the i386 one, whatever this kernel can show. */
	struct kiln_seccomp s;
	struct kiln_error err = { 0 };
	struct seccomp_data d = { .arch = AUDIT_ARCH_X86_64, .nr = SYS_getpid };

	CHECK(kiln_seccomp_compile(profile, &s, &err) == 0);
	CHECK(filter_answer(&s, &d) == SECCOMP_RET_ALLOW);
	d.nr = SYS_keyctl;
	CHECK(filter_answer(&s, &d) == (SECCOMP_RET_ERRNO | EPERM));
	d.nr = 0x40000000 | SYS_getpid;
	CHECK(filter_answer(&s, &d) == SECCOMP_RET_KILL_PROCESS);
	d = (struct seccomp_data){ .arch = AUDIT_ARCH_I386, .nr = 20 /* getpid */ };
	CHECK(filter_answer(&s, &d) == SECCOMP_RET_KILL_PROCESS);
	kiln_seccomp_release(&s);
#endif
	json_decref(profile);
}

static void probe_args(int fd)
{
	/* personality(0xffffffff) only queries. */
	result(fd, "eq_hit", syscall(SYS_personality, 0x12345UL));
	result(fd, "eq_miss", syscall(SYS_personality, 0xffffffffUL));
	result(fd, "eq_high_bits", syscall(SYS_personality, 0x100012345UL));
	result(fd, "ne_hit", syscall(SYS_getpriority, 0 /* PRIO_PROCESS */, 0));
	result(fd, "ne_miss", syscall(SYS_getpriority, 0, 4242));
	result(fd, "sethostname", syscall(SYS_sethostname, "x", 1));
}

TEST(seccomp_profile_ops_and_errors)
{
	json_error_t jerr;
	json_t *profile = json_loads(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"" NATIVE_SCMP_ARCH_FOR_TEST "\"],"
		" \"syscalls\":["
		"  {\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":22,"
		"   \"args\":[{\"index\":0,\"value\":74565,\"op\":\"SCMP_CMP_EQ\"}]},"
		"  {\"names\":[\"getpriority\"],\"action\":\"SCMP_ACT_ERRNO\","
		"   \"args\":[{\"index\":1,\"value\":4242,\"op\":\"SCMP_CMP_NE\"}]},"
		"  {\"names\":[\"sethostname\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38}]}",
		0, &jerr);
	_cleanup_free_ char *out = under_filter(profile, probe_args);

	CHECK_STR(out, "eq_hit=Invalid argument\neq_miss=ok\neq_high_bits=ok\nne_hit=EPERM\n"
		       "ne_miss=No such process\n"
		       "sethostname=ENOSYS\n");
	json_decref(profile);

	static const struct {
		const char *profile;
		const char *want;
	} bad[] = {
		{ "[]", "linux.seccomp: must be an object" },
		{ "{}", "linux.seccomp.defaultAction: must be a string" },
		{ "{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}",
		  "linux.seccomp.defaultAction: \"SCMP_ACT_NOTIFY\" is not supported" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/x\"}",
		  "linux.seccomp.listenerPath: not supported" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_S390X\"]}",
		  "linux.seccomp.architectures[0]: kiln's runtime filters the native architecture" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"]}",
		  "linux.seccomp.flags: not supported" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"frobnicate\"],"
		  "\"action\":\"SCMP_ACT_ERRNO\"}]}",
		  "linux.seccomp.syscalls[0].names[0]: system call \"frobnicate\" unknown" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"bpf\"],"
		  "\"action\":\"SCMP_ACT_TRACE\"}]}",
		  "linux.seccomp.syscalls[0].action: \"SCMP_ACT_TRACE\" is not supported" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"clone\"],"
		  "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_GT\"}]}]}",
		  "linux.seccomp.syscalls[0].args[0].op: \"SCMP_CMP_GT\" is not supported" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"clone\"],"
		  "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		  "linux.seccomp.syscalls[0].args[0].index: must be 0 to 5" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"bpf\"],"
		  "\"action\":\"SCMP_ACT_KILL\",\"errnoRet\":1}]}",
		  "linux.seccomp.syscalls[0].errnoRet: only goes with SCMP_ACT_ERRNO" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[],"
		  "\"action\":\"SCMP_ACT_ERRNO\"}]}",
		  "linux.seccomp.syscalls[0].names: must be a non-empty array" },
		{ "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"bpf\"],"
		  "\"action\":\"SCMP_ACT_ERRNO\",\"includes\":{}}]}",
		  "linux.seccomp.syscalls[0].includes: not supported" },
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		struct kiln_seccomp s;
		struct kiln_error err = { 0 };
		json_t *p = json_loads(bad[i].profile, 0, &jerr);
		CHECK(p && kiln_seccomp_compile(p, &s, &err) == -1);
		CHECK_CONTAINS(err.message, bad[i].want);
		json_decref(p);
	}
}

TEST(seccomp_in_container_and_exec)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64];
	_cleanup_free_ char *out = NULL, *out2 = NULL;
	/* Without linux.seccomp: kiln's default, for the process's
	 * capabilities (Docker's, with CAP_NET_RAW: packet sockets allowed). */
	json_t *c = config_new(SH("sctest; unshare -U true 2>&1; echo unshare=$?;"
				  "grep -E '^Seccomp' /proc/self/status; sh -c 'echo nested-sh-ok'"));

	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out, SCTEST_WANT_PACKET("ok") "unshare: unshare(0x10000000): Operation not permitted\nunshare=1\n"
		       "Seccomp:\t2\nSeccomp_filters:\t1\nnested-sh-ok\n");
	json_decref(c);

	/* The default profile for a process without CAP_NET_RAW, written
	 * into config.json: packet sockets refused even with it. */
	c = config_new(SH("sctest"));
	json_object_set_new(json_object_get(c, "linux"), "seccomp", kiln_seccomp_default_profile(0));
	CHECK(run_config(c, &out2) == 0);
	CHECK_STR(out2, SCTEST_WANT);
	free(out2);
	out2 = NULL;
	/* An explicitly empty profile: nothing denied. */
	json_object_set_new(json_object_get(c, "linux"), "seccomp",
			    json_pack("{s:s}", "defaultAction", "SCMP_ACT_ALLOW"));
	json_object_set_new(json_object_get(c, "process"), "args",
			    json_pack("[s,s,s]", "sh", "-c", "unshare -U true && echo userns-allowed"));
	CHECK(run_config(c, &out2) == 0);
	CHECK_STR(out2, "userns-allowed\n");
	json_decref(c);

	/* Without noNewPrivileges the filter goes in before the capabilities
	 * drop; and kiln_runtime_exec's process is filtered too. */
	c = config_new((const char *const[]){ "sleep", "30", NULL });
	json_object_set_new(json_object_get(c, "process"), "noNewPrivileges", json_false());
	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	pid_t pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		return;
	}
	int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
	o.stdio.out = o.stdio.err = fd;
	char *const argv[] = { "sh", "-c", "sctest; grep -E '^(Seccomp|NoNewPrivs)' /proc/self/status;"
			       "grep -E '^(Seccomp|NoNewPrivs)' /proc/1/status", NULL };
	pid_t epid = kiln_runtime_exec(&o, pid, argv, NULL, NULL, &err);
	CHECK(epid > 0);
	if (epid > 0)
		CHECK(kiln_runtime_wait(epid, &err) == 0);
	else
		printf("# %s\n", err.message);
	_cleanup_free_ char *out3 = read_fd_all(fd);
	close(fd);
	CHECK_STR(out3, SCTEST_WANT_PACKET("ok") "NoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n"
		        "NoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n");
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
}

/* Before exec, the container's process is not dumpable: only
 * CAP_SYS_PTRACE opens its /proc/PID/exe (CVE-2019-5736), and its /proc/PID
 * files belong to root:root instead of its own ids.  The caller runs with
 * egid 4321 for the start, so that the two owners differ. */
struct dump_seen {
	int calls;
	gid_t group;
};

static int before_start_owner(void *ctx, pid_t pid, struct kiln_error *err)
{
	struct dump_seen *s = ctx;
	char path[64];
	struct stat st;

	s->calls++;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	s->group = stat(path, &st) == 0 ? st.st_gid : (gid_t)-1;
	return 0;
}

TEST(container_process_not_dumpable_before_exec)
{
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	struct dump_seen seen = { 0 };
	char id[64], path[64];
	struct stat st;
	json_t *c = config_new((const char *const[]){ "sleep", "30", NULL });
	pid_t pid;

	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	o.before_start = before_start_owner;
	o.before_start_ctx = &seen;
	/* Changing egid makes us non-dumpable: undo that, to see the runtime's. */
	CHECK(setegid(4321) == 0);
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)getpid());
	CHECK(stat(path, &st) == 0 && st.st_gid == 4321);
	pid = kiln_runtime_start(&o, &err);
	/* The caller's own flag is back. */
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1);
	CHECK(setegid(0) == 0);
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	CHECK(pid > 0);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK(seen.calls == 1);
	CHECK(seen.group == 0);
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
}

static const char *v2_root_for_test(void)
{
	struct stat st;
	if (stat("/sys/fs/cgroup/unified/cgroup.procs", &st) == 0)
		return "/sys/fs/cgroup/unified";
	if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0)
		return "/sys/fs/cgroup";
	return NULL;
}

TEST(device_rules_and_mknod)
{
	const char *root = v2_root_for_test();
	_cleanup_free_ char *out = NULL, *out2 = NULL, *out3 = NULL, *out4 = NULL, *out5 = NULL;
	const char *probe = "grep -E '^Cap(Bnd|Eff|Prm)' /proc/self/status;"
			    "mknod /dev/kiln-sda b 8 0 2>&1 | sed 's/.*: //';"
			    "head -c 1 /dev/kiln-sda 2>&1 >/dev/null | sed 's/.*: //';"
			    "head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null-ok";
	json_t *c = config_new(SH(probe));
	/* Docker's set without CAP_MKNOD (bit 27). */
	const char *no_mknod = "CapPrm:\t00000000a00425fb\nCapEff:\t00000000a00425fb\n"
			       "CapBnd:\t00000000a00425fb\nOperation not permitted\n"
			       "No such file or directory\n3\nnull-ok\n";
	/* A device cgroup: mknod allowed ("b *:* m"), opening a disk not. */
	const char *guarded = "CapPrm:\t" DOCKER_CAPS_HEX "\nCapEff:\t" DOCKER_CAPS_HEX "\n"
			      "CapBnd:\t" DOCKER_CAPS_HEX "\nOperation not permitted\n3\nnull-ok\n";

	CHECK(root != NULL);
	if (!root)
		return;
	/* v2 with linux.resources.devices: kiln's BPF device program. */
	kiln_cgroup_set_v2_mount(root);
	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out, guarded);
	/* v2 without device rules: nothing guards devices, no CAP_MKNOD. */
	json_object_del(json_object_get(json_object_get(c, "linux"), "resources"), "devices");
	CHECK(run_config(c, &out2) == 0);
	CHECK_STR(out2, no_mknod);
	kiln_cgroup_set_v2_mount(NULL);
	/* v1 without device rules: the same. */
	CHECK(run_config(c, &out3) == 0);
	CHECK_STR(out3, no_mknod);
	json_decref(c);
	/* v1 with device rules: the devices controller. */
	c = config_new(SH(probe));
	CHECK(run_config(c, &out4) == 0);
	CHECK_STR(out4, guarded);
	json_decref(c);

	/* No process.capabilities at all (root keeps everything) and no device
	 * rules on v2: everything but CAP_MKNOD. */
	c = config_new(SH("grep ^CapBnd /proc/self/status | cut -f2"));
	json_object_del(json_object_get(c, "process"), "capabilities");
	json_object_del(json_object_get(json_object_get(c, "linux"), "resources"), "devices");
	kiln_cgroup_set_v2_mount(root);
	CHECK(run_config(c, &out5) == 0);
	kiln_cgroup_set_v2_mount(NULL);
	CHECK(out5 && !(strtoull(out5, NULL, 16) & (1ULL << 27)) && strtoull(out5, NULL, 16) != 0);
	json_decref(c);
}

TEST(rbind_readonly_reaches_submounts)
{
	char src[300], sub[320], cmd[1100];
	_cleanup_free_ char *out = NULL;
	json_t *c = config_new(SH("{ echo x > /data/top; } 2>/dev/null || echo top-ro;"
				  "{ echo x > /data/sub/file; } 2>/dev/null || echo sub-ro;"
				  "cat /data/sub/file;"
				  "grep ' /data/sub ' /proc/self/mountinfo | cut -d' ' -f6"));

	snprintf(src, sizeof(src), "%s/robind", tmpdir);
	snprintf(sub, sizeof(sub), "%s/sub", src);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && mount -t tmpfs kiln-test-sub %s && echo inside > %s/file",
		 sub, sub, sub);
	CHECK(system(cmd) == 0);
	json_array_append_new(json_object_get(c, "mounts"),
			      json_pack("{s:s, s:s, s:s, s:[s,s,s,s]}", "destination", "/data", "type",
					"bind", "source", src, "options", "rbind", "ro", "nosuid", "nodev"));
	CHECK(run_config(c, &out) == 0);
	CHECK_STR(out, "top-ro\nsub-ro\ninside\nro,nosuid,nodev,relatime\n");
	/* The host's submount is untouched. */
	snprintf(cmd, sizeof(cmd), "echo host > %s/file", sub);
	CHECK(system(cmd) == 0);
	CHECK(umount2(sub, 0) == 0);
	json_decref(c);
}

TEST(cgroup_namespace_on_v2)
{
	const char *root = v2_root_for_test();
	struct kiln_runtime_options o;
	struct kiln_error err = { 0 };
	char id[64], host_dir[400];
	json_t *c = config_new(SH("grep '^0::' /proc/self/cgroup; find /sys/fs/cgroup -mindepth 1 -type d | wc -l;"
				  "ls /sys/fs/cgroup | grep -c kiln; echo done; sleep 30"));
	int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0600);

	CHECK(root != NULL);
	if (!root)
		return;
	kiln_cgroup_set_v2_mount(root);
	config_write(c);
	json_decref(c);
	options_init(&o, id, sizeof(id));
	o.stdio.out = o.stdio.err = fd;
	pid_t pid = kiln_runtime_start(&o, &err);
	CHECK(pid > 0);
	if (pid <= 0) {
		printf("# %s\n", err.message);
		kiln_cgroup_set_v2_mount(NULL);
		return;
	}
	/* The host sees the container's group (and others) at the root. */
	snprintf(host_dir, sizeof(host_dir), "%s/%s/%s", root, cgparent, id);
	CHECK(access(host_dir, F_OK) == 0);
	/* exec's process: the same namespace; its device rules are the
	 * BPF program's, so CAP_MKNOD stays. */
	char *const argv[] = { "sh", "-c", "grep '^0::' /proc/self/cgroup; grep ^CapBnd /proc/self/status",
			       NULL };
	struct kiln_runtime_options eo = o;
	int efd = open(tmpdir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
	eo.stdio.out = eo.stdio.err = efd;
	pid_t epid = kiln_runtime_exec(&eo, pid, argv, NULL, NULL, &err);
	CHECK(epid > 0 && kiln_runtime_wait(epid, &err) == 0);
	_cleanup_free_ char *eout = read_fd_all(efd);
	close(efd);
	CHECK_STR(eout, "0::/\nCapBnd:\t" DOCKER_CAPS_HEX "\n");
	/* The container's own observations are written before its sleep. */
	char *out = NULL;
	for (int i = 0; i < 500; i++) {
		free(out);
		out = read_fd_all(fd);
		if (strstr(out, "done\n"))
			break;
		usleep(10000);
	}
	CHECK(kiln_runtime_cleanup(&o, &err) == 0);
	CHECK(kiln_runtime_wait(pid, &err) == 137);
	kiln_cgroup_set_v2_mount(NULL);
	close(fd);
	CHECK_STR(out, "0::/\n0\n0\ndone\n");
	free(out);
	CHECK(access(host_dir, F_OK) < 0);
	snprintf(host_dir, sizeof(host_dir), "%s/%s", root, cgparent);
	rmdir(host_dir);
}

/* ---- setup ---- */

static int make_rootfs(const char *dir)
{
	static const char *const dirs[] = { "bin", "proc", "sys", "dev", "tmp", "etc", "mnt", "root" };
	char path[512];
	struct kiln_error err;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dirs[i]);
		if (kiln_mkdir_p(path, 0755, &err) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "cp /bin/busybox %s/bin/busybox", dir);
	if (system(path) != 0)
		return -1;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(applets); i++) {
		snprintf(path, sizeof(path), "%s/bin/%s", dir, applets[i]);
		if (symlink("busybox", path) < 0)
			return -1;
	}
	return 0;
}

static void remove_all(void)
{
	char cmd[512];
	char dir[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	/* The per-run cgroup parent, in every hierarchy. */
	static const char *const hier[] = { "memory", "pids", "cpu", "devices", "unified" };
	for (size_t i = 0; i < KILN_ARRAY_SIZE(hier); i++) {
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s/%s", hier[i], cgparent);
		rmdir(dir);
	}
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s", cgparent);
	rmdir(dir);
}

/* A hung test must not hang the suite nor leave containers behind: kill
 * and remove every container this run made, then fail. */
static void on_timeout(int sig)
{
	(void)sig;
	printf("not ok - timed out after test %d\n", tap_count);
	for (int i = 1; i <= seq; i++) {
		struct kiln_runtime_options o;
		struct kiln_error err;
		char id[64];
		snprintf(id, sizeof(id), "t%d-%d", (int)getpid(), i);
		memset(&o, 0, sizeof(o));
		o.id = id;
		o.cgroup_parent = cgparent;
		kiln_runtime_cleanup(&o, &err);
	}
	remove_all();
	_exit(1);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The driver modes for the CLI test. */
static int drive(int argc, char **argv)
{
	struct kiln_runtime_options o = { 0 };
	struct kiln_error err = { 0 };

	o.bundle = argv[2];
	o.cgroup_parent = getenv("KILN_TEST_CGROUP_PARENT");
	o.stdio = (struct kiln_runtime_stdio){ 0, 1, 2 };
	o.console_socket_fd = -1;
	if (strcmp(argv[1], "run") == 0) {
		o.id = argv[3];
		pid_t pid = kiln_runtime_start(&o, &err);
		if (pid < 0) {
			fprintf(stderr, "test_runtime: %s\n", err.message);
			return 125;
		}
		int status = kiln_runtime_wait(pid, &err);
		if (kiln_runtime_cleanup(&o, &err) < 0)
			fprintf(stderr, "test_runtime: %s\n", err.message);
		return status < 0 ? 125 : status;
	}
	if (strcmp(argv[1], "time") == 0) {
		int n = atoi(argv[3]);
		int64_t *t = kiln_xcalloc((size_t)n + 1, sizeof(*t));
		char id[64];
		o.stdio = (struct kiln_runtime_stdio){ -1, -1, 2 };
		for (int i = 0; i < n; i++) {
			snprintf(id, sizeof(id), "time-%d-%d", (int)getpid(), i);
			o.id = id;
			int64_t t0 = now_us();
			pid_t pid = kiln_runtime_start(&o, &err);
			if (pid < 0 || kiln_runtime_wait(pid, &err) != 0 ||
			    kiln_runtime_cleanup(&o, &err) < 0) {
				fprintf(stderr, "test_runtime: %s\n", err.message);
				return 1;
			}
			t[i] = now_us() - t0;
		}
		qsort(t, (size_t)n, sizeof(*t), cmp_i64);
		printf("%lld\n", (long long)t[n / 2]);
		free(t);
		return 0;
	}
	(void)argc;
	fprintf(stderr, "usage: test_runtime [run BUNDLE ID | time BUNDLE N]\n");
	return 2;
}

int main(int argc, char **argv)
{
	char rootfs[300];

	if (argc == 4)
		return drive(argc, argv);
	if (argc == 2 && strcmp(argv[1], "sctest-source") == 0) {
		fputs(sctest_src, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "default-seccomp") == 0) {
		/* For kiln's default capabilities (without CAP_NET_RAW). */
		json_t *p = kiln_seccomp_default_profile(0);
		char *text = json_dumps(p, JSON_COMPACT);
		puts(text);
		free(text);
		json_decref(p);
		return 0;
	}
	if (geteuid() != 0 || access("/bin/busybox", X_OK) < 0) {
		printf("# needs root and /bin/busybox (busybox-static)\n");
		printf("not ok 1 - environment\n1..1\n");
		return 1;
	}
	/* A failed test must not kill the run by writing to a dead pipe (and
	 * the containers must not inherit the ignored SIGPIPE: tested). */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_timeout);
	signal(SIGTERM, on_timeout);
	alarm(300);
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(cgparent, sizeof(cgparent), "kiln-test-%d", (int)getpid());
	snprintf(bundle, sizeof(bundle), "%s/bundle", tmpdir);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	if (make_rootfs(rootfs) < 0 || make_sctest(rootfs) < 0) {
		printf("not ok 1 - make rootfs\n1..1\n");
		remove_all();
		return 1;
	}
	RUN(pid1_is_the_command);
	RUN(hostname_and_cwd);
	RUN(capabilities_and_no_new_privs);
	RUN(user_and_groups);
	RUN(only_loopback_in_new_netns);
	RUN(sys_readonly_and_masked_paths);
	RUN(minimal_dev);
	RUN(default_dev_without_dev_mount);
	RUN(exit_codes);
	RUN(killed_by_sigkill_is_137);
	RUN(memory_limit_kills);
	RUN(pids_limit_refuses_fork);
	RUN(rlimit_nofile_clamped);
	RUN(before_start_sees_new_netns);
	RUN(join_netns);
	RUN(host_network_mode);
	RUN(caller_with_threads);
	RUN(user_namespace);
	RUN(stdio_fds);
	RUN(terminal_pty);
	RUN(exec_joins_running_container);
	RUN(cleanup_leaves_no_cgroup_and_no_mounts);
	RUN(cgroup_v2_layout);
	RUN(console_socket_gets_the_pty);
	RUN(cpu_limit_in_cgroup);
	RUN(devices_sysctl_signals);
	RUN(overlay_root);
	RUN(config_errors_name_the_field);
	RUN(config_errors_table);
	RUN(paths_stay_inside_the_root);
	RUN(exec_with_terminal);
	RUN(seccomp_default_filter_in_process);
	RUN(seccomp_profile_ops_and_errors);
	RUN(seccomp_in_container_and_exec);
	RUN(container_process_not_dumpable_before_exec);
	RUN(device_rules_and_mknod);
	RUN(rbind_readonly_reaches_submounts);
	RUN(cgroup_namespace_on_v2);
	remove_all();
	return tap_done();
}
