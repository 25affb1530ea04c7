#include "compress.h"

#include <archive.h>
#include <archive_entry.h>

#include <libdeflate.h>
#include <string.h>
#include <zstd.h>

/* gzip header (RFC 1952): ID1 ID2 CM FLG MTIME[4] XFL OS. */
#define GZIP_HEADER 10
#define GZIP_OS_UNKNOWN 255

int kiln_compress_gzip(const void *in, size_t len, int level, struct kiln_buf *out,
		       struct kiln_error *err)
{
	struct libdeflate_compressor *c;
	size_t bound, n;
	unsigned char *dst;

	if (level == 0)
		level = KILN_GZIP_LEVEL_DEFAULT;
	if (level < 1 || level > 12)
		return kiln_error_set(err, "gzip: compression level %d is not in 1..12", level);
	c = libdeflate_alloc_compressor(level);
	if (!c)
		return kiln_error_set(err, "gzip: cannot allocate a compressor");
	bound = libdeflate_gzip_compress_bound(c, len);
	kiln_xgrow(&out->data, &out->alloc, out->len + bound + 1, 1);
	dst = (unsigned char *)out->data + out->len;
	n = libdeflate_gzip_compress(c, len ? in : "", len, dst, bound);
	libdeflate_free_compressor(c);
	if (n < GZIP_HEADER)
		return kiln_error_set(err, "gzip: compression failed");
	/* libdeflate already writes no name and MTIME 0; pin the header bytes
	 * that a future version could choose differently. */
	if (dst[3] != 0)
		return kiln_error_set(err, "gzip: unexpected header flags 0x%02x", dst[3]);
	memset(dst + 4, 0, 4);
	dst[9] = GZIP_OS_UNKNOWN;
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

int kiln_compress_zstd(const void *in, size_t len, int level, struct kiln_buf *out,
		       struct kiln_error *err)
{
	ZSTD_CCtx *cctx;
	size_t bound, n;

	if (level == 0)
		level = KILN_ZSTD_LEVEL_DEFAULT;
	if (level < 1 || level > 19)
		return kiln_error_set(err, "zstd: compression level %d is not in 1..19", level);
	cctx = ZSTD_createCCtx();
	if (!cctx)
		return kiln_error_set(err, "zstd: cannot allocate a context");
	/* Single-threaded, content size in the frame header, no checksum: the
	 * output depends on the input and the level only. */
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, 0);
	bound = ZSTD_compressBound(len);
	kiln_xgrow(&out->data, &out->alloc, out->len + bound + 1, 1);
	n = ZSTD_compress2(cctx, out->data + out->len, bound, len ? in : "", len);
	ZSTD_freeCCtx(cctx);
	if (ZSTD_isError(n))
		return kiln_error_set(err, "zstd: %s", ZSTD_getErrorName(n));
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

int kiln_decompress_gzip(const void *in, size_t len, size_t max_out, struct kiln_buf *out,
			 struct kiln_error *err)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	const unsigned char *p = in;
	size_t start = out->len;

	if (!d)
		return kiln_error_set(err, "gunzip: cannot allocate a decompressor");
	if (len == 0) {
		libdeflate_free_decompressor(d);
		return kiln_error_set(err, "gunzip: empty input");
	}
	while (len > 0) {
		/* The trailer's ISIZE (size mod 2^32) is a first guess. */
		size_t guess = len >= 18 ? (size_t)p[len - 4] | (size_t)p[len - 3] << 8 |
						   (size_t)p[len - 2] << 16 | (size_t)p[len - 1] << 24
					 : 0;
		size_t cap = guess > len * 4 ? guess : len * 4 + 4096;
		size_t in_used = 0, got = 0;
		enum libdeflate_result r;

		for (;;) {
			if (cap > max_out - (out->len - start))
				cap = max_out - (out->len - start);
			kiln_xgrow(&out->data, &out->alloc, out->len + cap + 1, 1);
			r = libdeflate_gzip_decompress_ex(d, p, len, out->data + out->len, cap, &in_used,
							  &got);
			if (r != LIBDEFLATE_INSUFFICIENT_SPACE)
				break;
			if (out->len - start + cap >= max_out) {
				libdeflate_free_decompressor(d);
				out->len = start;
				out->data[start] = '\0';
				return kiln_error_set(err, "gunzip: more than %zu bytes", max_out);
			}
			cap *= 2;
		}
		if (r != LIBDEFLATE_SUCCESS) {
			libdeflate_free_decompressor(d);
			out->len = start;
			out->data[start] = '\0';
			return kiln_error_set(err, "gunzip: corrupt or truncated data");
		}
		out->len += got;
		out->data[out->len] = '\0';
		p += in_used;
		len -= in_used;
	}
	libdeflate_free_decompressor(d);
	return 0;
}

