#include "audit.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsutil.h"
#include "gitrepo.h"
#include "imagefs.h"
#include "provenance.h"
#include "record.h"
#include "store.h"
#include "util.h"
#include "verify.h"

#define MANIFEST_MAX (4u << 20)

static int read_manifest(const struct kiln_store *s, const char *digest, struct kiln_oci_manifest *m,
			 struct kiln_error *err)
{
	size_t len;
	_cleanup_free_ char *text = kiln_store_read_blob(s, digest, MANIFEST_MAX, &len, err);

	if (!text)
		return -1;
	return kiln_oci_manifest_parse(text, len, m, err);
}

/* The first top-level member of two JSON blobs that differs. */
static char *json_first_difference(const struct kiln_store *a, const struct kiln_store *b,
				   const char *da, const char *db, struct kiln_error *err)
{
	size_t la, lb;
	_cleanup_free_ char *ta = kiln_store_read_blob(a, da, MANIFEST_MAX, &la, err);
	_cleanup_free_ char *tb = ta ? kiln_store_read_blob(b, db, MANIFEST_MAX, &lb, err) : NULL;
	json_t *ja, *jb, *v;
	const char *key;
	char *found = NULL;

	if (!tb)
		return NULL;
	ja = json_loadb(ta, la, 0, NULL);
	jb = json_loadb(tb, lb, 0, NULL);
	json_object_foreach(ja, key, v) {
		if (!json_equal(v, json_object_get(jb, key))) {
			found = kiln_xasprintf("\"%s\" differs", key);
			break;
		}
	}
	if (!found)
		json_object_foreach(jb, key, v)
			if (!json_object_get(ja, key)) {
				found = kiln_xasprintf("\"%s\" only in the rebuilt one", key);
				break;
			}
	json_decref(ja);
	json_decref(jb);
	return found ? found : kiln_xstrdup("formatting differs");
}

/* What made each layer, from a config's history (its entries that are not
 * empty_layer, in order): a malloc'd array of n strings or NULLs, or NULL
 * when the config cannot say (unreadable, or not one entry per layer). */
static char **layer_history(const struct kiln_store *s, const char *config_digest, size_t n,
			    struct kiln_error *err)
{
	size_t len, k = 0, i;
	_cleanup_free_ char *text = kiln_store_read_blob(s, config_digest, MANIFEST_MAX, &len, err);
	json_t *root, *history, *h;
	char **out = NULL;

	if (!text)
		return NULL;
	root = json_loadb(text, len, 0, NULL);
	history = json_object_get(root, "history");
	if (json_is_array(history)) {
		out = kiln_xcalloc(n ? n : 1, sizeof(*out));
		json_array_foreach(history, i, h) {
			const char *by = json_string_value(json_object_get(h, "created_by"));
			if (json_is_true(json_object_get(h, "empty_layer")))
				continue;
			if (k == n) {
				k++;
				break;
			}
			out[k++] = by ? kiln_xstrdup(by) : NULL;
		}
		if (k != n) {
			for (i = 0; i < n && i < k; i++)
				free(out[i]);
			free(out);
			out = NULL;
		}
	}
	json_decref(root);
	return out;
}

/* Collects one layer's differences into the item, up to the cap. */
struct collect {
	struct kiln_audit_item *it;
	struct kiln_audit_layer *layer;
	size_t alloc;
};

static int collect_difference(const char *path, const char *what, void *ctx)
{
	struct collect *c = ctx;
	struct kiln_audit_item *it = c->it;

	c->layer->n_paths++;
	if (it->n_differences == KILN_AUDIT_MAX_DIFFERENCES) {
		it->more_differences++;
		return 0;
	}
	kiln_xgrow(&it->differences, &c->alloc, it->n_differences + 1, sizeof(*it->differences));
	it->differences[it->n_differences++] = (struct kiln_audit_difference){
		c->layer->layer, path ? kiln_xstrdup(path) : NULL, kiln_xstrdup(what)
	};
	return 0;
}

