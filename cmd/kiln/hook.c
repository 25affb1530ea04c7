/* hook.c - `kiln hook install|uninstall|status`. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "hook.h"
#include "kiln.h"
#include "util.h"

static void hook_help(void)
{
	printf("usage: kiln hook install [-f MANIFEST]… [--foreground] [--force] [--store DIR]\n"
	       "       kiln hook uninstall\n"
	       "       kiln hook status [--json]\n"
	       "\n"
	       "install writes a git post-commit hook that builds the snapshot of every new\n"
	       "commit, for each manifest given (default ./kiln.yaml), as\n"
	       "\n"
	       "  KILN -C TOP build --rev COMMIT -f MANIFEST\n"
	       "\n"
	       "KILN being this kiln binary (else `kiln` on PATH) and TOP the top of the work\n"
	       "tree that committed.  The build runs detached in the background, so `git\n"
	       "commit` returns at once; the hook says on stderr where the log goes:\n"
	       "GIT_COMMON_DIR/kiln/logs/COMMIT.log, which ends with \"kiln hook: done (exit\n"
	       "N)\" and says why a build failed (no signing key, say: builds sign, so the\n"
	       "key must be found from the commit's environment, docs/signing.md).  Builds of\n"
	       "quick successive commits wait for each other on the store's lock.\n"
	       "--foreground builds inline instead, its output in the commit's.\n"
	       "\n"
	       "The hook goes where git looks: core.hooksPath when set, else the hooks/\n"
	       "directory of the repository (shared by its worktrees).  It is marked as\n"
	       "kiln's; installing again replaces kiln's hook, but another post-commit hook\n"
	       "is never overwritten: --force moves it aside to post-commit.pre-kiln, and\n"
	       "uninstall puts it back.\n"
	       "\n"
	       "uninstall removes kiln's hook (and only kiln's); status says whether it is\n"
	       "installed, in which mode, and for which manifests.\n"
	       "\n"
	       "Options:\n"
	       "  -f, --file MANIFEST  a manifest to build (repeatable; default ./kiln.yaml)\n"
	       "  --foreground         build inline during the commit\n"
	       "  --force              move a post-commit hook kiln did not write aside\n"
	       "  --store DIR          the store the builds use (default: theirs, $KILN_STORE\n"
	       "                       or snapshots/ at the top of the work tree)\n"
	       "  --json               (status) machine-readable output\n"
	       "  -h, --help           this help\n"
	       "\n"
	       "Exit status: 0 done (status: installed or not), 1 failed or refused, 2 usage.\n");
}

/* The absolute path of the running kiln, or NULL. */
static char *self_path(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n <= 0 || buf[0] != '/')
		return NULL;
	buf[n] = 0;
	/* A binary replaced while running reads "PATH (deleted)". */
	if (kiln_str_has_suffix(buf, " (deleted)"))
		return NULL;
	return kiln_xstrdup(buf);
}

static int hook_install(struct kiln_cli *cli, const struct kiln_hook_location *loc,
			char **manifest_args, size_t n_args, bool foreground, bool force)
{
	struct kiln_hook_options opt = { .foreground = foreground };
	struct kiln_error err = { 0 };
	_cleanup_free_ char *kiln = self_path(), *store = NULL;
	const char *def = kiln_cli_manifest(cli);
	bool moved = false;
	int rc = 0;

	opt.manifests = kiln_xcalloc(n_args + 1, sizeof(*opt.manifests));
	if (n_args == 0) {
		manifest_args = (char **)&def;
		n_args = 1;
	}
	for (size_t i = 0; i < n_args; i++) {
		opt.manifests[opt.n_manifests] = kiln_hook_manifest_path(loc, manifest_args[i], &err);
		if (!opt.manifests[opt.n_manifests]) {
			rc = kiln_cli_fail(cli, &err);
			goto out;
		}
		opt.n_manifests++;
	}
	if (cli->store) {
		store = realpath(cli->store, NULL);
		if (!store && cli->store[0] == '/')
			store = kiln_xstrdup(cli->store);
		if (!store) {
			/* Not there yet: absolute from here, as the build will create it. */
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof(cwd))) {
				kiln_error_errno(&err, errno, "getcwd");
				rc = kiln_cli_fail(cli, &err);
				goto out;
			}
			store = kiln_path_join(cwd, cli->store);
		}
	}
	opt.kiln = kiln;
	opt.store = store;
	if (kiln_hook_install(loc, &opt, force, &moved, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->quiet) {
		if (moved)
			printf("moved the existing post-commit hook to %s.pre-kiln\n", loc->hook_path);
		printf("installed the post-commit hook %s: each commit builds", loc->hook_path);
		for (size_t i = 0; i < opt.n_manifests; i++)
			printf(" %s", opt.manifests[i]);
		if (foreground)
			printf(" during the commit\n");
		else
			printf(" in the background, logs in %s/\n", loc->log_dir);
	}
out:
	for (size_t i = 0; i < opt.n_manifests; i++)
		free(opt.manifests[i]);
	free(opt.manifests);
	return rc;
}

