/* test_provenance.c - in-toto Statement v1 with SLSA provenance v1: the
 * statement is deterministic and says what went in (subject, commit, every
 * package as a purl with its sha256, no timestamps), purls are encoded as
 * the spec wants, parsing reads back what was written, and hostile
 * statements are refused with exit 3. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "provenance.h"
#include "tap.h"
#include "util.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define HEX_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define HEX_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"

static const struct kiln_provenance_package packages[] = {
	{ "base-files", "12.4+deb12u5", "amd64", HEX_C },
	{ "libc6", "2.36-9+deb12u4", "amd64", HEX_D },
	{ "tzdata", "1:2024a-0+deb12u1~rc1", "all", HEX_E },
};

static struct kiln_provenance sample(void)
{
	struct kiln_provenance p = {
		.name = "hello-web",
		.image_digest = "sha256:" HEX_A,
		.commit = COMMIT,
		.manifest_path = "images/hello-web.yaml",
		.lock_path = "images/hello-web.lock",
		.lock_digest = "sha256:" HEX_B,
		.compression = "zstd",
		.has_source_date = true,
		.source_date = 1700000000,
		.layer_format = "3",
		.kiln_version = "0.4.0",
		.packages = packages,
		.n_packages = sizeof(packages) / sizeof(packages[0]),
	};
	return p;
}

static char *statement_of(const struct kiln_provenance *p)
{
	struct kiln_error err = { 0 };
	char *s = kiln_provenance_statement(p, &err);

	if (!s)
		printf("# statement: %s\n", err.message);
	return s;
}

/* Parse must refuse json as a failed verification (message containing want
 * when not NULL) and leave nothing behind. */
static bool refused_len(const char *json, size_t len, const char *want)
{
	struct kiln_error err = { 0 };
	struct kiln_provenance_info info;
	bool ok;

	if (kiln_provenance_parse(json, len, &info, &err) == 0) {
		printf("# accepted: %.*s\n", (int)len, json);
		kiln_provenance_info_release(&info);
		return false;
	}
	ok = err.code == KILN_EXIT_VERIFY && (!want || strstr(err.message, want));
	if (!ok)
		printf("# code %d, message \"%s\" (want \"%s\")\n", err.code, err.message, want ? want : "");
	return ok && !info.subject_name && !info.subject_digest && !info.commit && !info.manifest_path &&
	       !info.compression && !info.builder_version;
}

static bool refused(const char *json, const char *want)
{
	return refused_len(json, strlen(json), want);
}

/* The sample statement as a jansson tree, to edit. */
static json_t *sample_tree(void)
{
	struct kiln_provenance p = sample();
	_cleanup_free_ char *s = statement_of(&p);
	return s ? json_loads(s, 0, NULL) : NULL;
}

static char *dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static json_t *def_of(json_t *st)
{
	return json_object_get(json_object_get(st, "predicate"), "buildDefinition");
}

static json_t *deps_of(json_t *st)
{
	return json_object_get(def_of(st), "resolvedDependencies");
}

static json_t *ext_of(json_t *st)
{
	return json_object_get(def_of(st), "externalParameters");
}

TEST(statement_is_deterministic)
{
	struct kiln_provenance p = sample(), q = sample();
	_cleanup_free_ char *a = statement_of(&p), *b = statement_of(&p), *c = NULL;
	/* Copies of the inputs, not the same pointers. */
	_cleanup_free_ char *name = kiln_xstrdup("hello-web"), *path = kiln_xstrdup("images/hello-web.yaml");

	CHECK(a && b && strcmp(a, b) == 0);
	q.name = name;
	q.manifest_path = path;
	c = statement_of(&q);
	CHECK(a && c && strcmp(a, c) == 0);
	/* Compact, no newline. */
	CHECK(a && !strchr(a, '\n') && !strchr(a, ' '));
}

