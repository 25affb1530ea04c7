/* test_hook.c - the post-commit hook: its script quotes hostile paths and
 * is valid sh, status reads back what install wrote, another hook is never
 * overwritten or removed (--force moves it aside, uninstall puts it back),
 * core.hooksPath (relative or absolute) and the manifest path rules. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "hook.h"
#include "process.h"
#include "tap.h"
#include "util.h"

static char top[] = "/tmp/kiln-test-hook.XXXXXX";

static int run(char *const argv[], struct kiln_buf *out)
{
	struct kiln_error err = { 0 };
	_cleanup_buf_ struct kiln_buf errout = KILN_BUF_INIT;
	int status = -1;

	if (kiln_process_capture(argv, out, &errout, &status, &err) < 0) {
		printf("# %s: %s\n", argv[0], err.message);
		return -1;
	}
	if (status != 0)
		printf("# %s exited %d: %s\n", argv[0], status, errout.data ? errout.data : "");
	return status == 0 ? 0 : -1;
}

static char *repo;

TEST(setup)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *manifest = NULL, *dir = NULL;

	CHECK(mkdtemp(top) != NULL);
	repo = kiln_path_join(top, "repo");
	char *argv[] = { "git", "init", "-q", repo, NULL };
	CHECK(run(argv, NULL) == 0);
	manifest = kiln_path_join(repo, "it's a dir/kiln.yaml");
	dir = kiln_path_dirname(manifest);
	CHECK(kiln_mkdir_p(dir, 0755, &err) == 0);
	CHECK(kiln_file_write_atomic(manifest, "kiln: 1\n", 8, 0644, &err) == 0);
}

TEST(script_quotes_and_parses)
{
	struct kiln_error err = { 0 };
	char *manifests[] = { "it's a dir/kiln.yaml", "$(touch /tmp/pwned)`x`.yaml" };
	struct kiln_hook_options opt = { manifests, 2, false, "/opt/k i'ln/kiln", "/s t'ore" };
	_cleanup_free_ char *script = kiln_hook_script(&opt, &err);
	_cleanup_free_ char *path = kiln_path_join(top, "script.sh");

	CHECK(script != NULL);
	CHECK(kiln_str_has_prefix(script, "#!/bin/sh\n" KILN_HOOK_MARKER "\n"));
	CHECK_CONTAINS(script, "'it'\\''s a dir/kiln.yaml'");
	CHECK_CONTAINS(script, "'$(touch /tmp/pwned)`x`.yaml'");
	CHECK_CONTAINS(script, "kiln='/opt/k i'\\''ln/kiln'");
	CHECK_CONTAINS(script, "--store '/s t'\\''ore'");
	CHECK_CONTAINS(script, "setsid");
	CHECK(kiln_file_write_atomic(path, script, strlen(script), 0755, &err) == 0);
	char *argv[] = { "sh", "-n", path, NULL };
	CHECK(run(argv, NULL) == 0);

	/* A line break would escape the comment header. */
	char *bad[] = { "a\nrm -rf /" };
	struct kiln_hook_options opt2 = { bad, 1, false, NULL, NULL };
	char *s2 = kiln_hook_script(&opt2, &err);
	CHECK(s2 == NULL);
	CHECK_CONTAINS(err.message, "line break");
	struct kiln_hook_options none = { NULL, 0, false, NULL, NULL };
	CHECK(kiln_hook_script(&none, &err) == NULL);
}

TEST(locate_manifest_paths)
{
	struct kiln_error err = { 0 };
	struct kiln_hook_location loc;
	_cleanup_free_ char *sub = kiln_path_join(repo, "it's a dir");
	_cleanup_free_ char *abs = kiln_path_join(repo, "it's a dir/kiln.yaml");
	_cleanup_free_ char *hooks = kiln_path_join(repo, ".git/hooks/post-commit");
	char *rel;

	CHECK(kiln_hook_locate(sub, &loc, &err) == 0);
	CHECK_STR(loc.hook_path, hooks);
	CHECK_STR(loc.workdir, repo);
	CHECK(!loc.from_hooks_path);
	rel = kiln_hook_manifest_path(&loc, abs, &err);
	CHECK_STR(rel, "it's a dir/kiln.yaml");
	free(rel);
	CHECK(kiln_hook_manifest_path(&loc, "/etc/hostname", &err) == NULL);
	CHECK_CONTAINS(err.message, "not inside the work tree");
	CHECK(kiln_hook_manifest_path(&loc, "/nonexistent/kiln.yaml", &err) == NULL);
	kiln_hook_location_release(&loc);
	CHECK(kiln_hook_locate("/", &loc, &err) == -1);
}

