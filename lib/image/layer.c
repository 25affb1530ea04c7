#include "layer.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "deb822.h"
#include "dpkg.h"
#include "hash.h"

/* A regular file's inode: its bytes, and the extended attribute its
 * hard links share. */
struct kiln_blob {
	size_t refs;
	uint64_t size;
	unsigned char *data;
	char md5[33];
	char *xattr_name;      /* or NULL */
	unsigned char *xattr_value;
	size_t xattr_len;
};

struct kiln_layer_tree {
	/* Open addressing on the path; each slot is the head of that path's
	 * versions, highest layer first. */
	struct kiln_layer_entry **slots;
	size_t nslots, used;
	char **packages;               /* interned package names */
	size_t npackages, packages_alloc;
	int top_layer;                 /* highest layer added to; -1: none yet */
	uint64_t content_bytes;        /* file contents held, against KILN_LAYER_MAX_BYTES */
};

/* ---- blobs and entries -------------------------------------------------- */

static void md5_hex(const void *data, size_t len, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) || mdlen != 16) {
		/* MD5 is only missing from a FIPS-only OpenSSL: dpkg's md5sums
		 * cannot be written then, and there is no recovery. */
		fprintf(stderr, "kiln: OpenSSL cannot compute MD5\n");
		abort();
	}
	for (unsigned i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Takes ownership of data (malloc'd, may be NULL when len is 0). */
static struct kiln_blob *blob_new(void *data, size_t len)
{
	struct kiln_blob *b = kiln_xcalloc(1, sizeof(*b));

	b->refs = 1;
	b->size = len;
	b->data = data;
	md5_hex(data ? data : "", len, b->md5);
	return b;
}

static struct kiln_blob *blob_ref(struct kiln_blob *b)
{
	if (b)
		b->refs++;
	return b;
}

static void blob_unref(struct kiln_blob *b)
{
	if (b && --b->refs == 0) {
		free(b->data);
		free(b->xattr_name);
		free(b->xattr_value);
		free(b);
	}
}

static void entry_free(struct kiln_layer_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->link);
	blob_unref(e->blob);
	free(e);
}

const void *kiln_layer_entry_data(const struct kiln_layer_entry *entry, uint64_t *size)
{
	if (!entry->blob) {
		*size = 0;
		return NULL;
	}
	*size = entry->blob->size;
	return entry->blob->data ? entry->blob->data : (const void *)"";
}

const char *kiln_layer_entry_xattr(const struct kiln_layer_entry *entry, const void **value, size_t *len)
{
	if (!entry->blob || !entry->blob->xattr_name)
		return NULL;
	*value = entry->blob->xattr_value;
	*len = entry->blob->xattr_len;
	return entry->blob->xattr_name;
}

/* ---- the path table ------------------------------------------------------- */

static struct kiln_layer_entry **slot_find(const struct kiln_layer_tree *t, const char *path, size_t len)
{
	size_t mask = t->nslots - 1, i = (size_t)kiln_hash_fnv1a(path, len) & mask;

	for (;; i = (i + 1) & mask) {
		struct kiln_layer_entry *e = t->slots[i];
		if (!e || (strncmp(e->path, path, len) == 0 && e->path[len] == '\0'))
			return &t->slots[i];
	}
}

static void table_grow(struct kiln_layer_tree *t)
{
	struct kiln_layer_entry **old = t->slots;
	size_t oldn = t->nslots;

	t->nslots = oldn ? oldn * 2 : 1024;
	t->slots = kiln_xcalloc(t->nslots, sizeof(*t->slots));
	for (size_t i = 0; i < oldn; i++)
		if (old[i])
			*slot_find(t, old[i]->path, strlen(old[i]->path)) = old[i];
	free(old);
}

static const struct kiln_layer_entry *lookup_n(const struct kiln_layer_tree *t, const char *path,
					      size_t len)
{
	return *slot_find(t, path, len);
}

const struct kiln_layer_entry *kiln_layer_tree_get(const struct kiln_layer_tree *tree, const char *path)
{
	return lookup_n(tree, path, strlen(path));
}

/* Store e as its path's version in e->layer: it replaces the version of
 * the same layer, if any, and hides the ones below. */
static void put_version(struct kiln_layer_tree *t, struct kiln_layer_entry *e)
{
	struct kiln_layer_entry **slot;

	if ((t->used + 1) * 10 >= t->nslots * 7)
		table_grow(t);
	slot = slot_find(t, e->path, strlen(e->path));
	if (!*slot) {
		t->used++;
	} else if ((*slot)->layer == e->layer) {
		struct kiln_layer_entry *old = *slot;
		e->below = old->below;
		old->below = NULL;
		entry_free(old);
		*slot = e;
		return;
	} else {
		e->below = *slot;
	}
	*slot = e;
}

static const char *intern_package(struct kiln_layer_tree *t, const char *name)
{
	for (size_t i = 0; i < t->npackages; i++)
		if (strcmp(t->packages[i], name) == 0)
			return t->packages[i];
	kiln_xgrow(&t->packages, &t->packages_alloc, t->npackages + 1, sizeof(*t->packages));
	t->packages[t->npackages] = kiln_xstrdup(name);
	return t->packages[t->npackages++];
}

struct kiln_layer_tree *kiln_layer_tree_new(void)
{
	struct kiln_layer_tree *t = kiln_xcalloc(1, sizeof(*t));

	t->top_layer = -1;
	table_grow(t);
	return t;
}

void kiln_layer_tree_free(struct kiln_layer_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nslots; i++) {
		struct kiln_layer_entry *e = t->slots[i];
		while (e) {
			struct kiln_layer_entry *below = e->below;
			entry_free(e);
			e = below;
		}
	}
	free(t->slots);
	for (size_t i = 0; i < t->npackages; i++)
		free(t->packages[i]);
	free(t->packages);
	free(t);
}

