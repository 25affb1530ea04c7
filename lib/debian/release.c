#include "release.h"

#include <string.h>

#include "deb822.h"
#include "util.h"

/* Release files of real archives are ~100 KiB; bound what one holds. */
#define RELEASE_MAX_FILES 100000

static void split_words(struct kiln_slice value, char ***out, size_t *n)
{
	struct kiln_slice word;
	size_t alloc = 0;

	while (kiln_slice_next_word(&value, &word)) {
		kiln_xgrow(out, &alloc, *n + 1, sizeof(**out));
		(*out)[(*n)++] = kiln_slice_dup(word);
	}
}

static bool path_is_safe(struct kiln_slice p)
{
	if (p.len == 0 || p.len > 1024 || p.ptr[0] == '/')
		return false;
	for (size_t i = 0; i < p.len; i++) {
		unsigned char c = (unsigned char)p.ptr[i];
		/* Paths end up in URLs: nothing that would change their meaning. */
		if (c <= ' ' || c >= 127 || c == '\\' || c == '?' || c == '#' || c == '%')
			return false;
		/* no ".." component */
		if (c == '.' && i + 1 < p.len && p.ptr[i + 1] == '.' &&
		    (i == 0 || p.ptr[i - 1] == '/') && (i + 2 == p.len || p.ptr[i + 2] == '/'))
			return false;
	}
	return true;
}

static int parse_sha256_list(struct kiln_release *r, const char *origin, unsigned line,
			     struct kiln_slice value, struct kiln_error *err)
{
	size_t alloc = 0;
	const char *p = value.ptr, *end = value.ptr + value.len;

	/* The field's value holds one entry per line (continuation lines are
	 * never blank), so the entry's line is the field's plus its index. */
	for (line--; p < end; ) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct kiln_slice rest = { p, (size_t)((nl ? nl : end) - p) };
		struct kiln_slice hash, size, path, extra;
		unsigned long long sz;
		struct kiln_release_file *f;

		p = nl ? nl + 1 : end;
		line++;
		if (!kiln_slice_next_word(&rest, &hash))
			continue; /* the (empty) first line of the field */
		if (!kiln_slice_next_word(&rest, &size) || !kiln_slice_next_word(&rest, &path) ||
		    kiln_slice_next_word(&rest, &extra))
			return kiln_error_set(err, "%s:%u: SHA256 entry: expected \"HASH SIZE PATH\"",
					      origin, line);
		if (!kiln_sha256_hex_valid(hash.ptr, hash.len))
			return kiln_error_set(err, "%s:%u: SHA256 entry: \"%.*s\" is not a sha256",
					      origin, line, (int)(hash.len > 80 ? 80 : hash.len), hash.ptr);
		if (!kiln_slice_to_u64(size, &sz))
			return kiln_error_set(err, "%s:%u: SHA256 entry: bad size", origin, line);
		if (!path_is_safe(path))
			return kiln_error_set(err, "%s:%u: SHA256 entry: unsafe path \"%.*s\"", origin,
					      line, (int)(path.len > 80 ? 80 : path.len), path.ptr);
		if (r->n_files >= RELEASE_MAX_FILES)
			return kiln_error_set(err, "%s: more than %d files listed", origin, RELEASE_MAX_FILES);
		kiln_xgrow(&r->files, &alloc, r->n_files + 1, sizeof(*r->files));
		f = &r->files[r->n_files++];
		f->path = kiln_slice_dup(path);
		f->size = sz;
		memcpy(f->sha256, hash.ptr, KILN_SHA256_HEX_LEN);
		f->sha256[KILN_SHA256_HEX_LEN] = '\0';
	}
	return 0;
}

time_t kiln_release_parse_date(const char *s, size_t len)
{
	char buf[128];
	struct tm tm;
	const char *rest;

	/* A NUL would end the copy early and hide what follows it. */
	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return (time_t)-1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	rest = strptime(buf, "%a, %d %b %Y %H:%M:%S", &tm);
	if (!rest)
		return (time_t)-1;
	while (*rest == ' ')
		rest++;
	if (*rest && strcmp(rest, "UTC") != 0 && strcmp(rest, "GMT") != 0 && strcmp(rest, "Z") != 0 &&
	    strcmp(rest, "+0000") != 0)
		return (time_t)-1;
	return timegm(&tm);
}

