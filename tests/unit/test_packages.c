/* test_packages.c - Packages indexes (stanzas, validation, lookups,
 * Provides) and the dependency-field parser. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "packages.h"
#include "tap.h"
#include "util.h"

#define H1 "0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d"
#define H2 "91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa91aa"

/* The fields every kept stanza needs, after Package/Version/Architecture. */
#define TAIL(name) "Filename: pool/main/" name ".deb\nSize: 10\nSHA256: " H1 "\n"
#define STANZA(name, version, arch) \
	"Package: " name "\nVersion: " version "\nArchitecture: " arch "\n" TAIL(name)

static struct kiln_packages *load(const char *text, struct kiln_error *err, int *rc)
{
	struct kiln_packages *idx = kiln_packages_new("amd64");
	kiln_error_clear(err);
	*rc = kiln_packages_add_buffer(idx, text, strlen(text), "P", 0, err);
	return idx;
}

/* Loading text must fail with a message containing want. */
#define CHECK_REFUSED(text, want)                                  \
	do {                                                       \
		struct kiln_error e_ = { 0 };                      \
		int rc_;                                           \
		struct kiln_packages *i_ = load(text, &e_, &rc_);  \
		CHECK(rc_ == -1);                                  \
		CHECK_CONTAINS(e_.message, want);                  \
		kiln_packages_free(i_);                            \
	} while (0)

static const struct kiln_pkg *find(const struct kiln_packages *idx, const char *name)
{
	uint32_t i = kiln_packages_lookup(idx, name, strlen(name));
	return i == KILN_PKG_NONE ? NULL : kiln_packages_get(idx, i);
}

static bool slice_is(struct kiln_slice s, const char *want)
{
	return s.ptr && kiln_slice_eq(s, want);
}

TEST(full_stanza)
{
	struct kiln_error err = { 0 };
	int rc;
	struct kiln_packages *idx = load(
		"Package: libc6\n"
		"Source: glibc\n"
		"Version: 2.36-9+deb12u7\n"
		"Installed-Size: 12987\n"
		"Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n"
		"Architecture: amd64\n"
		"Multi-Arch: same\n"
		"Replaces: libc6-amd64\n"
		"Depends: libgcc-s1\n"
		"Pre-Depends: dpkg (>= 1.19)\n"
		"Recommends: libidn2-0 (>= 2.0.5~)\n"
		"Provides: libc6-x (= 2.36), c-lib\n"
		"Conflicts: openrc (<< 0.45.2-3)\n"
		"Breaks: aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6)\n"
		"Description: GNU C Library: Shared libraries\n"
		" Contains the standard libraries.\n"
		" .\n"
		" More.\n"
		"Homepage: https://www.gnu.org/software/libc/libc.html\n"
		"Section: libs\n"
		"Priority: optional\n"
		"Filename: pool/main/g/glibc/libc6_2.36-9+deb12u7_amd64.deb\n"
		"Size: 2757936\n"
		"MD5sum: 0ed6d4c8891eb86358b94bb35d9e4da4\n"
		"SHA256: " H1 "\n",
		&err, &rc);

	CHECK(rc == 0);
	if (rc)
		printf("# %s\n", err.message);
	CHECK(kiln_packages_count(idx) == 1);
	const struct kiln_pkg *p = find(idx, "libc6");
	CHECK(p != NULL);
	if (p) {
		CHECK(slice_is(p->name, "libc6"));
		CHECK(slice_is(p->version, "2.36-9+deb12u7"));
		CHECK(slice_is(p->architecture, "amd64"));
		CHECK(slice_is(p->multi_arch, "same"));
		CHECK(slice_is(p->depends, "libgcc-s1"));
		CHECK(slice_is(p->pre_depends, "dpkg (>= 1.19)"));
		CHECK(slice_is(p->provides, "libc6-x (= 2.36), c-lib"));
		CHECK(slice_is(p->conflicts, "openrc (<< 0.45.2-3)"));
		CHECK(slice_is(p->breaks, "aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6)"));
		CHECK(slice_is(p->filename, "pool/main/g/glibc/libc6_2.36-9+deb12u7_amd64.deb"));
		CHECK(slice_is(p->sha256, H1));
		CHECK(p->size == 2757936);
		CHECK(p->origin == 0 && p->file == 0 && p->line == 1);
		CHECK(p->next_same_name == KILN_PKG_NONE);
	}
	CHECK_STR(kiln_packages_file_label(idx, 0), "P");
	CHECK_STR(kiln_packages_file_label(idx, 7), "?");
	CHECK(find(idx, "libc") == NULL);
	CHECK(find(idx, "libc6x") == NULL);
	CHECK(find(idx, "glibc") == NULL);

	/* Provides are indexed by name, with their versions. */
	uint32_t pv = kiln_packages_providers(idx, "libc6-x", 7);
	CHECK(pv != KILN_PKG_NONE);
	if (pv != KILN_PKG_NONE) {
		const struct kiln_provide *pr = kiln_packages_provide(idx, pv);
		CHECK(slice_is(pr->version, "2.36") && pr->pkg == 0 && pr->next == KILN_PKG_NONE);
	}
	pv = kiln_packages_providers(idx, "c-lib", 5);
	CHECK(pv != KILN_PKG_NONE && kiln_packages_provide(idx, pv)->version.len == 0);
	CHECK(kiln_packages_providers(idx, "libc6", 5) == KILN_PKG_NONE);
	/* Recommends do not make providers. */
	CHECK(kiln_packages_providers(idx, "libidn2-0", 9) == KILN_PKG_NONE);
	kiln_packages_free(idx);
}

