#include "lock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "deb822.h"
#include "debversion.h"
#include "fsutil.h"
#include "hash.h"
#include "util.h"
#include "yamltree.h"

#define LOCK_MAX_SIZE (64u << 20)

char *kiln_lock_path_for(const char *manifest_path)
{
	size_t n = strlen(manifest_path);

	if (kiln_str_has_suffix(manifest_path, ".yaml"))
		return kiln_xasprintf("%.*s.lock", (int)(n - 5), manifest_path);
	if (kiln_str_has_suffix(manifest_path, ".yml"))
		return kiln_xasprintf("%.*s.lock", (int)(n - 4), manifest_path);
	return kiln_xasprintf("%s.lock", manifest_path);
}

/* Length-prefixed fields keep the digest unambiguous whatever the text. */
static void put_field(struct kiln_buf *b, const char *key, const char *value)
{
	kiln_buf_printf(b, "%s %zu:%s\n", key, strlen(value), value);
}

char *kiln_lock_inputs(const struct kiln_manifest *m)
{
	struct kiln_buf b = KILN_BUF_INIT;
	char hex[KILN_SHA256_HEX_LEN + 1];

	kiln_buf_adds(&b, "kiln-lock-inputs 1\n");
	put_field(&b, "architecture", m->architecture);
	for (size_t i = 0; i < m->n_sources; i++) {
		const struct kiln_source *s = &m->sources[i];
		put_field(&b, "source", s->name);
		put_field(&b, "suite", s->suite);
		for (size_t c = 0; c < s->n_components; c++)
			put_field(&b, "component", s->components[c]);
		put_field(&b, s->trusted ? "trusted" : "keyring", s->trusted ? "true" : s->keyring);
	}
	/* Pins in name order: reordering the manifest is not a change. */
	const struct kiln_package_pin **pins = kiln_xcalloc(m->n_packages, sizeof(*pins));
	for (size_t i = 0; i < m->n_packages; i++)
		pins[i] = &m->packages[i];
	for (size_t i = 1; i < m->n_packages; i++)
		for (size_t j = i; j > 0 && strcmp(pins[j - 1]->name, pins[j]->name) > 0; j--) {
			const struct kiln_package_pin *t = pins[j];
			pins[j] = pins[j - 1];
			pins[j - 1] = t;
		}
	for (size_t i = 0; i < m->n_packages; i++) {
		put_field(&b, "package", pins[i]->name);
		put_field(&b, "version", pins[i]->version);
	}
	free(pins);
	/* Only skip counts (it locks no Essential set), and only when given:
	 * a lock for the default is what it always was. */
	if (m->scripts && strcmp(m->scripts, "skip") == 0)
		put_field(&b, "scripts", m->scripts);
	kiln_sha256_hex(b.data, b.len, hex);
	kiln_buf_release(&b);
	return kiln_xasprintf("sha256:%s", hex);
}

static const struct kiln_lock_package *lock_find(const struct kiln_lock *lock, const char *name)
{
	for (size_t i = 0; i < lock->n_packages; i++)
		if (strcmp(lock->packages[i].name, name) == 0)
			return &lock->packages[i];
	return NULL;
}

char *kiln_lock_explain_drift(const struct kiln_lock *lock, const struct kiln_manifest *m)
{
	struct kiln_buf b = KILN_BUF_INIT;

	for (size_t i = 0; i < m->n_packages; i++) {
		const struct kiln_package_pin *pin = &m->packages[i];
		const struct kiln_lock_package *p = lock_find(lock, pin->name);
		if (!p)
			kiln_buf_printf(&b, "%spackages.%s: %s is not in the lock", b.len ? "; " : "",
					pin->name, pin->version);
		else if (kiln_debversion_compare(p->version, pin->version) != 0)
			kiln_buf_printf(&b, "%spackages.%s: pinned %s, locked %s", b.len ? "; " : "",
					pin->name, pin->version, p->version);
	}
	for (size_t i = 0; i < m->n_sources; i++) {
		bool found = false;
		for (size_t j = 0; j < lock->n_sources; j++)
			if (strcmp(lock->sources[j].name, m->sources[i].name) == 0) {
				found = true;
				if (strcmp(lock->sources[j].suite, m->sources[i].suite) != 0)
					kiln_buf_printf(&b, "%ssources.%s: suite %s, locked %s",
							b.len ? "; " : "", m->sources[i].name,
							m->sources[i].suite, lock->sources[j].suite);
			}
		if (!found)
			kiln_buf_printf(&b, "%ssources.%s is not in the lock", b.len ? "; " : "",
					m->sources[i].name);
	}
	if (!b.len)
		kiln_buf_adds(&b, "a package was removed, or the architecture, components or keyrings changed");
	return kiln_buf_detach(&b);
}