TEST(statement_contents)
{
	struct kiln_provenance p = sample();
	_cleanup_free_ char *s = statement_of(&p);
	json_t *st, *subject, *deps, *ext;
	size_t n_pkg = 0;

	if (!s)
		return;
	CHECK(kiln_str_has_prefix(s, "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{"));
	CHECK(strstr(s, "\"predicateType\":\"https://slsa.dev/provenance/v1\"") != NULL);
	CHECK(strstr(s, "\"subject\":[{\"digest\":{\"sha256\":\"" HEX_A "\"},\"name\":\"hello-web\"}]") != NULL);
	CHECK(strstr(s, "{\"digest\":{\"gitCommit\":\"" COMMIT "\"},\"name\":\"source\"}") != NULL);
	CHECK(strstr(s, "{\"digest\":{\"sha256\":\"" HEX_B "\"},\"name\":\"images/hello-web.lock\"}") != NULL);
	CHECK(strstr(s, "\"buildType\":\"" KILN_PROVENANCE_BUILD_TYPE "\"") != NULL);
	CHECK(strstr(s, "\"builder\":{\"id\":\"" KILN_PROVENANCE_BUILDER "\",\"version\":{\"kiln\":\"0.4.0\"}}") != NULL);
	CHECK(strstr(s, "\"internalParameters\":{\"layerFormat\":\"3\"}") != NULL);
	CHECK(strstr(s, "\"externalParameters\":{\"compression\":\"zstd\",\"manifest\":\"images/hello-web.yaml\","
			"\"name\":\"hello-web\",\"sourceDateEpoch\":1700000000}") != NULL);
	CHECK(strstr(s, "{\"digest\":{\"sha256\":\"" HEX_C "\"},\"uri\":\"pkg:deb/debian/base-files@12.4+deb12u5?arch=amd64\"}") != NULL);
	CHECK(strstr(s, "{\"digest\":{\"sha256\":\"" HEX_D "\"},\"uri\":\"pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64\"}") != NULL);
	CHECK(strstr(s, "{\"digest\":{\"sha256\":\"" HEX_E "\"},\"uri\":\"pkg:deb/debian/tzdata@1:2024a-0+deb12u1~rc1?arch=all\"}") != NULL);
	/* Nothing about when or where it was built. */
	CHECK(strstr(s, "startedOn") == NULL);
	CHECK(strstr(s, "finishedOn") == NULL);
	CHECK(strstr(s, "metadata") == NULL);
	CHECK(strstr(s, "invocationId") == NULL);
	CHECK(strstr(s, "byproducts") == NULL);
	CHECK(strstr(s, "hostname") == NULL);
	for (const char *c = s; c[0] && c[1] && c[2] && c[3] && c[4] && c[5]; c++)
		if (c[0] >= '0' && c[0] <= '9' && c[1] >= '0' && c[1] <= '9' && c[2] == ':' && c[3] >= '0' &&
		    c[3] <= '9' && c[4] >= '0' && c[4] <= '9' && c[5] == ':') {
			CHECK(!"a time of day in the statement");
			break;
		}

	/* The same, structurally: one subject, source + lock + 3 packages. */
	st = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	CHECK(st != NULL);
	subject = json_object_get(st, "subject");
	CHECK(json_array_size(subject) == 1);
	deps = deps_of(st);
	CHECK(json_array_size(deps) == 5);
	for (size_t i = 0; i < json_array_size(deps); i++) {
		json_t *dep = json_array_get(deps, i);
		const char *uri = json_string_value(json_object_get(dep, "uri"));
		if (uri && kiln_str_has_prefix(uri, "pkg:deb/debian/")) {
			CHECK(json_object_size(json_object_get(dep, "digest")) == 1);
			CHECK(json_string_length(json_object_get(json_object_get(dep, "digest"), "sha256")) == 64);
			n_pkg++;
		}
	}
	CHECK(n_pkg == 3);
	ext = ext_of(st);
	CHECK(json_object_size(ext) == 4);
	json_decref(st);
}

TEST(statement_without_source_date_or_packages)
{
	struct kiln_provenance p = sample();
	_cleanup_free_ char *s = NULL;

	p.has_source_date = false;
	p.n_packages = 0;
	p.packages = NULL;
	p.compression = "gzip";
	s = statement_of(&p);
	CHECK(s && strstr(s, "sourceDateEpoch") == NULL);
	CHECK(s && strstr(s, "pkg:") == NULL);
	CHECK(s && strstr(s, "\"compression\":\"gzip\"") != NULL);
}

