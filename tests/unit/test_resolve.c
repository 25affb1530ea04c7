/* test_resolve.c - the dependency resolver on small universes written as
 * Packages text, with exact expected closures and messages. */
#include <stdlib.h>
#include <string.h>

#include "packages.h"
#include "resolve.h"
#include "tap.h"
#include "util.h"

#define H1 "0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d"

/* A universe: "name version [Field: value]…" lines, one package per line;
 * fields are separated by ';'.  Architecture defaults to amd64. */
static struct kiln_packages *universe_n(const char *const *sources, size_t n_sources)
{
	struct kiln_packages *idx = kiln_packages_new("amd64");

	for (size_t src = 0; src < n_sources; src++) {
		struct kiln_buf b = KILN_BUF_INIT;
		struct kiln_error err = { 0 };
		const char *line = sources[src];

		while (*line) {
			const char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);
			char *copy = kiln_xstrndup(line, len), *save = NULL;
			char *head = strtok_r(copy, ";", &save), *field;
			char name[128], version[128];
			bool has_arch = false;

			line += len + (nl ? 1 : 0);
			if (!head || sscanf(head, "%127s %127s", name, version) != 2) {
				free(copy);
				continue;
			}
			kiln_buf_printf(&b, "Package: %s\nVersion: %s\n", name, version);
			while ((field = strtok_r(NULL, ";", &save))) {
				while (*field == ' ')
					field++;
				has_arch |= strncmp(field, "Architecture:", 13) == 0;
				kiln_buf_printf(&b, "%s\n", field);
			}
			if (!has_arch)
				kiln_buf_adds(&b, "Architecture: amd64\n");
			kiln_buf_printf(&b, "Filename: pool/%s_%s.deb\nSize: 1\nSHA256: " H1 "\n\n", name,
					version);
			free(copy);
		}
		if (kiln_packages_add_buffer(idx, b.data ? b.data : "", b.len, "Packages", (uint32_t)src,
					     &err) < 0)
			printf("# universe: %s\n", err.message);
		kiln_buf_release(&b);
	}
	return idx;
}

static struct kiln_packages *universe(const char *text)
{
	return universe_n(&text, 1);
}

/* "a=1 b=2" → pins (strings point into a static copy). */
static size_t parse_pins(const char *spec, struct kiln_resolve_pin *pins, char *store, size_t cap)
{
	size_t n = 0;
	char *save = NULL, *tok;

	snprintf(store, cap, "%s", spec ? spec : "");
	for (tok = strtok_r(store, " ", &save); tok && n < 16; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = '\0';
		pins[n].name = tok;
		pins[n].version = eq + 1;
		pins[n].where = NULL;
		n++;
	}
	return n;
}

/* Resolve and render "name=version[*][(dep,dep)] …" in the resolution's
 * order, or "!message" on failure. */
static char *resolve_ex(struct kiln_packages *idx, const char *pins_spec, const char *prefer_spec,
			unsigned *restarts)
{
	static const char *const origins[] = { "debian", "updates", "extra" };
	struct kiln_resolve_pin pins[16], prefer[16];
	char pin_store[512], prefer_store[512];
	struct kiln_resolve_request req = {
		.index = idx,
		.architecture = "amd64",
		.pins = pins,
		.n_pins = parse_pins(pins_spec, pins, pin_store, sizeof(pin_store)),
		.prefer = prefer,
		.n_prefer = parse_pins(prefer_spec, prefer, prefer_store, sizeof(prefer_store)),
		.origin_names = origins,
		.n_origins = 3,
	};
	struct kiln_resolution res;
	struct kiln_error err = { 0 };
	struct kiln_buf out = KILN_BUF_INIT;

	if (kiln_resolve(&req, &res, &err) < 0) {
		kiln_buf_printf(&out, "!%s", err.message);
		CHECK(res.pkgs == NULL && res.n_pkgs == 0);
		return kiln_buf_detach(&out);
	}
	if (restarts)
		*restarts = res.restarts;
	for (size_t i = 0; i < res.n_pkgs; i++) {
		const struct kiln_pkg *p = kiln_packages_get(idx, res.pkgs[i].pkg);
		kiln_buf_printf(&out, "%s%.*s=%.*s%s", i ? " " : "", (int)p->name.len, p->name.ptr,
				(int)p->version.len, p->version.ptr, res.pkgs[i].pinned ? "*" : "");
		if (p->origin)
			kiln_buf_printf(&out, "@%u", p->origin);
		if (res.pkgs[i].n_depends) {
			kiln_buf_addch(&out, '(');
			for (size_t k = 0; k < res.pkgs[i].n_depends; k++)
				kiln_buf_printf(&out, "%s%s", k ? "," : "", res.pkgs[i].depends[k]);
			kiln_buf_addch(&out, ')');
		}
	}
	kiln_resolution_release(&res);
	CHECK(res.pkgs == NULL && res.n_pkgs == 0);
	return kiln_buf_detach(&out);
}

