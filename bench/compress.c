/* bench/compress.c - layer compression speed: zlib's gzip -6 (the peer,
 * what most image builders use) against kiln's libdeflate gzip and zstd.
 *
 * Build and run (not part of `make` or `make bench`: a benchmark never
 * fails the build; it needs zlib1g-dev for the peer):
 *
 *   tar -C / -cf - usr/lib/x86_64-linux-gnu usr/share/doc usr/share/perl etc usr/bin \
 *       2>/dev/null | head -c 100M >/tmp/bench.tar
 *   make build/bench-compress        # with lib/base's include paths only
 *   build/bench-compress /tmp/bench.tar [runs]
 *
 * Prints, per compressor, the best of `runs` (default 3) wall-clock times
 * as MB/s of input (1 MB = 10^6 bytes), the compressed size, and the speed
 * relative to zlib measured in the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "compress.h"
#include "util.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* gzip -6 with zlib: deflateInit2 with the gzip wrapper, whole buffer. */
static size_t zlib_gzip(const unsigned char *in, size_t len, struct kiln_buf *out)
{
	z_stream z;
	size_t bound;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	bound = deflateBound(&z, len);
	kiln_buf_reset(out);
	kiln_xgrow(&out->data, &out->alloc, bound + 1, 1);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = (unsigned char *)out->data;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		return 0;
	}
	out->len = z.total_out;
	deflateEnd(&z);
	return out->len;
}

static size_t kiln_gzip(const unsigned char *in, size_t len, struct kiln_buf *out)
{
	struct kiln_error err = { 0 };
	kiln_buf_reset(out);
	return kiln_compress_gzip(in, len, 6, out, &err) == 0 ? out->len : 0;
}

static size_t kiln_zstd(const unsigned char *in, size_t len, struct kiln_buf *out)
{
	struct kiln_error err = { 0 };
	kiln_buf_reset(out);
	return kiln_compress_zstd(in, len, 3, out, &err) == 0 ? out->len : 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		size_t (*fn)(const unsigned char *, size_t, struct kiln_buf *);
	} codecs[] = {
		{ "zlib gzip -6 (peer)", zlib_gzip },
		{ "libdeflate gzip 6", kiln_gzip },
		{ "zstd 3", kiln_zstd },
	};
	struct kiln_buf out = KILN_BUF_INIT;
	double zlib_rate = 0;
	unsigned char *data;
	size_t len;
	int runs = argc > 2 ? atoi(argv[2]) : 3;
	FILE *f;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE.tar [runs]\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	data = kiln_xmalloc(len);
	if (fread(data, 1, len, f) != len) {
		perror("read");
		return 1;
	}
	fclose(f);
	printf("input: %s, %.1f MB, best of %d runs\n", argv[1], (double)len / 1e6, runs);
	for (size_t c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++) {
		double best = 1e30;
		size_t size = 0;
		for (int r = 0; r < runs; r++) {
			double t0 = now();
			size = codecs[c].fn(data, len, &out);
			double t = now() - t0;
			if (t < best)
				best = t;
		}
		double rate = (double)len / 1e6 / best;
		if (c == 0)
			zlib_rate = rate;
		printf("%-22s %8.1f MB/s  %7.2f MB (%5.1f%%)  x%.2f vs zlib\n", codecs[c].name, rate,
		       (double)size / 1e6, 100.0 * (double)size / (double)len, rate / zlib_rate);
	}
	kiln_buf_release(&out);
	free(data);
	return 0;
}