TEST(statement_refuses_bad_input)
{
	struct kiln_error err = { 0 };
	struct kiln_provenance p = sample();
	char *s;

	p.image_digest = "sha256:" HEX_A "a";
	s = kiln_provenance_statement(&p, &err);
	CHECK(s == NULL);
	CHECK_CONTAINS(err.message, "malformed digest");
	free(s);
	p = sample();
	p.lock_digest = "sha256:XYZ";
	kiln_error_clear(&err);
	s = kiln_provenance_statement(&p, &err);
	CHECK(s == NULL);
	free(s);
	/* A path that is not UTF-8 (git allows any bytes): refused, never a
	 * statement that silently lacks the member. */
	p = sample();
	p.manifest_path = "images/\xff.yaml";
	kiln_error_clear(&err);
	s = kiln_provenance_statement(&p, &err);
	CHECK(s == NULL);
	CHECK_CONTAINS(err.message, "UTF-8");
	free(s);
	p = sample();
	p.lock_path = "images/\xc3(.lock";
	kiln_error_clear(&err);
	s = kiln_provenance_statement(&p, &err);
	CHECK(s == NULL);
	CHECK_CONTAINS(err.message, "UTF-8");
	free(s);
	/* UTF-8 that is valid is kept (escaped or not, but present). */
	p = sample();
	p.manifest_path = "images/caf\xc3\xa9.yaml";
	s = kiln_provenance_statement(&p, &err);
	CHECK(s && strstr(s, "\"manifest\":\"images/caf\xc3\xa9.yaml\"") != NULL);
	free(s);
}