/* Resolve pins (and prefer) in the universe text; compare with want. */
#define CHECK_RESOLVE(text, pins, prefer, want)                              \
	do {                                                                 \
		struct kiln_packages *idx_ = universe(text);                 \
		char *got_ = resolve_ex(idx_, pins, prefer, NULL);           \
		CHECK_STR(got_, want);                                       \
		free(got_);                                                  \
		kiln_packages_free(idx_);                                    \
	} while (0)
#define CHECK_RESOLVE_FAILS(text, pins, prefer, want)                        \
	do {                                                                 \
		struct kiln_packages *idx_ = universe(text);                 \
		char *got_ = resolve_ex(idx_, pins, prefer, NULL);           \
		CHECK(got_ && got_[0] == '!');                               \
		CHECK_CONTAINS(got_, want);                                  \
		free(got_);                                                  \
		kiln_packages_free(idx_);                                    \
	} while (0)

TEST(single_pin)
{
	CHECK_RESOLVE("aa 1", "aa=1", NULL, "aa=1*");
	/* Pins match by dpkg equality, not by spelling. */
	CHECK_RESOLVE("aa 1.0", "aa=1.0", NULL, "aa=1.0*");
	CHECK_RESOLVE("aa 0:1.0", "aa=1.0", NULL, "aa=0:1.0*");
	/* Nothing pinned, nothing resolved. */
	CHECK_RESOLVE("aa 1", "", NULL, "");
	/* Arch: all packages are part of the universe. */
	CHECK_RESOLVE("aa 1; Architecture: all", "aa=1", NULL, "aa=1*");
}

TEST(newest_fitting_version)
{
	const char *u = "aa 1; Depends: bb\n"
			"bb 1\n"
			"bb 3\n"
			"bb 2\n";
	CHECK_RESOLVE(u, "aa=1", NULL, "aa=1*(bb) bb=3");
}

TEST(relations)
{
	const char *versions = "bb 1\nbb 2\nbb 3\nbb 1:0\nbb 2~rc1\n";
	struct {
		const char *dep, *want;
	} cases[] = {
		{ "bb (<< 2)", "bb=2~rc1" },
		{ "bb (<< 2~rc1)", "bb=1" },
		{ "bb (<= 2)", "bb=2" },
		{ "bb (= 2)", "bb=2" },
		{ "bb (>= 2)", "bb=1:0" },
		{ "bb (>> 3)", "bb=1:0" },
		{ "bb (>= 1:0)", "bb=1:0" },
		{ "bb (<< 1:0)", "bb=3" },
		{ "bb (< 2)", "bb=2" },   /* obsolete '<' is '<=' */
		{ "bb (> 3)", "bb=1:0" }, /* obsolete '>' is '>=' */
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		char *text = kiln_xasprintf("aa 1; Depends: %s\n%s", cases[i].dep, versions);
		char *want = kiln_xasprintf("aa=1*(bb) %s", cases[i].want);
		struct kiln_packages *idx = universe(text);
		char *got = resolve_ex(idx, "aa=1", NULL, NULL);
		if (strcmp(got, want) != 0)
			printf("# Depends: %s\n", cases[i].dep);
		CHECK_STR(got, want);
		free(got);
		free(want);
		free(text);
		kiln_packages_free(idx);
	}
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb (>> 1:0)\n bb 1\nbb 1:0", "aa=1", NULL,
			    "cannot satisfy Depends of aa 1: bb (>> 1:0); bb has 1 (debian), 1:0 (debian)");
}

