/* test_verify.c - `kiln verify`'s orchestration (lib/ops/verify.c) on a
 * snapshot built here (git repository made by the test, packages from the
 * shared fixture on 127.0.0.1): a good snapshot verifies; a tampered layer
 * blob, a tampered record and an untrusted key are verification failures
 * (exit 3) naming what failed; an unknown name is not found (exit 1). */
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "fsutil.h"
#include "gitrepo.h"
#include "locker.h"
#include "opsfix.h"
#include "store.h"
#include "tap.h"
#include "verify.h"

static struct opsfix f;
static struct kiln_build_result built;

/* One snapshot "app" (app 1.0 and applib 1.0), signed with f.key. */
static void setup(void)
{
	struct kiln_locker_options lo = { 0 };
	struct kiln_locker_result lr = { 0 };
	struct kiln_build_options bo = { 0 };
	struct kiln_error err = { 0 };

	opsfix_init(&f, "verify");
	opsfix_manifest(&f, "app", "good", "{app: \"1.0\"}");
	lo.manifest_path = f.manifest;
	if (kiln_locker_run(&lo, &lr, &err) < 0 || opsfix_commit(&f, "app") < 0) {
		printf("Bail out! lock: %s\n", err.message);
		exit(2);
	}
	kiln_locker_result_release(&lr);
	bo.manifest_path = f.manifest;
	bo.store_dir = f.store;
	bo.cache_dir = f.cache;
	bo.key_path = f.key;
	if (kiln_build_run(&bo, &built, &err) < 0) {
		printf("Bail out! build: %s\n", err.message);
		exit(2);
	}
}

/* Verify TEXT against the store with the keyring of PUB: 0 or -1 with err. */
static int verify(const char *text, const char *pub, struct kiln_verify_result *res,
		  struct kiln_error *err)
{
	struct kiln_sign_keyring ring = KILN_KEYRING_INIT;
	const char *paths[] = { pub };
	struct kiln_git *git = NULL;
	struct kiln_store *store = NULL;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (kiln_sign_load_trusted(paths, 1, f.work, &ring, err) < 0)
		return -1;
	git = kiln_git_open(f.work, err);
	if (git)
		store = kiln_store_open(f.store, false, err);
	if (store)
		rc = kiln_verify_snapshot(git, store, text, NULL, &ring, 0, res, err);
	if (store)
		kiln_store_free(store);
	kiln_git_free(git);
	kiln_sign_keyring_release(&ring);
	return rc;
}

TEST(good_snapshot_verifies)
{
	struct kiln_verify_result r;
	struct kiln_error err = { 0 };

	CHECK(verify("app@HEAD", f.pub, &r, &err) == 0);
	CHECK_STR(err.message, "");
	CHECK(r.signer != NULL);
	CHECK(r.n_packages == 2);
	CHECK(r.lock_checked);
	CHECK(r.n_blobs >= built.n_layers + 2);
	CHECK(r.bytes >= built.size);
	CHECK_CONTAINS(r.statement, built.manifest_digest + 7);
	kiln_verify_result_release(&r);

	/* The image digest finds the same record. */
	CHECK(verify(built.manifest_digest, f.pub, &r, &err) == 0);
	CHECK_STR(r.record.name, "app");
	kiln_verify_result_release(&r);
}

TEST(unknown_name_not_found)
{
	struct kiln_verify_result r;
	struct kiln_error err = { 0 };

	CHECK(verify("nosuch@HEAD", f.pub, &r, &err) < 0);
	printf("# %s\n", err.message);
	CHECK_CONTAINS(err.message, "nosuch");
	CHECK(err.code == KILN_EXIT_FAILED);
	kiln_verify_result_release(&r);
}

TEST(untrusted_key_refused)
{
	struct kiln_verify_result r;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *other = kiln_path_join(f.dir, "other.key");
	_cleanup_free_ char *other_pub = kiln_path_join(f.dir, "other.pub");

	CHECK(kiln_sign_keygen(other, other_pub, &err) == 0);
	CHECK(verify("app@HEAD", other_pub, &r, &err) < 0);
	printf("# %s\n", err.message);
	CHECK(err.code == KILN_EXIT_VERIFY);
	CHECK(r.signer == NULL);
	kiln_verify_result_release(&r);
}

/* Flip one byte of FILE; returns the byte's old value (to put back). */
static int flip_byte(const char *path, long at)
{
	FILE *fp;
	int c;

	chmod(path, 0644);
	fp = fopen(path, "r+b");
	if (!fp)
		return -1;
	fseek(fp, at, SEEK_SET);
	c = fgetc(fp);
	fseek(fp, at, SEEK_SET);
	fputc(c ^ 0x01, fp);
	fclose(fp);
	return c;
}

TEST(tampered_layer_blob_named)
{
	struct kiln_verify_result r;
	struct kiln_error err = { 0 };
	const char *digest = built.layers[built.n_layers - 1].blob.digest;
	_cleanup_free_ char *path = kiln_xasprintf("%s/blobs/sha256/%s", f.store, digest + 7);

	CHECK(flip_byte(path, 100) >= 0);
	CHECK(verify("app@HEAD", f.pub, &r, &err) < 0);
	printf("# %s\n", err.message);
	CHECK_CONTAINS(err.message, digest);
	CHECK(err.code == KILN_EXIT_VERIFY);
	kiln_verify_result_release(&r);
	/* Put it back: the snapshot verifies again (so the byte was the cause). */
	flip_byte(path, 100);
	err = (struct kiln_error){ 0 };
	CHECK(verify("app@HEAD", f.pub, &r, &err) == 0);
	kiln_verify_result_release(&r);
}

TEST(tampered_record_refused)
{
	struct kiln_verify_result r;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *text = NULL;
	size_t len;

	text = kiln_file_read(built.record_path, 1 << 20, &len, &err);
	CHECK(text != NULL);
	if (!text)
		return;
	/* Same record, another build time: still canonical, in its place,
	 * but no longer what the key signed. */
	_cleanup_free_ char *copy = kiln_xstrdup(text);
	char *at = strstr(copy, "\"build_time\":\"");
	CHECK(at != NULL);
	if (!at)
		return;
	at += strlen("\"build_time\":\"");
	*at = *at == '1' ? '2' : '1';
	chmod(built.record_path, 0644);
	CHECK(kiln_file_write_atomic(built.record_path, copy, len, 0644, &err) == 0);
	CHECK(verify("app@HEAD", f.pub, &r, &err) < 0);
	printf("# %s\n", err.message);
	CHECK_CONTAINS(err.message, "changed after it was signed");
	CHECK(err.code == KILN_EXIT_VERIFY);
	kiln_verify_result_release(&r);
	err = (struct kiln_error){ 0 };
	CHECK(kiln_file_write_atomic(built.record_path, text, len, 0644, &err) == 0);
}

int main(void)
{
	setup();
	RUN(good_snapshot_verifies);
	RUN(unknown_name_not_found);
	RUN(untrusted_key_refused);
	RUN(tampered_layer_blob_named);
	RUN(tampered_record_refused);
	kiln_build_result_release(&built);
	opsfix_release(&f);
	return tap_done();
}
