#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "lockfile.h"
#include "hash.h"
#include "http.h"
#include "util.h"

#define DEFAULT_PARALLEL 6
#define DEFAULT_RETRIES 3
#define BACKOFF_FIRST 0.2          /* seconds; doubles per retry */
#define BACKOFF_MAX 30.0
#define LOCK_POLL 0.1              /* seconds between flock attempts */
/* Error bodies (404 pages, 5xx text) are read and dropped to keep the
 * connection alive, but only this much of them. */
#define ERROR_BODY_MAX 65536

enum job_state {
	JOB_QUEUED,       /* not looked at yet */
	JOB_LOCK_WAIT,    /* another process (or item) writes this .part */
	JOB_READY,        /* holds the .part; next attempt at not_before */
	JOB_RUNNING,      /* a transfer is in the multi handle */
	JOB_DONE,
};

/* Why the body callbacks stopped a transfer. */
enum job_abort {
	ABORT_NONE,
	ABORT_TOO_LARGE,  /* the server's file is larger than the lock's size */
	ABORT_SIZE,       /* the server announced a different total size */
	ABORT_RANGE,      /* a 206 for other bytes than asked for */
	ABORT_WRITE,      /* writing the .part failed: local, fatal */
	ABORT_ERROR_BODY, /* an error page longer than ERROR_BODY_MAX */
};

/* What to do after an attempt. */
enum next_step { STEP_DONE, STEP_RETRY, STEP_RESTART, STEP_NEXT_URL, STEP_FATAL };

struct fetch_batch;

struct fetch_job {
	struct kiln_fetch_item *item;
	struct fetch_batch *batch;
	enum job_state state;
	char *part_path, *final_path;
	int fd;                    /* the .part, flocked; -1 when not held */
	struct kiln_sha256 *hash;  /* of the .part's first `have` bytes */
	uint64_t have;
	size_t url;                /* index into item->base_urls */
	unsigned failures;         /* failed attempts at this URL */
	bool restarted;            /* the one free restart from zero is used */
	bool verify_failed;        /* some URL delivered wrong bytes */
	double not_before;
	char **url_errors;         /* last error per base URL */

	/* The running attempt. */
	CURL *easy;
	char *current_url;
	bool is_http;
	uint64_t range_start;      /* offset this attempt asked from */
	long status;               /* final HTTP status (0 for file://) */
	int64_t content_length, range_from, range_total;
	bool body_started, discard;
	uint64_t discarded;
	enum job_abort abort;
	int write_errno;
	char curl_err[CURL_ERROR_SIZE];
};

struct fetch_batch {
	const struct kiln_fetch_options *opt;
	unsigned parallel, retries;
	CURLM *multi;
	struct fetch_job *jobs;
	size_t n_jobs;
	unsigned running;
	uint64_t bytes_downloaded;
	uint64_t progress_total;
	uint64_t progress_done_base;  /* finished items' sizes */
	struct kiln_error *err;
	bool failed;
};

char *kiln_fetch_cache_path(const char *cache_dir, const char *sha256)
{
	return kiln_xasprintf("%s/packages/sha256/%s", cache_dir, sha256);
}

static char *part_path_for(const char *cache_dir, const char *sha256)
{
	return kiln_xasprintf("%s/packages/tmp/%s.part", cache_dir, sha256);
}

bool kiln_fetch_filename_valid(const char *filename)
{
	if (!filename || !*filename || *filename == '/' || strlen(filename) > 4096)
		return false;
	if (strstr(filename, "..") || strstr(filename, "//"))
		return false;
	for (const unsigned char *c = (const unsigned char *)filename; *c; c++)
		if (*c <= ' ' || *c >= 127 || strchr("?#%\\", *c))
			return false;
	return filename[strlen(filename) - 1] != '/';
}

