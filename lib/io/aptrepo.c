#include "aptrepo.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "fsutil.h"
#include "gpgv.h"
#include "release.h"
#include "util.h"

#define RELEASE_MAX (64u << 20)
/* An uncompressed index with no size in the Release is bounded anyway. */
#define INDEX_MAX ((uint64_t)2 << 30)

struct kiln_aptrepo *kiln_aptrepo_new(const char *cache_dir, struct kiln_error *err)
{
	struct kiln_aptrepo *repo = kiln_xcalloc(1, sizeof(*repo));

	repo->cache_dir = kiln_xstrdup(cache_dir);
	/* Below the cache the user chose, no directory may be a symlink (a
	 * cache inside a cloned work tree): fsutil.h. */
	if (kiln_dir_ensure_beneath(cache_dir, "indexes/sha256", 0755, err) < 0 ||
	    kiln_dir_ensure_beneath(cache_dir, "tmp", 0700, err) < 0) {
		kiln_aptrepo_free(repo);
		return NULL;
	}
	repo->http = kiln_http_new(err);
	if (!repo->http) {
		kiln_aptrepo_free(repo);
		return NULL;
	}
	return repo;
}

void kiln_aptrepo_free(struct kiln_aptrepo *repo)
{
	if (!repo)
		return;
	kiln_http_free(repo->http);
	free(repo->cache_dir);
	free(repo);
}

struct decompress_sink {
	int fd;
	const char *out_path;
	struct kiln_sha256 *hash;
	uint64_t total;
};

/* Hash and write each decoded block. */
static int write_hashed(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	struct decompress_sink *d = ctx;
	int rc;

	kiln_sha256_update(d->hash, data, len);
	d->total += len;
	if ((rc = kiln_write_all(d->fd, data, len)) != 0)
		return kiln_error_errno(err, rc, "write '%s'", d->out_path);
	return 0;
}

int kiln_decompress_file(const char *in_path, const char *out_path, uint64_t max_out,
			 char sha256[KILN_SHA256_HEX_LEN + 1], uint64_t *out_size,
			 struct kiln_error *err)
{
	_cleanup_free_ char *what = kiln_xasprintf("decompress '%s'", in_path);
	_cleanup_close_ int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	struct decompress_sink d = { fd, out_path, NULL, 0 };
	int rc;

	if (fd < 0)
		return kiln_error_errno(err, errno, "create '%s'", out_path);
	d.hash = kiln_sha256_new();
	rc = kiln_decode_stream(in_path, NULL, 0, -1, max_out, what, write_hashed, &d, err);
	if (rc == 0 && fsync(fd) < 0)
		rc = kiln_error_errno(err, errno, "fsync '%s'", out_path);
	if (rc == 0) {
		kiln_sha256_final(d.hash, sha256);
		*out_size = d.total;
	}
	kiln_sha256_free(d.hash);
	return rc;
}

static int check_digest(const char *path, const struct kiln_release_file *want, const char *what,
			struct kiln_error *err)
{
	char got[KILN_SHA256_HEX_LEN + 1];
	uint64_t size;

	if (kiln_sha256_file(path, got, &size, err) < 0)
		return -1;
	if (size != want->size) {
		kiln_error_set(err, "%s: size %llu, but the Release says %llu", what,
			       (unsigned long long)size, (unsigned long long)want->size);
		return kiln_error_verification(err);
	}
	if (strcmp(got, want->sha256) != 0) {
		kiln_error_set(err, "%s: sha256 mismatch (Release says %.16s…, got %.16s…)", what,
			       want->sha256, got);
		return kiln_error_verification(err);
	}
	return 0;
}

struct release_fetch {
	char *dir;                /* per (url, suite) cache directory */
	char *text;               /* the verified Release text (what gpgv vouched for) */
	size_t len;
};

/* Read a file into rf->text (and remove it when it is this process's temp). */
static int take_text(struct release_fetch *rf, const char *path, bool remove, struct kiln_error *err)
{
	rf->text = kiln_file_read_nofollow(path, RELEASE_MAX, &rf->len, err);
	if (remove)
		unlink(path);
	return rf->text ? 0 : -1;
}

