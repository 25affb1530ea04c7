/* snapdiff.c - config fields, packages and files that differ between two images. */
#include "snapdiff.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "deb822.h"
#include "oci.h"
#include "store.h"
#include "util.h"

/* ---- packages --------------------------------------------------------------- */

struct pkg {
	char *name, *version, *arch;
	char *key; /* name, or name:arch when the name has several architectures */
};

struct pkgset {
	struct pkg *p;
	size_t n, alloc;
};

static void pkgset_release(struct pkgset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->p[i].name);
		free(s->p[i].version);
		free(s->p[i].arch);
		free(s->p[i].key);
	}
	free(s->p);
	memset(s, 0, sizeof(*s));
}

/* Is the Status value's third word (dpkg's package state) "installed"? */
static bool status_installed(struct kiln_slice v)
{
	struct kiln_slice rest = v, word = { 0 };

	for (int i = 0; i < 3; i++)
		if (!kiln_slice_next_word(&rest, &word))
			return false;
	return kiln_slice_eq(word, "installed");
}

static int parse_status(const char *text, size_t len, const char *origin, struct pkgset *out,
			struct kiln_error *err)
{
	struct kiln_deb822 s;
	struct kiln_slice name, value, pkg = { 0 }, ver = { 0 }, arch = { 0 };
	bool eof = false, installed = true;
	unsigned line;

	if (!text)
		return 0;
	kiln_deb822_init(&s, origin, text, len);
	while (!eof) {
		int r = kiln_deb822_next(&s, &name, &value, &line, &eof, err);
		if (r < 0)
			return -1;
		if (r == 1) {
			if (kiln_slice_eq_nocase(name, "Package"))
				pkg = value;
			else if (kiln_slice_eq_nocase(name, "Version"))
				ver = value;
			else if (kiln_slice_eq_nocase(name, "Architecture"))
				arch = value;
			else if (kiln_slice_eq_nocase(name, "Status"))
				installed = status_installed(value);
			continue;
		}
		/* End of a paragraph: a stanza without Status counts as installed
		 * (status.d-style databases), as one without Package does not count. */
		if (pkg.len && installed) {
			struct pkg p = { kiln_slice_dup(pkg), kiln_slice_dup(ver), kiln_slice_dup(arch), NULL };
			kiln_xgrow(&out->p, &out->alloc, out->n + 1, sizeof(*out->p));
			out->p[out->n++] = p;
		}
		memset(&pkg, 0, sizeof(pkg));
		memset(&ver, 0, sizeof(ver));
		memset(&arch, 0, sizeof(arch));
		installed = true;
	}
	return 0;
}

static int pkg_cmp(const void *x, const void *y)
{
	const struct pkg *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	return c ? c : strcmp(a->arch, b->arch);
}

static int pkg_key_cmp(const void *x, const void *y)
{
	const struct pkg *a = x, *b = y;
	return strcmp(a->key, b->key);
}

/* Names with more than one architecture in s. */
static void collect_multiarch(const struct pkgset *s, char ***names, size_t *n, size_t *alloc)
{
	for (size_t i = 1; i < s->n; i++)
		if (strcmp(s->p[i].name, s->p[i - 1].name) == 0 &&
		    (*n == 0 || strcmp((*names)[*n - 1], s->p[i].name) != 0)) {
			kiln_xgrow(names, alloc, *n + 1, sizeof(**names));
			(*names)[(*n)++] = s->p[i].name;
		}
}

