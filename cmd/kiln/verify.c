/* verify.c - `kiln verify` and `kiln audit`. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "fsutil.h"
#include "gitrepo.h"
#include "kiln.h"
#include "manifest.h"
#include "sign.h"
#include "store.h"
#include "util.h"
#include "verify.h"

#define MAX_PUB 64

static void verify_help(void)
{
	printf("usage: kiln verify [--pub FILE]… [--store DIR] [-f MANIFEST] SNAP…\n"
	       "\n"
	       "Check that a snapshot is exactly what its signer built, offline:\n"
	       "  1. its record (commits/<commit>/<name>.json in the store) is in kiln's\n"
	       "     canonical form and signed by a trusted key;\n"
	       "  2. index.json lists NAME@COMMIT, naming the same image (what OCI tools read);\n"
	       "  3. the DSSE envelope verifies under a trusted key, and its in-toto statement\n"
	       "     is about this image, this name and this commit;\n"
	       "  4. the OCI referrer manifest attaches that envelope to that image;\n"
	       "  5. every blob the snapshot reaches is re-hashed and its size checked:\n"
	       "     image manifest, config, each layer, envelope, referrer, empty config;\n"
	       "  6. when the git repository has the commit, its lock file hashes to the\n"
	       "     digest the record names.\n"
	       "The first failure stops verification with a message naming the object.\n"
	       "\n"
	       "SNAP is NAME@REV (any git revision), NAME (NAME@HEAD), @REV (the manifest's\n"
	       "name) or sha256:DIGEST (the image manifest).\n"
	       "\n"
	       "Options:\n"
	       "  --pub FILE          trust this public key (repeatable; default: every\n"
	       "                      .kiln/trusted/*.pub at the top of the work tree)\n"
	       "  --store DIR         the store (default $KILN_STORE, else snapshots/)\n"
	       "  -f, --file MANIFEST the manifest whose name @REV means (default ./kiln.yaml)\n"
	       "  -h, --help          this help\n"
	       "\n"
	       "Exit status: 0 verified, 3 verification failed, 1 other errors.\n");
}

/* What verify and audit both need: the snapshots and the trusted keys. */
struct snap_context {
	struct kiln_cli_snapshots snaps;
	struct kiln_sign_keyring ring;
};

static int open_context(struct kiln_cli *cli, const char *const *pubs, size_t n_pubs, bool need_git,
			struct snap_context *ctx, struct kiln_error *err)
{
	memset(ctx, 0, sizeof(*ctx));
	if (kiln_cli_snapshots_open(cli, &ctx->snaps, err) < 0)
		return -1;
	if (!ctx->snaps.git && need_git)
		return kiln_error_set(err, "not inside a git work tree: audits rebuild commits");
	if (kiln_sign_load_trusted(pubs, n_pubs, ctx->snaps.git ? kiln_git_workdir(ctx->snaps.git) : ".",
				   &ctx->ring, err) < 0)
		return kiln_error_prefix(err, "trusted keys");
	return 0;
}

static void close_context(struct snap_context *ctx)
{
	kiln_sign_keyring_release(&ctx->ring);
	kiln_cli_snapshots_close(&ctx->snaps);
}

