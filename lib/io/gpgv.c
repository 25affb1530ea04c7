#include "gpgv.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "process.h"
#include "util.h"

#define ARMOR_BEGIN_KEY "-----BEGIN PGP PUBLIC KEY BLOCK-----"
#define SIGNED_BEGIN "-----BEGIN PGP SIGNED MESSAGE-----"
#define SIG_BEGIN "-----BEGIN PGP SIGNATURE-----"
#define SIG_END "-----END PGP SIGNATURE-----"

/* Decode an ASCII-armored key file into binary packets (gpgv only reads
 * binary keyrings).  Returns the path to use: keyring itself or a copy. */
static char *usable_keyring(const char *keyring, const char *tmp_dir, struct kiln_error *err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ unsigned char *bin = NULL;
	_cleanup_free_ char *out = NULL;
	size_t len, binlen = 0;
	char *p, *line;
	bool in_body = false;

	text = kiln_file_read(keyring, 16u << 20, &len, err);
	if (!text) {
		kiln_error_prefix(err, "keyring");
		return NULL;
	}
	if (!strstr(text, ARMOR_BEGIN_KEY))
		return kiln_xstrdup(keyring);
	bin = kiln_xmalloc(len);
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	EVP_DecodeInit(ctx);
	p = strstr(text, ARMOR_BEGIN_KEY);
	for (line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
		size_t ll = strlen(line);
		int n = 0;
		while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' '))
			line[--ll] = '\0';
		if (!in_body) {
			/* Armor headers end at the first line that is not "Key: value". */
			if (strncmp(line, "-----BEGIN", 10) == 0 || strchr(line, ':'))
				continue;
			in_body = true;
		}
		if (line[0] == '=' || strncmp(line, "-----END", 8) == 0)
			break;
		if (EVP_DecodeUpdate(ctx, bin + binlen, &n, (unsigned char *)line, (int)ll) < 0) {
			EVP_ENCODE_CTX_free(ctx);
			kiln_error_set(err, "keyring '%s': bad base64 in armored key", keyring);
			return NULL;
		}
		binlen += (size_t)n;
	}
	{
		int n = 0;
		EVP_DecodeFinal(ctx, bin + binlen, &n);
		binlen += (size_t)n;
	}
	EVP_ENCODE_CTX_free(ctx);
	if (binlen == 0) {
		kiln_error_set(err, "keyring '%s': armored key block is empty", keyring);
		return NULL;
	}
	out = kiln_xasprintf("%s/keyring-%d.gpg", tmp_dir, (int)getpid());
	if (kiln_file_write_atomic(out, bin, binlen, 0600, err) < 0)
		return NULL;
	return kiln_steal_pointer(&out);
}

/* Explain gpgv's status lines in one phrase. */
static int explain_failure(const char *keyring, const struct kiln_buf *status,
			   const struct kiln_buf *stderr_text, int code, struct kiln_error *err)
{
	const char *s = status->data ? status->data : "";
	const char *p;

	if ((p = strstr(s, "[GNUPG:] NO_PUBKEY ")))
		return kiln_error_set(err, "signed by key %.16s, which is not in keyring '%s'",
				      p + 19, keyring);
	if (strstr(s, "[GNUPG:] BADSIG"))
		return kiln_error_set(err, "BAD signature: the signed text was changed");
	if (strstr(s, "[GNUPG:] EXPKEYSIG"))
		return kiln_error_set(err, "signed with an expired key");
	if (strstr(s, "[GNUPG:] REVKEYSIG"))
		return kiln_error_set(err, "signed with a revoked key");
	if (strstr(s, "[GNUPG:] NODATA"))
		return kiln_error_set(err, "no OpenPGP signature found");
	if (strstr(s, "[GNUPG:] ERRSIG"))
		return kiln_error_set(err, "signature could not be checked with keyring '%s'", keyring);
	{
		/* The first line gpgv printed, for anything else. */
		const char *e = stderr_text->data ? stderr_text->data : "";
		const char *nl = strchr(e, '\n');
		return kiln_error_set(err, "gpgv failed (exit %d): %.*s", code,
				      (int)(nl ? nl - e : (long)strlen(e)), e);
	}
}

static int run_gpgv(const char *keyring, char **extra, const char *tmp_dir,
		    struct kiln_error *err)
{
	_cleanup_free_ char *kr = NULL;
	_cleanup_free_ char *home = NULL;
	_cleanup_buf_ struct kiln_buf status = KILN_BUF_INIT;
	_cleanup_buf_ struct kiln_buf errtext = KILN_BUF_INIT;
	struct stat st;
	char *argv[16];
	int n = 0, code = 0, rc;

