#include "packages.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debversion.h"
#include "hash.h"
#include "util.h"

struct loaded_file {
	char *data;
	size_t len;
	bool mapped;
	char *label;
};

struct kiln_packages {
	char *architecture;
	struct kiln_pkg *pkgs; size_t n_pkgs, alloc_pkgs;
	struct kiln_provide *provides; size_t n_provides, alloc_provides;
	struct loaded_file *files; size_t n_files, alloc_files;
	/* Open-addressing tables: slot → first package / provide, KILN_PKG_NONE empty. */
	uint32_t *name_slots; size_t name_cap, name_used;
	uint32_t *prov_slots; size_t prov_cap, prov_used;
};

static bool slice_same(struct kiln_slice a, const char *b, size_t blen)
{
	return a.len == blen && memcmp(a.ptr, b, blen) == 0;
}

struct kiln_packages *kiln_packages_new(const char *architecture)
{
	struct kiln_packages *idx = kiln_xcalloc(1, sizeof(*idx));
	idx->architecture = kiln_xstrdup(architecture);
	return idx;
}

void kiln_packages_free(struct kiln_packages *idx)
{
	if (!idx)
		return;
	for (size_t i = 0; i < idx->n_files; i++) {
		if (idx->files[i].mapped)
			munmap(idx->files[i].data, idx->files[i].len);
		else
			free(idx->files[i].data);
		free(idx->files[i].label);
	}
	free(idx->files);
	free(idx->pkgs);
	free(idx->provides);
	free(idx->name_slots);
	free(idx->prov_slots);
	free(idx->architecture);
	free(idx);
}

/* Tables keep a load factor under 1/2; they grow by rehashing. */
static void table_rehash(uint32_t **slots, size_t *cap, size_t want,
			 struct kiln_slice (*key_of)(const struct kiln_packages *, uint32_t),
			 const struct kiln_packages *idx)
{
	size_t ncap = *cap ? *cap : 1024;
	uint32_t *old = *slots;
	size_t ocap = *cap;

	while (ncap < want * 2)
		ncap *= 2;
	if (ncap == ocap)
		return;
	*slots = kiln_xmalloc(ncap * sizeof(uint32_t));
	memset(*slots, 0xff, ncap * sizeof(uint32_t));
	*cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i] == KILN_PKG_NONE)
			continue;
		struct kiln_slice k = key_of(idx, old[i]);
		size_t s = kiln_hash_fnv1a(k.ptr, k.len) & (ncap - 1);
		while ((*slots)[s] != KILN_PKG_NONE)
			s = (s + 1) & (ncap - 1);
		(*slots)[s] = old[i];
	}
	free(old);
}

static struct kiln_slice pkg_key(const struct kiln_packages *idx, uint32_t i)
{
	return idx->pkgs[i].name;
}

static struct kiln_slice provide_key(const struct kiln_packages *idx, uint32_t i)
{
	return idx->provides[i].name;
}

/* Find the slot for name: the slot holding it, or the empty one to use. */
static size_t table_find(const uint32_t *slots, size_t cap, const char *name, size_t len,
			 struct kiln_slice (*key_of)(const struct kiln_packages *, uint32_t),
			 const struct kiln_packages *idx)
{
	size_t s = kiln_hash_fnv1a(name, len) & (cap - 1);
	while (slots[s] != KILN_PKG_NONE) {
		if (slice_same(key_of(idx, slots[s]), name, len))
			return s;
		s = (s + 1) & (cap - 1);
	}
	return s;
}

uint32_t kiln_packages_lookup(const struct kiln_packages *idx, const char *name, size_t len)
{
	if (!idx->name_cap)
		return KILN_PKG_NONE;
	return idx->name_slots[table_find(idx->name_slots, idx->name_cap, name, len, pkg_key, idx)];
}

uint32_t kiln_packages_providers(const struct kiln_packages *idx, const char *name, size_t len)
{
	if (!idx->prov_cap)
		return KILN_PKG_NONE;
	return idx->prov_slots[table_find(idx->prov_slots, idx->prov_cap, name, len, provide_key, idx)];
}

size_t kiln_packages_count(const struct kiln_packages *idx)
{
	return idx->n_pkgs;
}