/* Values kiln writes are checked names, versions and paths; anything else
 * is double-quoted so the YAML always reads back as the same string. */
static void put_scalar(struct kiln_buf *b, const char *s)
{
	bool plain = *s && strchr("-?:,[]{}#&*!|>'\"%@`~ ", *s) == NULL;

	for (const char *p = s; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr("._+~:/-", *p);
	/* A trailing ':' would read back as a mapping key ("a:b:" too). */
	if (plain && (strcmp(s, "null") == 0 || strcmp(s, "true") == 0 || strcmp(s, "false") == 0 ||
		      strcmp(s, "~") == 0 || s[strlen(s) - 1] == ':'))
		plain = false;
	if (plain) {
		kiln_buf_adds(b, s);
		return;
	}
	kiln_buf_addch(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			kiln_buf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			kiln_buf_printf(b, "\\x%02x", *p);
		else
			kiln_buf_addch(b, (char)*p);
	}
	kiln_buf_addch(b, '"');
}

char *kiln_lock_format(const struct kiln_lock *lock)
{
	struct kiln_buf b = KILN_BUF_INIT;

	kiln_buf_adds(&b, "# generated by kiln lock; do not edit\n");
	kiln_buf_adds(&b, "kiln-lock: " KILN_LOCK_VERSION "\n");
	kiln_buf_adds(&b, "inputs: ");
	put_scalar(&b, lock->inputs);
	/* An empty list must be written "[]": a bare "sources:" reads as null. */
	kiln_buf_adds(&b, lock->n_sources ? "\nsources:\n" : "\nsources: []\n");
	for (size_t i = 0; i < lock->n_sources; i++) {
		const struct kiln_lock_source *s = &lock->sources[i];
		kiln_buf_adds(&b, "  - {name: ");
		put_scalar(&b, s->name);
		kiln_buf_adds(&b, ", suite: ");
		put_scalar(&b, s->suite);
		kiln_buf_adds(&b, ", release: ");
		put_scalar(&b, s->release);
		kiln_buf_adds(&b, "}\n");
	}
	kiln_buf_adds(&b, lock->n_packages ? "packages:\n" : "packages: []\n");
	for (size_t i = 0; i < lock->n_packages; i++) {
		const struct kiln_lock_package *p = &lock->packages[i];
		kiln_buf_adds(&b, "  - name: ");
		put_scalar(&b, p->name);
		kiln_buf_adds(&b, "\n    version: ");
		put_scalar(&b, p->version);
		kiln_buf_adds(&b, "\n    architecture: ");
		put_scalar(&b, p->architecture);
		kiln_buf_adds(&b, "\n    source: ");
		put_scalar(&b, p->source);
		kiln_buf_adds(&b, "\n    filename: ");
		put_scalar(&b, p->filename);
		kiln_buf_printf(&b, "\n    size: %llu\n    sha256: %s\n    depends: [",
				(unsigned long long)p->size, p->sha256);
		for (size_t k = 0; k < p->n_depends; k++) {
			if (k)
				kiln_buf_adds(&b, ", ");
			put_scalar(&b, p->depends[k]);
		}
		kiln_buf_adds(&b, "]\n");
		/* Only when there is something to say: a closure without scripts
		 * locks as it always did. */
		if (p->n_scripts) {
			kiln_buf_adds(&b, "    scripts: [");
			for (size_t k = 0; k < p->n_scripts; k++)
				kiln_buf_printf(&b, "%s%s", k ? ", " : "", p->scripts[k]);
			kiln_buf_adds(&b, "]\n");
		}
		if (p->why)
			kiln_buf_printf(&b, "    why: %s\n", p->why);
	}
	return kiln_buf_detach(&b);
}

/* ---- reading ---- */

struct reader {
	const char *path;
	struct kiln_error *err;
};

static int bad(struct reader *r, const struct kiln_yaml_node *n, const char *what, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));
static int bad(struct reader *r, const struct kiln_yaml_node *n, const char *what, const char *fmt,
	       ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kiln_error_set(r->err, "%s:%u:%u: %s: %s", r->path, n->line, n->column, what, msg);
}