TEST(purl_encoding)
{
	static const struct {
		const char *name, *version, *arch, *want;
	} cases[] = {
		{ "libc6", "2.36-9", "amd64", "pkg:deb/debian/libc6@2.36-9?arch=amd64" },
		{ "x", "1:2.3-1", "amd64", "pkg:deb/debian/x@1:2.3-1?arch=amd64" },
		{ "g++-12", "12.2.0-14+deb12u1", "arm64", "pkg:deb/debian/g++-12@12.2.0-14+deb12u1?arch=arm64" },
		{ "y", "1.0~rc1-1", "all", "pkg:deb/debian/y@1.0~rc1-1?arch=all" },
		{ "lib_x.y", "0", "amd64", "pkg:deb/debian/lib_x.y@0?arch=amd64" },
		{ "a b", "1 2", "am d", "pkg:deb/debian/a%20b@1%202?arch=am%20d" },
		{ "a/b", "1@2", "x?y", "pkg:deb/debian/a%2Fb@1%402?arch=x%3Fy" },
		{ "p%", "#1", "a&b=c", "pkg:deb/debian/p%25@%231?arch=a%26b%3Dc" },
		{ "\xff\x01", "\x7f", "\xc3\xa9", "pkg:deb/debian/%FF%01@%7F?arch=%C3%A9" },
		{ "", "", "", "pkg:deb/debian/@?arch=" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *purl = kiln_provenance_purl(cases[i].name, cases[i].version, cases[i].arch);
		CHECK_STR(purl, cases[i].want);
	}
}

TEST(parse_round_trip)
{
	struct kiln_error err = { 0 };
	struct kiln_provenance p = sample();
	struct kiln_provenance_info info;
	_cleanup_free_ char *s = statement_of(&p), *t = NULL;

	if (!s)
		return;
	CHECK(kiln_provenance_parse(s, strlen(s), &info, &err) == 0);
	CHECK_STR(info.subject_name, "hello-web");
	CHECK_STR(info.subject_digest, "sha256:" HEX_A);
	CHECK_STR(info.commit, COMMIT);
	CHECK_STR(info.manifest_path, "images/hello-web.yaml");
	CHECK_STR(info.compression, "zstd");
	CHECK(info.has_source_date && info.source_date == 1700000000);
	CHECK_STR(info.builder_version, "0.4.0");
	kiln_provenance_info_release(&info);

	p.has_source_date = false;
	p.compression = "gzip";
	p.packages = NULL;
	p.n_packages = 0;
	t = statement_of(&p);
	CHECK(t && kiln_provenance_parse(t, strlen(t), &info, &err) == 0);
	CHECK(!info.has_source_date && info.source_date == 0);
	CHECK_STR(info.compression, "gzip");
	kiln_provenance_info_release(&info);
	free(t);

	/* Negative and large dates survive. */
	p.has_source_date = true;
	p.source_date = -1;
	t = statement_of(&p);
	CHECK(t && kiln_provenance_parse(t, strlen(t), &info, &err) == 0);
	CHECK(info.has_source_date && info.source_date == -1);
	kiln_provenance_info_release(&info);
	free(t);
	p.source_date = INT64_MAX;
	t = statement_of(&p);
	CHECK(t && kiln_provenance_parse(t, strlen(t), &info, &err) == 0);
	CHECK(info.source_date == INT64_MAX);
	kiln_provenance_info_release(&info);
	free(t);
	t = NULL;

	/* Without a builder version: parsed as "". */
	{
		json_t *st = sample_tree();
		json_object_del(json_object_get(st, "predicate"), "runDetails");
		t = dump(st);
		CHECK(kiln_provenance_parse(t, strlen(t), &info, &err) == 0);
		CHECK_STR(info.builder_version, "");
		kiln_provenance_info_release(&info);
	}
	/* Releasing twice is harmless. */
	kiln_provenance_info_release(&info);
}

/* Edit the sample and expect a refusal. */
#define EDIT_REFUSED(want, ...)                           \
	do {                                              \
		json_t *st = sample_tree();               \
		char *t_;                                 \
		__VA_ARGS__;                              \
		t_ = dump(st);                            \
		if (!refused(t_, want))                   \
			CHECK(!"refused: " #__VA_ARGS__); \
		free(t_);                                 \
	} while (0)

TEST(hostile_types)
{
	EDIT_REFUSED("_type", json_object_set_new(st, "_type", json_string("https://in-toto.io/Statement/v0.1")));
	EDIT_REFUSED("_type", json_object_set_new(st, "_type", json_integer(1)));
	EDIT_REFUSED("_type", json_object_del(st, "_type"));
	EDIT_REFUSED("predicateType",
		     json_object_set_new(st, "predicateType", json_string("https://slsa.dev/provenance/v0.2")));
	EDIT_REFUSED("predicateType", json_object_del(st, "predicateType"));
	EDIT_REFUSED("buildType", json_object_set_new(def_of(st), "buildType", json_string("https://evil/")));
	EDIT_REFUSED("buildType", json_object_del(def_of(st), "buildType"));
	EDIT_REFUSED("buildType", json_object_set_new(st, "predicate", json_string("x")));
	EDIT_REFUSED("buildType", json_object_set_new(st, "predicate", json_array()));
	EDIT_REFUSED("buildType", json_object_set_new(json_object_get(st, "predicate"), "buildDefinition",
						      json_array()));
}

TEST(hostile_subjects)
{
	EDIT_REFUSED("one subject", json_array_clear(json_object_get(st, "subject")));
	EDIT_REFUSED("one subject", {
		json_t *subject = json_object_get(st, "subject");
		json_array_append_new(subject, json_deep_copy(json_array_get(subject, 0)));
	});
	EDIT_REFUSED("one subject", json_object_del(st, "subject"));
	EDIT_REFUSED("one subject", json_object_set_new(st, "subject", json_object()));
	EDIT_REFUSED("one subject", json_object_set_new(st, "subject", json_string("x")));
	EDIT_REFUSED("one subject", json_object_del(json_array_get(json_object_get(st, "subject"), 0), "digest"));
	EDIT_REFUSED("one subject", json_object_del(json_array_get(json_object_get(st, "subject"), 0), "name"));
	EDIT_REFUSED("one subject", json_object_set_new(json_array_get(json_object_get(st, "subject"), 0), "name",
							json_integer(1)));
	EDIT_REFUSED("one subject", json_object_set_new(json_array_get(json_object_get(st, "subject"), 0), "digest",
							json_string(HEX_A)));
	EDIT_REFUSED("one subject", {
		json_t *d = json_object_get(json_array_get(json_object_get(st, "subject"), 0), "digest");
		json_object_del(d, "sha256");
		json_object_set_new(d, "sha512", json_string(HEX_A HEX_A));
	});
	EDIT_REFUSED("one subject", json_array_set_new(json_object_get(st, "subject"), 0, json_string("x")));
	EDIT_REFUSED("malformed", json_object_set_new(json_object_get(json_array_get(json_object_get(st, "subject"), 0),
								      "digest"),
						      "sha256", json_string("AAAA")));
	EDIT_REFUSED("malformed", json_object_set_new(json_object_get(json_array_get(json_object_get(st, "subject"), 0),
								      "digest"),
						      "sha256", json_string(HEX_A "a")));
	EDIT_REFUSED("malformed", json_object_set_new(json_object_get(json_array_get(json_object_get(st, "subject"), 0),
								      "digest"),
						      "sha256", json_string("")));
}

TEST(hostile_dependencies)
{
	EDIT_REFUSED("more than one gitCommit", {
		json_t *deps = deps_of(st);
		json_array_append_new(deps, json_deep_copy(json_array_get(deps, 0)));
	});
	EDIT_REFUSED("more than one gitCommit", {
		json_t *deps = deps_of(st);
		json_t *other = json_pack("{s:s,s:{s:s}}", "name", "other", "digest", "gitCommit",
					  "89abcdef0123456789abcdef0123456789abcdef");
		json_array_insert_new(deps, 0, other);
	});
	EDIT_REFUSED("no gitCommit", json_array_remove(deps_of(st), 0));
	EDIT_REFUSED("no gitCommit", json_object_del(def_of(st), "resolvedDependencies"));
	EDIT_REFUSED("no gitCommit", json_object_set_new(def_of(st), "resolvedDependencies", json_object()));
	EDIT_REFUSED("no gitCommit", json_object_set_new(json_object_get(json_array_get(deps_of(st), 0), "digest"),
							 "gitCommit", json_integer(1)));
	EDIT_REFUSED("externalParameters", json_object_del(ext_of(st), "manifest"));
	EDIT_REFUSED("externalParameters", json_object_del(ext_of(st), "compression"));
	EDIT_REFUSED("externalParameters", json_object_set_new(ext_of(st), "manifest", json_null()));
	EDIT_REFUSED("externalParameters", json_object_del(def_of(st), "externalParameters"));
}

TEST(hostile_source_date)
{
	EDIT_REFUSED("sourceDateEpoch", json_object_set_new(ext_of(st), "sourceDateEpoch", json_string("1700000000")));
	EDIT_REFUSED("sourceDateEpoch", json_object_set_new(ext_of(st), "sourceDateEpoch", json_real(1700000000.5)));
	EDIT_REFUSED("sourceDateEpoch", json_object_set_new(ext_of(st), "sourceDateEpoch", json_real(1700000000.0)));
	EDIT_REFUSED("sourceDateEpoch", json_object_set_new(ext_of(st), "sourceDateEpoch", json_true()));
	EDIT_REFUSED("sourceDateEpoch", json_object_set_new(ext_of(st), "sourceDateEpoch", json_null()));
	EDIT_REFUSED("sourceDateEpoch", json_object_set_new(ext_of(st), "sourceDateEpoch", json_array()));
}

TEST(hostile_text)
{
	struct kiln_provenance p = sample();
	_cleanup_free_ char *s = statement_of(&p);
	char *t;

	CHECK(refused("", "not JSON"));
	CHECK(refused("{", "not JSON"));
	CHECK(refused("garbage", "not JSON"));
	CHECK(refused("null", "not JSON"));
	CHECK(refused("\"https://in-toto.io/Statement/v1\"", "not JSON"));
	CHECK(refused("[]", "_type"));
	CHECK(refused("[{\"_type\":\"https://in-toto.io/Statement/v1\"}]", "_type"));
	CHECK(refused("{}", "_type"));
	if (!s)
		return;
	/* Truncated anywhere: refused. */
	for (size_t n = 0; n < strlen(s); n++)
		if (!refused_len(s, n, NULL)) {
			printf("# truncated to %zu bytes\n", n);
			CHECK(!"truncated statement accepted");
			break;
		}
	/* Duplicate keys, where a lenient parser would take the last. */
	t = kiln_xasprintf("{\"_type\":\"x\",%s", s + 1);
	CHECK(refused(t, "duplicate"));
	free(t);
	{
		const char *at = strstr(s, "\"subject\":");
		t = kiln_xasprintf("%.*s\"subject\":[],%s", (int)(at - s), s, at);
		CHECK(refused(t, "duplicate"));
		free(t);
		at = strstr(s, "{\"gitCommit\":");
		t = kiln_xasprintf("%.*s{\"gitCommit\":\"89abcdef0123456789abcdef0123456789abcdef\",%s", (int)(at - s), s,
				   at + 1);
		CHECK(refused(t, "duplicate"));
		free(t);
	}
	/* Trailing data, a NUL inside a string, invalid UTF-8. */
	t = kiln_xasprintf("%s{}", s);
	CHECK(refused(t, "not JSON"));
	free(t);
	{
		size_t len = strlen(s);
		_cleanup_free_ char *nul = kiln_xmalloc(len + 1);
		memcpy(nul, s, len + 1);
		CHECK(refused_len(nul, len + 1, "not JSON"));
		t = kiln_xstrdup(s);
		*strstr(t, "hello-web") = '\xff';
		CHECK(refused(t, "not JSON"));
		free(t);
	}
}

int main(void)
{
	RUN(statement_is_deterministic);
	RUN(statement_contents);
	RUN(statement_without_source_date_or_packages);
	RUN(statement_refuses_bad_input);
	RUN(purl_encoding);
	RUN(parse_round_trip);
	RUN(hostile_types);
	RUN(hostile_subjects);
	RUN(hostile_dependencies);
	RUN(hostile_source_date);
	RUN(hostile_text);
	return tap_done();
}
