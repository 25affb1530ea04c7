#!/usr/bin/python3
"""Validate an OCI image layout's JSON against the OCI image-spec schemas
that Debian ships (golang-github-opencontainers-image-spec-dev), as an
independent judge of what kiln writes.

    oci-validate.py LAYOUT_DIR

Checks oci-layout, index.json, and every manifest index.json points at with
its config; prints one line per document and exits non-zero on any error."""
import json, os, sys
import jsonschema

SCHEMAS = "/usr/share/gocode/src/github.com/opencontainers/image-spec/schema"

def load_schema(name):
    with open(os.path.join(SCHEMAS, name)) as f:
        return json.load(f)

def resolver_for(schema):
    # The schemas' $refs are relative to their https ids; serve them from disk.
    def fetch(uri):
        return load_schema(os.path.basename(uri.split("#")[0]))
    return jsonschema.RefResolver.from_schema(schema, handlers={"https": fetch, "http": fetch})

def check(doc, schema_name, what):
    schema = load_schema(schema_name)
    validator = jsonschema.Draft4Validator(schema, resolver=resolver_for(schema))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print("not valid: %s: %s at %s" % (what, e.message, list(e.path)))
    if not errors:
        print("valid: %s (%s)" % (what, schema_name))
    return not errors

def blob(layout, digest):
    algo, hexd = digest.split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
        return json.loads(f.read())

def main(layout):
    ok = True
    with open(os.path.join(layout, "oci-layout")) as f:
        ok &= check(json.load(f), "image-layout-schema.json", "oci-layout")
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    ok &= check(index, "image-index-schema.json", "index.json")
    for m in index.get("manifests", []):
        manifest = blob(layout, m["digest"])
        ok &= check(manifest, "image-manifest-schema.json", "manifest " + m["digest"][:19])
        config = manifest["config"]
        if config["mediaType"] == "application/vnd.oci.image.config.v1+json":
            ok &= check(blob(layout, config["digest"]), "config-schema.json",
                        "config " + config["digest"][:19])
        elif config["mediaType"] == "application/vnd.oci.empty.v1+json":
            # An OCI 1.1 artifact (kiln's signature referrer): the empty
            # descriptor must be exactly "{}" and name a subject.
            good = blob(layout, config["digest"]) == {} and config["size"] == 2 \
                and "subject" in manifest and "artifactType" in manifest
            print("%s: artifact %s" % ("valid" if good else "not valid", m["digest"][:19]))
            ok &= good
        else:
            print("not valid: unknown config media type %s" % config["mediaType"])
            ok = False
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
