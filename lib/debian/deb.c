#include "deb.h"
#include "dpkg.h"

#include "compress.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>

#include "deb822.h"
#include "debversion.h"
#include "util.h"

enum member_kind { MEMBER_CONTROL, MEMBER_DATA };

struct kiln_deb {
	struct archive *outer;          /* the ar container */
	struct archive *inner;          /* the tar member being read */
	char *name;
	struct kiln_deb_control control;
	uint64_t max_entries, max_file_size;
	bool data_done;
	/* Current data entry: its normalized path and link target. */
	char *path_buf, *link_buf;
};

static void control_release(struct kiln_deb_control *c)
{
	free(c->package);
	free(c->version);
	free(c->architecture);
	free(c->multi_arch);
	free(c->paragraph);
	free(c->md5sums);
	free(c->conffiles);
	for (size_t i = 0; i < c->n_members; i++)
		free(c->members[i].data);
	free(c->members);
	memset(c, 0, sizeof(*c));
}

void kiln_deb_free(struct kiln_deb *deb)
{
	if (!deb)
		return;
	if (deb->inner)
		archive_read_free(deb->inner);
	if (deb->outer)
		archive_read_free(deb->outer);
	control_release(&deb->control);
	free(deb->name);
	free(deb->path_buf);
	free(deb->link_buf);
	free(deb);
}

const struct kiln_deb_control *kiln_deb_control(const struct kiln_deb *deb)
{
	return &deb->control;
}

const char *kiln_deb_name(const struct kiln_deb *deb)
{
	return deb->name;
}

