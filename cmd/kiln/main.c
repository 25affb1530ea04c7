/* main.c - kiln's entry point: global options and the command table. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "kiln.h"
#include "util.h"

static int cmd_version(int argc, char **argv, struct kiln_cli *cli);
static int cmd_help(int argc, char **argv, struct kiln_cli *cli);

static const struct kiln_command commands[] = {
	{ "init", cmd_init, "scaffold a kiln.yaml (pinned to the mirror's current versions) and .gitignore" },
	{ "lock", cmd_lock, "resolve the manifest's pins into an exact, verified lockfile" },
	{ "build", cmd_build, "build, sign and record a commit's reproducible OCI image in the store" },
	{ "verify", cmd_verify, "check a snapshot's signature, provenance and every digest (offline)" },
	{ "audit", cmd_audit, "rebuild a commit from nothing and compare with its recorded snapshot" },
	{ "export", cmd_export, "write a snapshot as an oci-archive or docker-archive file" },
	{ "log", cmd_log, "commits and their snapshots (digest, signer, size), newest first" },
	{ "diff", cmd_diff, "packages and files that differ between two snapshots" },
	{ "hook", cmd_hook, "install, remove or show the git post-commit hook that builds each commit" },
	{ "gc", cmd_gc, "delete blobs, index entries and cache entries no recorded snapshot reaches" },
	{ "deploy", cmd_deploy, "put a commit's snapshot of a service in service, replacing its container" },
	{ "rollback", cmd_rollback, "put an earlier snapshot of a service back in service" },
	{ "history", cmd_history, "every deploy and rollback of a service" },
	{ "run", cmd_run, "run a snapshot as a container" },
	{ "ps", cmd_ps, "list containers" },
	{ "logs", cmd_logs, "print a container's output" },
	{ "stop", cmd_stop, "stop running containers" },
	{ "rm", cmd_rm, "remove containers" },
	{ "exec", cmd_exec, "run a command in a running container" },
	{ "keygen", cmd_keygen, "generate an Ed25519 signing key and its trusted public key" },
	{ "version", cmd_version, "print kiln's version" },
	{ "help", cmd_help, "show help for kiln or for a command" },
};

static void print_main_help(FILE *out)
{
	fprintf(out,
		"usage: kiln [-C DIR] [-f MANIFEST] [--store DIR] [--json] [-q] [-v] COMMAND [ARGS…]\n"
		"\n"
		"kiln compiles a YAML manifest of exactly pinned Debian packages into\n"
		"reproducible, signed OCI image snapshots, one per git commit.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < KILN_ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Global options:\n"
		"  -C DIR          run as if started in DIR\n"
		"  -f MANIFEST     the manifest (default ./kiln.yaml)\n"
		"  --store DIR     the snapshot store (default snapshots/ at the top of the work tree)\n"
		"  --json          machine-readable output where a command has it\n"
		"  -q, --quiet     only errors\n"
		"  -v, --verbose   more detail\n"
		"  -h, --help      this help; `kiln COMMAND --help` for a command\n"
		"\n"
		"Exit codes: 0 ok, 1 failed, 2 usage, 3 verification failed, 4 audit found a difference.\n"
		"Environment: KILN_MIRROR, KILN_MIRROR_<SOURCE>, KILN_CACHE, XDG_CACHE_HOME, KILN_APT_ETC,\n"
		"KILN_STORE, KILN_KEY, KILN_ROOT, KILN_RUNTIME, KILN_CGROUP_PARENT, KILN_NET_BRIDGE,\n"
		"KILN_NET_SUBNET, KILN_NET_TABLE (kiln(1) says what each does).\n"
		"See docs/ and `man kiln` for the formats and guides.\n");
}

/* Print s with control bytes escaped: messages quote names from hostile
 * input (package paths, YAML values), which must not forge extra lines or
 * send escape sequences to a terminal.  A "\n  " that kiln itself puts in
 * a message (a resolver's "required by:" line) is kept. */
void kiln_cli_print_escaped(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n' && p[1] == ' ' && p[2] == ' ')
			fputc('\n', out);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

void kiln_cli_print_bytes(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

json_t *kiln_cli_json_bytes(const char *s)
{
	json_t *j = json_string(s);
	struct kiln_buf b = KILN_BUF_INIT;

	if (j)
		return j;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x80)
			kiln_buf_addch(&b, (char)*p);
		else
			kiln_buf_printf(&b, "\\x%02x", *p);
	}
	j = json_string(b.data ? b.data : "");
	kiln_buf_release(&b);
	return j;
}

