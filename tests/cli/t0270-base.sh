#!/usr/bin/env bash
# base: (docs/manifest.md, base; docs/building.md, Bases): a manifest built
# on another manifest of the repository (its layers at the bottom, the same
# blobs; its config inherited and overridden; both dpkg statuses and
# accounts merged; run: steps over it; the base in the provenance; the same
# digest from another clone with its own store and cache), on an image of
# an OCI layout pinned by digest, and the hostile cases: "..", a symlinked
# base manifest, a cycle, bases nested too deep, a wrong digest, a
# damaged blob, a layer that is not a tar; each refused naming the place,
# the store untouched.  Needs root (run: steps, kiln run).
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0270-$$"
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
# manifest FILE NAME SOURCE PIN: a manifest named NAME (write_manifest names all "t").
manifest() { write_manifest "$1" "$3" "$4" && sed -i "s/^name: t\$/name: $2/" "$1"; }

mkdir -p "$T/repo/manifests" && cd "$T/repo" && git init -q . && trust_test_key
printf 'layout*/\n' >.gitignore
manifest manifests/base.yaml b good:containers:keyring busybox-fixture=1.0
cat >>manifests/base.yaml <<'YAML'
epoch: "1000000"
accounts:
  groups: [{name: app, gid: "10001"}]
  users: [{name: app, uid: "10001", gid: "10001", home: /home/app}]
config:
  entrypoint: [/bin/sh, -c]
  cmd: [echo from-base]
  env: {A: base-a, B: base-b}
  labels: {l.base: "1", l.both: base}
  ports: ["80"]
  workdir: /srv
  user: app
YAML
manifest kiln.yaml t S data-all=1.0
cat >>kiln.yaml <<'YAML'
epoch: "1000000"
base: manifests/base.yaml
run:
  - |
    grep '^app:' /etc/passwd >/srv-step; busybox >/dev/null && echo ran-over-the-base
config:
  cmd: [echo from-top; cat /srv-step]
  env: {B: top-b, C: top-c}
  labels: {l.both: top}
  ports: ["8080"]
YAML
expect_rc 0 "lock the base" kiln lock -f manifests/base.yaml
expect_rc 0 "lock the image" kiln lock
git add -A && git_commit base
A=$(git rev-parse HEAD)
store="$T/repo/snapshots"

# ---- a manifest base
expect_rc 0 "a manifest with base: another manifest builds" kiln build
printf '%s\n' "$out" "$err" | sed 's/^/# /'
D=$(printf '%s\n' "$out" | tail -1)
expect_contains "$out" "| ran-over-the-base" "its run: step ran over the base's layers"
check "the base's snapshot is recorded too" test -f "$store/commits/$A/b.json"
python3 - "$store" "$A" >"$T/img.check" 2>&1 <<'PY'
import base64, json, sys
store, commit = sys.argv[1], sys.argv[2]
def blob(d): return json.load(open(f"{store}/blobs/sha256/{d[7:]}"))
rec_t = json.load(open(f"{store}/commits/{commit}/t.json"))
rec_b = json.load(open(f"{store}/commits/{commit}/b.json"))
mt, mb = blob(rec_t["manifest"]), blob(rec_b["manifest"])
ct, cb = blob(mt["config"]["digest"]), blob(mb["config"]["digest"])
n = len(mb["layers"])
assert mt["layers"][:n] == mb["layers"], "layers"
assert ct["rootfs"]["diff_ids"][:n] == cb["rootfs"]["diff_ids"], "diff_ids"
assert len(mt["layers"]) > n
print("layers ok")
c = ct["config"]
env = dict(e.split("=", 1) for e in c["Env"])
assert env["A"] == "base-a" and env["B"] == "top-b" and env["C"] == "top-c" and "PATH" in env, c["Env"]
assert c["Labels"] == {"l.base": "1", "l.both": "top"}, c["Labels"]
assert c["Entrypoint"] == ["/bin/sh", "-c"], c.get("Entrypoint")
assert c["Cmd"] == ["echo from-top; cat /srv-step"], c.get("Cmd")
assert sorted(c["ExposedPorts"]) == ["80/tcp", "8080/tcp"], c["ExposedPorts"]
assert c["WorkingDir"] == "/srv" and c["User"] == "app", c
print("config ok")
env = json.load(open(f"{store}/blobs/sha256/{rec_t['envelope'][7:]}"))
st = json.loads(base64.b64decode(env["payload"]))
deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
base = [d for d in deps if d.get("name") == "base"]
assert base == [{"name": "base", "uri": f"kiln:manifests/base.yaml@{commit}#b",
                 "digest": {"sha256": rec_b["manifest"][7:]}}], base
print("provenance ok")
PY
sed 's/^/# /' "$T/img.check"
check "its first layers are the base's (same blobs, same diff_ids)" grep -q "layers ok" "$T/img.check"
check "its config inherits the base's and overrides it" grep -q "config ok" "$T/img.check"
check "the provenance names the base's digest, path, commit and name" grep -q "provenance ok" "$T/img.check"