size_t kiln_layer_size(const struct kiln_layer_tree *t, int layer)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nslots; i++)
		for (const struct kiln_layer_entry *e = t->slots[i]; e; e = e->below)
			if (e->layer == layer)
				n++;
	return n;
}

static int use_layer(struct kiln_layer_tree *t, int layer, struct kiln_error *err)
{
	if (layer < 0)
		return kiln_error_set(err, "layer %d: layers are numbered from 0", layer);
	if (layer < t->top_layer)
		return kiln_error_set(err,
				      "layer %d: layer %d was already added to, and layers are filled in increasing order",
				      layer, t->top_layer);
	t->top_layer = layer;
	return 0;
}

/* ---- resolving paths inside the root -------------------------------------- */

static void path_pop(struct kiln_buf *cur)
{
	char *slash = cur->len ? memrchr(cur->data, '/', cur->len) : NULL;

	cur->len = slash ? (size_t)(slash - cur->data) : 0;
	if (cur->data)
		cur->data[cur->len] = '\0';
}

static void path_push(struct kiln_buf *cur, const char *comp, size_t n)
{
	if (cur->len)
		kiln_buf_addch(cur, '/');
	kiln_buf_add(cur, comp, n);
}

/* Resolve path the way the kernel would inside a chroot at the tree's
 * root: symlinks in parent components (and in the final one when
 * follow_final) are followed, ".." stops at the root, components that do
 * not exist are kept as they are.  *out gets the resolved path ("" for the
 * root). */
static int resolve(const struct kiln_layer_tree *t, const char *path, bool follow_final,
		   struct kiln_buf *out, struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf todo = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf next = KILN_BUF_INIT;
	size_t pos = 0;
	int hops = 0;

	kiln_buf_reset(out);
	kiln_buf_adds(&todo, path);
	while (pos < todo.len) {
		const char *comp;
		size_t n, save;
		bool last;
		const struct kiln_layer_entry *e;

		while (pos < todo.len && todo.data[pos] == '/')
			pos++;
		comp = todo.data + pos;
		while (pos < todo.len && todo.data[pos] != '/')
			pos++;
		n = (size_t)(todo.data + pos - comp);
		while (pos < todo.len && todo.data[pos] == '/')
			pos++;
		last = pos >= todo.len;
		if (n == 0 || (n == 1 && comp[0] == '.'))
			continue;
		if (n == 2 && comp[0] == '.' && comp[1] == '.') {
			path_pop(out);
			continue;
		}
		save = out->len;
		path_push(out, comp, n);
		if (out->len > KILN_LAYER_MAX_PATH)
			return kiln_error_set(err, "'%s': resolved path too long", path);
		if (last && !follow_final)
			break;
		e = lookup_n(t, out->data, out->len);
		if (!e || e->type == KILN_LAYER_DIR)
			continue;
		if (e->type != KILN_LAYER_SYMLINK) {
			if (last)
				break;
			return kiln_error_set(err, "'%s': '%s' is not a directory", path, out->data);
		}
		if (++hops > KILN_LAYER_MAX_SYMLINKS)
			return kiln_error_set(err, "'%s': too many levels of symbolic links", path);
		/* Go on with the link's target, then what was left of the path;
		 * an absolute target starts again at the root. */
		kiln_buf_reset(&next);
		kiln_buf_adds(&next, e->link);
		kiln_buf_addch(&next, '/');
		kiln_buf_add(&next, todo.data + pos, todo.len - pos);
		if (e->link[0] == '/')
			kiln_buf_reset(out);
		else {
			out->len = save;
			out->data[save] = '\0';
		}
		kiln_buf_reset(&todo);
		kiln_buf_add(&todo, next.data, next.len);
		pos = 0;
	}
	if (!out->data)
		kiln_buf_adds(out, "");
	return 0;
}

char *kiln_layer_tree_resolve(const struct kiln_layer_tree *tree, const char *path, bool follow_final,
			struct kiln_error *err)
{
	struct kiln_buf out = KILN_BUF_INIT;

	if (resolve(tree, path, follow_final, &out, err) < 0) {
		kiln_buf_release(&out);
		return NULL;
	}
	return kiln_buf_detach(&out);
}

static struct kiln_layer_entry *entry_new(const char *path, enum kiln_layer_tree_type type, int layer)
{
	struct kiln_layer_entry *e = kiln_xcalloc(1, sizeof(*e));

	e->path = kiln_xstrdup(path);
	e->type = type;
	e->layer = layer;
	return e;
}

/* Every directory above the resolved path must exist: create the missing
 * ones in `layer` (0755 0:0, the epoch), as tar -x does. */
static int ensure_parents(struct kiln_layer_tree *t, const char *resolved, int layer,
			  struct kiln_error *err)
{
	for (const char *s = strchr(resolved, '/'); s; s = strchr(s + 1, '/')) {
		size_t n = (size_t)(s - resolved);
		const struct kiln_layer_entry *e = lookup_n(t, resolved, n);
		struct kiln_layer_entry *d;

		if (e) {
			if (e->type != KILN_LAYER_DIR)
				return kiln_error_set(err, "'%.*s' is not a directory", (int)n, resolved);
			continue;
		}
		d = entry_new("", KILN_LAYER_DIR, layer);
		free(d->path);
		d->path = kiln_xstrndup(resolved, n);
		d->mode = 0755;
		d->time = KILN_LAYER_TIME_EPOCH;
		d->implicit = true;
		put_version(t, d);
	}
	return 0;
}

static const char *type_name(enum kiln_layer_tree_type type)
{
	switch (type) {
	case KILN_LAYER_DIR: return "directory";
	case KILN_LAYER_FILE: return "file";
	case KILN_LAYER_SYMLINK: return "symlink";
	case KILN_LAYER_HARDLINK: return "hard link";
	}
	return "entry";
}