TEST(install_status_uninstall)
{
	struct kiln_error err = { 0 };
	struct kiln_hook_location loc;
	struct kiln_hook_status st;
	char *manifests[] = { "it's a dir/kiln.yaml", "b.yaml" };
	struct kiln_hook_options opt = { manifests, 2, true, "/usr/bin/kiln", NULL };
	_cleanup_free_ char *aside = NULL, *text = NULL;
	bool moved, removed, restored;
	struct stat sb;

	CHECK(kiln_hook_locate(repo, &loc, &err) == 0);
	CHECK(kiln_hook_status(&loc, &st, &err) == 0);
	CHECK(!st.exists && !st.is_kiln);
	CHECK(kiln_hook_install(&loc, &opt, false, &moved, &err) == 0);
	CHECK(!moved);
	CHECK(stat(loc.hook_path, &sb) == 0 && (sb.st_mode & 0777) == 0755);
	CHECK(kiln_hook_status(&loc, &st, &err) == 0);
	CHECK(st.exists && st.is_kiln && st.foreground);
	CHECK(st.n_manifests == 2);
	if (st.n_manifests == 2) {
		CHECK_STR(st.manifests[0], "it's a dir/kiln.yaml");
		CHECK_STR(st.manifests[1], "b.yaml");
	}
	CHECK_STR(st.kiln, "/usr/bin/kiln");
	CHECK(st.store == NULL);
	kiln_hook_status_release(&st);

	/* Installing again replaces kiln's own hook. */
	opt.foreground = false;
	opt.n_manifests = 1;
	CHECK(kiln_hook_install(&loc, &opt, false, &moved, &err) == 0);
	CHECK(kiln_hook_status(&loc, &st, &err) == 0);
	CHECK(st.is_kiln && !st.foreground && st.n_manifests == 1);
	kiln_hook_status_release(&st);
	CHECK(kiln_hook_uninstall(&loc, &removed, &restored, &err) == 0);
	CHECK(removed && !restored && stat(loc.hook_path, &sb) < 0);
	CHECK(kiln_hook_uninstall(&loc, &removed, &restored, &err) == 0);
	CHECK(!removed);

	/* Someone else's hook. */
	CHECK(kiln_file_write_atomic(loc.hook_path, "#!/bin/sh\necho mine\n", 20, 0755, &err) == 0);
	CHECK(kiln_hook_install(&loc, &opt, false, &moved, &err) == -1);
	CHECK_CONTAINS(err.message, "kiln did not write");
	CHECK(kiln_hook_uninstall(&loc, &removed, &restored, &err) == -1);
	CHECK(kiln_hook_status(&loc, &st, &err) == 0);
	CHECK(st.exists && !st.is_kiln);
	kiln_hook_status_release(&st);
	CHECK(kiln_hook_install(&loc, &opt, true, &moved, &err) == 0);
	CHECK(moved);
	aside = kiln_xasprintf("%s.pre-kiln", loc.hook_path);
	text = kiln_file_read(aside, 1024, NULL, &err);
	CHECK_STR(text, "#!/bin/sh\necho mine\n");
	/* A second foreign hook with one already aside: refused. */
	CHECK(kiln_file_write_atomic(loc.hook_path, "#!/bin/sh\necho two\n", 19, 0755, &err) == 0);
	CHECK(kiln_hook_install(&loc, &opt, true, &moved, &err) == -1);
	CHECK_CONTAINS(err.message, "pre-kiln' exists");
	CHECK(kiln_hook_install(&loc, &opt, false, &moved, &err) == -1);
	CHECK(unlink(loc.hook_path) == 0);
	CHECK(kiln_hook_install(&loc, &opt, false, &moved, &err) == 0);
	CHECK(kiln_hook_uninstall(&loc, &removed, &restored, &err) == 0);
	CHECK(removed && restored);
	free(text);
	text = kiln_file_read(loc.hook_path, 1024, NULL, &err);
	CHECK_STR(text, "#!/bin/sh\necho mine\n");
	CHECK(stat(aside, &sb) < 0);
	CHECK(unlink(loc.hook_path) == 0);
	kiln_hook_location_release(&loc);
}

TEST(hooks_path)
{
	struct kiln_error err = { 0 };
	struct kiln_hook_location loc;
	_cleanup_free_ char *want = kiln_path_join(repo, "my hooks/post-commit");
	_cleanup_free_ char *abs = kiln_path_join(top, "abs-hooks");
	_cleanup_free_ char *want_abs = kiln_path_join(top, "abs-hooks/post-commit");
	char *manifests[] = { "kiln.yaml" };
	struct kiln_hook_options opt = { manifests, 1, false, NULL, NULL };
	struct stat sb;

	char *set_rel[] = { "git", "-C", repo, "config", "core.hooksPath", "my hooks", NULL };
	CHECK(run(set_rel, NULL) == 0);
	CHECK(kiln_hook_locate(repo, &loc, &err) == 0);
	CHECK(loc.from_hooks_path);
	CHECK_STR(loc.hook_path, want);
	CHECK(kiln_hook_install(&loc, &opt, false, NULL, &err) == 0);
	CHECK(stat(want, &sb) == 0);
	kiln_hook_location_release(&loc);

	char *set_abs[] = { "git", "-C", repo, "config", "core.hooksPath", abs, NULL };
	CHECK(run(set_abs, NULL) == 0);
	CHECK(kiln_hook_locate(repo, &loc, &err) == 0);
	CHECK_STR(loc.hook_path, want_abs);
	kiln_hook_location_release(&loc);
}

int main(void)
{
	RUN(setup);
	RUN(script_quotes_and_parses);
	RUN(locate_manifest_paths);
	RUN(install_status_uninstall);
	RUN(hooks_path);
	{
		_cleanup_free_ char *cmd = kiln_xasprintf("rm -rf '%s'", top);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", top);
	}
	free(repo);
	return tap_done();
}
