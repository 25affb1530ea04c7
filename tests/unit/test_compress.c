/* test_compress.c - deterministic gzip (libdeflate) and zstd, checked by
 * round trips and by gzip(1) and zstd(1).  Speed is measured in
 * bench/compress.c, not here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "compress.h"
#include "debcraft.h"
#include "fsutil.h"
#include "tap.h"
#include "util.h"

static char *tmp;

/* Some megabytes that compress like a layer: text, repeats and noise. */
static void sample(struct kiln_buf *b, size_t size)
{
	uint64_t x = 88172645463325252ULL;

	while (b->len < size) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (x % 4) {
		case 0:
			kiln_buf_printf(b, "usr/share/doc/package-%llu/changelog.Debian.gz\n",
					(unsigned long long)(x % 1000));
			break;
		case 1:
			kiln_buf_add(b, &x, sizeof(x));
			break;
		default:
			kiln_buf_adds(b, "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ");
			break;
		}
	}
	b->len = size;
	b->data[size] = '\0';
}

/* Run `tool -dc file` and return what it wrote, via a file (the capture
 * helper keeps 1 MiB at most). */
static char *external_decompress(const char *tool, const struct kiln_buf *compressed, size_t *len)
{
	_cleanup_free_ char *in = kiln_xasprintf("%s/in", tmp);
	_cleanup_free_ char *out = kiln_xasprintf("%s/out", tmp);
	_cleanup_free_ char *cmd = kiln_xasprintf("%s -dc '%s' > '%s'", tool, in, out);
	struct kiln_error err = { 0 };

	if (kiln_file_write_atomic(in, compressed->data, compressed->len, 0644, &err) < 0 ||
	    craft_run(NULL, NULL, "sh", "-c", cmd, (char *)NULL) != 0)
		return NULL;
	return kiln_file_read(out, 1 << 30, len, &err);
}

TEST(gzip_header_and_round_trip)
{
	_cleanup_buf_ struct kiln_buf in = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf a = KILN_BUF_INIT, b = KILN_BUF_INIT, back = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	const unsigned char *h;

	sample(&in, 3 << 20);
	CHECK(kiln_compress_gzip(in.data, in.len, 0, &a, &err) == 0);
	CHECK(kiln_compress_gzip(in.data, in.len, 6, &b, &err) == 0);
	/* Level 0 is the default, 6; the same input gives the same bytes. */
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	CHECK(a.len < in.len / 2);
	h = (const unsigned char *)a.data;
	/* ID1 ID2 CM=deflate FLG=0 (no name, no comment, no extra) MTIME=0 ... OS=255 */
	CHECK(h[0] == 0x1f && h[1] == 0x8b && h[2] == 8 && h[3] == 0);
	CHECK(h[4] == 0 && h[5] == 0 && h[6] == 0 && h[7] == 0);
	CHECK(h[9] == 255);
	CHECK(kiln_decompress_gzip(a.data, a.len, 1 << 30, &back, &err) == 0);
	CHECK(back.len == in.len && memcmp(back.data, in.data, in.len) == 0);
	if (craft_have("gzip")) {
		size_t n = 0;
		_cleanup_free_ char *g = external_decompress("gzip", &a, &n);
		CHECK(g && n == in.len && memcmp(g, in.data, n) == 0);
	}
}