/* Add n (path unresolved, as given; takes ownership) to the tree at its
 * resolved path, following the rules in layer.h. */
static int add_entry(struct kiln_layer_tree *t, struct kiln_layer_entry *n, struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf resolved = KILN_BUF_INIT;
	const struct kiln_layer_entry *old;
	struct kiln_layer_entry *same;

	if (resolve(t, n->path, false, &resolved, err) < 0)
		goto fail;
	if (resolved.len == 0) {
		/* The root itself: always a directory, never replaced. */
		if (n->type == KILN_LAYER_DIR) {
			entry_free(n);
			return 0;
		}
		kiln_error_set(err, "'%s': cannot replace the root with a %s", n->path,
			       type_name(n->type));
		goto fail;
	}
	if (ensure_parents(t, resolved.data, n->layer, err) < 0)
		goto fail;
	old = lookup_n(t, resolved.data, resolved.len);
	same = old && old->layer == n->layer ? (struct kiln_layer_entry *)old : NULL;

	if (old && old->type == KILN_LAYER_DIR && n->type != KILN_LAYER_DIR) {
		kiln_error_set(err, "'%s': cannot replace directory '%s' with a %s", n->path,
			       resolved.data, type_name(n->type));
		goto fail;
	}
	if (n->type == KILN_LAYER_DIR && old && old->type == KILN_LAYER_SYMLINK) {
		/* dpkg keeps a symlink to a directory where a package has a
		 * directory ("bin/" under merged /usr). */
		_cleanup_buf_ struct kiln_buf target = KILN_BUF_INIT;
		const struct kiln_layer_entry *d;

		if (resolve(t, resolved.data, true, &target, err) < 0)
			goto fail;
		d = target.len ? lookup_n(t, target.data, target.len) : NULL;
		if (target.len == 0 || (d && d->type == KILN_LAYER_DIR)) {
			entry_free(n);
			return 0;
		}
		kiln_error_set(err, "'%s': '%s' is a symlink, and not to a directory", n->path,
			       resolved.data);
		goto fail;
	}
	if (n->type == KILN_LAYER_DIR && same && same->type == KILN_LAYER_DIR) {
		/* A directory shipped twice in one layer.  The first writer keeps
		 * mode and owner; kiln's own put_dir always wins; an implicit one
		 * is taken over. */
		if (same->implicit || n->time == KILN_LAYER_TIME_FIXED) {
			same->mode = n->mode;
			same->uid = n->uid;
			same->gid = n->gid;
			same->mtime = n->mtime;
			same->time = n->time;
			same->package = n->package;
			same->implicit = false;
		} else if (same->time == KILN_LAYER_TIME_PACKAGE && n->time == KILN_LAYER_TIME_PACKAGE &&
			   n->mtime > same->mtime) {
			same->mtime = n->mtime;
		}
		entry_free(n);
		return 0;
	}
	free(n->path);
	n->path = kiln_buf_detach(&resolved);
	put_version(t, n);
	return 0;
fail:
	entry_free(n);
	return -1;
}

/* A path kiln was given (leading '/' allowed), normalized; NULL for "..". */
static char *kiln_path(const char *path, struct kiln_error *err)
{
	char *out;

	while (*path == '/')
		path++;
	out = kiln_xmalloc(strlen(path) + 1);
	if (kiln_deb_path_normalize(path, out) < 0) {
		kiln_error_set(err, "'%s': '..' is not allowed", path);
		free(out);
		return NULL;
	}
	return out;
}

static int put_common(struct kiln_layer_tree *t, const char *path, enum kiln_layer_tree_type type,
		      unsigned mode, uint32_t uid, uint32_t gid, int64_t mtime, int layer,
		      const char *link, struct kiln_blob *blob, struct kiln_error *err)
{
	struct kiln_layer_entry *e;
	char *norm;

	if (use_layer(t, layer, err) < 0 || !(norm = kiln_path(path, err))) {
		blob_unref(blob);
		return -1;
	}
	e = entry_new("", type, layer);
	free(e->path);
	e->path = norm;
	e->mode = mode & 07777;
	e->uid = uid;
	e->gid = gid;
	e->mtime = mtime;
	e->time = KILN_LAYER_TIME_FIXED;
	e->link = link ? kiln_xstrdup(link) : NULL;
	e->blob = blob;
	if (add_entry(t, e, err) < 0)
		return kiln_error_prefix(err, "put '%s'", path);
	return 0;
}

int kiln_layer_tree_put_file(struct kiln_layer_tree *tree, const char *path, unsigned mode, uint32_t uid,
		       uint32_t gid, int64_t mtime, const void *data, size_t len, int layer,
		       struct kiln_error *err)
{
	void *copy = NULL;

	if (len) {
		copy = kiln_xmalloc(len);
		memcpy(copy, data, len);
	}
	return put_common(tree, path, KILN_LAYER_FILE, mode, uid, gid, mtime, layer, NULL,
			  blob_new(copy, len), err);
}

int kiln_layer_tree_put_dir(struct kiln_layer_tree *tree, const char *path, unsigned mode, uint32_t uid,
		      uint32_t gid, int64_t mtime, int layer, struct kiln_error *err)
{
	return put_common(tree, path, KILN_LAYER_DIR, mode, uid, gid, mtime, layer, NULL, NULL,
			  err);
}

int kiln_layer_tree_put_symlink(struct kiln_layer_tree *tree, const char *path, const char *target,
			  uint32_t uid, uint32_t gid, int64_t mtime, int layer,
			  struct kiln_error *err)
{
	if (!*target || strlen(target) > KILN_DEB_MAX_NAME)
		return kiln_error_set(err, "put '%s': empty or too long symlink target", path);
	return put_common(tree, path, KILN_LAYER_SYMLINK, 0777, uid, gid, mtime, layer, target,
			  NULL, err);
}

