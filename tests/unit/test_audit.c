/* test_audit.c - `kiln audit`'s orchestration (lib/ops/audit.c) on snapshots
 * built here (git repository made by the test, packages from the shared
 * fixture on 127.0.0.1): a faithful snapshot rebuilds identical; one whose
 * layers were compressed otherwise than its statement says differs, with
 * the layer named; one whose record was tampered with fails to verify
 * (error code 3); a commit with no snapshot is an error. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "build.h"
#include "fsutil.h"
#include "locker.h"
#include "opsfix.h"
#include "tap.h"

static struct opsfix f;
static struct kiln_sign_keyring ring = KILN_KEYRING_INIT;

static int build(const char *manifest_path, int gzip_level, struct kiln_build_result *res)
{
	struct kiln_build_options bo = { 0 };
	struct kiln_error err = { 0 };

	memset(res, 0, sizeof(*res));
	bo.manifest_path = manifest_path;
	bo.store_dir = f.store;
	bo.cache_dir = f.cache;
	bo.key_path = f.key;
	bo.gzip_level = gzip_level;
	if (kiln_build_run(&bo, res, &err) < 0) {
		printf("# build: %s\n", err.message);
		return -1;
	}
	return 0;
}

/* The commit "app" (app 1.0 and its library) built faithfully. */
static void setup(void)
{
	struct kiln_locker_options lo = { 0 };
	struct kiln_locker_result lr = { 0 };
	struct kiln_error err = { 0 };
	const char *paths[] = { NULL };

	opsfix_init(&f, "audit");
	opsfix_manifest(&f, "app", "good", "{app: \"1.0\"}");
	lo.manifest_path = f.manifest;
	if (kiln_locker_run(&lo, &lr, &err) < 0 || opsfix_commit(&f, "app") < 0) {
		printf("Bail out! lock: %s\n", err.message);
		exit(2);
	}
	kiln_locker_result_release(&lr);
	paths[0] = f.pub;
	if (kiln_sign_load_trusted(paths, 1, f.work, &ring, &err) < 0) {
		printf("Bail out! keyring: %s\n", err.message);
		exit(2);
	}
}

static int audit(const char *rev, struct kiln_audit_item **items, size_t *n, struct kiln_error *err)
{
	_cleanup_free_ char *tmp = kiln_path_join(f.dir, "tmp");
	struct kiln_audit_options o = { 0 };

	o.workdir = f.work;
	o.store_dir = f.store;
	o.rev = rev;
	o.ring = &ring;
	o.cache_dir = f.cache;
	o.tmp_dir = tmp;
	*items = NULL;
	*n = 0;
	return kiln_audit_commit(&o, items, n, err);
}

TEST(faithful_snapshot_identical)
{
	struct kiln_build_result b;
	struct kiln_audit_item *items;
	size_t n;
	struct kiln_error err = { 0 };

	CHECK(build(f.manifest, 0, &b) == 0);
	CHECK(audit(NULL, &items, &n, &err) == 0);
	CHECK_STR(err.message, "");
	CHECK(n == 1);
	if (n == 1) {
		if (items[0].failed)
			printf("# %s\n", items[0].error);
		CHECK(!items[0].failed);
		CHECK_STR(items[0].name, "app");
		CHECK(items[0].verdict == KILN_AUDIT_IDENTICAL);
		CHECK(items[0].statement_identical);
		CHECK_STR(items[0].recorded, b.manifest_digest);
		CHECK_STR(items[0].rebuilt, b.manifest_digest);
		CHECK(items[0].n_differences == 0 && items[0].n_differing_layers == 0);
	}
	kiln_audit_items_free(items, n);
	kiln_build_result_release(&b);
}

/* Built with gzip level 1 where the statement only says "gzip" (an audit
 * rebuilds at the default level): the same files, other layer bytes.  The
 * audit finds the difference and names the layer. */
