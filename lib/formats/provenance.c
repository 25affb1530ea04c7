#include "provenance.h"

#include <jansson.h>
#include <string.h>

#include "oci.h"
#include "util.h"

/* json_string() gives NULL for text that is not UTF-8 (or NULL), and
 * setting a NULL member does nothing: note the field, so the statement is
 * refused instead of written without it. */
static json_t *text(const char *what, const char *s, const char **bad)
{
	json_t *v = s ? json_string(s) : NULL;

	if (!v && !*bad)
		*bad = what;
	return v;
}

static json_t *digest_object(const char *algorithm, const char *hex, const char **bad)
{
	json_t *d = json_object();
	json_object_set_new(d, algorithm, text(algorithm, hex, bad));
	return d;
}

/* Characters a purl keeps as they are in a name or version: the unreserved
 * ones, and ':' and '+' which the spec leaves unencoded (Debian epochs and
 * revisions keep their familiar spelling). */
static void purl_append(struct kiln_buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr(".-_~:+", *p))
			kiln_buf_addch(b, (char)*p);
		else
			kiln_buf_printf(b, "%%%02X", *p);
	}
}

char *kiln_provenance_purl(const char *name, const char *version, const char *architecture)
{
	struct kiln_buf b = KILN_BUF_INIT;

	kiln_buf_adds(&b, "pkg:deb/debian/");
	purl_append(&b, name);
	kiln_buf_addch(&b, '@');
	purl_append(&b, version);
	kiln_buf_adds(&b, "?arch=");
	purl_append(&b, architecture);
	return kiln_buf_detach(&b);
}

char *kiln_provenance_statement(const struct kiln_provenance *p, struct kiln_error *err)
{
	json_t *st, *subject, *pred, *def, *ext, *internal, *deps, *dep, *run, *builder, *version;
	const char *bad = NULL;
	char *out;

	if (!kiln_oci_digest_valid(p->image_digest) || !kiln_oci_digest_valid(p->lock_digest)) {
		kiln_error_set(err, "provenance: malformed digest");
		return NULL;
	}
	subject = json_array();
	dep = json_object();
	json_object_set_new(dep, "name", text("name", p->name, &bad));
	json_object_set_new(dep, "digest", digest_object("sha256", p->image_digest + 7, &bad));
	json_array_append_new(subject, dep);

	ext = json_object();
	json_object_set_new(ext, "manifest", text("manifest path", p->manifest_path, &bad));
	json_object_set_new(ext, "name", text("name", p->name, &bad));
	json_object_set_new(ext, "compression", text("compression", p->compression, &bad));
	if (p->has_source_date)
		json_object_set_new(ext, "sourceDateEpoch", json_integer((json_int_t)p->source_date));
	internal = json_object();
	json_object_set_new(internal, "layerFormat", text("layer format", p->layer_format, &bad));

	deps = json_array();
	dep = json_object();
	json_object_set_new(dep, "name", json_string("source"));
	json_object_set_new(dep, "digest", digest_object("gitCommit", p->commit, &bad));
	json_array_append_new(deps, dep);
	dep = json_object();
	json_object_set_new(dep, "name", text("lock path", p->lock_path, &bad));
	json_object_set_new(dep, "digest", digest_object("sha256", p->lock_digest + 7, &bad));
	json_array_append_new(deps, dep);
	if (p->base_uri) {
		if (!p->base_digest || !kiln_oci_digest_valid(p->base_digest)) {
			json_decref(deps);
			json_decref(subject);
			json_decref(ext);
			json_decref(internal);
			kiln_error_set(err, "provenance: malformed base digest");
			return NULL;
		}
		dep = json_object();
		json_object_set_new(dep, "name", json_string("base"));
		json_object_set_new(dep, "uri", text("base", p->base_uri, &bad));
		json_object_set_new(dep, "digest", digest_object("sha256", p->base_digest + 7, &bad));
		json_array_append_new(deps, dep);
	}
	for (size_t i = 0; i < p->n_packages; i++) {
		const struct kiln_provenance_package *pk = &p->packages[i];
		char *purl = kiln_provenance_purl(pk->name, pk->version, pk->architecture);
		dep = json_object();
		json_object_set_new(dep, "uri", json_string(purl));
		json_object_set_new(dep, "digest", digest_object("sha256", pk->sha256, &bad));
		json_array_append_new(deps, dep);
		free(purl);
	}

	def = json_object();
	json_object_set_new(def, "buildType", json_string(KILN_PROVENANCE_BUILD_TYPE));
	json_object_set_new(def, "externalParameters", ext);
	json_object_set_new(def, "internalParameters", internal);
	json_object_set_new(def, "resolvedDependencies", deps);

	version = json_object();
	json_object_set_new(version, "kiln", text("kiln version", p->kiln_version, &bad));
	builder = json_object();
	json_object_set_new(builder, "id", json_string(KILN_PROVENANCE_BUILDER));
	json_object_set_new(builder, "version", version);
	run = json_object();
	json_object_set_new(run, "builder", builder);

	pred = json_object();
	json_object_set_new(pred, "buildDefinition", def);
	json_object_set_new(pred, "runDetails", run);

	st = json_object();
	json_object_set_new(st, "_type", json_string(KILN_PROVENANCE_STATEMENT));
	json_object_set_new(st, "subject", subject);
	json_object_set_new(st, "predicateType", json_string(KILN_PROVENANCE_PREDICATE));
	json_object_set_new(st, "predicate", pred);
	out = bad ? NULL : json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(st);
	if (!out)
		kiln_error_set(err, "provenance: %s is missing or not valid UTF-8", bad ? bad : "a field");
	return out;
}