int kiln_layer_tree_put_hardlink(struct kiln_layer_tree *tree, const char *path, const char *target,
				 int layer, struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf resolved = KILN_BUF_INIT;
	_cleanup_free_ char *norm = kiln_path(target, err);
	const struct kiln_layer_entry *te;

	if (!norm)
		return -1;
	if (resolve(tree, norm, false, &resolved, err) < 0)
		return kiln_error_prefix(err, "hard link '%s'", path);
	te = resolved.len ? lookup_n(tree, resolved.data, resolved.len) : NULL;
	if (!te || (te->type != KILN_LAYER_FILE && te->type != KILN_LAYER_HARDLINK) || te->layer != layer)
		return kiln_error_set(err, "hard link '%s' to '%s': %s", path, target,
				      !te ? "no such file in the tree" : te->layer != layer ?
				      "the file is in another layer" : "not a regular file");
	/* One inode: the link has its target's metadata and bytes. */
	return put_common(tree, path, KILN_LAYER_HARDLINK, te->mode, te->uid, te->gid, te->mtime, layer,
			  resolved.data, blob_ref(te->blob), err);
}

int kiln_layer_tree_set_xattr(struct kiln_layer_tree *tree, const char *path, const char *name,
			      const void *value, size_t len, struct kiln_error *err)
{
	struct kiln_layer_entry *e = *slot_find(tree, path, strlen(path));
	struct kiln_blob *b;

	if (!e || (e->type != KILN_LAYER_FILE && e->type != KILN_LAYER_HARDLINK) || e->layer != tree->top_layer)
		return kiln_error_set(err, "extended attribute '%s' on '%s': %s", name, path,
				      !e ? "no such file in the tree" : e->layer != tree->top_layer ?
				      "the file is in a lower layer" : "not a regular file");
	if (!*name || len > KILN_LAYER_MAX_XATTR)
		return kiln_error_set(err, "extended attribute '%s' on '%s': %s", name, path,
				      *name ? "value too long" : "empty name");
	b = e->blob;
	free(b->xattr_name);
	free(b->xattr_value);
	b->xattr_name = kiln_xstrdup(name);
	b->xattr_value = kiln_xmalloc(len ? len : 1);
	if (len)
		memcpy(b->xattr_value, value, len);
	b->xattr_len = len;
	return 0;
}

struct kiln_layer_tree *kiln_layer_tree_new_root(void)
{
	static const char *const dirs[] = { "usr", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64" };
	static const char *const links[][2] = {
		{ "bin", "usr/bin" }, { "sbin", "usr/sbin" },
		{ "lib", "usr/lib" }, { "lib64", "usr/lib64" },
	};
	struct kiln_layer_tree *t = kiln_layer_tree_new();

	t->top_layer = 0;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(dirs); i++) {
		struct kiln_layer_entry *e = entry_new(dirs[i], KILN_LAYER_DIR, 0);
		e->mode = 0755;
		e->time = KILN_LAYER_TIME_EPOCH;
		put_version(t, e);
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(links); i++) {
		struct kiln_layer_entry *e = entry_new(links[i][0], KILN_LAYER_SYMLINK, 0);
		e->mode = 0777;
		e->time = KILN_LAYER_TIME_EPOCH;
		e->link = kiln_xstrdup(links[i][1]);
		put_version(t, e);
	}
	return t;
}

/* ---- unpacking a .deb ------------------------------------------------------- */

struct conffile {
	char *path;       /* "/etc/x" */
	bool remove_on_upgrade;
	char md5[33];     /* "" until the package's file is seen */
};

struct unpack {
	struct kiln_layer_tree *tree;
	int layer;
	const char *package;
	bool has_md5sums;
	struct kiln_buf list, md5sums;
	struct conffile *conffiles;
	size_t nconffiles, conffiles_alloc;
};

static void unpack_release(struct unpack *u)
{
	kiln_buf_release(&u->list);
	kiln_buf_release(&u->md5sums);
	for (size_t i = 0; i < u->nconffiles; i++)
		free(u->conffiles[i].path);
	free(u->conffiles);
}

/* DEBIAN/conffiles: one absolute path a line, optionally after the
 * "remove-on-upgrade" flag (dpkg >= 1.20.1). */
static int parse_conffiles(struct unpack *u, const char *deb_name, const char *text,
			   struct kiln_error *err)
{
	struct kiln_slice rest = { text, text ? strlen(text) : 0 };

	while (rest.len) {
		const char *nl = memchr(rest.ptr, '\n', rest.len);
		struct kiln_slice line = { rest.ptr, nl ? (size_t)(nl - rest.ptr) : rest.len };
		struct kiln_slice w1, w2, w3, words = line;
		struct conffile *c;
		bool flag = false;

		rest.ptr += line.len + (nl ? 1 : 0);
		rest.len -= line.len + (nl ? 1 : 0);
		if (!kiln_slice_next_word(&words, &w1))
			continue;
		if (kiln_slice_next_word(&words, &w2)) {
			if (!kiln_slice_eq(w1, "remove-on-upgrade") ||
			    kiln_slice_next_word(&words, &w3))
				return kiln_error_set(err, "'%s': conffiles: bad line '%.*s'", deb_name,
						      (int)line.len, line.ptr);
			flag = true;
			w1 = w2;
		}
		if (w1.len < 2 || w1.ptr[0] != '/' || w1.len > KILN_DEB_MAX_NAME)
			return kiln_error_set(err, "'%s': conffiles: '%.*s' is not an absolute path",
					      deb_name, (int)w1.len, w1.ptr);
		kiln_xgrow(&u->conffiles, &u->conffiles_alloc, u->nconffiles + 1,
			   sizeof(*u->conffiles));
		c = &u->conffiles[u->nconffiles++];
		c->path = kiln_xstrndup(w1.ptr, w1.len);
		c->remove_on_upgrade = flag;
		c->md5[0] = '\0';
	}
	return 0;
}