TEST(pre_depends_and_ignored_fields)
{
	CHECK_RESOLVE("aa 1; Pre-Depends: bb; Depends: cc; Recommends: dd; Suggests: ee; Enhances: ff\n"
		      "bb 1\ncc 1\ndd 1\nee 1\nff 1",
		      "aa=1", NULL, "aa=1*(bb,cc) bb=1 cc=1");
	/* Pre-Depends alone. */
	CHECK_RESOLVE("aa 1; Pre-Depends: bb (>= 2)\nbb 1\nbb 2", "aa=1", NULL, "aa=1*(bb) bb=2");
}

TEST(transitive_and_cycles)
{
	CHECK_RESOLVE("aa 1; Depends: bb\nbb 1; Depends: cc\ncc 1; Depends: dd\ndd 1", "aa=1", NULL,
		      "aa=1*(bb) bb=1(cc) cc=1(dd) dd=1");
	/* a -> b -> a */
	CHECK_RESOLVE("aa 1; Depends: bb\nbb 1; Depends: aa", "aa=1", NULL, "aa=1*(bb) bb=1(aa)");
	/* A longer cycle, and a package depending on itself. */
	CHECK_RESOLVE("aa 1; Depends: bb, aa\nbb 1; Depends: cc\ncc 1; Depends: aa (>= 1)", "aa=1", NULL,
		      "aa=1*(bb) bb=1(cc) cc=1(aa)");
	/* A diamond is one copy of the shared package. */
	CHECK_RESOLVE("aa 1; Depends: bb, cc\nbb 1; Depends: dd\ncc 1; Depends: dd (>= 1)\ndd 1\ndd 2", "aa=1", NULL,
		      "aa=1*(bb,cc) bb=1(dd) cc=1(dd) dd=2");
}

