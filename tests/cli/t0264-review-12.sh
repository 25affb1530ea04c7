#!/usr/bin/env bash
# Review of issue 12 (real Debian services from a manifest), on the
# fixture's busybox image: what a hostile image can make of the copy a new
# named volume starts from (docs/containers.md, Volumes).  A layer holds a
# file's bytes once however many hard links name it; the volume's copy must
# not hold them once per name either, or a small image fills the host's
# disk the first time a container starts with a volume at that directory.
# kiln audit's every differing path (signing.md): paths are an image's
# bytes, so a name with a newline and two spaces must not forge a line of
# the report, and a name that is not UTF-8 must not vanish from --json.
# The stock postgresql entrypoint (manifests/postgresql/entrypoint.sh),
# run by this machine's own PostgreSQL 15 (when installed) in a mount
# namespace of its own: a first start whose initdb fails leaves no file
# holding POSTGRES_PASSWORD behind.  A volume's path is compared with
# /proc, /sys and /dev, the runtime's own, in every spelling: "//proc" or
# "/./dev" would put a persistent, writable volume there.  Needs root.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0264-$$"
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
V="$KILN_ROOT/volumes"

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<'YAML'
run:
  - |
    mkdir -p /srv/links/sub
    head -c 262144 /dev/zero >/srv/links/big
    i=0
    while [ $i -lt 200 ]; do ln /srv/links/big /srv/links/sub/h$i; i=$((i + 1)); done
    ln /srv/links/big /srv/outside-the-volume
YAML
expect_rc 0 "lock" kiln lock
git add -A && git_commit links
expect_rc 0 "build: a 256 KiB file with 201 more names" kiln build

# ---- a volume over the runtime's own mounts, spelled another way
for d in //proc /./proc //sys /./dev /dev/./ /sys//; do
	run kiln run --rm --network none -v "over:$d" t true
	check "a volume at '$d' is refused" test "$rc" = 1
	expect_contains "$err" "is the container's own, not a place for a volume" "naming why ('$d')"
done
check "and no volume was made for it" test ! -e "$V/over"

# ---- hard links in the image's directory
expect_rc 0 "a new volume at the image's /srv/links" kiln run --rm --network none -v links:/srv/links t \
	sh -c 'cat /srv/links/sub/h199 | wc -c'
check "the container reads a link's bytes" test "$(echo $out)" = 262144
kib=$(du -sk "$V/links" | cut -f1)
check "the copy holds the bytes once, not once per name (${kib} KiB on disk)" test "$kib" -lt 1024
check "a link and the file are one file in the volume" \
	test "$(stat -c %i "$V/links/big")" = "$(stat -c %i "$V/links/sub/h7")"
check "with the links the volume holds (201: the name outside it is not counted)" \
	test "$(stat -c %h "$V/links/big")" = 201
check "and the bytes" test "$(cmp -n 262144 "$V/links/sub/h0" /dev/zero 2>&1; echo $?)" = 0

# ---- kiln audit: hostile names among the differing paths
cat >>kiln.yaml <<'YAML'
  - |
    head -c 16 /dev/urandom >"/srv/x
      forged line: content differs"
    head -c 16 /dev/urandom >"$(printf '/srv/caf\351')"
YAML
git add -A && git_commit hostile-names
expect_rc 0 "build a step writing random bytes under hostile names" kiln build
expect_rc 4 "kiln audit: different" kiln audit
printf "%s\n" "$out" | sed "s/^/# audit: /"
check "the name with a newline differs too" grep -q 'path srv/x.*forged line' <<<"$out"
check "no line of the report is made by a path" test -z "$(grep '^  forged line' <<<"$out")"
expect_rc 4 "kiln --json audit" kiln --json audit
printf '%s' "$out" >"$T/audit.json"
check "every difference has its path in --json, bytes that are not UTF-8 escaped" python3 - "$T/audit.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
items = doc if isinstance(doc, list) else doc.get("items", [doc])
diffs = [d for it in items for d in it.get("differences", [])]
paths = [d.get("path") for d in diffs]
print("# paths:", paths)
assert len(diffs) >= 2, diffs
assert all(isinstance(p, str) for p in paths), paths
assert any(p.startswith("srv/caf") for p in paths), paths
assert any(p.startswith("srv/x\n") for p in paths), paths
PY

# ---- the postgresql entrypoint: a failed initdb leaves the password nowhere
if command -v initdb >/dev/null && [ -x /usr/lib/postgresql/15/bin/postgres ] && id postgres >/dev/null 2>&1; then
	mkdir -p "$T/pg/data" "$T/pg/tmp" && echo not-a-cluster >"$T/pg/data/junk"
	chmod 0711 "$T"
	# /run/postgresql in a tmpfs of this namespace, not the host's.
	run env POSTGRES_PASSWORD="kiln-secret-$$" PGDATA="$T/pg/data" TMPDIR="$T/pg/tmp" \
		unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec sh "$0"' \
		"$KILN_TOP/manifests/postgresql/entrypoint.sh"
	check "initdb refuses a directory that is not empty: the first start fails" test "$rc" != 0
	expect_contains "$out$err" "initdb" "(it is initdb that failed)"
	check "no file left holds the password" test -z "$(grep -rl "kiln-secret-$$" "$T/pg" 2>/dev/null)"
	rm -rf "$T/pg"
else
	echo "# skip: no PostgreSQL 15 on this machine for the entrypoint"
fi
done_testing
