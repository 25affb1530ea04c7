#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsse.h"
#include "fsutil.h"
#include "util.h"

bool kiln_record_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !strchr("._-", c)))
			return false;
	}
	return true;
}

static bool commit_valid(const char *s)
{
	size_t n = strlen(s);

	if (n != KILN_GIT_OID_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

char *kiln_record_path(const struct kiln_store *s, const char *commit, const char *name)
{
	return kiln_xasprintf("%s/commits/%s/%s.json", kiln_store_dir(s), commit, name);
}

/* The record's members except its signatures. */
static json_t *record_body(const struct kiln_record *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "schema", json_string(KILN_RECORD_SCHEMA));
	json_object_set_new(o, "name", json_string(r->name));
	json_object_set_new(o, "commit", json_string(r->commit));
	json_object_set_new(o, "manifest", json_string(r->manifest));
	json_object_set_new(o, "size", json_integer((json_int_t)r->size));
	json_object_set_new(o, "lock", json_string(r->lock));
	if (r->envelope[0])
		json_object_set_new(o, "envelope", json_string(r->envelope));
	if (r->referrer[0])
		json_object_set_new(o, "referrer", json_string(r->referrer));
	json_object_set_new(o, "kiln_version", json_string(r->kiln_version));
	json_object_set_new(o, "build_time", json_string(r->build_time));
	return o;
}

static char *dump(json_t *o)
{
	return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

char *kiln_record_format(struct kiln_record *r, const struct kiln_key *key, struct kiln_error *err)
{
	json_t *o = record_body(r);
	char *text;

	if (key) {
		struct kiln_buf pae = KILN_BUF_INIT;
		unsigned char sig[KILN_SIG_LEN];
		_cleanup_free_ char *body = dump(o);
		json_t *sigs, *one;
		char *b64;

		if (!r->envelope[0] || !r->referrer[0]) {
			json_decref(o);
			kiln_error_set(err, "record %s@%s: a signed record needs its envelope", r->name, r->commit);
			return NULL;
		}
		kiln_dsse_pae(KILN_RECORD_TYPE, body, strlen(body), &pae);
		if (kiln_sign(key, pae.data, pae.len, sig, err) < 0 || kiln_sign_keyid(key, r->keyid, err) < 0) {
			kiln_buf_release(&pae);
			json_decref(o);
			return NULL;
		}
		kiln_buf_release(&pae);
		b64 = kiln_dsse_base64_encode(sig, sizeof(sig));
		one = json_object();
		json_object_set_new(one, "keyid", json_string(r->keyid));
		json_object_set_new(one, "sig", json_string(b64));
		free(b64);
		sigs = json_array();
		json_array_append_new(sigs, one);
		json_object_set_new(o, "signatures", sigs);
	} else {
		r->keyid[0] = '\0';
	}
	text = dump(o);
	json_decref(o);
	if (!text) {
		kiln_error_set(err, "record %s@%s: cannot serialize", r->name, r->commit);
		return NULL;
	}
	{
		char *line = kiln_xasprintf("%s\n", text);
		free(text);
		return line;
	}
}

/* STORE/commits/<commit>, for messages. */
static char *commit_label(const struct kiln_store *s, const char *commit)
{
	return kiln_xasprintf("%s/commits/%s", kiln_store_dir(s), commit);
}

int kiln_record_write(struct kiln_store *s, struct kiln_record *r, const struct kiln_key *key,
		      struct kiln_error *err)
{
	_cleanup_free_ char *text = kiln_record_format(r, key, err);
	_cleanup_free_ char *commits_label = NULL, *label = NULL, *file = NULL;
	_cleanup_close_ int commits = -1, dir = -1;

	if (!text)
		return -1;
	if (!commit_valid(r->commit) || !kiln_record_name_valid(r->name))
		return kiln_error_set(err, "record %s@%s: not a commit id and snapshot name", r->name, r->commit);
	commits_label = kiln_path_join(kiln_store_dir(s), "commits");
	label = commit_label(s, r->commit);
	file = kiln_xasprintf("%s.json", r->name);
	/* Beneath the store's own descriptor, following no symlink: a
	 * commits/<commit> planted as a link cannot send the record
	 * elsewhere.  commits/<commit>/ may be new: fsync commits/ too, so the
	 * record survives a power loss once this returns. */
	if ((commits = kiln_store_open_dir(s, "commits", true, err)) < 0 ||
	    (dir = kiln_dir_open_beneath(commits, commits_label, r->commit, true, 0755, err)) < 0 ||
	    kiln_fsync_fd(commits, commits_label, err) < 0 ||
	    kiln_file_write_atomic_at(dir, label, file, text, strlen(text), 0644, err) < 0)
		return -1;
	return 0;
}

static int bad(struct kiln_error *err, const char *where, const char *what)
{
	kiln_error_set(err, "record %s: %s", where, what);
	return kiln_error_verification(err);
}

static const char *const record_keys[] = { "build_time", "commit", "envelope", "kiln_version", "lock",
					   "manifest", "name", "referrer", "schema", "signatures",
					   "size", NULL };

static int copy_digest(json_t *o, const char *key, bool required, char out[KILN_OCI_DIGEST_LEN + 1],
		       const char *where, struct kiln_error *err)
{
	json_t *v = json_object_get(o, key);

	out[0] = '\0';
	if (!v) {
		if (!required)
			return 0;
		kiln_error_set(err, "record %s: missing \"%s\"", where, key);
		return kiln_error_verification(err);
	}
	if (!json_is_string(v) || !kiln_oci_digest_valid(json_string_value(v))) {
		kiln_error_set(err, "record %s: \"%s\" is not a sha256 digest", where, key);
		return kiln_error_verification(err);
	}
	strcpy(out, json_string_value(v));
	return 0;
}

static const char *string_member(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int kiln_record_parse(const char *where, const char *data, size_t len, struct kiln_record *out,
		      struct kiln_error *err)
{
	json_error_t jerr;
	json_t *o, *sigs, *size;
	const char *key, *s;
	json_t *v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o || !json_is_object(o)) {
		kiln_error_set(err, "record %s: not a JSON object (line %d: %s)", where, jerr.line, jerr.text);
		json_decref(o);
		return kiln_error_verification(err);
	}
	json_object_foreach(o, key, v) {
		size_t i;
		for (i = 0; record_keys[i] && strcmp(record_keys[i], key) != 0; i++)
			;
		if (!record_keys[i]) {
			kiln_error_set(err, "record %s: unknown member \"%.64s\"", where, key);
			kiln_error_verification(err);
			goto out;
		}
	}
	if (!(s = string_member(o, "schema")) || strcmp(s, KILN_RECORD_SCHEMA) != 0) {
		bad(err, where, "\"schema\" is not " KILN_RECORD_SCHEMA);
		goto out;
	}
	if (!(s = string_member(o, "name")) || !kiln_record_name_valid(s)) {
		bad(err, where, "\"name\" is missing or not a valid snapshot name");
		goto out;
	}
	out->name = kiln_xstrdup(s);
	if (!(s = string_member(o, "commit")) || !commit_valid(s)) {
		bad(err, where, "\"commit\" is not a 40-digit commit id");
		goto out;
	}
	strcpy(out->commit, s);
	if (copy_digest(o, "manifest", true, out->manifest, where, err) < 0 ||
	    copy_digest(o, "lock", true, out->lock, where, err) < 0 ||
	    copy_digest(o, "envelope", false, out->envelope, where, err) < 0 ||
	    copy_digest(o, "referrer", false, out->referrer, where, err) < 0)
		goto out;
	size = json_object_get(o, "size");
	if (!json_is_integer(size) || json_integer_value(size) < 0) {
		bad(err, where, "\"size\" is not a byte count");
		goto out;
	}
	out->size = (uint64_t)json_integer_value(size);
	if (!(s = string_member(o, "kiln_version")) || strlen(s) > 64) {
		bad(err, where, "\"kiln_version\" is missing");
		goto out;
	}
	out->kiln_version = kiln_xstrdup(s);
	if (!(s = string_member(o, "build_time")) || strlen(s) > 64) {
		bad(err, where, "\"build_time\" is missing");
		goto out;
	}
	out->build_time = kiln_xstrdup(s);
	sigs = json_object_get(o, "signatures");
	if (sigs) {
		/* kiln signs a record once: a second signature could only be
		 * added by someone else, and would be a keyid shown as signer. */
		if (!json_is_array(sigs) || json_array_size(sigs) != 1) {
			bad(err, where, "\"signatures\" must hold exactly one signature");
			goto out;
		}
		if (!out->envelope[0] || !out->referrer[0]) {
			bad(err, where, "signed, but names no envelope or referrer");
			goto out;
		}
		out->sig_keyids = kiln_xcalloc(json_array_size(sigs), sizeof(char *));
		out->sigs = kiln_xcalloc(json_array_size(sigs), sizeof(char *));
		for (size_t i = 0; i < json_array_size(sigs); i++) {
			json_t *one = json_array_get(sigs, i);
			const char *id = string_member(one, "keyid"), *sig = string_member(one, "sig");
			if (!json_is_object(one) || json_object_size(one) != 2 || !id || !sig ||
			    strlen(id) > KILN_KEYID_LEN) {
				bad(err, where, "a signature needs exactly \"keyid\" and \"sig\"");
				goto out;
			}
			out->sig_keyids[i] = kiln_xstrdup(id);
			out->sigs[i] = kiln_xstrdup(sig);
			out->n_sigs = i + 1;
		}
		strcpy(out->keyid, out->sig_keyids[0]);
	} else if (out->envelope[0] || out->referrer[0]) {
		bad(err, where, "names an envelope but carries no signature");
		goto out;
	}
	/* Only the exact bytes kiln writes are accepted: JSON that parses the
	 * same but is spelled differently (spaces, escapes, key order) is
	 * still a changed file. */
	{
		_cleanup_free_ char *canon = dump(o);
		size_t n = canon ? strlen(canon) : 0;
		if (!canon || len != n + 1 || memcmp(canon, data, n) != 0 || data[n] != '\n') {
			bad(err, where, "not in kiln's canonical form (edited by hand?)");
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(o);
	if (rc < 0)
		kiln_record_release(out);
	return rc;
}

/* The record name.json in dir, the open commits/<commit>/ (label). */
static int read_at(int dir, const char *label, const char *commit, const char *name,
		   struct kiln_record *out, bool *found, struct kiln_error *err)
{
	_cleanup_free_ char *file = kiln_xasprintf("%s.json", name);
	_cleanup_free_ char *path = kiln_path_join(label, file);
	_cleanup_free_ char *data = NULL;
	size_t len;

	memset(out, 0, sizeof(*out));
	*found = false;
	if (!kiln_record_name_valid(name) || !commit_valid(commit))
		return 0;
	/* kiln_file_read sets errno only when a call fails: a file too large or
	 * a directory must not pass for a missing record because of a stale
	 * ENOENT. */
	errno = 0;
	data = kiln_file_read_at(dir, label, file, KILN_RECORD_MAX, &len, err);
	if (!data) {
		if (errno == ENOENT) {
			kiln_error_clear(err);
			return 0;
		}
		return -1;
	}
	if (kiln_record_parse(path, data, len, out, err) < 0)
		return -1;
	if (strcmp(out->commit, commit) != 0 || strcmp(out->name, name) != 0) {
		kiln_record_release(out);
		return bad(err, path, "its commit or name does not match its place in the store");
	}
	*found = true;
	return 0;
}

int kiln_record_read(const struct kiln_store *s, const char *commit, const char *name,
		     struct kiln_record *out, bool *found, struct kiln_error *err)
{
	_cleanup_free_ char *rel = NULL, *label = NULL;
	_cleanup_close_ int dir = -1;

	memset(out, 0, sizeof(*out));
	*found = false;
	if (!kiln_record_name_valid(name) || !commit_valid(commit))
		return 0;
	rel = kiln_xasprintf("commits/%s", commit);
	dir = kiln_store_open_dir(s, rel, false, err);
	if (dir < 0) {
		if (errno == ENOENT) {
			kiln_error_clear(err);
			return 0;
		}
		return -1;
	}
	label = commit_label(s, commit);
	return read_at(dir, label, commit, name, out, found, err);
}

enum kiln_record_trust kiln_record_judge(const struct kiln_record *r, const struct kiln_sign_keyring *ring,
				       const struct kiln_key **signer, struct kiln_error *err)
{
	_cleanup_free_ char *body = NULL;
	struct kiln_buf pae = KILN_BUF_INIT;
	bool names_trusted = false;
	json_t *o;

	if (signer)
		*signer = NULL;
	if (r->n_sigs == 0) {
		kiln_error_set(err, "snapshot %s@%.12s is not signed (built with --no-sign)", r->name, r->commit);
		kiln_error_verification(err);
		return KILN_RECORD_UNSIGNED;
	}
	o = record_body(r);
	body = dump(o);
	json_decref(o);
	kiln_dsse_pae(KILN_RECORD_TYPE, body, strlen(body), &pae);
	for (size_t i = 0; ring && i < r->n_sigs; i++) {
		size_t siglen;
		_cleanup_free_ unsigned char *sig = kiln_dsse_base64_decode(r->sigs[i], strlen(r->sigs[i]), &siglen);
		for (size_t k = 0; k < ring->n; k++) {
			char id[KILN_KEYID_LEN + 1];
			/* The keyid is outside the signed body: only a keyid that
			 * names the key that verified keeps it from being changed
			 * (the note line shows it as the signer). */
			if (kiln_sign_keyid(ring->keys[k], id, KILN_ERROR_IGNORE) < 0 || strcmp(id, r->sig_keyids[i]) != 0)
				continue;
			names_trusted = true;
			if (sig && kiln_sign_verify(ring->keys[k], pae.data, pae.len, sig, siglen,
						    KILN_ERROR_IGNORE) == 0) {
				if (signer)
					*signer = ring->keys[k];
				kiln_buf_release(&pae);
				return KILN_RECORD_SIGNED;
			}
		}
	}
	kiln_buf_release(&pae);
	kiln_error_set(err, "record of %s@%.12s: no signature verifies under a trusted key (signed by %s%s)",
		       r->name, r->commit, r->keyid[0] ? r->keyid : "an unknown key",
		       names_trusted ? ", a trusted key: the record was changed after it was signed"
				     : ", which is not a trusted key");
	kiln_error_verification(err);
	/* The keyid is only a hint: a signature that fails under the trusted
	 * key it names is bad; one naming a key we do not trust is merely
	 * untrusted (perhaps another builder's). */
	return names_trusted ? KILN_RECORD_BAD_SIGNATURE : KILN_RECORD_UNTRUSTED;
}

int kiln_record_verify(const struct kiln_record *r, const struct kiln_sign_keyring *ring,
		       const struct kiln_key **signer, struct kiln_error *err)
{
	return kiln_record_judge(r, ring, signer, err) == KILN_RECORD_SIGNED ? 0 : -1;
}

static int compare_records(const void *a, const void *b)
{
	const struct kiln_record *x = a, *y = b;
	int c = strcmp(x->commit, y->commit);
	return c ? c : strcmp(x->name, y->name);
}


/* Records under commits/<commit>/ (open as commits_fd's entry commit,
 * never through a symlink), appended to *out. */
static int list_dir(const struct kiln_store *s, int commits_fd, const char *commit, struct kiln_record **out,
		    size_t *n, size_t *alloc, struct kiln_error *err)
{
	_cleanup_free_ char *dir = commit_label(s, commit);
	_cleanup_free_ char *commits_label = kiln_path_join(kiln_store_dir(s), "commits");
	_cleanup_close_ int fd = kiln_dir_open_beneath(commits_fd, commits_label, commit, false, 0, err);
	struct dirent *de;
	int rc = 0;
	DIR *d;

	if (fd < 0)
		return errno == ENOENT ? (kiln_error_clear(err), 0) : -1;
	d = kiln_dir_stream(fd);
	if (!d)
		return kiln_error_errno(err, errno, "open '%s'", dir);
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		size_t len = strlen(de->d_name);
		_cleanup_free_ char *name = NULL;
		bool found;
		if (de->d_name[0] == '.' || !kiln_str_has_suffix(de->d_name, ".json"))
			continue;
		name = kiln_xstrndup(de->d_name, len - 5);
		if (!kiln_record_name_valid(name)) {
			rc = kiln_error_set(err, "'%s/%s': not a record name", dir, de->d_name);
			break;
		}
		kiln_xgrow(out, alloc, *n + 1, sizeof(**out));
		if (read_at(fd, dir, commit, name, &(*out)[*n], &found, err) < 0) {
			rc = -1;
			break;
		}
		if (found)
			(*n)++;
	}
	/* A read error must not look like the end: gc would miss records. */
	if (rc == 0 && errno)
		rc = kiln_error_errno(err, errno, "read '%s'", dir);
	closedir(d);
	return rc;
}

/* commits/ beneath the store: -1 with err set, or -2 when there is none. */
static int open_commits(const struct kiln_store *s, struct kiln_error *err)
{
	int fd = kiln_store_open_dir(s, "commits", false, err);

	if (fd < 0 && errno == ENOENT) {
		kiln_error_clear(err);
		return -2;
	}
	return fd;
}

int kiln_record_list_commit(const struct kiln_store *s, const char *commit,
			    struct kiln_record **out, size_t *n, struct kiln_error *err)
{
	_cleanup_close_ int commits = -1;
	size_t alloc = 0;

	*out = NULL;
	*n = 0;
	if (!commit_valid(commit))
		return kiln_error_set(err, "'%s' is not a commit id", commit);
	commits = open_commits(s, err);
	if (commits == -2)
		return 0;
	if (commits < 0 || list_dir(s, commits, commit, out, n, &alloc, err) < 0) {
		kiln_record_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	/* qsort(NULL, 0, …) is undefined (glibc declares it nonnull). */
	if (*n)
		qsort(*out, *n, sizeof(**out), compare_records);
	return 0;
}

int kiln_record_list(const struct kiln_store *s, struct kiln_record **out, size_t *n,
		     struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_path_join(kiln_store_dir(s), "commits");
	_cleanup_close_ int commits = -1;
	size_t alloc = 0;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	*out = NULL;
	*n = 0;
	commits = open_commits(s, err);
	if (commits == -2)
		return 0;
	if (commits < 0)
		return -1;
	d = kiln_dir_stream(commits);
	if (!d)
		return kiln_error_errno(err, errno, "open '%s'", dir);
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!commit_valid(de->d_name)) {
			rc = kiln_error_set(err, "'%s/%s': not a commit id", dir, de->d_name);
			break;
		}
		rc = list_dir(s, commits, de->d_name, out, n, &alloc, err);
	}
	if (rc == 0 && errno)
		rc = kiln_error_errno(err, errno, "read '%s'", dir);
	closedir(d);
	if (rc < 0) {
		kiln_record_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), compare_records);
	return 0;
}

void kiln_record_release(struct kiln_record *r)
{
	free(r->name);
	free(r->kiln_version);
	free(r->build_time);
	for (size_t i = 0; i < r->n_sigs; i++) {
		free(r->sig_keyids[i]);
		free(r->sigs[i]);
	}
	free(r->sig_keyids);
	free(r->sigs);
	memset(r, 0, sizeof(*r));
}

void kiln_record_list_free(struct kiln_record *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kiln_record_release(&list[i]);
	free(list);
}

char *kiln_record_note_line(const struct kiln_record *r)
{
	if (!r->n_sigs && !r->envelope[0])
		return kiln_xasprintf("%s %s unsigned", r->name, r->manifest);
	return kiln_xasprintf("%s %s signed-by %s envelope %s", r->name, r->manifest, r->keyid, r->envelope);
}

static int compare_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The note's text with r's line in place of its name's old one. */
static char *note_merge(const char *old, const struct kiln_record *r)
{
	_cleanup_free_ char *copy = old ? kiln_xstrdup(old) : NULL;
	_cleanup_free_ char *mine = kiln_record_note_line(r);
	char **lines = NULL;
	size_t n = 0, alloc = 0, name_len = strlen(r->name);
	struct kiln_buf text = KILN_BUF_INIT;
	char *save = NULL;

	for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		if (!*line || (strncmp(line, r->name, name_len) == 0 && line[name_len] == ' '))
			continue;
		kiln_xgrow(&lines, &alloc, n + 1, sizeof(*lines));
		lines[n++] = line;
	}
	kiln_xgrow(&lines, &alloc, n + 1, sizeof(*lines));
	lines[n++] = mine;
	qsort(lines, n, sizeof(*lines), compare_lines);
	for (size_t i = 0; i < n; i++)
		kiln_buf_printf(&text, "%s\n", lines[i]);
	free(lines);
	return kiln_buf_detach(&text);
}