run umoci unpack --rootless --image "$store:t@$A" "$T/bundle"
check "umoci unpacks it" test "$rc" = 0
R="$T/bundle/rootfs"
check "its dpkg status lists the base's package" grep -qx "Package: busybox-fixture" "$R/var/lib/dpkg/status"
check "and its own" grep -qx "Package: data-all" "$R/var/lib/dpkg/status"
check "its passwd has the base's user" grep -q "^app:x:10001:10001:" "$R/etc/passwd"
check "the base's files are there" test -x "$R/bin/busybox"

expect_rc 0 "kiln run of it" kiln run --rm --network none "t@$A"
check "runs the base's entrypoint with its own cmd" test "$(printf '%s\n' "$out" | head -1)" = from-top
expect_contains "$out" "app:x:10001" "and sees the step's file"

git clone -q "$T/repo" "$T/clone"
(cd "$T/clone" && KILN_CACHE="$T/cache2" "$KILN" -q build --store "$T/store2") >"$T/clone.out" 2>&1
check "another clone, store and cache builds the same digest" test "$(tail -1 "$T/clone.out")" = "$D"
[ "$(tail -1 "$T/clone.out")" = "$D" ] || sed 's/^/# clone: /' "$T/clone.out"

expect_rc 0 "a rebuild" kiln build
expect_contains "$out" "the snapshot b@${A:0:12} in the store" "takes the base's snapshot from the store"
check "to the same digest" test "$(printf '%s\n' "$out" | tail -1)" = "$D"

# ---- an OCI layout base, pinned by its manifest digest
DB=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"])' "$store/commits/$A/b.json")
expect_rc 0 "export the base as an OCI archive" kiln export "b@$A" --format oci-archive -o "$T/b.tar"
mkdir layout && tar -xf "$T/b.tar" -C layout
manifest oci.yaml o S data-all=1.0
printf 'epoch: "1000000"\nbase: oci:layout@%s\nconfig: {cmd: [echo from-oci]}\n' "$DB" >>oci.yaml
expect_rc 0 "lock it" kiln lock -f oci.yaml
git add -A && git_commit oci
O=$(git rev-parse HEAD)
expect_rc 0 "a manifest with base: oci:PATH@DIGEST builds" kiln build -f oci.yaml
printf '%s\n' "$err" | sed 's/^/# /'
python3 - "$store" "$O" "$DB" >"$T/oci.check" 2>&1 <<'PY'
import base64, json, sys
store, commit, db = sys.argv[1:]
def blob(d): return json.load(open(f"{store}/blobs/sha256/{d[7:]}"))
rec = json.load(open(f"{store}/commits/{commit}/o.json"))
mo, mb = blob(rec["manifest"]), blob(db)
assert mo["layers"][:len(mb["layers"])] == mb["layers"]
st = json.loads(base64.b64decode(json.load(open(f"{store}/blobs/sha256/{rec['envelope'][7:]}"))["payload"]))
deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
assert {"name": "base", "uri": "oci:layout", "digest": {"sha256": db[7:]}} in deps, deps
print("oci ok")
PY
sed 's/^/# /' "$T/oci.check"
check "its first layers are the layout image's, and the provenance names it" grep -q "oci ok" "$T/oci.check"
expect_rc 0 "kiln run of it" kiln run --rm --network none "o@$O"
check "runs" test "$out" = from-oci

# ---- multi-stage: a file a run: step made in a build image, copied alone into a slim one
manifest build.yaml bld good:containers:keyring busybox-fixture=1.0
cat >>build.yaml <<'YAML'
epoch: "1000000"
run:
  - mkdir -p /out && printf 'built-app\n' >/out/app && chown 0:10 /out/app && chmod 4750 /out/app && echo made-the-app
YAML
manifest slim.yaml slim S data-all=1.0
cat >>slim.yaml <<'YAML'
epoch: "1000000"
files:
  - {from: build.yaml, src: /out/app, dst: /usr/local/bin/app}
YAML
expect_rc 0 "lock the build image" kiln lock -f build.yaml
expect_rc 0 "lock the slim image" kiln lock -f slim.yaml
git add -A && git_commit stages
M=$(git rev-parse HEAD)
expect_rc 0 "a slim manifest copying files: from the build manifest builds" kiln build -f slim.yaml
printf '%s\n' "$out" "$err" | sed 's/^/# /'
expect_contains "$out" "| made-the-app" "the build manifest's step ran"
python3 - "$store" "$M" >"$T/slim.check" 2>&1 <<'PY'
import json, sys, tarfile
store, commit = sys.argv[1:]
def blob(d): return json.load(open(f"{store}/blobs/sha256/{d[7:]}"))
man = blob(json.load(open(f"{store}/commits/{commit}/slim.json"))["manifest"])
names = {}
for l in man["layers"]:
    with tarfile.open(f"{store}/blobs/sha256/{l['digest'][7:]}") as t:
        for m in t.getmembers():
            names[m.name] = (m, t.extractfile(m).read() if m.isfile() else None)
