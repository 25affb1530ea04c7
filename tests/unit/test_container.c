/* test_container.c - container state on disk, lookup and the reaper
 * (lib/container), on state written by hand: no container is started. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "fsutil.h"
#include "rootfs.h"
#include "tap.h"
#include "util.h"

static char *root_dir;
/* The root every test opens: root_dir, set in main. */
static struct kiln_container_root_options root_options;

static void write_state(const char *id, const char *name, const char *status, bool auto_remove)
{
	_cleanup_free_ char *dir = kiln_xasprintf("%s/run/containers/%s", root_dir, id);
	_cleanup_free_ char *state = kiln_path_join(dir, "state.json");
	_cleanup_free_ char *lock = kiln_path_join(dir, "monitor.lock");
	_cleanup_free_ char *upper = kiln_xasprintf("%s/containers/%s/upper", root_dir, id);
	_cleanup_free_ char *link = kiln_xasprintf("%s/run/names/%s", root_dir, name);
	_cleanup_free_ char *json = kiln_xasprintf(
		"{\"id\":\"%s\",\"name\":\"%s\",\"status\":\"%s\",\"auto_remove\":%s,\"runtime\":\"runc\","
		"\"network\":\"none\",\"command\":[\"sleep\",\"1\"],\"ports\":[],\"created\":%d,\"exit_code\":0}",
		id, name, status, auto_remove ? "true" : "false", id[0] == 'a' ? 1 : 2);

	kiln_mkdir_p(dir, 0700, NULL);
	kiln_mkdir_p(upper, 0755, NULL);
	kiln_file_write_atomic(state, json, strlen(json), 0644, NULL);
	kiln_file_write_atomic(lock, "", 0, 0600, NULL); /* nobody holds it: the monitor is dead */
	if (symlink(id, link) < 0)
		abort();
}

/* Does ROOT/<pre><id><post> exist? */
static bool exists(const char *pre, const char *id, const char *post)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s%s%s%s", root_dir, pre, id, post);
	struct stat st;
	return lstat(p, &st) == 0;
}

TEST(names)
{
	CHECK(kiln_container_name_valid("web"));
	CHECK(kiln_container_name_valid("a.b-c_d9"));
	CHECK(kiln_container_name_valid("0abc"));
	CHECK(!kiln_container_name_valid(""));
	CHECK(!kiln_container_name_valid("-x"));
	CHECK(!kiln_container_name_valid(".x"));
	CHECK(!kiln_container_name_valid("a/b"));
	CHECK(!kiln_container_name_valid("a b"));
	CHECK(!kiln_container_name_valid("../x"));
	char long_name[80];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	CHECK(!kiln_container_name_valid(long_name));
	long_name[64] = 0;
	CHECK(kiln_container_name_valid(long_name));
}

TEST(root_open)
{
	struct kiln_error err = { 0 };
	struct kiln_container_root *r;
	struct kiln_container *v;
	size_t n;

	struct kiln_container_root_options bad = { .root = "relative/dir" };
	CHECK(kiln_container_root_open(&bad, &err) == NULL);
	CHECK_CONTAINS(err.message, "absolute");
	r = kiln_container_root_open(&root_options, &err);
	CHECK(r != NULL);
	if (!r)
		return;
	_cleanup_free_ char *run = kiln_path_join(root_dir, "run");
	CHECK_STR(kiln_container_root_dir(r), root_dir);
	CHECK_STR(kiln_container_run_dir(r), run);
	CHECK(exists("/run/containers", "", "") && exists("/run/names", "", "") && exists("/containers", "", ""));
	CHECK(kiln_container_list(r, &v, &n, &err) == 0 && n == 0);
	kiln_container_list_free(v, n);
	struct kiln_container c;
	CHECK(kiln_container_find(r, "nosuch", &c, &err) < 0);
	CHECK_CONTAINS(err.message, "no container 'nosuch'");
	kiln_container_root_free(r);
}

