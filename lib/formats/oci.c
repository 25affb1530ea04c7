#include "oci.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "util.h"

static json_t *string_array(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *empty_object_set(char *const *keys, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, keys[i], json_object());
	return o;
}

static char *dump(json_t *root)
{
	char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(root);
	if (!s) {
		fprintf(stderr, "kiln: out of memory serializing JSON\n");
		abort();
	}
	return s;
}

char *kiln_oci_config_json(const struct kiln_oci_config *c)
{
	json_t *root = json_object(), *cfg = json_object(), *rootfs = json_object();
	json_t *history = json_array();

	json_object_set_new(root, "architecture", json_string(c->architecture));
	if (c->variant)
		json_object_set_new(root, "variant", json_string(c->variant));
	json_object_set_new(root, "os", json_string(c->os ? c->os : "linux"));
	json_object_set_new(root, "created", json_string(c->created));
	if (c->user)
		json_object_set_new(cfg, "User", json_string(c->user));
	if (c->n_env)
		json_object_set_new(cfg, "Env", string_array(c->env, c->n_env));
	if (c->has_entrypoint)
		json_object_set_new(cfg, "Entrypoint", string_array(c->entrypoint, c->n_entrypoint));
	if (c->has_cmd)
		json_object_set_new(cfg, "Cmd", string_array(c->cmd, c->n_cmd));
	if (c->workdir)
		json_object_set_new(cfg, "WorkingDir", json_string(c->workdir));
	if (c->n_exposed_ports)
		json_object_set_new(cfg, "ExposedPorts", empty_object_set(c->exposed_ports, c->n_exposed_ports));
	if (c->n_volumes)
		json_object_set_new(cfg, "Volumes", empty_object_set(c->volumes, c->n_volumes));
	if (c->n_labels) {
		json_t *labels = json_object();
		for (size_t i = 0; i < c->n_labels; i++)
			json_object_set_new(labels, c->label_keys[i], json_string(c->label_values[i]));
		json_object_set_new(cfg, "Labels", labels);
	}
	if (c->stop_signal)
		json_object_set_new(cfg, "StopSignal", json_string(c->stop_signal));
	json_object_set_new(root, "config", cfg);
	json_object_set_new(rootfs, "type", json_string("layers"));
	json_object_set_new(rootfs, "diff_ids", string_array(c->diff_ids, c->n_diff_ids));
	json_object_set_new(root, "rootfs", rootfs);
	for (size_t i = 0; i < c->n_history; i++) {
		json_t *h = json_object();
		json_object_set_new(h, "created", json_string(c->created));
		if (c->history[i].created_by)
			json_object_set_new(h, "created_by", json_string(c->history[i].created_by));
		if (c->history[i].comment)
			json_object_set_new(h, "comment", json_string(c->history[i].comment));
		if (c->history[i].empty_layer)
			json_object_set_new(h, "empty_layer", json_true());
		json_array_append_new(history, h);
	}
	json_object_set_new(root, "history", history);
	return dump(root);
}

static json_t *descriptor(const struct kiln_oci_descriptor *d)
{
	json_t *o = json_object();
	json_object_set_new(o, "mediaType", json_string(d->media_type));
	json_object_set_new(o, "digest", json_string(d->digest));
	json_object_set_new(o, "size", json_integer((json_int_t)d->size));
	return o;
}

char *kiln_oci_manifest_json(const struct kiln_oci_descriptor *config,
			     const struct kiln_oci_descriptor *layers, size_t n_layers,
			     char *const *annotation_keys, char *const *annotation_values,
			     size_t n_annotations)
{
	json_t *root = json_object(), *ls = json_array();

	json_object_set_new(root, "schemaVersion", json_integer(2));
	json_object_set_new(root, "mediaType", json_string(KILN_OCI_MANIFEST));
	json_object_set_new(root, "config", descriptor(config));
	for (size_t i = 0; i < n_layers; i++)
		json_array_append_new(ls, descriptor(&layers[i]));
	json_object_set_new(root, "layers", ls);
	if (n_annotations) {
		json_t *a = json_object();
		for (size_t i = 0; i < n_annotations; i++)
			json_object_set_new(a, annotation_keys[i], json_string(annotation_values[i]));
		json_object_set_new(root, "annotations", a);
	}
	return dump(root);
}

