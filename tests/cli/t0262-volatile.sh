#!/usr/bin/env bash
# volatile: (docs/manifest.md, docs/building.md "What scripts make with
# random bytes") on the fixture's busybox image: a run: step that writes a
# random key, a link to it, a directory of random files and a file to keep;
# with the key, the directory and a lower layer's file (deleted by the step)
# named volatile, the step's layer holds only what is kept, two stores
# with their own caches build the same digest and `kiln audit` says
# identical; the pattern grammar is checked; the list is part of the step's
# cache key.  Needs root.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0262-$$"
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<'YAML'
volatile:
  - /etc/secret-*.key
  - /var/lib/ids
  - /usr/bin/wget
run:
  - |
    head -c 32 /dev/urandom >/etc/secret-host.key
    ln -s secret-host.key /etc/secret.link
    ln -s ../etc/./secret-host.key /srv-abs-link 2>/dev/null || ln -s /etc/secret-host.key /srv-abs-link
    mkdir -p /var/lib/ids/a && head -c 16 /dev/urandom >/var/lib/ids/a/id && ln -s /var/lib/ids/a/id /id-link
    echo kept >/etc/kept.conf && ln -s kept.conf /etc/kept.link
    rm /usr/bin/wget
YAML
expect_rc 0 "lock" kiln lock
git add -A && git_commit volatile
expect_rc 0 "build: the step writes random bytes at volatile paths" kiln build
D1=$(printf '%s\n' "$out" | tail -1)
run umoci unpack --rootless --image "$T/repo/snapshots:$(sed -n 's/^name: //p' kiln.yaml)@$(git rev-parse HEAD)" "$T/b"
check "umoci unpacks the image" test "$rc" = 0
R="$T/b/rootfs"
check "the key is left out" test ! -e "$R/etc/secret-host.key"
check "and the links that lead to it, relative and absolute" test ! -L "$R/etc/secret.link" -a ! -L "$R/srv-abs-link"
check "the directory is left out with all it holds, and a link into it" test ! -e "$R/var/lib/ids" -a ! -L "$R/id-link"
check "what is not volatile is kept: a file and a link to it" \
	test "$(cat "$R/etc/kept.conf")" = kept -a "$(readlink "$R/etc/kept.link")" = kept.conf
check "a deletion at a volatile path is not captured: the lower layer's file stays" test -e "$R/usr/bin/wget"
git clone -q "$T/repo" "$T/clone"
(cd "$T/clone" && KILN_CACHE="$T/cache2" "$KILN" -q build --store "$T/store2") >"$T/clone.out" 2>&1
check "another clone, cache and store builds the same digest" test "$(tail -1 "$T/clone.out")" = "$D1"
expect_rc 0 "kiln audit: identical" kiln audit

# The list is in the step's key: one more pattern rebuilds the step.
sed -i 's|^  - /usr/bin/wget$|  - /usr/bin/wget\n  - /etc/kept.*|' kiln.yaml
git add -A && git_commit "more volatile"
expect_rc 0 "build with one more pattern" kiln build
step_lines=$(grep -F '(run[0])' <<<"$out")
check "the step runs again (its line: ${step_lines%%$'\n'*})" test -n "$step_lines" -a -z "$(grep ': cached$' <<<"$step_lines")"
rm -rf "$T/b"
run umoci unpack --rootless --image "$T/repo/snapshots:$(sed -n 's/^name: //p' kiln.yaml)@$(git rev-parse HEAD)" "$T/b"
check "and its layer now leaves the kept file and its link out" test ! -e "$T/b/rootfs/etc/kept.conf" -a ! -L "$T/b/rootfs/etc/kept.link"

# The grammar: each refused, naming the entry.
for bad in / relative /a/ /a//b /a/./b /a/../b; do
	mkdir -p "$T/bad" && cp kiln.yaml "$T/bad/kiln.yaml"
	python3 - "$T/bad/kiln.yaml" "$bad" <<'PY'
import sys
p, bad = sys.argv[1], sys.argv[2]
s = open(p).read().replace("  - /var/lib/ids\n", "  - %s\n" % bad)
open(p, "w").write(s)
PY
	run kiln lock -f "$T/bad/kiln.yaml"
	check "volatile entry '$bad' is refused, naming it" test "$rc" != 0
	expect_contains "$err" "volatile[1]" "the message names volatile[1] for '$bad'"
done
done_testing