TEST(alternatives)
{
	/* The left alternative is missing: the right one is taken. */
	CHECK_RESOLVE("aa 1; Depends: missing | bb\nbb 1", "aa=1", NULL, "aa=1*(bb) bb=1");
	/* Both exist: left to right. */
	CHECK_RESOLVE("aa 1; Depends: cc | bb\nbb 1\ncc 1", "aa=1", NULL, "aa=1*(cc) cc=1");
	/* The left exists but no version fits. */
	CHECK_RESOLVE("aa 1; Depends: cc (>= 2) | bb\nbb 1\ncc 1", "aa=1", NULL, "aa=1*(bb) bb=1");
	/* An alternative already chosen satisfies the clause, whatever its place. */
	CHECK_RESOLVE("aa 1; Depends: cc | bb\nbb 1\ncc 1", "aa=1 bb=1", NULL, "aa=1*(bb) bb=1*");
	/* None fits: the message lists each alternative. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: xx | yy (>= 2) | zz:i386\nyy 1", "aa=1", NULL,
			    "cannot satisfy Depends of aa 1: xx | yy (>= 2) | zz:i386; no source has a package xx; "
			    "yy has 1 (debian); zz:i386 is for another architecture");
}

TEST(virtual_packages)
{
	const char *u = "aa 1; Depends: mta\n"
			"postfix 1; Provides: mta\n"
			"exim4 1; Provides: mta\n";
	/* Two providers and nothing to choose between them: the lock does not
	 * guess (tests/fixtures/README.md, rule 6); the message names both. */
	CHECK_RESOLVE_FAILS(u, "aa=1", NULL,
			    "cannot satisfy Depends of aa 1: mta; mta is a virtual package provided by "
			    "postfix, exim4: pin the one you want in packages:\n  required by: aa 1 (pinned)");
	/* Nor does a previous lock's choice settle it: only a pin does. */
	CHECK_RESOLVE_FAILS(u, "aa=1", "postfix=1", "pin the one you want");
	/* A pinned provider settles it. */
	CHECK_RESOLVE(u, "aa=1 postfix=1", NULL, "aa=1*(postfix) postfix=1*");
	CHECK_RESOLVE(u, "aa=1 exim4=1", NULL, "aa=1*(exim4) exim4=1*");
	/* So does a provider chosen earlier in the closure. */
	CHECK_RESOLVE("aa 1; Depends: bb, mta\nbb 1; Depends: postfix\npostfix 1; Provides: mta\n"
		      "exim4 1; Provides: mta",
		      "aa=1", NULL, "aa=1*(bb,postfix) bb=1(postfix) postfix=1");
	/* …whatever the order the closure is walked in: here postfix comes in
	 * two levels below the clause that needs mta. */
	CHECK_RESOLVE("aa 1; Depends: mta, bb\nbb 1; Depends: cc\ncc 1; Pre-Depends: postfix\n"
		      "postfix 1; Provides: mta\nexim4 1; Provides: mta",
		      "aa=1", NULL, "aa=1*(bb,postfix) bb=1(cc) cc=1(postfix) postfix=1");
	/* Still ambiguous when nothing in the closure settles it. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: mta, bb\nbb 1; Depends: cc\ncc 1\n"
			    "postfix 1; Provides: mta\nexim4 1; Provides: mta",
			    "aa=1", NULL, "mta is a virtual package provided by postfix, exim4");
	/* One provider (in several versions) is no choice: its newest. */
	CHECK_RESOLVE("aa 1; Depends: mta\npostfix 1; Provides: mta\npostfix 2; Provides: mta", "aa=1", NULL,
		      "aa=1*(postfix) postfix=2");
	/* Only providers that fit count: the versioned one here. */
	CHECK_RESOLVE("aa 1; Depends: mta (>= 2)\npostfix 1; Provides: mta\nexim4 1; Provides: mta (= 2)",
		      "aa=1", NULL, "aa=1*(exim4) exim4=1");
	/* A provider that would conflict is not a candidate. */
	CHECK_RESOLVE("aa 1; Depends: mta\npostfix 1; Provides: mta; Conflicts: zz\nexim4 1; Provides: mta\nzz 1",
		      "aa=1 zz=1", NULL, "aa=1*(exim4) exim4=1 zz=1*");
	/* No provider at all. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: mta\n", "aa=1", NULL,
			    "cannot satisfy Depends of aa 1: mta; no source has a package mta");
}

TEST(real_beats_provider)
{
	/* "afoo" sorts before "foo" but the real foo wins. */
	CHECK_RESOLVE("aa 1; Depends: foo\nafoo 1; Provides: foo\nfoo 1", "aa=1", NULL, "aa=1*(foo) foo=1");
	CHECK_RESOLVE("aa 1; Depends: foo\nfoo 1\nafoo 1; Provides: foo (= 1)", "aa=1", NULL, "aa=1*(foo) foo=1");
	/* When no real version fits, a versioned provider may. */
	CHECK_RESOLVE("aa 1; Depends: foo (>= 2)\nfoo 1\nbar 1; Provides: foo (= 2)", "aa=1", NULL,
		      "aa=1*(bar) bar=1");
}

TEST(versioned_provides)
{
	/* A versioned Provides satisfies a versioned dependency it fits. */
	CHECK_RESOLVE("aa 1; Depends: vv (>= 2)\npp 1; Provides: vv (= 3)", "aa=1", NULL, "aa=1*(pp) pp=1");
	CHECK_RESOLVE("aa 1; Depends: vv (= 3)\npp 1; Provides: vv (= 3)", "aa=1", NULL, "aa=1*(pp) pp=1");
	CHECK_RESOLVE_FAILS("aa 1; Depends: vv (>= 4)\npp 1; Provides: vv (= 3)", "aa=1", NULL,
			    "cannot satisfy Depends of aa 1: vv (>= 4); no provider of vv fits");
	/* An unversioned Provides does not satisfy a versioned dependency. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: vv (>= 1)\nqq 1; Provides: vv", "aa=1", NULL,
			    "cannot satisfy Depends of aa 1: vv (>= 1); no provider of vv fits");
	/* …but it satisfies an unversioned one; the versioned one is picked
	 * where only it fits. */
	CHECK_RESOLVE("aa 1; Depends: vv\nqq 1; Provides: vv", "aa=1", NULL, "aa=1*(qq) qq=1");
	CHECK_RESOLVE("aa 1; Depends: vv (>= 1)\nqq 1; Provides: vv\nrr 1; Provides: vv (= 1)", "aa=1", NULL,
		      "aa=1*(rr) rr=1");
	/* A chosen unversioned provider does not count for a versioned clause. */
	CHECK_RESOLVE("aa 1; Depends: vv (>= 1)\nqq 1; Provides: vv\nrr 1; Provides: vv (= 1)", "aa=1 qq=1", NULL,
		      "aa=1*(rr) qq=1* rr=1");
}

