/* lock.c - `kiln lock`. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kiln.h"
#include "locker.h"
#include "util.h"

static void lock_help(void)
{
	printf("usage: kiln lock [-f MANIFEST] [--update [PKG…]] [--check]\n"
	       "\n"
	       "Resolve the manifest's pinned packages and their whole dependency closure\n"
	       "(Depends and Pre-Depends) against its sources, and write the lockfile beside\n"
	       "the manifest (kiln.yaml → kiln.lock): every package with its exact version,\n"
	       "pool file name, size and sha256, checked against the repository's Release\n"
	       "file, whose signature gpgv verifies against the source's keyring.\n"
	       "\n"
	       "Packages the manifest does not pin keep the version the existing lock gives\n"
	       "them while it still fits, so re-locking an unchanged manifest changes nothing.\n"
	       "On any error the existing lockfile is left exactly as it was.\n"
	       "\n"
	       "Options:\n"
	       "  -f, --file MANIFEST  the manifest (default ./kiln.yaml)\n"
	       "  --update [PKG…]      move the named packages to the newest versions that fit;\n"
	       "                       with no names, re-resolve everything from scratch\n"
	       "  --check              write nothing; exit 1 if the lock is not up to date\n"
	       "  -h, --help           this help\n"
	       "\n"
	       "Mirrors: a source without url: uses $KILN_MIRROR_<NAME>, then $KILN_MIRROR,\n"
	       "then the URI apt's own sources give for its suite.  Locks never name a host.\n"
	       "Indexes are cached under $XDG_CACHE_HOME/kiln (or $KILN_CACHE).\n");
}

static void print_json(const struct kiln_locker_result *r)
{
	json_t *o = json_object(), *changes = json_array();

	for (size_t i = 0; i < r->n_changes; i++)
		json_array_append_new(changes, json_string(r->changes[i]));
	json_object_set_new(o, "lockfile", json_string(r->lock_path));
	json_object_set_new(o, "packages", json_integer((json_int_t)r->n_packages));
	json_object_set_new(o, "written", json_boolean(r->written));
	json_object_set_new(o, "up_to_date", json_boolean(r->current));
	json_object_set_new(o, "changes", changes);
	json_object_set_new(o, "indexes_downloaded", json_integer(r->indexes_downloaded));
	json_object_set_new(o, "indexes_cached", json_integer(r->indexes_cached));
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%s\n", text);
	free(text);
	json_decref(o);
}

int cmd_lock(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "update", no_argument, NULL, 'u' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_locker_options opt = { 0 };
	_cleanup_free_ char *cache_dir = NULL;
	struct kiln_locker_result res;
	struct kiln_error err = { 0 };
	bool update = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': cli->manifest = optarg; break;
		case 'u': update = true; break;
		case 'c': opt.check = true; break;
		case 'h': lock_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind < argc && !update)
		return kiln_cli_usage(cli, "unexpected argument '%s' (package names go after --update)",
				      argv[optind]);
	opt.manifest_path = kiln_cli_manifest(cli);
	opt.update = argv + optind;
	opt.n_update = (size_t)(argc - optind);
	opt.update_all = update && opt.n_update == 0;
	opt.cache_dir = cache_dir = kiln_env_cache_dir();
	opt.mirrors = kiln_env_mirrors();
	opt.progress = kiln_cli_progress;
	opt.progress_ctx = cli;

	if (kiln_locker_run(&opt, &res, &err) < 0) {
		int code = kiln_cli_fail(cli, &err);
		kiln_locker_result_release(&res);
		return code;
	}
	kiln_cli_progress_done(cli);
	if (cli->json) {
		print_json(&res);
	} else if (!cli->quiet) {
		for (size_t i = 0; i < res.n_changes; i++)
			printf("%s\n", res.changes[i]);
		if (res.current)
			printf("%s is up to date (%zu packages)\n", res.lock_path, res.n_packages);
		else
			printf("locked %zu package%s into %s (%zu changed; indexes: %u downloaded, %u cached)\n",
			       res.n_packages, res.n_packages == 1 ? "" : "s", res.lock_path, res.n_changes,
			       res.indexes_downloaded, res.indexes_cached);
	}
	kiln_locker_result_release(&res);
	return 0;
}
