/* init.c - `kiln init`. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "gitrepo.h"
#include "kiln.h"
#include "sign.h"
#include "scaffold.h"
#include "util.h"

static void init_help(void)
{
	printf("usage: kiln init [--name NAME] [--suite SUITE] [--arch ARCH] [--keyring FILE]\n"
	       "                 [-p PACKAGE]… [--force] [DIR]\n"
	       "\n"
	       "Write a starter kiln.yaml in DIR (default .) and add the snapshot store to\n"
	       "DIR/.gitignore.  The packages (default busybox-static) are pinned to the newest\n"
	       "versions this machine's mirror has now, from SUITE (default: this machine's\n"
	       "Debian codename) and its -updates and -security suites where the machine's\n"
	       "apt sources know them, so `kiln lock` works straight away.\n"
	       "\n"
	       "Options:\n"
	       "  --name NAME       image name (default: the directory's name)\n"
	       "  --suite SUITE     Debian suite (default: from /etc/os-release, else bookworm)\n"
	       "  --arch ARCH       Debian architecture (default: this machine's)\n"
	       "  --keyring FILE    keyring for the sources (default Debian's archive keyring)\n"
	       "  -p, --package P   pin package P (repeat for more)\n"
	       "  --force           overwrite an existing kiln.yaml\n"
	       "  -h, --help        this help\n");
}

/* Builds sign (docs/signing.md): make the project's key unless one is found. */
static int make_signing_key(const struct kiln_cli *cli, const char *dir)
{
	struct kiln_error err = { 0 };
	struct kiln_git *git = kiln_git_open(dir, &err);
	const char *top = git ? kiln_git_workdir(git) : dir;
	_cleanup_free_ char *existing = kiln_sign_find_private(kiln_env_key(), top);
	_cleanup_free_ char *priv = NULL, *pub = NULL;
	char keyid[KILN_KEYID_LEN + 1];
	int rc = 0;

	kiln_error_clear(&err);
	if (kiln_sign_check_key_path(existing, top, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
	} else if (access(existing, F_OK) == 0) {
		if (!cli->quiet)
			printf("signing key: %s (already there)\n", existing);
	} else if (kiln_cli_keygen(top, NULL, NULL, false, keyid, &priv, &pub, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
	} else if (!cli->quiet) {
		printf("signing key: %s (keep it out of git; .gitignore says so)\n"
		       "trusted key: %s (commit it: verification trusts it)\n", priv, pub);
	}
	kiln_git_free(git);
	return rc;
}

int cmd_init(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "suite", required_argument, NULL, 's' },
		{ "arch", required_argument, NULL, 'a' },
		{ "keyring", required_argument, NULL, 'k' },
		{ "package", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_scaffold_options opt = { .dir = "." };
	_cleanup_free_ char *cache_dir = NULL;
	_cleanup_free_ char **packages = NULL;
	_cleanup_free_ char *written = NULL;
	struct kiln_error err = { 0 };
	size_t alloc = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': opt.name = optarg; break;
		case 's': opt.suite = optarg; break;
		case 'a': opt.architecture = optarg; break;
		case 'k': opt.keyring = optarg; break;
		case 'p':
			kiln_xgrow(&packages, &alloc, opt.n_packages + 1, sizeof(*packages));
			packages[opt.n_packages++] = optarg;
			break;
		case 'F': opt.force = true; break;
		case 'h': init_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (argc - optind > 1)
		return kiln_cli_usage(cli, "at most one directory");
	if (optind < argc)
		opt.dir = argv[optind];
	opt.packages = packages;
	opt.cache_dir = cache_dir = kiln_env_cache_dir();
	opt.mirrors = kiln_env_mirrors();
	opt.progress = kiln_cli_progress;
	opt.progress_ctx = cli;
	if (kiln_scaffold_init(&opt, &written, &err) < 0)
		return kiln_cli_fail(cli, &err);
	kiln_cli_progress_done(cli);
	if (!cli->quiet)
		printf("wrote %s; next: kiln lock%s%s\n", written, opt.dir[0] == '.' && !opt.dir[1] ? "" : " -f ",
		       opt.dir[0] == '.' && !opt.dir[1] ? "" : written);
	return make_signing_key(cli, opt.dir);
}