int kiln_deb_path_normalize(const char *path, char *out)
{
	const char *p = path;
	size_t o = 0;

	if (*p == '/')
		return -1;
	while (*p) {
		const char *c = p;
		size_t n;

		while (*p && *p != '/')
			p++;
		n = (size_t)(p - c);
		while (*p == '/')
			p++;
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return -1;
		if (o)
			out[o++] = '/';
		memcpy(out + o, c, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* ---- the ar container ---------------------------------------------------- */

/* Which compressions dpkg-deb may use for each member (deb(5)). */
static const struct {
	const char *suffix;
	int filter;          /* ARCHIVE_FILTER_* the data must really be in */
	bool for_control;
} compressions[] = {
	{ "", ARCHIVE_FILTER_NONE, true },
	{ ".gz", ARCHIVE_FILTER_GZIP, true },
	{ ".xz", ARCHIVE_FILTER_XZ, true },
	{ ".zst", ARCHIVE_FILTER_ZSTD, true },
	{ ".bz2", ARCHIVE_FILTER_BZIP2, false },
};

/* -1 unknown member, else the index into compressions[] and *kind. */
static int member_compression(const char *name, enum member_kind *kind)
{
	const char *suffix;

	if (kiln_str_has_prefix(name, "control.tar")) {
		*kind = MEMBER_CONTROL;
		suffix = name + strlen("control.tar");
	} else if (kiln_str_has_prefix(name, "data.tar")) {
		*kind = MEMBER_DATA;
		suffix = name + strlen("data.tar");
	} else {
		return -1;
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(compressions); i++)
		if (strcmp(suffix, compressions[i].suffix) == 0)
			return (*kind == MEMBER_CONTROL && !compressions[i].for_control) ? -1 : (int)i;
	return -1;
}

/* Feed the current ar member to the inner tar reader, block by block. */
static la_ssize_t member_read(struct archive *a, void *ctx, const void **buf)
{
	struct kiln_deb *deb = ctx;
	size_t size;
	la_int64_t offset;
	int r = archive_read_data_block(deb->outer, buf, &size, &offset);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN) {
		archive_set_error(a, archive_errno(deb->outer), "%s",
				  archive_error_string(deb->outer));
		return -1;
	}
	return (la_ssize_t)size;
}

static int open_inner(struct kiln_deb *deb, const char *member, int comp, struct kiln_error *err)
{
	struct archive *a = archive_read_new();

	if (!a)
		return kiln_error_set(err, "'%s': out of memory", deb->name);
	archive_read_support_format_tar(a);
	switch (compressions[comp].filter) {
	case ARCHIVE_FILTER_GZIP: archive_read_support_filter_gzip(a); break;
	case ARCHIVE_FILTER_XZ: archive_read_support_filter_xz(a); break;
	case ARCHIVE_FILTER_ZSTD: archive_read_support_filter_zstd(a); break;
	case ARCHIVE_FILTER_BZIP2: archive_read_support_filter_bzip2(a); break;
	default: break;
	}
	if (archive_read_open(a, deb, NULL, member_read, NULL) != ARCHIVE_OK) {
		kiln_error_set(err, "'%s': %s: %s", deb->name, member, archive_error_string(a));
		archive_read_free(a);
		return -1;
	}
	deb->inner = a;
	return 0;
}

static void close_inner(struct kiln_deb *deb)
{
	if (deb->inner)
		archive_read_free(deb->inner);
	deb->inner = NULL;
}

/* The member's name really is compressed as it says (dpkg goes by the name;
 * a data.tar.gz holding a plain tar is malformed). */
static int check_filter(struct kiln_deb *deb, const char *member, int comp,
			struct kiln_error *err)
{
	int want = compressions[comp].filter, got = archive_filter_code(deb->inner, 0);
	int count = archive_filter_count(deb->inner);

	/* One filter (the compression) on top of the raw bytes ("none"). */
	if (want == ARCHIVE_FILTER_NONE ? count != 1 : (count != 2 || got != want))
		return kiln_error_set(err, "'%s': %s: not compressed as its name says (%s)",
				      deb->name, member, archive_filter_name(deb->inner, 0));
	return 0;
}

/* Next ar member that is not an ignorable '_' member; 0 at the end. */
static int next_member(struct kiln_deb *deb, const char **name, struct kiln_error *err)
{
	struct archive_entry *e;

	for (;;) {
		int r = archive_read_next_header(deb->outer, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return kiln_error_set(err, "'%s': not a valid .deb (ar): %s", deb->name,
					      archive_error_string(deb->outer));
		*name = archive_entry_pathname(e);
		if (!*name || !**name)
			return kiln_error_set(err, "'%s': ar member without a name", deb->name);
		if (**name != '_')
			return 1;
	}
}

static int read_member_small(struct archive *a, const char *deb_name, const char *what,
			     size_t max, struct kiln_buf *out, struct kiln_error *err)
{
	char block[16384];

	for (;;) {
		la_ssize_t n = archive_read_data(a, block, sizeof(block));
		if (n < 0)
			return kiln_error_set(err, "'%s': %s: %s", deb_name, what,
					      archive_error_string(a));
		if (n == 0)
			return 0;
		if (out->len + (size_t)n > max)
			return kiln_error_set(err, "'%s': %s: larger than %zu bytes", deb_name, what,
					      max);
		kiln_buf_add(out, block, (size_t)n);
	}
}

/* ---- control.tar ---------------------------------------------------------- */

static bool package_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 128 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static bool architecture_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Parse the control file into deb->control: one paragraph, no duplicate
 * fields, the identity fields valid. */
static int parse_control(struct kiln_deb *deb, const char *text, size_t len,
			 struct kiln_error *err)
{
	struct kiln_deb_control *c = &deb->control;
	_cleanup_free_ char *origin = kiln_xasprintf("%s: control", deb->name);
	_cleanup_buf_ struct kiln_buf para = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf names = KILN_BUF_INIT;
	struct kiln_deb822 s;
	struct kiln_slice name, value;
	unsigned line;
	bool eof = false;
	int r;
	const char *why;

	if (memchr(text, '\0', len))
		return kiln_error_set(err, "%s: NUL byte", origin);
	kiln_deb822_init(&s, origin, text, len);
	/* "\n" + each field name + "\n", to find duplicates. */
	kiln_buf_addch(&names, '\n');
	while ((r = kiln_deb822_next(&s, &name, &value, &line, &eof, err)) == 1) {
		char **slot = NULL;
		_cleanup_free_ char *key = kiln_xasprintf("\n%.*s\n", (int)name.len, name.ptr);

		for (char *k = key; *k; k++)
			if (*k >= 'A' && *k <= 'Z')
				*k = (char)(*k - 'A' + 'a');
		if (strstr(names.data, key))
			return kiln_error_set(err, "%s:%u: duplicate field %.*s", origin, line,
					      (int)name.len, name.ptr);
		kiln_buf_add(&names, key + 1, strlen(key + 1));
		if (kiln_slice_eq_nocase(name, "Package"))
			slot = &c->package;
		else if (kiln_slice_eq_nocase(name, "Version"))
			slot = &c->version;
		else if (kiln_slice_eq_nocase(name, "Architecture"))
			slot = &c->architecture;
		else if (kiln_slice_eq_nocase(name, "Multi-Arch"))
			slot = &c->multi_arch;
		if (slot)
			*slot = kiln_xstrndup(value.ptr, value.len);
		kiln_buf_add(&para, name.ptr, name.len);
		kiln_buf_addch(&para, ':');
		if (value.len && value.ptr[0] != '\n')
			kiln_buf_addch(&para, ' ');
		kiln_buf_add(&para, value.ptr, value.len);
		kiln_buf_addch(&para, '\n');
	}
	if (r < 0)
		return -1;
	if (!eof) {
		/* Only blank lines may follow the paragraph. */
		r = kiln_deb822_next(&s, &name, &value, &line, &eof, err);
		if (r < 0)
			return -1;
		if (r == 1)
			return kiln_error_set(err, "%s:%u: more than one paragraph", origin, line);
	}
	if (!c->package || !c->version || !c->architecture)
		return kiln_error_set(err, "%s: missing %s field", origin,
				      !c->package ? "Package" : !c->version ? "Version" : "Architecture");
	if (!package_name_valid(c->package))
		return kiln_error_set(err, "%s: invalid Package '%.128s'", origin, c->package);
	if (!kiln_debversion_valid(c->version, strlen(c->version), &why))
		return kiln_error_set(err, "%s: invalid Version '%.256s': %s", origin, c->version,
				      why);
	if (!architecture_valid(c->architecture))
		return kiln_error_set(err, "%s: invalid Architecture '%.64s'", origin,
				      c->architecture);
	if (c->multi_arch && strcmp(c->multi_arch, "same") && strcmp(c->multi_arch, "foreign") &&
	    strcmp(c->multi_arch, "allowed") && strcmp(c->multi_arch, "no"))
		return kiln_error_set(err, "%s: invalid Multi-Arch '%.64s'", origin, c->multi_arch);
	c->paragraph = kiln_buf_detach(&para);
	return 0;
}

static int check_expected(struct kiln_deb *deb, const struct kiln_deb_options *opts,
			  struct kiln_error *err)
{
	const struct kiln_deb_control *c = &deb->control;
	const struct {
		const char *field, *got, *want;
	} checks[] = {
		{ "Package", c->package, opts ? opts->package : NULL },
		{ "Version", c->version, opts ? opts->version : NULL },
		{ "Architecture", c->architecture, opts ? opts->architecture : NULL },
	};

	for (size_t i = 0; i < KILN_ARRAY_SIZE(checks); i++)
		if (checks[i].want && strcmp(checks[i].got, checks[i].want) != 0)
			return kiln_error_set(err, "'%s': control says %s '%s', expected '%s'",
					      deb->name, checks[i].field, checks[i].got,
					      checks[i].want);
	return 0;
}

/* Finish a text file read from control.tar: non-empty ones end in '\n'. */
static char *control_text(struct kiln_buf *b)
{
	if (b->len && b->data[b->len - 1] != '\n')
		kiln_buf_addch(b, '\n');
	return kiln_buf_detach(b);
}

static const char *const info_members[] = KILN_DEB_INFO_MEMBERS;

const struct kiln_deb_member *kiln_deb_control_member(const struct kiln_deb_control *c, const char *name)
{
	for (size_t i = 0; i < c->n_members; i++)
		if (strcmp(c->members[i].name, name) == 0)
			return &c->members[i];
	return NULL;
}

struct kept_members {
	struct kiln_buf data[KILN_ARRAY_SIZE(info_members)];
	bool seen[KILN_ARRAY_SIZE(info_members)], executable[KILN_ARRAY_SIZE(info_members)];
};

static int read_control_entries(struct kiln_deb *deb, const char *member, int comp, struct kept_members *k,
				struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf control = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf md5sums = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf conffiles = KILN_BUF_INIT;
	bool have_control = false, have_md5sums = false, have_conffiles = false;
	uint64_t count = 0;
	struct archive_entry *e;
	int r;

	if (open_inner(deb, member, comp, err) < 0)
		return -1;
	while ((r = archive_read_next_header(deb->inner, &e)) >= ARCHIVE_WARN &&
	       r != ARCHIVE_EOF) {
		const char *raw = archive_entry_pathname(e);
		_cleanup_free_ char *path = NULL;
		struct kiln_buf *dest = NULL;
		bool *seen = NULL;

		if (count == 0 && check_filter(deb, member, comp, err) < 0)
			return -1;
		if (++count > 10000)
			return kiln_error_set(err, "'%s': %s: too many entries", deb->name, member);
		if (!raw || strlen(raw) > KILN_DEB_MAX_NAME)
			return kiln_error_set(err, "'%s': %s: entry with a missing or too long name",
					      deb->name, member);
		path = kiln_xmalloc(strlen(raw) + 1);
		if (kiln_deb_path_normalize(raw, path) < 0)
			return kiln_error_set(err, "'%s': %s: refusing entry '%s': path leaves the package",
					      deb->name, member, raw);
		if (strcmp(path, "control") == 0) {
			dest = &control;
			seen = &have_control;
		} else if (strcmp(path, "md5sums") == 0) {
			dest = &md5sums;
			seen = &have_md5sums;
		} else if (strcmp(path, "conffiles") == 0) {
			dest = &conffiles;
			seen = &have_conffiles;
		} else {
			for (size_t i = 0; i < KILN_ARRAY_SIZE(info_members); i++)
				if (strcmp(path, info_members[i]) == 0) {
					dest = &k->data[i];
					seen = &k->seen[i];
					k->executable[i] = (archive_entry_perm(e) & 0111) != 0;
				}
		}
		if (!dest)
			continue; /* anything else dpkg has no use for */
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
			return kiln_error_set(err, "'%s': %s: %s is not a regular file", deb->name,
					      member, path);
		if (*seen)
			return kiln_error_set(err, "'%s': %s: two %s files", deb->name, member, path);
		*seen = true;
		if (archive_entry_size(e) > (la_int64_t)KILN_DEB_MAX_CONTROL_FILE)
			return kiln_error_set(err, "'%s': %s: %s is larger than %u bytes", deb->name,
					      member, path, KILN_DEB_MAX_CONTROL_FILE);
		if (read_member_small(deb->inner, deb->name, path, KILN_DEB_MAX_CONTROL_FILE, dest,
				      err) < 0)
			return -1;
	}
	if (r < ARCHIVE_WARN)
		return kiln_error_set(err, "'%s': %s: %s", deb->name, member,
				      archive_error_string(deb->inner));
	if (count == 0)
		return kiln_error_set(err, "'%s': %s: empty or not a tar archive", deb->name, member);
	if (!have_control)
		return kiln_error_set(err, "'%s': %s: no control file", deb->name, member);
	close_inner(deb);
	if (parse_control(deb, control.data, control.len, err) < 0)
		return -1;
	if (have_md5sums)
		deb->control.md5sums = control_text(&md5sums);
	if (have_conffiles)
		deb->control.conffiles = control_text(&conffiles);
	return 0;
}

bool kiln_deb_needs_configure(const struct kiln_deb_control *c, const char *name)
{
	const struct kiln_deb_member *m = kiln_deb_control_member(c, name);

	if (!m)
		return false;
	return strcmp(name, "triggers") != 0 || kiln_dpkg_triggers_interested(m->data, m->len);
}

static int read_control_tar(struct kiln_deb *deb, const char *member, int comp,
			    struct kiln_error *err)
{
	struct kept_members k;
	int rc;

	memset(&k, 0, sizeof(k));
	rc = read_control_entries(deb, member, comp, &k, err);
	if (rc == 0)
		deb->control.members = kiln_xcalloc(KILN_ARRAY_SIZE(info_members), sizeof(*deb->control.members));
	for (size_t i = 0; i < KILN_ARRAY_SIZE(info_members); i++) {
		if (rc == 0 && k.seen[i]) {
			struct kiln_deb_member *m = &deb->control.members[deb->control.n_members++];
			m->name = info_members[i];
			m->len = k.data[i].len;
			m->data = kiln_buf_detach(&k.data[i]);
			if (!m->data)
				m->data = kiln_xstrdup("");
			m->executable = k.executable[i];
		}
		kiln_buf_release(&k.data[i]);
	}
	return rc;
}

/* ---- opening ---------------------------------------------------------- */

static int read_head(struct kiln_deb *deb, const struct kiln_deb_options *opts,
		     struct kiln_error *err)
{
	struct archive_entry *e;
	_cleanup_buf_ struct kiln_buf version = KILN_BUF_INIT;
	const char *name;
	enum member_kind kind;
	int r, comp;

	r = archive_read_next_header(deb->outer, &e);
	if (r == ARCHIVE_EOF)
		return kiln_error_set(err, "'%s': not a .deb: empty ar archive", deb->name);
	if (r < ARCHIVE_WARN)
		return kiln_error_set(err, "'%s': not a .deb: %s", deb->name,
				      archive_error_string(deb->outer));
	name = archive_entry_pathname(e);
	if (!name || strcmp(name, "debian-binary") != 0)
		return kiln_error_set(err, "'%s': not a .deb: first member is '%s', not debian-binary",
				      deb->name, name ? name : "");
	if (read_member_small(deb->outer, deb->name, "debian-binary", 64, &version, err) < 0)
		return -1;
	/* deb(5): "2.0\n"; dpkg accepts a later minor version of format 2.
	 * An empty member leaves the buffer without data. */
	const char *v = version.data ? version.data : "";
	if (version.len < 4 || !kiln_str_has_prefix(v, "2.") || !strchr(v, '\n'))
		return kiln_error_set(err, "'%s': unsupported .deb format version '%.*s'", deb->name,
				      (int)strcspn(v, "\n"), v);

	r = next_member(deb, &name, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return kiln_error_set(err, "'%s': no control.tar member", deb->name);
	comp = member_compression(name, &kind);
	if (comp < 0)
		return kiln_error_set(err, "'%s': unexpected member '%s' where control.tar belongs",
				      deb->name, name);
	if (kind != MEMBER_CONTROL)
		return kiln_error_set(err, "'%s': %s comes before control.tar", deb->name, name);
	if (read_control_tar(deb, name, comp, err) < 0)
		return -1;
	return check_expected(deb, opts, err);
}

static struct kiln_deb *deb_new(const char *name, const struct kiln_deb_options *opts)
{
	struct kiln_deb *deb = kiln_xcalloc(1, sizeof(*deb));

	deb->name = kiln_xstrdup(name);
	deb->max_entries = opts && opts->max_entries ? opts->max_entries : KILN_DEB_MAX_ENTRIES;
	deb->max_file_size =
		opts && opts->max_file_size ? opts->max_file_size : KILN_DEB_MAX_FILE_SIZE;
	deb->outer = archive_read_new();
	if (!deb->outer) {
		fprintf(stderr, "kiln: out of memory\n");
		abort();
	}
	archive_read_support_format_ar(deb->outer);
	return deb;
}

struct kiln_deb *kiln_deb_open_file(const char *path, const char *name,
				    const struct kiln_deb_options *opts, struct kiln_error *err)
{
	const char *base = strrchr(path, '/');
	struct kiln_deb *deb = deb_new(name ? name : base ? base + 1 : path, opts);

	if (archive_read_open_filename(deb->outer, path, 1 << 16) != ARCHIVE_OK) {
		kiln_error_set(err, "open '%s': %s", path, archive_error_string(deb->outer));
		kiln_deb_free(deb);
		return NULL;
	}
	if (read_head(deb, opts, err) < 0) {
		kiln_deb_free(deb);
		return NULL;
	}
	return deb;
}

struct kiln_deb *kiln_deb_open_memory(const void *data, size_t len, const char *name,
				      const struct kiln_deb_options *opts,
				      struct kiln_error *err)
{
	struct kiln_deb *deb = deb_new(name ? name : "(memory)", opts);

	if (archive_read_open_memory(deb->outer, data, len) != ARCHIVE_OK) {
		kiln_error_set(err, "'%s': %s", deb->name, archive_error_string(deb->outer));
		kiln_deb_free(deb);
		return NULL;
	}
	if (read_head(deb, opts, err) < 0) {
		kiln_deb_free(deb);
		return NULL;
	}
	return deb;
}

/* ---- data.tar ------------------------------------------------------------ */

/* Check one data.tar header and describe it in *out. */
static int describe_entry(struct kiln_deb *deb, struct archive_entry *e, const char *member,
			  struct kiln_deb_entry *out, struct kiln_error *err)
{
	const char *raw = archive_entry_pathname(e);
	const char *hard = archive_entry_hardlink(e);
	size_t rawlen;

	if (!raw || !*raw)
		return kiln_error_set(err, "'%s': %s: entry without a name", deb->name, member);
	rawlen = strlen(raw);
	if (rawlen > KILN_DEB_MAX_NAME)
		return kiln_error_set(err, "'%s': %s: entry name of %zu bytes (limit %d): '%.64s...'",
				      deb->name, member, rawlen, KILN_DEB_MAX_NAME, raw);
	/* As dpkg: a newline would forge lines in the package's .list. */
	if (strchr(raw, '\n'))
		return kiln_error_set(err, "'%s': refusing entry '%.64s': newline in its name",
				      deb->name, raw);
	free(deb->path_buf);
	deb->path_buf = kiln_xmalloc(rawlen + 1);
	if (kiln_deb_path_normalize(raw, deb->path_buf) < 0)
		return kiln_error_set(err, "'%s': refusing entry '%s': %s", deb->name, raw,
				      raw[0] == '/' ? "absolute path" : "'..' in path");
	memset(out, 0, sizeof(*out));
	out->path = deb->path_buf;
	out->deb = deb;
	out->mode = (unsigned)archive_entry_perm(e) & 07777;
	out->uid = (uint32_t)archive_entry_uid(e);
	out->gid = (uint32_t)archive_entry_gid(e);
	out->mtime = (int64_t)archive_entry_mtime(e);
	if (archive_entry_uid(e) < 0 || archive_entry_uid(e) > UINT32_MAX ||
	    archive_entry_gid(e) < 0 || archive_entry_gid(e) > UINT32_MAX)
		return kiln_error_set(err, "'%s': entry '%s': owner out of range", deb->name, raw);

	if (hard) {
		size_t hl = strlen(hard);
		if (hl == 0 || hl > KILN_DEB_MAX_NAME || strchr(hard, '\n'))
			return kiln_error_set(err, "'%s': entry '%s': bad hard link target", deb->name,
					      raw);
		free(deb->link_buf);
		deb->link_buf = kiln_xmalloc(hl + 1);
		if (kiln_deb_path_normalize(hard, deb->link_buf) < 0 || !deb->link_buf[0])
			return kiln_error_set(err, "'%s': refusing hard link '%s' to '%s': target leaves the package",
					      deb->name, raw, hard);
		out->type = KILN_DEB_HARDLINK;
		out->hardlink_target = deb->link_buf;
		if (!out->path[0])
			return kiln_error_set(err, "'%s': entry '%s': the root as a hard link", deb->name,
					      raw);
		return 0;
	}
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR:
		out->type = KILN_DEB_DIR;
		return 0;
	case AE_IFREG:
		out->type = KILN_DEB_FILE;
		if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
			return kiln_error_set(err, "'%s': entry '%s': no size", deb->name, raw);
		out->size = (uint64_t)archive_entry_size(e);
		if (out->size > deb->max_file_size)
			return kiln_error_set(err, "'%s': entry '%s': %llu bytes is over the limit of %llu",
					      deb->name, raw, (unsigned long long)out->size,
					      (unsigned long long)deb->max_file_size);
		break;
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target || !*target || strlen(target) > KILN_DEB_MAX_NAME)
			return kiln_error_set(err, "'%s': entry '%s': missing or too long symlink target",
					      deb->name, raw);
		out->type = KILN_DEB_SYMLINK;
		out->link_target = target;
		break;
	}
	case AE_IFCHR:
	case AE_IFBLK:
		return kiln_error_set(err, "'%s': refusing entry '%s': device node", deb->name, raw);
	case AE_IFIFO:
		return kiln_error_set(err, "'%s': refusing entry '%s': fifo", deb->name, raw);
	case AE_IFSOCK:
		return kiln_error_set(err, "'%s': refusing entry '%s': socket", deb->name, raw);
	default:
		return kiln_error_set(err, "'%s': refusing entry '%s': unknown file type", deb->name,
				      raw);
	}
	if (!out->path[0])
		return kiln_error_set(err, "'%s': entry '%s': the root is not a directory", deb->name,
				      raw);
	return 0;
}

static int read_data_tar(struct kiln_deb *deb, const char *member, int comp,
			 kiln_deb_entry_fn fn, void *ctx, struct kiln_error *err)
{
	struct archive_entry *e;
	uint64_t count = 0;
	int r;

	if (open_inner(deb, member, comp, err) < 0)
		return -1;
	while ((r = archive_read_next_header(deb->inner, &e)) >= ARCHIVE_WARN &&
	       r != ARCHIVE_EOF) {
		struct kiln_deb_entry entry;

		if (count == 0 && check_filter(deb, member, comp, err) < 0)
			return -1;
		if (++count > deb->max_entries)
			return kiln_error_set(err, "'%s': %s: more than %llu entries", deb->name, member,
					      (unsigned long long)deb->max_entries);
		if (describe_entry(deb, e, member, &entry, err) < 0)
			return -1;
		if (fn(ctx, &entry, err) < 0)
			return kiln_error_prefix(err, "'%s'", deb->name);
	}
	if (r < ARCHIVE_WARN)
		return kiln_error_set(err, "'%s': %s: %s", deb->name, member,
				      archive_error_string(deb->inner));
	if (count == 0)
		return kiln_error_set(err, "'%s': %s: empty or not a tar archive", deb->name, member);
	close_inner(deb);
	return 0;
}

int kiln_deb_read_data(struct kiln_deb *deb, kiln_deb_entry_fn fn, void *ctx,
		       struct kiln_error *err)
{
	const char *name;
	enum member_kind kind;
	int r, comp;

	if (deb->data_done)
		return kiln_error_set(err, "'%s': data.tar already read", deb->name);
	deb->data_done = true;
	r = next_member(deb, &name, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return kiln_error_set(err, "'%s': no data.tar member", deb->name);
	comp = member_compression(name, &kind);
	if (comp < 0)
		return kiln_error_set(err, "'%s': unexpected member '%s' where data.tar belongs",
				      deb->name, name);
	if (kind != MEMBER_DATA)
		return kiln_error_set(err, "'%s': second control member '%s'", deb->name, name);
	if (read_data_tar(deb, name, comp, fn, ctx, err) < 0)
		return -1;
	/* Only ignorable '_' members may follow. */
	r = next_member(deb, &name, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return kiln_error_set(err, "'%s': unexpected member '%s' after data.tar", deb->name,
				      name);
	return 0;
}

ssize_t kiln_deb_entry_read(const struct kiln_deb_entry *entry, void *buf, size_t len,
			    struct kiln_error *err)
{
	struct kiln_deb *deb = entry->deb;
	la_ssize_t n;

	if (!deb->inner || entry->type != KILN_DEB_FILE)
		return kiln_error_set(err, "entry '%s' has no contents to read", entry->path);
	n = archive_read_data(deb->inner, buf, len);
	if (n < 0)
		return kiln_error_set(err, "read '%s': %s", entry->path,
				      archive_error_string(deb->inner));
	return n;
}

/* ---- expanding data.tar ahead of time ------------------------------------- */

#define AR_MAGIC "!<arch>\n"
#define AR_HEADER 60

static void ar_put_member(struct kiln_buf *out, const char *name, const void *data, size_t len)
{
	char header[AR_HEADER + 1];

	snprintf(header, sizeof(header), "%-16s%-12s%-6s%-6s%-8s%-10zu`\n", name, "0", "0", "0",
		 "100644", len);
	kiln_buf_add(out, header, AR_HEADER);
	kiln_buf_add(out, data, len);
	if (len & 1)
		kiln_buf_addch(out, '\n');
}

static int add_to_buf(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	kiln_buf_add(ctx, data, len);
	return 0;
}

/* Only the filter the member's name promises, as the reader does: a
 * data.tar.xz holding gzip stays an error. */
static int inflate_member(const void *data, size_t len, int filter, uint64_t max,
			  struct kiln_buf *out, struct kiln_error *err)
{
	return kiln_decode_stream(NULL, data, len, filter, max, "data.tar", add_to_buf, out, err);
}

void *kiln_deb_expand(const void *data, size_t len, uint64_t max_data, size_t *out_len,
		      struct kiln_error *err)
{
	const unsigned char *p = data, *end = p + len;
	struct kiln_buf out = KILN_BUF_INIT;
	bool expanded = false;

	if (len < strlen(AR_MAGIC) || memcmp(p, AR_MAGIC, strlen(AR_MAGIC)) != 0) {
		kiln_error_set(err, "not an ar archive");
		return NULL;
	}
	kiln_buf_add(&out, AR_MAGIC, strlen(AR_MAGIC));
	p += strlen(AR_MAGIC);
	while (p < end) {
		char name[17], size_text[11];
		unsigned long long size;
		char *stop;

		if ((size_t)(end - p) < AR_HEADER || p[58] != '`' || p[59] != '\n')
			goto bad;
		memcpy(name, p, 16);
		name[16] = '\0';
		for (int i = 15; i >= 0 && (name[i] == ' ' || name[i] == '/'); i--)
			name[i] = '\0';
		memcpy(size_text, p + 48, 10);
		size_text[10] = '\0';
		size = strtoull(size_text, &stop, 10);
		if (stop == size_text || (*stop && *stop != ' ') || size > (uint64_t)(end - p - AR_HEADER))
			goto bad;
		p += AR_HEADER;
		enum member_kind kind;
		int comp = member_compression(name, &kind);
		if (!expanded && comp >= 0 && kind == MEMBER_DATA &&
		    compressions[comp].filter != ARCHIVE_FILTER_NONE) {
			struct kiln_buf tar = KILN_BUF_INIT;
			if (inflate_member(p, (size_t)size, compressions[comp].filter, max_data, &tar, err) < 0) {
				kiln_buf_release(&tar);
				kiln_buf_release(&out);
				return NULL;
			}
			ar_put_member(&out, "data.tar", tar.data ? tar.data : "", tar.len);
			kiln_buf_release(&tar);
			expanded = true;
		} else {
			ar_put_member(&out, name, p, (size_t)size);
			expanded |= comp >= 0 && kind == MEMBER_DATA;
		}
		p += size + (size & 1);
	}
	if (!expanded)
		goto bad;
	*out_len = out.len;
	return kiln_buf_detach(&out);
bad:
	kiln_buf_release(&out);
	kiln_error_set(err, "unexpected ar framing");
	return NULL;
}