static bool in_names(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static void set_keys(struct pkgset *s, char **multi, size_t n_multi)
{
	for (size_t i = 0; i < s->n; i++)
		s->p[i].key = in_names(multi, n_multi, s->p[i].name)
				      ? kiln_xasprintf("%s:%s", s->p[i].name, s->p[i].arch)
				      : kiln_xstrdup(s->p[i].name);
	qsort(s->p, s->n, sizeof(*s->p), pkg_key_cmp);
}

static void add_pkg(struct kiln_snapdiff_package **v, size_t *n, const struct pkg *from,
		    const struct pkg *to)
{
	const struct pkg *p = to ? to : from;
	struct kiln_snapdiff_package d = {
		kiln_xstrdup(p->key), kiln_xstrdup(p->arch),
		from && to && strcmp(from->arch, to->arch) != 0 ? kiln_xstrdup(from->arch) : NULL,
		from ? kiln_xstrdup(from->version) : NULL, to ? kiln_xstrdup(to->version) : NULL,
	};
	*v = kiln_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = d;
}

int kiln_snapdiff_packages(const char *status_a, size_t len_a, const char *status_b,
			   size_t len_b, struct kiln_snapdiff *out, struct kiln_error *err)
{
	struct pkgset a = { 0 }, b = { 0 };
	char **multi = NULL;
	size_t n_multi = 0, alloc_multi = 0, i = 0, j = 0;

	if (parse_status(status_a, len_a, "the first image's " KILN_SNAPDIFF_STATUS_PATH, &a, err) < 0 ||
	    parse_status(status_b, len_b, "the second image's " KILN_SNAPDIFF_STATUS_PATH, &b, err) < 0) {
		pkgset_release(&a);
		pkgset_release(&b);
		return -1;
	}
	qsort(a.p, a.n, sizeof(*a.p), pkg_cmp);
	qsort(b.p, b.n, sizeof(*b.p), pkg_cmp);
	collect_multiarch(&a, &multi, &n_multi, &alloc_multi);
	collect_multiarch(&b, &multi, &n_multi, &alloc_multi);
	set_keys(&a, multi, n_multi);
	set_keys(&b, multi, n_multi);
	free(multi);
	while (i < a.n || j < b.n) {
		int c = i >= a.n ? 1 : j >= b.n ? -1 : strcmp(a.p[i].key, b.p[j].key);
		if (c < 0) {
			add_pkg(&out->pkg_removed, &out->n_pkg_removed, &a.p[i++], NULL);
		} else if (c > 0) {
			add_pkg(&out->pkg_added, &out->n_pkg_added, NULL, &b.p[j++]);
		} else {
			/* A repeated stanza (a broken database) pairs up with itself. */
			if (strcmp(a.p[i].version, b.p[j].version) != 0 || strcmp(a.p[i].arch, b.p[j].arch) != 0)
				add_pkg(&out->pkg_changed, &out->n_pkg_changed, &a.p[i], &b.p[j]);
			i++;
			j++;
		}
	}
	pkgset_release(&a);
	pkgset_release(&b);
	return 0;
}

/* ---- files ------------------------------------------------------------------ */

static void add_file(struct kiln_snapdiff_file **v, size_t *n, const char *path, unsigned changes)
{
	*v = kiln_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].path = kiln_xstrdup(path);
	(*v)[*n].changes = changes;
	(*n)++;
}

void kiln_snapdiff_files(const struct kiln_imagefs_list *a, const struct kiln_imagefs_list *b,
			 struct kiln_snapdiff *out)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->e[i].path, b->e[j].path);
		if (c < 0) {
			add_file(&out->removed, &out->n_removed, a->e[i++].path, 0);
		} else if (c > 0) {
			add_file(&out->added, &out->n_added, b->e[j++].path, 0);
		} else {
			unsigned ch = kiln_fsentry_changes(&a->e[i], &b->e[j]);
			/* New content says more than a new size; the mtime is apart. */
			if (ch & KILN_FSCHANGE_CONTENT)
				ch &= ~(unsigned)KILN_FSCHANGE_SIZE;
			if (ch & ~(unsigned)KILN_FSCHANGE_MTIME)
				add_file(&out->changed, &out->n_changed, a->e[i].path,
					 ch & ~(unsigned)KILN_FSCHANGE_MTIME);
			else if (ch)
				add_file(&out->mtime_only, &out->n_mtime_only, a->e[i].path,
					 KILN_FSCHANGE_MTIME);
			i++;
			j++;
		}
	}
}

char *kiln_snapdiff_changes_text(unsigned changes)
{
	struct kiln_buf b = KILN_BUF_INIT;

	for (unsigned bit = 1; bit && bit <= KILN_FSCHANGE_DEVICE; bit <<= 1) {
		if (!(changes & bit))
			continue;
		if (b.len)
			kiln_buf_adds(&b, ", ");
		kiln_buf_adds(&b, kiln_fsentry_change_name(bit));
	}
	return kiln_buf_detach(&b);
}

/* ---- image configs ------------------------------------------------------------ */

enum cfg_kind {
	CFG_STRING, /* a string; "" is the same as absent (as for kiln run) */
	CFG_ARRAY,  /* an array of strings, compared and shown as compact JSON */
	CFG_ENV,    /* "K=V" strings: compared as a set of variables */
	CFG_MAP,    /* an object of strings (Labels) */
	CFG_SET,    /* an object whose keys alone matter (ExposedPorts, Volumes) */
};

