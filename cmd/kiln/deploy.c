/* deploy.c - `kiln deploy`, `kiln rollback` and `kiln history` (docs/deploy.md). */
#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "deploy.h"
#include "gitrepo.h"
#include "history.h"
#include "kiln.h"
#include "record.h"
#include "util.h"

static void deploy_help(void)
{
	printf("usage: kiln deploy [NAME | --all] [--rev REV] [-f MANIFEST] [--force] [--insecure]\n"
	       "                   [--store DIR] [--runtime NAME]\n"
	       "\n"
	       "Put a commit's snapshot of a service in service by replacing its container.\n"
	       "A service is a manifest with a service: section; NAME is its name, looked up\n"
	       "in kiln.yaml and manifests/*.yaml of the commit (default: kiln.yaml's).\n"
	       "\n"
	       "The snapshot comes from the store (built first if the store lacks it, as\n"
	       "kiln build --rev REV would) and must be signed by a trusted key.  kiln says\n"
	       "what changes against the running snapshot, starts the new container without\n"
	       "traffic, waits for its health check, moves the published ports to it in one\n"
	       "nftables transaction, drains the old one (update.drain), stops it (its stop\n"
	       "signal, SIGKILL after update.grace) and removes it.  A new container that\n"
	       "fails its check is removed and the old one serves on, untouched.  Every step\n"
	       "is in kiln history NAME; a deploy killed half-way is finished or undone by\n"
	       "the next kiln deploy, rollback or history of the service.\n"
	       "\n"
	       "Options:\n"
	       "      --all             every service of the commit, in service.after order\n"
	       "  -r, --rev REV         the commit to deploy (any git revision; default HEAD)\n"
	       "  -f, --file MANIFEST   the service's manifest (a path in the commit's tree)\n"
	       "      --force           replace the container even when this snapshot serves\n"
	       "      --insecure        deploy an unsigned or untrusted snapshot (also KILN_INSECURE=1)\n"
	       "      --store DIR       the store (default $KILN_STORE, else snapshots/)\n"
	       "      --runtime NAME    kiln (default) or runc\n"
	       "  -h, --help            this help\n"
	       "\n"
	       "Exit status: 0 serving (or already serving), 1 the new version failed (the one\n"
	       "before serves), 2 usage, 3 a snapshot failed verification.\n"
	       "See docs/deploy.md.\n");
}

static void rollback_help(void)
{
	printf("usage: kiln rollback NAME [--to REV] [--force] [--insecure] [--store DIR]\n"
	       "\n"
	       "Put back the snapshot that served before the current one (two rollbacks in a\n"
	       "row swap back), or the snapshot of commit REV, through the same steps as kiln\n"
	       "deploy: verified, started, health-checked, switched, the old one drained and\n"
	       "removed.  The target is a snapshot in the store, not a leftover container.\n"
	       "\n"
	       "Options:\n"
	       "      --to REV          the commit whose snapshot to put back\n"
	       "      --force           replace the container even when this snapshot serves\n"
	       "      --insecure        accept an unsigned or untrusted snapshot\n"
	       "      --store DIR       the store (default $KILN_STORE, else snapshots/)\n"
	       "  -h, --help            this help\n");
}

static void history_help(void)
{
	printf("usage: kiln history NAME [--json]\n"
	       "\n"
	       "Every deploy and rollback of service NAME, oldest first: its number, time,\n"
	       "action, commit, image digest, result and what triggered it.  Kept in\n"
	       "$KILN_ROOT/services/NAME/history (default /var/lib/kiln).  A deploy that was\n"
	       "killed half-way is finished or undone first (docs/deploy.md).\n"
	       "\n"
	       "Options:\n"
	       "      --json            one JSON array\n"
	       "  -h, --help            this help\n");
}

static void say_line(void *ctx, const char *line)
{
	const struct kiln_cli *cli = ctx;
	if (!cli->quiet && !cli->json) {
		kiln_cli_progress_done(cli);
		fputs("  ", stdout);
		kiln_cli_print_escaped(stdout, line);
		fputc('\n', stdout);
		fflush(stdout);
	}
}

/* "root: kiln deploy web --rev v2" */
static char *trigger_of(int argc, char **argv)
{
	struct kiln_buf b = KILN_BUF_INIT;
	struct passwd *pw = getpwuid(getuid());

	if (pw)
		kiln_buf_adds(&b, pw->pw_name);
	else {
		char uid[32];
		snprintf(uid, sizeof(uid), "uid %u", (unsigned)getuid());
		kiln_buf_adds(&b, uid);
	}
	kiln_buf_adds(&b, ": kiln");
	for (int i = 0; i < argc; i++) {
		kiln_buf_adds(&b, " ");
		kiln_buf_adds(&b, argv[i]);
	}
	return kiln_buf_detach(&b);
}