TEST(empty_index)
{
	struct kiln_error err = { 0 };
	int rc;
	struct kiln_packages *idx = load("", &err, &rc);
	CHECK(rc == 0 && kiln_packages_count(idx) == 0);
	CHECK(kiln_packages_lookup(idx, "a", 1) == KILN_PKG_NONE);
	CHECK(kiln_packages_providers(idx, "a", 1) == KILN_PKG_NONE);
	kiln_packages_free(idx);
	idx = load("\n\n  \n\n", &err, &rc);
	CHECK(rc == 0 && kiln_packages_count(idx) == 0);
	kiln_packages_free(idx);
	kiln_packages_free(NULL);
}

TEST(architectures_and_chains)
{
	struct kiln_error err = { 0 };
	int rc;
	struct kiln_packages *idx = load(
		STANZA("foo", "1.0", "amd64") "\n"
		/* Other architectures are skipped, even malformed ones past the
		 * name and version. */
		"Package: foo\nVersion: 3.0\nArchitecture: i386\n\n"
		STANZA("foo", "2.0", "all") "\n"
		STANZA("bar", "1", "arm64") "\n"
		STANZA("foo", "0.5", "amd64"),
		&err, &rc);
	CHECK(rc == 0);
	if (rc)
		printf("# %s\n", err.message);
	CHECK(kiln_packages_count(idx) == 3);
	CHECK(find(idx, "bar") == NULL);
	/* The chain keeps the file's order. */
	const char *want[] = { "1.0", "2.0", "0.5" };
	size_t n = 0;
	for (uint32_t i = kiln_packages_lookup(idx, "foo", 3); i != KILN_PKG_NONE;
	     i = kiln_packages_get(idx, i)->next_same_name, n++)
		CHECK(n < 3 && slice_is(kiln_packages_get(idx, i)->version, want[n]));
	CHECK(n == 3);
	CHECK(find(idx, "foo")->line == 1);
	kiln_packages_free(idx);
}

TEST(several_files)
{
	struct kiln_error err = { 0 };
	struct kiln_packages *idx = kiln_packages_new("arm64");
	const char *a = STANZA("foo", "1", "arm64");
	const char *b = "\n" STANZA("foo", "2", "arm64");

	CHECK(kiln_packages_add_buffer(idx, a, strlen(a), "first", 0, &err) == 0);
	CHECK(kiln_packages_add_buffer(idx, b, strlen(b), "second", 3, &err) == 0);
	uint32_t i = kiln_packages_lookup(idx, "foo", 3);
	const struct kiln_pkg *p = kiln_packages_get(idx, i);
	CHECK(p->origin == 0 && p->file == 0);
	p = kiln_packages_get(idx, p->next_same_name);
	CHECK(p->origin == 3 && p->file == 1 && p->line == 2);
	CHECK_STR(kiln_packages_file_label(idx, p->file), "second");
	kiln_packages_free(idx);
}