TEST(architecture_qualifiers)
{
	CHECK_RESOLVE("aa 1; Depends: python3:any\npython3 3.11; Multi-Arch: allowed", "aa=1", NULL,
		      "aa=1*(python3) python3=3.11");
	CHECK_RESOLVE("aa 1; Depends: bb:amd64, cc:native\nbb 1\ncc 1", "aa=1", NULL, "aa=1*(bb,cc) bb=1 cc=1");
	CHECK_RESOLVE_FAILS("aa 1; Depends: libc6:i386\nlibc6 2", "aa=1", NULL,
			    "cannot satisfy Depends of aa 1: libc6:i386; libc6:i386 is for another architecture");
	CHECK_RESOLVE("aa 1; Depends: libc6:i386 | libc6\nlibc6 2", "aa=1", NULL, "aa=1*(libc6) libc6=2");
	/* A foreign-qualified relation never counts as satisfied by ours. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: libc6:arm64\nlibc6 2", "aa=1 libc6=2", NULL,
			    "libc6:arm64 is for another architecture");
	/* Packages of other architectures are not in the universe. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb\nbb 1; Architecture: i386", "aa=1", NULL,
			    "no source has a package bb");
}

TEST(conflicts)
{
	/* Pins that conflict: both named. */
	CHECK_RESOLVE_FAILS("aa 1; Conflicts: bb\nbb 2", "aa=1 bb=2", NULL,
			    "pinned packages conflict: aa 1 conflicts with or breaks bb 2");
	CHECK_RESOLVE_FAILS("aa 1\nbb 2; Conflicts: aa", "aa=1 bb=2", NULL,
			    "pinned packages conflict: bb 2 conflicts with or breaks aa 1");
	/* A dependency that would conflict with a pin. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: cc\nbb 2\ncc 1; Conflicts: bb", "aa=1 bb=2", NULL,
			    "cannot satisfy Depends of aa 1: cc; cc 1 would conflict with bb 2\n"
			    "  required by: aa 1 (pinned)");
	/* Another version of the dependency without the conflict is taken. */
	CHECK_RESOLVE("aa 1; Depends: cc\nbb 2\ncc 1\ncc 2; Conflicts: bb", "aa=1 bb=2", NULL, "aa=1*(cc) bb=2* cc=1");
	/* Conflicts on a virtual name hit its providers, not the package itself. */
	CHECK_RESOLVE("postfix 1; Provides: mta; Conflicts: mta", "postfix=1", NULL, "postfix=1*");
	CHECK_RESOLVE_FAILS("postfix 1; Provides: mta; Conflicts: mta\nexim4 1; Provides: mta",
			    "postfix=1 exim4=1", NULL, "pinned packages conflict: postfix 1 conflicts with or breaks exim4 1");
	/* Versioned conflicts apply only to the versions they name. */
	CHECK_RESOLVE("aa 1; Conflicts: bb (<< 2)\nbb 2", "aa=1 bb=2", NULL, "aa=1* bb=2*");
	/* A conflict with a foreign-architecture package is not one with ours. */
	CHECK_RESOLVE("aa 1; Conflicts: bb:i386\nbb 2", "aa=1 bb=2", NULL, "aa=1* bb=2*");
}

