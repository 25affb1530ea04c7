#include "snapref.h"

#include <stdint.h>
#include <string.h>

#include "fsutil.h"
#include "oci.h"
#include "record.h"
#include "sign.h"
#include "util.h"

/* What every refusal ends with: how to go on anyway. */
#define WAY_OUT "--insecure or KILN_INSECURE=1 uses it unchecked"

/* The record of NAME@COMMIT must pass kiln_record_judge under the work
 * tree's trusted keys, as `kiln verify` would; fills err (exit 3) when not. */
static int check_record(struct kiln_git *git, const struct kiln_record *r, struct kiln_error *err)
{
	struct kiln_sign_keyring ring = KILN_KEYRING_INIT;
	const char *workdir = kiln_git_workdir(git);
	_cleanup_free_ char *dir = kiln_path_join(workdir, ".kiln/trusted");
	_cleanup_free_ char *why = NULL;
	char **paths = NULL;
	size_t n_paths = 0;
	enum kiln_record_trust trust;

	/* No key at all is an answer here (untrusted), not an error. */
	if (r->n_sigs && kiln_sign_trusted_paths(workdir, &paths, &n_paths, err) < 0)
		return -1;
	if (n_paths && kiln_sign_load_trusted((const char *const *)paths, n_paths, workdir, &ring, err) < 0) {
		kiln_sign_trusted_paths_free(paths, n_paths);
		return kiln_error_prefix(err, "trusted keys");
	}
	kiln_sign_trusted_paths_free(paths, n_paths);
	trust = kiln_record_judge(r, &ring, NULL, err);
	kiln_sign_keyring_release(&ring);
	if (trust == KILN_RECORD_SIGNED)
		return 0;
	why = kiln_xstrdup(err->message);
	if (trust == KILN_RECORD_UNTRUSTED && n_paths == 0)
		kiln_error_set(err, "snapshot %s@%.12s: no trusted public key in '%s' to check its record's "
			       "signature with; refusing to use it (put the signer's .pub there, or %s)",
			       r->name, r->commit, dir, WAY_OUT);
	else if (trust == KILN_RECORD_UNTRUSTED)
		kiln_error_set(err, "%s; refusing to use it (put the signer's .pub in '%s' if you trust it, "
			       "or %s)", why, dir, WAY_OUT);
	else if (trust == KILN_RECORD_BAD_SIGNATURE)
		kiln_error_set(err, "%s; refusing to use it (kiln verify %s@%.12s checks it; %s)", why,
			       r->name, r->commit, WAY_OUT);
	else
		kiln_error_set(err, "%s, so nothing says it is what was built; refusing to use it (%s)", why,
			       WAY_OUT);
	return kiln_error_verification(err);
}

int kiln_snapref_resolve(struct kiln_git *git, const struct kiln_store *store, const char *text,
			 const char *default_name, unsigned flags, struct kiln_snapref *out,
			 struct kiln_error *err)
{
	const char *at = strchr(text, '@');
	_cleanup_free_ char *ref = NULL;
	int64_t when;

	memset(out, 0, sizeof(*out));
	if (kiln_str_has_prefix(text, "sha256:")) {
		if (!kiln_oci_digest_valid(text))
			return kiln_error_set(err, "\"%s\" is not sha256: and 64 hex digits", text);
		if (!kiln_store_has_blob(store, text))
			return kiln_error_set(err, "no blob %s in the store %s", text, kiln_store_dir(store));
		out->manifest_digest = kiln_xstrdup(text);
		return 0;
	}
	out->name = at ? kiln_xstrndup(text, (size_t)(at - text)) : kiln_xstrdup(text);
	if (!*out->name) {
		free(out->name);
		out->name = default_name ? kiln_xstrdup(default_name) : NULL;
		if (!out->name)
			return kiln_error_set(err, "\"%s\": no snapshot name before '@' and no manifest to take it from", text);
	}
	if (!git)
		return kiln_error_set(err, "\"%s\": naming a snapshot by revision needs a git repository", text);
	if (kiln_git_resolve(git, at ? at + 1 : "HEAD", out->commit, &when, err) < 0)
		return -1;
	/* The record says which snapshot the commit got, and its signature
	 * says who says so; index.json (which a build updates last) is what
	 * OCI tools read, and what an unchecked (insecure) lookup falls back
	 * to for stores written before records existed. */
	{
		struct kiln_record r;
		bool found;
		int rc = 0;
		if (kiln_record_read(store, out->commit, out->name, &r, &found, err) < 0) {
			if (kiln_error_is(err, KILN_CAUSE_VERIFY))
				kiln_error_prefix(err, "refusing to use snapshot %s@%.12s", out->name, out->commit);
			return -1;
		}
		if (found) {
			if (!(flags & KILN_SNAPREF_INSECURE))
				rc = check_record(git, &r, err);
			if (rc == 0)
				out->manifest_digest = kiln_xstrdup(r.manifest);
			kiln_record_release(&r);
			return rc;
		}
	}
	ref = kiln_xasprintf("%s@%s", out->name, out->commit);
	kiln_error_clear(err);
	out->manifest_digest = kiln_store_lookup(store, ref, err);
	if (out->manifest_digest && !(flags & KILN_SNAPREF_INSECURE)) {
		kiln_error_set(err, "snapshot %s@%.12s is in %s/index.json but has no record (commits/%s/%s.json), "
			       "so no signature says what it is; refusing to use it (build it again to record "
			       "it, or %s)", out->name, out->commit, kiln_store_dir(store), out->commit, out->name,
			       WAY_OUT);
		free(out->manifest_digest);
		out->manifest_digest = NULL;
		return kiln_error_verification(err);
	}
	if (!out->manifest_digest) {
		if (kiln_error_isset(err))
			return -1;
		return kiln_error_set(err, "no snapshot %s@%.12s in %s (build it: kiln build --rev %s)",
				      out->name, out->commit, kiln_store_dir(store), at ? at + 1 : "HEAD");
	}
	return 0;
}

void kiln_snapref_release(struct kiln_snapref *ref)
{
	free(ref->name);
	free(ref->manifest_digest);
	memset(ref, 0, sizeof(*ref));
}