static int expect_kind(struct reader *r, const struct kiln_yaml_node *n, enum kiln_yaml_kind kind,
		       const char *what)
{
	if (n->kind != kind)
		return bad(r, n, what, "expected %s", kiln_yaml_kind_name(kind));
	return 0;
}

/* Every key of map must be one of allowed (NULL-terminated), and every
 * one of them present: the shared schema walker's check, so an unknown key
 * is named with its nearest known one, as in the manifest. */
/* The keys in allowed, the first n_required of them required (all when
 * n_required is 0). */
static int check_keys_n(struct reader *r, const struct kiln_yaml_node *map, const char *what,
			const char *const *allowed, unsigned n_required)
{
	_cleanup_yaml_walk_ struct kiln_yaml_walk w = KILN_YAML_WALK_INIT(r->path, r->err);
	unsigned n = 0;

	while (allowed[n])
		n++;
	if (n_required)
		n = n_required;
	kiln_buf_adds(&w.path, what);
	return kiln_yaml_walk_map(&w, map, allowed, (1u << n) - 1, NULL, NULL);
}

static int check_keys(struct reader *r, const struct kiln_yaml_node *map, const char *what,
		      const char *const *allowed)
{
	return check_keys_n(r, map, what, allowed, 0);
}

static char *scalar(struct reader *r, const struct kiln_yaml_node *map, const char *key,
		    const char *what)
{
	const struct kiln_yaml_node *n = kiln_yaml_get(map, key);
	if (expect_kind(r, n, KILN_YAML_SCALAR, what) < 0)
		return NULL;
	return kiln_xstrdup(n->value);
}

static bool safe_pool_path(const char *p)
{
	if (!*p || *p == '/' || strlen(p) > 4096)
		return false;
	for (const char *c = p; *c; c++) {
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 127 || strchr("\\?#%", *c))
			return false;
		if (c[0] == '.' && c[1] == '.' && (c == p || c[-1] == '/') && (c[2] == '/' || !c[2]))
			return false;
	}
	return true;
}

static bool name_like(const char *s)
{
	if (!*s)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("._+-", *c)))
			return false;
	return true;
}

/* "sha256:" and 64 lowercase hex digits, as kiln writes digests. */
static bool sha256_ref(const char *s)
{
	return strncmp(s, "sha256:", 7) == 0 && kiln_sha256_hex_valid(s + 7, strlen(s + 7));
}

/* Suites become parts of URLs and paths (dists/SUITE/), as in the manifest. */
static bool suite_like(const char *s)
{
	if (!*s || *s == '/' || strlen(s) > 128)
		return false;
	for (const char *c = s; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      strchr("._/-", *c)))
			return false;
		if (c[0] == '.' && (c == s || c[-1] == '/') && (!c[1] || c[1] == '/' ||
								 (c[1] == '.' && (!c[2] || c[2] == '/'))))
			return false;
	}
	return true;
}

static int compare_sources(const void *a, const void *b, void *ctx)
{
	const struct kiln_lock *lock = ctx;
	return strcmp(lock->sources[*(const size_t *)a].name, lock->sources[*(const size_t *)b].name);
}