static const char *key_name(const struct kiln_key *key)
{
	const char *path = kiln_sign_key_path(key);
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int verify_one(struct kiln_cli *cli, struct snap_context *ctx, const char *snap, json_t *list)
{
	struct kiln_verify_result res;
	struct kiln_error err = { 0 };
	char keyid[KILN_KEYID_LEN + 1] = "";
	int rc = 0;

	if (kiln_verify_snapshot(ctx->snaps.git, ctx->snaps.store, snap, ctx->snaps.default_name, &ctx->ring,
				 0, &res, &err) < 0) {
		kiln_error_prefix(&err, "%s", snap);
		rc = kiln_cli_fail(cli, &err);
		if (list) {
			json_t *o = json_object();
			json_object_set_new(o, "snapshot", json_string(snap));
			json_object_set_new(o, "verified", json_false());
			json_object_set_new(o, "error", json_string(err.message));
			json_array_append_new(list, o);
		}
		kiln_verify_result_release(&res);
		return rc;
	}
	kiln_sign_keyid(res.signer, keyid, &err);
	if (list) {
		json_t *o = json_object();
		json_object_set_new(o, "snapshot", json_string(snap));
		json_object_set_new(o, "verified", json_true());
		json_object_set_new(o, "name", json_string(res.record.name));
		json_object_set_new(o, "commit", json_string(res.record.commit));
		json_object_set_new(o, "manifest", json_string(res.record.manifest));
		json_object_set_new(o, "envelope", json_string(res.record.envelope));
		json_object_set_new(o, "signer", json_string(kiln_sign_key_path(res.signer)));
		json_object_set_new(o, "keyid", json_string(keyid));
		json_object_set_new(o, "packages", json_integer((json_int_t)res.n_packages));
		json_object_set_new(o, "blobs", json_integer((json_int_t)res.n_blobs));
		json_object_set_new(o, "bytes", json_integer((json_int_t)res.bytes));
		json_object_set_new(o, "lock_checked", json_boolean(res.lock_checked));
		json_array_append_new(list, o);
	} else if (!cli->quiet) {
		printf("verified %s@%.12s %s\n", res.record.name, res.record.commit, res.record.manifest);
		printf("  signature  good, by %s (%s)\n", key_name(res.signer), keyid);
		printf("  provenance commit %.12s, %zu packages, built by kiln %s\n", res.record.commit,
		       res.n_packages, res.builder_version);
		printf("  blobs      %zu re-hashed, %.1f MB\n", res.n_blobs, (double)res.bytes / 1e6);
		printf("  lock       %s\n", res.lock_checked ? "matches the commit's lock file"
							  : "not checked (the commit is not in this repository)");
	}
	kiln_verify_result_release(&res);
	return 0;
}

int cmd_verify(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'p' },
		{ "store", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pubs[MAX_PUB];
	size_t n_pubs = 0;
	struct snap_context ctx;
	struct kiln_error err = { 0 };
	json_t *list = NULL;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (n_pubs == MAX_PUB)
				return kiln_cli_usage(cli, "at most %d --pub keys", MAX_PUB);
			pubs[n_pubs++] = optarg;
			break;
		case 's': cli->store = optarg; break;
		case 'f': cli->manifest = optarg; break;
		case 'h': verify_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind == argc)
		return kiln_cli_usage(cli, "expected SNAP (NAME@REV, NAME, @REV or sha256:DIGEST)");
	if (open_context(cli, pubs, n_pubs, false, &ctx, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	if (cli->json)
		list = json_array();
	for (int i = optind; i < argc; i++) {
		int one = verify_one(cli, &ctx, argv[i], list);
		/* A verification failure outranks any other error. */
		if (one && (rc == 0 || one == KILN_EXIT_VERIFY))
			rc = one;
	}
	if (list) {
		char *text = json_dumps(list, JSON_COMPACT);
		printf("%s\n", text);
		free(text);
		json_decref(list);
	}
out:
	close_context(&ctx);
	return rc;
}

static void audit_help(void)
{
	printf("usage: kiln audit [--pub FILE]… [--store DIR] [--name NAME] [--fresh] [REV | --range A..B]\n"
	       "\n"
	       "Prove that a recorded snapshot is what its commit builds.  For each snapshot\n"
	       "recorded at REV (default HEAD): verify it like `kiln verify` (all but the\n"
	       "stored layers' bytes, whose digests the rebuild checks), then rebuild the\n"
	       "commit from nothing -- an empty temporary store, no build cache, every package\n"
	       "re-checked against its sha256 -- with the parameters its signed statement\n"
	       "declares (manifest, compression, source date), and compare the two images\n"
	       "byte for byte.  On a difference, name the first layer that differs and the\n"
	       "first path in it, then every differing path of every differing layer (the\n"
	       "first %d; the rest are counted), and exit 4.\n"
	       "\n"
	       "--range A..B audits every commit reachable from B and not from A, oldest\n"
	       "first, and prints one table row per snapshot (commits without a snapshot are\n"
	       "listed as such); a row names the first difference and counts the others.\n"
	       "\n"
	       "Options:\n"
	       "  --pub FILE          trust this public key (repeatable; default .kiln/trusted/*.pub)\n"
	       "  --name NAME         only the snapshot of this name (default: every one recorded)\n"
	       "  --fresh             download every package again into a temporary cache\n"
	       "                      (default: the shared cache, each file re-hashed before use)\n"
	       "  --range A..B        audit a range of commits\n"
	       "  --store DIR         the store holding the records (default snapshots/)\n"
	       "  -h, --help          this help\n"
	       "\n"
	       "Exit status: 0 identical, 4 a rebuild differs, 3 a snapshot does not verify,\n"
	       "1 other errors (a rebuild that fails, no snapshot recorded).\n",
	       KILN_AUDIT_MAX_DIFFERENCES);
}

/* What made a layer, on one line: the first line of its history, cut
 * short (a run: step's whole script can be long). */
static void print_created_by(const char *by)
{
	enum { MAX = 60 };
	size_t n = strcspn(by, "\n");
	bool cut = n > MAX || by[n];

	if (n > MAX) {
		n = MAX;
		/* Not inside a UTF-8 sequence. */
		while (n > 0 && ((unsigned char)by[n] & 0xc0) == 0x80)
			n--;
	}
	{
		_cleanup_free_ char *line = kiln_xstrndup(by, n);
		kiln_cli_print_escaped(stdout, line);
	}
	if (cut)
		fputs("…", stdout);
}

/* Every differing path, grouped by layer, after the first difference. */
static void print_differences(const struct kiln_audit_item *it)
{
	size_t total = it->n_differences + it->more_differences, k = 0;

	if (!it->n_differing_layers)
		return;
	printf("  every difference: %zu in %zu layer%s\n", total, it->n_differing_layers,
	       it->n_differing_layers == 1 ? "" : "s");
	for (size_t l = 0; l < it->n_differing_layers; l++) {
		const struct kiln_audit_layer *layer = &it->layers[l];
		printf("  layer %zu/%zu", layer->layer, it->n_layers);
		if (layer->created_by) {
			printf(" (");
			print_created_by(layer->created_by);
			printf(")");
		}
		printf(": %zu difference%s\n", layer->n_paths, layer->n_paths == 1 ? "" : "s");
		for (; k < it->n_differences && it->differences[k].layer == layer->layer; k++) {
			const struct kiln_audit_difference *d = &it->differences[k];
			printf("  layer %zu/%zu", d->layer, it->n_layers);
			if (d->path) {
				printf(" path ");
				kiln_cli_print_bytes(stdout, d->path);
			}
			printf(": ");
			kiln_cli_print_bytes(stdout, d->what);
			putchar('\n');
		}
	}
	if (it->more_differences)
		printf("  … and %zu more\n", it->more_differences);
}

/* Layer paths come from the recorded layer's tar: an attacker's bytes. */
static void print_item(const struct kiln_audit_item *it, bool table)
{
	if (table) {
		size_t others = it->n_differences + it->more_differences;
		printf("%.12s  %-20s ", it->commit, it->name);
		if (it->failed) {
			printf("%-10s ", it->error_code == KILN_EXIT_VERIFY ? "UNVERIFIED" : "FAILED");
			kiln_cli_print_escaped(stdout, it->error);
		} else if (it->verdict == KILN_AUDIT_IDENTICAL) {
			printf("identical  %.19s  %.1f s", it->rebuilt, it->seconds);
		} else {
			printf("DIFFERS    %s%s", it->layer_what, it->path ? " " : "");
			if (it->path)
				kiln_cli_print_bytes(stdout, it->path);
			printf(": ");
			kiln_cli_print_bytes(stdout, it->what);
			/* One row per snapshot: the others are counted; `kiln audit
			 * COMMIT` lists them. */
			if (others > 1)
				printf(" (+%zu more)", others - 1);
		}
		putchar('\n');
		return;
	}
	if (it->failed)
		return; /* said on stderr */
	if (it->verdict == KILN_AUDIT_IDENTICAL) {
		printf("identical: %s@%.12s rebuilt from nothing in %.2f s gives the recorded %s\n", it->name,
		       it->commit, it->seconds, it->recorded);
		return;
	}
	printf("DIFFERENT: %s@%.12s\n", it->name, it->commit);
	printf("  recorded %s\n  rebuilt  %s\n", it->recorded, it->rebuilt);
	printf("  first difference: %s", it->layer_what);
	if (it->path) {
		printf(", path ");
		kiln_cli_print_bytes(stdout, it->path);
	}
	printf("\n  ");
	kiln_cli_print_bytes(stdout, it->what);
	putchar('\n');
	print_differences(it);
}

static json_t *item_json(const struct kiln_audit_item *it)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(it->name));
	json_object_set_new(o, "commit", json_string(it->commit));
	json_object_set_new(o, "identical", json_boolean(it->verdict == KILN_AUDIT_IDENTICAL));
	json_object_set_new(o, "recorded", json_string(it->recorded));
	json_object_set_new(o, "rebuilt", json_string(it->rebuilt));
	json_object_set_new(o, "statement_identical", json_boolean(it->statement_identical));
	if (it->failed) {
		json_object_set_new(o, "error", json_string(it->error));
		json_object_set_new(o, "exit", json_integer(it->error_code));
		return o;
	}
	if (it->verdict != KILN_AUDIT_IDENTICAL) {
		json_t *diffs = json_array(), *layers = json_array();
		json_object_set_new(o, "where", json_string(it->layer_what));
		json_object_set_new(o, "layer", json_integer((json_int_t)it->layer));
		json_object_set_new(o, "path", it->path ? kiln_cli_json_bytes(it->path) : json_null());
		json_object_set_new(o, "what", kiln_cli_json_bytes(it->what));
		for (size_t i = 0; i < it->n_differences; i++) {
			const struct kiln_audit_difference *d = &it->differences[i];
			json_t *x = json_object();
			json_object_set_new(x, "layer", json_integer((json_int_t)d->layer));
			json_object_set_new(x, "path", d->path ? kiln_cli_json_bytes(d->path) : json_null());
			json_object_set_new(x, "what", kiln_cli_json_bytes(d->what));
			json_array_append_new(diffs, x);
		}
		for (size_t i = 0; i < it->n_differing_layers; i++) {
			const struct kiln_audit_layer *l = &it->layers[i];
			json_t *x = json_object();
			json_object_set_new(x, "layer", json_integer((json_int_t)l->layer));
			json_object_set_new(x, "created_by", l->created_by ? json_string(l->created_by) : json_null());
			json_object_set_new(x, "differences", json_integer((json_int_t)l->n_paths));
			json_array_append_new(layers, x);
		}
		json_object_set_new(o, "differences", diffs);
		json_object_set_new(o, "more", json_integer((json_int_t)it->more_differences));
		json_object_set_new(o, "layers", layers);
	}
	json_object_set_new(o, "seconds", json_real(it->seconds));
	return o;
}