const struct kiln_pkg *kiln_packages_get(const struct kiln_packages *idx, uint32_t i)
{
	return &idx->pkgs[i];
}

const struct kiln_provide *kiln_packages_provide(const struct kiln_packages *idx, uint32_t i)
{
	return &idx->provides[i];
}

const char *kiln_packages_file_label(const struct kiln_packages *idx, uint32_t file)
{
	return file < idx->n_files ? idx->files[file].label : "?";
}

/* Append to the end of a same-name chain so index order (and so source
 * order) is kept when walking it. */
static void index_name(struct kiln_packages *idx, uint32_t i)
{
	size_t s;
	struct kiln_slice name = idx->pkgs[i].name;

	if ((idx->name_used + 1) * 2 > idx->name_cap)
		table_rehash(&idx->name_slots, &idx->name_cap, idx->name_used + 1, pkg_key, idx);
	s = table_find(idx->name_slots, idx->name_cap, name.ptr, name.len, pkg_key, idx);
	if (idx->name_slots[s] == KILN_PKG_NONE) {
		idx->name_slots[s] = i;
		idx->name_used++;
		return;
	}
	uint32_t j = idx->name_slots[s];
	while (idx->pkgs[j].next_same_name != KILN_PKG_NONE)
		j = idx->pkgs[j].next_same_name;
	idx->pkgs[j].next_same_name = i;
}

static int index_provides(struct kiln_packages *idx, uint32_t i, struct kiln_error *err)
{
	struct kiln_deps deps = KILN_DEPS_INIT;

	if (kiln_deps_parse(idx->pkgs[i].provides, false, &deps, err) < 0) {
		kiln_deps_release(&deps);
		return -1;
	}
	for (size_t a = 0; a < deps.n_atoms; a++) {
		const struct kiln_dep_atom *atom = &deps.atoms[a];
		struct kiln_provide *pv;
		uint32_t pi;
		size_t s;

		if (atom->rel != KILN_REL_ANY && atom->rel != KILN_REL_EQ) {
			kiln_deps_release(&deps);
			return kiln_error_set(err, "Provides may only use \"=\"");
		}
		kiln_xgrow(&idx->provides, &idx->alloc_provides, idx->n_provides + 1,
			   sizeof(*idx->provides));
		pi = (uint32_t)idx->n_provides++;
		pv = &idx->provides[pi];
		pv->name = atom->name;
		pv->version = atom->version;
		pv->pkg = i;
		pv->next = KILN_PKG_NONE;
		if ((idx->prov_used + 1) * 2 > idx->prov_cap)
			table_rehash(&idx->prov_slots, &idx->prov_cap, idx->prov_used + 1, provide_key,
				     idx);
		s = table_find(idx->prov_slots, idx->prov_cap, pv->name.ptr, pv->name.len,
			       provide_key, idx);
		if (idx->prov_slots[s] == KILN_PKG_NONE) {
			idx->prov_slots[s] = pi;
			idx->prov_used++;
		} else {
			uint32_t j = idx->prov_slots[s];
			while (idx->provides[j].next != KILN_PKG_NONE)
				j = idx->provides[j].next;
			idx->provides[j].next = pi;
		}
	}
	kiln_deps_release(&deps);
	return 0;
}

static bool filename_is_safe(struct kiln_slice f)
{
	if (f.len == 0 || f.len > 4096 || f.ptr[0] == '/')
		return false;
	for (size_t i = 0; i < f.len; i++) {
		unsigned char c = (unsigned char)f.ptr[i];
		if (c <= ' ' || c >= 127 || c == '\\' || c == '?' || c == '#' || c == '%')
			return false;
		if (c == '.' && i + 1 < f.len && f.ptr[i + 1] == '.' &&
		    (i == 0 || f.ptr[i - 1] == '/') && (i + 2 == f.len || f.ptr[i + 2] == '/'))
			return false;
	}
	return true;
}

/* Check a finished stanza and keep it when it is for our architecture. */
static int stanza_finish(struct kiln_packages *idx, struct kiln_pkg *p, const char *label,
			 struct kiln_error *err)
{
	const char *why = NULL;
	uint32_t i;

