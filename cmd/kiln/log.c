/* log.c - `kiln log`: commits and their snapshots, newest first. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "gitrepo.h"
#include "hook.h"
#include "kiln.h"
#include "manifest.h"
#include "record.h"
#include "sign.h"
#include "store.h"
#include "util.h"

static void log_help(void)
{
	printf("usage: kiln log [REV | A..B] [-n N] [-f MANIFEST] [--pub FILE]… [--store DIR] [--json]\n"
	       "\n"
	       "List the commits of REV's history (default HEAD; A..B: reachable from B, not\n"
	       "from A), newest first, like `git log --oneline`, each with the snapshots the\n"
	       "store records for it, one line per snapshot:\n"
	       "\n"
	       "  COMMIT12 NAME sha256:DIGEST12  signed by KEY  SIZE  SUBJECT\n"
	       "  COMMIT12 -  (no snapshot)  SUBJECT\n"
	       "\n"
	       "A commit without a snapshot whose `kiln hook` build failed, or has not ended,\n"
	       "says so and names the build's log.\n"
	       "\n"
	       "SIZE is the image's manifest, config and layers.  Each record's signature is\n"
	       "checked against the trusted public keys (--pub, else .kiln/trusted/*.pub):\n"
	       "  signed by FILE.pub                  a trusted key's signature verifies\n"
	       "  signed by sha256:KEYID12 (untrusted) no trusted key to check it with, or the\n"
	       "                                      key it names is not a trusted one\n"
	       "  UNSIGNED                            built with --no-sign\n"
	       "  BAD SIGNATURE                       names a trusted key, but does not verify\n"
	       "  CORRUPT RECORD                      the record does not parse (the reason is\n"
	       "                                      printed on stderr)\n"
	       "log only reads the records; `kiln verify SNAP` also re-hashes every blob.\n"
	       "\n"
	       "--json prints an array of {commit, subject, time, snapshots: [{name, manifest,\n"
	       "size, status, signed_by, keyid}], hook_build: null or {status, log}}; a\n"
	       "snapshot's status is signed, untrusted, unsigned, bad-signature or corrupt\n"
	       "(with \"error\"), the hook build's done, failed or unfinished.\n"
	       "\n"
	       "Options:\n"
	       "  -n, --max-count N    at most N commits\n"
	       "  -f, --file MANIFEST  only the snapshots of this manifest's name\n"
	       "  --pub FILE           a trusted public key (repeatable; replaces .kiln/trusted/)\n"
	       "  --store DIR          the store (default $KILN_STORE, else snapshots/ at the top\n"
	       "                       of the work tree)\n"
	       "  --json               machine-readable output\n"
	       "  -h, --help           this help\n"
	       "\n"
	       "Exit status: 0, also with unsigned or untrusted snapshots; 3 when a record\n"
	       "shown has a bad signature or is corrupt (every line is still printed);\n"
	       "1 failed (no such revision, unreadable store); 2 usage.\n");
}

enum snap_status { SNAP_SIGNED, SNAP_UNTRUSTED, SNAP_UNSIGNED, SNAP_BAD, SNAP_CORRUPT };

static const char *const status_names[] = { "signed", "untrusted", "unsigned", "bad-signature",
					    "corrupt" };

struct snap {
	char *name;
	struct kiln_record rec;     /* empty when corrupt */
	enum snap_status status;
	const char *signer_file;    /* basename of the trusted key's file, when signed */
	char *error;                /* when corrupt */
};

struct log_ctx {
	struct kiln_store *store;   /* NULL: no store yet, so no snapshots */
	struct kiln_sign_keyring ring;
	bool have_ring;
	const char *only_name;      /* -f: this manifest's name */
	const char *hook_logs;      /* where `kiln hook` builds log, or NULL */
	bool bad;                   /* a bad signature or corrupt record was shown */
};

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The snapshot names recorded for commit (the *.json under
 * commits/<commit>/), sorted.  Read one by one, so that one bad record is
 * shown as such among the good ones. */