TEST(differing_rebuild_named)
{
	struct kiln_build_result b;
	struct kiln_audit_item *items;
	size_t n;
	struct kiln_error err = { 0 };

	craft_write(f.work, "other.txt", "another commit\n", 0644);
	CHECK(opsfix_commit(&f, "other") == 0);
	CHECK(build(f.manifest, 1, &b) == 0);
	CHECK(audit("HEAD", &items, &n, &err) == 0);
	CHECK_STR(err.message, "");
	CHECK(n == 1);
	if (n == 1) {
		if (items[0].failed)
			printf("# %s\n", items[0].error);
		CHECK(!items[0].failed);
		CHECK(items[0].verdict == KILN_AUDIT_DIFFERENT);
		CHECK_STR(items[0].recorded, b.manifest_digest);
		CHECK(strcmp(items[0].rebuilt, b.manifest_digest) != 0);
		CHECK(items[0].layer >= 1 && items[0].layer <= items[0].n_layers);
		CHECK_CONTAINS(items[0].layer_what, "layer ");
		printf("# %s: %s\n", items[0].layer_what, items[0].what ? items[0].what : "");
		/* Every layer whose bytes differ is listed, each once, with
		 * what made it (kiln's config history), in manifest order. */
		CHECK(items[0].n_differing_layers >= 1);
		CHECK(items[0].n_differences == items[0].n_differing_layers);
		CHECK(items[0].more_differences == 0);
		for (size_t i = 0; i < items[0].n_differing_layers && i < items[0].n_differences; i++) {
			const struct kiln_audit_layer *l = &items[0].layers[i];
			const struct kiln_audit_difference *d = &items[0].differences[i];
			printf("# layer %zu (%s): %s\n", l->layer, l->created_by ? l->created_by : "?", d->what);
			CHECK(l->n_paths == 1);
			CHECK(l->created_by != NULL);
			CHECK(d->layer == l->layer);
			CHECK(d->path == NULL);
			CHECK_CONTAINS(d->what, "same entries, different bytes");
			CHECK(i == 0 || l->layer > items[0].layers[i - 1].layer);
		}
		CHECK(items[0].n_differences >= 1 && items[0].differences[0].layer == items[0].layer);
		CHECK(items[0].n_differences >= 1 && strcmp(items[0].differences[0].what, items[0].what) == 0);
	}
	kiln_audit_items_free(items, n);
	kiln_build_result_release(&b);
}

TEST(tampered_record_fails_verification)
{
	struct kiln_build_result b;
	struct kiln_audit_item *items;
	size_t n;
	struct kiln_error err = { 0 };
	_cleanup_free_ char *text = NULL;
	size_t len;

	craft_write(f.work, "third.txt", "a third commit\n", 0644);
	CHECK(opsfix_commit(&f, "third") == 0);
	CHECK(build(f.manifest, 0, &b) == 0);
	text = kiln_file_read(b.record_path, 1 << 20, &len, &err);
	CHECK(text != NULL);
	char *at = text ? strstr(text, "\"build_time\":\"") : NULL;
	CHECK(at != NULL);
	if (at) {
		at += strlen("\"build_time\":\"");
		*at = *at == '1' ? '2' : '1';
		CHECK(kiln_file_write_atomic(b.record_path, text, len, 0644, &err) == 0);
	}
	CHECK(audit("HEAD", &items, &n, &err) == 0);
	CHECK(n == 1);
	if (n == 1) {
		printf("# %s\n", items[0].error ? items[0].error : "(no error)");
		CHECK(items[0].failed);
		CHECK(items[0].error_code == KILN_EXIT_VERIFY);
		CHECK_CONTAINS(items[0].error, "app@");
	}
	kiln_audit_items_free(items, n);
	kiln_build_result_release(&b);
}

TEST(commit_without_snapshot)
{
	struct kiln_audit_item *items;
	size_t n;
	struct kiln_error err = { 0 };

	craft_write(f.work, "fourth.txt", "never built\n", 0644);
	CHECK(opsfix_commit(&f, "fourth") == 0);
	CHECK(audit("HEAD", &items, &n, &err) < 0);
	printf("# %s\n", err.message);
	CHECK(err.message[0] != '\0');
	CHECK(err.code == KILN_EXIT_FAILED);
	CHECK(n == 0);
	kiln_audit_items_free(items, n);

	err = (struct kiln_error){ 0 };
	CHECK(audit("no-such-rev", &items, &n, &err) < 0);
	CHECK_CONTAINS(err.message, "no-such-rev");
	kiln_audit_items_free(items, n);
}

int main(void)
{
	setup();
	RUN(faithful_snapshot_identical);
	RUN(differing_rebuild_named);
	RUN(tampered_record_fails_verification);
	RUN(commit_without_snapshot);
	kiln_sign_keyring_release(&ring);
	opsfix_release(&f);
	return tap_done();
}
