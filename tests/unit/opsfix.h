/* opsfix.h - a tiny kiln project for the orchestration tests (build, audit,
 * verify, locker): a git work tree holding kiln.yaml (sources from the
 * shared fixture's apt repositories served on 127.0.0.1, see
 * tests/fixtures/README.md), a signing key and its public half, a store
 * and a package cache, all under one temporary directory.
 *
 * The library still reads a few environment variables (KILN_APT_ETC,
 * KILN_CACHE, KILN_STORE, KILN_KEY, SOURCE_DATE_EPOCH, TMPDIR): opsfix_env
 * pins each of them to the test's own directory or clears it, so that
 * nothing of the caller's machine leaks in.
 */
#ifndef KILN_TEST_OPSFIX_H
#define KILN_TEST_OPSFIX_H

#include "debcraft.h"
#include "sign.h"

struct opsfix {
	char *dir;      /* everything below */
	char *work;     /* the git work tree */
	char *manifest; /* work/kiln.yaml */
	char *lock;     /* work/kiln.lock */
	char *key;      /* signing key */
	char *pub;      /* its public half */
	char *store;
	char *cache;
	const char *http; /* $KILN_TEST_HTTP */
	const char *keyring; /* $KILN_TEST_KEYRING */
};

/* Fails the whole test program (exit 2) when the fixture is missing:
 * these tests run under tests/run, which always provides it. */
static inline void opsfix_init(struct opsfix *f, const char *tag)
{
	struct kiln_error err = { 0 };

	memset(f, 0, sizeof(*f));
	f->http = getenv("KILN_TEST_HTTP");
	f->keyring = getenv("KILN_TEST_KEYRING");
	if (!f->http || !f->keyring) {
		printf("Bail out! KILN_TEST_HTTP/KILN_TEST_KEYRING unset: run through tests/run\n");
		exit(2);
	}
	f->dir = craft_tmpdir(tag);
	f->work = kiln_path_join(f->dir, "work");
	f->manifest = kiln_path_join(f->work, "kiln.yaml");
	f->lock = kiln_path_join(f->work, "kiln.lock");
	f->key = kiln_path_join(f->dir, "signing.key");
	f->pub = kiln_path_join(f->dir, "signing.pub");
	f->store = kiln_path_join(f->dir, "store");
	f->cache = kiln_path_join(f->dir, "cache");
	craft_mkdir(f->dir, "work", 0755);
	craft_mkdir(f->dir, "etc", 0755);
	craft_mkdir(f->dir, "cache", 0755);
	craft_mkdir(f->dir, "tmp", 0755);

	_cleanup_free_ char *etc = kiln_path_join(f->dir, "etc");
	_cleanup_free_ char *tmp = kiln_path_join(f->dir, "tmp");
	setenv("KILN_APT_ETC", etc, 1); /* no apt configuration of the host */
	setenv("KILN_CACHE", f->cache, 1);
	setenv("TMPDIR", tmp, 1);
	setenv("SOURCE_DATE_EPOCH", "1717200000", 1);
	unsetenv("KILN_MIRROR");
	unsetenv("KILN_STORE");
	unsetenv("KILN_KEY");

	if (kiln_sign_keygen(f->key, f->pub, &err) < 0) {
		printf("Bail out! keygen: %s\n", err.message);
		exit(2);
	}
	if (craft_run(NULL, NULL, "git", "init", "-q", f->work, NULL) != 0) {
		printf("Bail out! git init %s failed\n", f->work);
		exit(2);
	}
}

static inline void opsfix_release(struct opsfix *f)
{
	craft_rm_rf(f->dir);
	free(f->dir);
	free(f->work);
	free(f->manifest);
	free(f->lock);
	free(f->key);
	free(f->pub);
	free(f->store);
	free(f->cache);
}

/* kiln.yaml named NAME with one source (REPO of the fixture, suite
 * stable) and PACKAGES, YAML flow-mapping text such as "{app: \"2.0\"}". */
static inline void opsfix_manifest(const struct opsfix *f, const char *name, const char *repo,
				   const char *packages)
{
	_cleanup_free_ char *text = kiln_xasprintf(
		"kiln: 1\n"
		"name: %s\n"
		"architecture: amd64\n"
		"sources:\n"
		"  - name: stable\n"
		"    url: %s/%s\n"
		"    suite: stable\n"
		"    components: [main]\n"
		"    keyring: %s\n"
		"packages: %s\n",
		name, f->http, repo, f->keyring, packages);
	craft_write(f->work, "kiln.yaml", text, 0644);
}

/* Commit everything in the work tree; 0 when git said yes. */
static inline int opsfix_commit(const struct opsfix *f, const char *message)
{
	if (craft_run(NULL, NULL, "git", "-C", f->work, "add", "-A", NULL) != 0)
		return -1;
	return craft_run(NULL, NULL, "git", "-C", f->work, "-c", "user.name=t", "-c",
			 "user.email=t@localhost", "-c", "commit.gpgsign=false", "commit", "-q",
			 "--allow-empty", "-m", message, NULL) == 0 ? 0 : -1;
}

/* Counts the progress callbacks (downloads) of a run. */
static inline void opsfix_count_progress(void *ctx, const char *label, uint64_t done, uint64_t total)
{
	(void)label;
	(void)done;
	(void)total;
	(*(unsigned *)ctx)++;
}

#endif
