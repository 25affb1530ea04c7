#include "export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "oci.h"
#include "util.h"

#define BLOB_MAX ((size_t)8 << 30)

struct out {
	struct archive *a;
	const char *path;
	struct kiln_error *err;
};

static int add_bytes(struct out *o, const char *name, const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (archive_write_header(o->a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(o->a, data, len) != (la_ssize_t)len))
		rc = kiln_error_set(o->err, "write %s: %s", o->path, archive_error_string(o->a));
	archive_entry_free(e);
	return rc;
}

static int add_dir(struct out *o, const char *name)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_mtime(e, 0, 0);
	if (archive_write_header(o->a, e) != ARCHIVE_OK)
		rc = kiln_error_set(o->err, "write %s: %s", o->path, archive_error_string(o->a));
	archive_entry_free(e);
	return rc;
}

/* Copy a blob from the store, checking its digest on the way. */
static int add_blob(struct out *o, const struct kiln_store *s, const char *digest, const char *name)
{
	size_t len;
	char *data = kiln_store_read_blob(s, digest, BLOB_MAX, &len, o->err);
	int rc;

	if (!data)
		return -1;
	rc = add_bytes(o, name, data, len);
	free(data);
	return rc;
}

/* A layer as an uncompressed tar (docker-archive's layer.tar). */
static int add_layer_plain(struct out *o, const struct kiln_store *s, const char *digest,
			   const char *name)
{
	_cleanup_free_ char *path = kiln_store_blob_path(s, digest);
	/* Opened once, beneath the store, never through a symlink (store.h). */
	_cleanup_close_ int fd = kiln_store_blob_open(s, digest, o->err);
	struct archive *in = archive_read_new();
	struct archive_entry *entry;
	struct kiln_buf plain = KILN_BUF_INIT;
	int rc = -1;

	if (fd < 0)
		goto out;
	/* The blob is checked against its name first; then the same file's
	 * bytes are read again through libarchive's decompressor (gzip or
	 * zstd). */
	{
		char hex[KILN_SHA256_HEX_LEN + 1];
		if (kiln_sha256_fd(fd, path, hex, NULL, o->err) < 0)
			goto out;
		if (strcmp(hex, digest + 7) != 0) {
			kiln_error_set(o->err, "blob %s: its bytes hash to sha256:%s", digest, hex);
			kiln_error_verification(o->err);
			goto out;
		}
		if (lseek(fd, 0, SEEK_SET) < 0) {
			kiln_error_errno(o->err, errno, "read '%s'", path);
			goto out;
		}
	}
	archive_read_support_filter_all(in);
	archive_read_support_format_raw(in);
	if (archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK ||
	    archive_read_next_header(in, &entry) != ARCHIVE_OK) {
		kiln_error_set(o->err, "layer %s: %s", digest, archive_error_string(in));
		goto out;
	}
	for (;;) {
		char block[1 << 16];
		la_ssize_t n = archive_read_data(in, block, sizeof(block));
		if (n == 0)
			break;
		if (n < 0 || plain.len + (size_t)n > BLOB_MAX) {
			kiln_error_set(o->err, "layer %s: %s", digest, n < 0 ? archive_error_string(in) : "too large");
			goto out;
		}
		kiln_buf_add(&plain, block, (size_t)n);
	}
	rc = add_bytes(o, name, plain.data, plain.len);
out:
	kiln_buf_release(&plain);
	archive_read_free(in);
	return rc;
}

int kiln_export(const struct kiln_store *store, const char *manifest_digest, const char *ref,
		enum kiln_export_format format, const char *out_path, struct kiln_error *err)
{
	_cleanup_free_ char *tmp = kiln_xasprintf("%s.tmp.XXXXXX", out_path);
	_cleanup_free_ char *mjson = NULL;
	struct kiln_oci_manifest m = { 0 };
	struct out o = { archive_write_new(), out_path, err };
	size_t mlen;
	int fd, rc = -1;