int kiln_decompress_zstd(const void *in, size_t len, size_t max_out, struct kiln_buf *out,
			 struct kiln_error *err)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer src = { in, len, 0 };
	size_t start = out->len, r = 1;

	if (!d)
		return kiln_error_set(err, "unzstd: cannot allocate a context");
	while (src.pos < src.size || r != 0) {
		ZSTD_outBuffer dst;
		size_t room = ZSTD_DStreamOutSize();

		if (out->len - start + room > max_out)
			room = max_out - (out->len - start);
		if (room == 0) {
			ZSTD_freeDCtx(d);
			out->len = start;
			out->data[start] = '\0';
			return kiln_error_set(err, "unzstd: more than %zu bytes", max_out);
		}
		kiln_xgrow(&out->data, &out->alloc, out->len + room + 1, 1);
		dst = (ZSTD_outBuffer){ out->data + out->len, room, 0 };
		r = ZSTD_decompressStream(d, &dst, &src);
		if (ZSTD_isError(r) || (src.pos == src.size && dst.pos == 0 && r != 0)) {
			ZSTD_freeDCtx(d);
			out->len = start;
			if (out->data)
				out->data[start] = '\0';
			return kiln_error_set(err, "unzstd: %s",
					      ZSTD_isError(r) ? ZSTD_getErrorName(r)
							      : "truncated data");
		}
		out->len += dst.pos;
		out->data[out->len] = '\0';
	}
	ZSTD_freeDCtx(d);
	return 0;
}

int kiln_decode_stream(const char *path, const void *data, size_t len, int filter, uint64_t max,
		       const char *what, kiln_decode_sink sink, void *ctx, struct kiln_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *entry;
	uint64_t total = 0;
	int rc = -1;

	if (filter < 0)
		archive_read_support_filter_all(a);
	else if (archive_read_support_filter_by_code(a, filter) != ARCHIVE_OK) {
		kiln_error_set(err, "%s: %s", what, archive_error_string(a));
		goto out;
	}
	archive_read_support_format_raw(a);
	if ((path ? archive_read_open_filename(a, path, 1 << 16) : archive_read_open_memory(a, data, len)) !=
		    ARCHIVE_OK ||
	    archive_read_next_header(a, &entry) != ARCHIVE_OK) {
		kiln_error_set(err, "%s: %s", what, archive_error_string(a));
		goto out;
	}
	/* Without the promised filter libarchive reads the bytes as they are. */
	if (filter >= 0 && archive_filter_code(a, 0) != filter) {
		kiln_error_set(err, "%s: not compressed as its name says", what);
		goto out;
	}
	for (;;) {
		char block[1 << 16];
		la_ssize_t n = archive_read_data(a, block, sizeof(block));
		if (n == 0)
			break;
		if (n < 0) {
			kiln_error_set(err, "%s: %s", what, archive_error_string(a));
			goto out;
		}
		total += (uint64_t)n;
		if (total > max) {
			kiln_error_set(err, "%s: more than %llu bytes", what, (unsigned long long)max);
			goto out;
		}
		if (sink(ctx, block, (size_t)n, err) < 0)
			goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}