static int fetch(struct kiln_aptrepo *repo, const char *url, const char *dest, uint64_t max,
		 bool conditional, enum kiln_http_status *status, struct kiln_error *err)
{
	_cleanup_free_ char *validators = conditional ? kiln_xasprintf("%s.validators", dest) : NULL;
	struct kiln_http_get req = {
		.url = url, .dest = dest, .max_size = max, .validators = validators,
		.label = url, .progress = repo->progress, .progress_ctx = repo->progress_ctx,
	};
	if (kiln_http_fetch(repo->http, &req, status, err) < 0)
		return -1;
	if (*status == KILN_HTTP_TOO_LARGE)
		return kiln_error_set(err, "GET %s: larger than %llu bytes", url, (unsigned long long)max);
	return 0;
}

/* Fetch an index the Release describes: a body larger than the Release
 * says is a mismatch, found before it is all downloaded. */
static int fetch_index(struct kiln_aptrepo *repo, const char *url, const char *dest,
		       const struct kiln_release_file *want, enum kiln_http_status *status,
		       struct kiln_error *err)
{
	struct kiln_http_get req = {
		.url = url, .dest = dest, .max_size = want->size, .label = url,
		.progress = repo->progress, .progress_ctx = repo->progress_ctx,
	};
	if (kiln_http_fetch(repo->http, &req, status, err) < 0)
		return -1;
	if (*status == KILN_HTTP_TOO_LARGE) {
		kiln_error_set(err, "%s: larger than the %llu bytes the Release says: the mirror's "
			       "index does not match its signed Release", url,
			       (unsigned long long)want->size);
		return kiln_error_verification(err);
	}
	return 0;
}

/* Get the Release text the signature covers into rf->text. */
static int fetch_release(struct kiln_aptrepo *repo, const struct kiln_aptrepo_source *src,
			 struct release_fetch *rf, struct kiln_error *err)
{
	_cleanup_free_ char *tmp = kiln_path_join(repo->cache_dir, "tmp");
	_cleanup_free_ char *key = NULL;
	_cleanup_free_ char *inrelease = NULL, *release = NULL, *release_gpg = NULL;
	_cleanup_free_ char *u_in = NULL, *u_rel = NULL, *u_gpg = NULL;
	char digest[KILN_SHA256_HEX_LEN + 1];
	enum kiln_http_status st;

	{
		_cleanup_free_ char *id = kiln_xasprintf("%s\n%s", src->base_url, src->suite);
		kiln_sha256_hex(id, strlen(id), digest);
		key = kiln_xasprintf("indexes/release/%.32s", digest);
	}
	rf->dir = kiln_path_join(repo->cache_dir, key);
	if (kiln_dir_ensure_beneath(repo->cache_dir, key, 0755, err) < 0)
		return -1;
	inrelease = kiln_path_join(rf->dir, "InRelease");
	release = kiln_path_join(rf->dir, "Release");
	release_gpg = kiln_path_join(rf->dir, "Release.gpg");
	u_in = kiln_xasprintf("%s/dists/%s/InRelease", src->base_url, src->suite);
	u_rel = kiln_xasprintf("%s/dists/%s/Release", src->base_url, src->suite);
	u_gpg = kiln_xasprintf("%s/dists/%s/Release.gpg", src->base_url, src->suite);

	if (src->trusted) {
		/* No signature to check: the plain Release, else InRelease's text. */
		if (fetch(repo, u_rel, release, RELEASE_MAX, true, &st, err) < 0)
			return -1;
		if (st != KILN_HTTP_NOT_FOUND)
			return take_text(rf, release, false, err);
		if (fetch(repo, u_in, inrelease, RELEASE_MAX, true, &st, err) < 0)
			return -1;
		if (st == KILN_HTTP_NOT_FOUND)
			return kiln_error_set(err, "no Release or InRelease at %s/dists/%s/",
					      src->base_url, src->suite);
		_cleanup_free_ char *data = NULL;
		size_t len;
		data = kiln_file_read_nofollow(inrelease, RELEASE_MAX, &len, err);
		if (!data)
			return -1;
		rf->text = kiln_gpgv_clearsigned_text(data, len, &rf->len, err);
		return rf->text ? 0 : kiln_error_prefix(err, "%s", u_in);
	}

