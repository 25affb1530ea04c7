/* test_build.c - `kiln build`'s orchestration (lib/ops/build.c), called
 * directly on a git repository made here and the shared fixture's apt
 * repository on 127.0.0.1: a manifest with no packages, a second build that
 * is a pure cache hit, a lock whose digest lies (refused, naming the
 * package, the store untouched), a stale lock refused. */
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "fsutil.h"
#include "locker.h"
#include "opsfix.h"
#include "tap.h"

static int lock_now(const struct opsfix *f)
{
	struct kiln_locker_options o = { .manifest_path = f->manifest };
	struct kiln_locker_result r = { 0 };
	struct kiln_error err = { 0 };
	int rc = kiln_locker_run(&o, &r, &err);
	if (rc < 0)
		printf("# lock: %s\n", err.message);
	kiln_locker_result_release(&r);
	return rc;
}

struct counts {
	unsigned progress, notes, cached_notes;
};

static void count_note(void *ctx, const char *line)
{
	struct counts *c = ctx;
	c->notes++;
	if (strstr(line, "cached"))
		c->cached_notes++;
}

static void build_options(const struct opsfix *f, struct counts *c, struct kiln_build_options *o)
{
	memset(o, 0, sizeof(*o));
	o->manifest_path = f->manifest;
	o->store_dir = f->store;
	o->cache_dir = f->cache;
	o->key_path = f->key;
	o->progress = opsfix_count_progress;
	o->progress_ctx = &c->progress;
	o->note = count_note;
	o->note_ctx = c;
}

static char *read_text(const char *dir, const char *rel)
{
	_cleanup_free_ char *path = kiln_path_join(dir, rel);
	struct kiln_error err = { 0 };
	size_t len;
	return kiln_file_read(path, 1 << 20, &len, &err);
}

/* A manifest must pin at least one package (docs/manifest.md): a build of
 * one that pins none is refused before any work, naming the manifest at
 * its commit and the key, and leaves no store behind. */
TEST(no_packages_refused)
{
	struct opsfix f;
	struct kiln_build_options o;
	struct kiln_build_result r = { 0 };
	struct kiln_error err = { 0 };
	struct counts c = { 0 };

	opsfix_init(&f, "build");
	opsfix_manifest(&f, "empty", "good", "{}");
	CHECK(lock_now(&f) < 0);
	CHECK(!craft_exists(f.lock));
	CHECK(opsfix_commit(&f, "empty") == 0);
	build_options(&f, &c, &o);
	CHECK(kiln_build_run(&o, &r, &err) < 0);
	printf("# %s\n", err.message);
	CHECK_CONTAINS(err.message, "kiln.yaml@");
	CHECK_CONTAINS(err.message, "packages: must list at least one package");
	CHECK(err.code == KILN_EXIT_FAILED);
	CHECK(r.record_path == NULL);
	CHECK(c.progress == 0 && c.notes == 0);
	CHECK(!craft_exists(f.store));
	kiln_build_result_release(&r);
	opsfix_release(&f);
}

/* The second build of the same commit decides every layer from the cache:
 * no package read, no download, the same image. */
TEST(second_build_is_cache_hit)
{
	struct opsfix f;
	struct kiln_build_options o;
	struct kiln_build_result r1 = { 0 }, r2 = { 0 };
	struct kiln_error err = { 0 };
	struct counts c1 = { 0 }, c2 = { 0 };

	opsfix_init(&f, "build");
	opsfix_manifest(&f, "app", "good", "{app: \"2.0\"}");
	CHECK(lock_now(&f) == 0);
	CHECK(opsfix_commit(&f, "app") == 0);

	build_options(&f, &c1, &o);
	CHECK(kiln_build_run(&o, &r1, &err) == 0);
	CHECK_STR(err.message, "");
	CHECK(r1.packages_downloaded == 3);
	CHECK(c1.progress > 0);
	size_t fresh = 0;
	for (size_t i = 0; i < r1.n_layers; i++)
		fresh += !r1.layers[i].cached;
	CHECK(fresh > 0);

	build_options(&f, &c2, &o);
	CHECK(kiln_build_run(&o, &r2, &err) == 0);
	CHECK_STR(err.message, "");
	CHECK(r2.packages_downloaded == 0);
	CHECK(r2.packages_cached == 0); /* not even read from the package cache */
	CHECK(c2.progress == 0);
	CHECK(r2.n_layers == r1.n_layers);
	for (size_t i = 0; i < r2.n_layers; i++)
		CHECK(r2.layers[i].cached);
	CHECK(c2.notes > 0 && c2.cached_notes == c2.notes);
	CHECK_STR(r2.manifest_digest, r1.manifest_digest);
	kiln_build_result_release(&r1);
	kiln_build_result_release(&r2);
	opsfix_release(&f);
}

