/* export.h - one snapshot out of the store as a single archive file.
 *
 *   oci-archive:    a tar of an OCI image layout holding just this image
 *                   (what `skopeo copy oci-archive:` and `podman load` read)
 *   docker-archive: the `docker save` format (manifest.json, the config and
 *                   each layer as an uncompressed tar), for `docker load` and
 *                   `podman load`
 * Both are written to a temporary file and renamed into place, with fixed
 * entry metadata, so exporting the same snapshot twice gives the same bytes.
 */
#ifndef KILN_EXPORT_H
#define KILN_EXPORT_H

#include "error.h"
#include "store.h"

enum kiln_export_format { KILN_EXPORT_OCI_ARCHIVE, KILN_EXPORT_DOCKER_ARCHIVE };

/* ref: the name to give the image inside the archive ("hello-web:abc123"
 * for docker-archive's RepoTags, the ref.name annotation for oci-archive). */
int kiln_export(const struct kiln_store *store, const char *manifest_digest, const char *ref,
		enum kiln_export_format format, const char *out_path, struct kiln_error *err);

#endif