static int hook_uninstall(struct kiln_cli *cli, const struct kiln_hook_location *loc)
{
	struct kiln_error err = { 0 };
	bool removed, restored;

	if (kiln_hook_uninstall(loc, &removed, &restored, &err) < 0)
		return kiln_cli_fail(cli, &err);
	if (cli->quiet)
		return 0;
	if (!removed)
		printf("no post-commit hook at %s; nothing to do\n", loc->hook_path);
	else
		printf("removed kiln's post-commit hook %s\n", loc->hook_path);
	if (restored)
		printf("put the earlier hook back from %s.pre-kiln\n", loc->hook_path);
	return 0;
}

static int hook_status(struct kiln_cli *cli, const struct kiln_hook_location *loc)
{
	struct kiln_hook_status st;
	struct kiln_error err = { 0 };

	if (kiln_hook_status(loc, &st, &err) < 0)
		return kiln_cli_fail(cli, &err);
	if (cli->json) {
		json_t *o = json_object(), *m = json_array();
		char *text;
		json_object_set_new(o, "path", json_string(loc->hook_path));
		json_object_set_new(o, "installed", json_boolean(st.is_kiln));
		json_object_set_new(o, "other_hook", json_boolean(st.exists && !st.is_kiln));
		if (st.is_kiln) {
			for (size_t i = 0; i < st.n_manifests; i++)
				json_array_append_new(m, json_string(st.manifests[i]));
			json_object_set_new(o, "mode", json_string(st.foreground ? "foreground" : "background"));
			json_object_set_new(o, "kiln", st.kiln ? json_string(st.kiln) : json_null());
			json_object_set_new(o, "store", st.store ? json_string(st.store) : json_null());
			json_object_set_new(o, "log_dir", json_string(loc->log_dir));
		}
		json_object_set_new(o, "manifests", m);
		text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n", text);
		free(text);
		json_decref(o);
	} else if (!st.exists) {
		printf("not installed: no post-commit hook at %s\n", loc->hook_path);
	} else if (!st.is_kiln) {
		printf("not installed: %s is a post-commit hook kiln did not write\n", loc->hook_path);
	} else {
		printf("installed: %s\n", loc->hook_path);
		printf("  builds:");
		for (size_t i = 0; i < st.n_manifests; i++)
			printf(" %s", st.manifests[i]);
		printf("\n  mode:   %s\n", st.foreground ? "foreground (during the commit)" : "background");
		if (!st.foreground)
			printf("  logs:   %s/COMMIT.log\n", loc->log_dir);
		printf("  kiln:   %s\n", st.kiln ? st.kiln : "kiln");
		if (st.store)
			printf("  store:  %s\n", st.store);
	}
	kiln_hook_status_release(&st);
	return 0;
}

int cmd_hook(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "force", no_argument, NULL, 'o' },
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_hook_location loc;
	struct kiln_error err = { 0 };
	_cleanup_free_ char **manifests = NULL;
	size_t n_manifests = 0;
	bool foreground = false, force = false;
	const char *verb;
	int ch, rc;

	manifests = kiln_xcalloc((size_t)argc + 1, sizeof(*manifests));
	while ((ch = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': manifests[n_manifests++] = optarg; break;
		case 'F': foreground = true; break;
		case 'o': force = true; break;
		case 's': cli->store = optarg; break;
		case 'j': cli->json = true; break;
		case 'h': hook_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (argc - optind != 1)
		return kiln_cli_usage(cli, "expected one of install, uninstall, status");
	verb = argv[optind];
	if (strcmp(verb, "install") != 0 && strcmp(verb, "uninstall") != 0 && strcmp(verb, "status") != 0)
		return kiln_cli_usage(cli, "'%s': expected install, uninstall or status", verb);
	if (strcmp(verb, "install") != 0 && (n_manifests || foreground || force))
		return kiln_cli_usage(cli, "-f, --foreground and --force are for install");
	if (kiln_hook_locate(".", &loc, &err) < 0)
		return kiln_cli_fail(cli, &err);
	if (strcmp(verb, "install") == 0) {
		/* The global -f counts as one manifest too. */
		if (n_manifests == 0 && cli->manifest)
			manifests[n_manifests++] = (char *)cli->manifest;
		rc = hook_install(cli, &loc, manifests, n_manifests, foreground, force);
	} else if (strcmp(verb, "uninstall") == 0) {
		rc = hook_uninstall(cli, &loc);
	} else {
		rc = hook_status(cli, &loc);
	}
	kiln_hook_location_release(&loc);
	return rc;
}
