#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "util.h"

struct kiln_http {
	CURL *curl;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct kiln_http *kiln_http_new(struct kiln_error *err)
{
	struct kiln_http *h;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		kiln_error_set(err, "libcurl: %s", curl_easy_strerror(global_rc));
		return NULL;
	}
	h = kiln_xcalloc(1, sizeof(*h));
	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		kiln_error_set(err, "libcurl: cannot create a handle");
		return NULL;
	}
	return h;
}

void kiln_http_free(struct kiln_http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h);
}

struct transfer {
	FILE *out;
	uint64_t written, max_size;
	int too_large;
	int write_failed;
	char etag[512];
	char last_modified[128];
	const struct kiln_http_get *req;
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct transfer *t = userdata;
	size_t len = size * n;

	if (t->written + len > t->max_size) {
		t->too_large = 1;
		return 0;
	}
	if (fwrite(data, 1, len, t->out) != len) {
		t->write_failed = errno ? errno : EIO;
		return 0;
	}
	t->written += len;
	return len;
}

/* Keep the validators of a 200 answer for the next conditional request. */
static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
	struct transfer *t = userdata;
	size_t len = size * n;
	char *target = NULL;
	size_t cap = 0, skip = 0;

	if (len > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		target = t->etag; cap = sizeof(t->etag); skip = 5;
	} else if (len > 14 && strncasecmp(data, "Last-Modified:", 14) == 0) {
		target = t->last_modified; cap = sizeof(t->last_modified); skip = 14;
	}
	if (target) {
		const char *v = data + skip, *e = data + len;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
			e--;
		if ((size_t)(e - v) < cap) {
			memcpy(target, v, (size_t)(e - v));
			target[e - v] = '\0';
		}
	}
	return len;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct transfer *t = userdata;

	if (t->req->progress)
		t->req->progress(t->req->progress_ctx, t->req->label ? t->req->label : t->req->url,
				 (uint64_t)dlnow, (uint64_t)dltotal);
	return 0;
}

/* Read "etag\nlast-modified\n" from the sidecar, if the file it describes exists. */
static struct curl_slist *conditional_headers(const struct kiln_http_get *req)
{
	struct curl_slist *list = NULL;
	_cleanup_free_ char *text = NULL;
	struct stat st;
	char *nl, *etag, *lm;

	/* Only for a regular file kiln wrote: a symlink left in a cache (one
	 * inside a cloned work tree) is neither kept on "not modified" nor
	 * followed to read its validators. */
	if (!req->validators || lstat(req->dest, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	text = kiln_file_read_nofollow(req->validators, 4096, NULL, NULL);
	if (!text)
		return NULL;
	etag = text;
	nl = strchr(etag, '\n');
	if (!nl)
		return NULL;
	*nl = '\0';
	lm = nl + 1;
	nl = strchr(lm, '\n');
	if (nl)
		*nl = '\0';
	if (*etag) {
		_cleanup_free_ char *h = kiln_xasprintf("If-None-Match: %s", etag);
		list = curl_slist_append(list, h);
	}
	if (*lm) {
		_cleanup_free_ char *h = kiln_xasprintf("If-Modified-Since: %s", lm);
		list = curl_slist_append(list, h);
	}
	return list;
}

int kiln_http_fetch(struct kiln_http *h, const struct kiln_http_get *req,
		    enum kiln_http_status *status, struct kiln_error *err)
{
	_cleanup_free_ char *tmp = kiln_xasprintf("%s.part.XXXXXX", req->dest);
	struct transfer t = { .max_size = req->max_size, .req = req };
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers;
	CURL *c = h->curl;
	CURLcode rc;
	long code = 0;
	int fd;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return kiln_error_errno(err, errno, "create temporary file for '%s'", req->dest);
	t.out = fdopen(fd, "wb");
	if (!t.out) {
		close(fd);
		unlink(tmp);
		return kiln_error_errno(err, errno, "open '%s'", tmp);
	}
	headers = conditional_headers(req);

	curl_easy_reset(c);
	kiln_http_apply_policy(c);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (req->max_size < (uint64_t)INT64_MAX)
		curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_size);
	if (req->progress) {
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
	}
	if (headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(headers);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);

	if (fflush(t.out) != 0 || fsync(fileno(t.out)) != 0)
		t.write_failed = t.write_failed ? t.write_failed : errno;
	fclose(t.out);

	if (rc != CURLE_OK || t.write_failed || t.too_large) {
		unlink(tmp);
		if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
			*status = KILN_HTTP_TOO_LARGE;
			return 0;
		}
		if (t.write_failed)
			return kiln_error_errno(err, t.write_failed, "GET %s: write '%s'", req->url, tmp);
		if (rc == CURLE_PARTIAL_FILE)
			return kiln_error_set(err, "GET %s: truncated (connection closed after %llu bytes)",
					      req->url, (unsigned long long)t.written);
		return kiln_error_set(err, "GET %s: %s", req->url,
				      curl_err[0] ? curl_err : curl_easy_strerror(rc));
	}
	if (code == 304) {
		unlink(tmp);
		*status = KILN_HTTP_NOT_MODIFIED;
		return 0;
	}
	if (code == 404 || code == 410) {
		unlink(tmp);
		*status = KILN_HTTP_NOT_FOUND;
		return 0;
	}
	/* file:// answers 0 on success. */
	if (code != 200 && !(code == 0 && strncmp(req->url, "file:", 5) == 0)) {
		unlink(tmp);
		return kiln_error_set(err, "GET %s: HTTP %ld", req->url, code);
	}
	if (kiln_file_commit(tmp, req->dest, err) < 0)
		return -1;
	if (req->validators) {
		_cleanup_free_ char *text = kiln_xasprintf("%s\n%s\n", t.etag, t.last_modified);
		/* Losing the validators only costs a full download next time. */
		if (kiln_file_write_atomic(req->validators, text, strlen(text), 0644, NULL) < 0)
			unlink(req->validators);
	}
	*status = KILN_HTTP_FETCHED;
	return 0;
}

int kiln_http_global_init(struct kiln_error *err)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return kiln_error_set(err, "libcurl: %s", curl_easy_strerror(global_rc));
	return 0;
}

void kiln_http_apply_policy(void *curl_easy)
{
	CURL *c = curl_easy;

	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kiln/" KILN_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
	/* A stalled mirror fails instead of hanging: under 1 KiB/s for 60 s. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
}