static int record_names(struct log_ctx *c, const char *commit, char ***names, size_t *n,
			struct kiln_error *err)
{
	_cleanup_free_ char *rel = kiln_xasprintf("commits/%s", commit);
	_cleanup_close_ int fd = -1;
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	*names = NULL;
	*n = 0;
	/* Beneath the store, following no symlink (store.h). */
	fd = kiln_store_open_dir(c->store, rel, false, err);
	if (fd < 0) {
		if (errno != ENOENT)
			return -1;
		kiln_error_clear(err);
		return 0;
	}
	d = fdopendir(kiln_steal_fd(&fd));
	if (!d)
		return kiln_error_errno(err, errno, "open '%s/%s'", kiln_store_dir(c->store), rel);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 || !kiln_str_has_suffix(de->d_name, ".json"))
			continue;
		kiln_xgrow(names, &alloc, *n + 1, sizeof(**names));
		(*names)[(*n)++] = kiln_xstrndup(de->d_name, len - 5);
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), compare_names);
	return 0;
}

static void judge(struct log_ctx *c, struct snap *sn)
{
	const struct kiln_key *signer = NULL;
	const char *path, *slash;

	/* The one policy kiln verify and kiln run use (lib/record.c). */
	switch (kiln_record_judge(&sn->rec, c->have_ring ? &c->ring : NULL, &signer, KILN_ERROR_IGNORE)) {
	case KILN_RECORD_SIGNED:
		sn->status = SNAP_SIGNED;
		path = kiln_sign_key_path(signer);
		slash = strrchr(path, '/');
		sn->signer_file = slash ? slash + 1 : path;
		break;
	case KILN_RECORD_UNSIGNED: sn->status = SNAP_UNSIGNED; break;
	case KILN_RECORD_BAD_SIGNATURE: sn->status = SNAP_BAD; break;
	default: sn->status = SNAP_UNTRUSTED; break;
	}
}

static int load_snaps(struct log_ctx *c, const char *commit, struct snap **out, size_t *n,
		      struct kiln_error *err)
{
	char **names = NULL;
	size_t n_names = 0;

	*out = NULL;
	*n = 0;
	if (!c->store)
		return 0;
	if (record_names(c, commit, &names, &n_names, err) < 0)
		return -1;
	*out = kiln_xcalloc(n_names ? n_names : 1, sizeof(**out));
	for (size_t i = 0; i < n_names; i++) {
		struct snap *sn = &(*out)[*n];
		struct kiln_error rerr = { 0 };
		bool found = false;
		if (c->only_name && strcmp(names[i], c->only_name) != 0)
			continue;
		sn->name = names[i];
		names[i] = NULL;
		(*n)++;
		if (!kiln_record_name_valid(sn->name)) {
			sn->status = SNAP_CORRUPT;
			sn->error = kiln_xasprintf("commits/%s/%s.json: not a snapshot name", commit, sn->name);
		} else if (kiln_record_read(c->store, commit, sn->name, &sn->rec, &found, &rerr) < 0) {
			sn->status = SNAP_CORRUPT;
			sn->error = kiln_xstrdup(rerr.message);
		} else if (!found) {
			(*n)--; /* gone since the listing */
			free(sn->name);
			sn->name = NULL;
		} else {
			judge(c, sn);
		}
		if (*n && ((*out)[*n - 1].status == SNAP_BAD || (*out)[*n - 1].status == SNAP_CORRUPT))
			c->bad = true;
	}
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	return 0;
}

static void free_snaps(struct snap *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].name);
		free(s[i].error);
		if (s[i].status != SNAP_CORRUPT)
			kiln_record_release(&s[i].rec);
	}
	free(s);
}

/* What the post-commit hook's build of a commit did, from its log. */
enum hook_state { HOOK_NONE, HOOK_DONE, HOOK_FAILED, HOOK_UNFINISHED };
static const char *const hook_state_names[] = { NULL, "done", "failed", "unfinished" };

static enum hook_state hook_log_state(const struct log_ctx *c, const char *commit, char **path)
{
	_cleanup_free_ char *text = NULL;
	const char *done = NULL;

	*path = NULL;
	if (!c->hook_logs)
		return HOOK_NONE;
	*path = kiln_xasprintf("%s/%s.log", c->hook_logs, commit);
	text = kiln_file_read(*path, 64u << 20, NULL, KILN_ERROR_IGNORE);
	if (!text) {
		free(*path);
		*path = NULL;
		return HOOK_NONE;
	}
	/* The last "done" line counts: the hook appends it when it ends. */
	for (const char *p = text; (p = strstr(p, KILN_HOOK_DONE)); p++)
		if (p == text || p[-1] == '\n')
			done = p;
	if (!done)
		return HOOK_UNFINISHED;
	return strncmp(done + strlen(KILN_HOOK_DONE), "0)", 2) == 0 ? HOOK_DONE : HOOK_FAILED;
}

