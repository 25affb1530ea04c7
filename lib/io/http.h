/* http.h - HTTP(S) downloads to files with libcurl.
 *
 * Bodies are written to a temporary file beside the destination and renamed
 * into place only when complete, so a truncated or failed transfer never
 * leaves a partial file under the destination's name.
 */
#ifndef KILN_HTTP_H
#define KILN_HTTP_H

#include <stdint.h>

#include "error.h"

/* Called as bytes arrive (total 0 when unknown).  Library code reports
 * progress only through this hook; the command decides what to show. */
typedef void (*kiln_progress_fn)(void *ctx, const char *label, uint64_t done, uint64_t total);

struct kiln_http;

struct kiln_http_get {
	const char *url;
	const char *dest;           /* where the body goes on 200 */
	uint64_t max_size;          /* refuse bodies larger than this */
	/* Conditional request: a sidecar file holding the ETag and
	 * Last-Modified of dest, read before and written after.  NULL: none. */
	const char *validators;
	const char *label;          /* for progress */
	kiln_progress_fn progress;
	void *progress_ctx;
};

enum kiln_http_status {
	KILN_HTTP_FETCHED = 200,       /* dest holds a new body */
	KILN_HTTP_NOT_MODIFIED = 304,  /* dest is still current */
	KILN_HTTP_NOT_FOUND = 404,     /* 404 or 410: nothing written */
	KILN_HTTP_TOO_LARGE = 413,     /* the body passed max_size: nothing written */
};

/* A session reuses connections between requests. */
struct kiln_http *kiln_http_new(struct kiln_error *err);
void kiln_http_free(struct kiln_http *h);

/* GET req->url.  Returns 0 and sets *status, or -1 for every other
 * outcome (transport error, other HTTP status, too large, truncated). */
int kiln_http_fetch(struct kiln_http *h, const struct kiln_http_get *req,
		    enum kiln_http_status *status, struct kiln_error *err);

/* Initialise libcurl for this process (once, thread-safe).  Modules that
 * drive their own handles (fetch's multi interface) call it first. */
int kiln_http_global_init(struct kiln_error *err);

/* Apply kiln's transport rules to a libcurl easy handle (a CURL *) that the
 * caller drives itself: http, https and file URLs only, redirects (at most
 * 5) only to http or https, a 20 s connect timeout, a stall limit of
 * 1 KiB/s for 60 s, and the User-Agent kiln/KILN_VERSION. */
void kiln_http_apply_policy(void *curl_easy);

#endif