TEST(gzip_levels_and_edges)
{
	_cleanup_buf_ struct kiln_buf in = KILN_BUF_INIT;
	struct kiln_error err = { 0 };
	size_t prev = (size_t)-1;
	static const int levels[] = { 1, 6, 9, 12 };

	sample(&in, 1 << 20);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(levels); i++) {
		int level = levels[i];
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT, back = KILN_BUF_INIT;
		CHECK(kiln_compress_gzip(in.data, in.len, level, &out, &err) == 0);
		CHECK(kiln_decompress_gzip(out.data, out.len, in.len, &back, &err) == 0);
		CHECK(back.len == in.len && memcmp(back.data, in.data, in.len) == 0);
		printf("# gzip level %d: %zu bytes\n", level, out.len);
		CHECK(out.len <= prev);
		prev = out.len;
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(kiln_compress_gzip(in.data, in.len, 13, &out, &err) == -1);
		CHECK_CONTAINS(err.message, "level 13");
		CHECK(kiln_compress_gzip(in.data, in.len, -1, &out, &err) == -1);
	}
	{
		/* Empty input; appending keeps what the buffer held. */
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT, back = KILN_BUF_INIT;
		kiln_buf_adds(&out, "prefix");
		CHECK(kiln_compress_gzip(NULL, 0, 0, &out, &err) == 0);
		CHECK(out.len > 6 && memcmp(out.data, "prefix", 6) == 0);
		CHECK(kiln_decompress_gzip(out.data + 6, out.len - 6, 10, &back, &err) == 0);
		CHECK(back.len == 0);
	}
	{
		/* Two members decompress to both; too much output, corrupt and
		 * truncated input are errors. */
		_cleanup_buf_ struct kiln_buf two = KILN_BUF_INIT, back = KILN_BUF_INIT;
		CHECK(kiln_compress_gzip("hello ", 6, 0, &two, &err) == 0);
		CHECK(kiln_compress_gzip("world", 5, 0, &two, &err) == 0);
		CHECK(kiln_decompress_gzip(two.data, two.len, 100, &back, &err) == 0);
		CHECK_STR(back.data, "hello world");
		kiln_buf_reset(&back);
		CHECK(kiln_decompress_gzip(two.data, two.len, 8, &back, &err) == -1);
		CHECK_CONTAINS(err.message, "more than 8 bytes");
		kiln_buf_reset(&back);
		CHECK(kiln_decompress_gzip(two.data, two.len - 3, 100, &back, &err) == -1);
		two.data[12] ^= 0x55;
		kiln_buf_reset(&back);
		CHECK(kiln_decompress_gzip(two.data, two.len, 100, &back, &err) == -1);
		CHECK(kiln_decompress_gzip("", 0, 100, &back, &err) == -1);
	}
	{
		/* A big output from a small input grows past the first guess. */
		_cleanup_buf_ struct kiln_buf z = KILN_BUF_INIT, out = KILN_BUF_INIT,
					      back = KILN_BUF_INIT;
		kiln_xgrow(&z.data, &z.alloc, (8 << 20) + 1, 1);
		memset(z.data, 0, 8 << 20);
		z.len = 8 << 20;
		CHECK(kiln_compress_gzip(z.data, z.len, 0, &out, &err) == 0);
		CHECK(out.len < 64 << 10);
		CHECK(kiln_decompress_gzip(out.data, out.len, 16 << 20, &back, &err) == 0);
		CHECK(back.len == z.len && memcmp(back.data, z.data, z.len) == 0);
		/* A wrong ISIZE (the first guess of the size) is caught. */
		out.data[out.len - 2] = 0;
		kiln_buf_reset(&back);
		CHECK(kiln_decompress_gzip(out.data, out.len, 16 << 20, &back, &err) == -1);
	}
}

TEST(zstd_round_trip)
{
	_cleanup_buf_ struct kiln_buf in = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf a = KILN_BUF_INIT, b = KILN_BUF_INIT, back = KILN_BUF_INIT;
	struct kiln_error err = { 0 };

	sample(&in, 3 << 20);
	CHECK(kiln_compress_zstd(in.data, in.len, 0, &a, &err) == 0);
	CHECK(kiln_compress_zstd(in.data, in.len, 3, &b, &err) == 0);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	CHECK(ZSTD_getFrameContentSize(a.data, a.len) == in.len);
	CHECK(kiln_decompress_zstd(a.data, a.len, 1 << 30, &back, &err) == 0);
	CHECK(back.len == in.len && memcmp(back.data, in.data, in.len) == 0);
	if (craft_have("zstd")) {
		size_t n = 0;
		_cleanup_free_ char *z = external_decompress("zstd -q", &a, &n);
		CHECK(z && n == in.len && memcmp(z, in.data, n) == 0);
	}
	{
		_cleanup_buf_ struct kiln_buf out = KILN_BUF_INIT;
		CHECK(kiln_compress_zstd(in.data, in.len, 20, &out, &err) == -1);
		CHECK(kiln_compress_zstd(in.data, in.len, 19, &out, &err) == 0);
	}
	{
		_cleanup_buf_ struct kiln_buf two = KILN_BUF_INIT, out = KILN_BUF_INIT;
		CHECK(kiln_compress_zstd("hello ", 6, 0, &two, &err) == 0);
		CHECK(kiln_compress_zstd("world", 5, 0, &two, &err) == 0);
		CHECK(kiln_decompress_zstd(two.data, two.len, 100, &out, &err) == 0);
		CHECK_STR(out.data, "hello world");
		kiln_buf_reset(&out);
		CHECK(kiln_decompress_zstd(two.data, two.len, 4, &out, &err) == -1);
		kiln_buf_reset(&out);
		CHECK(kiln_decompress_zstd(two.data, two.len - 2, 100, &out, &err) == -1);
		CHECK(kiln_decompress_zstd("junk", 4, 100, &out, &err) == -1);
		CHECK(kiln_decompress_zstd("", 0, 100, &out, &err) == -1);
	}
	{
		_cleanup_buf_ struct kiln_buf e = KILN_BUF_INIT, out = KILN_BUF_INIT;
		CHECK(kiln_compress_zstd(NULL, 0, 0, &e, &err) == 0);
		CHECK(kiln_decompress_zstd(e.data, e.len, 10, &out, &err) == 0 && out.len == 0);
	}
}

int main(void)
{
	tmp = craft_tmpdir("test-compress");
	RUN(gzip_header_and_round_trip);
	RUN(gzip_levels_and_edges);
	RUN(zstd_round_trip);
	craft_rm_rf(tmp);
	free(tmp);
	return tap_done();
}