app, data = names["usr/local/bin/app"]
assert data == b"built-app\n", data
assert app.mode == 0o4750 and (app.uid, app.gid) == (0, 10), (oct(app.mode), app.uid, app.gid)
assert not any(n.startswith(("out", "usr/bin/busybox", "bin/busybox")) for n in names), sorted(names)
print("slim ok")
PY
sed 's/^/# /' "$T/slim.check"
check "the slim image holds the file (bytes, mode, owner as in the build image), and nothing else of it" grep -q "slim ok" "$T/slim.check"

listing() { (cd "$store" && find . -printf '%p %s\n' | sort); }
# build_refused NAME MANIFEST-TEXT-APPENDED WANT: commit, build, want exit ≠ 0, the message, and no store change.
refused() {
	local name=$1 file=$2 want=$3 before
	before=$(listing)
	run kiln build -f "$file"
	check "$name: refused" test "$rc" != 0
	expect_contains "$err" "$want" "$name: the message names it"
	check "$name: nothing written to the store" test "$(listing)" = "$before"
}
oci_manifest() { # FILE SPEC
	manifest "$1" o S data-all=1.0 && printf 'base: %s\n' "$2" >>"$1" && kiln lock -f "$1" >/dev/null
}
oci_manifest wrong.yaml "oci:layout@sha256:$(printf '0%.0s' $(seq 64))"
# A copy of the layout with one layer blob's bytes changed.
cp -r layout layout-bad
L1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' "layout/blobs/sha256/${DB#sha256:}")
chmod u+w "layout-bad/blobs/sha256/$L1"; printf x >>"layout-bad/blobs/sha256/$L1"
oci_manifest damaged.yaml "oci:layout-bad@$DB"
# A layout whose layer is gzip but not a tar.
python3 - layout-notar >"$T/notar.digest" <<'PY'
import gzip, hashlib, json, os, sys
d = sys.argv[1]; os.makedirs(f"{d}/blobs/sha256")
def put(b):
    h = hashlib.sha256(b).hexdigest(); open(f"{d}/blobs/sha256/{h}", "wb").write(b); return "sha256:" + h, len(b)
raw = b"this is not a tar archive\n" * 40
layer, lsize = put(gzip.compress(raw, mtime=0))
cfg, csize = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
    "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}}).encode())
man, _ = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": csize},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": lsize}]}).encode())
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(man)
PY
oci_manifest notar.yaml "oci:layout-notar@$(cat "$T/notar.digest")"
# Manifests: a symlinked base, a cycle, a chain too deep.
ln -s base.yaml manifests/link.yaml
manifest link.yaml l S data-all=1.0; echo "base: manifests/link.yaml" >>link.yaml; kiln lock -f link.yaml >/dev/null
manifest cycle-a.yaml ca S data-all=1.0; echo "base: cycle-b.yaml" >>cycle-a.yaml; kiln lock -f cycle-a.yaml >/dev/null
manifest cycle-b.yaml cb S data-all=1.0; echo "base: cycle-a.yaml" >>cycle-b.yaml; kiln lock -f cycle-b.yaml >/dev/null
for i in $(seq 1 9); do
	manifest "deep$i.yaml" "d$i" S data-all=1.0
	[ "$i" -lt 9 ] && echo "base: deep$((i + 1)).yaml" >>"deep$i.yaml"
	kiln lock -f "deep$i.yaml" >/dev/null
done
manifest escape.yaml e S data-all=1.0; echo "base: ../escape.yaml" >>escape.yaml
manifest missing.yaml mi S data-all=1.0
printf 'files:\n  - {from: build.yaml, src: /out/nothing, dst: /x}\n' >>missing.yaml; kiln lock -f missing.yaml >/dev/null
git add -A && git_commit hostile
H=$(git rev-parse HEAD)

refused "a wrong digest" wrong.yaml "wrong.yaml: base oci:layout@sha256:000000000000…: blob sha256:$(printf '0%.0s' $(seq 64)) is missing from the layout"
refused "a damaged layer blob" damaged.yaml "blob sha256:$L1 does not match its digest"
refused "a layer that is not a tar" notar.yaml "layer 1 of 1"
expect_contains "$err" "is not a layer tar kiln reads" "(says it is not a tar)"
refused "a symlinked base manifest" link.yaml "'manifests/link.yaml' in commit ${H:0:12}"
expect_contains "$err" "is a symbolic link" "(says it is a symlink)"
refused "a cycle" cycle-a.yaml "the manifests form a cycle: cycle-a.yaml → cycle-b.yaml → cycle-a.yaml"
refused "bases nested too deep" deep1.yaml "manifests are nested more than 8 deep"
# (the build manifest's own snapshot of this commit is not what is judged)
expect_rc 0 "(build the build manifest at this commit)" kiln build -f build.yaml
refused "files: from: a path the image lacks" missing.yaml "missing.yaml:13:5: files[0] (/out/nothing in build.yaml's image sha256:"
expect_contains "$err" "not in that image" "(says it is not there)"
refused "a base path with .." escape.yaml 'base: "../escape.yaml"'

done_testing
