/* curlload.c - libcurl, loaded when kiln first downloads something.
 *
 * libcurl drags some thirty shared libraries into a process (Kerberos,
 * LDAP, SASL, GnuTLS, nghttp2, …), and mapping and relocating them costs
 * about 4 ms before main() runs: most of `kiln version`, and a third of a
 * `kiln run` that never downloads anything.  So kiln is not linked against
 * libcurl; this file defines the libcurl functions kiln calls (lib/io/http.c,
 * lib/io/fetch.c) and forwards each to the real one, dlopen()ed on first use.
 * If libcurl cannot be loaded the functions fail the way libcurl does
 * (CURLE_FAILED_INIT, NULL), so callers report a normal error.
 *
 * Variadic setopt/getinfo calls are forwarded by the option's type, which
 * libcurl encodes in the option number (CURLOPTTYPE_*, CURLINFO_*).
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#define CURL_SONAME "libcurl.so.4"

static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	const char *(*multi_strerror)(CURLMcode);
} api;
static bool loaded;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	bool ok = h != NULL;

	if (!h)
		return;
#define SYM(field, name) ok = ok && (*(void **)&api.field = dlsym(h, name)) != NULL
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_reset, "curl_easy_reset");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	SYM(multi_init, "curl_multi_init");
	SYM(multi_add_handle, "curl_multi_add_handle");
	SYM(multi_remove_handle, "curl_multi_remove_handle");
	SYM(multi_perform, "curl_multi_perform");
	SYM(multi_poll, "curl_multi_poll");
	SYM(multi_info_read, "curl_multi_info_read");
	SYM(multi_cleanup, "curl_multi_cleanup");
	SYM(multi_setopt, "curl_multi_setopt");
	SYM(multi_strerror, "curl_multi_strerror");
#undef SYM
	loaded = ok;
}

static bool ready(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

CURLcode curl_global_init(long flags)
{
	return ready() ? api.global_init(flags) : CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void)
{
	return ready() ? api.easy_init() : NULL;
}

/* One argument follows the option: a long, an object or function
 * pointer, or a curl_off_t, as the option number says. */
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = api.easy_setopt(curl, option, va_arg(ap, long));
	else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB)
		rc = api.easy_setopt(curl, option, va_arg(ap, curl_off_t));
	else
		rc = api.easy_setopt(curl, option, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *curl)
{
	return ready() ? api.easy_perform(curl) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *curl)
{
	if (ready())
		api.easy_cleanup(curl);
}

/* Every CURLINFO_* takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = api.easy_getinfo(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void curl_easy_reset(CURL *curl)
{
	if (ready())
		api.easy_reset(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
	return ready() ? api.easy_strerror(code) : "libcurl (" CURL_SONAME ") could not be loaded";
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return ready() ? api.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (ready())
		api.slist_free_all(list);
}

CURLM *curl_multi_init(void)
{
	return ready() ? api.multi_init() : NULL;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *curl)
{
	return ready() ? api.multi_add_handle(m, curl) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *curl)
{
	return ready() ? api.multi_remove_handle(m, curl) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
	return ready() ? api.multi_perform(m, running) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd *extra, unsigned int n, int timeout_ms, int *ret)
{
	return ready() ? api.multi_poll(m, extra, n, timeout_ms, ret) : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	return ready() ? api.multi_info_read(m, left) : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
	return ready() ? api.multi_cleanup(m) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption option, ...)
{
	va_list ap;
	CURLMcode rc;

	if (!ready())
		return CURLM_INTERNAL_ERROR;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = api.multi_setopt(m, option, va_arg(ap, long));
	else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB)
		rc = api.multi_setopt(m, option, va_arg(ap, curl_off_t));
	else
		rc = api.multi_setopt(m, option, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

const char *curl_multi_strerror(CURLMcode code)
{
	return ready() ? api.multi_strerror(code) : "libcurl (" CURL_SONAME ") could not be loaded";
}