int kiln_record_note_add(struct kiln_git *g, const struct kiln_record *r, struct kiln_error *err)
{
	int rc = -2;

	/* Two builds may note at once (a hook and a hand-run build): a lost
	 * race re-reads and re-merges, so no snapshot's line is dropped. */
	for (int attempt = 0; attempt < 8 && rc == -2; attempt++) {
		struct kiln_error read_err = { 0 };
		bool found;
		_cleanup_free_ char *old = kiln_git_note_read(g, KILN_NOTES_REF, r->commit, &found, &read_err);
		_cleanup_free_ char *text = NULL;
		if (!old && kiln_error_isset(&read_err)) {
			*err = read_err;
			return -1;
		}
		text = note_merge(old, r);
		rc = kiln_git_note_write(g, KILN_NOTES_REF, r->commit, text, err);
		/* A git command holds the ref for milliseconds: give it time
		 * (10 ms, doubling: 1.3 s in all). */
		if (rc == -2 && attempt < 7)
			nanosleep(&(struct timespec){ 0, 10000000L << attempt }, NULL);
	}
	return rc < 0 ? -1 : 0;
}

int kiln_record_scan(const struct kiln_store *s, struct kiln_record **out, size_t *n, size_t *skipped,
		     struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_path_join(kiln_store_dir(s), "commits");
	_cleanup_close_ int commits = -1;
	size_t alloc = 0;
	DIR *d, *c;
	struct dirent *de, *fe;

	*out = NULL;
	*n = 0;
	*skipped = 0;
	commits = open_commits(s, err);
	if (commits == -2)
		return 0;
	if (commits < 0)
		return -1;
	d = kiln_dir_stream(commits);
	if (!d)
		return kiln_error_errno(err, errno, "open '%s'", dir);
	while ((de = readdir(d))) {
		_cleanup_free_ char *sub = NULL;
		_cleanup_close_ int sub_fd = -1;
		if (de->d_name[0] == '.')
			continue;
		if (!commit_valid(de->d_name)) {
			(*skipped)++;
			continue;
		}
		sub = kiln_path_join(dir, de->d_name);
		/* A commit directory that is a symlink is skipped, never followed. */
		sub_fd = openat(commits, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		c = sub_fd >= 0 ? kiln_dir_stream(sub_fd) : NULL;
		if (!c) {
			(*skipped)++;
			continue;
		}
		while ((fe = readdir(c))) {
			_cleanup_free_ char *name = NULL;
			bool found = false;
			size_t len = strlen(fe->d_name);
			if (fe->d_name[0] == '.' || !kiln_str_has_suffix(fe->d_name, ".json"))
				continue;
			name = kiln_xstrndup(fe->d_name, len - 5);
			kiln_xgrow(out, &alloc, *n + 1, sizeof(**out));
			if (read_at(sub_fd, sub, de->d_name, name, &(*out)[*n], &found, KILN_ERROR_IGNORE) < 0 || !found)
				(*skipped)++;
			else
				(*n)++;
		}
		closedir(c);
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), compare_records);
	return 0;
}
