#!/usr/bin/env bash
# examples/demo.sh - kiln's main job on examples/hello-web, from scratch.
# `make demo` runs it after installing dependencies and building kiln.
#
# Today kiln locks: it resolves the example's pins against this machine's
# Debian mirror, verifies the signed Release with gpgv, checks every index
# against it, and proves the committed lock is current.  Building, signing,
# verifying and running the image join this script as those commands land.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kiln="$top/build/kiln"
work=$(mktemp -d /tmp/kiln-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a git repository holding the hello-web example"
cp -r "$top/examples/hello-web" "$work/hello-web"
cd "$work/hello-web"
git init -q . && git add -A && git -c user.name=demo -c user.email=demo@localhost commit -qm "hello-web"
git log --oneline

step "kiln lock --check: is the committed kiln.lock current for kiln.yaml?"
"$kiln" lock --check

step "kiln lock from nothing (cold cache): resolve, verify, write"
rm kiln.lock
export KILN_CACHE="$work/cache"
time "$kiln" lock
git diff --stat --exit-code -- kiln.lock && echo "identical to the committed lock"

step "kiln lock again (warm cache): nothing downloaded, nothing changed"
time "$kiln" lock

step "the lockfile"
cat kiln.lock

step "a bad pin is refused, and the lock is left untouched"
sed -i 's/busybox-static: .*/busybox-static: "latest"/' kiln.yaml
"$kiln" lock || echo "(exit $?, as it should)"
git diff --exit-code --quiet -- kiln.lock && echo "kiln.lock unchanged"
git checkout -q -- kiln.yaml

echo
echo "demo done: kiln locked hello-web at $(git rev-parse --short HEAD)."
