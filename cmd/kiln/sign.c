/* sign.c - `kiln keygen`. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "gitrepo.h"
#include "kiln.h"
#include "sign.h"
#include "util.h"

/* Hex digits of the key id that name the default public key file. */
#define PUB_NAME_HEX 16

static void keygen_help(void)
{
	printf("usage: kiln keygen [--key PATH] [--pub PATH] [--force]\n"
	       "\n"
	       "Generate an Ed25519 signing key pair: the private key as PKCS#8 PEM (mode\n"
	       "0600) and its public key as SubjectPublicKeyInfo PEM (mode 0644), both\n"
	       "written atomically.  Prints the key id (sha256: of the DER public key) and\n"
	       "the two paths.  An existing key is never overwritten without --force.\n"
	       "\n"
	       "The private key goes to --key, else $KILN_KEY, else .kiln/signing.key; the\n"
	       "public key to --pub, else .kiln/trusted/<first 16 hex of the key id>.pub,\n"
	       "where it is trusted by verification.  .kiln/ is at the top of the git work\n"
	       "tree (or in the current directory outside one) and is created if needed.\n"
	       "Keep the private key out of git; commit the public key.\n"
	       "\n"
	       "Options:\n"
	       "  --key PATH   where to write the private key\n"
	       "  --pub PATH   where to write the public key\n"
	       "  --force      overwrite existing key files\n"
	       "  -h, --help   this help\n");
}

/* The directory path goes in: inside the work tree (.kiln/…, a cloned
 * repository's ground) made beneath it following no symlink, so that a
 * committed `.kiln/trusted -> elsewhere` cannot place a key outside. */
static int make_parent(const char *workdir, const char *path, struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_path_dirname(path);
	size_t n = strlen(workdir);

	while (n > 1 && workdir[n - 1] == '/')
		n--;
	if (strncmp(dir, workdir, n) == 0 && dir[n] == '/')
		return kiln_dir_ensure_beneath(workdir, dir + n + 1, 0755, err) < 0 ||
		       kiln_sign_check_key_path(path, workdir, err) < 0 ? -1 : 0;
	return kiln_mkdir_p(dir, 0755, err);
}

int kiln_cli_keygen(const char *workdir, const char *key_opt, const char *pub_opt, bool force,
		    char keyid[KILN_KEYID_LEN + 1], char **priv_out, char **pub_out, struct kiln_error *err)
{
	_cleanup_free_ char *priv_path = kiln_sign_find_private(key_opt ? key_opt : kiln_env_key(), workdir);
	_cleanup_free_ char *pub_path = NULL;
	struct kiln_key *key = kiln_sign_generate(err);
	int rc = -1;

	if (!key || kiln_sign_keyid(key, keyid, err) < 0)
		goto out;
	if (pub_opt) {
		pub_path = kiln_xstrdup(pub_opt);
	} else {
		_cleanup_free_ char *name = kiln_xasprintf(".kiln/trusted/%.*s.pub", PUB_NAME_HEX,
							   keyid + strlen("sha256:"));
		pub_path = kiln_path_join(workdir, name);
	}
	/* Refuse before writing anything, so a refusal leaves no half pair. */
	if (kiln_sign_check_key_path(priv_path, workdir, err) < 0 ||
	    kiln_sign_check_key_path(pub_path, workdir, err) < 0)
		goto out;
	if (!force) {
		const char *exists = access(priv_path, F_OK) == 0 ? priv_path :
				     access(pub_path, F_OK) == 0 ? pub_path : NULL;
		if (exists) {
			kiln_error_set(err, "'%s' exists; --force overwrites it", exists);
			goto out;
		}
	}
	if (make_parent(workdir, priv_path, err) < 0 || make_parent(workdir, pub_path, err) < 0 ||
	    kiln_sign_write_private(key, priv_path, force, err) < 0)
		goto out;
	if (kiln_sign_write_public(key, pub_path, force, err) < 0) {
		/* The private key is the one just made: take it back. */
		if (!force)
			unlink(priv_path);
		goto out;
	}
	*priv_out = kiln_steal_pointer(&priv_path);
	*pub_out = kiln_steal_pointer(&pub_path);
	rc = 0;
out:
	kiln_sign_key_free(key);
	return rc;
}

int cmd_keygen(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "pub", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_error err = { 0 };
	const char *key_opt = NULL, *pub_opt = NULL;
	_cleanup_free_ char *priv_path = NULL, *pub_path = NULL;
	char keyid[KILN_KEYID_LEN + 1];
	struct kiln_git *git;
	bool force = false;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': key_opt = optarg; break;
		case 'p': pub_opt = optarg; break;
		case 'F': force = true; break;
		case 'h': keygen_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind < argc)
		return kiln_cli_usage(cli, "unexpected argument '%s'", argv[optind]);

	git = kiln_git_open(".", &err);
	kiln_error_clear(&err);
	if (kiln_cli_keygen(git ? kiln_git_workdir(git) : ".", key_opt, pub_opt, force, keyid, &priv_path,
			    &pub_path, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "keyid", keyid, "private", priv_path,
				      "public", pub_path);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(o);
	} else if (!cli->quiet) {
		printf("key id:      %s\nprivate key: %s\npublic key:  %s\n", keyid, priv_path,
		       pub_path);
		/* Rotation: snapshots signed by an earlier key must still
		 * verify, so its public key stays trusted until removed. */
		if (force && !pub_opt)
			printf("earlier public keys in .kiln/trusted/ stay trusted (their snapshots still "
			       "verify); remove one to stop trusting it\n");
	}
out:
	kiln_git_free(git);
	return rc;
}
