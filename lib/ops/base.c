/* base.c - what an image is built on; see base.h. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "imagefs.h"
#include "store.h"

/* Bounds of what a layout's JSON blobs may be; layers are bounded by
 * imagefs's limits and this. */
#define BASE_MAX_JSON ((size_t)4 << 20)
#define BASE_MAX_LAYER ((size_t)8 << 30)

static const char *const kept_paths[] = { "var/lib/dpkg/status", "etc/passwd", "etc/group", "etc/shadow", NULL };

enum kiln_base_kind kiln_base_kind_of(const char *spec)
{
	if (!spec || strcmp(spec, "scratch") == 0)
		return KILN_BASE_SCRATCH;
	if (kiln_str_has_prefix(spec, "oci:"))
		return KILN_BASE_OCI;
	return KILN_BASE_MANIFEST;
}

char *kiln_base_manifest_path(const char *where, const char *key, const char *manifest_dir_rel, const char *spec,
			      const struct kiln_base_chain *chain, struct kiln_error *err)
{
	struct kiln_buf out = KILN_BUF_INIT;
	_cleanup_free_ char *copy = kiln_xstrdup(spec);
	char *save = NULL, *part;
	size_t depth = 0;

	/* The manifest parser refuses these already; a base path is also a
	 * path into the commit's tree, so hold it to the rule here too. */
	if (spec[0] == '/') {
		kiln_error_set(err, "%s: %s: %s is absolute: a manifest is named by a path relative to this "
			       "manifest, inside the repository", where, key, spec);
		return NULL;
	}
	if (*manifest_dir_rel)
		kiln_buf_adds(&out, manifest_dir_rel);
	for (part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			kiln_buf_release(&out);
			kiln_error_set(err, "%s: %s: %s has a \"..\" component: it may not leave the "
				       "repository", where, key, spec);
			return NULL;
		}
		if (out.len)
			kiln_buf_addch(&out, '/');
		kiln_buf_adds(&out, part);
	}
	if (!out.len) {
		kiln_error_set(err, "%s: %s: %s names no file", where, key, spec);
		return NULL;
	}
	for (const struct kiln_base_chain *c = chain; c; c = c->below) {
		depth++;
		if (strcmp(c->manifest_rel, out.data) == 0) {
			/* Name the loop as it goes: out → … → out. */
			struct kiln_buf loop = KILN_BUF_INIT;
			const char **names = kiln_xcalloc(depth + 1, sizeof(char *));
			size_t n = 0;
			for (const struct kiln_base_chain *d = chain; d != c->below; d = d->below)
				names[n++] = d->manifest_rel;
			for (size_t i = n; i-- > 0;)
				kiln_buf_printf(&loop, "%s → ", names[i]);
			kiln_buf_adds(&loop, out.data);
			kiln_error_set(err, "%s: %s: %s: the manifests form a cycle: %s", where, key, spec, loop.data);
			free(names);
			kiln_buf_release(&loop);
			kiln_buf_release(&out);
			return NULL;
		}
	}
	if (depth >= KILN_BASE_MAX_DEPTH) {
		kiln_error_set(err, "%s: %s: %s: manifests are nested more than %d deep", where, key, spec,
			       KILN_BASE_MAX_DEPTH);
		kiln_buf_release(&out);
		return NULL;
	}
	return kiln_buf_detach(&out);
}

int kiln_base_parse_oci(const char *where, const char *spec, char **path, char digest[KILN_OCI_DIGEST_LEN + 1],
			struct kiln_error *err)
{
	const char *at = strrchr(spec, '@');

	if (!kiln_str_has_prefix(spec, "oci:") || !at || at == spec + 4 || !kiln_oci_digest_valid(at + 1))
		return kiln_error_set(err, "%s: base: %s is not oci:PATH@sha256:DIGEST", where, spec);
	*path = kiln_xstrndup(spec + 4, (size_t)(at - spec - 4));
	snprintf(digest, KILN_OCI_DIGEST_LEN + 1, "%s", at + 1);
	return 0;
}