TEST(add_file)
{
	char dir[] = "/tmp/kiln-test-packages.XXXXXX";
	struct kiln_error err = { 0 };
	struct kiln_packages *idx = kiln_packages_new("amd64");

	CHECK(mkdtemp(dir) != NULL);
	char *path = kiln_xasprintf("%s/Packages", dir);
	char *empty = kiln_xasprintf("%s/Empty", dir);
	FILE *f = fopen(path, "w");
	fputs(STANZA("foo", "1", "amd64"), f);
	fclose(f);
	fclose(fopen(empty, "w"));

	CHECK(kiln_packages_add_file(idx, path, "Packages(main)", 1, &err) == 0);
	CHECK(kiln_packages_add_file(idx, empty, "empty", 2, &err) == 0);
	CHECK(kiln_packages_count(idx) == 1);
	CHECK(find(idx, "foo") && find(idx, "foo")->origin == 1);
	CHECK_STR(kiln_packages_file_label(idx, 0), "Packages(main)");

	char *missing = kiln_xasprintf("%s/nope", dir);
	CHECK(kiln_packages_add_file(idx, missing, "nope", 0, &err) == -1);
	CHECK_CONTAINS(err.message, "open '");
	CHECK_CONTAINS(err.message, "No such file");

	/* A broken file names its label and line. */
	f = fopen(path, "w");
	fputs("\n\nPackage: xy\n", f);
	fclose(f);
	CHECK(kiln_packages_add_file(idx, path, "L", 0, &err) == -1);
	CHECK_CONTAINS(err.message, "L:3: package xy: bad or missing Version");

	unlink(path);
	unlink(empty);
	rmdir(dir);
	free(path);
	free(empty);
	free(missing);
	kiln_packages_free(idx);
}

TEST(missing_fields)
{
	CHECK_REFUSED("Version: 1\nArchitecture: amd64\n" TAIL("x"), "P:1: stanza without a Package field");
	CHECK_REFUSED(STANZA("ok", "1", "amd64") "\nVersion: 1\n", "P:8: stanza without a Package field");
	CHECK_REFUSED("Package: foo\nArchitecture: amd64\n" TAIL("foo"),
		      "P:1: package foo: bad or missing Version (missing)");
	CHECK_REFUSED("Package: foo\nVersion: 1\n" TAIL("foo"), "P:1: package foo: no Architecture");
	CHECK_REFUSED("Package: foo\nVersion: 1\nArchitecture: amd64\nSize: 1\nSHA256: " H1 "\n",
		      "package foo: missing or unsafe Filename");
	CHECK_REFUSED("Package: foo\nVersion: 1\nArchitecture: amd64\nFilename: pool/f.deb\nSize: 1\n",
		      "package foo: missing or bad SHA256");
	CHECK_REFUSED("Package: foo\nVersion: 1\nArchitecture: amd64\nFilename: pool/f.deb\nSHA256: " H1 "\n",
		      "package foo: missing or bad Size");
}

TEST(bad_names_and_versions)
{
	CHECK_REFUSED(STANZA("Foo", "1", "amd64"), "P:1: bad package name \"Foo\"");
	CHECK_REFUSED(STANZA("f", "1", "amd64"), "bad package name \"f\"");
	CHECK_REFUSED(STANZA("-foo", "1", "amd64"), "bad package name");
	CHECK_REFUSED(STANZA("foo_bar", "1", "amd64"), "bad package name");
	CHECK_REFUSED(STANZA("foo/../x", "1", "amd64"), "bad package name");
	CHECK_REFUSED(STANZA("foo", "a1", "amd64"), "P:1: package foo: bad or missing Version");
	CHECK_REFUSED(STANZA("foo", "1 2", "amd64"), "bad or missing Version");
	CHECK_REFUSED(STANZA("foo", "1:", "amd64"), "bad or missing Version");
	CHECK_REFUSED(STANZA("foo", "x:1", "amd64"), "bad or missing Version");
	CHECK_REFUSED(STANZA("foo", "1_2", "amd64"), "bad or missing Version");
	CHECK_REFUSED(STANZA("foo", "1/../../x", "amd64"), "bad or missing Version");
	CHECK_REFUSED("Package: foo\nVersion:\nArchitecture: amd64\n" TAIL("foo"), "bad or missing Version");
	/* Names with '+' and '.' and versions with epochs and '~' are fine. */
	struct kiln_error err = { 0 };
	int rc;
	struct kiln_packages *idx = load(STANZA("g++-12.x", "1:2.0~rc1-1+b2", "amd64"), &err, &rc);
	CHECK(rc == 0 && find(idx, "g++-12.x"));
	kiln_packages_free(idx);
}