int kiln_fetch_verify_cached(const char *path, uint64_t size, const char *sha256, struct kiln_error *err)
{
	char got[KILN_SHA256_HEX_LEN + 1];
	uint64_t got_size = 0;
	struct stat st;

	/* lstat: a symlink in the cache is not kiln's, and is not followed. */
	if (lstat(path, &st) < 0)
		return kiln_error_errno(err, errno, "'%s'", path);
	if (!S_ISREG(st.st_mode))
		return kiln_error_set(err, "'%s': not a regular file", path);
	/* The size first: a truncated file is found without reading it. */
	if ((uint64_t)st.st_size != size) {
		kiln_error_set(err, "'%s': size mismatch (want %" PRIu64 " bytes, got %" PRIu64 ")", path,
			       size, (uint64_t)st.st_size);
		return kiln_error_verification(err);
	}
	if (kiln_sha256_file(path, got, &got_size, err) < 0)
		return -1;
	if (got_size != size) {
		kiln_error_set(err, "'%s': size mismatch (want %" PRIu64 " bytes, got %" PRIu64 ")", path,
			       size, got_size);
		return kiln_error_verification(err);
	}
	if (strcmp(got, sha256) != 0) {
		kiln_error_set(err, "'%s': sha256 mismatch (want %s, got %s)", path, sha256, got);
		return kiln_error_verification(err);
	}
	return 0;
}

/* base + "/" + filename; the few printable characters that are not safe
 * in a URL path are percent-encoded (the filename has no '%' of its own). */
static char *item_url(const char *base, const char *filename)
{
	struct kiln_buf b = KILN_BUF_INIT;
	size_t len = strlen(base);

	while (len > 0 && base[len - 1] == '/')
		len--;
	kiln_buf_add(&b, base, len);
	kiln_buf_addch(&b, '/');
	for (const char *c = filename; *c; c++) {
		if (strchr("\"<>`{}|^[]", *c))
			kiln_buf_printf(&b, "%%%02X", (unsigned char)*c);
		else
			kiln_buf_addch(&b, *c);
	}
	return kiln_buf_detach(&b);
}

static bool url_scheme_allowed(const char *url, bool *is_http)
{
	*is_http = strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
	return *is_http || strncasecmp(url, "file://", 7) == 0;
}

static void report_progress(struct fetch_batch *b)
{
	uint64_t done = b->progress_done_base;

	if (!b->opt->progress)
		return;
	for (size_t i = 0; i < b->n_jobs; i++) {
		struct fetch_job *j = &b->jobs[i];
		if (j->state != JOB_DONE && j->fd >= 0)
			done += j->have;
	}
	if (done > b->progress_total)
		done = b->progress_total;
	b->opt->progress(b->opt->progress_ctx, "packages", done, b->progress_total);
}

/* ---- the .part file ------------------------------------------------------ */

static void job_release_part(struct fetch_job *j)
{
	if (j->fd >= 0) {
		close(j->fd);   /* drops the flock */
		j->fd = -1;
	}
	kiln_sha256_free(j->hash);
	j->hash = NULL;
}

/* Empty the .part: the bytes in it are not the file. */
static int job_truncate(struct fetch_job *j, struct kiln_error *err)
{
	if (ftruncate(j->fd, 0) < 0)
		return kiln_error_errno(err, errno, "truncate '%s'", j->part_path);
	j->have = 0;
	kiln_sha256_free(j->hash);
	j->hash = kiln_sha256_new();
	return 0;
}

/* Hash the bytes an earlier run left in the .part, so the download goes on
 * from there and each byte is hashed once. */