TEST(reap_and_find)
{
	const char *a = "a0000000000000000000000000000001", *b = "b0000000000000000000000000000002";
	const char *c3 = "c0000000000000000000000000000003";
	struct kiln_error err = { 0 };
	struct kiln_container_root *r;
	struct kiln_container c, *v;
	size_t n;

	write_state(a, "kept", "running", false);
	write_state(b, "gone", "running", true);
	write_state(c3, "done", "exited", false);
	/* A writable layer and a name whose container state is gone. */
	_cleanup_free_ char *orphan = kiln_xasprintf("%s/containers/d0000000000000000000000000000004/upper", root_dir);
	_cleanup_free_ char *dangling = kiln_xasprintf("%s/run/names/dangling", root_dir);
	kiln_mkdir_p(orphan, 0755, NULL);
	CHECK(symlink("d0000000000000000000000000000004", dangling) == 0);

	r = kiln_container_root_open(&root_options, &err); /* reaps */
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(kiln_container_find(r, "kept", &c, &err) == 0);
	CHECK(c.status == KILN_CONTAINER_EXITED && c.exit_code == 137);
	CHECK_CONTAINS(c.error ? c.error : "", "monitor died");
	CHECK(!kiln_container_monitored(r, &c));
	kiln_container_release(&c);
	CHECK(exists("/containers/", a, "/upper")); /* kept until rm */
	CHECK(!exists("/run/containers/", b, ""));   /* --rm: removed */
	CHECK(!exists("/containers/", b, ""));
	CHECK(!exists("/run/names/gone", "", ""));
	CHECK(!exists("/containers/d0000000000000000000000000000004", "", ""));
	CHECK(!exists("/run/names/dangling", "", ""));
	CHECK(kiln_container_find(r, "done", &c, &err) == 0);
	CHECK(c.status == KILN_CONTAINER_EXITED && c.exit_code == 0 && !c.error);
	kiln_container_release(&c);

	/* By id prefix: unique or refused. */
	CHECK(kiln_container_find(r, "a000", &c, &err) == 0);
	CHECK_STR(c.name, "kept");
	kiln_container_release(&c);
	CHECK(kiln_container_find(r, a, &c, &err) == 0);
	kiln_container_release(&c);
	CHECK(kiln_container_find(r, "c00", &c, &err) < 0); /* too short */
	write_state("a0000000000000000000000000000005", "other", "exited", false);
	CHECK(kiln_container_find(r, "a000", &c, &err) < 0);
	CHECK_CONTAINS(err.message, "2 containers");
	CHECK(kiln_container_list(r, &v, &n, &err) == 0 && n == 3);
	CHECK(n == 3 && strcmp(v[0].id, a) == 0); /* oldest first */
	kiln_container_list_free(v, n);

	/* rm of an exited container removes everything of it. */
	CHECK(kiln_container_find(r, "kept", &c, &err) == 0);
	CHECK(kiln_container_remove(r, &c, false, &err) == 0);
	kiln_container_release(&c);
	CHECK(!exists("/run/containers/", a, ""));
	CHECK(!exists("/containers/", a, ""));
	CHECK(!exists("/run/names/kept", "", ""));
	/* Logs of a container that wrote none: empty, no error. */
	CHECK(kiln_container_find(r, "done", &c, &err) == 0);
	CHECK(kiln_container_logs(r, &c, false, 1, &err) == 0);
	CHECK(kiln_container_stop(r, &c, 1, &err) == 0); /* not running: nothing to do */
	char *argv[] = { "true", NULL };
	int code;
	CHECK(kiln_container_exec(r, &c, argv, false, &code, &err) < 0);
	CHECK_CONTAINS(err.message, "not running");
	kiln_container_release(&c);
	kiln_container_root_free(r);
}

/* state.json keeps the commit and the service a container runs; one
 * written before they existed loads with neither. */
TEST(commit_and_service)
{
	const char *a = "e0000000000000000000000000000006", *b = "f0000000000000000000000000000007";
	const char *commit = "0123456789abcdef0123456789abcdef01234567";
	_cleanup_free_ char *dir = kiln_xasprintf("%s/run/containers/%s", root_dir, a);
	_cleanup_free_ char *state = kiln_path_join(dir, "state.json");
	_cleanup_free_ char *json = kiln_xasprintf(
		"{\"id\":\"%s\",\"name\":\"svc\",\"status\":\"running\",\"runtime\":\"kiln\",\"network\":\"none\","
		"\"command\":[],\"ports\":[],\"created\":3,\"image\":\"sha256:%064d\",\"commit\":\"%s\","
		"\"service\":\"web\"}", a, 0, commit);
	struct kiln_error err = { 0 };
	struct kiln_container_root *r;
	struct kiln_container c;

	write_state(a, "svc", "running", false);
	kiln_file_write_atomic(state, json, strlen(json), 0644, NULL);
	write_state(b, "old", "exited", false);
	r = kiln_container_root_open(&root_options, &err); /* reaps a: rewrites its state */
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(kiln_container_find(r, "svc", &c, &err) == 0);
	CHECK(c.status == KILN_CONTAINER_EXITED); /* its monitor was dead: reaped, state saved again */
	CHECK_STR(c.commit ? c.commit : "", commit);
	CHECK_STR(c.service ? c.service : "", "web");
	kiln_container_release(&c);
	CHECK(kiln_container_find(r, "old", &c, &err) == 0);
	CHECK(c.commit == NULL && c.service == NULL);
	kiln_container_release(&c);
	kiln_container_root_free(r);
}

