#include "mirror.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "deb822.h"
#include "fsutil.h"
#include "util.h"

/* http(s) with a host (not "http:///x", which trimming would turn into
 * "http:"), or a local file: URI. */
static bool usable_uri(const char *u, size_t n)
{
	return (n > 7 && strncmp(u, "http://", 7) == 0 && u[7] != '/') ||
	       (n > 8 && strncmp(u, "https://", 8) == 0 && u[8] != '/') ||
	       (n > 7 && strncmp(u, "file:/", 6) == 0);
}

/* apt's "Enabled:" is a boolean in any of its spellings (StringToBool). */
static bool disabled(struct kiln_slice v)
{
	static const char *const no[] = { "no", "false", "without", "off", "disable", "0" };
	for (size_t i = 0; i < KILN_ARRAY_SIZE(no); i++)
		if (kiln_slice_eq_nocase(v, no[i]))
			return true;
	return false;
}

static char *trim_uri(const char *u, size_t n)
{
	while (n > 0 && u[n - 1] == '/')
		n--;
	return kiln_xstrndup(u, n);
}

/* One-line format: deb [options] URI SUITE [COMPONENT…] */
static char *search_list_file(const char *text, const char *suite)
{
	const char *line = text;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		_cleanup_free_ char *copy = kiln_xstrndup(line, ll);
		char *save = NULL, *tok, *hash = strchr(copy, '#');

		line = nl ? nl + 1 : line + ll;
		if (hash)
			*hash = '\0';
		tok = strtok_r(copy, " \t\r", &save);
		if (!tok || strcmp(tok, "deb") != 0)
			continue;
		tok = strtok_r(NULL, " \t\r", &save);
		if (tok && tok[0] == '[') {
			/* Options run to the closing ']' (possibly several tokens). */
			while (tok && !strchr(tok, ']'))
				tok = strtok_r(NULL, " \t\r", &save);
			tok = tok ? strtok_r(NULL, " \t\r", &save) : NULL;
		}
		if (!tok)
			continue;
		const char *uri = tok;
		const char *s = strtok_r(NULL, " \t\r", &save);
		if (s && strcmp(s, suite) == 0 && usable_uri(uri, strlen(uri)))
			return trim_uri(uri, strlen(uri));
	}
	return NULL;
}

static bool words_contain(struct kiln_slice list, const char *word)
{
	struct kiln_slice w;
	while (kiln_slice_next_word(&list, &w))
		if (kiln_slice_eq(w, word))
			return true;
	return false;
}

/* deb822 format: paragraphs with Types, URIs, Suites, Enabled. */
static char *search_sources_file(const char *path, const char *text, size_t len, const char *suite)
{
	struct kiln_deb822 scan;
	struct kiln_slice name, value, types = { 0 }, uris = { 0 }, suites = { 0 };
	unsigned line;
	bool eof, enabled = true;
	int rc;

	kiln_deb822_init(&scan, path, text, len);
	scan.allow_comments = true;
	for (;;) {
		rc = kiln_deb822_next(&scan, &name, &value, &line, &eof, NULL);
		if (rc < 0)
			return NULL;
		if (rc == 1) {
			if (kiln_slice_eq_nocase(name, "Types")) types = value;
			else if (kiln_slice_eq_nocase(name, "URIs")) uris = value;
			else if (kiln_slice_eq_nocase(name, "Suites")) suites = value;
			else if (kiln_slice_eq_nocase(name, "Enabled")) enabled = !disabled(value);
			continue;
		}
		if (enabled && types.ptr && words_contain(types, "deb") && suites.ptr &&
		    words_contain(suites, suite)) {
			struct kiln_slice w, rest = uris;
			while (kiln_slice_next_word(&rest, &w))
				if (usable_uri(w.ptr, w.len))
					return trim_uri(w.ptr, w.len);
		}
		types = uris = suites = (struct kiln_slice){ 0 };
		enabled = true;
		if (eof)
			return NULL;
	}
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *kiln_mirror_from_apt_sources(const char *etc_dir, const char *suite)
{
	_cleanup_free_ char *list = kiln_path_join(etc_dir, "sources.list");
	_cleanup_free_ char *dir = kiln_path_join(etc_dir, "sources.list.d");
	char *text, *found = NULL;
	size_t len;
	DIR *d;

	text = kiln_file_read(list, 1u << 20, &len, NULL);
	if (text) {
		found = search_list_file(text, suite);
		free(text);
		if (found)
			return found;
	}
	d = opendir(dir);
	if (!d)
		return NULL;
	/* apt reads the directory in alphabetical order; so does kiln. */
	char **names = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (kiln_str_has_suffix(de->d_name, ".list") || kiln_str_has_suffix(de->d_name, ".sources")) {
			kiln_xgrow(&names, &alloc, n + 1, sizeof(*names));
			names[n++] = kiln_xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (n) /* qsort's base must not be NULL, even for 0 items */
		qsort(names, n, sizeof(*names), compare_names);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = kiln_path_join(dir, names[i]);
		if (!found && (text = kiln_file_read(path, 1u << 20, &len, NULL))) {
			if (kiln_str_has_suffix(names[i], ".list"))
				found = search_list_file(text, suite);
			else
				found = search_sources_file(path, text, len, suite);
			free(text);
		}
		free(names[i]);
	}
	free(names);
	return found;
}

/* The value of "var=" among entries, or NULL. */
static const char *setting(const char *const *entries, const char *var)
{
	size_t len = strlen(var);

	for (size_t i = 0; entries && entries[i]; i++)
		if (strncmp(entries[i], var, len) == 0 && entries[i][len] == '=')
			return entries[i] + len + 1;
	return NULL;
}

char *kiln_mirror_for_source(const struct kiln_mirror_settings *set, const char *name,
			     const char *suite, const char *url, const char **how,
			     struct kiln_error *err)
{
	_cleanup_free_ char *var = kiln_xasprintf("KILN_MIRROR_%s", name);
	const char *v, *etc;
	char *found;

	if (url) {
		if (how) *how = "url: in the manifest";
		return trim_uri(url, strlen(url));
	}
	for (char *p = var + strlen("KILN_MIRROR_"); *p; p++)
		*p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	if (set && (v = setting(set->named, var)) && *v) {
		if (how) *how = "$KILN_MIRROR_<NAME>";
		return trim_uri(v, strlen(v));
	}
	if (set && (v = set->fallback) && *v) {
		if (how) *how = "$KILN_MIRROR";
		return trim_uri(v, strlen(v));
	}
	etc = set ? set->apt_etc : NULL;
	if (!etc || !*etc)
		etc = "/etc/apt";
	found = kiln_mirror_from_apt_sources(etc, suite);
	if (found) {
		if (how) *how = "apt's sources";
		return found;
	}
	kiln_error_set(err, "source %s: no mirror for suite \"%s\": give the source a url:, set %s or "
		       "KILN_MIRROR, or add the suite to apt's sources in %s", name, suite, var, etc);
	return NULL;
}