static struct conffile *find_conffile(struct unpack *u, const char *path)
{
	for (size_t i = 0; i < u->nconffiles; i++)
		if (strcmp(u->conffiles[i].path + 1, path) == 0)
			return &u->conffiles[i];
	return NULL;
}

static int read_contents(const struct kiln_deb_entry *de, void **data, struct kiln_error *err)
{
	_cleanup_free_ unsigned char *buf = NULL;
	size_t alloc = 0, used = 0;

	/* Grow with what arrives rather than trusting the declared size. */
	for (;;) {
		ssize_t n;

		if (used == alloc) {
			size_t want = alloc ? alloc * 2 : 65536;
			if (want > de->size)
				want = (size_t)de->size + 1;
			buf = kiln_xrealloc(buf, want);
			alloc = want;
		}
		n = kiln_deb_entry_read(de, buf + used, alloc - used, err);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > de->size)
			return kiln_error_set(err, "'%s': more bytes than its size", de->path);
	}
	if (used != de->size)
		return kiln_error_set(err, "'%s': %zu bytes, its header says %llu", de->path, used,
				      (unsigned long long)de->size);
	*data = kiln_steal_pointer(&buf);
	return 0;
}

static int unpack_entry(void *ctx, const struct kiln_deb_entry *de, struct kiln_error *err)
{
	struct unpack *u = ctx;
	struct kiln_layer_entry *e;
	struct conffile *conf = NULL;

	if (!de->path[0]) {
		kiln_buf_adds(&u->list, "/.\n");
		return 0;
	}
	kiln_buf_printf(&u->list, "/%s\n", de->path);
	e = entry_new(de->path, KILN_LAYER_DIR, u->layer);
	e->mode = de->mode;
	e->uid = de->uid;
	e->gid = de->gid;
	e->mtime = de->mtime;
	e->time = KILN_LAYER_TIME_PACKAGE;
	e->package = u->package;
	switch (de->type) {
	case KILN_DEB_DIR:
		break;
	case KILN_DEB_SYMLINK:
		e->type = KILN_LAYER_SYMLINK;
		e->link = kiln_xstrdup(de->link_target);
		break;
	case KILN_DEB_FILE: {
		void *data = NULL;
		/* A small .deb can claim gigabytes: bound what the tree holds. */
		if (u->tree->content_bytes + de->size > KILN_LAYER_MAX_BYTES) {
			entry_free(e);
			return kiln_error_set(err, "'%s': the image's files would pass %llu GiB", de->path,
					      (unsigned long long)(KILN_LAYER_MAX_BYTES >> 30));
		}
		u->tree->content_bytes += de->size;
		if (read_contents(de, &data, err) < 0) {
			entry_free(e);
			return -1;
		}
		e->type = KILN_LAYER_FILE;
		e->blob = blob_new(data, (size_t)de->size);
		break;
	}
	case KILN_DEB_HARDLINK: {
		_cleanup_buf_ struct kiln_buf target = KILN_BUF_INIT;
		const struct kiln_layer_entry *te;

		if (resolve(u->tree, de->hardlink_target, false, &target, err) < 0) {
			entry_free(e);
			return kiln_error_prefix(err, "hard link '%s'", de->path);
		}
		te = target.len ? lookup_n(u->tree, target.data, target.len) : NULL;
		if (!te || (te->type != KILN_LAYER_FILE && te->type != KILN_LAYER_HARDLINK)) {
			entry_free(e);
			return kiln_error_set(err, "hard link '%s' to '%s': %s", de->path,
					      de->hardlink_target,
					      te ? "not a regular file" : "no such file in the tree");
		}
		/* One inode: the link has its target's metadata and bytes. */
		e->type = KILN_LAYER_HARDLINK;
		e->link = kiln_buf_detach(&target);
		e->blob = blob_ref(te->blob);
		e->mode = te->mode;
		e->uid = te->uid;
		e->gid = te->gid;
		e->mtime = te->mtime;
		e->time = te->time;
		break;
	}
	}
	if (e->blob) {
		conf = find_conffile(u, de->path);
		if (conf)
			memcpy(conf->md5, e->blob->md5, 33);
		else if (!u->has_md5sums)
			kiln_buf_printf(&u->md5sums, "%s  %s\n", e->blob->md5, de->path);
	}
	return add_entry(u->tree, e, err);
}

int kiln_layer_tree_add_deb(struct kiln_layer_tree *tree, struct kiln_deb *deb, int layer,
		      struct kiln_dpkg_package *pkg, struct kiln_error *err)
{
	const struct kiln_deb_control *c = kiln_deb_control(deb);
	struct unpack u = { .tree = tree, .layer = layer };
	struct kiln_buf status = KILN_BUF_INIT;