static int bad(struct kiln_error *err, const char *what)
{
	kiln_error_set(err, "provenance statement: %s", what);
	return kiln_error_verification(err);
}

static const char *string_at(json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int kiln_provenance_parse(const char *json, size_t len, struct kiln_provenance_info *out,
			  struct kiln_error *err)
{
	json_error_t jerr;
	json_t *st, *subject, *s0, *pred, *def, *ext, *deps, *sde;
	const char *name, *hex, *type, *manifest, *compression, *commit = NULL, *version;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	st = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!st)
		return kiln_error_set(err, "provenance statement: not JSON (%s)", jerr.text),
		       kiln_error_verification(err);
	if (!(type = string_at(st, "_type")) || strcmp(type, KILN_PROVENANCE_STATEMENT) != 0) {
		bad(err, "_type is not " KILN_PROVENANCE_STATEMENT);
		goto out;
	}
	if (!(type = string_at(st, "predicateType")) || strcmp(type, KILN_PROVENANCE_PREDICATE) != 0) {
		bad(err, "predicateType is not " KILN_PROVENANCE_PREDICATE);
		goto out;
	}
	subject = json_object_get(st, "subject");
	s0 = json_array_get(subject, 0);
	if (json_array_size(subject) != 1 || !(name = string_at(s0, "name")) ||
	    !(hex = string_at(json_object_get(s0, "digest"), "sha256"))) {
		bad(err, "expected exactly one subject with a name and a sha256 digest");
		goto out;
	}
	pred = json_object_get(st, "predicate");
	def = json_is_object(pred) ? json_object_get(pred, "buildDefinition") : NULL;
	if (!(type = string_at(def, "buildType")) || strcmp(type, KILN_PROVENANCE_BUILD_TYPE) != 0) {
		bad(err, "buildType is not " KILN_PROVENANCE_BUILD_TYPE);
		goto out;
	}
	ext = json_object_get(def, "externalParameters");
	if (!(manifest = string_at(ext, "manifest")) || !(compression = string_at(ext, "compression"))) {
		bad(err, "externalParameters lacks manifest or compression");
		goto out;
	}
	deps = json_object_get(def, "resolvedDependencies");
	for (size_t i = 0; i < json_array_size(deps); i++) {
		const char *c = string_at(json_object_get(json_array_get(deps, i), "digest"), "gitCommit");
		if (c) {
			if (commit) {
				bad(err, "more than one gitCommit dependency");
				goto out;
			}
			commit = c;
		}
	}
	if (!commit) {
		bad(err, "no gitCommit in resolvedDependencies");
		goto out;
	}
	version = string_at(json_object_get(json_object_get(json_object_get(pred, "runDetails"), "builder"),
					    "version"), "kiln");
	/* The statement is signed, but audit acts on these fields (joins
	 * the manifest path to the work tree): hold them to their form. */
	if (strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40) {
		bad(err, "gitCommit is not a 40-digit commit id");
		goto out;
	}
	if (strcmp(compression, "gzip") != 0 && strcmp(compression, "zstd") != 0) {
		bad(err, "compression is neither gzip nor zstd");
		goto out;
	}
	if (!*manifest || manifest[0] == '/' || strcmp(manifest, "..") == 0 || kiln_str_has_prefix(manifest, "../") ||
	    strstr(manifest, "/../") || kiln_str_has_suffix(manifest, "/..")) {
		bad(err, "the manifest path is not inside the work tree");
		goto out;
	}
	out->subject_name = kiln_xstrdup(name);
	out->subject_digest = kiln_xasprintf("sha256:%s", hex);
	if (!kiln_oci_digest_valid(out->subject_digest)) {
		kiln_provenance_info_release(out);
		bad(err, "subject digest is malformed");
		goto out;
	}
	out->commit = kiln_xstrdup(commit);
	out->manifest_path = kiln_xstrdup(manifest);
	out->compression = kiln_xstrdup(compression);
	out->builder_version = kiln_xstrdup(version ? version : "");
	sde = json_object_get(ext, "sourceDateEpoch");
	if (sde) {
		if (!json_is_integer(sde)) {
			kiln_provenance_info_release(out);
			bad(err, "sourceDateEpoch is not an integer");
			goto out;
		}
		out->has_source_date = true;
		out->source_date = (int64_t)json_integer_value(sde);
	}
	rc = 0;
out:
	json_decref(st);
	return rc;
}

void kiln_provenance_info_release(struct kiln_provenance_info *info)
{
	free(info->subject_name);
	free(info->subject_digest);
	free(info->commit);
	free(info->manifest_path);
	free(info->compression);
	free(info->builder_version);
	memset(info, 0, sizeof(*info));
}
