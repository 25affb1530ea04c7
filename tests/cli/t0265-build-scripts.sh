#!/usr/bin/env bash
# Maintainer scripts (docs/building.md, Maintainer scripts) on the
# fixture's suite scripts: hello-scripts has a preinst and a postinst, dpkg
# (the host's, Essential: yes) is the Essential set.  kiln lock adds dpkg
# visibly (why: essential) and lists hello-scripts' scripts; kiln build runs
# the preinst, then dpkg --configure --pending in the sandbox, and their
# changes (a file written, a shipped file deleted) are the configure layer;
# the same digest from another clone, store and cache; the layer is cached;
# scripts: skip locks and builds as before (nothing run); debconf: answers
# are checked.  Needs root.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0265-$$"
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:scripts:keyring hello-scripts=1.0
echo 'epoch: "1000000"' >>kiln.yaml
expect_rc 0 "lock a package with maintainer scripts" kiln lock
lock=$(cat kiln.lock)
expect_contains "$lock" "$(printf '  - name: dpkg\n')" "the Essential set (dpkg) is added"
check "dpkg says why: essential" awk '/^  - name: dpkg$/{d=1} d && /^    why: essential$/{ok=1} END{exit !ok}' kiln.lock
check "hello-scripts lists its scripts" awk '/^  - name: hello-scripts$/{h=1} h && /^    scripts: \[postinst, preinst\]$/{ok=1} END{exit !ok}' kiln.lock
check "hello-scripts has no why (the manifest pins it)" test "$(awk '/^  - name: hello-scripts$/{h=1;next} /^  - name:/{h=0} h && /why:/' kiln.lock)" = ""
git add -A && git_commit scripts
A=$(git rev-parse HEAD)

expect_rc 0 "build configures the packages" kiln build
D1=$(printf '%s\n' "$out" | tail -1)
printf '%s\n' "$out" | grep -v '^  layer' | sed 's/^/# /'
expect_contains "$out" "  | kiln: hello-scripts: preinst install" "the preinst runs, its output shown"
expect_contains "$out" "  | Setting up hello-scripts (1.0) ..." "dpkg configures it"
expect_contains "$out" "configure: maintainer scripts" "a configure layer"

store="$T/repo/snapshots"
run umoci unpack --rootless --image "$store:t@$A" "$T/bundle"
check "umoci unpacks the image" test "$rc" = 0
R="$T/bundle/rootfs"
conf=$(cat "$R/etc/hello-scripts.conf" 2>&1)
printf '%s\n' "$conf" | sed 's/^/# conf: /'
expect_contains "$conf" "postinst configure " "the postinst ran with configure and no old version"
expect_contains "$conf" "preinst ran before: preinst install" "after the preinst, with install"
expect_contains "$conf" "DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true" "debconf never asks"
expect_contains "$conf" "LANG=C.UTF-8 TZ=UTC HOME=/root SOURCE_DATE_EPOCH=1000000" "the fixed environment"
expect_contains "$conf" "DPKG_MAINTSCRIPT_PACKAGE=hello-scripts" "dpkg's script environment"
expect_contains "$conf" "policy-rc.d: 101" "policy-rc.d refused service starts while it ran"
check "policy-rc.d is gone afterwards" test ! -e "$R/usr/sbin/policy-rc.d"
check "the file the postinst deleted is gone" test ! -e "$R/usr/share/hello-scripts/remove-me"
check "dpkg's status says installed" test "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}' hello-scripts)" = "install ok installed"
check "the scripts are in dpkg's database" test -x "$R/var/lib/dpkg/info/hello-scripts.postinst"
check "no *-old file of dpkg is left" test -z "$(ls "$R/var/lib/dpkg" | grep -- '-old$')"

python3 - "$store" "$A" >"$T/tar.check" 2>&1 <<'PY'
import json, sys, tarfile
store, commit = sys.argv[1], sys.argv[2]
rec = json.load(open(f"{store}/commits/{commit}/t.json"))
man = json.load(open(f"{store}/blobs/sha256/{rec['manifest'][7:]}"))
cfg = json.load(open(f"{store}/blobs/sha256/{man['config']['digest'][7:]}"))
by = [h["created_by"] for h in cfg["history"]]
assert by[-1].startswith("configure: maintainer scripts"), by
assert by[-2] == "dpkg database and accounts", by
with tarfile.open(f"{store}/blobs/sha256/{man['layers'][-1]['digest'][7:]}") as t:
    names = {m.name: m for m in t.getmembers()}
assert "etc/hello-scripts.conf" in names, sorted(names)
assert "usr/share/hello-scripts/.wh.remove-me" in names, sorted(names)
assert all(m.mtime <= 1000000 for m in names.values()), [(n, m.mtime) for n, m in names.items() if m.mtime > 1000000]
assert not any(n.startswith("usr/sbin/policy-rc.d") for n in names), sorted(names)
with tarfile.open(f"{store}/blobs/sha256/{man['layers'][-2]['digest'][7:]}") as t:
    st = t.extractfile("var/lib/dpkg/status").read().decode()
assert "Package: hello-scripts\nStatus: install ok unpacked\n" in st, st
print("tar ok")
PY
check "the configure layer holds the scripts' changes (a deletion as a whiteout), above the dpkg layer that left them unpacked" \
	grep -q "tar ok" "$T/tar.check"
grep -v "tar ok" "$T/tar.check" | sed 's/^/# /'

git clone -q "$T/repo" "$T/clone"
(cd "$T/clone" && KILN_CACHE="$T/cache2" "$KILN" -q build --store "$T/store2") >"$T/clone.out" 2>&1
check "another clone, store and cache builds the same digest" test "$(tail -1 "$T/clone.out")" = "$D1"
[ "$(tail -1 "$T/clone.out")" = "$D1" ] || sed 's/^/# clone: /' "$T/clone.out"

expect_rc 0 "a second build" kiln build
expect_contains "$out" "configure: maintainer scripts: cached" "the configure layer is cached"
expect_not_contains "$out" "Setting up" "and nothing runs"

# ---- scripts: skip: today's behaviour, nothing run, no Essential set
mkdir -p "$T/skip" && cd "$T/skip" && git init -q . && trust_test_key
write_manifest kiln.yaml good:scripts:keyring hello-scripts=1.0
echo 'scripts: skip' >>kiln.yaml
expect_rc 0 "lock with scripts: skip" kiln lock
check "no Essential set" test "$(locked_set kiln.lock)" = "hello-scripts=1.0"
expect_not_contains "$(cat kiln.lock)" "scripts:" "no scripts listed"
git add -A && git_commit skip
expect_rc 0 "build with scripts: skip" kiln build
expect_not_contains "$out" "configure" "no configure layer"
run umoci unpack --rootless --image "$T/skip/snapshots:t@$(git rev-parse HEAD)" "$T/bundle2"
check "the postinst did not run" test ! -e "$T/bundle2/rootfs/etc/hello-scripts.conf"
check "the file it would delete is there" test -f "$T/bundle2/rootfs/usr/share/hello-scripts/remove-me"
check "no script in dpkg's database" test ! -e "$T/bundle2/rootfs/var/lib/dpkg/info/hello-scripts.postinst"

# ---- debconf: answers are checked
cat >>kiln.yaml <<'YAML'
debconf:
  - "hello-scripts hello/answer boolean maybe"
YAML
expect_rc 1 "a bad debconf answer is refused" kiln lock
expect_contains "$err" "kiln.yaml:" "naming the manifest"
expect_contains "$err" "boolean's value must be true or false" "and why"
done_testing