char *kiln_oci_referrer_json(const char *artifact_type, const struct kiln_oci_descriptor *blob,
			     const struct kiln_oci_descriptor *subject)
{
	json_t *root = json_object(), *ls = json_array(), *config = json_object();

	json_object_set_new(root, "schemaVersion", json_integer(2));
	json_object_set_new(root, "mediaType", json_string(KILN_OCI_MANIFEST));
	json_object_set_new(root, "artifactType", json_string(artifact_type));
	json_object_set_new(config, "mediaType", json_string(KILN_OCI_EMPTY));
	json_object_set_new(config, "digest", json_string(KILN_OCI_EMPTY_DIGEST));
	json_object_set_new(config, "size", json_integer(2));
	json_object_set_new(root, "config", config);
	json_array_append_new(ls, descriptor(blob));
	json_object_set_new(root, "layers", ls);
	json_object_set_new(root, "subject", descriptor(subject));
	return dump(root);
}

int kiln_oci_platform(const char *debian_arch, const char **arch, const char **variant,
		      struct kiln_error *err)
{
	static const struct { const char *deb, *oci, *variant; } map[] = {
		{ "amd64", "amd64", NULL }, { "arm64", "arm64", "v8" }, { "armhf", "arm", "v7" },
		{ "armel", "arm", "v5" }, { "i386", "386", NULL }, { "ppc64el", "ppc64le", NULL },
		{ "s390x", "s390x", NULL }, { "riscv64", "riscv64", NULL },
		{ "mips64el", "mips64le", NULL }, { "mipsel", "mipsle", NULL },
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(map); i++)
		if (strcmp(map[i].deb, debian_arch) == 0) {
			*arch = map[i].oci;
			*variant = map[i].variant;
			return 0;
		}
	return kiln_error_set(err, "architecture %s has no OCI platform name", debian_arch);
}

void kiln_oci_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool kiln_oci_digest_valid(const char *s)
{
	return s && strncmp(s, "sha256:", 7) == 0 && kiln_sha256_hex_valid(s + 7, strlen(s + 7));
}

static int read_descriptor(json_t *o, struct kiln_oci_descriptor *d, struct kiln_buf *types,
			   size_t *type_offset, const char *what, struct kiln_error *err)
{
	json_t *mt = json_object_get(o, "mediaType"), *dg = json_object_get(o, "digest");
	json_t *sz = json_object_get(o, "size");

	if (!json_is_object(o) || !json_is_string(mt) || !json_is_string(dg) || !json_is_integer(sz) ||
	    json_integer_value(sz) < 0)
		return kiln_error_set(err, "manifest: %s is not a descriptor", what);
	if (!kiln_oci_digest_valid(json_string_value(dg)))
		return kiln_error_set(err, "manifest: %s has a bad digest", what);
	memcpy(d->digest, json_string_value(dg), KILN_OCI_DIGEST_LEN + 1);
	d->size = (uint64_t)json_integer_value(sz);
	*type_offset = types->len;
	kiln_buf_add(types, json_string_value(mt), strlen(json_string_value(mt)) + 1);
	return 0;
}

int kiln_oci_manifest_parse(const char *json, size_t len, struct kiln_oci_manifest *out,
			    struct kiln_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *layers;
	struct kiln_buf types = KILN_BUF_INIT;
	size_t *offsets = NULL, config_offset = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!root)
		return kiln_error_set(err, "manifest: bad JSON at line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(root) || json_integer_value(json_object_get(root, "schemaVersion")) != 2) {
		kiln_error_set(err, "manifest: not an image manifest (schemaVersion 2)");
		goto out;
	}
	if (read_descriptor(json_object_get(root, "config"), &out->config, &types, &config_offset,
			    "config", err) < 0)
		goto out;
	layers = json_object_get(root, "layers");
	if (!json_is_array(layers)) {
		kiln_error_set(err, "manifest: no layers array");
		goto out;
	}
	out->n_layers = json_array_size(layers);
	out->layers = kiln_xcalloc(out->n_layers ? out->n_layers : 1, sizeof(*out->layers));
	offsets = kiln_xcalloc(out->n_layers ? out->n_layers : 1, sizeof(*offsets));
	for (size_t i = 0; i < out->n_layers; i++) {
		char what[32];
		snprintf(what, sizeof(what), "layer %zu", i);
		if (read_descriptor(json_array_get(layers, i), &out->layers[i], &types, &offsets[i], what,
				    err) < 0)
			goto out;
	}
	/* The strings live in one buffer; point the descriptors into it. */
	out->media_types = kiln_buf_detach(&types);
	out->config.media_type = out->media_types + config_offset;
	for (size_t i = 0; i < out->n_layers; i++)
		out->layers[i].media_type = out->media_types + offsets[i];
	rc = 0;
out:
	free(offsets);
	kiln_buf_release(&types);
	json_decref(root);
	if (rc < 0)
		kiln_oci_manifest_release(out);
	return rc;
}

void kiln_oci_manifest_release(struct kiln_oci_manifest *m)
{
	free(m->layers);
	free(m->media_types);
	memset(m, 0, sizeof(*m));
}