/* In the order a reviewer reads them (and the lines are printed); the
 * platform is at the top level of the config, the rest under "config". */
static const struct {
	const char *name;
	enum cfg_kind kind;
	bool top;
} cfg_fields[] = {
	{ "Entrypoint", CFG_ARRAY, false }, { "Cmd", CFG_ARRAY, false },
	{ "Env", CFG_ENV, false },          { "WorkingDir", CFG_STRING, false },
	{ "User", CFG_STRING, false },      { "ExposedPorts", CFG_SET, false },
	{ "Volumes", CFG_SET, false },      { "Labels", CFG_MAP, false },
	{ "StopSignal", CFG_STRING, false }, { "architecture", CFG_STRING, true },
	{ "variant", CFG_STRING, true },    { "os", CFG_STRING, true },
};

static void cfg_add(struct kiln_snapdiff *out, const char *field, const char *key,
		    const char *from, const char *to, bool member)
{
	struct kiln_snapdiff_config **v;
	size_t *n;
	struct kiln_snapdiff_config *c;

	if (!from) {
		v = &out->cfg_added;
		n = &out->n_cfg_added;
	} else if (!to) {
		v = &out->cfg_removed;
		n = &out->n_cfg_removed;
	} else {
		v = &out->cfg_changed;
		n = &out->n_cfg_changed;
	}
	*v = kiln_xrealloc(*v, (*n + 1) * sizeof(**v));
	c = &(*v)[(*n)++];
	c->field = kiln_xstrdup(field);
	c->key = key ? kiln_xstrdup(key) : NULL;
	c->from = from ? kiln_xstrdup(from) : NULL;
	c->to = to ? kiln_xstrdup(to) : NULL;
	c->member = member;
}

/* One side's field as a comparable form: a JSON string (CFG_STRING), the
 * array's compact JSON text in a JSON string (CFG_ARRAY), or an object of
 * strings (the others), a new reference; NULL when absent, or with *bad
 * set when of the wrong type. */
static json_t *cfg_value_of(json_t *root, int f, bool *bad)
{
	json_t *holder = cfg_fields[f].top ? root : json_object_get(root, "config");
	json_t *v = json_is_object(holder) ? json_object_get(holder, cfg_fields[f].name) : NULL;
	const char *k;
	json_t *o, *x;
	size_t i;

	if (!v || json_is_null(v))
		return NULL;
	switch (cfg_fields[f].kind) {
	case CFG_STRING:
		if (!json_is_string(v))
			goto bad;
		return json_string_length(v) ? json_incref(v) : NULL;
	case CFG_ARRAY: {
		if (!json_is_array(v))
			goto bad;
		json_array_foreach(v, i, x)
			if (!json_is_string(x))
				goto bad;
		_cleanup_free_ char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		return json_string(text ? text : "");
	}
	case CFG_ENV:
		if (!json_is_array(v))
			goto bad;
		o = json_object();
		/* A variable given twice takes its last value, as in the process. */
		json_array_foreach(v, i, x) {
			const char *e = json_string_value(x), *eq;
			if (!e) {
				json_decref(o);
				goto bad;
			}
			eq = strchr(e, '=');
			_cleanup_free_ char *key = eq ? kiln_xstrndup(e, (size_t)(eq - e)) : kiln_xstrdup(e);
			json_object_set_new(o, key, json_string(eq ? eq + 1 : ""));
		}
		return o;
	case CFG_MAP:
	case CFG_SET:
		if (!json_is_object(v))
			goto bad;
		o = json_object();
		json_object_foreach(v, k, x) {
			if (cfg_fields[f].kind == CFG_MAP && !json_is_string(x)) {
				json_decref(o);
				goto bad;
			}
			json_object_set_new(o, k, json_string(cfg_fields[f].kind == CFG_MAP
								     ? json_string_value(x)
								     : ""));
		}
		return o;
	}
bad:
	*bad = true;
	return NULL;
}