TEST(hostile_filenames)
{
#define FN(f) "Package: foo\nVersion: 1\nArchitecture: amd64\nFilename: " f "\nSize: 1\nSHA256: " H1 "\n"
	CHECK_REFUSED(FN("../../etc/passwd"), "P:1: package foo: missing or unsafe Filename");
	CHECK_REFUSED(FN("pool/../../x.deb"), "unsafe Filename");
	CHECK_REFUSED(FN("pool/.."), "unsafe Filename");
	CHECK_REFUSED(FN(".."), "unsafe Filename");
	CHECK_REFUSED(FN("/etc/passwd"), "unsafe Filename");
	CHECK_REFUSED(FN("pool\\..\\x.deb"), "unsafe Filename");
	CHECK_REFUSED(FN("pool/%2e%2e/x.deb"), "unsafe Filename");
	CHECK_REFUSED(FN("pool/x.deb?y"), "unsafe Filename");
	CHECK_REFUSED(FN("pool/x.deb#y"), "unsafe Filename");
	CHECK_REFUSED(FN("pool/x y.deb"), "unsafe Filename");
	CHECK_REFUSED(FN("pool/\xc3\xa4.deb"), "unsafe Filename");
	CHECK_REFUSED(FN(""), "unsafe Filename");
	/* Folded over two lines: the newline is not a path character. */
	CHECK_REFUSED(FN("pool/a\n b.deb"), "unsafe Filename");
	struct kiln_error err = { 0 };
	int rc;
	struct kiln_packages *idx = load(FN("pool/..a/b../c..deb"), &err, &rc);
	CHECK(rc == 0);
	kiln_packages_free(idx);
	/* 4097 bytes is too long. */
	struct kiln_buf b = KILN_BUF_INIT;
	kiln_buf_adds(&b, "Package: foo\nVersion: 1\nArchitecture: amd64\nSize: 1\nSHA256: " H1 "\nFilename: ");
	for (int i = 0; i < 4097; i++)
		kiln_buf_addch(&b, 'a');
	CHECK_REFUSED(b.data, "unsafe Filename");
	kiln_buf_release(&b);
#undef FN
}

TEST(bad_sha256_and_size)
{
#define SH(h) "Package: foo\nVersion: 1\nArchitecture: amd64\nFilename: p/f.deb\nSize: 1\nSHA256: " h "\n"
	CHECK_REFUSED(SH("0f2d"), "package foo: missing or bad SHA256");
	CHECK_REFUSED(SH(H1 "0"), "missing or bad SHA256");
	CHECK_REFUSED(SH("0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D0F2D"), "bad SHA256");
	CHECK_REFUSED(SH("zf2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d0f2d"), "bad SHA256");
	CHECK_REFUSED(SH(H1 " " H2), "bad SHA256");
	CHECK_REFUSED(SH(""), "bad SHA256");
	/* Two SHA256 fields: which one did the archive mean?  Refused. */
	CHECK_REFUSED(SH(H1) "SHA256: " H2 "\n", "P:7: SHA256 given twice");
	CHECK_REFUSED(SH(H1) "sha256: " H1 "\n", "P:7: sha256 given twice");
	CHECK_REFUSED(SH(H1) "Filename: p/g.deb\n", "P:7: Filename given twice");
	CHECK_REFUSED(SH(H1) "Size: 1\n", "P:7: Size given twice");
	CHECK_REFUSED(STANZA("foo", "1", "amd64") "Package: bar\n", "P:7: Package given twice");
#undef SH
#define SZ(s) "Package: foo\nVersion: 1\nArchitecture: amd64\nFilename: p/f.deb\nSHA256: " H1 "\nSize: " s "\n"
	CHECK_REFUSED(SZ("-1"), "P:6: bad Size");
	CHECK_REFUSED(SZ("1.5"), "bad Size");
	CHECK_REFUSED(SZ(""), "bad Size");
	CHECK_REFUSED(SZ("18446744073709551616"), "bad Size");
	CHECK_REFUSED(SZ("18446744073709551615"), "bad Size");
	struct kiln_error err = { 0 };
	int rc;
	struct kiln_packages *idx = load(SZ("18446744073709551614"), &err, &rc);
	CHECK(rc == 0 && find(idx, "foo") && find(idx, "foo")->size == 18446744073709551614ULL);
	kiln_packages_free(idx);
	idx = load(SZ("0"), &err, &rc);
	CHECK(rc == 0 && find(idx, "foo") && find(idx, "foo")->size == 0);
	kiln_packages_free(idx);
#undef SZ
}