struct deploy_env {
	struct kiln_build_options build;
	char *cache_dir;
	struct kiln_git *git;
	struct kiln_container_root *root;
	char *trigger;
};

static int deploy_env_open(struct kiln_cli *cli, struct deploy_env *e, int argc, char **argv,
			   struct kiln_deploy_options *o, struct kiln_error *err)
{
	memset(e, 0, sizeof(*e));
	e->root = kiln_env_container_root_open(err);
	if (!e->root)
		return -1;
	o->root = e->root;
	e->git = kiln_git_open(".", err);
	if (!e->git)
		return -1;
	e->build.key_path = kiln_env_key();
	e->build.cache_dir = e->cache_dir = kiln_env_cache_dir();
	e->build.mirrors = kiln_env_mirrors();
	e->build.source_date_epoch = kiln_env_source_date_epoch();
	e->build.progress = kiln_cli_progress;
	e->build.progress_ctx = cli;
	e->trigger = trigger_of(argc, argv);
	o->git = e->git;
	o->root = e->root;
	o->store_dir = kiln_cli_store(cli);
	o->build = &e->build;
	o->self_exe = "/proc/self/exe";
	o->trigger = e->trigger;
	o->say = say_line;
	o->ctx = cli;
	if (!o->runtime)
		o->runtime = kiln_env_runtime();
	return 0;
}

static void deploy_env_close(struct deploy_env *e)
{
	free(e->cache_dir);
	free(e->trigger);
	kiln_container_root_free(e->root);
	kiln_git_free(e->git);
}

static int finish(struct kiln_cli *cli, int rc, struct kiln_error *err)
{
	if (rc == 0)
		return 0;
	if (rc > 0) {
		fprintf(stderr, "kiln: %s: ", cli->command);
		kiln_cli_print_escaped(stderr, err->message);
		fputc('\n', stderr);
		return 1;
	}
	return kiln_cli_fail(cli, err);
}

/* What deploy and rollback share once their options are read. */
static int run_deploy(struct kiln_cli *cli, int argc, char **argv, struct kiln_deploy_options *o, bool all)
{
	struct kiln_error err = { 0 };
	struct deploy_env e;
	int rc;

	o->insecure = o->insecure || kiln_env_insecure();
	if (deploy_env_open(cli, &e, argc, argv, o, &err) < 0) {
		deploy_env_close(&e);
		return kiln_cli_fail(cli, &err);
	}
	rc = all ? kiln_deploy_all(o, &err) : kiln_deploy_run(o, &err);
	deploy_env_close(&e);
	return finish(cli, rc, &err);
}

int cmd_deploy(int argc, char **argv, struct kiln_cli *cli)
{
	enum { O_ALL = 256, O_FORCE, O_INSECURE, O_STORE, O_RUNTIME };
	static const struct option opts[] = {
		{ "all", no_argument, NULL, O_ALL },
		{ "rev", required_argument, NULL, 'r' },
		{ "file", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, O_FORCE },
		{ "insecure", no_argument, NULL, O_INSECURE },
		{ "store", required_argument, NULL, O_STORE },
		{ "runtime", required_argument, NULL, O_RUNTIME },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_deploy_options o = { .action = KILN_DEPLOY_DEPLOY };
	bool all = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "r:f:h", opts, NULL)) != -1) {
		switch (ch) {
		case O_ALL: all = true; break;
		case 'r': o.rev = optarg; break;
		case 'f': o.manifest_path = optarg; break;
		case O_FORCE: o.force = true; break;
		case O_INSECURE: o.insecure = true; break;
		case O_STORE: cli->store = optarg; break;
		case O_RUNTIME: o.runtime = optarg; break;
		case 'h': deploy_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind < argc)
		o.name = argv[optind++];
	if (o.name && !kiln_record_name_valid(o.name))
		return kiln_cli_usage(cli, "'%s' is not a service name", o.name);
	if (optind < argc)
		return kiln_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (all && (o.name || o.manifest_path))
		return kiln_cli_usage(cli, "--all deploys every service: give no NAME or -f with it");
	if (!o.manifest_path && cli->manifest)
		o.manifest_path = cli->manifest;
	return run_deploy(cli, argc, argv, &o, all);
}