int cmd_audit(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'p' },
		{ "store", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "range", required_argument, NULL, 'r' },
		{ "fresh", no_argument, NULL, 'F' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pubs[MAX_PUB];
	size_t n_pubs = 0;
	const char *range = NULL;
	bool fresh = false;
	struct kiln_audit_options opt = { 0 };
	struct snap_context ctx;
	struct kiln_error err = { 0 };
	struct kiln_git_commit_info *commits = NULL;
	size_t n_commits = 0;
	_cleanup_free_ char *fresh_cache = NULL, *shared_cache = NULL;
	json_t *list = NULL;
	int ch, rc = 0;
	bool differs = false, verify_failed = false, failed = false;

	while ((ch = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (n_pubs == MAX_PUB)
				return kiln_cli_usage(cli, "at most %d --pub keys", MAX_PUB);
			pubs[n_pubs++] = optarg;
			break;
		case 's': cli->store = optarg; break;
		case 'n': opt.name = optarg; break;
		case 'r': range = optarg; break;
		case 'F': fresh = true; break;
		case 'f': cli->manifest = optarg; break;
		case 'h': audit_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (argc - optind > 1 || (range && argc - optind == 1))
		return kiln_cli_usage(cli, "expected one REV or --range A..B");
	if (range && !strstr(range, ".."))
		return kiln_cli_usage(cli, "--range %s: expected A..B", range);
	if (open_context(cli, pubs, n_pubs, true, &ctx, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	opt.workdir = kiln_git_workdir(ctx.snaps.git);
	opt.store_dir = ctx.snaps.store_dir;
	opt.ring = &ctx.ring;
	opt.progress = kiln_cli_progress;
	opt.progress_ctx = cli;
	opt.tmp_dir = kiln_env_tmpdir();
	opt.cgroup_parent = kiln_env_build_cgroup_parent();
	opt.mirrors = kiln_env_mirrors();
	if (fresh) {
		fresh_cache = kiln_xasprintf("%s/kiln-audit-cache.XXXXXX", kiln_env_tmpdir());
		if (!mkdtemp(fresh_cache)) {
			kiln_error_errno(&err, errno, "create %s", fresh_cache);
			rc = kiln_cli_fail(cli, &err);
			goto out;
		}
		opt.cache_dir = fresh_cache;
	} else {
		opt.cache_dir = shared_cache = kiln_env_cache_dir();
	}
	if (range) {
		if (kiln_git_history(ctx.snaps.git, range, 0, &commits, &n_commits, &err) < 0) {
			rc = kiln_cli_fail(cli, &err);
			goto out;
		}
	} else {
		commits = kiln_xcalloc(1, sizeof(*commits));
		n_commits = 1;
		if (kiln_git_resolve(ctx.snaps.git, argc > optind ? argv[optind] : "HEAD", commits[0].id,
				     &commits[0].time, &err) < 0) {
			rc = kiln_cli_fail(cli, &err);
			goto out;
		}
	}
	if (cli->json)
		list = json_array();
	if (range && !cli->json && !cli->quiet)
		printf("%-12s  %-20s %-10s %s\n", "COMMIT", "NAME", "RESULT", "DETAIL");
	/* Oldest first, like the history it checks. */
	for (size_t k = n_commits; k-- > 0;) {
		struct kiln_audit_item *items = NULL;
		size_t n = 0;
		opt.rev = commits[k].id;
		kiln_error_clear(&err);
		if (kiln_audit_commit(&opt, &items, &n, &err) < 0) {
			bool none = range && kiln_error_is(&err, KILN_CAUSE_NOT_FOUND);
			kiln_cli_progress_done(cli);
			if (list) {
				json_t *o = json_object();
				json_object_set_new(o, "commit", json_string(commits[k].id));
				json_object_set_new(o, "error", json_string(err.message));
				json_array_append_new(list, o);
			}
			if (none) {
				if (!cli->json && !cli->quiet)
					printf("%.12s  %-20s %-10s %s\n", commits[k].id, "-", "none",
					       "no snapshot recorded");
				continue;
			}
			if (kiln_error_is(&err, KILN_CAUSE_VERIFY))
				verify_failed = true;
			else
				failed = true;
			if (range && !cli->json)
				printf("%.12s  %-20s %-10s see the error below\n", commits[k].id, "-",
				       kiln_error_is(&err, KILN_CAUSE_VERIFY) ? "UNVERIFIED" : "FAILED");
			kiln_cli_fail(cli, &err);
			continue;
		}
		kiln_cli_progress_done(cli);
		for (size_t i = 0; i < n; i++) {
			if (items[i].failed) {
				struct kiln_error e = { .code = items[i].error_code };
				snprintf(e.message, sizeof(e.message), "%s@%.12s: %s", items[i].name,
					 items[i].commit, items[i].error);
				if (items[i].error_code == KILN_EXIT_VERIFY)
					verify_failed = true;
				else
					failed = true;
				kiln_cli_fail(cli, &e);
			} else {
				differs |= items[i].verdict != KILN_AUDIT_IDENTICAL;
			}
			if (list)
				json_array_append_new(list, item_json(&items[i]));
			else if (!cli->quiet || items[i].verdict != KILN_AUDIT_IDENTICAL || items[i].failed)
				print_item(&items[i], range != NULL);
		}
		kiln_audit_items_free(items, n);
	}
	if (list) {
		char *text = json_dumps(list, JSON_COMPACT);
		printf("%s\n", text);
		free(text);
		json_decref(list);
	}
	rc = verify_failed ? KILN_EXIT_VERIFY : differs ? KILN_EXIT_AUDIT : failed ? KILN_EXIT_FAILED : 0;
out:
	if (fresh_cache) {
		kiln_remove_tree(fresh_cache, KILN_ERROR_IGNORE);
	}
	kiln_git_history_free(commits, n_commits);
	close_context(&ctx);
	return rc;
}