	if (!p->name.ptr)
		return kiln_error_set(err, "%s:%u: stanza without a Package field", label, p->line);
	if (!kiln_debversion_package_name_valid(p->name.ptr, p->name.len))
		return kiln_error_set(err, "%s:%u: bad package name \"%.*s\"", label, p->line,
				      (int)(p->name.len > 100 ? 100 : p->name.len), p->name.ptr);
	if (!p->version.ptr || !kiln_debversion_valid(p->version.ptr, p->version.len, &why))
		return kiln_error_set(err, "%s:%u: package %.*s: bad or missing Version (%s)", label,
				      p->line, (int)p->name.len, p->name.ptr, why ? why : "missing");
	if (!p->architecture.ptr)
		return kiln_error_set(err, "%s:%u: package %.*s: no Architecture", label, p->line,
				      (int)p->name.len, p->name.ptr);
	if (!kiln_slice_eq(p->architecture, idx->architecture) && !kiln_slice_eq(p->architecture, "all"))
		return 0;
	if (!p->filename.ptr || !filename_is_safe(p->filename))
		return kiln_error_set(err, "%s:%u: package %.*s: missing or unsafe Filename", label,
				      p->line, (int)p->name.len, p->name.ptr);
	if (!p->sha256.ptr || !kiln_sha256_hex_valid(p->sha256.ptr, p->sha256.len))
		return kiln_error_set(err, "%s:%u: package %.*s: missing or bad SHA256", label, p->line,
				      (int)p->name.len, p->name.ptr);
	if (p->size == UINT64_MAX)
		return kiln_error_set(err, "%s:%u: package %.*s: missing or bad Size", label, p->line,
				      (int)p->name.len, p->name.ptr);
	if (idx->n_pkgs >= KILN_PKG_NONE - 1)
		return kiln_error_set(err, "%s: too many packages", label);
	kiln_xgrow(&idx->pkgs, &idx->alloc_pkgs, idx->n_pkgs + 1, sizeof(*idx->pkgs));
	i = (uint32_t)idx->n_pkgs++;
	idx->pkgs[i] = *p;
	idx->pkgs[i].next_same_name = KILN_PKG_NONE;
	index_name(idx, i);
	if (p->provides.ptr && index_provides(idx, i, err) < 0)
		return kiln_error_prefix(err, "%s:%u: package %.*s: Provides", label, p->line,
					 (int)p->name.len, p->name.ptr);
	return 0;
}

static int index_text(struct kiln_packages *idx, uint32_t file, uint32_t origin,
		      struct kiln_error *err)
{
	const struct loaded_file *lf = &idx->files[file];
	struct kiln_deb822 scan;
	struct kiln_slice name, value;
	struct kiln_pkg cur;
	unsigned line;
	bool eof, in_stanza = false;
	int rc;

