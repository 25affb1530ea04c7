/* test_deb.c - reading .deb files: real ones from dpkg-deb in every
 * compression, and hand-made hostile ones (bad ar layout, "../" and
 * absolute paths, device nodes, lying sizes, control that is not what the
 * lock says). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deb.h"
#include "debcraft.h"
#include "tap.h"
#include "util.h"

static char *tmp;

/* Each data entry as one line: "TYPE MODE UID:GID MTIME SIZE PATH[ -> L][ => H][ = TEXT]". */
static int collect(void *ctx, const struct kiln_deb_entry *e, struct kiln_error *err)
{
	struct kiln_buf *b = ctx;
	static const char types[] = "dfsh";

	kiln_buf_printf(b, "%c %04o %u:%u %lld %llu %s", types[e->type], e->mode, e->uid, e->gid,
			(long long)e->mtime, (unsigned long long)e->size, e->path);
	if (e->link_target)
		kiln_buf_printf(b, " -> %s", e->link_target);
	if (e->hardlink_target)
		kiln_buf_printf(b, " => %s", e->hardlink_target);
	if (e->type == KILN_DEB_FILE) {
		char chunk[7]; /* small reads on purpose */
		ssize_t n;
		kiln_buf_adds(b, " = ");
		while ((n = kiln_deb_entry_read(e, chunk, sizeof(chunk), err)) > 0)
			for (ssize_t i = 0; i < n; i++)
				kiln_buf_addch(b, chunk[i] == '\n' ? '|' : chunk[i]);
		if (n < 0)
			return -1;
	}
	kiln_buf_addch(b, '\n');
	return 0;
}