TEST(crlf_and_folding)
{
	struct kiln_error err = { 0 };
	int rc;
	struct kiln_packages *idx = load(
		"Package: foo\r\nVersion: 1.0\r\nArchitecture: amd64\r\n"
		"Depends: a (>= 1\r\n ), b |\r\n c\r\n"
		"Provides: v (= 1.0\r\n ), w\r\n"
		"Filename: pool/f.deb\r\nSize: 12\r\nSHA256: " H1 "\r\n\r\n"
		"package: bar\nVERSION: 2\narchitecture: all\nfilename: pool/b.deb\nsize: 3\nsha256: " H2 "\n",
		&err, &rc);
	CHECK(rc == 0);
	if (rc)
		printf("# %s\n", err.message);
	const struct kiln_pkg *p = find(idx, "foo");
	CHECK(p && slice_is(p->version, "1.0") && p->size == 12 && slice_is(p->sha256, H1));
	if (p) {
		struct kiln_deps d = KILN_DEPS_INIT;
		CHECK(kiln_deps_parse(p->depends, true, &d, &err) == 0);
		CHECK(d.n_clauses == 2 && d.n_atoms == 3);
		CHECK(d.n_atoms == 3 && slice_is(d.atoms[0].version, "1") && slice_is(d.atoms[2].name, "c"));
		kiln_deps_release(&d);
	}
	uint32_t pv = kiln_packages_providers(idx, "v", 1);
	CHECK(pv != KILN_PKG_NONE && slice_is(kiln_packages_provide(idx, pv)->version, "1.0"));
	/* Field names are case-insensitive. */
	p = find(idx, "bar");
	CHECK(p && slice_is(p->version, "2") && p->size == 3 && slice_is(p->sha256, H2));
	kiln_packages_free(idx);
}

TEST(bad_provides)
{
	CHECK_REFUSED(STANZA("foo", "1", "amd64") "Provides: v (>= 1)\n",
		      "P:1: package foo: Provides: Provides may only use \"=\"");
	CHECK_REFUSED(STANZA("foo", "1", "amd64") "Provides: a | b\n", "P:1: package foo: Provides: alternatives");
	CHECK_REFUSED(STANZA("foo", "1", "amd64") "Provides: a, b (= 1\n", "Provides: b: expected ')'");
	CHECK_REFUSED(STANZA("foo", "1", "amd64") "Provides: a, (= 1)\n", "Provides: expected a package name");
	/* Many providers of one name chain in order. */
	struct kiln_buf b = KILN_BUF_INIT;
	for (int i = 0; i < 50; i++)
		kiln_buf_printf(&b, "Package: p%02d\nVersion: 1\nArchitecture: amd64\nProvides: virt (= %d), other\n"
				TAIL("p") "\n", i, i);
	struct kiln_error err = { 0 };
	int rc, n = 0;
	struct kiln_packages *idx = load(b.data, &err, &rc);
	CHECK(rc == 0);
	for (uint32_t pv = kiln_packages_providers(idx, "virt", 4); pv != KILN_PKG_NONE;
	     pv = kiln_packages_provide(idx, pv)->next, n++) {
		const struct kiln_provide *pr = kiln_packages_provide(idx, pv);
		char want[16];
		snprintf(want, sizeof(want), "%d", n);
		CHECK(slice_is(pr->version, want) && pr->pkg == (uint32_t)n);
	}
	CHECK(n == 50);
	kiln_packages_free(idx);
	kiln_buf_release(&b);
}