	mjson = kiln_store_read_blob(store, manifest_digest, 16u << 20, &mlen, err);
	if (!mjson || kiln_oci_manifest_parse(mjson, mlen, &m, err) < 0) {
		archive_write_free(o.a);
		return kiln_error_prefix(err, "export %s", manifest_digest);
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		kiln_error_errno(err, errno, "create '%s'", tmp);
		goto out;
	}
	archive_write_set_format_pax_restricted(o.a);
	if (archive_write_open_fd(o.a, fd) != ARCHIVE_OK) {
		kiln_error_set(err, "write %s: %s", out_path, archive_error_string(o.a));
		goto out;
	}
	if (format == KILN_EXPORT_OCI_ARCHIVE) {
		json_t *index = json_object(), *list = json_array(), *desc = json_object(), *ann = json_object();
		char *text;
		json_object_set_new(desc, "mediaType", json_string(KILN_OCI_MANIFEST));
		json_object_set_new(desc, "digest", json_string(manifest_digest));
		json_object_set_new(desc, "size", json_integer((json_int_t)mlen));
		json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(ref));
		json_object_set_new(desc, "annotations", ann);
		json_array_append_new(list, desc);
		json_object_set_new(index, "schemaVersion", json_integer(2));
		json_object_set_new(index, "mediaType", json_string(KILN_OCI_INDEX));
		json_object_set_new(index, "manifests", list);
		text = json_dumps(index, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(index);
		rc = add_bytes(&o, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
		if (rc == 0) rc = add_bytes(&o, "index.json", text, strlen(text));
		free(text);
		if (rc == 0) rc = add_dir(&o, "blobs/");
		if (rc == 0) rc = add_dir(&o, "blobs/sha256/");
		if (rc == 0) {
			_cleanup_free_ char *n = kiln_xasprintf("blobs/sha256/%s", manifest_digest + 7);
			rc = add_bytes(&o, n, mjson, mlen);
		}
		if (rc == 0) {
			_cleanup_free_ char *n = kiln_xasprintf("blobs/sha256/%s", m.config.digest + 7);
			rc = add_blob(&o, store, m.config.digest, n);
		}
		for (size_t i = 0; rc == 0 && i < m.n_layers; i++) {
			_cleanup_free_ char *n = kiln_xasprintf("blobs/sha256/%s", m.layers[i].digest + 7);
			rc = add_blob(&o, store, m.layers[i].digest, n);
		}
	} else {
		json_t *top = json_array(), *entry = json_object(), *layers = json_array(), *tags = json_array();
		_cleanup_free_ char *config_name = kiln_xasprintf("%s.json", m.config.digest + 7);
		char *text;
		rc = add_blob(&o, store, m.config.digest, config_name);
		for (size_t i = 0; rc == 0 && i < m.n_layers; i++) {
			_cleanup_free_ char *n = kiln_xasprintf("%s/layer.tar", m.layers[i].digest + 7);
			_cleanup_free_ char *d = kiln_xasprintf("%s/", m.layers[i].digest + 7);
			rc = add_dir(&o, d);
			if (rc == 0)
				rc = add_layer_plain(&o, store, m.layers[i].digest, n);
			json_array_append_new(layers, json_string(n));
		}
		json_object_set_new(entry, "Config", json_string(config_name));
		json_array_append_new(tags, json_string(ref));
		json_object_set_new(entry, "RepoTags", tags);
		json_object_set_new(entry, "Layers", layers);
		json_array_append_new(top, entry);
		text = json_dumps(top, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(top);
		if (rc == 0)
			rc = add_bytes(&o, "manifest.json", text, strlen(text));
		free(text);
	}
	if (rc == 0 && archive_write_close(o.a) != ARCHIVE_OK)
		rc = kiln_error_set(err, "write %s: %s", out_path, archive_error_string(o.a));
	if (rc == 0 && fsync(fd) < 0)
		rc = kiln_error_errno(err, errno, "fsync '%s'", tmp);
	close(fd);
	if (rc == 0)
		rc = kiln_file_commit(tmp, out_path, err);
	else
		unlink(tmp);
	fd = -1;
out:
	archive_write_free(o.a);
	kiln_oci_manifest_release(&m);
	return rc;
}