static int cfg_value(json_t *root, int f, const char *label, json_t **out, struct kiln_error *err)
{
	bool bad = false;

	*out = cfg_value_of(root, f, &bad);
	if (bad)
		return kiln_error_set(err, "%s: image config: %s%s has the wrong type", label,
				      cfg_fields[f].top ? "" : "config.", cfg_fields[f].name);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keyed fields: every key of either side, sorted, each compared. */
static void cfg_compare_keys(int f, json_t *a, json_t *b, struct kiln_snapdiff *out)
{
	json_t *all = json_object(), *x;
	const char *k, **keys;
	size_t n = 0;
	bool member = cfg_fields[f].kind == CFG_SET;

	if (a)
		json_object_update(all, a);
	if (b)
		json_object_update(all, b);
	keys = kiln_xcalloc(json_object_size(all) + 1, sizeof(*keys));
	json_object_foreach(all, k, x)
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < n; i++) {
		const char *va = a ? json_string_value(json_object_get(a, keys[i])) : NULL;
		const char *vb = b ? json_string_value(json_object_get(b, keys[i])) : NULL;
		if (!va || !vb || strcmp(va, vb) != 0)
			cfg_add(out, cfg_fields[f].name, keys[i], va, vb, member);
	}
	free(keys);
	json_decref(all);
}

static json_t *cfg_load(const char *json, size_t len, const char *label, struct kiln_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);

	if (!root) {
		kiln_error_set(err, "%s: image config: %s (line %d)", label, jerr.text, jerr.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		kiln_error_set(err, "%s: image config: not a JSON object", label);
		return NULL;
	}
	return root;
}

int kiln_snapdiff_configs(const char *json_a, size_t len_a, const char *label_a, const char *json_b,
			  size_t len_b, const char *label_b, struct kiln_snapdiff *out,
			  struct kiln_error *err)
{
	json_t *ra = cfg_load(json_a, len_a, label_a, err), *rb = NULL;
	/* Collected apart, so that a failure leaves out as it was. */
	struct kiln_snapdiff d = { 0 };
	int rc = -1;

	if (!ra || !(rb = cfg_load(json_b, len_b, label_b, err)))
		goto out;
	for (int f = 0; f < (int)(sizeof(cfg_fields) / sizeof(cfg_fields[0])); f++) {
		json_t *a = NULL, *b = NULL;

		if (cfg_value(ra, f, label_a, &a, err) < 0)
			goto out;
		if (cfg_value(rb, f, label_b, &b, err) < 0) {
			json_decref(a);
			goto out;
		}
		if (cfg_fields[f].kind == CFG_STRING || cfg_fields[f].kind == CFG_ARRAY) {
			const char *va = json_string_value(a), *vb = json_string_value(b);
			if ((va || vb) && (!va || !vb || strcmp(va, vb) != 0))
				cfg_add(&d, cfg_fields[f].name, NULL, va, vb, false);
		} else {
			cfg_compare_keys(f, a, b, &d);
		}
		json_decref(a);
		json_decref(b);
	}
	out->cfg_added = d.cfg_added;
	out->cfg_removed = d.cfg_removed;
	out->cfg_changed = d.cfg_changed;
	out->n_cfg_added = d.n_cfg_added;
	out->n_cfg_removed = d.n_cfg_removed;
	out->n_cfg_changed = d.n_cfg_changed;
	memset(&d, 0, sizeof(d));
	rc = 0;
out:
	kiln_snapdiff_release(&d);
	json_decref(ra);
	json_decref(rb);
	return rc;
}

/* ---- images ----------------------------------------------------------------- */

static const char *const status_keep[] = { KILN_SNAPDIFF_STATUS_PATH, NULL };

/* Layers read so far, by digest: a layer two images share is read once. */
struct layer_cache {
	char (*digest)[KILN_OCI_DIGEST_LEN + 1];
	struct kiln_imagefs_list *lists;
	size_t n;
};

static void cache_release(struct layer_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		kiln_imagefs_list_release(&c->lists[i]);
	free(c->lists);
	free(c->digest);
}

/* Merged view of one image and its config blob (*config, malloc'd);
 * layers come from (and go into) the cache. */
