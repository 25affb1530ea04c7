/* oci.h - OCI image format: config, manifest and index JSON.
 *
 * Pure format code (OCI image-spec v1.1).  Serialization is deterministic:
 * keys sorted, compact, arrays in the order given, so the same inputs give
 * the same bytes and so the same digests.
 */
#ifndef KILN_OCI_H
#define KILN_OCI_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define KILN_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define KILN_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define KILN_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define KILN_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define KILN_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define KILN_OCI_DIGEST_LEN 71 /* "sha256:" + 64 */

struct kiln_oci_descriptor {
	const char *media_type;
	char digest[KILN_OCI_DIGEST_LEN + 1];
	uint64_t size;
};

struct kiln_oci_history {
	const char *created_by;
	const char *comment;
	bool empty_layer;
};

struct kiln_oci_config {
	const char *architecture, *variant, *os;
	const char *created;                 /* RFC 3339, UTC */
	const char *user, *workdir, *stop_signal;
	char **env; size_t n_env;            /* "K=V" */
	char **entrypoint; size_t n_entrypoint; bool has_entrypoint;
	char **cmd; size_t n_cmd; bool has_cmd;
	char **exposed_ports; size_t n_exposed_ports; /* "8080/tcp" */
	char **volumes; size_t n_volumes;
	char **label_keys, **label_values; size_t n_labels;
	char **diff_ids; size_t n_diff_ids;  /* "sha256:…" of uncompressed layers */
	struct kiln_oci_history *history; size_t n_history;
};

/* The image config JSON (malloc'd). */
char *kiln_oci_config_json(const struct kiln_oci_config *c);

/* The image manifest JSON (malloc'd); annotations are key/value pairs. */
char *kiln_oci_manifest_json(const struct kiln_oci_descriptor *config,
			     const struct kiln_oci_descriptor *layers, size_t n_layers,
			     char *const *annotation_keys, char *const *annotation_values,
			     size_t n_annotations);

/* The empty descriptor's blob ("{}") of OCI 1.1 artifacts. */
#define KILN_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define KILN_OCI_EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define KILN_OCI_DSSE "application/vnd.dsse.envelope.v1+json"

/* An OCI 1.1 artifact manifest that refers to subject (a signature of an
 * image): artifactType, the empty config, one layer blob (malloc'd). */
char *kiln_oci_referrer_json(const char *artifact_type, const struct kiln_oci_descriptor *blob,
			     const struct kiln_oci_descriptor *subject);

/* Debian architecture → OCI architecture and variant (variant may be NULL). */
int kiln_oci_platform(const char *debian_arch, const char **arch, const char **variant,
		      struct kiln_error *err);

/* "YYYY-MM-DDTHH:MM:SSZ" for t into buf (at least 21 bytes). */
void kiln_oci_time(int64_t t, char buf[32]);

/* A manifest read back: its config and layers (digests checked for form). */
struct kiln_oci_manifest {
	struct kiln_oci_descriptor config;
	struct kiln_oci_descriptor *layers; size_t n_layers;
	char *media_types;       /* storage for the descriptors' media_type strings */
};
int kiln_oci_manifest_parse(const char *json, size_t len, struct kiln_oci_manifest *out,
			    struct kiln_error *err);
void kiln_oci_manifest_release(struct kiln_oci_manifest *m);

/* Is s "sha256:" followed by 64 lowercase hex digits? */
bool kiln_oci_digest_valid(const char *s);

#endif
