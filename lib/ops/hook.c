/* hook.c - kiln's git post-commit hook. */
#include "hook.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "gitrepo.h"
#include "util.h"

#define HOOK_MAX (1u << 20)

/* path without trailing slashes (malloc'd). */
static char *strip_slashes(const char *path)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	return kiln_xstrndup(path, n);
}

int kiln_hook_locate(const char *dir, struct kiln_hook_location *loc, struct kiln_error *err)
{
	struct kiln_git *git;
	_cleanup_free_ char *hooks = NULL, *hooks_dir = NULL;
	int rc = -1;

	memset(loc, 0, sizeof(*loc));
	/* A bare repository is refused here: the hook builds commits of a
	 * work tree. */
	git = kiln_git_open(dir, err);
	if (!git)
		return -1;
	loc->workdir = strip_slashes(kiln_git_workdir(git));
	loc->common_dir = strip_slashes(kiln_git_common_dir(git));
	loc->log_dir = kiln_xasprintf("%s/kiln/logs", loc->common_dir);
	if (kiln_git_config_path(git, "core.hooksPath", &hooks, err) < 0)
		goto out;
	if (hooks && hooks[0]) {
		/* git takes a relative hooksPath from where hooks run: the top
		 * of the work tree. */
		loc->from_hooks_path = true;
		hooks_dir = hooks[0] == '/' ? strip_slashes(hooks) : kiln_path_join(loc->workdir, hooks);
	} else {
		hooks_dir = kiln_path_join(loc->common_dir, "hooks");
	}
	loc->hook_path = kiln_path_join(hooks_dir, "post-commit");
	rc = 0;
out:
	kiln_git_free(git);
	if (rc < 0)
		kiln_hook_location_release(loc);
	return rc;
}

void kiln_hook_location_release(struct kiln_hook_location *loc)
{
	free(loc->hook_path);
	free(loc->workdir);
	free(loc->common_dir);
	free(loc->log_dir);
	memset(loc, 0, sizeof(*loc));
}

char *kiln_hook_manifest_path(const struct kiln_hook_location *loc, const char *path,
			      struct kiln_error *err)
{
	char real[PATH_MAX], top[PATH_MAX];
	size_t n;

	if (!realpath(path, real)) {
		kiln_error_errno(err, errno, "manifest '%s'", path);
		return NULL;
	}
	if (!realpath(loc->workdir, top)) {
		kiln_error_errno(err, errno, "work tree '%s'", loc->workdir);
		return NULL;
	}
	n = strlen(top);
	if (strncmp(real, top, n) != 0 || real[n] != '/') {
		kiln_error_set(err, "manifest '%s' is not inside the work tree '%s'", path, loc->workdir);
		return NULL;
	}
	return kiln_xstrdup(real + n + 1);
}

/* s in single quotes for sh. */
static void add_quoted(struct kiln_buf *b, const char *s)
{
	kiln_buf_addch(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			kiln_buf_adds(b, "'\\''");
		else
			kiln_buf_addch(b, *s);
	}
	kiln_buf_addch(b, '\'');
}

static bool one_line(const char *s)
{
	return !strpbrk(s, "\n\r");
}