TEST(breaks)
{
	/* Breaks only when the broken version is chosen. */
	CHECK_RESOLVE("cc 1; Breaks: bb (<< 2)\nbb 1\nbb 2", "cc=1 bb=2", NULL, "bb=2* cc=1*");
	CHECK_RESOLVE_FAILS("cc 1; Breaks: bb (<< 2)\nbb 1\nbb 2", "cc=1 bb=1", NULL,
			    "pinned packages conflict: cc 1 conflicts with or breaks bb 1");
	/* In the closure: the unbroken version is picked. */
	CHECK_RESOLVE("aa 1; Depends: bb\ncc 1; Breaks: bb (>= 2)\nbb 1\nbb 2", "aa=1 cc=1", NULL,
		      "aa=1*(bb) bb=1 cc=1*");
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb (>= 2)\ncc 1; Breaks: bb (>= 2)\nbb 1\nbb 2", "aa=1 cc=1", NULL,
			    "cannot satisfy Depends of aa 1: bb (>= 2); bb 2 would conflict with cc 1");
}

TEST(unsatisfiable_chain)
{
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb\nbb 1; Depends: cc (>= 5)\ncc 1\ncc 2", "aa=1", NULL,
			    "cannot satisfy Depends of bb 1: cc (>= 5); cc has 1 (debian), 2 (debian)\n"
			    "  required by: aa 1 (pinned) -> bb 1");
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb\nbb 1; Depends: cc\ncc 1; Pre-Depends: dd", "aa=1", NULL,
			    "cannot satisfy Pre-Depends of cc 1: dd; no source has a package dd\n"
			    "  required by: aa 1 (pinned) -> bb 1 -> cc 1");
	/* A pin already chosen at another version is named. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb (>= 2)\nbb 1\nbb 2", "aa=1 bb=1", NULL,
			    "cannot satisfy Depends of aa 1: bb (>= 2); bb 1 is already chosen\n"
			    "  required by: aa 1 (pinned)");
}

TEST(bad_fields_in_closure)
{
	/* A malformed dependency field is an error naming the package. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb (>= 1", "aa=1", NULL, "aa 1: Depends: bb: expected ')'");
	CHECK_RESOLVE_FAILS("aa 1; Pre-Depends: bb,, cc", "aa=1", NULL, "aa 1: Pre-Depends: expected a package name");
	CHECK_RESOLVE_FAILS("aa 1; Conflicts: bb | cc", "aa=1", NULL, "aa 1: Conflicts: alternatives");
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb\nbb 1; Breaks: (", "aa=1", NULL, "bb 1: Breaks: expected a package name");
}

TEST(pin_errors)
{
	CHECK_RESOLVE_FAILS("bb 1\nbb 2", "bb=9", NULL,
			    "packages.bb: version \"9\" is in no source; available: 1 (debian), 2 (debian)");
	CHECK_RESOLVE_FAILS("xx 1\npostfix 1; Provides: mta\nexim4 1; Provides: mta", "mta=1", NULL,
			    "packages.mta: a virtual package; pin one of its providers instead: postfix, exim4");
	CHECK_RESOLVE_FAILS("xx 1", "nothere=1", NULL, "packages.nothere: no source has a package of that name");
	/* With a place in the manifest. */
	struct kiln_packages *idx = universe("bb 1");
	struct kiln_resolve_pin pin = { "bb", "2", "kiln.yaml:7:5" };
	struct kiln_resolve_request req = { .index = idx, .architecture = "amd64", .pins = &pin, .n_pins = 1 };
	struct kiln_resolution res;
	struct kiln_error err = { 0 };
	CHECK(kiln_resolve(&req, &res, &err) == -1);
	CHECK_STR(err.message, "kiln.yaml:7:5: packages.bb: version \"2\" is in no source; available: 1 (?)");
	kiln_packages_free(idx);
	/* Many versions are cut short. */
	struct kiln_buf b = KILN_BUF_INIT;
	for (int i = 1; i <= 30; i++)
		kiln_buf_printf(&b, "mm %d\n", i);
	idx = universe(b.data);
	char *got = resolve_ex(idx, "mm=99", NULL, NULL);
	CHECK_CONTAINS(got, "20 (debian), …");
	CHECK(got && !strstr(got, "21 (debian)"));
	free(got);
	kiln_packages_free(idx);
	kiln_buf_release(&b);
}