int cmd_rollback(int argc, char **argv, struct kiln_cli *cli)
{
	enum { O_FORCE = 256, O_INSECURE, O_STORE, O_RUNTIME };
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, O_FORCE },
		{ "insecure", no_argument, NULL, O_INSECURE },
		{ "store", required_argument, NULL, O_STORE },
		{ "runtime", required_argument, NULL, O_RUNTIME },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_deploy_options o = { .action = KILN_DEPLOY_ROLLBACK };
	int ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 't': o.rev = optarg; break;
		case O_FORCE: o.force = true; break;
		case O_INSECURE: o.insecure = true; break;
		case O_STORE: cli->store = optarg; break;
		case O_RUNTIME: o.runtime = optarg; break;
		case 'h': rollback_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind + 1 != argc)
		return kiln_cli_usage(cli, "expected the service's NAME");
	if (!kiln_record_name_valid(argv[optind]))
		return kiln_cli_usage(cli, "'%s' is not a service name", argv[optind]);
	o.name = argv[optind];
	return run_deploy(cli, argc, argv, &o, false);
}

int cmd_history(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_deploy_options o = { 0 };
	struct kiln_error err = { 0 };
	struct deploy_env e;
	struct kiln_history *h = NULL;
	struct kiln_history_deploy *v = NULL;
	size_t nv = 0;
	bool json = cli->json;
	int ch, rc = 0;
	ssize_t cur;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = true; break;
		case 'h': history_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind + 1 != argc)
		return kiln_cli_usage(cli, "expected the service's NAME");
	if (!kiln_record_name_valid(argv[optind]))
		return kiln_cli_usage(cli, "'%s' is not a service name", argv[optind]);
	/* Repair first, so that the history tells what the host runs.  Outside
	 * a work tree the repair cannot rebuild, only finish or undo. */
	memset(&e, 0, sizeof(e));
	if (deploy_env_open(cli, &e, argc, argv, &o, &err) < 0 && !e.root) {
		deploy_env_close(&e);
		return kiln_cli_fail(cli, &err);
	}
	kiln_error_clear(&err);
	if (json)
		o.say = NULL;
	o.name = argv[optind];
	if (kiln_deploy_repair(&o, argv[optind], NULL, &err) < 0) {
		/* Still show the history: it is what says what happened. */
		fprintf(stderr, "kiln: history: warning: ");
		kiln_cli_print_escaped(stderr, err.message);
		fputc('\n', stderr);
		kiln_error_clear(&err);
		rc = 1;
	}
	h = kiln_history_open(kiln_container_root_dir(e.root), argv[optind], &err);
	if (!h || kiln_history_load(h, &v, &nv, &err) < 0) {
		if (rc)
			goto out; /* said above */
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	cur = kiln_history_current(v, nv);
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < nv; i++) {
			const struct kiln_history_entry *x = &v[i].e;
			json_t *j = json_object();
			json_object_set_new(j, "seq", json_integer(x->seq));
			json_object_set_new(j, "started", json_integer(v[i].started));
			json_object_set_new(j, "time", json_integer(x->time));
			json_object_set_new(j, "action", json_string(x->action));
			json_object_set_new(j, "result", json_string(x->result));
			json_object_set_new(j, "commit", json_string(x->commit));
			json_object_set_new(j, "digest", json_string(x->digest));
			json_object_set_new(j, "manifest", json_string(x->manifest));
			json_object_set_new(j, "store", json_string(x->store));
			json_object_set_new(j, "container", json_string(x->container));
			json_object_set_new(j, "trigger", json_string(x->trigger));
			json_object_set_new(j, "current", json_boolean((ssize_t)i == cur));
			if (x->message)
				json_object_set_new(j, "message", json_string(x->message));
			json_array_append_new(a, j);
		}
		char *s = json_dumps(a, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(a);
		goto out;
	}
	if (!nv) {
		printf("service %s: no deploys yet\n", argv[optind]);
		goto out;
	}
	printf("%-5s %-20s %-13s %-12s %-19s %-12s %s\n", "#", "TIME (UTC)", "ACTION", "COMMIT", "DIGEST",
	       "RESULT", "TRIGGER");
	for (size_t i = 0; i < nv; i++) {
		const struct kiln_history_entry *x = &v[i].e;
		char when[32];
		time_t t = (time_t)v[i].started;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-5u %-20s %-13s %-12.12s %-19.19s %-12s ", x->seq, when, x->action, x->commit, x->digest,
		       (ssize_t)i == cur ? "serving" : !strcmp(x->result, "serving") ? "replaced" : x->result);
		kiln_cli_print_escaped(stdout, x->trigger);
		fputc('\n', stdout);
		if (x->message) {
			fputs("      ", stdout);
			kiln_cli_print_escaped(stdout, x->message);
			fputc('\n', stdout);
		}
	}
out:
	kiln_history_deploys_free(v, nv);
	kiln_history_free(h);
	deploy_env_close(&e);
	return rc;
}