char *kiln_hook_script(const struct kiln_hook_options *opt, struct kiln_error *err)
{
	struct kiln_buf b = KILN_BUF_INIT;
	const char *kiln = opt->kiln ? opt->kiln : "kiln";

	if (opt->n_manifests == 0) {
		kiln_error_set(err, "no manifest to build");
		return NULL;
	}
	if (!one_line(kiln) || (opt->store && !one_line(opt->store))) {
		kiln_error_set(err, "a path with a line break cannot go into the hook");
		return NULL;
	}
	for (size_t i = 0; i < opt->n_manifests; i++)
		if (!one_line(opt->manifests[i])) {
			kiln_error_set(err, "manifest path with a line break cannot go into the hook");
			return NULL;
		}
	/* The comment lines are what `kiln hook status` reads back. */
	kiln_buf_adds(&b, "#!/bin/sh\n" KILN_HOOK_MARKER "\n"
		      "# Written by `kiln hook install`: builds the snapshot of each new commit.\n"
		      "# `kiln hook uninstall` removes it, `kiln hook status` shows it.\n");
	kiln_buf_printf(&b, "# kiln-hook-mode: %s\n", opt->foreground ? "foreground" : "background");
	kiln_buf_printf(&b, "# kiln-hook-kiln: %s\n", kiln);
	if (opt->store)
		kiln_buf_printf(&b, "# kiln-hook-store: %s\n", opt->store);
	for (size_t i = 0; i < opt->n_manifests; i++)
		kiln_buf_printf(&b, "# kiln-hook-manifest: %s\n", opt->manifests[i]);
	kiln_buf_adds(&b, "\nkiln=");
	add_quoted(&b, kiln);
	kiln_buf_adds(&b, "\n"
		      "# The binary that installed the hook; else whichever kiln is on PATH.\n"
		      "[ -x \"$kiln\" ] || kiln=kiln\n"
		      "case $0 in /*) self=$0 ;; *) self=$PWD/$0 ;; esac\n"
		      "\n"
		      "# build COMMIT TOP: every manifest's snapshot of COMMIT.\n"
		      "build() {\n"
		      "\tstatus=0\n"
		      "\tfor manifest in");
	for (size_t i = 0; i < opt->n_manifests; i++) {
		kiln_buf_addch(&b, ' ');
		add_quoted(&b, opt->manifests[i]);
	}
	kiln_buf_adds(&b, "; do\n"
		      "\t\techo \"kiln hook: $kiln -C $2 build --rev $1 -f $manifest\"\n"
		      "\t\t\"$kiln\" -C \"$2\" build --rev \"$1\" -f \"$manifest\"");
	if (opt->store) {
		kiln_buf_adds(&b, " --store ");
		add_quoted(&b, opt->store);
	}
	kiln_buf_adds(&b, " || status=$?\n"
		      "\tdone\n"
		      "\techo \"" KILN_HOOK_DONE "$status)\"\n"
		      "\treturn $status\n"
		      "}\n"
		      "\n"
		      "if [ \"${1-}\" = --kiln-build ]; then\n"
		      "\tbuild \"$2\" \"$3\"\n"
		      "\texit\n"
		      "fi\n"
		      "commit=$(git rev-parse --verify -q HEAD) || exit 0\n"
		      "top=$(git rev-parse --show-toplevel) || exit 0\n");
	if (opt->foreground) {
		kiln_buf_adds(&b, "build \"$commit\" \"$top\"\n");
	} else {
		kiln_buf_adds(&b,
			      "# Detached, so the commit returns at once; builds of quick successive\n"
			      "# commits wait for each other on the store's lock.\n"
			      "logs=$(cd \"$(git rev-parse --git-common-dir)\" && pwd -P)/kiln/logs\n"
			      "mkdir -p \"$logs\" || exit 0\n"
			      "log=$logs/$commit.log\n"
			      "echo \"kiln: building the snapshot of $commit in the background; log: $log\" >&2\n"
			      "detach=; command -v setsid >/dev/null 2>&1 && detach=setsid\n"
			      "nohup $detach \"$self\" --kiln-build \"$commit\" \"$top\" </dev/null >\"$log\" 2>&1 &\n"
			      "exit 0\n");
	}
	return kiln_buf_detach(&b);
}

/* Is the file at path kiln's hook?  *exists tells whether there is one. */
static int read_hook(const char *path, bool *exists, char **text, struct kiln_error *err)
{
	struct stat st;

	*exists = false;
	*text = NULL;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return kiln_error_errno(err, errno, "hook '%s'", path);
	}
	*exists = true;
	/* A symlink or odd file is someone else's arrangement: never kiln's. */
	if (!S_ISREG(st.st_mode))
		return 0;
	*text = kiln_file_read(path, HOOK_MAX, NULL, err);
	if (!*text) {
		/* A huge hook is not one kiln wrote. */
		if (st.st_size > (off_t)HOOK_MAX) {
			kiln_error_clear(err);
			return 0;
		}
		return -1;
	}
	return 0;
}

static bool text_is_kiln(const char *text)
{
	return text && kiln_str_has_prefix(text, "#!/bin/sh\n" KILN_HOOK_MARKER "\n");
}