/* Where two images differ: every layer whose digest differs and, in each,
 * every entry that differs; the first of them is also the item's
 * layer/path/what.  A difference outside the layers is named by the first
 * member of the config or manifest that differs. */
static int locate_difference(const struct kiln_store *rec, const struct kiln_store *re,
			     struct kiln_audit_item *it, struct kiln_error *err)
{
	struct kiln_oci_manifest a = { 0 }, b = { 0 };
	struct collect c = { it, NULL, 0 };
	char **history = NULL;
	int rc = -1;

	if (read_manifest(rec, it->recorded, &a, err) < 0) {
		kiln_error_prefix(err, "recorded image");
		goto out;
	}
	if (read_manifest(re, it->rebuilt, &b, err) < 0) {
		kiln_error_prefix(err, "rebuilt image");
		goto out;
	}
	it->n_layers = a.n_layers;
	if (a.n_layers != b.n_layers) {
		it->layer_what = kiln_xstrdup("manifest");
		it->what = kiln_xasprintf("%zu layers recorded, %zu rebuilt", a.n_layers, b.n_layers);
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < a.n_layers; i++) {
		_cleanup_fslist_ struct kiln_imagefs_list la = KILN_IMAGEFS_LIST_INIT, lb = KILN_IMAGEFS_LIST_INIT;
		_cleanup_free_ char *label = NULL;
		size_t first = it->n_differences;

		if (strcmp(a.layers[i].digest, b.layers[i].digest) == 0)
			continue;
		if (!it->layers) {
			/* Only to say what made a layer: a config that cannot is no error. */
			struct kiln_error ignored = { 0 };
			history = layer_history(rec, a.config.digest, a.n_layers, &ignored);
			it->layers = kiln_xcalloc(a.n_layers, sizeof(*it->layers));
		}
		c.layer = &it->layers[it->n_differing_layers++];
		c.layer->layer = i + 1;
		c.layer->created_by = history && history[i] ? kiln_xstrdup(history[i]) : NULL;
		label = kiln_xasprintf("layer %zu/%zu", i + 1, a.n_layers);
		/* Each opened beneath its store (store.h), checked against its digest. */
		if (kiln_imagefs_read_image_layer(rec, &a.layers[i], i, a.n_layers, NULL, &la, err) < 0) {
			kiln_error_prefix(err, "recorded %s", label);
			goto out;
		}
		if (kiln_imagefs_read_image_layer(re, &b.layers[i], i, b.n_layers, NULL, &lb, err) < 0) {
			kiln_error_prefix(err, "rebuilt %s", label);
			goto out;
		}
		if (kiln_imagefs_differences(&la, "recorded", &lb, "rebuilt", collect_difference, &c) == 0) {
			_cleanup_free_ char *what = kiln_xasprintf("same entries, different bytes (%s vs %s)",
								   a.layers[i].media_type, b.layers[i].media_type);
			collect_difference(NULL, what, &c);
		}
		if (!it->layer_what) {
			it->layer = i + 1;
			it->layer_what = kiln_xstrdup(label);
			if (it->n_differences > first) {
				const struct kiln_audit_difference *d = &it->differences[first];
				it->path = d->path ? kiln_xstrdup(d->path) : NULL;
				it->what = kiln_xstrdup(d->what);
			}
		}
	}
	if (it->layer_what) {
		rc = 0;
		goto out;
	}
	if (strcmp(a.config.digest, b.config.digest) != 0) {
		it->layer_what = kiln_xstrdup("config");
		it->what = json_first_difference(rec, re, a.config.digest, b.config.digest, err);
	} else {
		it->layer_what = kiln_xstrdup("manifest");
		it->what = json_first_difference(rec, re, it->recorded, it->rebuilt, err);
	}
	rc = it->what ? 0 : -1;
out:
	for (size_t i = 0; history && i < a.n_layers; i++)
		free(history[i]);
	free(history);
	kiln_oci_manifest_release(&a);
	kiln_oci_manifest_release(&b);
	return rc;
}

