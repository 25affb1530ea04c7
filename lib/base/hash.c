#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "util.h"

struct kiln_sha256 {
	EVP_MD_CTX *ctx;
};

struct kiln_sha256 *kiln_sha256_new(void)
{
	struct kiln_sha256 *h = kiln_xcalloc(1, sizeof(*h));

	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "kiln: OpenSSL cannot initialise SHA-256\n");
		abort();
	}
	return h;
}

void kiln_sha256_update(struct kiln_sha256 *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->ctx, data, len);
}

void kiln_sha256_final(struct kiln_sha256 *h, char hex[KILN_SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	for (unsigned int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[KILN_SHA256_HEX_LEN] = '\0';
}

void kiln_sha256_free(struct kiln_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void kiln_sha256_hex(const void *data, size_t len, char hex[KILN_SHA256_HEX_LEN + 1])
{
	struct kiln_sha256 *h = kiln_sha256_new();

	kiln_sha256_update(h, data, len);
	kiln_sha256_final(h, hex);
	kiln_sha256_free(h);
}

int kiln_sha256_fd(int fd, const char *label, char hex[KILN_SHA256_HEX_LEN + 1], uint64_t *size,
		   struct kiln_error *err)
{
	struct kiln_sha256 *h;
	static __thread char block[1 << 16];
	uint64_t total = 0;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return kiln_error_set(err, "'%s' is not a regular file", label);
	h = kiln_sha256_new();
	while ((n = read(fd, block, sizeof(block))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kiln_sha256_free(h);
			return kiln_error_errno(err, errno, "read '%s'", label);
		}
		kiln_sha256_update(h, block, (size_t)n);
		total += (uint64_t)n;
	}
	kiln_sha256_final(h, hex);
	kiln_sha256_free(h);
	if (size)
		*size = total;
	return 0;
}

int kiln_sha256_file(const char *path, char hex[KILN_SHA256_HEX_LEN + 1], uint64_t *size,
		     struct kiln_error *err)
{
	/* O_NONBLOCK and a regular file only: a FIFO or a link to /dev/zero
	 * planted in a store or cache must fail, not hang.  O_NOFOLLOW: the
	 * files kiln hashes are its own (cache, store), and a symlink in their
	 * place (committed to a repository holding the cache) is not. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);

	if (fd < 0) {
		if (errno == ELOOP)
			return kiln_error_set(err, "'%s' is a symbolic link: refusing to follow it", path);
		return kiln_error_errno(err, errno, "open '%s'", path);
	}
	return kiln_sha256_fd(fd, path, hex, size, err);
}

bool kiln_sha256_hex_valid(const char *s, size_t len)
{
	if (len != KILN_SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}