int kiln_hook_install(const struct kiln_hook_location *loc, const struct kiln_hook_options *opt,
		      bool force, bool *moved_aside, struct kiln_error *err)
{
	_cleanup_free_ char *script = NULL, *old = NULL, *dir = NULL, *aside = NULL;
	bool exists;
	struct stat st;

	if (moved_aside)
		*moved_aside = false;
	script = kiln_hook_script(opt, err);
	if (!script)
		return -1;
	if (read_hook(loc->hook_path, &exists, &old, err) < 0)
		return -1;
	if (exists && !text_is_kiln(old)) {
		if (!force)
			return kiln_error_set(err, "'%s' is a post-commit hook kiln did not write; "
					      "kiln leaves it alone (--force moves it to "
					      "post-commit.pre-kiln and installs kiln's)", loc->hook_path);
		aside = kiln_xasprintf("%s.pre-kiln", loc->hook_path);
		if (lstat(aside, &st) == 0)
			return kiln_error_set(err, "'%s' exists: kiln will not move '%s' over it",
					      aside, loc->hook_path);
		if (rename(loc->hook_path, aside) < 0)
			return kiln_error_errno(err, errno, "move '%s' to '%s'", loc->hook_path, aside);
		if (moved_aside)
			*moved_aside = true;
	}
	dir = kiln_path_dirname(loc->hook_path);
	if (kiln_mkdir_p(dir, 0755, err) < 0)
		return -1;
	if (kiln_file_write_atomic(loc->hook_path, script, strlen(script), 0755, err) < 0)
		return kiln_error_prefix(err, "install hook");
	return 0;
}

int kiln_hook_uninstall(const struct kiln_hook_location *loc, bool *removed, bool *restored,
			struct kiln_error *err)
{
	_cleanup_free_ char *text = NULL, *aside = NULL;
	bool exists;
	struct stat st;

	*removed = false;
	if (restored)
		*restored = false;
	if (read_hook(loc->hook_path, &exists, &text, err) < 0)
		return -1;
	if (!exists)
		return 0;
	if (!text_is_kiln(text))
		return kiln_error_set(err, "'%s' is a post-commit hook kiln did not write; left alone",
				      loc->hook_path);
	if (unlink(loc->hook_path) < 0)
		return kiln_error_errno(err, errno, "remove '%s'", loc->hook_path);
	*removed = true;
	aside = kiln_xasprintf("%s.pre-kiln", loc->hook_path);
	if (lstat(aside, &st) == 0) {
		if (rename(aside, loc->hook_path) < 0)
			return kiln_error_errno(err, errno, "put '%s' back as '%s'", aside, loc->hook_path);
		if (restored)
			*restored = true;
	}
	return 0;
}

int kiln_hook_status(const struct kiln_hook_location *loc, struct kiln_hook_status *st,
		     struct kiln_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t alloc = 0;

	memset(st, 0, sizeof(*st));
	if (read_hook(loc->hook_path, &st->exists, &text, err) < 0)
		return -1;
	st->is_kiln = text_is_kiln(text);
	if (!st->is_kiln)
		return 0;
	for (char *line = text; line && *line;) {
		char *end = strchr(line, '\n');
		const char *v;
		if (end)
			*end = 0;
		if (line[0] != '#')
			break; /* the header is over */
		if ((v = kiln_str_has_prefix(line, "# kiln-hook-mode: ") ? line + 18 : NULL))
			st->foreground = strcmp(v, "foreground") == 0;
		else if ((v = kiln_str_has_prefix(line, "# kiln-hook-kiln: ") ? line + 18 : NULL))
			st->kiln = kiln_xstrdup(v);
		else if ((v = kiln_str_has_prefix(line, "# kiln-hook-store: ") ? line + 19 : NULL))
			st->store = kiln_xstrdup(v);
		else if ((v = kiln_str_has_prefix(line, "# kiln-hook-manifest: ") ? line + 22 : NULL)) {
			kiln_xgrow(&st->manifests, &alloc, st->n_manifests + 1, sizeof(*st->manifests));
			st->manifests[st->n_manifests++] = kiln_xstrdup(v);
		}
		line = end ? end + 1 : NULL;
	}
	return 0;
}

void kiln_hook_status_release(struct kiln_hook_status *st)
{
	for (size_t i = 0; i < st->n_manifests; i++)
		free(st->manifests[i]);
	free(st->manifests);
	free(st->kiln);
	free(st->store);
	memset(st, 0, sizeof(*st));
}