/* diff_ids of a config, one per layer. */
static int read_diff_ids(struct kiln_base *b, struct kiln_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(b->config, b->config_len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
	int rc = -1;

	if (!root) {
		kiln_error_set(err, "%s: its config is not JSON (line %d: %s)", b->label, jerr.line, jerr.text);
		goto out;
	}
	if (!json_is_array(ids) || json_array_size(ids) != b->manifest.n_layers) {
		kiln_error_set(err, "%s: its config's rootfs.diff_ids does not list one digest per layer (%zu "
			       "layers)", b->label, b->manifest.n_layers);
		goto out;
	}
	b->diff_ids = kiln_xcalloc(b->manifest.n_layers + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(ids); i++) {
		const char *s = json_string_value(json_array_get(ids, i));
		if (!s || !kiln_oci_digest_valid(s)) {
			kiln_error_set(err, "%s: its config's diff_ids[%zu] is not a sha256 digest", b->label, i);
			goto out;
		}
		b->diff_ids[b->n_diff_ids++] = kiln_xstrdup(s);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static char *kept_copy(const struct kiln_imagefs_list *merged, const char *path, size_t *len_out)
{
	size_t len = 0;
	const char *data = kiln_imagefs_kept(merged, path, &len);

	if (!data)
		return NULL;
	if (len_out)
		*len_out = len;
	return kiln_xstrndup(data, len);
}

static void take_kept(struct kiln_base *b, const struct kiln_imagefs_list *merged)
{
	b->dpkg_status = kept_copy(merged, kept_paths[0], &b->dpkg_status_len);
	b->passwd = kept_copy(merged, kept_paths[1], NULL);
	b->group = kept_copy(merged, kept_paths[2], NULL);
	b->shadow = kept_copy(merged, kept_paths[3], NULL);
}

int kiln_base_load_store(const struct kiln_store *s, const char *label, const char *manifest_digest,
			 struct kiln_base *out, struct kiln_error *err)
{
	_cleanup_free_ char *json = NULL;
	_cleanup_fslist_ struct kiln_imagefs_list merged = KILN_IMAGEFS_LIST_INIT;
	size_t len;

	memset(out, 0, sizeof(*out));
	out->kind = KILN_BASE_MANIFEST;
	out->label = kiln_xstrdup(label);
	snprintf(out->digest, sizeof(out->digest), "%s", manifest_digest);
	json = kiln_store_read_blob(s, manifest_digest, BASE_MAX_JSON, &len, err);
	if (!json || kiln_oci_manifest_parse(json, len, &out->manifest, err) < 0)
		goto fail;
	out->config = kiln_store_read_blob(s, out->manifest.config.digest, BASE_MAX_JSON, &out->config_len, err);
	if (!out->config || read_diff_ids(out, err) < 0)
		goto fail;
	if (kiln_imagefs_read_image(s, manifest_digest, kept_paths, &merged, err) < 0)
		goto fail;
	take_kept(out, &merged);
	return 0;
fail:
	kiln_error_prefix(err, "base %s", label);
	kiln_base_release(out);
	return -1;
}

/* One blob of the layout: read beneath blobs/sha256/ (no symlink, only a
 * regular file) and checked against its digest and size. */
static char *read_blob(int blobs, const struct kiln_base *b, const char *digest, uint64_t size, size_t max,
		       size_t *len, struct kiln_error *err)
{
	char hex[KILN_SHA256_HEX_LEN + 1];
	char *data = kiln_file_read_at(blobs, "blobs/sha256", digest + 7, max, len, err);

	if (!data) {
		if (errno == ENOENT)
			kiln_error_set(err, "%s: blob %s is missing from the layout", b->label, digest);
		else
			kiln_error_prefix(err, "%s: blob %s", b->label, digest);
		return NULL;
	}
	kiln_sha256_hex(data, *len, hex);
	if (strcmp(hex, digest + 7) != 0) {
		kiln_error_set(err, "%s: blob %s does not match its digest (its bytes hash to sha256:%s)", b->label,
			       digest, hex);
		kiln_error_verification(err);
		free(data);
		return NULL;
	}
	if (size != UINT64_MAX && *len != size) {
		kiln_error_set(err, "%s: blob %s is %zu bytes, its descriptor says %llu", b->label, digest, *len,
			       (unsigned long long)size);
		kiln_error_verification(err);
		free(data);
		return NULL;
	}
	return data;
}

int kiln_base_load_oci(const char *layout_dir, const char *label, const char *digest, struct kiln_base *out,
		       struct kiln_error *err)
{
	_cleanup_close_ int dir = -1, blobs = -1;
	_cleanup_free_ char *json = NULL;
	struct kiln_imagefs_list *lists = NULL;
	_cleanup_fslist_ struct kiln_imagefs_list merged = KILN_IMAGEFS_LIST_INIT;
	size_t len;
	json_t *root = NULL;
	const char *mt;

	memset(out, 0, sizeof(*out));
	out->kind = KILN_BASE_OCI;
	out->label = kiln_xstrdup(label);
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	dir = kiln_dir_open(layout_dir, false, 0, err);
	if (dir < 0) {
		kiln_error_prefix(err, "%s: the OCI layout", label);
		goto fail;
	}
	blobs = kiln_dir_open_beneath(dir, layout_dir, "blobs/sha256", false, 0, err);
	if (blobs < 0) {
		kiln_error_prefix(err, "%s: not an OCI image layout", label);
		goto fail;
	}
	json = read_blob(blobs, out, digest, UINT64_MAX, BASE_MAX_JSON, &len, err);
	if (!json)
		goto fail;
	/* An image manifest only: an index would need a platform choice
	 * (docs/manifest.md, base: pin the manifest of your architecture). */
	root = json_loadb(json, len, 0, NULL);
	mt = json_string_value(json_object_get(root, "mediaType"));
	if (!root || (mt && strcmp(mt, KILN_OCI_MANIFEST) != 0 &&
		      strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json") != 0)) {
		kiln_error_set(err, "%s: %s is not an image manifest (%s)%s", label, digest, mt ? mt : "not JSON",
			       mt && strstr(mt, "index") ? ": pin the digest of the image manifest for your "
			       "architecture, not the index" : "");
		json_decref(root);
		goto fail;
	}
	json_decref(root);
	if (kiln_oci_manifest_parse(json, len, &out->manifest, err) < 0) {
		kiln_error_prefix(err, "%s: %s", label, digest);
		goto fail;
	}
	out->config = read_blob(blobs, out, out->manifest.config.digest, out->manifest.config.size, BASE_MAX_JSON,
				&out->config_len, err);
	if (!out->config || read_diff_ids(out, err) < 0)
		goto fail;
	out->blobs = kiln_xcalloc(out->manifest.n_layers + 1, sizeof(*out->blobs));
	lists = kiln_xcalloc(out->manifest.n_layers + 1, sizeof(*lists));
	for (size_t i = 0; i < out->manifest.n_layers; i++) {
		const struct kiln_oci_descriptor *d = &out->manifest.layers[i];
		_cleanup_close_ int fd = -1;
		char proc[64];
		size_t n;
		char *data = read_blob(blobs, out, d->digest, d->size, BASE_MAX_LAYER, &n, err);

		if (!data)
			goto fail;
		out->blobs[i].data = data;
		out->blobs[i].len = n;
		out->blobs[i].alloc = n + 1;
		/* A tar stream of a type kiln reads, as it says: read it through
		 * the same (no-follow) file, checked against its digest again. */
		fd = kiln_file_open_at(blobs, "blobs/sha256", d->digest + 7, err);
		if (fd < 0)
			goto fail;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (kiln_imagefs_read_layer_checked(proc, d->media_type, d->digest, kept_paths, &lists[i], err) < 0) {
			kiln_error_prefix(err, "%s: layer %zu of %zu (%s) is not a layer tar kiln reads", label, i + 1,
					  out->manifest.n_layers, d->digest);
			goto fail;
		}
	}
	kiln_imagefs_merge(lists, out->manifest.n_layers, &merged, err);
	take_kept(out, &merged);
	kiln_imagefs_list_release_array(lists, out->manifest.n_layers);
	return 0;
fail:
	if (lists)
		kiln_imagefs_list_release_array(lists, out->manifest.n_layers);
	kiln_base_release(out);
	return -1;
}

void kiln_base_release(struct kiln_base *b)
{
	if (b->blobs)
		for (size_t i = 0; i < b->manifest.n_layers; i++)
			kiln_buf_release(&b->blobs[i]);
	free(b->blobs);
	kiln_strv_free(b->diff_ids, b->n_diff_ids);
	kiln_oci_manifest_release(&b->manifest);
	free(b->label);
	free(b->config);
	free(b->dpkg_status);
	free(b->passwd);
	free(b->group);
	free(b->shadow);
	memset(b, 0, sizeof(*b));
}

/* ---- the config ---- */

static void push(char ***v, size_t *n, size_t *alloc, char *s)
{
	kiln_xgrow(v, alloc, *n + 2, sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static ssize_t index_of_key(char *const *v, size_t n, const char *key, size_t key_len, char sep)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(v[i], key, key_len) == 0 && v[i][key_len] == sep)
			return (ssize_t)i;
	return -1;
}

static ssize_t index_of(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return (ssize_t)i;
	return -1;
}

static int string_list(json_t *a, const char *what, char ***v, size_t *n, struct kiln_error *err)
{
	size_t i, alloc = 0;
	json_t *x;

	json_array_foreach(a, i, x) {
		if (!json_is_string(x))
			return kiln_error_set(err, "base config: %s[%zu] is not a string", what, i);
		push(v, n, &alloc, kiln_xstrdup(json_string_value(x)));
	}
	return 0;
}

int kiln_base_config(const struct kiln_base *base, const struct kiln_image_config *ic, const char *default_path,
		     struct kiln_oci_config *c, struct kiln_error *err)
{
	json_t *root = NULL, *cfg = NULL, *x;
	size_t env_alloc = 0, port_alloc = 0, vol_alloc = 0, label_alloc = 0, value_alloc = 0;
	const char *key;
	size_t idx;
	bool has_path = false;
	char **entrypoint = NULL, **cmd = NULL;
	size_t n_entrypoint = 0, n_cmd = 0;
	bool has_entrypoint = false, has_cmd = false;
	int rc = -1;

	if (base) {
		json_error_t jerr;
		root = json_loadb(base->config, base->config_len, 0, &jerr);
		if (!root)
			return kiln_error_set(err, "%s: its config is not JSON: %s", base->label, jerr.text);
		cfg = json_object_get(root, "config");
	}
	/* env, by key: the base's, then the manifest's. */
	json_array_foreach(json_object_get(cfg, "Env"), idx, x) {
		if (json_is_string(x) && strchr(json_string_value(x), '='))
			push(&c->env, &c->n_env, &env_alloc, kiln_xstrdup(json_string_value(x)));
	}
	has_path = index_of_key(c->env, c->n_env, "PATH", 4, '=') >= 0;
	for (size_t i = 0; i < ic->n_env; i++)
		has_path |= strcmp(ic->env[i].key, "PATH") == 0;
	if (!has_path)
		push(&c->env, &c->n_env, &env_alloc, kiln_xstrdup(default_path));
	for (size_t i = 0; i < ic->n_env; i++) {
		char *kv = kiln_xasprintf("%s=%s", ic->env[i].key, ic->env[i].value);
		ssize_t at = index_of_key(c->env, c->n_env, ic->env[i].key, strlen(ic->env[i].key), '=');
		if (at >= 0) {
			free(c->env[at]);
			c->env[at] = kv;
		} else {
			push(&c->env, &c->n_env, &env_alloc, kv);
		}
	}
	/* labels, by key. */
	json_object_foreach(json_object_get(cfg, "Labels"), key, x) {
		if (!json_is_string(x))
			continue;
		push(&c->label_keys, &c->n_labels, &label_alloc, kiln_xstrdup(key));
		{
			size_t nv = c->n_labels - 1;
			push(&c->label_values, &nv, &value_alloc, kiln_xstrdup(json_string_value(x)));
		}
	}
	for (size_t i = 0; i < ic->n_labels; i++) {
		ssize_t at = index_of(c->label_keys, c->n_labels, ic->labels[i].key);
		if (at >= 0) {
			free(c->label_values[at]);
			c->label_values[at] = kiln_xstrdup(ic->labels[i].value);
		} else {
			size_t nv = c->n_labels;
			push(&c->label_keys, &c->n_labels, &label_alloc, kiln_xstrdup(ic->labels[i].key));
			push(&c->label_values, &nv, &value_alloc, kiln_xstrdup(ic->labels[i].value));
		}
	}
	/* ports and volumes: the union. */
	json_object_foreach(json_object_get(cfg, "ExposedPorts"), key, x)
		push(&c->exposed_ports, &c->n_exposed_ports, &port_alloc, kiln_xstrdup(key));
	{
		size_t from_base = c->n_exposed_ports;
		for (size_t i = 0; i < ic->n_ports; i++)
			if (index_of(c->exposed_ports, from_base, ic->ports[i]) < 0)
				push(&c->exposed_ports, &c->n_exposed_ports, &port_alloc, kiln_xstrdup(ic->ports[i]));
	}
	json_object_foreach(json_object_get(cfg, "Volumes"), key, x)
		push(&c->volumes, &c->n_volumes, &vol_alloc, kiln_xstrdup(key));
	{
		size_t from_base = c->n_volumes;
		for (size_t i = 0; i < ic->n_volumes; i++)
			if (index_of(c->volumes, from_base, ic->volumes[i]) < 0)
				push(&c->volumes, &c->n_volumes, &vol_alloc, kiln_xstrdup(ic->volumes[i]));
	}
	/* entrypoint and cmd: replaced when given. */
	if (ic->has_entrypoint) {
		has_entrypoint = true;
		entrypoint = kiln_strv_dup(ic->entrypoint, ic->n_entrypoint);
		n_entrypoint = ic->n_entrypoint;
	} else if (json_is_array(json_object_get(cfg, "Entrypoint"))) {
		has_entrypoint = true;
		if (string_list(json_object_get(cfg, "Entrypoint"), "Entrypoint", &entrypoint, &n_entrypoint, err) < 0)
			goto out;
	}
	if (ic->has_cmd) {
		has_cmd = true;
		cmd = kiln_strv_dup(ic->cmd, ic->n_cmd);
		n_cmd = ic->n_cmd;
	} else if (!ic->has_entrypoint && json_is_array(json_object_get(cfg, "Cmd"))) {
		has_cmd = true;
		if (string_list(json_object_get(cfg, "Cmd"), "Cmd", &cmd, &n_cmd, err) < 0)
			goto out;
	}
	c->entrypoint = entrypoint, c->n_entrypoint = n_entrypoint, c->has_entrypoint = has_entrypoint;
	c->cmd = cmd, c->n_cmd = n_cmd, c->has_cmd = has_cmd;
	entrypoint = cmd = NULL;
	/* user, workdir, stop signal: replaced when given. */
	{
		const char *u = json_string_value(json_object_get(cfg, "User"));
		const char *w = json_string_value(json_object_get(cfg, "WorkingDir"));
		const char *s = json_string_value(json_object_get(cfg, "StopSignal"));
		c->user = ic->user ? kiln_xstrdup(ic->user) : u && *u ? kiln_xstrdup(u) : NULL;
		c->workdir = ic->workdir ? kiln_xstrdup(ic->workdir) : w && *w ? kiln_xstrdup(w) : NULL;
		c->stop_signal = ic->stop_signal ? kiln_xstrdup(ic->stop_signal) : s && *s ? kiln_xstrdup(s) : NULL;
	}
	rc = 0;
out:
	kiln_strv_free(entrypoint, n_entrypoint);
	kiln_strv_free(cmd, n_cmd);
	json_decref(root);
	return rc;
}

void kiln_base_config_release(struct kiln_oci_config *c)
{
	kiln_strv_free(c->env, c->n_env);
	kiln_strv_free(c->entrypoint, c->n_entrypoint);
	kiln_strv_free(c->cmd, c->n_cmd);
	kiln_strv_free(c->exposed_ports, c->n_exposed_ports);
	kiln_strv_free(c->volumes, c->n_volumes);
	kiln_strv_free(c->label_keys, c->n_labels);
	kiln_strv_free(c->label_values, c->n_labels);
	free((char *)c->user);
	free((char *)c->workdir);
	free((char *)c->stop_signal);
	c->env = c->entrypoint = c->cmd = c->exposed_ports = c->volumes = c->label_keys = c->label_values = NULL;
	c->n_env = c->n_entrypoint = c->n_cmd = c->n_exposed_ports = c->n_volumes = c->n_labels = 0;
	c->has_entrypoint = c->has_cmd = false;
	c->user = c->workdir = c->stop_signal = NULL;
}

/* ---- dpkg status and accounts ---- */

struct paragraph {
	const char *text; size_t len;   /* without the blank line */
	char *package, *architecture, *version;
	bool ours;
};

static char *field_of(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p < text + len;) {
		const char *eol = memchr(p, '\n', (size_t)(text + len - p));
		size_t line = eol ? (size_t)(eol - p) : (size_t)(text + len - p);
		if (line > n + 1 && strncmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ')
				v++;
			return kiln_xstrndup(v, (size_t)(p + line - v));
		}
		p += line + 1;
	}
	return kiln_xstrdup("");
}

static void split(const char *text, bool ours, struct paragraph **v, size_t *n, size_t *alloc)
{
	const char *p = text;

	while (p && *p) {
		const char *end = strstr(p, "\n\n");
		size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
		if (len > 1) {
			struct paragraph *g;
			kiln_xgrow(v, alloc, *n + 1, sizeof(**v));
			g = &(*v)[(*n)++];
			g->text = p, g->len = len, g->ours = ours;
			g->package = field_of(p, len, "Package");
			g->architecture = field_of(p, len, "Architecture");
			g->version = field_of(p, len, "Version");
		}
		p = end ? end + 2 : NULL;
	}
}

static int by_name(const void *a, const void *b)
{
	const struct paragraph *x = a, *y = b;
	int c = strcmp(x->package, y->package);
	return c ? c : strcmp(x->architecture, y->architecture);
}

char *kiln_base_merge_status(const struct kiln_base *base, const char *ours, struct kiln_error *err)
{
	struct paragraph *v = NULL;
	size_t n = 0, alloc = 0;
	struct kiln_buf out = KILN_BUF_INIT;
	bool ok = true;

	split(base->dpkg_status, false, &v, &n, &alloc);
	split(ours, true, &v, &n, &alloc);
	qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && by_name(&v[i], &v[i + 1]) == 0) {
			const struct paragraph *b = v[i].ours ? &v[i + 1] : &v[i], *o = v[i].ours ? &v[i] : &v[i + 1];
			if (b->ours == o->ours) {
				kiln_error_set(err, "base %s: its dpkg status lists %s:%s twice", base->label,
					       v[i].package, v[i].architecture);
				ok = false;
				break;
			}
			if (strcmp(b->version, o->version) != 0) {
				kiln_error_set(err, "package %s: the base %s has version %s, this manifest's lock %s "
					       "(pin the base's version, or leave the package to the base)", v[i].package,
					       base->label, b->version, o->version);
				ok = false;
				break;
			}
			/* The same version: listed once, as this build unpacked it. */
			continue;
		}
		if (out.len)
			kiln_buf_addch(&out, '\n');
		kiln_buf_add(&out, v[i].text, v[i].len);
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].package);
		free(v[i].architecture);
		free(v[i].version);
	}
	free(v);
	if (!ok) {
		kiln_buf_release(&out);
		return NULL;
	}
	if (!out.data)
		kiln_buf_adds(&out, "");
	return kiln_buf_detach(&out);
}