/* Commit subjects, record file names and key ids are other people's text:
 * no control bytes reach a terminal. */
static void print_clean(const char *s)
{
	kiln_cli_print_escaped(stdout, s);
}

static void print_line(const struct kiln_git_commit_info *ci, const struct snap *sn,
		       enum hook_state hook, const char *hook_log)
{
	char size[32];

	printf("%.12s ", ci->id);
	if (!sn && hook == HOOK_FAILED) {
		printf("-  (no snapshot: the hook's build failed, see %s)  ", hook_log);
	} else if (!sn && hook == HOOK_UNFINISHED) {
		printf("-  (no snapshot yet: the hook's build is running or was interrupted, see %s)  ",
		       hook_log);
	} else if (!sn) {
		printf("-  (no snapshot)  ");
	} else if (sn->status == SNAP_CORRUPT) {
		print_clean(sn->name);
		printf(" -  CORRUPT RECORD  ");
	} else {
		kiln_cli_format_size(sn->rec.size, size);
		printf("%s %.19s  ", sn->name, sn->rec.manifest);
		switch (sn->status) {
		case SNAP_SIGNED:
			printf("signed by ");
			print_clean(sn->signer_file);
			break;
		case SNAP_UNTRUSTED: {
			char id[20];
			snprintf(id, sizeof(id), "%.19s", sn->rec.keyid[0] ? sn->rec.keyid : "an unknown key");
			printf("signed by ");
			print_clean(id);
			printf(" (untrusted)");
			break;
		}
		case SNAP_UNSIGNED: printf("UNSIGNED"); break;
		default: printf("BAD SIGNATURE"); break;
		}
		printf("  %s  ", size);
	}
	print_clean(ci->subject);
	putchar('\n');
}

static json_t *snap_json(const struct snap *sn)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(sn->name));
	json_object_set_new(o, "status", json_string(status_names[sn->status]));
	if (sn->status == SNAP_CORRUPT) {
		json_object_set_new(o, "error", json_string(sn->error));
		return o;
	}
	json_object_set_new(o, "manifest", json_string(sn->rec.manifest));
	json_object_set_new(o, "size", json_integer((json_int_t)sn->rec.size));
	json_object_set_new(o, "signed_by", sn->signer_file ? json_string(sn->signer_file) : json_null());
	json_object_set_new(o, "keyid", sn->rec.keyid[0] ? json_string(sn->rec.keyid) : json_null());
	return o;
}

/* Trusted keys: --pub files, else the .kiln/trusted/ keys when there are any;
 * none at all is not an error for log (signatures show as untrusted). */
static int load_ring(struct log_ctx *c, const char *const *pubs, size_t n_pubs, const char *workdir,
		     struct kiln_error *err)
{
	if (n_pubs == 0) {
		char **found;
		size_t n_found;
		if (kiln_sign_trusted_paths(workdir, &found, &n_found, err) < 0)
			return -1;
		kiln_sign_trusted_paths_free(found, n_found);
		if (n_found == 0)
			return 0;
	}
	if (kiln_sign_load_trusted(pubs, n_pubs, workdir, &c->ring, err) < 0)
		return -1;
	c->have_ring = true;
	return 0;
}