TEST(malformed_text)
{
	/* A continuation line belongs to the field above it. */
	CHECK_REFUSED("Package: foo\n continuation\n", "P:1: bad package name \"foo\n continuation\"");
	CHECK_REFUSED("Package: foo\nbroken\n", "P:2: expected \"Field: value\"");
	CHECK_REFUSED(" Package: foo\n", "P:1: continuation line without a field");
	CHECK_REFUSED("Package foo\n", "P:1: expected \"Field: value\"");
	static const char nul[] = "Package: fo\0o\nVersion: 1\nArchitecture: amd64\n" TAIL("foo");
	struct kiln_error err = { 0 };
	struct kiln_packages *idx = kiln_packages_new("amd64");
	CHECK(kiln_packages_add_buffer(idx, nul, sizeof(nul) - 1, "P", 0, &err) == -1);
	CHECK_CONTAINS(err.message, "bad package name");
	kiln_packages_free(idx);
}

TEST(many_packages)
{
	/* Enough names and providers to grow the hash tables several times. */
	struct kiln_buf b = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	int rc;
	for (int i = 0; i < 20000; i++)
		kiln_buf_printf(&b, "Package: pkg%d\nVersion: %d\nArchitecture: amd64\nProvides: virt%d\n"
				"Filename: pool/p%d.deb\nSize: %d\nSHA256: " H1 "\n\n", i, i, i % 3000, i, i);
	struct kiln_packages *idx = load(b.data, &err, &rc);
	CHECK(rc == 0 && kiln_packages_count(idx) == 20000);
	int bad = 0;
	for (int i = 0; i < 20000; i++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "pkg%d", i);
		uint32_t k = kiln_packages_lookup(idx, name, (size_t)n);
		if (k == KILN_PKG_NONE || kiln_packages_get(idx, k)->size != (uint64_t)i)
			bad++;
	}
	CHECK(bad == 0);
	CHECK(kiln_packages_lookup(idx, "pkg20000", 8) == KILN_PKG_NONE);
	int n = 0;
	for (uint32_t pv = kiln_packages_providers(idx, "virt7", 5); pv != KILN_PKG_NONE;
	     pv = kiln_packages_provide(idx, pv)->next)
		n++;
	CHECK(n == 7); /* pkg7, pkg3007, … pkg18007 */
	kiln_packages_free(idx);
	kiln_buf_release(&b);
}

/* ---- kiln_deps_parse ---- */

/* Parse and render as "name[:arch][ REL ver]" atoms, '|' and ','. */
static char *deps(const char *field, bool alternatives)
{
	struct kiln_deps d = KILN_DEPS_INIT;
	struct kiln_error err = { 0 };
	struct kiln_buf out = KILN_BUF_INIT;

	if (kiln_deps_parse((struct kiln_slice){ field, strlen(field) }, alternatives, &d, &err) < 0) {
		kiln_buf_printf(&out, "!%s", err.message);
		kiln_deps_release(&d);
		return kiln_buf_detach(&out);
	}
	for (size_t c = 0; c < d.n_clauses; c++) {
		if (c)
			kiln_buf_adds(&out, ",");
		for (size_t a = kiln_deps_clause_start(&d, c); a < d.clause_end[c]; a++) {
			const struct kiln_dep_atom *at = &d.atoms[a];
			if (a > kiln_deps_clause_start(&d, c))
				kiln_buf_adds(&out, "|");
			kiln_buf_add(&out, at->name.ptr, at->name.len);
			if (at->arch_qualifier.len)
				kiln_buf_printf(&out, ":%.*s", (int)at->arch_qualifier.len, at->arch_qualifier.ptr);
			if (at->rel != KILN_REL_ANY)
				kiln_buf_printf(&out, " %s %.*s", kiln_debversion_relation_str(at->rel),
						(int)at->version.len, at->version.ptr);
		}
	}
	kiln_deps_release(&d);
	return kiln_buf_detach(&out);
}

