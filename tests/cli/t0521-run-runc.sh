#!/usr/bin/env bash
# t0520's containers with --runtime runc (KILN_RUNTIME=runc): the same
# bundles under runc, with the same observations.
export KILN_RUNTIME=runc
exec bash "$(dirname "$0")/t0520-run.sh" "$@"