	kiln_deb822_init(&scan, lf->label, lf->data, lf->len);
	for (;;) {
		rc = kiln_deb822_next(&scan, &name, &value, &line, &eof, err);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (in_stanza && stanza_finish(idx, &cur, lf->label, err) < 0)
				return -1;
			in_stanza = false;
			if (eof)
				return 0;
			continue;
		}
		if (!in_stanza) {
			memset(&cur, 0, sizeof(cur));
			cur.size = UINT64_MAX;
			cur.origin = origin;
			cur.file = file;
			cur.line = line;
			in_stanza = true;
		}
		/* Dispatch on the first letter to keep the hot loop cheap; field
		 * names are case-insensitive (deb822(5)). */
		struct kiln_slice *field = NULL;
		switch (name.ptr[0] | 0x20) {
		case 'p':
			if (kiln_slice_eq_nocase(name, "Package")) field = &cur.name;
			else if (kiln_slice_eq_nocase(name, "Pre-Depends")) field = &cur.pre_depends;
			else if (kiln_slice_eq_nocase(name, "Provides")) field = &cur.provides;
			else if (kiln_slice_eq_nocase(name, "Priority")) field = &cur.priority;
			break;
		case 'v':
			if (kiln_slice_eq_nocase(name, "Version")) field = &cur.version;
			break;
		case 'a':
			if (kiln_slice_eq_nocase(name, "Architecture")) field = &cur.architecture;
			break;
		case 'd':
			if (kiln_slice_eq_nocase(name, "Depends")) field = &cur.depends;
			break;
		case 'c':
			if (kiln_slice_eq_nocase(name, "Conflicts")) field = &cur.conflicts;
			break;
		case 'b':
			if (kiln_slice_eq_nocase(name, "Breaks")) field = &cur.breaks;
			break;
		case 'f':
			if (kiln_slice_eq_nocase(name, "Filename")) field = &cur.filename;
			break;
		case 'e':
			if (kiln_slice_eq_nocase(name, "Essential")) field = &cur.essential;
			break;
		case 's':
			if (kiln_slice_eq_nocase(name, "SHA256")) field = &cur.sha256;
			else if (kiln_slice_eq_nocase(name, "Size")) {
				unsigned long long sz;
				if (cur.size != UINT64_MAX)
					return kiln_error_set(err, "%s:%u: Size given twice", lf->label, line);
				if (!kiln_slice_to_u64(value, &sz) || sz == UINT64_MAX)
					return kiln_error_set(err, "%s:%u: bad Size", lf->label, line);
				cur.size = sz;
			}
			break;
		case 'm':
			if (kiln_slice_eq_nocase(name, "Multi-Arch")) field = &cur.multi_arch;
			break;
		}
		/* Two values for one field (say two SHA256 lines) leave it
		 * unclear which one the archive meant: refuse the stanza. */
		if (field && field->ptr)
			return kiln_error_set(err, "%s:%u: %.*s given twice", lf->label, line,
					      (int)name.len, name.ptr);
		if (field)
			*field = value;
	}
}

static uint32_t add_loaded(struct kiln_packages *idx, char *data, size_t len, bool mapped,
			   const char *label)
{
	kiln_xgrow(&idx->files, &idx->alloc_files, idx->n_files + 1, sizeof(*idx->files));
	idx->files[idx->n_files] = (struct loaded_file){ data, len, mapped, kiln_xstrdup(label) };
	return (uint32_t)idx->n_files++;
}

int kiln_packages_add_file(struct kiln_packages *idx, const char *path, const char *label,
			   uint32_t origin, struct kiln_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *map;

	if (fd < 0)
		return kiln_error_errno(err, errno, "open '%s'", path);
	if (fstat(fd, &st) < 0)
		return kiln_error_errno(err, errno, "stat '%s'", path);
	if (st.st_size == 0)
		return kiln_packages_add_buffer(idx, "", 0, label, origin, err);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return kiln_error_errno(err, errno, "map '%s'", path);
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL | MADV_WILLNEED);
	return index_text(idx, add_loaded(idx, map, (size_t)st.st_size, true, label), origin, err);
}

int kiln_packages_add_buffer(struct kiln_packages *idx, const char *data, size_t len,
			     const char *label, uint32_t origin, struct kiln_error *err)
{
	char *copy = kiln_xmalloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	return index_text(idx, add_loaded(idx, copy, len, false, label), origin, err);
}

/* ---- dependency fields ---- */