/* The line of name in text ("name:…\n"), or NULL. */
static const char *line_of(const char *text, const char *name, size_t *len)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		if (l > n && strncmp(p, name, n) == 0 && p[n] == ':') {
			*len = l;
			return p;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

int kiln_base_merge_accounts(const char *which, const char *base_text, const char *ours, struct kiln_buf *out,
			     struct kiln_error *err)
{
	bool check = strcmp(which, "etc/shadow") != 0;

	if (base_text) {
		kiln_buf_adds(out, base_text);
		if (out->len && out->data[out->len - 1] != '\n')
			kiln_buf_addch(out, '\n');
	}
	for (const char *p = ours; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		const char *colon = memchr(p, ':', l);
		_cleanup_free_ char *name = kiln_xstrndup(p, colon ? (size_t)(colon - p) : l);
		size_t bl;
		const char *in_base = base_text ? line_of(base_text, name, &bl) : NULL;

		if (!in_base) {
			kiln_buf_add(out, p, l);
			kiln_buf_addch(out, '\n');
		} else if (check && (bl != l || memcmp(in_base, p, l) != 0) && strcmp(name, "root") != 0 &&
			   strcmp(name, "nobody") != 0 && strcmp(name, "nogroup") != 0) {
			return kiln_error_set(err, "accounts: %s of the base already has %s, as \"%.*s\", not \"%.*s\"",
					      which, name, (int)bl, in_base, (int)l, p);
		}
		p = eol ? eol + 1 : NULL;
	}
	return 0;
}