TEST(prefer)
{
	const char *u = "aa 1; Depends: bb (>= 1)\nbb 1\nbb 2\nbb 3";
	/* The previously locked version is kept while it still fits. */
	CHECK_RESOLVE(u, "aa=1", "bb=2", "aa=1*(bb) bb=2");
	/* Versions compare as dpkg does: 2.0 is not 2. */
	CHECK_RESOLVE(u, "aa=1", "bb=2.0", "aa=1*(bb) bb=3");
	/* One that no longer fits (or no longer exists) gives way to the newest. */
	CHECK_RESOLVE("aa 1; Depends: bb (>= 2)\nbb 1\nbb 2\nbb 3", "aa=1", "bb=1", "aa=1*(bb) bb=3");
	CHECK_RESOLVE(u, "aa=1", "bb=7", "aa=1*(bb) bb=3");
	/* Preferences of other names change nothing. */
	CHECK_RESOLVE(u, "aa=1", "cc=1 aa=0", "aa=1*(bb) bb=3");
	/* Prefer never overrides a pin. */
	CHECK_RESOLVE("aa 1; Depends: bb\nbb 1\nbb 2", "aa=1 bb=2", "bb=1", "aa=1*(bb) bb=2*");
}

TEST(backtracking)
{
	/* A needs B >= 1 (newest 3); C needs B << 2: B 1 is the answer. */
	struct kiln_packages *idx = universe("aa 1; Depends: bb (>= 1)\n"
					     "cc 1; Depends: bb (<< 2)\n"
					     "bb 1\nbb 2\nbb 3\nbb 1.5\n");
	unsigned restarts = 0;
	char *got = resolve_ex(idx, "aa=1 cc=1", NULL, &restarts);
	CHECK_STR(got, "aa=1*(bb) bb=1.5 cc=1*(bb)");
	CHECK(restarts == 2); /* 3 and 2 set aside */
	free(got);
	kiln_packages_free(idx);

	/* Deeper: the revised package was pulled in transitively. */
	CHECK_RESOLVE("aa 1; Depends: xx\nxx 1; Depends: bb\ncc 1; Depends: yy\nyy 1; Depends: bb (= 1)\nbb 1\nbb 2",
		      "aa=1 cc=1", NULL, "aa=1*(xx) bb=1 cc=1*(yy) xx=1(bb) yy=1(bb)");

	/* Requirements no version meets together fail, naming what was set
	 * aside and which relation ruled it out. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb (= 1)\ncc 1; Depends: bb (= 2)\nbb 1\nbb 2", "aa=1 cc=1", NULL,
			    "cannot satisfy Depends of aa 1: bb (= 1); bb has 1 (debian), 2 (debian)\n"
			    "  required by: aa 1 (pinned)\n"
			    "  set aside bb 1: cannot satisfy Depends of cc 1: bb (= 2)");
}

TEST(no_backtracking_around_conflicts)
{
	/* bb 2 is chosen first and cc (needed later) conflicts with it.  By
	 * decision (tests/fixtures/README.md, rule 7) nothing backtracks
	 * around a conflict: the error names both packages and the chain. */
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb, dd\ndd 1; Depends: cc\nbb 1\nbb 2\ncc 1; Conflicts: bb (>= 2)",
			    "aa=1", NULL,
			    "cannot satisfy Depends of dd 1: cc; cc 1 would conflict with bb 2\n"
			    "  required by: aa 1 (pinned) -> dd 1");
	CHECK_RESOLVE_FAILS("aa 1; Depends: bb, dd\ndd 1; Depends: cc\nbb 1\nbb 2; Breaks: cc\ncc 1",
			    "aa=1", NULL, "cc 1 would conflict with bb 2");
}

TEST(depends_lists)
{
	CHECK_RESOLVE("aa 1; Pre-Depends: zz; Depends: bb, cc | dd, mta, bb (>= 1), aa, ee:any\n"
		      "bb 1\ncc 1\ndd 1\nzz 1\nee 1\npostfix 1; Provides: mta",
		      "aa=1", NULL, "aa=1*(bb,cc,ee,postfix,zz) bb=1 cc=1 ee=1 postfix=1 zz=1");
	/* A package satisfied by itself through Provides lists nothing. */
	CHECK_RESOLVE("aa 1; Depends: vv; Provides: vv", "aa=1", NULL, "aa=1*");
}

