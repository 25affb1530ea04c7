/* compress.h - deterministic gzip and zstd for layer blobs.
 *
 * Same input and level, same bytes, on any machine with the same library
 * versions: gzip comes from libdeflate (whole-buffer DEFLATE, faster than
 * zlib at the same ratio) with no file name, no comment and MTIME 0 in the
 * header and the OS byte fixed to 255 ("unknown"); zstd is one
 * single-threaded frame with the content size and no checksum.  The layer
 * digest that matters for identity, the diff_id, is taken over the
 * uncompressed tar; the compressed blob's digest also depends on the
 * compressor's version (Debian 12: libdeflate 1.14, libzstd 1.5.4).
 *
 * Every function appends to *out and returns 0, or -1 with err set.
 */
#ifndef KILN_COMPRESS_H
#define KILN_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

#define KILN_GZIP_LEVEL_DEFAULT 6   /* 1 (fast) .. 12 (libdeflate's slowest) */
#define KILN_ZSTD_LEVEL_DEFAULT 3   /* 1 .. 19 */

/* level 0 means the default. */
int kiln_compress_gzip(const void *in, size_t len, int level, struct kiln_buf *out,
		       struct kiln_error *err);
int kiln_compress_zstd(const void *in, size_t len, int level, struct kiln_buf *out,
		       struct kiln_error *err);

/* Decompress a whole gzip (one or more members) or zstd (one or more
 * frames) stream; fails on corrupt or truncated input and when the result
 * would exceed max_out bytes. */
int kiln_decompress_gzip(const void *in, size_t len, size_t max_out, struct kiln_buf *out,
			 struct kiln_error *err);
int kiln_decompress_zstd(const void *in, size_t len, size_t max_out, struct kiln_buf *out,
			 struct kiln_error *err);

/* Decode a compressed stream (a file, or bytes in memory when path is
 * NULL) with libarchive and hand it to sink block by block.  filter is the
 * ARCHIVE_FILTER_* code the stream must use, or -1 for whatever it is
 * (including none).  More than max bytes out is an error.  Messages start
 * with `what`.  sink returns 0, or -1 with err set to stop. */
typedef int (*kiln_decode_sink)(void *ctx, const void *data, size_t len, struct kiln_error *err);
int kiln_decode_stream(const char *path, const void *data, size_t len, int filter, uint64_t max,
		       const char *what, kiln_decode_sink sink, void *ctx, struct kiln_error *err);

#endif