	if (stat(keyring, &st) < 0)
		return kiln_error_errno(err, errno, "keyring '%s'", keyring);
	kr = usable_keyring(keyring, tmp_dir, err);
	if (!kr)
		return -1;
	/* An empty home keeps the user's own keys and trustdb out of it. */
	home = kiln_xasprintf("%s/gnupg-%d", tmp_dir, (int)getpid());
	if (mkdir(home, 0700) < 0 && errno != EEXIST)
		return kiln_error_errno(err, errno, "create '%s'", home);
	argv[n++] = "gpgv";
	argv[n++] = "--homedir";
	argv[n++] = home;
	argv[n++] = "--status-fd";
	argv[n++] = "1";
	argv[n++] = "--keyring";
	argv[n++] = kr;
	while (*extra)
		argv[n++] = *extra++;
	argv[n] = NULL;
	rc = kiln_process_capture(argv, &status, &errtext, &code, err);
	if (strcmp(kr, keyring) != 0)
		unlink(kr);
	rmdir(home);
	if (rc < 0)
		return -1;
	if (code == 0 && status.data && strstr(status.data, "[GNUPG:] VALIDSIG") &&
	    strstr(status.data, "[GNUPG:] GOODSIG"))
		return 0;
	explain_failure(keyring, &status, &errtext, code, err);
	return kiln_error_verification(err);
}

/* apt refuses an InRelease with anything but one signed message in it;
 * so does kiln: text before or after the signed block is an attacker's. */
static int check_clearsigned_shape(const char *data, size_t len, struct kiln_error *err)
{
	const char *end = data + len, *p, *sig, *sig_end;

	if (len < strlen(SIGNED_BEGIN) || memcmp(data, SIGNED_BEGIN, strlen(SIGNED_BEGIN)) != 0)
		return kiln_error_set(err, "not a clearsigned message (text before \"%s\")", SIGNED_BEGIN);
	if (memmem(data + 1, len - 1, SIGNED_BEGIN, strlen(SIGNED_BEGIN)))
		return kiln_error_set(err, "more than one signed message");
	sig = memmem(data, len, "\n" SIG_BEGIN, strlen(SIG_BEGIN) + 1);
	if (!sig)
		return kiln_error_set(err, "no signature block");
	if (memmem(sig + 1, (size_t)(end - sig - 1), "\n" SIG_BEGIN, strlen(SIG_BEGIN) + 1))
		return kiln_error_set(err, "more than one signature block");
	sig_end = memmem(sig, (size_t)(end - sig), SIG_END, strlen(SIG_END));
	if (!sig_end)
		return kiln_error_set(err, "unterminated signature block");
	for (p = sig_end + strlen(SIG_END); p < end; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
			return kiln_error_set(err, "text after the signature block (not covered by the signature)");
	return 0;
}

int kiln_gpgv_verify_clearsigned(const char *keyring, const char *in_path, const char *out_path,
				 const char *tmp_dir, struct kiln_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	char *extra[] = { "--output", (char *)out_path, (char *)in_path, NULL };

	data = kiln_file_read(in_path, 64u << 20, &len, err);
	if (!data)
		return -1;
	if (check_clearsigned_shape(data, len, err) < 0)
		return kiln_error_verification(err);
	unlink(out_path);
	if (run_gpgv(keyring, extra, tmp_dir, err) < 0) {
		unlink(out_path);
		return -1;
	}
	return 0;
}

int kiln_gpgv_verify_detached(const char *keyring, const char *sig_path, const char *data_path,
			      const char *tmp_dir, struct kiln_error *err)
{
	char *extra[] = { (char *)sig_path, (char *)data_path, NULL };
	return run_gpgv(keyring, extra, tmp_dir, err);
}

char *kiln_gpgv_clearsigned_text(const char *data, size_t len, size_t *out_len,
				 struct kiln_error *err)
{
	struct kiln_buf out = KILN_BUF_INIT;
	const char *p, *end = data + len;
	bool headers = true;

	if (check_clearsigned_shape(data, len, err) < 0)
		return NULL;
	p = memchr(data, '\n', len);
	p = p ? p + 1 : end;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t ll = (size_t)(le - p);

		if (ll && p[ll - 1] == '\r')
			ll--;
		if (headers) {
			if (ll == 0)
				headers = false;
		} else {
			if (ll >= strlen(SIG_BEGIN) && memcmp(p, SIG_BEGIN, strlen(SIG_BEGIN)) == 0)
				break;
			/* Dash-escaped lines (RFC 4880 §7.1). */
			if (ll >= 2 && p[0] == '-' && p[1] == ' ')
				kiln_buf_add(&out, p + 2, ll - 2);
			else
				kiln_buf_add(&out, p, ll);
			kiln_buf_addch(&out, '\n');
		}
		p = nl ? nl + 1 : end;
	}
	*out_len = out.len;
	return kiln_buf_detach(&out);
}