	memset(pkg, 0, sizeof(*pkg));
	if (use_layer(tree, layer, err) < 0)
		return kiln_error_prefix(err, "unpack '%s'", kiln_deb_name(deb));
	u.package = intern_package(tree, c->package);
	u.has_md5sums = c->md5sums != NULL;
	if (parse_conffiles(&u, kiln_deb_name(deb), c->conffiles, err) < 0 ||
	    kiln_deb_read_data(deb, unpack_entry, &u, err) < 0) {
		unpack_release(&u);
		return kiln_error_prefix(err, "unpack");
	}
	for (size_t i = 0; i < u.nconffiles; i++) {
		const struct conffile *cf = &u.conffiles[i];
		/* dpkg's marker for a conffile the package does not ship. */
		kiln_buf_printf(&status, " %s %s%s\n", cf->path, cf->md5[0] ? cf->md5 : "newconffile",
				cf->remove_on_upgrade ? " remove-on-upgrade" : "");
	}
	pkg->package = kiln_xstrdup(c->package);
	pkg->version = kiln_xstrdup(c->version);
	pkg->architecture = kiln_xstrdup(c->architecture);
	pkg->multi_arch = c->multi_arch ? kiln_xstrdup(c->multi_arch) : NULL;
	pkg->paragraph = kiln_xstrdup(c->paragraph);
	pkg->list = kiln_buf_detach(&u.list);
	pkg->md5sums = c->md5sums ? kiln_xstrdup(c->md5sums) : kiln_buf_detach(&u.md5sums);
	pkg->conffiles = c->conffiles ? kiln_xstrdup(c->conffiles) : NULL;
	pkg->conffiles_status = u.nconffiles ? kiln_buf_detach(&status) : NULL;
	kiln_buf_release(&status);
	unpack_release(&u);
	return 0;
}

/* triggers/File and triggers/NAME as dpkg leaves them after unpacking
 * packages that declare interests (only when members are kept). */
static int add_trigger_interests(struct kiln_layer_tree *tree, const struct kiln_dpkg_package *pkgs, size_t n,
				 int layer, int64_t mtime, struct kiln_error *err)
{
	_cleanup_free_ char *file = NULL;
	char **names = NULL, **texts = NULL;
	size_t n_names = 0;
	int rc = 0;

	if (kiln_dpkg_trigger_interests(pkgs, n, &file, &names, &texts, &n_names, err) < 0)
		return kiln_error_prefix(err, "dpkg database");
	if (file)
		rc = kiln_layer_tree_put_file(tree, "var/lib/dpkg/triggers/File", 0644, 0, 0, mtime, file,
					      strlen(file), layer, err);
	for (size_t i = 0; i < n_names; i++) {
		if (rc == 0) {
			_cleanup_free_ char *path = kiln_xasprintf("var/lib/dpkg/triggers/%s", names[i]);
			rc = kiln_layer_tree_put_file(tree, path, 0644, 0, 0, mtime, texts[i], strlen(texts[i]),
						      layer, err);
		}
		free(names[i]);
		free(texts[i]);
	}
	free(names);
	free(texts);
	return rc < 0 ? kiln_error_prefix(err, "dpkg database") : 0;
}

int kiln_layer_tree_add_dpkg_status(struct kiln_layer_tree *tree, const struct kiln_dpkg_package *pkgs,
			      size_t n, int layer, int64_t mtime, struct kiln_error *err)
{
	static const char *const dirs[] = {
		"var/lib/dpkg",         "var/lib/dpkg/alternatives", "var/lib/dpkg/info",
		"var/lib/dpkg/parts",   "var/lib/dpkg/triggers",     "var/lib/dpkg/updates",
	};
	static const char *const empty_files[] = {
		"var/lib/dpkg/available", "var/lib/dpkg/diversions", "var/lib/dpkg/statoverride",
	};
	_cleanup_free_ char *status = kiln_dpkg_status_text(pkgs, n, err);

	if (!status)
		return -1;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(dirs); i++)
		if (kiln_layer_tree_put_dir(tree, dirs[i], 0755, 0, 0, mtime, layer, err) < 0)
			return kiln_error_prefix(err, "dpkg database");
	for (size_t i = 0; i < KILN_ARRAY_SIZE(empty_files); i++)
		if (kiln_layer_tree_put_file(tree, empty_files[i], 0644, 0, 0, mtime, "", 0, layer, err) < 0)
			return kiln_error_prefix(err, "dpkg database");
	if (kiln_layer_tree_put_file(tree, "var/lib/dpkg/status", 0644, 0, 0, mtime, status,
			       strlen(status), layer, err) < 0 ||
	    kiln_layer_tree_put_file(tree, "var/lib/dpkg/info/format", 0644, 0, 0, mtime, "1\n", 2, layer,
			       err) < 0)
		return kiln_error_prefix(err, "dpkg database");
	for (size_t i = 0; i < n; i++) {
		const struct kiln_dpkg_package *p = &pkgs[i];
		_cleanup_free_ char *base = kiln_dpkg_info_name(p);
		const struct {
			const char *suffix, *text;
		} files[] = {
			{ "list", p->list },
			{ "md5sums", p->md5sums },
			{ "conffiles", p->conffiles },
		};

		for (size_t k = 0; k < KILN_ARRAY_SIZE(files); k++) {
			_cleanup_free_ char *path = NULL;

			/* An empty md5sums stays: dpkg writes one for a package without
			 * regular files, and --audit asks for it. */
			if (!files[k].text)
				continue;
			path = kiln_xasprintf("var/lib/dpkg/info/%s.%s", base, files[k].suffix);
			if (kiln_layer_tree_put_file(tree, path, 0644, 0, 0, mtime, files[k].text,
					       strlen(files[k].text), layer, err) < 0)
				return kiln_error_prefix(err, "dpkg database");
		}
		for (size_t k = 0; k < p->n_members; k++) {
			const struct kiln_dpkg_member *m = &p->members[k];
			_cleanup_free_ char *path = kiln_xasprintf("var/lib/dpkg/info/%s.%s", base, m->name);
			if (kiln_layer_tree_put_file(tree, path, m->executable ? 0755 : 0644, 0, 0, mtime, m->data,
						     m->len, layer, err) < 0)
				return kiln_error_prefix(err, "dpkg database");
		}
	}
	return add_trigger_interests(tree, pkgs, n, layer, mtime, err);
}

/* ---- writing a layer -------------------------------------------------------- */

struct item {
	const char *path;
	const struct kiln_layer_entry *e; /* NULL: an ancestor directory the layer needs */
};