	if (fetch(repo, u_in, inrelease, RELEASE_MAX, true, &st, err) < 0)
		return -1;
	if (st != KILN_HTTP_NOT_FOUND) {
		/* Per-process name: concurrent locks share the cache. */
		_cleanup_free_ char *out = kiln_xasprintf("%s/verified-%d", tmp, (int)getpid());
		if (kiln_gpgv_verify_clearsigned(src->keyring, inrelease, out, tmp, err) < 0) {
			/* A rejected file must not be offered as "not modified" next time. */
			_cleanup_free_ char *v = kiln_xasprintf("%s.validators", inrelease);
			unlink(v);
			unlink(inrelease);
			return kiln_error_prefix(err, "%s", u_in);
		}
		return take_text(rf, out, true, err);
	}
	unlink(inrelease);
	if (fetch(repo, u_rel, release, RELEASE_MAX, true, &st, err) < 0)
		return -1;
	if (st == KILN_HTTP_NOT_FOUND)
		return kiln_error_set(err, "no InRelease or Release at %s/dists/%s/ (is the suite "
				      "name right?)", src->base_url, src->suite);
	if (fetch(repo, u_gpg, release_gpg, RELEASE_MAX, false, &st, err) < 0)
		return -1;
	if (st == KILN_HTTP_NOT_FOUND) {
		kiln_error_set(err, "%s has no signature (no InRelease, no Release.gpg); mark the "
			       "source `trusted: true` only if you trust the transport", u_rel);
		return kiln_error_verification(err);
	}
	if (kiln_gpgv_verify_detached(src->keyring, release_gpg, release, tmp, err) < 0) {
		_cleanup_free_ char *v = kiln_xasprintf("%s.validators", release);
		unlink(v);
		return kiln_error_prefix(err, "%s", u_rel);
	}
	return take_text(rf, release, false, err);
}

/* Make sure the index at `path` (relative to dists/SUITE/) is in the cache
 * and return the cached, verified, uncompressed file's path. */
static char *ensure_index(struct kiln_aptrepo *repo, const struct kiln_aptrepo_source *src,
			  const struct kiln_release *rel, const char *path, struct kiln_error *err)
{
	static const char *const exts[] = { ".xz", ".gz", ".zst", ".bz2", "" };
	const struct kiln_release_file *plain = kiln_release_find(rel, path);
	const struct kiln_release_file *packed = NULL;
	_cleanup_free_ char *cached = NULL, *tmp_dl = NULL, *tmp_out = NULL;
	_cleanup_free_ char *url = NULL;
	char got[KILN_SHA256_HEX_LEN + 1];
	const char *ext = "";
	enum kiln_http_status st;
	uint64_t out_size;
	struct stat sb;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(exts) && !packed; i++) {
		_cleanup_free_ char *p = kiln_xasprintf("%s%s", path, exts[i]);
		packed = kiln_release_find(rel, p);
		ext = exts[i];
	}
	if (!packed) {
		kiln_error_set(err, "the Release of %s lists no %s", src->suite, path);
		return NULL;
	}
	/* Content-addressed by the digest the Release gives for the
	 * uncompressed file (or for the compressed one when it gives none). */
	cached = kiln_xasprintf("%s/indexes/sha256/%s", repo->cache_dir,
				plain ? plain->sha256 : packed->sha256);
	/* lstat: a symlink in the cache is no cached index (it is replaced). */
	if (lstat(cached, &sb) == 0 && S_ISREG(sb.st_mode) && (!plain || (uint64_t)sb.st_size == plain->size)) {
		repo->indexes_cached++;
		return kiln_steal_pointer(&cached);
	}

	tmp_dl = kiln_xasprintf("%s/tmp/index-%d%s", repo->cache_dir, (int)getpid(), ext);
	if (rel->acquire_by_hash) {
		/* By-hash paths never change under us while the mirror updates. */
		_cleanup_free_ char *dir = kiln_path_dirname(path);
		url = kiln_xasprintf("%s/dists/%s/%s/by-hash/SHA256/%s", src->base_url, src->suite, dir,
				     packed->sha256);
		if (fetch_index(repo, url, tmp_dl, packed, &st, err) < 0)
			return NULL;
		if (st == KILN_HTTP_NOT_FOUND) {
			free(url);
			url = NULL;
		}
	}
	if (!url) {
		url = kiln_xasprintf("%s/dists/%s/%s%s", src->base_url, src->suite, path, ext);
		if (fetch_index(repo, url, tmp_dl, packed, &st, err) < 0)
			return NULL;
		if (st == KILN_HTTP_NOT_FOUND) {
			kiln_error_set(err, "GET %s: not found (the Release lists it)", url);
			return NULL;
		}
	}
	if (check_digest(tmp_dl, packed, url, err) < 0) {
		unlink(tmp_dl);
		return NULL;
	}
	tmp_out = kiln_xasprintf("%s/tmp/index-%d.out", repo->cache_dir, (int)getpid());
	if (kiln_decompress_file(tmp_dl, tmp_out, plain ? plain->size : INDEX_MAX, got, &out_size,
				 err) < 0) {
		unlink(tmp_dl);
		unlink(tmp_out);
		return NULL;
	}
	unlink(tmp_dl);
	if (plain && (out_size != plain->size || strcmp(got, plain->sha256) != 0)) {
		unlink(tmp_out);
		kiln_error_set(err, "%s: decompressed index does not match the Release's sha256 for %s",
			       url, path);
		kiln_error_verification(err);
		return NULL;
	}
	if (kiln_file_commit(tmp_out, cached, err) < 0)
		return NULL;
	repo->indexes_downloaded++;
	return kiln_steal_pointer(&cached);
}