#define CHECK_DEPS(field, want)                       \
	do {                                          \
		char *got_ = deps(field, true);       \
		CHECK_STR(got_, want);                \
		free(got_);                           \
	} while (0)
#define CHECK_DEPS_NOALT(field, want)                 \
	do {                                          \
		char *got_ = deps(field, false);      \
		CHECK_STR(got_, want);                \
		free(got_);                           \
	} while (0)

TEST(deps_plain)
{
	CHECK_DEPS("", "");
	CHECK_DEPS("  \n\t ", "");
	CHECK_DEPS("a", "a");
	CHECK_DEPS("a, b", "a,b");
	CHECK_DEPS("a|b,c", "a|b,c");
	CHECK_DEPS("  a  |  b  ,  c  ", "a|b,c");
	CHECK_DEPS("libc6 (>= 2.36), libgcc-s1 (>= 3.0) | libgcc1", "libc6 >= 2.36,libgcc-s1 >= 3.0|libgcc1");
	CHECK_DEPS("a(>=1)", "a >= 1");
	CHECK_DEPS("a ( >= 1 )", "a >= 1");
	CHECK_DEPS("a (<< 1), b (<= 1), c (= 1), d (>= 1), e (>> 1)", "a << 1,b <= 1,c = 1,d >= 1,e >> 1");
	/* The obsolete '<' and '>' mean '<=' and '>='. */
	CHECK_DEPS("a (< 1), b (> 1)", "a <= 1,b >= 1");
	CHECK_DEPS("a (>= 1:2.0~rc1-1+b2)", "a >= 1:2.0~rc1-1+b2");
	CHECK_DEPS("g++-12 (= 12.2.0-14), lib.x+y", "g++-12 = 12.2.0-14,lib.x+y");
	/* A trailing comma is tolerated as dpkg does. */
	CHECK_DEPS("a, b,", "a,b");
	CHECK_DEPS("a,\n", "a");
}

TEST(deps_qualifiers_and_restrictions)
{
	CHECK_DEPS("python3:any", "python3:any");
	CHECK_DEPS("python3:any (>= 3.11)", "python3:any >= 3.11");
	CHECK_DEPS("libc6:i386 | libc6:native", "libc6:i386|libc6:native");
	CHECK_DEPS("a [amd64 i386], b [!arm64] <!nocheck> <stage1 cross>",
		   "a,b");
	CHECK_DEPS("a (>= 1) [amd64] | b <!nocheck>", "a >= 1|b");
	CHECK_DEPS("a:", "!expected an architecture after ':' in a");
	CHECK_DEPS("a:any:any", "!expected ',' or '|' at \":any\"");
	CHECK_DEPS("a [amd64", "!unterminated '['");
	CHECK_DEPS("a <!nocheck", "!unterminated '<'");
}

TEST(deps_folded_and_crlf)
{
	CHECK_DEPS("a,\n b (>= 1),\n\tc", "a,b >= 1,c");
	CHECK_DEPS("a (>=\n 1)", "a >= 1");
	CHECK_DEPS("a (>= 1\n )", "a >= 1");
	CHECK_DEPS("a,\r\n b (>= 1\r\n ),\r\n c", "a,b >= 1,c");
	CHECK_DEPS("a\r\n |\r\n b", "a|b");
}