TEST(sources_order)
{
	/* The same version in two sources: the earlier source wins; a newer
	 * version in a later source still wins on version. */
	const char *two[] = { "aa 1; Depends: bb, cc\nbb 1\ncc 1", "bb 1\ncc 2" };
	struct kiln_packages *idx = universe_n(two, 2);
	char *got = resolve_ex(idx, "aa=1", NULL, NULL);
	CHECK_STR(got, "aa=1*(bb,cc) bb=1 cc=2@1");
	free(got);
	got = resolve_ex(idx, "aa=1 cc=9", NULL, NULL);
	CHECK_STR(got, "!packages.cc: version \"9\" is in no source; available: 1 (debian), 2 (updates)");
	free(got);
	kiln_packages_free(idx);
	/* A pin of a version in both sources takes the first. */
	const char *dup[] = { "xx 1", "yy 1", "xx 1" };
	idx = universe_n(dup, 3);
	got = resolve_ex(idx, "xx=1", NULL, NULL);
	CHECK_STR(got, "xx=1*");
	free(got);
	kiln_packages_free(idx);
}

TEST(large_closure)
{
	/* A chain of 2000 packages and a wide fan-out. */
	struct kiln_buf b = KILN_BUF_INIT;
	for (int i = 0; i < 2000; i++)
		kiln_buf_printf(&b, "p%d 1; Depends: p%d, q%d | r%d\nq%d 1\n", i, i + 1, i, i, i);
	kiln_buf_adds(&b, "p2000 1\n");
	struct kiln_packages *idx = universe(b.data);
	struct kiln_resolve_pin pin = { "p0", "1", NULL };
	struct kiln_resolve_request req = { .index = idx, .architecture = "amd64", .pins = &pin, .n_pins = 1 };
	struct kiln_resolution res;
	struct kiln_error err = { 0 };
	CHECK(kiln_resolve(&req, &res, &err) == 0);
	CHECK(res.n_pkgs == 4001);
	/* Sorted by name (byte order). */
	bool sorted = true;
	for (size_t i = 1; i < res.n_pkgs; i++) {
		const struct kiln_pkg *x = kiln_packages_get(idx, res.pkgs[i - 1].pkg);
		const struct kiln_pkg *y = kiln_packages_get(idx, res.pkgs[i].pkg);
		size_t m = x->name.len < y->name.len ? x->name.len : y->name.len;
		int c = memcmp(x->name.ptr, y->name.ptr, m);
		if (c > 0 || (c == 0 && x->name.len >= y->name.len))
			sorted = false;
	}
	CHECK(sorted);
	kiln_resolution_release(&res);
	kiln_packages_free(idx);
	kiln_buf_release(&b);

	/* The chain in a message is bounded. */
	b = (struct kiln_buf)KILN_BUF_INIT;
	for (int i = 0; i < 200; i++)
		kiln_buf_printf(&b, "p%d 1; Depends: p%d\n", i, i + 1);
	idx = universe(b.data);
	char *got = resolve_ex(idx, "p0=1", NULL, NULL);
	CHECK_CONTAINS(got, "cannot satisfy Depends of p199 1: p200; no source has a package p200");
	CHECK(got && strlen(got) < KILN_ERROR_MAX);
	free(got);
	kiln_packages_free(idx);
	kiln_buf_release(&b);
}

int main(void)
{
	RUN(single_pin);
	RUN(newest_fitting_version);
	RUN(relations);
	RUN(pre_depends_and_ignored_fields);
	RUN(transitive_and_cycles);
	RUN(alternatives);
	RUN(virtual_packages);
	RUN(real_beats_provider);
	RUN(versioned_provides);
	RUN(architecture_qualifiers);
	RUN(conflicts);
	RUN(breaks);
	RUN(unsatisfiable_chain);
	RUN(bad_fields_in_closure);
	RUN(pin_errors);
	RUN(prefer);
	RUN(backtracking);
	RUN(no_backtracking_around_conflicts);
	RUN(depends_lists);
	RUN(sources_order);
	RUN(large_closure);
	return tap_done();
}