int kiln_cli_fail(const struct kiln_cli *cli, const struct kiln_error *err)
{
	kiln_cli_progress_done(cli);
	fprintf(stderr, "kiln: %s%s", cli->command ? cli->command : "", cli->command ? ": " : "");
	kiln_cli_print_escaped(stderr, err->message[0] ? err->message : "failed");
	fputc('\n', stderr);
	return err->code ? err->code : KILN_EXIT_FAILED;
}

int kiln_cli_usage(const struct kiln_cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kiln: %s%s", cli->command ? cli->command : "", cli->command ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee `kiln %s%s--help`\n", cli->command ? cli->command : "",
		cli->command ? " " : "");
	return KILN_EXIT_USAGE;
}

const char *kiln_cli_manifest(const struct kiln_cli *cli)
{
	return cli->manifest ? cli->manifest : "kiln.yaml";
}

static bool progress_shown;

void kiln_cli_progress(void *ctx, const char *label, uint64_t done, uint64_t total)
{
	const struct kiln_cli *cli = ctx;
	static struct timeval last, start;
	static char start_label[256];
	struct timeval now;
	const char *short_label;
	double secs, rate;

	if (cli->quiet || !isatty(2))
		return;
	gettimeofday(&now, NULL);
	/* The rate is measured from the first report of this label. */
	if (strncmp(start_label, label, sizeof(start_label) - 1) != 0) {
		snprintf(start_label, sizeof(start_label), "%s", label);
		start = now;
	}
	secs = (double)(now.tv_sec - start.tv_sec) + (now.tv_usec - start.tv_usec) / 1e6;
	rate = secs > 0.05 ? done / 1e6 / secs : 0;
	if (progress_shown && done != total &&
	    (now.tv_sec - last.tv_sec) * 1000000L + (now.tv_usec - last.tv_usec) < 100000)
		return;
	last = now;
	short_label = strrchr(label, '/') ? strrchr(label, '/') + 1 : label;
	fprintf(stderr, "\r\033[K  fetch %s  %.1f", short_label, done / 1e6);
	if (total)
		fprintf(stderr, " / %.1f", total / 1e6);
	fprintf(stderr, " MB");
	if (rate > 0)
		fprintf(stderr, "  %.1f MB/s", rate);
	progress_shown = true;
}

void kiln_cli_progress_done(const struct kiln_cli *cli)
{
	if (progress_shown) {
		fprintf(stderr, "\r\033[K");
		progress_shown = false;
	}
}

static int cmd_version(int argc, char **argv, struct kiln_cli *cli)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: kiln version\n\nPrint kiln's version.\n");
		return 0;
	}
	if (argc > 1)
		return kiln_cli_usage(cli, "unexpected argument '%s'", argv[1]);
	if (cli->json)
		printf("{\"version\":\"%s\"}\n", KILN_VERSION);
	else
		printf("kiln %s\n", KILN_VERSION);
	return 0;
}

static const struct kiln_command *find_command(const char *name)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv, struct kiln_cli *cli)
{
	const struct kiln_command *c;
	char *help_argv[] = { NULL, "--help", NULL };

	if (argc < 2) {
		print_main_help(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		printf("usage: kiln help [COMMAND]\n\nShow kiln's help, or a command's.\n");
		return 0;
	}
	c = find_command(argv[1]);
	if (!c)
		return kiln_cli_usage(cli, "no command '%s'", argv[1]);
	help_argv[0] = (char *)c->name;
	cli->command = c->name;
	return c->run(2, help_argv, cli);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_cli cli = { 0 };
	const struct kiln_command *c;
	int ch;

	/* '+': stop at the command name; its own options are its own. */
	while ((ch = getopt_long(argc, argv, "+C:f:qvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			if (chdir(optarg) < 0) {
				fprintf(stderr, "kiln: -C %s: %s\n", optarg, strerror(errno));
				return KILN_EXIT_FAILED;
			}
			break;
		case 'f': cli.manifest = optarg; break;
		case 's': cli.store = optarg; break;
		case 'j': cli.json = true; break;
		case 'q': cli.quiet = true; break;
		case 'v': cli.verbose = true; break;
		case 'h': print_main_help(stdout); return 0;
		case 'V': printf("kiln %s\n", KILN_VERSION); return 0;
		default:
			fprintf(stderr, "see `kiln --help`\n");
			return KILN_EXIT_USAGE;
		}
	}
	kiln_env_apply_process_settings();
	if (optind >= argc) {
		print_main_help(stderr);
		return KILN_EXIT_USAGE;
	}
	c = find_command(argv[optind]);
	if (!c) {
		fprintf(stderr, "kiln: no command '%s'; see `kiln --help`\n", argv[optind]);
		return KILN_EXIT_USAGE;
	}
	cli.command = c->name;
	{
		int first = optind;
		/* Commands parse their own options with getopt from a fresh start. */
		optind = 0;
		return c->run(argc - first, argv + first, &cli);
	}
}
