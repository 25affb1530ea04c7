#include "snapref.h"

#include <stdint.h>
#include <string.h>

#include "oci.h"
#include "record.h"
#include "util.h"

int kiln_snapref_resolve(struct kiln_git *git, const struct kiln_store *store, const char *text,
			 const char *default_name, struct kiln_snapref *out, struct kiln_error *err)
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
	/* The record says which snapshot the commit got; index.json (which a
	 * build updates last) is what OCI tools read, and the fallback for
	 * stores written before records existed. */
	{
		struct kiln_record r;
		bool found;
		if (kiln_record_read(store, out->commit, out->name, &r, &found, err) < 0)
			return -1;
		if (found) {
			out->manifest_digest = kiln_xstrdup(r.manifest);
			kiln_record_release(&r);
			return 0;
		}
	}
	ref = kiln_xasprintf("%s@%s", out->name, out->commit);
	kiln_error_clear(err);
	out->manifest_digest = kiln_store_lookup(store, ref, err);
	if (!out->manifest_digest) {
		if (err && err->message[0])
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
