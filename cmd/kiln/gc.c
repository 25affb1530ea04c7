/* gc.c - `kiln gc`. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gc.h"
#include "gitrepo.h"
#include "kiln.h"
#include "history.h"
#include "store.h"
#include "util.h"

static void gc_help(void)
{
	printf("usage: kiln gc [--dry-run] [--force] [--store DIR] [--json]\n"
	       "\n"
	       "Delete what no recorded snapshot reaches.  The roots are the snapshot records\n"
	       "(STORE/commits/COMMIT/NAME.json); each reaches its image manifest, the config\n"
	       "and layers it names, its DSSE envelope and its signature's referrer manifest\n"
	       "(with that manifest's config and layers).  Everything else goes: index.json\n"
	       "entries whose snapshot is no longer recorded (and referrers whose subject is\n"
	       "gone), unreachable blobs, and build cache entries naming a layer that is no\n"
	       "longer stored.  To drop a snapshot, delete its record, then run kiln gc.\n"
	       "\n"
	       "gc never deletes on doubt: a record that does not parse, or a recorded\n"
	       "manifest that is missing or damaged, stops it before anything is deleted,\n"
	       "naming the file.  It holds the store's lock (a build waits for it, and it\n"
	       "waits for a build), replaces index.json first and deletes blobs after, so\n"
	       "being killed half way leaves only unreferenced blobs for the next gc.\n"
	       "Opening the store also clears temporary files a killed writer left (tmp/, and\n"
	       "*.tmp.* in the store, cache/ and commits/COMMIT/).  Nothing in the store is\n"
	       "reached through a symlink: one where kiln expects its own directory or file\n"
	       "(a cloned repository may have committed it) is refused, naming it (exit 3).\n"
	       "\n"
	       "Prints one line: \"removed N blobs (SIZE), N index entries, N cache entries\"\n"
	       "and what is kept; --json gives an object with the removed digests.\n"
	       "\n"
	       "Options:\n"
	       "  -n, --dry-run        report what would be removed, remove nothing\n"
	       "  --force              collect even a store that has blobs but no record at all\n"
	       "                       (refused by default: it would empty the store)\n"
	       "  --store DIR          the store (default $KILN_STORE, else snapshots/ at the top\n"
	       "                       of the work tree)\n"
	       "  --json               machine-readable output\n"
	       "  -v, --verbose        list every blob removed\n"
	       "  -h, --help           this help\n"
	       "\n"
	       "Exit status: 0 done; 1 failed or refused; 3 refused because a record or a\n"
	       "recorded manifest fails its check (does not parse, does not hash to its name)\n"
	       "or a symlink is in the store's place; 2 usage.\n");
}

/* "12.3 MB": decimal units, as the build's progress shows them. */
void kiln_cli_format_size(uint64_t bytes, char buf[32])
{
	if (bytes < 1000)
		snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
	else if (bytes < 1000000)
		snprintf(buf, 32, "%.1f kB", bytes / 1e3);
	else if (bytes < 1000000000)
		snprintf(buf, 32, "%.1f MB", bytes / 1e6);
	else
		snprintf(buf, 32, "%.1f GB", bytes / 1e9);
}

int cmd_gc(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'F' },
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_gc_options opt = { 0 };
	char **roots = NULL;
	size_t n_roots = 0;
	int rc;
	struct kiln_gc_result res = { 0 };
	struct kiln_error err = { 0 };
	struct kiln_git *git;
	struct kiln_store *store;
	_cleanup_free_ char *store_dir = NULL;
	char freed[32], kept[32];
	struct stat st;
	int ch;

	while ((ch = getopt_long(argc, argv, "nvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': opt.dry_run = true; break;
		case 'v': cli->verbose = true; break;
		case 'F': opt.allow_no_records = true; break;
		case 's': cli->store = optarg; break;
		case 'j': cli->json = true; break;
		case 'h': gc_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind < argc)
		return kiln_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	/* The store is found as build finds it; outside a work tree only
	 * --store or $KILN_STORE can name it. */
	git = kiln_git_open(".", &err);
	if (!git && !kiln_cli_store(cli))
		return kiln_cli_fail(cli, &err);
	kiln_error_clear(&err);
	store_dir = kiln_store_default_dir(kiln_cli_store(cli), git ? kiln_git_workdir(git) : ".");
	/* No store is nothing to collect; opening it for writing would make one. */
	if (lstat(store_dir, &st) < 0 && errno == ENOENT) {
		if (!cli->quiet && !cli->json)
			printf("no store at %s: nothing to collect\n", store_dir);
		if (!cli->json) {
			kiln_git_free(git);
			return 0;
		}
	} else {
		store = kiln_store_open_default(kiln_cli_store(cli), git ? kiln_git_workdir(git) : ".", true, &err);
		kiln_git_free(git);
		git = NULL;
		if (!store)
			return kiln_cli_fail(cli, &err);
		/* Every snapshot a service's history names is a rollback target. */
		if (kiln_history_all_digests(kiln_env_root_dir(), &roots, &n_roots, &err) < 0) {
			kiln_store_free(store);
			return kiln_cli_fail(cli, &err);
		}
		opt.extra_roots = roots;
		opt.n_extra_roots = n_roots;
		rc = kiln_gc_run(store, &opt, &res, &err);
		kiln_strv_free(roots, n_roots);
		if (rc < 0) {
			kiln_store_free(store);
			return kiln_cli_fail(cli, &err);
		}
		kiln_store_free(store);
	}
	kiln_git_free(git);
	if (cli->json) {
		json_t *o = json_object(), *removed = json_array();
		char *text;
		for (size_t i = 0; i < res.blobs_removed; i++)
			json_array_append_new(removed, json_string(res.removed[i]));
		json_object_set_new(o, "dry_run", json_boolean(opt.dry_run));
		json_object_set_new(o, "store", json_string(store_dir));
		json_object_set_new(o, "records", json_integer((json_int_t)res.records));
		json_object_set_new(o, "blobs_removed", json_integer((json_int_t)res.blobs_removed));
		json_object_set_new(o, "bytes_removed", json_integer((json_int_t)res.bytes_removed));
		json_object_set_new(o, "index_entries_removed", json_integer((json_int_t)res.index_removed));
		json_object_set_new(o, "cache_entries_removed", json_integer((json_int_t)res.cache_removed));
		json_object_set_new(o, "blobs_kept", json_integer((json_int_t)res.blobs_kept));
		json_object_set_new(o, "bytes_kept", json_integer((json_int_t)res.bytes_kept));
		json_object_set_new(o, "removed", removed);
		text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n", text);
		free(text);
		json_decref(o);
	} else if (!cli->quiet) {
		kiln_cli_format_size(res.bytes_removed, freed);
		kiln_cli_format_size(res.bytes_kept, kept);
		if (cli->verbose)
			for (size_t i = 0; i < res.blobs_removed; i++)
				printf("%s %s\n", opt.dry_run ? "would remove" : "removed", res.removed[i]);
		printf("%s %zu blob%s (%s), %zu index entr%s, %zu cache entr%s; "
		       "kept %zu blob%s (%s) of %zu snapshot%s\n",
		       opt.dry_run ? "would remove" : "removed",
		       res.blobs_removed, res.blobs_removed == 1 ? "" : "s", freed,
		       res.index_removed, res.index_removed == 1 ? "y" : "ies",
		       res.cache_removed, res.cache_removed == 1 ? "y" : "ies",
		       res.blobs_kept, res.blobs_kept == 1 ? "" : "s", kept,
		       res.records, res.records == 1 ? "" : "s");
	}
	kiln_gc_result_release(&res);
	return 0;
}