struct kiln_release *kiln_release_parse(const char *origin, const char *data, size_t len,
					struct kiln_error *err)
{
	struct kiln_release *r = kiln_xcalloc(1, sizeof(*r));
	struct kiln_deb822 scan;
	struct kiln_slice name, value;
	unsigned line;
	bool eof, seen_sha256 = false;
	/* Fields read below; one given twice is refused, not overwritten. */
	static const char *const known[] = { "Suite", "Codename", "Date", "Valid-Until",
					     "Acquire-By-Hash", "No-Support-for-Architecture-all",
					     "Architectures", "Components" };
	bool seen[KILN_ARRAY_SIZE(known)] = { false };
	int rc;

	kiln_deb822_init(&scan, origin, data, len);
	while ((rc = kiln_deb822_next(&scan, &name, &value, &line, &eof, err)) == 1) {
		for (size_t k = 0; k < KILN_ARRAY_SIZE(known); k++)
			if (kiln_slice_eq_nocase(name, known[k])) {
				if (seen[k]) {
					kiln_error_set(err, "%s:%u: %s field given twice", origin, line,
						       known[k]);
					goto fail;
				}
				seen[k] = true;
			}
		if (kiln_slice_eq_nocase(name, "Suite")) {
			free(r->suite);
			r->suite = kiln_slice_dup(value);
		} else if (kiln_slice_eq_nocase(name, "Codename")) {
			free(r->codename);
			r->codename = kiln_slice_dup(value);
		} else if (kiln_slice_eq_nocase(name, "Date")) {
			r->date = kiln_release_parse_date(value.ptr, value.len);
			if (r->date == (time_t)-1) {
				kiln_error_set(err, "%s:%u: Date is not an RFC 2822 date", origin, line);
				goto fail;
			}
		} else if (kiln_slice_eq_nocase(name, "Valid-Until")) {
			r->valid_until = kiln_release_parse_date(value.ptr, value.len);
			if (r->valid_until == (time_t)-1) {
				kiln_error_set(err, "%s:%u: Valid-Until is not an RFC 2822 date", origin, line);
				goto fail;
			}
		} else if (kiln_slice_eq_nocase(name, "Acquire-By-Hash")) {
			r->acquire_by_hash = kiln_slice_eq_nocase(value, "yes");
		} else if (kiln_slice_eq_nocase(name, "No-Support-for-Architecture-all")) {
			r->arch_all_in_arch_indexes = kiln_slice_eq(value, "Packages");
		} else if (kiln_slice_eq_nocase(name, "Architectures")) {
			split_words(value, &r->architectures, &r->n_architectures);
		} else if (kiln_slice_eq_nocase(name, "Components")) {
			split_words(value, &r->components, &r->n_components);
		} else if (kiln_slice_eq_nocase(name, "SHA256")) {
			if (seen_sha256) {
				kiln_error_set(err, "%s:%u: SHA256 field given twice", origin, line);
				goto fail;
			}
			seen_sha256 = true;
			if (parse_sha256_list(r, origin, line, value, err) < 0)
				goto fail;
		}
	}
	if (rc < 0)
		goto fail;
	/* A second paragraph would be text kiln does not understand. */
	if (!eof) {
		struct kiln_slice n2, v2;
		unsigned l2;
		bool eof2;
		if (kiln_deb822_next(&scan, &n2, &v2, &l2, &eof2, err) != 0 || !eof2) {
			kiln_error_set(err, "%s: more than one paragraph", origin);
			goto fail;
		}
	}
	if (!seen_sha256) {
		kiln_error_set(err, "%s: no SHA256 field (kiln does not trust MD5 or SHA1 alone)", origin);
		goto fail;
	}
	return r;
fail:
	kiln_release_free(r);
	return NULL;
}

void kiln_release_free(struct kiln_release *r)
{
	if (!r)
		return;
	free(r->suite);
	free(r->codename);
	for (size_t i = 0; i < r->n_architectures; i++)
		free(r->architectures[i]);
	free(r->architectures);
	for (size_t i = 0; i < r->n_components; i++)
		free(r->components[i]);
	free(r->components);
	for (size_t i = 0; i < r->n_files; i++)
		free(r->files[i].path);
	free(r->files);
	free(r);
}

const struct kiln_release_file *kiln_release_find(const struct kiln_release *r, const char *path)
{
	for (size_t i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].path, path) == 0)
			return &r->files[i];
	return NULL;
}

bool kiln_release_has_architecture(const struct kiln_release *r, const char *arch)
{
	for (size_t i = 0; i < r->n_architectures; i++)
		if (strcmp(r->architectures[i], arch) == 0)
			return true;
	return false;
}