static int image_view(const struct kiln_store *s, const char *manifest, const char *label,
		      struct layer_cache *cache, struct kiln_imagefs_list *merged, char **config,
		      size_t *config_len, struct kiln_error *err)
{
	struct kiln_oci_manifest m = { 0 };
	struct kiln_imagefs_list *layers = NULL;
	_cleanup_free_ char *json = NULL;
	size_t len;
	int rc = -1;

	json = kiln_store_read_blob(s, manifest, (size_t)4 << 20, &len, err);
	if (!json)
		return kiln_error_prefix(err, "%s: image manifest", label);
	if (kiln_oci_manifest_parse(json, len, &m, err) < 0)
		return kiln_error_prefix(err, "%s: image manifest %s", label, manifest);
	*config = kiln_store_read_blob(s, m.config.digest, (size_t)4 << 20, config_len, err);
	if (!*config) {
		kiln_error_prefix(err, "%s: image config", label);
		goto out;
	}
	layers = kiln_xcalloc(m.n_layers ? m.n_layers : 1, sizeof(*layers));
	for (size_t i = 0; i < m.n_layers; i++) {
		size_t k;
		for (k = 0; k < cache->n; k++)
			if (strcmp(cache->digest[k], m.layers[i].digest) == 0)
				break;
		if (k == cache->n) {
			struct kiln_imagefs_list l;
			if (kiln_imagefs_read_image_layer(s, &m.layers[i], i, m.n_layers, status_keep, &l,
							  err) < 0) {
				kiln_error_prefix(err, "%s", label);
				goto out;
			}
			cache->digest = kiln_xrealloc(cache->digest, (cache->n + 1) * sizeof(*cache->digest));
			cache->lists = kiln_xrealloc(cache->lists, (cache->n + 1) * sizeof(*cache->lists));
			memcpy(cache->digest[cache->n], m.layers[i].digest, sizeof(*cache->digest));
			cache->lists[cache->n++] = l;
		}
		/* A shallow copy: the cache owns the entries. */
		layers[i] = cache->lists[k];
	}
	rc = kiln_imagefs_merge(layers, m.n_layers, merged, err);
out:
	free(layers);
	kiln_oci_manifest_release(&m);
	return rc;
}

int kiln_snapdiff_images(const struct kiln_store *s, const char *manifest_a, const char *label_a,
			 const char *manifest_b, const char *label_b, struct kiln_snapdiff *out,
			 struct kiln_error *err)
{
	struct layer_cache cache = { 0 };
	_cleanup_fslist_ struct kiln_imagefs_list a = KILN_IMAGEFS_LIST_INIT, b = KILN_IMAGEFS_LIST_INIT;
	_cleanup_free_ char *config_a = NULL, *config_b = NULL;
	const char *sa, *sb;
	size_t la = 0, lb = 0, lca = 0, lcb = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (image_view(s, manifest_a, label_a, &cache, &a, &config_a, &lca, err) < 0 ||
	    image_view(s, manifest_b, label_b, &cache, &b, &config_b, &lcb, err) < 0)
		goto out;
	if (kiln_snapdiff_configs(config_a, lca, label_a, config_b, lcb, label_b, out, err) < 0)
		goto out;
	cache_release(&cache);
	memset(&cache, 0, sizeof(cache));
	sa = kiln_imagefs_kept(&a, KILN_SNAPDIFF_STATUS_PATH, &la);
	sb = kiln_imagefs_kept(&b, KILN_SNAPDIFF_STATUS_PATH, &lb);
	if (kiln_snapdiff_packages(sa, la, sb, lb, out, err) < 0)
		goto out;
	kiln_snapdiff_files(&a, &b, out);
	rc = 0;
out:
	cache_release(&cache);
	if (rc < 0)
		kiln_snapdiff_release(out);
	return rc;
}

bool kiln_snapdiff_empty(const struct kiln_snapdiff *d)
{
	return !d->n_cfg_added && !d->n_cfg_removed && !d->n_cfg_changed && !d->n_pkg_added && !d->n_pkg_removed && !d->n_pkg_changed && !d->n_added &&
	       !d->n_removed && !d->n_changed && !d->n_mtime_only;
}

static void release_pkgs(struct kiln_snapdiff_package *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].architecture);
		free(v[i].from_architecture);
		free(v[i].from);
		free(v[i].to);
	}
	free(v);
}

static void release_files(struct kiln_snapdiff_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

static void release_cfgs(struct kiln_snapdiff_config *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].field);
		free(v[i].key);
		free(v[i].from);
		free(v[i].to);
	}
	free(v);
}

void kiln_snapdiff_release(struct kiln_snapdiff *d)
{
	release_cfgs(d->cfg_added, d->n_cfg_added);
	release_cfgs(d->cfg_removed, d->n_cfg_removed);
	release_cfgs(d->cfg_changed, d->n_cfg_changed);
	release_pkgs(d->pkg_added, d->n_pkg_added);
	release_pkgs(d->pkg_removed, d->n_pkg_removed);
	release_pkgs(d->pkg_changed, d->n_pkg_changed);
	release_files(d->added, d->n_added);
	release_files(d->removed, d->n_removed);
	release_files(d->changed, d->n_changed);
	release_files(d->mtime_only, d->n_mtime_only);
	memset(d, 0, sizeof(*d));
}