static void skip_space(const char **p, const char *e)
{
	while (*p < e && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r'))
		(*p)++;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
	       c == '.' || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Skip "[...]" architecture restrictions and "<...>" build profiles. */
static int skip_restrictions(const char **p, const char *e, struct kiln_error *err)
{
	for (;;) {
		skip_space(p, e);
		if (*p >= e || (**p != '[' && **p != '<'))
			return 0;
		char close = **p == '[' ? ']' : '>';
		const char *c = memchr(*p, close, (size_t)(e - *p));
		if (!c)
			return kiln_error_set(err, "unterminated '%c'", **p);
		*p = c + 1;
	}
}

static int parse_atom(const char **pp, const char *e, struct kiln_dep_atom *atom,
		      struct kiln_error *err)
{
	const char *p = *pp, *start;

	memset(atom, 0, sizeof(*atom));
	skip_space(&p, e);
	start = p;
	while (p < e && is_name_char(*p))
		p++;
	if (p == start)
		return kiln_error_set(err, "expected a package name at \"%.*s\"",
				      (int)((e - start) > 40 ? 40 : (e - start)), start);
	atom->name = (struct kiln_slice){ start, (size_t)(p - start) };
	if (p < e && *p == ':') {
		start = ++p;
		while (p < e && is_name_char(*p))
			p++;
		if (p == start)
			return kiln_error_set(err, "expected an architecture after ':' in %.*s",
					      (int)atom->name.len, atom->name.ptr);
		atom->arch_qualifier = (struct kiln_slice){ start, (size_t)(p - start) };
	}
	skip_space(&p, e);
	if (p < e && *p == '(') {
		p++;
		skip_space(&p, e);
		if (e - p >= 2 && p[0] == '<' && p[1] == '<') { atom->rel = KILN_REL_LT; p += 2; }
		else if (e - p >= 2 && p[0] == '<' && p[1] == '=') { atom->rel = KILN_REL_LE; p += 2; }
		else if (e - p >= 2 && p[0] == '>' && p[1] == '>') { atom->rel = KILN_REL_GT; p += 2; }
		else if (e - p >= 2 && p[0] == '>' && p[1] == '=') { atom->rel = KILN_REL_GE; p += 2; }
		else if (p < e && *p == '=') { atom->rel = KILN_REL_EQ; p++; }
		/* The obsolete single '<' and '>' mean <= and >= (deb-control(5)). */
		else if (p < e && *p == '<') { atom->rel = KILN_REL_LE; p++; }
		else if (p < e && *p == '>') { atom->rel = KILN_REL_GE; p++; }
		else
			return kiln_error_set(err, "%.*s: expected a relation (<< <= = >= >>)",
					      (int)atom->name.len, atom->name.ptr);
		skip_space(&p, e);
		start = p;
		while (p < e && *p != ')' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		atom->version = (struct kiln_slice){ start, (size_t)(p - start) };
		skip_space(&p, e);
		if (p >= e || *p != ')')
			return kiln_error_set(err, "%.*s: expected ')'", (int)atom->name.len,
					      atom->name.ptr);
		p++;
		if (!kiln_debversion_valid(atom->version.ptr, atom->version.len, NULL))
			return kiln_error_set(err, "%.*s: bad version \"%.*s\"", (int)atom->name.len,
					      atom->name.ptr,
					      (int)(atom->version.len > 80 ? 80 : atom->version.len),
					      atom->version.ptr);
	}
	if (skip_restrictions(&p, e, err) < 0)
		return -1;
	*pp = p;
	return 0;
}

int kiln_deps_parse(struct kiln_slice field, bool allow_alternatives, struct kiln_deps *out,
		    struct kiln_error *err)
{
	const char *p = field.ptr, *e;

	out->n_atoms = out->n_clauses = 0;
	/* An absent field is a NULL slice: no pointer arithmetic on it. */
	if (field.len == 0)
		return 0;
	e = field.ptr + field.len;
	skip_space(&p, e);
	if (p == e)
		return 0;
	for (;;) {
		kiln_xgrow(&out->atoms, &out->alloc_atoms, out->n_atoms + 1, sizeof(*out->atoms));
		if (parse_atom(&p, e, &out->atoms[out->n_atoms], err) < 0)
			return -1;
		out->n_atoms++;
		skip_space(&p, e);
		if (p < e && *p == '|') {
			if (!allow_alternatives)
				return kiln_error_set(err, "alternatives ('|') are not allowed here");
			p++;
			continue;
		}
		kiln_xgrow(&out->clause_end, &out->alloc_clauses, out->n_clauses + 1,
			   sizeof(*out->clause_end));
		out->clause_end[out->n_clauses++] = out->n_atoms;
		if (p == e)
			return 0;
		if (*p != ',')
			return kiln_error_set(err, "expected ',' or '|' at \"%.*s\"",
					      (int)((e - p) > 40 ? 40 : (e - p)), p);
		p++;
		skip_space(&p, e);
		if (p == e)
			return 0; /* a trailing comma is tolerated, as dpkg does */
	}
}

void kiln_deps_release(struct kiln_deps *d)
{
	free(d->atoms);
	free(d->clause_end);
	memset(d, 0, sizeof(*d));
}