static int job_hash_existing(struct fetch_job *j, uint64_t len, struct kiln_error *err)
{
	static __thread char block[1 << 16];
	uint64_t off = 0;

	j->hash = kiln_sha256_new();
	while (off < len) {
		size_t want = len - off < sizeof(block) ? (size_t)(len - off) : sizeof(block);
		ssize_t n = pread(j->fd, block, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_error_errno(err, errno, "read '%s'", j->part_path);
		if (n == 0)
			break;
		kiln_sha256_update(j->hash, block, (size_t)n);
		off += (uint64_t)n;
	}
	j->have = off;
	if (off != len && ftruncate(j->fd, (off_t)off) < 0)
		return kiln_error_errno(err, errno, "truncate '%s'", j->part_path);
	return 0;
}

/* Take the .part with an exclusive flock.  Returns 1 when it is held, 0
 * when another writer holds it (try again later), -1 on error. */
static int job_lock_part(struct fetch_job *j, struct kiln_error *err)
{
	for (;;) {
		struct stat fst, pst;
		/* O_NOFOLLOW (the lockfile helper's): a symlink planted as the
		 * .part (a cache inside a work tree) must not make kiln write or
		 * truncate its target. */
		int fd = kiln_lockfile_open(j->part_path, 0644, KILN_LOCKFILE_TRY, err);

		if (fd == KILN_LOCKFILE_BUSY)
			return 0;
		if (fd < 0)
			return -1;
		/* The holder we waited for may have renamed this very inode into
		 * the cache (or removed it): then the lock is on the wrong file. */
		if (fstat(fd, &fst) < 0) {
			int e = errno;
			close(fd);
			return kiln_error_errno(err, e, "stat '%s'", j->part_path);
		}
		if (lstat(j->part_path, &pst) == 0 && pst.st_ino == fst.st_ino && pst.st_dev == fst.st_dev) {
			j->fd = fd;
			return 1;
		}
		close(fd);
	}
}

/* Get a queued job ready: the .part locked and hashed, or the job done
 * because the file is in the cache after all (another process finished it
 * while this one waited) or the .part is already the whole file. */
static int job_prepare(struct fetch_job *j, struct kiln_error *err)
{
	struct kiln_fetch_item *it = j->item;
	struct stat st;
	int r;

	r = job_lock_part(j, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		j->state = JOB_LOCK_WAIT;
		j->not_before = kiln_monotonic_seconds() + LOCK_POLL;
		return 0;
	}
	if (stat(j->final_path, &st) == 0 &&
	    kiln_fetch_verify_cached(j->final_path, it->size, it->sha256, NULL) == 0) {
		unlink(j->part_path);
		job_release_part(j);
		it->path = kiln_xstrdup(j->final_path);
		it->downloaded = false;
		j->state = JOB_DONE;
		return 0;
	}
	if (fstat(j->fd, &st) < 0)
		return kiln_error_errno(err, errno, "stat '%s'", j->part_path);
	/* Longer than the file: not a prefix of it. */
	if ((uint64_t)st.st_size > it->size) {
		j->hash = kiln_sha256_new();
		if (job_truncate(j, err) < 0)
			return -1;
	} else if (job_hash_existing(j, (uint64_t)st.st_size, err) < 0) {
		return -1;
	}
	j->state = JOB_READY;
	j->not_before = 0;
	return 0;
}

/* ---- one transfer --------------------------------------------------------- */

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
	struct fetch_job *j = userdata;
	size_t len = size * n;
	uint64_t want = j->item->size;

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or 1xx): forget the last one. */
		const char *sp = memchr(data, ' ', len);
		j->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		j->content_length = j->range_from = j->range_total = -1;
		return len;
	}
	if (len > 15 && strncasecmp(data, "Content-Length:", 15) == 0) {
		char *end;
		unsigned long long v = strtoull(data + 15, &end, 10);
		if (end != data + 15)
			j->content_length = v > INT64_MAX ? INT64_MAX : (int64_t)v;
		return len;
	}
	if (len > 14 && strncasecmp(data, "Content-Range:", 14) == 0) {
		unsigned long long a, b, t;
		char buf[128];
		size_t l = len - 14 < sizeof(buf) - 1 ? len - 14 : sizeof(buf) - 1;
		memcpy(buf, data + 14, l);
		buf[l] = '\0';
		if (sscanf(buf, " bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
			j->range_from = a > INT64_MAX ? INT64_MAX : (int64_t)a;
			j->range_total = t > INT64_MAX ? INT64_MAX : (int64_t)t;
		} else if (sscanf(buf, " bytes %llu-%llu/", &a, &b) == 2) {
			j->range_from = a > INT64_MAX ? INT64_MAX : (int64_t)a;
		}
		return len;
	}
	/* End of a final response's headers: refuse the wrong file before its
	 * body arrives. */
	if ((len == 2 && data[0] == '\r') || (len == 1 && data[0] == '\n')) {
		if (j->status == 200 && j->content_length >= 0 && (uint64_t)j->content_length != want) {
			j->abort = (uint64_t)j->content_length > want ? ABORT_TOO_LARGE : ABORT_SIZE;
			return 0;
		}
		if (j->status == 206) {
			if (j->range_from != (int64_t)j->range_start) {
				j->abort = ABORT_RANGE;
				return 0;
			}
			if (j->range_total >= 0 && (uint64_t)j->range_total != want) {
				j->abort = (uint64_t)j->range_total > want ? ABORT_TOO_LARGE : ABORT_SIZE;
				return 0;
			}
		}
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct fetch_job *j = userdata;
	size_t len = size * n, done = 0;

	if (!j->body_started) {
		j->body_started = true;
		if (j->is_http && j->status != 200 && j->status != 206) {
			j->discard = true;
		} else if (j->is_http && j->status == 200 && j->range_start > 0) {
			/* The server ignored the Range: the whole file comes. */
			if (ftruncate(j->fd, 0) < 0) {
				j->write_errno = errno;
				j->abort = ABORT_WRITE;
				return 0;
			}
			j->have = 0;
			j->range_start = 0;
			kiln_sha256_free(j->hash);
			j->hash = kiln_sha256_new();
		}
	}
	if (j->discard) {
		j->discarded += len;
		if (j->discarded > ERROR_BODY_MAX) {
			j->abort = ABORT_ERROR_BODY;
			return 0;
		}
		return len;
	}
	/* Never past the locked size: the mirror is serving another file. */
	if (len > j->item->size - j->have) {
		j->abort = ABORT_TOO_LARGE;
		return 0;
	}
	while (done < len) {
		ssize_t w = pwrite(j->fd, data + done, len - done, (off_t)(j->have + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			j->write_errno = w < 0 ? errno : EIO;
			j->abort = ABORT_WRITE;
			return 0;
		}
		done += (size_t)w;
	}
	kiln_sha256_update(j->hash, data, len);
	j->have += len;
	j->batch->bytes_downloaded += len;
	return len;
}

static int job_start(struct fetch_batch *b, struct fetch_job *j, struct kiln_error *err)
{
	const char *base = j->item->base_urls[j->url];
	CURL *c;

	free(j->current_url);
	j->current_url = item_url(base, j->item->filename);
	j->status = 0;
	j->content_length = j->range_from = j->range_total = -1;
	j->body_started = j->discard = false;
	j->discarded = 0;
	j->abort = ABORT_NONE;
	j->write_errno = 0;
	j->curl_err[0] = '\0';
	j->range_start = j->have;

	c = curl_easy_init();
	if (!c)
		return kiln_error_set(err, "libcurl: cannot create a handle");
	kiln_http_apply_policy(c);
	curl_easy_setopt(c, CURLOPT_URL, j->current_url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->curl_err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(c, CURLOPT_PRIVATE, j);
	/* Over https, wait for a connection that can multiplex (HTTP/2)
	 * rather than open one more to the same host.  Not over plain http:
	 * there it would queue transfers behind one HTTP/1.1 connection. */
	if (strncasecmp(j->current_url, "https:", 6) == 0)
		curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 128L * 1024);
	if (j->range_start > 0) {
		/* No If-Range: the sha256 at the end decides whether the
		 * bytes we had and the bytes we got are one file. */
		char range[32];
		snprintf(range, sizeof(range), "%" PRIu64 "-", j->range_start);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	if (curl_multi_add_handle(b->multi, c) != CURLM_OK) {
		curl_easy_cleanup(c);
		return kiln_error_set(err, "libcurl: cannot add a transfer");
	}
	j->easy = c;
	j->state = JOB_RUNNING;
	b->running++;
	return 0;
}

static void job_stop_transfer(struct fetch_batch *b, struct fetch_job *j)
{
	if (!j->easy)
		return;
	curl_multi_remove_handle(b->multi, j->easy);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
	b->running--;
}

/* Remember the last error at the current URL. */
static void job_note(struct fetch_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_note(struct fetch_job *j, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	msg = kiln_xmalloc(len > 0 ? (size_t)len + 1 : 1);
	va_start(ap, fmt);
	vsnprintf(msg, len > 0 ? (size_t)len + 1 : 1, fmt, ap);
	va_end(ap);
	free(j->url_errors[j->url]);
	j->url_errors[j->url] = msg;
}

static bool retryable_curl_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* The bytes are wrong: say so, forget them, try the next base URL. */
static enum next_step job_mismatch(struct fetch_job *j, struct kiln_error *err)
{
	j->verify_failed = true;
	if (job_truncate(j, err) < 0)
		return STEP_FATAL;
	return STEP_NEXT_URL;
}

/* The .part and the server disagree about where the bytes start: start
 * over from zero, once for free, then as a failed attempt. */
static enum next_step job_range_trouble(struct fetch_job *j, struct kiln_error *err)
{
	bool free_restart = !j->restarted;

	j->restarted = true;
	if (job_truncate(j, err) < 0)
		return STEP_FATAL;
	return free_restart ? STEP_RESTART : STEP_RETRY;
}

/* The body is complete: fsync, check size and sha256, rename into place. */
static enum next_step job_complete(struct fetch_job *j, struct kiln_error *err)
{
	struct kiln_fetch_item *it = j->item;
	char got[KILN_SHA256_HEX_LEN + 1];

	if (j->have != it->size) {
		if (j->range_start > 0 && !j->restarted)
			return job_range_trouble(j, err);
		job_note(j, "size mismatch (want %" PRIu64 " bytes, got %" PRIu64 ")", it->size, j->have);
		return job_mismatch(j, err);
	}
	if (fsync(j->fd) < 0) {
		kiln_error_errno(err, errno, "fsync '%s'", j->part_path);
		return STEP_FATAL;
	}
	kiln_sha256_final(j->hash, got);
	if (strcmp(got, it->sha256) != 0) {
		/* Resumed bytes may be what is wrong (a mirror that changed the
		 * file, a damaged .part): one more try from zero decides. */
		if (j->range_start > 0 && !j->restarted) {
			j->restarted = true;
			if (job_truncate(j, err) < 0)
				return STEP_FATAL;
			return STEP_RESTART;
		}
		job_note(j, "sha256 mismatch (want %s, got %s)", it->sha256, got);
		return job_mismatch(j, err);
	}
	if (kiln_file_commit(j->part_path, j->final_path, err) < 0)
		return STEP_FATAL;
	job_release_part(j);
	it->path = kiln_xstrdup(j->final_path);
	it->downloaded = true;
	return STEP_DONE;
}

/* Decide what a finished attempt means. */
static enum next_step job_classify(struct fetch_job *j, CURLcode rc, struct kiln_error *err)
{
	struct kiln_fetch_item *it = j->item;

	switch (j->abort) {
	case ABORT_WRITE:
		kiln_error_errno(err, j->write_errno, "write '%s'", j->part_path);
		return STEP_FATAL;
	case ABORT_TOO_LARGE:
		if (j->content_length >= 0 && j->status == 200)
			job_note(j, "size mismatch (want %" PRIu64 " bytes, the server's file has %" PRId64 ")",
				 it->size, j->content_length);
		else if (j->range_total >= 0 && j->status == 206)
			job_note(j, "size mismatch (want %" PRIu64 " bytes, the server's file has %" PRId64 ")",
				 it->size, j->range_total);
		else
			job_note(j, "size mismatch (want %" PRIu64 " bytes, the server sends more)", it->size);
		return job_mismatch(j, err);
	case ABORT_SIZE:
		job_note(j, "size mismatch (want %" PRIu64 " bytes, the server's file has %" PRId64 ")",
			 it->size, j->status == 206 ? j->range_total : j->content_length);
		return job_mismatch(j, err);
	case ABORT_RANGE:
		job_note(j, "asked for bytes from %" PRIu64 ", got a range from %" PRId64, j->range_start,
			 j->range_from);
		return job_range_trouble(j, err);
	case ABORT_ERROR_BODY:
	case ABORT_NONE:
		break;
	}

	if (j->discard || (rc == CURLE_OK && j->is_http)) {
		long s = j->status;
		if (s == 200 || s == 206)
			return job_complete(j, err);
		job_note(j, "HTTP %ld", s);
		if (s == 404 || s == 410)
			return STEP_NEXT_URL;
		if (s == 416)
			return job_range_trouble(j, err);
		if (s >= 500 || s == 408 || s == 429)
			return STEP_RETRY;
		return STEP_NEXT_URL;
	}
	if (rc == CURLE_OK)
		return job_complete(j, err);   /* file:// */

	if (rc == CURLE_PARTIAL_FILE) {
		job_note(j, "truncated (connection closed after %" PRIu64 " of %" PRIu64 " bytes)", j->have,
			 it->size);
		return STEP_RETRY;
	}
	job_note(j, "%s", j->curl_err[0] ? j->curl_err : curl_easy_strerror(rc));
	if (rc == CURLE_FILE_COULDNT_READ_FILE)
		return STEP_NEXT_URL;
	if (rc == CURLE_BAD_DOWNLOAD_RESUME || rc == CURLE_RANGE_ERROR)
		return job_range_trouble(j, err);
	if (retryable_curl_error(rc))
		return STEP_RETRY;
	return STEP_NEXT_URL;
}

/* "fetch FILE: URL: error; URL: error" */
static void job_fail(struct fetch_job *j, struct kiln_error *err)
{
	struct kiln_buf b = KILN_BUF_INIT;
	struct kiln_fetch_item *it = j->item;
	bool first = true;

	kiln_buf_printf(&b, "fetch %s: ", it->filename);
	for (size_t u = 0; u < it->n_base_urls; u++) {
		_cleanup_free_ char *url = NULL;
		if (!j->url_errors[u])
			continue;
		url = item_url(it->base_urls[u], it->filename);
		kiln_buf_printf(&b, "%s%s: %s", first ? "" : "; ", url, j->url_errors[u]);
		first = false;
	}
	kiln_error_set(err, "%s", b.data);
	kiln_buf_release(&b);
	kiln_error_cause(err, j->verify_failed ? KILN_CAUSE_VERIFY : KILN_CAUSE_NONE);
}

/* Go on to the next base URL, or fail the item when there is none. */
static int job_next_url(struct fetch_batch *b, struct fetch_job *j)
{
	bool is_http;

	for (;;) {
		j->url++;
		j->failures = 0;
		if (j->url >= j->item->n_base_urls) {
			job_fail(j, b->err);
			return -1;
		}
		if (url_scheme_allowed(j->item->base_urls[j->url], &is_http))
			break;
		job_note(j, "not an http, https or file URL");
	}
	j->is_http = is_http;
	j->state = JOB_READY;
	j->not_before = 0;
	return 0;
}

static int job_apply_step(struct fetch_batch *b, struct fetch_job *j, enum next_step step)
{
	double backoff;

	switch (step) {
	case STEP_DONE:
		j->state = JOB_DONE;
		b->progress_done_base += j->item->size;
		return 0;
	case STEP_FATAL:
		kiln_error_prefix(b->err, "fetch %s", j->item->filename);
		if (kiln_error_is(b->err, KILN_CAUSE_VERIFY))
			kiln_error_cause(b->err, KILN_CAUSE_NONE); /* exit 1, not 3 */
		return -1;
	case STEP_RESTART:
		j->state = JOB_READY;
		j->not_before = 0;
		return 0;
	case STEP_RETRY:
		if (++j->failures <= b->retries) {
			backoff = BACKOFF_FIRST;
			for (unsigned k = 1; k < j->failures && backoff < BACKOFF_MAX; k++)
				backoff *= 2;
			j->state = JOB_READY;
			j->not_before = kiln_monotonic_seconds() + (backoff < BACKOFF_MAX ? backoff : BACKOFF_MAX);
			return 0;
		}
		return job_next_url(b, j);
	case STEP_NEXT_URL:
		return job_next_url(b, j);
	}
	return 0;
}

static int job_finished(struct fetch_batch *b, struct fetch_job *j, CURLcode rc)
{
	job_stop_transfer(b, j);
	return job_apply_step(b, j, job_classify(j, rc, b->err));
}

/* ---- the batch ------------------------------------------------------------ */

static int check_items(struct kiln_fetch_item *items, size_t n, struct kiln_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct kiln_fetch_item *it = &items[i];
		if (!kiln_fetch_filename_valid(it->filename))
			return kiln_error_set(err, "fetch: unsafe filename \"%s\"",
					      it->filename ? it->filename : "(null)");
		if (!it->sha256 || !kiln_sha256_hex_valid(it->sha256, strlen(it->sha256)))
			return kiln_error_set(err, "fetch %s: sha256 \"%s\" is not 64 lowercase hex digits",
					      it->filename, it->sha256 ? it->sha256 : "(null)");
		if (it->n_base_urls == 0 || !it->base_urls)
			return kiln_error_set(err, "fetch %s: no URL to fetch it from", it->filename);
	}
	return 0;
}

/* A cached file is used only after it is re-hashed; a damaged one goes. */
static void use_cache(struct fetch_batch *b, struct fetch_job *j)
{
	struct kiln_fetch_item *it = j->item;
	struct kiln_error verr = { 0 };

	if (kiln_fetch_verify_cached(j->final_path, it->size, it->sha256, &verr) == 0) {
		it->path = kiln_xstrdup(j->final_path);
		it->downloaded = false;
		j->state = JOB_DONE;
		return;
	}
	if (kiln_error_is(&verr, KILN_CAUSE_VERIFY))
		unlink(j->final_path);
	b->progress_total += it->size;
}

/* When the loop should wake up next for a job's backoff or lock poll. */
static long poll_timeout_ms(struct fetch_batch *b, double now)
{
	double next = now + 1.0;

	/* With every slot taken only a transfer's end (a curl event) lets
	 * another job start. */
	if (b->running >= b->parallel)
		return 1000;
	for (size_t i = 0; i < b->n_jobs; i++) {
		struct fetch_job *j = &b->jobs[i];
		if (j->state == JOB_QUEUED)
			return 0;
		if ((j->state == JOB_READY || j->state == JOB_LOCK_WAIT) && j->not_before < next)
			next = j->not_before;
	}
	if (next <= now)
		return 0;
	return (long)((next - now) * 1000.0) + 1;
}

/* Start what can start: queued jobs take their .part, ready ones whose
 * backoff is over get a transfer, up to `parallel` at once. */
static int start_jobs(struct fetch_batch *b, size_t *pending)
{
	double now = kiln_monotonic_seconds();

	*pending = 0;
	for (size_t i = 0; i < b->n_jobs; i++) {
		struct fetch_job *j = &b->jobs[i];

		if (j->state == JOB_DONE)
			continue;
		(*pending)++;
		if (b->running >= b->parallel)
			continue;
		if (j->state == JOB_QUEUED || (j->state == JOB_LOCK_WAIT && j->not_before <= now)) {
			if (job_prepare(j, b->err) < 0) {
				kiln_error_prefix(b->err, "fetch %s", j->item->filename);
				if (kiln_error_is(b->err, KILN_CAUSE_VERIFY))
					kiln_error_cause(b->err, KILN_CAUSE_NONE); /* exit 1, not 3 */
				return -1;
			}
			if (j->state == JOB_DONE) {
				(*pending)--;
				b->progress_total -= j->item->size;
				continue;
			}
		}
		if (j->state == JOB_READY && j->have == j->item->size && j->have > 0 && j->not_before <= now) {
			/* An earlier run got every byte but did not finish. */
			j->range_start = j->have;
			if (job_apply_step(b, j, job_complete(j, b->err)) < 0)
				return -1;
			if (j->state == JOB_DONE) {
				(*pending)--;
				continue;
			}
			now = kiln_monotonic_seconds();
		}
		if (j->state == JOB_READY && j->not_before <= now) {
			if (job_start(b, j, b->err) < 0)
				return -1;
		}
	}
	return 0;
}

static int run_batch(struct fetch_batch *b)
{
	for (;;) {
		size_t pending;
		int still = 0;
		bool finished = false;
		CURLMsg *msg;
		CURLMcode mc;

		if (start_jobs(b, &pending) < 0)
			return -1;
		if (pending == 0)
			return 0;
		mc = curl_multi_perform(b->multi, &still);
		if (mc != CURLM_OK)
			return kiln_error_set(b->err, "fetch: libcurl: %s", curl_multi_strerror(mc));
		while ((msg = curl_multi_info_read(b->multi, &still))) {
			char *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			if (job_finished(b, (struct fetch_job *)priv, msg->data.result) < 0)
				return -1;
			finished = true;
		}
		report_progress(b);
		/* A slot came free: fill it before waiting. */
		if (finished)
			continue;
		mc = curl_multi_poll(b->multi, NULL, 0, (int)poll_timeout_ms(b, kiln_monotonic_seconds()), NULL);
		if (mc != CURLM_OK)
			return kiln_error_set(b->err, "fetch: libcurl: %s", curl_multi_strerror(mc));
	}
}

static void free_jobs(struct fetch_batch *b)
{
	for (size_t i = 0; i < b->n_jobs; i++) {
		struct fetch_job *j = &b->jobs[i];

		job_stop_transfer(b, j);
		job_release_part(j);
		free(j->part_path);
		free(j->final_path);
		free(j->current_url);
		if (j->url_errors)
			for (size_t u = 0; u < j->item->n_base_urls; u++)
				free(j->url_errors[u]);
		free(j->url_errors);
	}
	free(b->jobs);
}

int kiln_fetch_all(const struct kiln_fetch_options *opt, struct kiln_fetch_item *items, size_t n,
		   struct kiln_fetch_stats *stats, struct kiln_error *err)
{
	struct kiln_error local = { 0 };
	struct fetch_batch b = { .opt = opt, .err = err ? err : &local };
	double start = kiln_monotonic_seconds();
	size_t to_fetch = 0;
	int ret = -1;

	if (stats)
		*stats = (struct kiln_fetch_stats){ 0 };
	for (size_t i = 0; i < n; i++) {
		items[i].path = NULL;
		items[i].downloaded = false;
	}
	if (check_items(items, n, b.err) < 0)
		return -1;
	if (!opt->cache_dir || !*opt->cache_dir)
		return kiln_error_set(b.err, "fetch: no cache directory");
	/* The cache is where the user said ($KILN_CACHE), but what is below it
	 * may be a cloned repository's (a cache inside a work tree): none of
	 * its directories may be a symlink (fsutil.h). */
	if (kiln_dir_ensure_beneath(opt->cache_dir, "packages/sha256", 0755, b.err) < 0 ||
	    kiln_dir_ensure_beneath(opt->cache_dir, "packages/tmp", 0755, b.err) < 0)
		return kiln_error_prefix(b.err, "fetch");

	b.parallel = opt->parallel ? opt->parallel : DEFAULT_PARALLEL;
	b.retries = opt->retries ? opt->retries : DEFAULT_RETRIES;
	b.n_jobs = n;
	b.jobs = kiln_xcalloc(n ? n : 1, sizeof(*b.jobs));
	for (size_t i = 0; i < n; i++) {
		struct fetch_job *j = &b.jobs[i];

		j->item = &items[i];
		j->batch = &b;
		j->fd = -1;
		j->part_path = part_path_for(opt->cache_dir, items[i].sha256);
		j->final_path = kiln_fetch_cache_path(opt->cache_dir, items[i].sha256);
		j->url_errors = kiln_xcalloc(items[i].n_base_urls, sizeof(char *));
		j->url = (size_t)-1;
		use_cache(&b, j);
		if (j->state == JOB_DONE)
			continue;
		if (job_next_url(&b, j) < 0)
			goto out;
		j->state = JOB_QUEUED;
		to_fetch++;
	}

	if (to_fetch > 0) {
		if (kiln_http_global_init(b.err) < 0)
			goto out;
		b.multi = curl_multi_init();
		if (!b.multi) {
			kiln_error_set(b.err, "fetch: libcurl: cannot create a multi handle");
			goto out;
		}
		/* Parallel transfers share connections (keep-alive) and, over
		 * HTTP/2, multiplex on one. */
		curl_multi_setopt(b.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
		curl_multi_setopt(b.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)b.parallel);
		curl_multi_setopt(b.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)b.parallel);
		report_progress(&b);
	}
	if (to_fetch > 0) {
		if (run_batch(&b) < 0)
			goto out;
		report_progress(&b);
	}
	ret = 0;
out:
	free_jobs(&b);
	if (b.multi)
		curl_multi_cleanup(b.multi);
	if (stats) {
		for (size_t i = 0; i < n; i++) {
			if (!items[i].path)
				continue;
			if (items[i].downloaded)
				stats->downloaded++;
			else
				stats->cached++;
		}
		stats->bytes_downloaded = b.bytes_downloaded;
		stats->seconds = kiln_monotonic_seconds() - start;
	}
	return ret;
}