/* A container whose monitor died before it started (status created) is
 * gone after the reap, name and all, as a start that fails. */
TEST(created_reaped)
{
	const char *a = "90000000000000000000000000000008";
	struct kiln_error err = { 0 };
	struct kiln_container_root *r;
	struct kiln_container c;

	write_state(a, "half", "created", false);
	r = kiln_container_root_open(&root_options, &err);
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(kiln_container_find(r, "half", &c, &err) < 0);
	CHECK(!exists("/run/containers/", a, ""));
	CHECK(!exists("/containers/", a, ""));
	CHECK(!exists("/run/names/half", "", ""));
	kiln_container_root_free(r);
}

TEST(log_max)
{
	struct kiln_error err = { 0 };
	int64_t size = 0;
	int files = 0;

	CHECK(kiln_container_parse_log_max("10M", &size, &files, &err) == 0);
	CHECK(size == 10 << 20 && files == 0); /* FILES left alone */
	CHECK(kiln_container_parse_log_max("512k:5", &size, &files, &err) == 0);
	CHECK(size == 512 << 10 && files == 5);
	CHECK(kiln_container_parse_log_max("1M:100", &size, &files, &err) == 0 && files == 100);
	static const char *const bad[] = { "0", "", ":2", "1M:0", "1M:101", "1M:", "1M:x", "1M:2:3", "-1M", "1X" };
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		kiln_error_clear(&err);
		if (kiln_container_parse_log_max(bad[i], &size, &files, &err) == 0)
			printf("# '%s' was taken\n", bad[i]);
		CHECK(err.message[0]);
	}
}

/* The reader takes a rotated log oldest first: log.2, log.1, log. */
TEST(logs_read_across_rotated_files)
{
	const char *id = "e0000000000000000000000000000006";
	struct kiln_error err = { 0 };
	struct kiln_container_root *r;
	struct kiln_container c;
	_cleanup_free_ char *dir = kiln_xasprintf("%s/run/containers/%s", root_dir, id);
	static const char *const files[][2] = {
		{ "log.2", "one\ntwo\n" }, { "log.1", "three\n" }, { "log", "four\nfi" }, { "log.lock", "" },
	};
	char out[] = "/tmp/kiln-test-container-logs-XXXXXX";
	int fd = mkstemp(out);

	write_state(id, "rotated", "exited", false);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = kiln_path_join(dir, files[i][0]);
		kiln_file_write_atomic(p, files[i][1], strlen(files[i][1]), 0640, NULL);
	}
	r = kiln_container_root_open(&root_options, &err);
	CHECK(r != NULL && fd >= 0);
	if (!r || fd < 0)
		return;
	CHECK(kiln_container_find(r, "rotated", &c, &err) == 0);
	CHECK(kiln_container_logs(r, &c, false, fd, &err) == 0);
	CHECK(kiln_container_logs(r, &c, true, fd, &err) == 0); /* exited: follow ends */
	_cleanup_free_ char *got = kiln_file_read(out, 1 << 20, NULL, &err);
	CHECK_STR(got, "one\ntwo\nthree\nfour\nfione\ntwo\nthree\nfour\nfi");
	kiln_container_release(&c);
	kiln_container_root_free(r);
	close(fd);
	unlink(out);
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-test-container-XXXXXX";
	root_dir = mkdtemp(tmpl);
	if (!root_dir)
		return 1;
	root_options.root = root_dir;
	RUN(names);
	RUN(root_open);
	RUN(reap_and_find);
	RUN(commit_and_service);
	RUN(created_reaped);
	RUN(log_max);
	RUN(logs_read_across_rotated_files);
	kiln_rootfs_remove(root_dir, NULL);
	return tap_done();
}
