/* Unit tests for lib/ops/history.c: a service's deploy history
 * (docs/deploy.md, History): lines appended and folded per deploy, the
 * current and previous deploys, a torn last line ignored, anything else
 * not written by kiln refused with FILE:LINE, and the digests gc keeps. */
#include "fsutil.h"
#include "history.h"
#include "tap.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *root_dir(void)
{
	char tmpl[] = "/tmp/kiln-test-history.XXXXXX";
	return kiln_xstrdup(mkdtemp(tmpl));
}

static void add(struct kiln_history *h, unsigned seq, const char *action, const char *result, const char *commit,
		const char *digest)
{
	struct kiln_history_entry e = {
		.seq = seq, .time = 1700000000 + seq, .action = (char *)action, .result = (char *)result,
		.commit = (char *)commit, .digest = (char *)digest, .manifest = "kiln.yaml", .store = "/s",
		.container = "web.1", .trigger = "root: kiln deploy",
	};
	struct kiln_error err = { 0 };
	CHECK(kiln_history_append(h, &e, &err) == 0);
}

static void append_raw(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

TEST(deploys_fold_and_current_previous)
{
	_cleanup_free_ char *root = root_dir();
	struct kiln_error err = { 0 };
	struct kiln_history *h = kiln_history_open(root, "web", &err);
	struct kiln_history_deploy *v;
	size_t n;

	CHECK(h != NULL);
	CHECK(kiln_history_load(h, &v, &n, &err) == 0 && n == 0); /* no file: empty */
	CHECK(kiln_history_current(v, n) == -1);
	add(h, 1, "deploy", "started", "c1", "sha256:1");
	add(h, 1, "deploy", "serving", "c1", "sha256:1");
	add(h, 2, "deploy", "started", "c2", "sha256:2");
	add(h, 2, "deploy", "failed", "c2", "sha256:2");
	add(h, 3, "deploy", "started", "c3", "sha256:3");
	add(h, 3, "deploy", "serving", "c3", "sha256:3");
	add(h, 4, "rollback", "started", "c1", "sha256:1");
	CHECK(kiln_history_load(h, &v, &n, &err) == 0);
	CHECK(n == 4);
	CHECK(v[0].finished && !strcmp(v[0].e.result, "serving"));
	CHECK(v[1].finished && !strcmp(v[1].e.result, "failed"));
	CHECK(!v[3].finished && !strcmp(v[3].e.result, "started"));
	CHECK(v[0].started == 1700000001);
	CHECK(kiln_history_current(v, n) == 2);        /* #3: the last that serves */
	CHECK(kiln_history_previous(v, n) == 0);       /* #1: failed #2 never served */
	kiln_history_deploys_free(v, n);

	add(h, 4, "rollback", "serving", "c1", "sha256:1");
	CHECK(kiln_history_load(h, &v, &n, &err) == 0);
	CHECK(kiln_history_current(v, n) == 3);
	CHECK(kiln_history_previous(v, n) == 2);       /* two rollbacks swap back */
	kiln_history_deploys_free(v, n);
	kiln_history_free(h);
	kiln_remove_tree(root, NULL);
}

TEST(torn_last_line_is_ignored_bad_lines_are_not)
{
	_cleanup_free_ char *root = root_dir();
	struct kiln_error err = { 0 };
	struct kiln_history *h = kiln_history_open(root, "web", &err);
	struct kiln_history_deploy *v;
	size_t n;
	static const char *const bad[] = {
		"{\"seq\":1}\n",                                  /* fields missing */
		"not json\n",
		"[1,2]\n",
		"{\"action\":\"deploy\",\"commit\":\"\",\"container\":\"\",\"digest\":\"\",\"manifest\":\"\","
		"\"result\":\"exploded\",\"seq\":1,\"store\":\"\",\"time\":1,\"trigger\":\"\"}\n", /* unknown result */
		"{\"action\":\"deploy\",\"commit\":\"\",\"container\":\"\",\"digest\":\"\",\"manifest\":\"\","
		"\"result\":\"serving\",\"seq\":1,\"store\":\"\",\"time\":1,\"trigger\":\"\",\"extra\":1}\n",
		"{\"action\":\"deploy\",\"commit\":\"\",\"container\":\"\",\"digest\":\"\",\"manifest\":\"\","
		"\"result\":\"serving\",\"seq\":0,\"store\":\"\",\"time\":1,\"trigger\":\"\"}\n",   /* seq 0 */
		"{\"action\":\"deploy\",\"action\":\"deploy\",\"commit\":\"\",\"container\":\"\",\"digest\":\"\","
		"\"manifest\":\"\",\"result\":\"serving\",\"seq\":1,\"store\":\"\",\"time\":1,\"trigger\":\"\"}\n",
	};

	add(h, 1, "deploy", "started", "c1", "sha256:1");
	add(h, 1, "deploy", "serving", "c1", "sha256:1");
	append_raw(kiln_history_path(h), "{\"seq\":2,\"action\":\"depl"); /* a crash mid-write */
	CHECK(kiln_history_load(h, &v, &n, &err) == 0);
	CHECK(n == 1 && !strcmp(v[0].e.result, "serving"));
	kiln_history_deploys_free(v, n);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		_cleanup_free_ char *dir = kiln_xasprintf("%s/services/bad%zu", root, i);
		_cleanup_free_ char *name = kiln_xasprintf("bad%zu", i);
		_cleanup_free_ char *want = NULL;
		struct kiln_history *b = kiln_history_open(root, name, &err);
		struct kiln_error e2 = { 0 };
		add(b, 1, "deploy", "serving", "c1", "sha256:1");
		append_raw(kiln_history_path(b), bad[i]);
		CHECK(kiln_history_load(b, &v, &n, &e2) == -1);
		want = kiln_xasprintf("%s:2:", kiln_history_path(b));
		CHECK(strstr(e2.message, want) != NULL);
		kiln_history_free(b);
	}
	kiln_history_free(h);
	kiln_remove_tree(root, NULL);
}

TEST(all_digests_for_gc)
{
	_cleanup_free_ char *root = root_dir();
	struct kiln_error err = { 0 };
	struct kiln_history *a = kiln_history_open(root, "a", &err), *b = kiln_history_open(root, "b", &err);
	char **d;
	size_t n;
	bool seen1 = false, seen2 = false, seen3 = false;

	add(a, 1, "deploy", "serving", "c1", "sha256:1");
	add(a, 2, "deploy", "failed", "c2", "sha256:2");
	add(b, 1, "deploy", "serving", "c3", "sha256:3");
	CHECK(kiln_history_all_digests(root, &d, &n, &err) == 0);
	for (size_t i = 0; i < n; i++) {
		seen1 |= !strcmp(d[i], "sha256:1");
		seen2 |= !strcmp(d[i], "sha256:2");
		seen3 |= !strcmp(d[i], "sha256:3");
	}
	CHECK(seen1 && seen2 && seen3);
	kiln_strv_free(d, n);
	kiln_history_free(a);
	kiln_history_free(b);
	CHECK(kiln_history_all_digests("/nonexistent/kiln-root", &d, &n, &err) == 0 && n == 0);
	kiln_remove_tree(root, NULL);
}

int main(void)
{
	RUN(deploys_fold_and_current_previous);
	RUN(torn_last_line_is_ignored_bad_lines_are_not);
	RUN(all_digests_for_gc);
	return tap_done();
}