static void free_differences(struct kiln_audit_item *it)
{
	for (size_t i = 0; i < it->n_differing_layers; i++)
		free(it->layers[i].created_by);
	free(it->layers);
	for (size_t i = 0; i < it->n_differences; i++) {
		free(it->differences[i].path);
		free(it->differences[i].what);
	}
	free(it->differences);
	it->layers = NULL;
	it->differences = NULL;
	it->n_differing_layers = it->n_differences = it->more_differences = 0;
}

static int audit_one(const struct kiln_audit_options *opt, struct kiln_git *git,
		     const struct kiln_store *store, const char *scratch, const char *name,
		     const char *commit, struct kiln_audit_item *it, struct kiln_error *err)
{
	struct kiln_verify_result vr;
	struct kiln_provenance_info info = { 0 };
	struct kiln_build_options bo = { 0 };
	struct kiln_build_result br = { 0 };
	_cleanup_free_ char *text = kiln_xasprintf("%s@%s", name, commit);
	_cleanup_free_ char *manifest_path = NULL, *store_dir = NULL;
	struct kiln_store *rebuilt = NULL;
	double start = kiln_monotonic_seconds();
	int rc = -1;

	it->name = kiln_xstrdup(name);
	memcpy(it->commit, commit, sizeof(it->commit));
	/* A snapshot that does not verify is not worth rebuilding: its
	 * statement (the parameters to rebuild with) cannot be trusted. */
	if (kiln_verify_snapshot(git, store, text, NULL, opt->ring, KILN_VERIFY_SKIP_LAYERS, &vr, err) < 0) {
		kiln_verify_result_release(&vr);
		return -1;
	}
	memcpy(it->recorded, vr.record.manifest, sizeof(it->recorded));
	if (kiln_provenance_parse(vr.statement, strlen(vr.statement), &info, err) < 0)
		goto out;
	manifest_path = kiln_path_join(kiln_git_workdir(git), info.manifest_path);
	store_dir = kiln_path_join(scratch, name);
	bo.manifest_path = manifest_path;
	bo.rev = commit;
	bo.store_dir = store_dir;
	bo.no_cache = true;
	bo.zstd = strcmp(info.compression, "zstd") == 0;
	bo.no_sign = true;
	bo.no_record = true;
	bo.cache_dir = opt->cache_dir;
	bo.tmp_dir = opt->tmp_dir;
	bo.cgroup_parent = opt->cgroup_parent;
	bo.mirrors = opt->mirrors;
	bo.date_mode = info.has_source_date ? KILN_BUILD_DATE_GIVEN : KILN_BUILD_DATE_COMMIT;
	bo.source_date = info.source_date;
	bo.progress = opt->progress;
	bo.progress_ctx = opt->progress_ctx;
	if (kiln_build_run(&bo, &br, err) < 0) {
		/* The snapshot verified; a rebuild that fails (a package the
		 * mirror no longer serves right, say) is an error, not exit 3. */
		kiln_error_prefix(err, "rebuild %s@%.12s", name, commit);
		kiln_error_cause(err, KILN_CAUSE_NONE);
		goto out;
	}
	memcpy(it->rebuilt, br.manifest_digest, sizeof(it->rebuilt));
	it->statement_identical = br.statement && strcmp(br.statement, vr.statement) == 0;
	if (strcmp(it->recorded, it->rebuilt) == 0 && it->statement_identical) {
		it->verdict = KILN_AUDIT_IDENTICAL;
	} else if (strcmp(it->recorded, it->rebuilt) == 0) {
		/* Same image, but the signed statement says something else
		 * than a rebuild does: the provenance itself is wrong. */
		it->verdict = KILN_AUDIT_DIFFERENT;
		it->layer_what = kiln_xstrdup("provenance");
		it->what = kiln_xstrdup("the signed statement differs from the rebuild's");
	} else {
		it->verdict = KILN_AUDIT_DIFFERENT;
		/* The digests differ: that is the verdict, even when the
		 * layers cannot be read to say where. */
		struct kiln_error where = { 0 };
		rebuilt = kiln_store_open(store_dir, false, &where);
		if (!rebuilt || locate_difference(store, rebuilt, it, &where) < 0) {
			free(it->layer_what);
			free(it->path);
			free(it->what);
			free_differences(it);
			it->layer_what = kiln_xstrdup("image");
			it->path = NULL;
			it->what = kiln_xasprintf("cannot say where: %s", where.message);
		}
	}
	it->seconds = kiln_monotonic_seconds() - start;
	rc = 0;
out:
	kiln_store_free(rebuilt);
	kiln_build_result_release(&br);
	kiln_provenance_info_release(&info);
	kiln_verify_result_release(&vr);
	return rc;
}