/* Replace the first "sha256: " value of a package in the lock text. */
static char *lie_about_digest(const char *lock, const char *pkg)
{
	_cleanup_free_ char *anchor = kiln_xasprintf("- name: %s\n", pkg);
	const char *at = strstr(lock, anchor);
	if (!at)
		return NULL;
	const char *sha = strstr(at, "sha256: ");
	if (!sha)
		return NULL;
	char *out = kiln_xstrdup(lock);
	char *p = out + (sha - lock) + strlen("sha256: ");
	for (int i = 0; i < 64; i++)
		p[i] = p[i] == '0' ? '1' : '0';
	return out;
}

TEST(lying_lock_digest_refused)
{
	struct opsfix f;
	struct kiln_build_options o;
	struct kiln_build_result r = { 0 };
	struct kiln_error err = { 0 };
	struct counts c = { 0 };

	opsfix_init(&f, "build");
	opsfix_manifest(&f, "app", "good", "{app: \"2.0\"}");
	CHECK(lock_now(&f) == 0);
	CHECK(opsfix_commit(&f, "good lock") == 0);
	build_options(&f, &c, &o);
	CHECK(kiln_build_run(&o, &r, &err) == 0);
	kiln_build_result_release(&r);

	_cleanup_free_ char *index_before = read_text(f.store, "index.json");
	_cleanup_free_ char *lock = read_text(f.work, "kiln.lock");
	_cleanup_free_ char *bad = lie_about_digest(lock, "applib");
	CHECK(bad != NULL);
	if (bad)
		craft_write(f.work, "kiln.lock", bad, 0644);
	/* Something else changes too, so no layer of the first build matches. */
	craft_write(f.work, "note.txt", "second\n", 0644);
	CHECK(opsfix_commit(&f, "lying lock") == 0);

	memset(&r, 0, sizeof(r));
	err = (struct kiln_error){ 0 };
	CHECK(kiln_build_run(&o, &r, &err) < 0);
	printf("# %s\n", err.message);
	CHECK_CONTAINS(err.message, "applib");
	CHECK(err.code == KILN_EXIT_VERIFY);
	_cleanup_free_ char *index_after = read_text(f.store, "index.json");
	CHECK(index_before && index_after && strcmp(index_before, index_after) == 0);
	kiln_build_result_release(&r);
	opsfix_release(&f);
}

/* The manifest changed after the lock: the build refuses before any work. */
TEST(stale_lock_refused)
{
	struct opsfix f;
	struct kiln_build_options o;
	struct kiln_build_result r = { 0 };
	struct kiln_error err = { 0 };
	struct counts c = { 0 };

	opsfix_init(&f, "build");
	opsfix_manifest(&f, "app", "good", "{app: \"2.0\"}");
	CHECK(lock_now(&f) == 0);
	opsfix_manifest(&f, "app", "good", "{app: \"1.0\"}");
	CHECK(opsfix_commit(&f, "stale") == 0);
	build_options(&f, &c, &o);
	CHECK(kiln_build_run(&o, &r, &err) < 0);
	printf("# %s\n", err.message);
	CHECK_CONTAINS(err.message, "kiln.lock");
	CHECK(c.progress == 0);
	CHECK(c.notes == 0);
	CHECK(!craft_exists(f.store));
	kiln_build_result_release(&r);
	opsfix_release(&f);
}

int main(void)
{
	RUN(no_packages_refused);
	RUN(second_build_is_cache_hit);
	RUN(lying_lock_digest_refused);
	RUN(stale_lock_refused);
	return tap_done();
}