/* The line for `path` in a collect() listing, or NULL. */
static char *line_of(const char *listing, const char *path)
{
	for (const char *l = listing; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		/* skip "T MODE OWNER MTIME SIZE " */
		const char *p = l;
		for (int f = 0; f < 5 && p < l + len; f++)
			p = memchr(p, ' ', (size_t)(l + len - p)) + 1;
		size_t plen = strlen(path);
		if ((size_t)(l + len - p) >= plen && memcmp(p, path, plen) == 0 &&
		    (p[plen] == ' ' || p + plen == l + len))
			return kiln_xstrndup(l, len);
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

#define CHECK_LINE(listing, path, want)                            \
	do {                                                       \
		_cleanup_free_ char *l_ = line_of(listing, path);  \
		CHECK_STR(l_, want);                               \
	} while (0)

static const char *long_dir =
	"usr/share/kiln-t/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
static const char *long_file =
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff.txt";

/* A package tree with every kind of entry dpkg-deb makes. */
static void make_tree(const char *name)
{
	_cleanup_free_ char *t = kiln_xasprintf("%s/%s", tmp, name);
	_cleanup_free_ char *lf = kiln_xasprintf("%s/%s", long_dir, long_file);

	craft_mkdir(t, "DEBIAN", 0755);
	craft_write(t, "DEBIAN/control",
		    "Package: kiln-t\n"
		    "Version: 1:2.0-1\n"
		    "Architecture: amd64\n"
		    "Multi-Arch: same\n"
		    "Maintainer: kiln tests <t@kiln.invalid>\n"
		    "X-Folded: first\n"
		    " second line\n"
		    "Description: test package\n"
		    " with a long description\n"
		    " .\n"
		    " and a paragraph break\n",
		    0644);
	craft_write(t, "DEBIAN/conffiles", "/etc/kiln-t.conf\n", 0644);
	craft_write(t, "DEBIAN/md5sums", "d41d8cd98f00b204e9800998ecf8427e  usr/bin/tool", 0644);
	craft_write(t, "DEBIAN/postinst", "#!/bin/sh\ntouch /tmp/kiln-escape-test-postinst\n", 0755);
	craft_mkdir(t, "bin", 0755);
	craft_write(t, "bin/tool", "#!/bin/sh\necho tool\n", 0755);
	craft_mkdir(t, "etc", 0755);
	craft_write(t, "etc/kiln-t.conf", "x = 1\n", 0644);
	craft_mkdir(t, "usr/bin", 0755);
	craft_write(t, "usr/bin/suid", "suid\n", 04755);
	craft_symlink(t, "usr/bin/rel", "../../bin/tool");
	craft_mkdir(t, "usr/share/kiln-t/private", 0700);
	craft_write(t, "usr/share/kiln-t/private/secret", "secret\n", 0600);
	craft_mkdir(t, "usr/share/kiln-t/sgid", 02755);
	craft_mkdir(t, "usr/share/kiln-t/sticky", 01777);
	craft_mkdir(t, "usr/share/kiln-t/empty", 0755);
	craft_write(t, "usr/share/kiln-t/hard-a", "hard\n", 0644);
	craft_hardlink(t, "usr/share/kiln-t/hard-b", "usr/share/kiln-t/hard-a");
	craft_symlink(t, "usr/share/kiln-t/abs", "/etc/kiln-t.conf");
	craft_write(t, "usr/share/kiln-t/with space.txt", "space\n", 0644);
	craft_write(t, "usr/share/kiln-t/\xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9.txt", "utf8\n", 0644);
	craft_mkdir(t, long_dir, 0755);
	craft_write(t, lf, "long\n", 0644);
}

static void check_full_package(const char *deb_path, const char *comp)
{
	struct kiln_error err = { 0 };
	struct kiln_deb_options opts = { .package = "kiln-t", .version = "1:2.0-1",
					 .architecture = "amd64" };
	_cleanup_deb_ struct kiln_deb *deb = kiln_deb_open_file(deb_path, NULL, &opts, &err);
	_cleanup_buf_ struct kiln_buf ls = KILN_BUF_INIT;
	_cleanup_free_ char *lp = kiln_xasprintf("%s/%s", long_dir, long_file);
	_cleanup_free_ char *lline = NULL;
	const struct kiln_deb_control *c;

	printf("# compression %s\n", comp);
	CHECK(deb != NULL);
	if (!deb) {
		printf("# %s\n", err.message);
		return;
	}
	c = kiln_deb_control(deb);
	CHECK_STR(c->package, "kiln-t");
	CHECK_STR(c->version, "1:2.0-1");
	CHECK_STR(c->architecture, "amd64");
	CHECK_STR(c->multi_arch, "same");
	CHECK_STR(c->paragraph, "Package: kiln-t\n"
				"Version: 1:2.0-1\n"
				"Architecture: amd64\n"
				"Multi-Arch: same\n"
				"Maintainer: kiln tests <t@kiln.invalid>\n"
				"X-Folded: first\n"
				" second line\n"
				"Description: test package\n"
				" with a long description\n"
				" .\n"
				" and a paragraph break\n");
	CHECK_STR(c->conffiles, "/etc/kiln-t.conf\n");
	/* Made to end in a newline. */
	CHECK_STR(c->md5sums, "d41d8cd98f00b204e9800998ecf8427e  usr/bin/tool\n");
	CHECK_STR(kiln_deb_name(deb), strrchr(deb_path, '/') + 1);

	CHECK(kiln_deb_read_data(deb, collect, &ls, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK_LINE(ls.data, "", "d 0755 0:0 1717200000 0 ");
	CHECK_LINE(ls.data, "bin", "d 0755 0:0 1717200000 0 bin");
	CHECK_LINE(ls.data, "bin/tool", "f 0755 0:0 1717200000 20 bin/tool = #!/bin/sh|echo tool|");
	CHECK_LINE(ls.data, "usr/bin/suid", "f 4755 0:0 1717200000 5 usr/bin/suid = suid|");
	CHECK_LINE(ls.data, "usr/bin/rel", "s 0777 0:0 1717200000 0 usr/bin/rel -> ../../bin/tool");
	CHECK_LINE(ls.data, "usr/share/kiln-t/private",
		   "d 0700 0:0 1717200000 0 usr/share/kiln-t/private");
	CHECK_LINE(ls.data, "usr/share/kiln-t/private/secret",
		   "f 0600 0:0 1717200000 7 usr/share/kiln-t/private/secret = secret|");
	CHECK_LINE(ls.data, "usr/share/kiln-t/sgid", "d 2755 0:0 1717200000 0 usr/share/kiln-t/sgid");
	CHECK_LINE(ls.data, "usr/share/kiln-t/sticky",
		   "d 1777 0:0 1717200000 0 usr/share/kiln-t/sticky");
	CHECK_LINE(ls.data, "usr/share/kiln-t/empty", "d 0755 0:0 1717200000 0 usr/share/kiln-t/empty");
	CHECK_LINE(ls.data, "usr/share/kiln-t/hard-a",
		   "f 0644 0:0 1717200000 5 usr/share/kiln-t/hard-a = hard|");
	CHECK_LINE(ls.data, "usr/share/kiln-t/hard-b",
		   "h 0644 0:0 1717200000 0 usr/share/kiln-t/hard-b => usr/share/kiln-t/hard-a");
	CHECK_LINE(ls.data, "usr/share/kiln-t/abs",
		   "s 0777 0:0 1717200000 0 usr/share/kiln-t/abs -> /etc/kiln-t.conf");
	CHECK_LINE(ls.data, "usr/share/kiln-t/with space.txt",
		   "f 0644 0:0 1717200000 6 usr/share/kiln-t/with space.txt = space|");
	CHECK_LINE(ls.data, "usr/share/kiln-t/\xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9.txt",
		   "f 0644 0:0 1717200000 5 usr/share/kiln-t/\xc3\xbc" "n\xc3\xaf" "c\xc3\xb8"
		   "d\xc3\xa9.txt = utf8|");
	lline = line_of(ls.data, lp);
	CHECK(lline && kiln_str_has_suffix(lline, " = long|") && strlen(lp) > 100);
	/* Maintainer scripts are not data. */
	CHECK(!strstr(ls.data, "postinst"));
	CHECK(!strstr(ls.data, "DEBIAN"));
	/* Only once. */
	CHECK(kiln_deb_read_data(deb, collect, &ls, &err) == -1);
}

TEST(dpkg_deb_every_compression)
{
	const char *comps[] = { "xz", "gzip", "zstd", "none" };

	if (!craft_have("dpkg-deb")) {
		printf("# SKIP: no dpkg-deb\n");
		return;
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(comps); i++) {
		_cleanup_free_ char *name = kiln_xasprintf("full-%s", comps[i]);
		_cleanup_free_ char *deb = NULL;

		make_tree(name);
		deb = craft_dpkg_deb(tmp, name, comps[i]);
		CHECK(deb != NULL);
		if (deb)
			check_full_package(deb, comps[i]);
	}
	CHECK(!craft_exists("/tmp/kiln-escape-test-postinst"));
}

TEST(open_memory_equals_file)
{
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf a = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf b = KILN_BUF_INIT;
	_cleanup_free_ char *path = kiln_xasprintf("%s/mem.deb", tmp);
	struct kiln_error err = { 0 };

	craft_tar_entry(&tar, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&tar, "./usr/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&tar, "./usr/x", '0', 0644, "hello\n", NULL, 0);
	craft_tar_end(&tar);
	craft_deb(&deb, CRAFT_CONTROL("mem", "1.0", "all"), &tar);
	{
		FILE *f = fopen(path, "w");
		fwrite(deb.data, 1, deb.len, f);
		fclose(f);
	}
	{
		_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_memory(deb.data, deb.len, "mem.deb",
									NULL, &err);
		CHECK(d && kiln_deb_read_data(d, collect, &a, &err) == 0);
		CHECK(d && kiln_deb_control(d)->multi_arch == NULL);
		CHECK(d && kiln_deb_control(d)->conffiles == NULL);
		CHECK(d && kiln_deb_control(d)->md5sums == NULL);
	}
	{
		_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_file(path, NULL, NULL, &err);
		CHECK(d && kiln_deb_read_data(d, collect, &b, &err) == 0);
	}
	CHECK_STR(a.data, b.data);
	CHECK_STR(a.data, "d 0755 0:0 1717200000 0 \n"
			  "d 0755 0:0 1717200000 0 usr\n"
			  "f 0644 0:0 1717200000 6 usr/x = hello|\n");
}

/* Open a crafted deb from memory; returns the error message ("" on success). */
static char *open_crafted(const struct kiln_buf *deb, const struct kiln_deb_options *opts,
			  bool read_data)
{
	struct kiln_error err = { 0 };
	_cleanup_buf_ struct kiln_buf ls = KILN_BUF_INIT;
	struct kiln_deb *d = kiln_deb_open_memory(deb->data, deb->len, "crafted_1.0_all.deb", opts,
						  &err);

	if (d && read_data)
		kiln_deb_read_data(d, collect, &ls, &err);
	kiln_deb_free(d);
	return kiln_xstrdup(err.message);
}

#define CHECK_CRAFTED(deb, opts, want)                                  \
	do {                                                            \
		_cleanup_free_ char *m_ = open_crafted(deb, opts, true); \
		CHECK_CONTAINS(m_, want);                               \
	} while (0)

TEST(control_must_match_the_lock)
{
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;
	struct kiln_deb_options ok = { "app", "2.0", "amd64" };
	struct kiln_deb_options bad_name = { "app", "2.0", "amd64" };
	struct kiln_deb_options bad_version = { "evil", "2.1", "amd64" };
	struct kiln_deb_options bad_arch = { "evil", "2.0", "i386" };
	_cleanup_free_ char *m = NULL;

	craft_tar_entry(&tar, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_end(&tar);
	craft_deb(&deb, CRAFT_CONTROL("evil", "2.0", "amd64"), &tar);
	CHECK_CRAFTED(&deb, &bad_name, "'crafted_1.0_all.deb': control says Package 'evil', expected 'app'");
	CHECK_CRAFTED(&deb, &bad_version, "control says Version '2.0', expected '2.1'");
	CHECK_CRAFTED(&deb, &bad_arch, "control says Architecture 'amd64', expected 'i386'");
	ok.package = "evil";
	m = open_crafted(&deb, &ok, true);
	CHECK_STR(m, "");
}

/* A deb from members given as name, data pairs (NULL name ends). */
static void ar_deb(struct kiln_buf *out, const char *const *members)
{
	kiln_buf_add(out, "!<arch>\n", 8);
	for (size_t i = 0; members[i]; i += 2)
		craft_ar_member(out, members[i], members[i + 1], strlen(members[i + 1]));
}

TEST(bad_ar_layout)
{
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf ctl = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf data = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf plain = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf good = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	struct {
		const char *what;
		const char *members[12];
		const char *want;
	} cases[] = {
		{ "no debian-binary", { "control.tar.gz", "C", "data.tar.gz", "D" }, "first member is 'control.tar.gz', not debian-binary" },
		{ "format 3", { "debian-binary", "3.0\n", "control.tar.gz", "C", "data.tar.gz", "D" }, "unsupported .deb format version '3.0'" },
		{ "no control", { "debian-binary", "2.0\n" }, "no control.tar member" },
		{ "data first", { "debian-binary", "2.0\n", "data.tar.gz", "D", "control.tar.gz", "C" }, "data.tar.gz comes before control.tar" },
		{ "unknown member", { "debian-binary", "2.0\n", "evil.tar", "D" }, "unexpected member 'evil.tar'" },
		{ "bz2 control", { "debian-binary", "2.0\n", "control.tar.bz2", "C" }, "unexpected member 'control.tar.bz2'" },
		{ "lzma data", { "debian-binary", "2.0\n", "control.tar.gz", "C", "data.tar.lzma", "D" }, "unexpected member 'data.tar.lzma'" },
		{ "no data", { "debian-binary", "2.0\n", "control.tar.gz", "C" }, "no data.tar member" },
		{ "two controls", { "debian-binary", "2.0\n", "control.tar.gz", "C", "control.tar.gz", "C" }, "second control member" },
		{ "member after data", { "debian-binary", "2.0\n", "control.tar.gz", "C", "data.tar.gz", "D", "extra", "x" }, "unexpected member 'extra' after data.tar" },
		{ "uncompressed as gz", { "debian-binary", "2.0\n", "control.tar.gz", "C", "data.tar.gz", "P" }, "not compressed as its name says" },
	};

	craft_tar_entry(&tar, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&tar, "./f", '0', 0644, "x", NULL, 0);
	craft_tar_end(&tar);
	craft_control_tar_gz(&ctl, CRAFT_CONTROL("crafted", "1.0", "all"), NULL);
	kiln_compress_gzip(tar.data, tar.len, 6, &data, &err);
	kiln_buf_add(&plain, tar.data, tar.len);

	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;
		_cleanup_free_ char *m = NULL;

		kiln_buf_add(&deb, "!<arch>\n", 8);
		for (size_t k = 0; cases[i].members[k]; k += 2) {
			const char *d = cases[i].members[k + 1];
			const struct kiln_buf *b = !strcmp(d, "C") ? &ctl : !strcmp(d, "D") ? &data
						 : !strcmp(d, "P") ? &plain : NULL;
			craft_ar_member(&deb, cases[i].members[k], b ? b->data : d, b ? b->len : strlen(d));
		}
		m = open_crafted(&deb, NULL, true);
		printf("# %s: %s\n", cases[i].what, m);
		CHECK_CONTAINS(m, cases[i].want);
	}

	/* Signature members ('_') are skipped wherever they are. */
	kiln_buf_add(&good, "!<arch>\n", 8);
	craft_ar_member(&good, "debian-binary", "2.0\n", 4);
	craft_ar_member(&good, "_gpgorigin", "sig", 3);
	craft_ar_member(&good, "control.tar.gz", ctl.data, ctl.len);
	craft_ar_member(&good, "data.tar.gz", data.data, data.len);
	craft_ar_member(&good, "_gpgbuilder", "sig", 3);
	{
		_cleanup_free_ char *m = open_crafted(&good, NULL, true);
		CHECK_STR(m, "");
	}
	/* Not ar at all, empty, truncated. */
	{
		const char *junk[] = { "not an archive", "!<arch>\n" };
		for (size_t i = 0; i < 2; i++) {
			struct kiln_buf b = { (char *)junk[i], strlen(junk[i]), 0 };
			_cleanup_free_ char *m = open_crafted(&b, NULL, true);
			printf("# junk %zu: %s\n", i, m);
			CHECK(m[0] != '\0');
		}
	}
	{
		struct kiln_buf cut = { good.data, good.len - 64 - 40, 0 };
		_cleanup_free_ char *m = open_crafted(&cut, NULL, true);
		printf("# truncated: %s\n", m);
		CHECK(m[0] != '\0');
	}
	(void)ar_deb;
}

TEST(bad_control)
{
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	struct {
		const char *control, *want;
	} cases[] = {
		{ "Version: 1.0\nArchitecture: all\n", "missing Package field" },
		{ "Package: x1\nArchitecture: all\n", "missing Version field" },
		{ "Package: x1\nVersion: 1.0\n", "missing Architecture field" },
		{ "Package: ../../etc\nVersion: 1.0\nArchitecture: all\n", "invalid Package '../../etc'" },
		{ "Package: Upper\nVersion: 1.0\nArchitecture: all\n", "invalid Package" },
		{ "Package: x1\nVersion: 1.0 evil\nArchitecture: all\n", "invalid Version" },
		{ "Package: x1\nVersion: 1.0\nArchitecture: am/d64\n", "invalid Architecture" },
		{ "Package: x1\nVersion: 1.0\nArchitecture: all\nMulti-Arch: sometimes\n", "invalid Multi-Arch" },
		{ "Package: x1\nVersion: 1.0\nArchitecture: all\nPackage: x2\n", "duplicate field Package" },
		{ "Package: x1\nVersion: 1.0\nArchitecture: all\n\nPackage: x2\n", "more than one paragraph" },
		{ " continuation\nPackage: x1\n", "continuation line without a field" },
	};

	craft_tar_entry(&tar, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_end(&tar);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;
		craft_deb(&deb, cases[i].control, &tar);
		CHECK_CRAFTED(&deb, NULL, cases[i].want);
	}
	/* Blank lines around the paragraph are fine and normalized away. */
	{
		_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;
		struct kiln_error err = { 0 };
		craft_deb(&deb, "\n\nPackage: x1\nVersion: 1.0\nArchitecture: all\nDescription:\n text\n\n\n",
			  &tar);
		_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_memory(deb.data, deb.len, NULL, NULL,
									&err);
		CHECK(d != NULL);
		if (d)
			CHECK_STR(kiln_deb_control(d)->paragraph,
				  "Package: x1\nVersion: 1.0\nArchitecture: all\nDescription:\n text\n");
	}
}

/* A deb whose data tar is built by fn; returns the message of opening
 * and reading it (with opts). */
static char *hostile(void (*fn)(struct kiln_buf *), const struct kiln_deb_options *opts)
{
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;

	craft_tar_entry(&tar, "./", '5', 0755, NULL, NULL, 0);
	fn(&tar);
	craft_tar_end(&tar);
	craft_deb(&deb, CRAFT_CONTROL("crafted", "1.0", "all"), &tar);
	return open_crafted(&deb, opts, true);
}

static void t_dotdot(struct kiln_buf *t) { craft_tar_entry(t, "./../kiln-escape-test", '0', 0644, "x", NULL, 0); }
static void t_dotdot_mid(struct kiln_buf *t) { craft_tar_entry(t, "usr/../../kiln-escape-test", '0', 0644, "x", NULL, 0); }
static void t_dotdot_end(struct kiln_buf *t) { craft_tar_entry(t, "usr/..", '5', 0755, NULL, NULL, 0); }
static void t_newline(struct kiln_buf *t) { craft_tar_entry(t, "./etc/x\n/usr/bin/sudo", '0', 0644, "x", NULL, 0); }
static void t_absolute(struct kiln_buf *t) { craft_tar_entry(t, "/tmp/kiln-escape-test/abs", '0', 0644, "x", NULL, 0); }
static void t_chardev(struct kiln_buf *t) { craft_tar_entry(t, "./dev-null", '3', 0666, NULL, NULL, 0); }
static void t_blockdev(struct kiln_buf *t) { craft_tar_entry(t, "./sda", '4', 0660, NULL, NULL, 0); }
static void t_fifo(struct kiln_buf *t) { craft_tar_entry(t, "./fifo", '6', 0644, NULL, NULL, 0); }
static void t_huge(struct kiln_buf *t) { craft_tar_entry(t, "./huge", '0', 0644, "tiny", NULL, 5ULL << 30); }
static void t_lying(struct kiln_buf *t) { craft_tar_entry(t, "./lying", '0', 0644, "tiny", NULL, 1ULL << 20); }
static void t_hard_out(struct kiln_buf *t) { craft_tar_entry(t, "./h", '1', 0644, NULL, "../../etc/shadow", 0); }
static void t_hard_abs(struct kiln_buf *t) { craft_tar_entry(t, "./h", '1', 0644, NULL, "/etc/shadow", 0); }
static void t_long_name(struct kiln_buf *t)
{
	char *name = kiln_xmalloc(5001);
	for (int i = 0; i < 5000; i++)
		name[i] = i % 50 == 49 ? '/' : 'n';
	name[5000] = '\0';
	craft_tar_entry(t, name, '0', 0644, "x", NULL, 0);
	free(name);
}
static void t_ok_long_name(struct kiln_buf *t)
{
	char *name = kiln_xmalloc(4001);
	for (int i = 0; i < 4000; i++)
		name[i] = i % 50 == 48 ? '/' : 'n';
	name[4000] = '\0';
	craft_tar_entry(t, name, '0', 0644, "x", NULL, 0);
	free(name);
}
static void t_six(struct kiln_buf *t)
{
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "./f%d", i);
		craft_tar_entry(t, name, '0', 0644, "x", NULL, 0);
	}
}

TEST(hostile_entries)
{
	struct {
		const char *what;
		void (*fn)(struct kiln_buf *);
		const char *want;
	} cases[] = {
		{ "dotdot", t_dotdot, "'crafted_1.0_all.deb': refusing entry './../kiln-escape-test': '..' in path" },
		{ "dotdot mid", t_dotdot_mid, "refusing entry 'usr/../../kiln-escape-test': '..' in path" },
		{ "dotdot end", t_dotdot_end, "refusing entry 'usr/..'" },
		{ "newline", t_newline, "refusing entry './etc/x\n/usr/bin/sudo': newline in its name" },
		{ "absolute", t_absolute, "refusing entry '/tmp/kiln-escape-test/abs': absolute path" },
		{ "char device", t_chardev, "refusing entry './dev-null': device node" },
		{ "block device", t_blockdev, "refusing entry './sda': device node" },
		{ "fifo", t_fifo, "refusing entry './fifo': fifo" },
		{ "huge", t_huge, "entry './huge': 5368709120 bytes is over the limit of 4294967296" },
		{ "lying size", t_lying, "crafted_1.0_all.deb" },
		{ "hard link out", t_hard_out, "refusing hard link './h' to '../../etc/shadow'" },
		{ "hard link absolute", t_hard_abs, "refusing hard link './h' to '/etc/shadow'" },
		{ "long name", t_long_name, "entry name of 5000 bytes (limit 4096)" },
	};
	struct kiln_deb_options five = { .max_entries = 5 };

	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *m = hostile(cases[i].fn, NULL);
		printf("# %s: %s\n", cases[i].what, m);
		CHECK_CONTAINS(m, cases[i].want);
	}
	{
		_cleanup_free_ char *m = hostile(t_ok_long_name, NULL);
		CHECK_STR(m, "");
	}
	{
		/* "./" and five files: six entries. */
		_cleanup_free_ char *m = hostile(t_six, &five);
		CHECK_CONTAINS(m, "more than 5 entries");
		five.max_entries = 6;
		free(m);
		m = hostile(t_six, &five);
		CHECK_STR(m, "");
	}
	CHECK(KILN_DEB_MAX_ENTRIES == 1000000ULL);
	CHECK(KILN_DEB_MAX_FILE_SIZE == 4294967296ULL);
	/* Nothing was written anywhere. */
	CHECK(!craft_exists("/tmp/kiln-escape-test"));
	CHECK(!craft_exists("/tmp/kiln-escape-test/abs"));
}

static int fail_on_second(void *ctx, const struct kiln_deb_entry *e, struct kiln_error *err)
{
	int *n = ctx;
	if (++*n == 2)
		return kiln_error_set(err, "callback says no to '%s'", e->path);
	return 0;
}

TEST(callback_error_names_the_deb)
{
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf deb = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	int n = 0;

	craft_tar_entry(&tar, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&tar, "./a", '0', 0644, "x", NULL, 0);
	craft_tar_end(&tar);
	craft_deb(&deb, CRAFT_CONTROL("crafted", "1.0", "all"), &tar);
	_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_memory(deb.data, deb.len, "x_1_all.deb",
								NULL, &err);
	CHECK(d && kiln_deb_read_data(d, fail_on_second, &n, &err) == -1);
	CHECK_STR(err.message, "'x_1_all.deb': callback says no to 'a'");
}

TEST(real_ar_tool_order)
{
	_cleanup_buf_ struct kiln_buf tar = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf ctl = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf data = KILN_BUF_INIT;
	_cleanup_free_ char *dir = kiln_xasprintf("%s/ar", tmp);
	_cleanup_free_ char *good = kiln_xasprintf("%s/good.deb", dir);
	_cleanup_free_ char *bad = kiln_xasprintf("%s/bad.deb", dir);
	struct kiln_error err = { 0 };
	char *cwd = getcwd(NULL, 0);

	if (!craft_have("ar")) {
		printf("# SKIP: no ar\n");
		free(cwd);
		return;
	}
	craft_tar_entry(&tar, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&tar, "./usr/", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&tar, "./usr/f", '0', 0644, "made by ar\n", NULL, 0);
	craft_tar_end(&tar);
	craft_control_tar_gz(&ctl, CRAFT_CONTROL("crafted", "1.0", "all"), NULL);
	kiln_compress_zstd(tar.data, tar.len, 3, &data, &err);
	craft_mkdir(dir, "", 0755);
	craft_write(dir, "debian-binary", "2.0\n", 0644);
	{
		_cleanup_free_ char *p1 = kiln_xasprintf("%s/control.tar.gz", dir);
		_cleanup_free_ char *p2 = kiln_xasprintf("%s/data.tar.zst", dir);
		kiln_file_write_atomic(p1, ctl.data, ctl.len, 0644, &err);
		kiln_file_write_atomic(p2, data.data, data.len, 0644, &err);
	}
	if (chdir(dir) == 0) {
		CHECK(craft_run(NULL, NULL, "ar", "rc", good, "debian-binary", "control.tar.gz",
				"data.tar.zst", (char *)NULL) == 0);
		CHECK(craft_run(NULL, NULL, "ar", "rc", bad, "debian-binary", "data.tar.zst",
				"control.tar.gz", (char *)NULL) == 0);
		CHECK(chdir(cwd) == 0);
	}
	free(cwd);
	{
		_cleanup_buf_ struct kiln_buf ls = KILN_BUF_INIT;
		_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_file(good, NULL, NULL, &err);
		CHECK(d && kiln_deb_read_data(d, collect, &ls, &err) == 0);
		CHECK_LINE(ls.data, "usr/f", "f 0644 0:0 1717200000 11 usr/f = made by ar|");
	}
	{
		struct kiln_error e2 = { 0 };
		_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_file(bad, NULL, NULL, &e2);
		CHECK(d == NULL);
		CHECK_CONTAINS(e2.message, "'bad.deb': data.tar.zst comes before control.tar");
	}
	{
		struct kiln_error e3 = { 0 };
		_cleanup_free_ char *missing = kiln_xasprintf("%s/missing.deb", dir);
		_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_file(missing, NULL, NULL, &e3);
		CHECK(d == NULL);
		CHECK_CONTAINS(e3.message, "missing.deb");
	}
}

TEST(path_normalize)
{
	char out[64];

	CHECK(kiln_deb_path_normalize("./usr/bin/", out) == 0);
	CHECK_STR(out, "usr/bin");
	CHECK(kiln_deb_path_normalize("./", out) == 0);
	CHECK_STR(out, "");
	CHECK(kiln_deb_path_normalize(".", out) == 0);
	CHECK_STR(out, "");
	CHECK(kiln_deb_path_normalize("usr//./bin/.", out) == 0);
	CHECK_STR(out, "usr/bin");
	CHECK(kiln_deb_path_normalize("a..b/..c/d..", out) == 0);
	CHECK_STR(out, "a..b/..c/d..");
	CHECK(kiln_deb_path_normalize("/etc", out) == -1);
	CHECK(kiln_deb_path_normalize("..", out) == -1);
	CHECK(kiln_deb_path_normalize("a/../b", out) == -1);
	CHECK(kiln_deb_path_normalize("a/..", out) == -1);
}

TEST(fixture_debs)
{
	const char *www = getenv("KILN_TEST_WWW");
	struct {
		const char *file, *package, *version, *arch, *path, *line;
	} debs[] = {
		{ "pool/main/l/layout-edge/layout-edge_1.0_amd64.deb", "layout-edge", "1.0", "amd64",
		  "usr/share/layout-edge/hard-b",
		  "h 0644 0:0 1717200000 0 usr/share/layout-edge/hard-b => usr/share/layout-edge/hard-a" },
		{ "pool/main/a/app/app_1.0_amd64.deb", "app", "1.0", "amd64", "usr/bin/app",
		  "f 0755 0:0 1717200000 25 usr/bin/app = #!/bin/sh|echo \"app 1.0\"|" },
		{ "pool/main/d/data-all/data-all_1.0_all.deb", "data-all", "1.0", "all",
		  "usr/share/doc/data-all",
		  "d 0755 0:0 1717200000 0 usr/share/doc/data-all" },
		{ "pool/main/a/alt-a/alt-a_1.0_amd64.deb", "alt-a", "1.0", "amd64",
		  "usr/share/doc/alt-a",
		  "d 0755 0:0 1717200000 0 usr/share/doc/alt-a" },
		{ "pool/main/e/epoch-app/epoch-app_1.0-1_amd64.deb", "epoch-app", "1:1.0-1", "amd64",
		  "usr/bin/epoch-app",
		  "f 0755 0:0 1717200000 35 usr/bin/epoch-app = #!/bin/sh|echo \"epoch-app 1:1.0-1\"|" },
	};

	if (!www) {
		printf("# SKIP: KILN_TEST_WWW not set (run through tests/run)\n");
		return;
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(debs); i++) {
		_cleanup_free_ char *path = kiln_xasprintf("%s/good/%s", www, debs[i].file);
		struct kiln_deb_options opts = { debs[i].package, debs[i].version, debs[i].arch };
		struct kiln_error err = { 0 };
		_cleanup_buf_ struct kiln_buf ls = KILN_BUF_INIT;
		_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_file(path, NULL, &opts, &err);

		CHECK(d != NULL);
		if (!d) {
			printf("# %s\n", err.message);
			continue;
		}
		CHECK(kiln_deb_read_data(d, collect, &ls, &err) == 0);
		CHECK_LINE(ls.data, debs[i].path, debs[i].line);
	}
	{
		_cleanup_free_ char *path = kiln_xasprintf("%s/good/%s", www, debs[0].file);
		struct kiln_error err = { 0 };
		_cleanup_deb_ struct kiln_deb *d = kiln_deb_open_file(path, NULL, NULL, &err);
		CHECK(d && kiln_deb_control(d)->conffiles &&
		      strcmp(kiln_deb_control(d)->conffiles, "/etc/layout-edge.conf\n") == 0);
	}
}

int main(void)
{
	tmp = craft_tmpdir("test-deb");
	RUN(path_normalize);
	RUN(dpkg_deb_every_compression);
	RUN(open_memory_equals_file);
	RUN(control_must_match_the_lock);
	RUN(bad_ar_layout);
	RUN(bad_control);
	RUN(hostile_entries);
	RUN(callback_error_names_the_deb);
	RUN(real_ar_tool_order);
	RUN(fixture_debs);
	craft_rm_rf(tmp);
	free(tmp);
	return tap_done();
}
