/* imagefs.c - layer tars to entry listings, merged views, differences. */
#include "imagefs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "oci.h"
#include "store.h"
#include "util.h"

/* ---- reading one layer --------------------------------------------------- */

enum { IMAGEFS_BLOCK = 1 << 16 };

/* libarchive pulls the blob's raw bytes through this, so they are hashed
 * (when a digest is to be checked) in the same pass that decodes them. */
struct raw_reader {
	int fd;
	struct kiln_sha256 *hash; /* NULL: no digest to check */
	uint64_t bytes;
	char buf[IMAGEFS_BLOCK];
};

static la_ssize_t raw_read(struct archive *a, void *ctx, const void **block)
{
	struct raw_reader *r = ctx;
	ssize_t n;

	do
		n = read(r->fd, r->buf, sizeof(r->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	if (r->hash && n > 0)
		kiln_sha256_update(r->hash, r->buf, (size_t)n);
	r->bytes += (uint64_t)n;
	*block = r->buf;
	return n;
}

/* Hash whatever libarchive did not need (gzip trailer, tar padding). */
static int raw_drain(struct raw_reader *r)
{
	for (;;) {
		ssize_t n = read(r->fd, r->buf, sizeof(r->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (r->hash)
			kiln_sha256_update(r->hash, r->buf, (size_t)n);
		r->bytes += (uint64_t)n;
	}
}

/* The ARCHIVE_FILTER_* a layer media type promises, or -1 when it is not a
 * layer type kiln reads. */
static int layer_filter(const char *media_type)
{
	static const struct {
		const char *type;
		int filter;
	} types[] = {
		{ "application/vnd.oci.image.layer.v1.tar", ARCHIVE_FILTER_NONE },
		{ "application/vnd.oci.image.layer.v1.tar+gzip", ARCHIVE_FILTER_GZIP },
		{ "application/vnd.oci.image.layer.v1.tar+zstd", ARCHIVE_FILTER_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", ARCHIVE_FILTER_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", ARCHIVE_FILTER_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", ARCHIVE_FILTER_ZSTD },
		{ "application/vnd.docker.image.rootfs.diff.tar", ARCHIVE_FILTER_NONE },
		{ "application/vnd.docker.image.rootfs.diff.tar.gzip", ARCHIVE_FILTER_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar.zstd", ARCHIVE_FILTER_ZSTD },
	};
	for (size_t i = 0; media_type && i < KILN_ARRAY_SIZE(types); i++)
		if (strcmp(media_type, types[i].type) == 0)
			return types[i].filter;
	return -1;
}

/* Drop "." components, repeated and trailing '/'; NULL for the root ("",
 * ".", "/", "./").  ".." and a leading '/' stay: hostile names are
 * reported as they are, never resolved. */
static char *normalize_path(const char *p)
{
	struct kiln_buf b = KILN_BUF_INIT;
	bool absolute = *p == '/';

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n && !(n == 1 && p[0] == '.')) {
			if (b.len || absolute)
				kiln_buf_addch(&b, '/');
			kiln_buf_add(&b, p, n);
		}
		p += n;
		while (*p == '/')
			p++;
	}
	if (!b.len) {
		kiln_buf_release(&b);
		return NULL;
	}
	return kiln_buf_detach(&b);
}

static int xattr_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* "name=hex;…" sorted by name, or NULL when the entry has none. */
static int entry_xattrs(struct archive_entry *ae, char **out, struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf b = KILN_BUF_INIT;
	char **items = NULL;
	size_t n = 0, alloc = 0;
	const char *name;
	const void *value;
	size_t size;
	int rc = 0;

	*out = NULL;
	if (archive_entry_xattr_reset(ae) <= 0)
		return 0;
	while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
		struct kiln_buf item = KILN_BUF_INIT;
		if (strlen(name) + 2 * size > KILN_IMAGEFS_MAX_XATTRS) {
			rc = kiln_error_set(err, "extended attribute '%s' is larger than %d bytes", name,
					    KILN_IMAGEFS_MAX_XATTRS);
			kiln_buf_release(&item);
			break;
		}
		kiln_buf_adds(&item, name);
		kiln_buf_addch(&item, '=');
		for (size_t i = 0; i < size; i++)
			kiln_buf_printf(&item, "%02x", ((const unsigned char *)value)[i]);
		kiln_xgrow(&items, &alloc, n + 1, sizeof(*items));
		items[n++] = kiln_buf_detach(&item);
	}
	if (rc == 0 && n) {
		qsort(items, n, sizeof(*items), xattr_cmp);
		for (size_t i = 0; i < n; i++) {
			kiln_buf_adds(&b, items[i]);
			kiln_buf_addch(&b, ';');
		}
		if (b.len > KILN_IMAGEFS_MAX_XATTRS)
			rc = kiln_error_set(err, "extended attributes larger than %d bytes",
					    KILN_IMAGEFS_MAX_XATTRS);
		else
			*out = kiln_buf_detach(&b);
	}
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
	return rc;
}

static bool wanted(const char *const *keep_paths, const char *path)
{
	for (size_t i = 0; keep_paths && keep_paths[i]; i++)
		if (strcmp(keep_paths[i], path) == 0)
			return true;
	return false;
}

static void entry_release(struct kiln_fsentry *e)
{
	free(e->path);
	free(e->link);
	free(e->xattrs);
	free(e->kept);
}

/* Fill *e from the header (and, for file data, the stream). */
static int read_entry(struct archive *a, struct archive_entry *ae, const char *path,
		      const char *const *keep_paths, uint64_t *budget, char *block,
		      struct kiln_fsentry *e, struct kiln_error *err)
{
	const char *hardlink = archive_entry_hardlink(ae), *symlink;
	int64_t uid = archive_entry_uid(ae), gid = archive_entry_gid(ae);
	int64_t declared = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;
	bool has_data = false, keep;

	if (hardlink) {
		e->type = 'h';
		/* A hard link to the root is nonsense, but reported, not refused. */
		e->link = normalize_path(hardlink);
		if (!e->link)
			e->link = kiln_xstrdup(hardlink);
		has_data = declared > 0;
	} else {
		switch (archive_entry_filetype(ae)) {
		case AE_IFREG: e->type = 'f'; has_data = true; break;
		case AE_IFDIR: e->type = 'd'; break;
		case AE_IFLNK: e->type = 'l'; break;
		case AE_IFCHR: e->type = 'c'; break;
		case AE_IFBLK: e->type = 'b'; break;
		case AE_IFIFO: e->type = 'p'; break;
		case AE_IFSOCK: e->type = 's'; break;
		default:
			return kiln_error_set(err, "unknown entry type 0%o",
					      (unsigned)archive_entry_filetype(ae));
		}
	}
	if (e->type == 'l') {
		symlink = archive_entry_symlink(ae);
		if (!symlink)
			symlink = archive_entry_symlink_utf8(ae);
		if (!symlink)
			return kiln_error_set(err, "symlink without a target");
		if (strlen(symlink) > KILN_IMAGEFS_MAX_PATH)
			return kiln_error_set(err, "symlink target longer than %d bytes", KILN_IMAGEFS_MAX_PATH);
		e->link = kiln_xstrdup(symlink);
	}
	if (e->link && strlen(e->link) > KILN_IMAGEFS_MAX_PATH)
		return kiln_error_set(err, "link target longer than %d bytes", KILN_IMAGEFS_MAX_PATH);
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return kiln_error_set(err, "owner %" PRId64 ":%" PRId64 " out of range", uid, gid);
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	e->mode = (uint32_t)archive_entry_perm(ae) & 07777;
	e->mtime = archive_entry_mtime_is_set(ae) ? (int64_t)archive_entry_mtime(ae) : 0;
	if (e->type == 'c' || e->type == 'b') {
		e->devmajor = (uint32_t)archive_entry_rdevmajor(ae);
		e->devminor = (uint32_t)archive_entry_rdevminor(ae);
	}
	if (entry_xattrs(ae, &e->xattrs, err) < 0)
		return -1;
	if (!has_data)
		return 0;

	if (declared < 0 || (uint64_t)declared > *budget)
		return kiln_error_set(err, "size %" PRId64 " would take the layer past %" PRIu64 " bytes",
				      declared, KILN_IMAGEFS_MAX_BYTES);
	keep = e->type == 'f' && wanted(keep_paths, path);
	if (keep && (uint64_t)declared > KILN_IMAGEFS_MAX_KEPT)
		return kiln_error_set(err, "%" PRId64 " bytes, more than the %zu kept for reading",
				      declared, KILN_IMAGEFS_MAX_KEPT);
	{
		struct kiln_sha256 *h = kiln_sha256_new();
		struct kiln_buf kept = KILN_BUF_INIT;
		uint64_t total = 0;
		la_ssize_t n;

		while ((n = archive_read_data(a, block, IMAGEFS_BLOCK)) > 0) {
			total += (uint64_t)n;
			if (total > *budget || (keep && total > KILN_IMAGEFS_MAX_KEPT)) {
				kiln_sha256_free(h);
				kiln_buf_release(&kept);
				return kiln_error_set(err, "more data than its size says");
			}
			kiln_sha256_update(h, block, (size_t)n);
			if (keep)
				kiln_buf_add(&kept, block, (size_t)n);
		}
		if (n < 0) {
			kiln_sha256_free(h);
			kiln_buf_release(&kept);
			return kiln_error_set(err, "%s", archive_error_string(a) ? archive_error_string(a) : "read error");
		}
		kiln_sha256_final(h, e->sha256);
		kiln_sha256_free(h);
		e->size = total;
		*budget -= total;
		if (keep) {
			e->kept_len = kept.len;
			e->kept = kiln_buf_detach(&kept);
		}
	}
	return 0;
}

void kiln_imagefs_list_release(struct kiln_imagefs_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		entry_release(&l->e[i]);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

/* Read the tar; label starts every message. */
static int read_tar(struct archive *a, const char *label, const char *const *keep_paths,
		    struct kiln_imagefs_list *out, struct kiln_error *err)
{
	uint64_t budget = KILN_IMAGEFS_MAX_BYTES;
	_cleanup_free_ char *block = kiln_xmalloc(IMAGEFS_BLOCK);
	struct archive_entry *ae;

	for (;;) {
		struct kiln_fsentry e = { 0 };
		const char *name;
		int r = archive_read_next_header(a, &ae);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return kiln_error_set(err, "%s: after entry %zu%s%s: %s", label, out->n,
					      out->n ? " " : "", out->n ? out->e[out->n - 1].path : "",
					      archive_error_string(a) ? archive_error_string(a) : "unreadable tar");
		if (out->n >= KILN_IMAGEFS_MAX_ENTRIES)
			return kiln_error_set(err, "%s: more than %u entries", label, KILN_IMAGEFS_MAX_ENTRIES);
		/* 512 bytes of header per entry count against the bound too. */
		if (budget < 512)
			return kiln_error_set(err, "%s: more than %" PRIu64 " bytes", label, KILN_IMAGEFS_MAX_BYTES);
		budget -= 512;
		name = archive_entry_pathname(ae);
		if (!name)
			name = archive_entry_pathname_utf8(ae);
		if (!name)
			return kiln_error_set(err, "%s: entry %zu has no name", label, out->n + 1);
		if (strlen(name) > KILN_IMAGEFS_MAX_PATH)
			return kiln_error_set(err, "%s: entry %zu: name longer than %d bytes", label, out->n + 1,
					      KILN_IMAGEFS_MAX_PATH);
		e.path = normalize_path(name);
		if (!e.path)
			continue; /* the root directory itself */
		if (read_entry(a, ae, e.path, keep_paths, &budget, block, &e, err) < 0) {
			kiln_error_prefix(err, "%s: %s", label, e.path);
			entry_release(&e);
			return -1;
		}
		kiln_xgrow(&out->e, &out->alloc, out->n + 1, sizeof(*out->e));
		out->e[out->n++] = e;
	}
}

/* Read the layer open as fd (consumed; -1: open blob_path here). */
static int read_layer(int fd, const char *blob_path, const char *label, const char *media_type,
		      const char *digest, uint64_t want_size, const char *const *keep_paths,
		      struct kiln_imagefs_list *out, struct kiln_error *err)
{
	int filter = layer_filter(media_type);
	struct raw_reader *r;
	struct archive *a;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (filter < 0 || (digest && !kiln_oci_digest_valid(digest))) {
		if (fd >= 0)
			close(fd);
		if (filter < 0)
			return kiln_error_set(err, "%s: media type \"%s\" is not a layer type kiln reads", label,
					      media_type ? media_type : "(none)");
		return kiln_error_set(err, "%s: \"%s\" is not a sha256 digest", label, digest);
	}
	r = kiln_xcalloc(1, sizeof(*r));
	/* O_NONBLOCK and a regular-file check: a FIFO or device planted in a
	 * store must fail (as tampering, exit 3), never hang. */
	r->fd = fd >= 0 ? fd : open(blob_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (r->fd < 0) {
		kiln_error_errno(err, errno, "%s: open '%s'", label, blob_path);
		free(r);
		return -1;
	}
	{
		struct stat st;
		if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			kiln_error_set(err, "%s: '%s' is not a regular file", label, blob_path);
			kiln_error_verification(err);
			close(r->fd);
			free(r);
			return -1;
		}
	}
	if (digest)
		r->hash = kiln_sha256_new();
	a = archive_read_new();
	if (filter == ARCHIVE_FILTER_GZIP)
		archive_read_support_filter_gzip(a);
	else if (filter == ARCHIVE_FILTER_ZSTD)
		archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open(a, r, NULL, raw_read, NULL) != ARCHIVE_OK) {
		kiln_error_set(err, "%s: %s", label,
			       archive_error_string(a) ? archive_error_string(a) : "not a tar stream");
	} else if (archive_filter_code(a, 0) != filter) {
		kiln_error_set(err, "%s: not compressed as its media type %s says", label, media_type);
	} else {
		rc = read_tar(a, label, keep_paths, out, err);
	}
	archive_read_free(a);

	/* A blob that is not what its digest names is reported as that, even
	 * when the damage also broke the stream: that is the cause. */
	if (digest) {
		char hex[KILN_SHA256_HEX_LEN + 1];
		if (raw_drain(r) < 0) {
			if (rc == 0)
				kiln_error_errno(err, errno, "%s: read '%s'", label, blob_path);
			rc = -1;
		} else {
			kiln_sha256_final(r->hash, hex);
			if (strcmp(hex, digest + 7) != 0) {
				kiln_error_set(err, "%s: its bytes hash to sha256:%s (corrupt or tampered)",
					       label, hex);
				kiln_error_verification(err);
				rc = -1;
			} else if (want_size != UINT64_MAX && r->bytes != want_size) {
				kiln_error_set(err, "%s: %" PRIu64 " bytes, its descriptor says %" PRIu64, label,
					       r->bytes, want_size);
				kiln_error_verification(err);
				rc = -1;
			}
		}
		kiln_sha256_free(r->hash);
	}
	close(r->fd);
	free(r);
	if (rc < 0)
		kiln_imagefs_list_release(out);
	return rc;
}

int kiln_imagefs_read_layer(const char *blob_path, const char *media_type,
			    const char *const *keep_paths, struct kiln_imagefs_list *out,
			    struct kiln_error *err)
{
	return read_layer(-1, blob_path, blob_path, media_type, NULL, UINT64_MAX, keep_paths, out, err);
}

int kiln_imagefs_read_layer_checked(const char *blob_path, const char *media_type,
				    const char *digest, const char *const *keep_paths,
				    struct kiln_imagefs_list *out, struct kiln_error *err)
{
	_cleanup_free_ char *label = kiln_xasprintf("layer %s", digest ? digest : blob_path);
	return read_layer(-1, blob_path, label, media_type, digest, UINT64_MAX, keep_paths, out, err);
}

/* ---- lookups ------------------------------------------------------------- */

static int entry_path_cmp(const void *key, const void *elem)
{
	return strcmp((const char *)key, ((const struct kiln_fsentry *)elem)->path);
}

const struct kiln_fsentry *kiln_imagefs_find(const struct kiln_imagefs_list *l, const char *path)
{
	if (l->sorted)
		return bsearch(path, l->e, l->n, sizeof(*l->e), entry_path_cmp);
	for (size_t i = l->n; i-- > 0;)
		if (strcmp(l->e[i].path, path) == 0)
			return &l->e[i];
	return NULL;
}

const char *kiln_imagefs_kept(const struct kiln_imagefs_list *l, const char *path, size_t *len)
{
	const struct kiln_fsentry *e = kiln_imagefs_find(l, path);

	if (!e || !e->kept)
		return NULL;
	if (len)
		*len = e->kept_len;
	return e->kept;
}

bool kiln_imagefs_path_hostile(const char *path)
{
	const char *p = path;

	if (*p == '/')
		return true;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += n;
		while (*p == '/')
			p++;
	}
	return false;
}

/* ---- merging -------------------------------------------------------------- */

static int ptr_path_cmp(const void *x, const void *y)
{
	const struct kiln_fsentry *a = *(const struct kiln_fsentry *const *)x;
	const struct kiln_fsentry *b = *(const struct kiln_fsentry *const *)y;
	int c = strcmp(a->path, b->path);

	/* Same path: tar order (the later entry sorts last and wins). */
	if (c == 0)
		return a < b ? -1 : a > b;
	return c;
}

/* First index in the sorted view whose path is >= key. */
static size_t lower_bound(const struct kiln_fsentry *const *v, size_t n, const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid]->path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Mark path itself (when self) and everything below it as removed. */
static void mark_removed(const struct kiln_fsentry *const *v, size_t n, bool *dead, const char *path,
			 bool self)
{
	_cleanup_free_ char *prefix = NULL;
	size_t i, plen;

	if (self) {
		i = lower_bound(v, n, path);
		if (i < n && strcmp(v[i]->path, path) == 0)
			dead[i] = true;
	}
	if (!*path) { /* an opaque root: everything below */
		for (i = 0; i < n; i++)
			dead[i] = true;
		return;
	}
	prefix = kiln_xasprintf("%s/", path);
	plen = strlen(prefix);
	for (i = lower_bound(v, n, prefix); i < n && strncmp(v[i]->path, prefix, plen) == 0; i++)
		dead[i] = true;
}

static void entry_copy(struct kiln_fsentry *dst, const struct kiln_fsentry *src)
{
	*dst = *src;
	dst->path = kiln_xstrdup(src->path);
	dst->link = src->link ? kiln_xstrdup(src->link) : NULL;
	dst->xattrs = src->xattrs ? kiln_xstrdup(src->xattrs) : NULL;
	if (src->kept) {
		dst->kept = kiln_xmalloc(src->kept_len + 1);
		memcpy(dst->kept, src->kept, src->kept_len);
		dst->kept[src->kept_len] = '\0';
	}
}

#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

int kiln_imagefs_merge(const struct kiln_imagefs_list *layers, size_t n_layers, struct kiln_imagefs_list *out,
		       struct kiln_error *err)
{
	const struct kiln_fsentry **view = NULL, **next = NULL, **add = NULL;
	size_t n_view = 0, alloc_view = 0, alloc_next = 0, alloc_add = 0;
	bool *dead = NULL;
	size_t alloc_dead = 0;

	memset(out, 0, sizeof(*out));
	for (size_t l = 0; l < n_layers; l++) {
		const struct kiln_imagefs_list *layer = &layers[l];
		size_t n_add = 0, n_next = 0, i, j;

		kiln_xgrow(&dead, &alloc_dead, n_view + 1, sizeof(*dead));
		memset(dead, 0, (n_view + 1) * sizeof(*dead));
		kiln_xgrow(&add, &alloc_add, layer->n + 1, sizeof(*add));
		/* What this layer removes from the layers beneath it. */
		for (i = 0; i < layer->n; i++) {
			const struct kiln_fsentry *e = &layer->e[i];
			const char *slash = strrchr(e->path, '/');
			const char *base = slash ? slash + 1 : e->path;
			size_t dir_len = slash ? (size_t)(slash - e->path) : 0;

			if (strncmp(base, WHITEOUT, strlen(WHITEOUT)) == 0) {
				_cleanup_free_ char *target = NULL;
				if (strcmp(base, OPAQUE) == 0) {
					target = kiln_xstrndup(e->path, dir_len);
					mark_removed(view, n_view, dead, target, false);
				} else if (base[strlen(WHITEOUT)] &&
					   strncmp(base, WHITEOUT WHITEOUT, 2 * strlen(WHITEOUT)) != 0) {
					/* (other .wh..wh.* names are AUFS internals: ignored) */
					target = slash ? kiln_xasprintf("%.*s/%s", (int)dir_len, e->path,
									base + strlen(WHITEOUT))
						       : kiln_xstrdup(base + strlen(WHITEOUT));
					mark_removed(view, n_view, dead, target, true);
				}
				continue;
			}
			if (e->type != 'd')
				mark_removed(view, n_view, dead, e->path, false);
			add[n_add++] = e;
		}
		qsort(add, n_add, sizeof(*add), ptr_path_cmp);
		/* Within a layer the last entry of a path wins, as when extracting. */
		for (i = 0, j = 0; i < n_add; i++) {
			if (i + 1 < n_add && strcmp(add[i]->path, add[i + 1]->path) == 0)
				continue;
			add[j++] = add[i];
		}
		n_add = j;
		kiln_xgrow(&next, &alloc_next, n_view + n_add + 1, sizeof(*next));
		for (i = 0, j = 0; i < n_view || j < n_add;) {
			int c;
			if (i < n_view && dead[i]) {
				i++;
				continue;
			}
			c = i >= n_view ? 1 : j >= n_add ? -1 : strcmp(view[i]->path, add[j]->path);
			if (c < 0) {
				next[n_next++] = view[i++];
			} else {
				if (c == 0)
					i++;
				next[n_next++] = add[j++];
			}
		}
		{
			const struct kiln_fsentry **t = view;
			size_t t_alloc = alloc_view;
			view = next;
			alloc_view = alloc_next;
			next = t;
			alloc_next = t_alloc;
			n_view = n_next;
		}
	}
	out->e = kiln_xcalloc(n_view ? n_view : 1, sizeof(*out->e));
	out->alloc = n_view ? n_view : 1;
	for (size_t i = 0; i < n_view; i++)
		entry_copy(&out->e[i], view[i]);
	out->n = n_view;
	out->sorted = true;
	free(view);
	free(next);
	free(add);
	free(dead);
	(void)err;
	return 0;
}

/* ---- comparing ------------------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

unsigned kiln_fsentry_changes(const struct kiln_fsentry *a, const struct kiln_fsentry *b)
{
	unsigned c = 0;

	if (a->type != b->type)
		return KILN_FSCHANGE_TYPE;
	if (!str_eq(a->link, b->link))
		c |= KILN_FSCHANGE_LINK;
	if (strcmp(a->sha256, b->sha256) != 0)
		c |= KILN_FSCHANGE_CONTENT;
	if (a->size != b->size)
		c |= KILN_FSCHANGE_SIZE;
	if (a->mode != b->mode)
		c |= KILN_FSCHANGE_MODE;
	if (a->uid != b->uid || a->gid != b->gid)
		c |= KILN_FSCHANGE_OWNER;
	if (a->mtime != b->mtime)
		c |= KILN_FSCHANGE_MTIME;
	if (!str_eq(a->xattrs, b->xattrs))
		c |= KILN_FSCHANGE_XATTRS;
	if (a->devmajor != b->devmajor || a->devminor != b->devminor)
		c |= KILN_FSCHANGE_DEVICE;
	return c;
}

const char *kiln_fsentry_change_name(unsigned bit)
{
	switch (bit) {
	case KILN_FSCHANGE_TYPE: return "type";
	case KILN_FSCHANGE_LINK: return "link target";
	case KILN_FSCHANGE_CONTENT: return "content";
	case KILN_FSCHANGE_SIZE: return "size";
	case KILN_FSCHANGE_MODE: return "mode";
	case KILN_FSCHANGE_OWNER: return "owner";
	case KILN_FSCHANGE_MTIME: return "mtime";
	case KILN_FSCHANGE_XATTRS: return "xattrs";
	case KILN_FSCHANGE_DEVICE: return "device";
	default: return "?";
	}
}

const char *kiln_fsentry_type_name(char type)
{
	switch (type) {
	case 'f': return "file";
	case 'd': return "directory";
	case 'l': return "symlink";
	case 'h': return "hard link";
	case 'c': return "char device";
	case 'b': return "block device";
	case 'p': return "fifo";
	case 's': return "socket";
	default: return "unknown";
	}
}

static void format_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, 32, "%" PRId64, t);
}

/* The reason for the most telling of the changes. */
static char *describe_change(const struct kiln_fsentry *a, const struct kiln_fsentry *b, unsigned c)
{
	char ta[32], tb[32];

	if (c & KILN_FSCHANGE_TYPE)
		return kiln_xasprintf("type %s vs %s", kiln_fsentry_type_name(a->type),
				      kiln_fsentry_type_name(b->type));
	if (c & KILN_FSCHANGE_LINK)
		return kiln_xasprintf("%slink target '%s' vs '%s'", a->type == 'h' ? "hard " : "",
				      a->link ? a->link : "", b->link ? b->link : "");
	if (c & KILN_FSCHANGE_CONTENT)
		return kiln_xasprintf("content differs (sha256:%.12s… vs sha256:%.12s…)", a->sha256,
				      b->sha256);
	if (c & KILN_FSCHANGE_SIZE)
		return kiln_xasprintf("size %" PRIu64 " vs %" PRIu64, a->size, b->size);
	if (c & KILN_FSCHANGE_MODE)
		return kiln_xasprintf("mode %04o vs %04o", a->mode, b->mode);
	if (c & KILN_FSCHANGE_OWNER)
		return kiln_xasprintf("owner %u:%u vs %u:%u", a->uid, a->gid, b->uid, b->gid);
	if (c & KILN_FSCHANGE_DEVICE)
		return kiln_xasprintf("device %u,%u vs %u,%u", a->devmajor, a->devminor, b->devmajor,
				      b->devminor);
	if (c & KILN_FSCHANGE_XATTRS)
		return kiln_xasprintf("xattrs differ (%s vs %s)", a->xattrs ? a->xattrs : "none",
				      b->xattrs ? b->xattrs : "none");
	format_time(a->mtime, ta);
	format_time(b->mtime, tb);
	return kiln_xasprintf("mtime %s vs %s", ta, tb);
}

/* Sorted path pointers of a list, for "is this path in the other one". */
static const struct kiln_fsentry **sorted_index(const struct kiln_imagefs_list *l)
{
	const struct kiln_fsentry **v = kiln_xmalloc((l->n ? l->n : 1) * sizeof(*v));

	for (size_t i = 0; i < l->n; i++)
		v[i] = &l->e[i];
	qsort(v, l->n, sizeof(*v), ptr_path_cmp);
	return v;
}

/* The last entry of path in a sorted index (the one extraction leaves), or NULL. */
static const struct kiln_fsentry *index_find(const struct kiln_fsentry *const *v, size_t n, const char *path)
{
	size_t i = lower_bound(v, n, path);

	if (i >= n || strcmp(v[i]->path, path) != 0)
		return NULL;
	while (i + 1 < n && strcmp(v[i + 1]->path, path) == 0)
		i++;
	return v[i];
}

static bool index_has(const struct kiln_fsentry *const *v, size_t n, const char *path)
{
	return index_find(v, n, path) != NULL;
}

/* Hand one difference to fn, freeing what was made for it. */
static int yield(kiln_imagefs_difference_fn fn, void *ctx, const char *path, char *what)
{
	int stop = fn(path, what, ctx);

	free(what);
	return stop;
}

int kiln_imagefs_differences(const struct kiln_imagefs_list *a, const char *label_a,
			     const struct kiln_imagefs_list *b, const char *label_b,
			     kiln_imagefs_difference_fn fn, void *ctx)
{
	_cleanup_free_ const struct kiln_fsentry **ia = NULL, **ib = NULL;
	size_t i = 0, j = 0;
	bool any = false;

	/* Both listings in step, in tar order, while they name the same paths;
	 * an entry only one side has is reported and stepped over on that side. */
	while (i < a->n || j < b->n) {
		const struct kiln_fsentry *x = i < a->n ? &a->e[i] : NULL;
		const struct kiln_fsentry *y = j < b->n ? &b->e[j] : NULL;
		unsigned c;
		char *what;

		if (x && y && strcmp(x->path, y->path) == 0) {
			i++, j++;
			c = kiln_fsentry_changes(x, y);
			if (!c)
				continue;
			any = true;
			if (yield(fn, ctx, x->path, describe_change(x, y, c)))
				return 1;
			continue;
		}
		if (!ia) {
			ia = sorted_index(a);
			ib = sorted_index(b);
		}
		any = true;
		if (x && !index_has(ib, b->n, x->path)) {
			i++;
			if (yield(fn, ctx, x->path, kiln_xasprintf("only in the %s layer", label_a)))
				return 1;
			continue;
		}
		if (y && !index_has(ia, a->n, y->path)) {
			j++;
			if (yield(fn, ctx, y->path, kiln_xasprintf("only in the %s layer", label_b)))
				return 1;
			continue;
		}
		if (!x || !y) {
			/* A repeated path at the end of one side. */
			const struct kiln_fsentry *z = x ? x : y;
			size_t k = x ? i++ : j++;
			if (yield(fn, ctx, z->path,
				  kiln_xasprintf("entry %zu repeats the path, only in the %s layer", k + 1,
						 x ? label_a : label_b)))
				return 1;
			continue;
		}
		/* Both hold these paths, in another order: say so once, then
		 * compare what is left path by path. */
		if (i == j)
			what = kiln_xasprintf("entry order (entry %zu is %s in the %s layer, %s in the %s layer)",
					      i + 1, x->path, label_a, y->path, label_b);
		else
			what = kiln_xasprintf("entry order (entry %zu is %s in the %s layer, entry %zu is %s in "
					      "the %s layer)", i + 1, x->path, label_a, j + 1, y->path, label_b);
		if (yield(fn, ctx, x->path, what))
			return 1;
		break;
	}
	if (i >= a->n && j >= b->n)
		return any;
	for (; i < a->n; i++) {
		const struct kiln_fsentry *x = &a->e[i], *y = index_find(ib, b->n, x->path);
		unsigned c;

		if (!y) {
			if (yield(fn, ctx, x->path, kiln_xasprintf("only in the %s layer", label_a)))
				return 1;
		} else if ((c = kiln_fsentry_changes(x, y)) != 0) {
			if (yield(fn, ctx, x->path, describe_change(x, y, c)))
				return 1;
		}
	}
	for (; j < b->n; j++)
		if (!index_has(ia, a->n, b->e[j].path) &&
		    yield(fn, ctx, b->e[j].path, kiln_xasprintf("only in the %s layer", label_b)))
			return 1;
	return 1;
}

struct first {
	char *path, *what;
};

static int keep_first(const char *path, const char *what, void *ctx)
{
	struct first *f = ctx;

	f->path = kiln_xstrdup(path);
	f->what = kiln_xstrdup(what);
	return 1; /* stop: the first is all that is asked */
}

int kiln_imagefs_first_difference_labeled(const struct kiln_imagefs_list *a, const char *label_a,
					  const struct kiln_imagefs_list *b, const char *label_b,
					  char **path, char **what)
{
	struct first f = { NULL, NULL };
	int rc = kiln_imagefs_differences(a, label_a, b, label_b, keep_first, &f);

	*path = f.path;
	*what = f.what;
	return rc;
}

int kiln_imagefs_first_difference(const struct kiln_imagefs_list *a, const struct kiln_imagefs_list *b,
				  char **path, char **what)
{
	return kiln_imagefs_first_difference_labeled(a, "recorded", b, "rebuilt", path, what);
}

/* ---- whole images ----------------------------------------------------------- */

#define MANIFEST_MAX ((size_t)4 << 20)

int kiln_imagefs_read_image_layer(const struct kiln_store *s, const struct kiln_oci_descriptor *d,
				  size_t index, size_t count, const char *const *keep_paths,
				  struct kiln_imagefs_list *out, struct kiln_error *err)
{
	_cleanup_free_ char *path = NULL, *label = NULL;
	int fd;

	label = kiln_xasprintf("layer %zu of %zu (%s)", index + 1, count, d->digest);
	memset(out, 0, sizeof(*out));
	if (!kiln_oci_digest_valid(d->digest))
		return kiln_error_set(err, "%s: not a sha256 digest", label);
	/* Opened beneath the store, never through a symlink (store.h). */
	fd = kiln_store_blob_open(s, d->digest, err);
	if (fd < 0)
		return kiln_error_prefix(err, "%s", label);
	path = kiln_store_blob_path(s, d->digest);
	return read_layer(fd, path, label, d->media_type, d->digest, d->size, keep_paths, out, err);
}

void kiln_imagefs_list_release_array(struct kiln_imagefs_list *layers, size_t n)
{
	for (size_t i = 0; layers && i < n; i++)
		kiln_imagefs_list_release(&layers[i]);
	free(layers);
}

int kiln_imagefs_read_layers(const struct kiln_store *s, const char *manifest_digest,
			     const char *const *keep_paths, struct kiln_imagefs_list **layers, size_t *n,
			     struct kiln_error *err)
{
	struct kiln_oci_manifest m = { 0 };
	struct kiln_imagefs_list *l;
	_cleanup_free_ char *json = NULL;
	size_t len;

	*layers = NULL;
	*n = 0;
	json = kiln_store_read_blob(s, manifest_digest, MANIFEST_MAX, &len, err);
	if (!json)
		return kiln_error_prefix(err, "image manifest");
	if (kiln_oci_manifest_parse(json, len, &m, err) < 0)
		return kiln_error_prefix(err, "image manifest %s", manifest_digest);
	l = kiln_xcalloc(m.n_layers ? m.n_layers : 1, sizeof(*l));
	for (size_t i = 0; i < m.n_layers; i++) {
		if (kiln_imagefs_read_image_layer(s, &m.layers[i], i, m.n_layers, keep_paths, &l[i],
						  err) < 0) {
			kiln_imagefs_list_release_array(l, i);
			kiln_oci_manifest_release(&m);
			return -1;
		}
	}
	*layers = l;
	*n = m.n_layers;
	kiln_oci_manifest_release(&m);
	return 0;
}

int kiln_imagefs_read_image(const struct kiln_store *s, const char *manifest_digest,
			    const char *const *keep_paths, struct kiln_imagefs_list *merged,
			    struct kiln_error *err)
{
	struct kiln_imagefs_list *layers;
	size_t n;
	int rc;

	memset(merged, 0, sizeof(*merged));
	if (kiln_imagefs_read_layers(s, manifest_digest, keep_paths, &layers, &n, err) < 0)
		return -1;
	rc = kiln_imagefs_merge(layers, n, merged, err);
	kiln_imagefs_list_release_array(layers, n);
	return rc;
}