int kiln_audit_commit(const struct kiln_audit_options *opt, struct kiln_audit_item **items, size_t *n,
		      struct kiln_error *err)
{
	struct kiln_git *git = NULL;
	struct kiln_store *store = NULL;
	struct kiln_record *records = NULL;
	size_t n_records = 0;
	_cleanup_free_ char *store_dir = NULL, *scratch = NULL;
	char commit[KILN_GIT_OID_HEX + 1];
	const char *tmp = opt->tmp_dir;
	int64_t when;
	int rc = -1;

	*items = NULL;
	*n = 0;
	git = kiln_git_open(opt->workdir, err);
	if (!git)
		return -1;
	if (kiln_git_resolve(git, opt->rev ? opt->rev : "HEAD", commit, &when, err) < 0)
		goto out;
	store_dir = kiln_store_default_dir(opt->store_dir, kiln_git_workdir(git));
	store = kiln_store_open_default(opt->store_dir, kiln_git_workdir(git), false, err);
	if (!store)
		goto out;
	if (kiln_record_list_commit(store, commit, &records, &n_records, err) < 0)
		goto out;
	if (opt->name) {
		bool any = false;
		for (size_t i = 0; i < n_records; i++)
			any |= strcmp(records[i].name, opt->name) == 0;
		if (!any) {
			kiln_error_set(err, "no snapshot of %s is recorded at %.12s in %s (build it first: kiln "
				       "build --rev %s)", opt->name, commit, store_dir, opt->rev ? opt->rev : "HEAD");
			kiln_error_cause(err, KILN_CAUSE_NOT_FOUND);
			goto out;
		}
	}
	if (n_records == 0) {
		kiln_error_set(err, "no snapshot is recorded at %.12s in %s (build it first: kiln build --rev %s)",
			       commit, store_dir, opt->rev ? opt->rev : "HEAD");
		kiln_error_cause(err, KILN_CAUSE_NOT_FOUND);
		goto out;
	}
	scratch = kiln_xasprintf("%s/kiln-audit.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		kiln_error_errno(err, errno, "create a scratch directory in %s", tmp && *tmp ? tmp : "/tmp");
		free(scratch);
		scratch = NULL;
		goto out;
	}
	*items = kiln_xcalloc(n_records, sizeof(**items));
	rc = 0;
	for (size_t i = 0; i < n_records; i++) {
		struct kiln_error one = { 0 };
		struct kiln_audit_item *it = &(*items)[*n];
		if (opt->name && strcmp(records[i].name, opt->name) != 0)
			continue;
		(*n)++;
		if (audit_one(opt, git, store, scratch, records[i].name, commit, it, &one) < 0) {
			/* Go on with the others; the item carries the error. */
			it->failed = true;
			it->error_code = one.code ? one.code : KILN_EXIT_FAILED;
			it->error = kiln_xstrdup(one.message);
		}
	}
out:
	if (scratch) {
		kiln_remove_tree(scratch, KILN_ERROR_IGNORE);
	}
	if (rc < 0) {
		kiln_audit_items_free(*items, *n);
		*items = NULL;
		*n = 0;
	}
	kiln_record_list_free(records, n_records);
	kiln_store_free(store);
	kiln_git_free(git);
	return rc;
}

void kiln_audit_items_free(struct kiln_audit_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free_differences(&items[i]);
		free(items[i].name);
		free(items[i].layer_what);
		free(items[i].path);
		free(items[i].what);
		free(items[i].error);
	}
	free(items);
}