static bool suite_matches(const struct kiln_release *rel, const char *suite)
{
	/* "bookworm-security" may be asked for as "bookworm-security/updates". */
	return (rel->suite && strcmp(rel->suite, suite) == 0) ||
	       (rel->codename && strcmp(rel->codename, suite) == 0);
}

int kiln_aptrepo_load(struct kiln_aptrepo *repo, const struct kiln_aptrepo_source *src,
		      uint32_t origin, struct kiln_packages *idx,
		      char release_sha256[KILN_SHA256_HEX_LEN + 1], struct kiln_error *err)
{
	struct release_fetch rf = { 0 };
	struct kiln_release *rel = NULL;
	int rc = -1;

	if (fetch_release(repo, src, &rf, err) < 0)
		goto out;
	kiln_sha256_hex(rf.text, rf.len, release_sha256);
	rel = kiln_release_parse("Release", rf.text, rf.len, err);
	if (!rel)
		goto out;
	if (!suite_matches(rel, src->suite)) {
		kiln_error_set(err, "the Release at %s/dists/%s/ is for suite \"%s\" (codename \"%s\"), "
			       "not \"%s\"", src->base_url, src->suite, rel->suite ? rel->suite : "",
			       rel->codename ? rel->codename : "", src->suite);
		goto out;
	}
	if (rel->valid_until && time(NULL) > rel->valid_until) {
		char when[64];
		struct tm tm;
		gmtime_r(&rel->valid_until, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		kiln_error_set(err, "the Release of %s expired at %s (Valid-Until): the mirror is stale "
			       "or replaying an old Release", src->suite, when);
		goto out;
	}
	if (rel->n_architectures && !kiln_release_has_architecture(rel, src->architecture)) {
		kiln_error_set(err, "suite %s has no architecture %s", src->suite, src->architecture);
		goto out;
	}
	for (size_t c = 0; c < src->n_components; c++) {
		const char *arches[2] = { src->architecture, "all" };
		size_t n_arches = 1;

		/* Archives that keep arch:all packages apart list binary-all too. */
		if (kiln_release_has_architecture(rel, "all") && !rel->arch_all_in_arch_indexes &&
		    strcmp(src->architecture, "all") != 0)
			n_arches = 2;
		for (size_t a = 0; a < n_arches; a++) {
			_cleanup_free_ char *path = kiln_xasprintf("%s/binary-%s/Packages",
								   src->components[c], arches[a]);
			_cleanup_free_ char *label = kiln_xasprintf("%s:%s/%s", src->name, src->suite, path);
			_cleanup_free_ char *file = NULL;

			if (a == 1 && !kiln_release_find(rel, path) &&
			    !kiln_release_find(rel, kiln_str_has_suffix(path, "") ? path : path))
				continue;
			file = ensure_index(repo, src, rel, path, err);
			if (!file) {
				kiln_error_prefix(err, "source %s", src->name);
				goto out;
			}
			if (kiln_packages_add_file(idx, file, label, origin, err) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	kiln_release_free(rel);
	free(rf.dir);
	free(rf.text);
	return rc;
}