int cmd_log(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "max-count", required_argument, NULL, 'n' },
		{ "file", required_argument, NULL, 'f' },
		{ "pub", required_argument, NULL, 'p' },
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct log_ctx c = { 0 };
	struct kiln_hook_location hook_loc = { 0 };
	struct kiln_error err = { 0 };
	struct kiln_git *git = NULL;
	struct kiln_git_commit_info *commits = NULL;
	size_t n_commits = 0, max = 0, n_pubs = 0;
	_cleanup_free_ const char **pubs = NULL;
	_cleanup_free_ char *store_dir = NULL, *only_name = NULL;
	const char *range = "HEAD";
	json_t *out = NULL;
	struct stat st;
	int ch, rc = 0;

	pubs = kiln_xcalloc((size_t)argc + 1, sizeof(*pubs));
	while ((ch = getopt_long(argc, argv, "n:f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (!*optarg || *end || optarg[0] == '-' || v > 1000000000ULL)
				return kiln_cli_usage(cli, "-n %s: expected a count", optarg);
			max = (size_t)v;
			if (max == 0)
				return 0;
			break;
		}
		case 'f': cli->manifest = optarg; break;
		case 'p': pubs[n_pubs++] = optarg; break;
		case 's': cli->store = optarg; break;
		case 'j': cli->json = true; break;
		case 'h': log_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (argc - optind > 1)
		return kiln_cli_usage(cli, "expected at most one REV or A..B");
	if (optind < argc)
		range = argv[optind];
	/* -f filters by the manifest's name; without it every name is shown. */
	if (cli->manifest) {
		struct kiln_manifest *m = kiln_manifest_load(cli->manifest, &err);
		if (!m)
			return kiln_cli_fail(cli, &err);
		only_name = kiln_xstrdup(m->name);
		kiln_manifest_free(m);
		c.only_name = only_name;
	}
	git = kiln_git_open(".", &err);
	if (!git)
		return kiln_cli_fail(cli, &err);
	if (load_ring(&c, pubs, n_pubs, kiln_git_workdir(git), &err) < 0)
		goto fail;
	store_dir = kiln_store_default_dir(kiln_cli_store(cli), kiln_git_workdir(git));
	/* No store yet is no snapshot yet, not an error. */
	if (stat(store_dir, &st) == 0 || errno != ENOENT) {
		c.store = kiln_store_open_default(kiln_cli_store(cli), kiln_git_workdir(git), false, &err);
		if (!c.store)
			goto fail;
	}
	if (kiln_git_history(git, range, max, &commits, &n_commits, &err) < 0)
		goto fail;
	{
		if (kiln_hook_locate(".", &hook_loc, KILN_ERROR_IGNORE) == 0)
			c.hook_logs = hook_loc.log_dir;
	}
	if (cli->json)
		out = json_array();
	for (size_t i = 0; i < n_commits; i++) {
		struct snap *snaps;
		size_t n_snaps;
		char *hook_log = NULL;
		enum hook_state hook;
		if (load_snaps(&c, commits[i].id, &snaps, &n_snaps, &err) < 0)
			goto fail;
		hook = hook_log_state(&c, commits[i].id, &hook_log);
		/* Each damaged record is named on stderr (escaped, as every
		 * message), and the listing goes on. */
		for (size_t k = 0; k < n_snaps; k++)
			if (snaps[k].status == SNAP_CORRUPT) {
				struct kiln_error bad = { 0 };
				kiln_error_set(&bad, "%s", snaps[k].error);
				kiln_cli_fail(cli, &bad);
			}
		if (out) {
			json_t *o = json_object(), *arr = json_array();
			char when[32];
			kiln_oci_time(commits[i].time, when);
			json_object_set_new(o, "commit", json_string(commits[i].id));
			json_object_set_new(o, "subject", json_string(commits[i].subject));
			json_object_set_new(o, "time", json_string(when));
			for (size_t k = 0; k < n_snaps; k++)
				json_array_append_new(arr, snap_json(&snaps[k]));
			json_object_set_new(o, "snapshots", arr);
			if (hook != HOOK_NONE) {
				json_t *h = json_object();
				json_object_set_new(h, "status", json_string(hook_state_names[hook]));
				json_object_set_new(h, "log", json_string(hook_log));
				json_object_set_new(o, "hook_build", h);
			} else {
				json_object_set_new(o, "hook_build", json_null());
			}
			json_array_append_new(out, o);
		} else {
			if (n_snaps == 0)
				print_line(&commits[i], NULL, hook, hook_log);
			for (size_t k = 0; k < n_snaps; k++)
				print_line(&commits[i], &snaps[k], hook, hook_log);
		}
		free(hook_log);
		free_snaps(snaps, n_snaps);
	}
	if (out) {
		char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n", text ? text : "[]");
		free(text);
	}
	rc = c.bad ? KILN_EXIT_VERIFY : 0;
	goto out;
fail:
	rc = kiln_cli_fail(cli, &err);
out:
	json_decref(out);
	kiln_git_history_free(commits, n_commits);
	kiln_store_free(c.store);
	kiln_sign_keyring_release(&c.ring);
	kiln_hook_location_release(&hook_loc);
	kiln_git_free(git);
	return rc;
}
