#!/usr/bin/env bash
# t0525's defaults with --runtime runc (KILN_RUNTIME=runc): runc takes the
# same capabilities, seccomp profile, sysctl and pids limit from the bundle.
export KILN_RUNTIME=runc
exec bash "$(dirname "$0")/t0525-run-defaults.sh" "$@"