TEST(deps_malformed)
{
	CHECK_DEPS("a (>= 1", "!a: expected ')'");
	CHECK_DEPS("a (>= 1 2)", "!a: expected ')'");
	CHECK_DEPS("a (>=", "!a: expected ')'");
	CHECK_DEPS("a (", "!a: expected a relation (<< <= = >= >>)");
	CHECK_DEPS("a (~ 1)", "!a: expected a relation (<< <= = >= >>)");
	CHECK_DEPS("a (!= 1)", "!a: expected a relation (<< <= = >= >>)");
	CHECK_DEPS("a (>= )", "!a: bad version \"\"");
	CHECK_DEPS("a (>= x1)", "!a: bad version \"x1\"");
	CHECK_DEPS("a (>= 1:)", "!a: bad version \"1:\"");
	CHECK_DEPS("a (>= 1)(<< 2)", "!expected ',' or '|' at \"(<< 2)\"");
	CHECK_DEPS("a b", "!expected ',' or '|' at \"b\"");
	CHECK_DEPS(", a", "!expected a package name at \", a\"");
	CHECK_DEPS("a,, b", "!expected a package name at \", b\"");
	CHECK_DEPS("a |", "!expected a package name at \"\"");
	CHECK_DEPS("| a", "!expected a package name at \"| a\"");
	CHECK_DEPS("a | | b", "!expected a package name at \"| b\"");
	CHECK_DEPS("(>= 1)", "!expected a package name at \"(>= 1)\"");
	CHECK_DEPS("\xc3\xa4", "!expected a package name at \"\xc3\xa4\"");
	CHECK_DEPS_NOALT("a | b", "!alternatives ('|') are not allowed here");
	CHECK_DEPS_NOALT("a, b (= 1)", "a,b = 1");
	/* Long garbage is cut in the message. */
	char *got = deps("a ################################################################", true);
	CHECK(got && strlen(got) < 80);
	free(got);
	/* A huge version is refused (debversion bounds its length). */
	struct kiln_buf b = KILN_BUF_INIT;
	kiln_buf_adds(&b, "a (>= 1");
	for (int i = 0; i < 100000; i++)
		kiln_buf_addch(&b, '0');
	kiln_buf_addch(&b, ')');
	got = deps(b.data, true);
	CHECK_CONTAINS(got, "!a: bad version");
	CHECK(got && strlen(got) < 200);
	free(got);
	kiln_buf_release(&b);
}

TEST(deps_reuse_and_nul)
{
	struct kiln_deps d = KILN_DEPS_INIT;
	struct kiln_error err = { 0 };
	const char *one = "a | b | c, d, e";
	const char *two = "x";

	CHECK(kiln_deps_parse((struct kiln_slice){ one, strlen(one) }, true, &d, &err) == 0);
	CHECK(d.n_atoms == 5 && d.n_clauses == 3);
	CHECK(kiln_deps_clause_start(&d, 0) == 0 && d.clause_end[0] == 3);
	CHECK(kiln_deps_clause_start(&d, 2) == 4 && d.clause_end[2] == 5);
	/* Parsing again into the same struct starts over. */
	CHECK(kiln_deps_parse((struct kiln_slice){ two, 1 }, true, &d, &err) == 0);
	CHECK(d.n_atoms == 1 && d.n_clauses == 1);
	/* An empty slice (an absent field) is no clauses. */
	CHECK(kiln_deps_parse((struct kiln_slice){ NULL, 0 }, true, &d, &err) == 0);
	CHECK(d.n_atoms == 0 && d.n_clauses == 0);
	/* A NUL ends nothing: it is not a name character. */
	CHECK(kiln_deps_parse((struct kiln_slice){ "a\0b", 3 }, true, &d, &err) == -1);
	kiln_deps_release(&d);
	CHECK(d.atoms == NULL && d.n_atoms == 0);
	/* Many clauses. */
	struct kiln_buf b = KILN_BUF_INIT;
	for (int i = 0; i < 10000; i++)
		kiln_buf_printf(&b, "%sp%d (>= %d) | q%d", i ? ", " : "", i, i, i);
	CHECK(kiln_deps_parse((struct kiln_slice){ b.data, b.len }, true, &d, &err) == 0);
	CHECK(d.n_clauses == 10000 && d.n_atoms == 20000);
	kiln_deps_release(&d);
	kiln_buf_release(&b);
}

int main(void)
{
	RUN(full_stanza);
	RUN(empty_index);
	RUN(architectures_and_chains);
	RUN(several_files);
	RUN(add_file);
	RUN(missing_fields);
	RUN(bad_names_and_versions);
	RUN(hostile_filenames);
	RUN(bad_sha256_and_size);
	RUN(crlf_and_folding);
	RUN(bad_provides);
	RUN(malformed_text);
	RUN(many_packages);
	RUN(deps_plain);
	RUN(deps_qualifiers_and_restrictions);
	RUN(deps_folded_and_crlf);
	RUN(deps_malformed);
	RUN(deps_reuse_and_nul);
	return tap_done();
}