/* A set of strings or pointers by open addressing, for one write. */
struct set {
	const void **keys;
	const char **values;
	size_t n, used;
	bool strings;
};

static size_t set_hash(const struct set *s, const void *key)
{
	if (s->strings)
		return (size_t)kiln_hash_fnv1a(key, strlen(key));
	return (size_t)(((uintptr_t)key >> 4) * 0x9E3779B97F4A7C15ULL);
}

static size_t set_slot(const struct set *s, const void *key)
{
	size_t mask = s->n - 1, i = set_hash(s, key) & mask;

	while (s->keys[i] && (s->strings ? strcmp(s->keys[i], key) != 0 : s->keys[i] != key))
		i = (i + 1) & mask;
	return i;
}

static void set_init(struct set *s, size_t expected, bool strings)
{
	s->n = 64;
	while (s->n < expected * 2)
		s->n *= 2;
	s->keys = kiln_xcalloc(s->n, sizeof(*s->keys));
	s->values = kiln_xcalloc(s->n, sizeof(*s->values));
	s->used = 0;
	s->strings = strings;
}

static void set_release(struct set *s)
{
	free(s->keys);
	free(s->values);
}

static const char *set_get(const struct set *s, const void *key)
{
	size_t i = set_slot(s, key);
	return s->keys[i] ? (s->values[i] ? s->values[i] : "") : NULL;
}

static void set_put(struct set *s, const void *key, const char *value)
{
	size_t i;

	if ((s->used + 1) * 2 > s->n) {
		struct set bigger;
		set_init(&bigger, s->n, s->strings);
		for (size_t k = 0; k < s->n; k++)
			if (s->keys[k]) {
				size_t j = set_slot(&bigger, s->keys[k]);
				bigger.keys[j] = s->keys[k];
				bigger.values[j] = s->values[k];
				bigger.used++;
			}
		set_release(s);
		*s = bigger;
	}
	i = set_slot(s, key);
	if (!s->keys[i])
		s->used++;
	s->keys[i] = key;
	s->values[i] = value;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

/* ustar numeric field: octal digits and a NUL; false when it does not fit. */
static bool octal(char *field, size_t width, uint64_t value)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%0*llo", (int)(width - 1), (unsigned long long)value);

	if (n < 0 || (size_t)n > width - 1)
		return false;
	memcpy(field, tmp, width - 1);
	field[width - 1] = '\0';
	return true;
}

/* One pax record: "<len> key=value\n", len counting itself. */
static void pax_record(struct kiln_buf *b, const char *key, const char *value, size_t vlen)
{
	size_t base = strlen(key) + vlen + 3, len = base + 1;
	char digits[32];

	while ((size_t)snprintf(digits, sizeof(digits), "%zu", len) + base != len)
		len++;
	kiln_buf_printf(b, "%zu %s=", len, key);
	kiln_buf_add(b, value, vlen);
	kiln_buf_addch(b, '\n');
}

static void tar_pad(struct kiln_buf *tar)
{
	static const char zeros[512];

	if (tar->len % 512)
		kiln_buf_add(tar, zeros, 512 - tar->len % 512);
}

struct header {
	const char *name;       /* full name, "dir/" for directories */
	char type;              /* '0' '1' '2' '5' 'x' */
	unsigned mode;
	uint64_t uid, gid, size;
	int64_t mtime;
	const char *linkname;   /* or NULL */
	const struct kiln_blob *xattr; /* its extended attribute, when xattr->xattr_name */
};

static void header_block(struct kiln_buf *tar, const struct header *h)
{
	char block[512];
	unsigned sum = 0;
	size_t nlen = strlen(h->name), llen = h->linkname ? strlen(h->linkname) : 0;

	memset(block, 0, sizeof(block));
	/* Names that do not fit are cut here and given whole in a pax record. */
	memcpy(block, h->name, nlen < 100 ? nlen : 100);
	octal(block + 100, 8, h->mode & 07777);
	octal(block + 108, 8, h->uid <= 07777777 ? h->uid : 0);
	octal(block + 116, 8, h->gid <= 07777777 ? h->gid : 0);
	octal(block + 124, 12, h->size <= 077777777777ULL ? h->size : 0);
	octal(block + 136, 12, (uint64_t)h->mtime);
	memset(block + 148, ' ', 8);
	block[156] = h->type;
	if (h->linkname)
		memcpy(block + 157, h->linkname, llen < 100 ? llen : 100);
	memcpy(block + 257, "ustar", 6);
	memcpy(block + 263, "00", 2);
	for (size_t i = 0; i < sizeof(block); i++)
		sum += (unsigned char)block[i];
	snprintf(block + 148, 8, "%06o", sum);
	block[155] = ' ';
	kiln_buf_add(tar, block, sizeof(block));
}

static int tar_entry(struct kiln_buf *tar, const struct header *h, const void *data,
		     struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf pax = KILN_BUF_INIT;
	char num[32];

	if (h->mtime < 0 || (uint64_t)h->mtime > 077777777777ULL)
		return kiln_error_set(err, "'%s': mtime %lld out of range", h->name,
				      (long long)h->mtime);
	if (strlen(h->name) > 100)
		pax_record(&pax, "path", h->name, strlen(h->name));
	if (h->linkname && strlen(h->linkname) > 100)
		pax_record(&pax, "linkpath", h->linkname, strlen(h->linkname));
	if (h->uid > 07777777) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)h->uid);
		pax_record(&pax, "uid", num, strlen(num));
	}
	if (h->gid > 07777777) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)h->gid);
		pax_record(&pax, "gid", num, strlen(num));
	}
	if (h->size > 077777777777ULL) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)h->size);
		pax_record(&pax, "size", num, strlen(num));
	}
	/* The key docker, buildkit and podman write, and libarchive, umoci
	 * and containers/storage read; pax records are length-prefixed, so
	 * the binary value goes in as it is. */
	if (h->xattr && h->xattr->xattr_name) {
		_cleanup_free_ char *key = kiln_xasprintf("SCHILY.xattr.%s", h->xattr->xattr_name);
		pax_record(&pax, key, (const char *)h->xattr->xattr_value, h->xattr->xattr_len);
	}
	if (pax.len) {
		/* The extended header's own name is ignored by readers; keep it
		 * short, stable and free of host data (GNU tar puts its pid here). */
		struct header x = { .name = "PaxHeaders/entry", .type = 'x', .mode = 0644,
				    .size = pax.len, .mtime = h->mtime };
		header_block(tar, &x);
		kiln_buf_add(tar, pax.data, pax.len);
		tar_pad(tar);
	}
	header_block(tar, h);
	if (h->size) {
		kiln_buf_add(tar, data, (size_t)h->size);
		tar_pad(tar);
	}
	return 0;
}