/* Is name one of the lock's sources (order: indices sorted by name)? */
static bool has_source(const struct kiln_lock *lock, const size_t *order, const char *name)
{
	size_t lo = 0, hi = lock->n_sources;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(lock->sources[order[mid]].name, name);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Is name one of the lock's packages (sorted by name)? */
static bool lock_has(const struct kiln_lock *lock, const char *name)
{
	size_t lo = 0, hi = lock->n_packages;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(lock->packages[mid].name, name);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int read_package(struct reader *r, const struct kiln_yaml_node *n, struct kiln_lock_package *p,
			size_t index)
{
	static const char *const keys[] = { "name", "version", "architecture", "source", "filename",
					    "size", "sha256", "depends", "scripts", "why", NULL };
	static const char *const script_names[] = KILN_LOCK_SCRIPTS;
	const struct kiln_yaml_node *scripts, *why;
	char what[64];
	const struct kiln_yaml_node *deps, *size;
	unsigned long long sz = 0;

	snprintf(what, sizeof(what), "packages[%zu]", index);
	if (expect_kind(r, n, KILN_YAML_MAPPING, what) < 0 ||
	    check_keys_n(r, n, what, keys, 8) < 0)
		return -1;
	if (!(p->name = scalar(r, n, "name", what)) || !(p->version = scalar(r, n, "version", what)) ||
	    !(p->architecture = scalar(r, n, "architecture", what)) ||
	    !(p->source = scalar(r, n, "source", what)) ||
	    !(p->filename = scalar(r, n, "filename", what)) ||
	    !(p->sha256 = scalar(r, n, "sha256", what)))
		return -1;
	if (!kiln_debversion_package_name_valid(p->name, strlen(p->name)))
		return bad(r, kiln_yaml_get(n, "name"), what, "bad package name \"%s\"", p->name);
	if (!kiln_debversion_valid(p->version, strlen(p->version), NULL))
		return bad(r, kiln_yaml_get(n, "version"), what, "bad version \"%s\"", p->version);
	if (!name_like(p->architecture))
		return bad(r, kiln_yaml_get(n, "architecture"), what, "bad architecture \"%s\"", p->architecture);
	if (!safe_pool_path(p->filename))
		return bad(r, kiln_yaml_get(n, "filename"), what, "unsafe filename \"%s\"", p->filename);
	if (!kiln_sha256_hex_valid(p->sha256, strlen(p->sha256)))
		return bad(r, kiln_yaml_get(n, "sha256"), what, "\"%s\" is not a sha256", p->sha256);
	size = kiln_yaml_get(n, "size");
	if (expect_kind(r, size, KILN_YAML_SCALAR, what) < 0)
		return -1;
	{
		struct kiln_slice s = { size->value, size->value_len };
		if (!kiln_slice_to_u64(s, &sz))
			return bad(r, size, what, "size \"%s\" is not a number", size->value);
	}
	p->size = sz;
	deps = kiln_yaml_get(n, "depends");
	if (expect_kind(r, deps, KILN_YAML_SEQUENCE, what) < 0)
		return -1;
	p->depends = kiln_xcalloc(deps->n_items, sizeof(*p->depends));
	for (size_t k = 0; k < deps->n_items; k++) {
		if (expect_kind(r, deps->items[k], KILN_YAML_SCALAR, what) < 0)
			return -1;
		if (!kiln_debversion_package_name_valid(deps->items[k]->value, deps->items[k]->value_len))
			return bad(r, deps->items[k], what, "bad package name \"%s\"", deps->items[k]->value);
		p->depends[p->n_depends++] = kiln_xstrdup(deps->items[k]->value);
	}
	if ((scripts = kiln_yaml_get(n, "scripts"))) {
		size_t next = 0;
		if (expect_kind(r, scripts, KILN_YAML_SEQUENCE, what) < 0)
			return -1;
		p->scripts = kiln_xcalloc(scripts->n_items + 1, sizeof(*p->scripts));
		for (size_t k = 0; k < scripts->n_items; k++) {
			const struct kiln_yaml_node *s = scripts->items[k];
			if (expect_kind(r, s, KILN_YAML_SCALAR, what) < 0)
				return -1;
			/* One of the names, each once, in their order. */
			while (next < KILN_ARRAY_SIZE(script_names) && strcmp(script_names[next], s->value) != 0)
				next++;
			if (next == KILN_ARRAY_SIZE(script_names))
				return bad(r, s, what, "scripts: \"%s\" is not config, postinst, preinst or triggers "
					   "(each once, in that order)", s->value);
			p->scripts[p->n_scripts++] = kiln_xstrdup(script_names[next++]);
		}
	}
	if ((why = kiln_yaml_get(n, "why"))) {
		if (!(p->why = scalar(r, n, "why", what)))
			return -1;
		if (strcmp(p->why, "essential") != 0 && strcmp(p->why, "essential-dependency") != 0)
			return bad(r, why, what, "why: \"%s\" is not essential or essential-dependency", p->why);
	}
	return 0;
}

struct kiln_lock *kiln_lock_parse(const char *path, const char *data, size_t len,
				  struct kiln_error *err)
{
	static const char *const top_keys[] = { "kiln-lock", "inputs", "sources", "packages", NULL };
	static const char *const source_keys[] = { "name", "suite", "release", NULL };
	/* A lock grows with the package closure (see yamltree.h). */
	static const struct kiln_yaml_options opts = { "lockfile", 1000000 };
	struct reader r = { path, err };
	struct kiln_yaml_node *root = kiln_yaml_parse(path, data, len, &opts, err);
	struct kiln_lock *lock = NULL;
	const struct kiln_yaml_node *n;
	size_t *source_order = NULL;

	if (!root)
		return NULL;
	lock = kiln_xcalloc(1, sizeof(*lock));
	if (expect_kind(&r, root, KILN_YAML_MAPPING, "lock") < 0 ||
	    check_keys(&r, root, "lock", top_keys) < 0)
		goto fail;
	n = kiln_yaml_get(root, "kiln-lock");
	if (expect_kind(&r, n, KILN_YAML_SCALAR, "kiln-lock") < 0)
		goto fail;
	if (strcmp(n->value, KILN_LOCK_VERSION) != 0) {
		bad(&r, n, "kiln-lock", "version \"%s\" is not one this kiln reads (1)", n->value);
		goto fail;
	}
	if (!(lock->inputs = scalar(&r, root, "inputs", "inputs")))
		goto fail;
	if (!sha256_ref(lock->inputs)) {
		bad(&r, kiln_yaml_get(root, "inputs"), "inputs", "\"%s\" is not sha256:HEX", lock->inputs);
		goto fail;
	}
	n = kiln_yaml_get(root, "sources");
	if (expect_kind(&r, n, KILN_YAML_SEQUENCE, "sources") < 0)
		goto fail;
	lock->sources = kiln_xcalloc(n->n_items, sizeof(*lock->sources));
	for (size_t i = 0; i < n->n_items; i++) {
		const struct kiln_yaml_node *s = n->items[i];
		struct kiln_lock_source *ls = &lock->sources[lock->n_sources++];
		if (expect_kind(&r, s, KILN_YAML_MAPPING, "sources") < 0 ||
		    check_keys(&r, s, "sources", source_keys) < 0 ||
		    !(ls->name = scalar(&r, s, "name", "sources")) ||
		    !(ls->suite = scalar(&r, s, "suite", "sources")) ||
		    !(ls->release = scalar(&r, s, "release", "sources")))
			goto fail;
		if (!name_like(ls->name)) {
			bad(&r, kiln_yaml_get(s, "name"), "sources", "bad source name \"%s\"", ls->name);
			goto fail;
		}
		if (!suite_like(ls->suite)) {
			bad(&r, kiln_yaml_get(s, "suite"), "sources", "bad suite \"%s\"", ls->suite);
			goto fail;
		}
		if (!sha256_ref(ls->release)) {
			bad(&r, kiln_yaml_get(s, "release"), "sources", "\"%s\" is not sha256:HEX",
			    ls->release);
			goto fail;
		}
	}
	/* Source names sorted, so duplicates and lookups stay cheap however
	 * long a hostile lock's lists are. */
	source_order = kiln_xcalloc(lock->n_sources, sizeof(*source_order));
	for (size_t i = 0; i < lock->n_sources; i++)
		source_order[i] = i;
	if (lock->n_sources)
		qsort_r(source_order, lock->n_sources, sizeof(*source_order), compare_sources, lock);
	for (size_t i = 1; i < lock->n_sources; i++) {
		size_t a = source_order[i - 1], b = source_order[i];
		if (strcmp(lock->sources[a].name, lock->sources[b].name) == 0) {
			size_t later = a > b ? a : b;
			bad(&r, kiln_yaml_get(n->items[later], "name"), "sources",
			    "source \"%s\" given twice", lock->sources[later].name);
			goto fail;
		}
	}
	n = kiln_yaml_get(root, "packages");
	if (expect_kind(&r, n, KILN_YAML_SEQUENCE, "packages") < 0)
		goto fail;
	lock->packages = kiln_xcalloc(n->n_items, sizeof(*lock->packages));
	for (size_t i = 0; i < n->n_items; i++) {
		struct kiln_lock_package *p = &lock->packages[lock->n_packages++];
		if (read_package(&r, n->items[i], p, i) < 0)
			goto fail;
		if (i > 0 && strcmp(lock->packages[i - 1].name, p->name) >= 0) {
			bad(&r, n->items[i], "packages", "\"%s\" is out of order or given twice "
			    "(kiln writes packages sorted by name, once each)", p->name);
			goto fail;
		}
		if (!has_source(lock, source_order, p->source)) {
			bad(&r, n->items[i], "packages", "source \"%s\" is not listed under sources:", p->source);
			goto fail;
		}
	}
	/* depends: names packages of this lock (kiln writes nothing else). */
	for (size_t i = 0; i < lock->n_packages; i++)
		for (size_t k = 0; k < lock->packages[i].n_depends; k++) {
			const char *d = lock->packages[i].depends[k];
			if (!lock_has(lock, d)) {
				const struct kiln_yaml_node *deps =
					kiln_yaml_get(n->items[i], "depends")->items[k];
				bad(&r, deps, "packages", "%s depends on \"%s\", which is not in the lock",
				    lock->packages[i].name, d);
				goto fail;
			}
		}
	free(source_order);
	kiln_yaml_free(root);
	return lock;
fail:
	free(source_order);
	kiln_yaml_free(root);
	kiln_lock_free(lock);
	return NULL;
}

struct kiln_lock *kiln_lock_load(const char *path, struct kiln_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;

	/* The lock sits beside the manifest in a work tree that may be a
	 * hostile clone: a committed symlink must not make kiln read (and quote
	 * in its errors) a file outside it (docs/building.md, "What the store
	 * trusts"). */
	data = kiln_file_read_nofollow(path, LOCK_MAX_SIZE, &len, err);
	if (!data)
		return NULL;
	return kiln_lock_parse(path, data, len, err);
}

void kiln_lock_free(struct kiln_lock *lock)
{
	if (!lock)
		return;
	free(lock->inputs);
	for (size_t i = 0; i < lock->n_sources; i++) {
		free(lock->sources[i].name);
		free(lock->sources[i].suite);
		free(lock->sources[i].release);
	}
	free(lock->sources);
	for (size_t i = 0; i < lock->n_packages; i++) {
		struct kiln_lock_package *p = &lock->packages[i];
		free(p->name);
		free(p->version);
		free(p->architecture);
		free(p->source);
		free(p->filename);
		free(p->sha256);
		for (size_t k = 0; k < p->n_depends; k++)
			free(p->depends[k]);
		free(p->depends);
		for (size_t k = 0; k < p->n_scripts; k++)
			free(p->scripts[k]);
		free(p->scripts);
		free(p->why);
	}
	free(lock->packages);
	free(lock);
}