static int64_t entry_mtime(const struct kiln_layer_entry *e, const struct kiln_layer_options *o)
{
	int64_t t;

	switch (e->time) {
	case KILN_LAYER_TIME_PACKAGE:
		t = o->clamp >= 0 && e->mtime > o->clamp ? o->clamp : e->mtime;
		break;
	case KILN_LAYER_TIME_FIXED:
		t = e->mtime;
		break;
	default:
		t = o->epoch;
		break;
	}
	return t < 0 ? 0 : t;
}

int kiln_layer_write(const struct kiln_layer_tree *tree, int layer,
			  const struct kiln_layer_options *opts, struct kiln_buf *tar,
			  struct kiln_layer_result *res, struct kiln_error *err)
{
	static const char zeros[1024];
	_cleanup_free_ struct item *items = NULL;
	size_t nitems = 0, alloc = 0, owned;
	struct set paths, links;
	_cleanup_buf_ struct kiln_buf name = KILN_BUF_INIT;
	size_t start = tar->len;
	char hex[KILN_SHA256_HEX_LEN + 1];
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (opts->epoch < 0)
		return kiln_error_set(err, "layer %d: negative epoch", layer);
	for (size_t i = 0; i < tree->nslots; i++)
		for (const struct kiln_layer_entry *e = tree->slots[i]; e; e = e->below)
			if (e->layer == layer) {
				kiln_xgrow(&items, &alloc, nitems + 1, sizeof(*items));
				items[nitems++] = (struct item){ e->path, e };
			}
	owned = nitems;
	set_init(&paths, nitems + 16, true);
	set_init(&links, 16, false);
	for (size_t i = 0; i < owned; i++)
		set_put(&paths, items[i].path, NULL);
	/* Ancestors the layer does not hold itself: directories with the mode
	 * and owner the layers below give them (0755 0:0 where none does), so
	 * stacking this layer never changes /tmp's 1777 or /root's 0700. */
	for (size_t i = 0; i < owned; i++) {
		const char *p = items[i].path;
		for (const char *s = strrchr(p, '/'); s; s = memrchr(p, '/', (size_t)(s - p))) {
			char *anc = kiln_xstrndup(p, (size_t)(s - p));
			if (set_get(&paths, anc)) {
				free(anc);
				continue;
			}
			kiln_xgrow(&items, &alloc, nitems + 1, sizeof(*items));
			items[nitems++] = (struct item){ anc, NULL };
			set_put(&paths, anc, NULL);
		}
	}
	qsort(items, nitems, sizeof(*items), item_cmp);

	for (size_t i = 0; i < nitems && rc == 0; i++) {
		const struct kiln_layer_entry *e = items[i].e;
		struct header h = { .mode = 0755, .mtime = opts->epoch, .type = '5' };
		const void *data = NULL;

		kiln_buf_reset(&name);
		kiln_buf_adds(&name, items[i].path);
		if (!e) {
			const struct kiln_layer_entry *lower = lookup_n(tree, items[i].path, strlen(items[i].path));
			while (lower && lower->layer >= layer)
				lower = lower->below;
			if (lower && lower->type == KILN_LAYER_DIR) {
				h.mode = lower->mode;
				h.uid = lower->uid;
				h.gid = lower->gid;
			}
		}
		if (e) {
			h.mode = e->mode;
			h.uid = e->uid;
			h.gid = e->gid;
			h.mtime = entry_mtime(e, opts);
			switch (e->type) {
			case KILN_LAYER_DIR:
				break;
			case KILN_LAYER_SYMLINK:
				h.type = '2';
				h.linkname = e->link;
				break;
			case KILN_LAYER_FILE:
			case KILN_LAYER_HARDLINK: {
				const char *first = e->blob->refs > 1 ? set_get(&links, e->blob) : NULL;
				if (first) {
					h.type = '1';
					h.linkname = first;
				} else {
					h.type = '0';
					h.size = e->blob->size;
					data = e->blob->data;
					h.xattr = e->blob;
					if (e->blob->refs > 1)
						set_put(&links, e->blob, e->path);
				}
				break;
			}
			}
		}
		if (h.type == '5')
			kiln_buf_addch(&name, '/');
		h.name = name.data;
		rc = tar_entry(tar, &h, data, err);
		res->entries++;
	}
	for (size_t i = 0; i < nitems; i++)
		if (!items[i].e)
			free((char *)items[i].path);
	set_release(&paths);
	set_release(&links);
	if (rc < 0) {
		tar->len = start;
		if (tar->data)
			tar->data[start] = '\0';
		return kiln_error_prefix(err, "layer %d", layer);
	}
	kiln_buf_add(tar, zeros, sizeof(zeros));
	res->size = tar->len - start;
	kiln_sha256_hex(tar->data + start, res->size, hex);
	snprintf(res->diff_id, sizeof(res->diff_id), "sha256:%s", hex);
	return 0;
}
