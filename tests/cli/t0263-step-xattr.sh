#!/usr/bin/env bash
# File capabilities a run: step sets (docs/building.md, Steps that run: what
# iputils-ping's postinst does with `setcap cap_net_raw+ep`) are kept, on
# the fixture's busybox image.  The image has no setcap, so the test builds
# tests/lib/capfile.c (static) and ships it with files:.  Judged by
# Python's tarfile (the pax record SCHILY.xattr.security.capability and
# its exact bytes, only on the file's first name), by a later step (which
# sees it through the unpacked lower layer), by umoci unpack and the host's
# getcap, by `kiln run` as a non-root user, and by runc on umoci's bundle
# (uid 1000 exec'ing the file holds CAP_NET_RAW).  Two stores and
# caches build the same digest (a step without capabilities keeps its
# bytes: test_layer; stale cached step layers: KILN_STAGE_FORMAT).  Needs
# root.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0263-$$"
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
CAP_HEX=0100000200200000000000000000000000000000 # vfs_cap_data rev 2: cap_net_raw, effective

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
cc -static -O2 -o capfile "$KILN_TOP/tests/lib/capfile.c"
check "(the static helper builds)" test -x capfile
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<'YAML'
accounts:
  groups: [{name: app, gid: "1000"}]
  users: [{name: app, uid: "1000", gid: "1000", home: /home/app}]
files:
  - {src: capfile, dst: /usr/local/bin/capfile, mode: "0755"}
run:
  - |
    cp /usr/local/bin/capfile /usr/local/bin/capped
    capfile set /usr/local/bin/capped
    ln /usr/local/bin/capped /usr/local/bin/capped-link
    echo plain >/etc/plain
  - capfile get /usr/local/bin/capped
YAML
expect_rc 0 "lock" kiln lock
git add -A && git_commit caps
A=$(git rev-parse HEAD)

expect_rc 0 "build: a step sets a capability, a later step reads it" kiln build
D1=$(printf '%s\n' "$out" | tail -1)
step_lines=$(grep -F '(run[0])' <<<"$out")
check "the step runs" \
	test -n "$step_lines" -a -z "$(grep ': cached$' <<<"$step_lines")"
expect_contains "$out" "  | security.capability=$CAP_HEX" "the later step sees the capability on the file"

# The step's layer, read by Python's tarfile.
store="$T/repo/snapshots"
python3 - "$store" "$A" "$CAP_HEX" >"$T/tar.check" 2>&1 <<'PY'
import json, sys, tarfile
store, commit, want = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
rec = json.load(open(f"{store}/commits/{commit}/t.json"))
man = json.load(open(f"{store}/blobs/sha256/{rec['manifest'][7:]}"))
key = "SCHILY.xattr.security.capability"
def members(layer):
    with tarfile.open(f"{store}/blobs/sha256/{layer['digest'][7:]}") as t:
        return {m.name: m for m in t.getmembers()}
layers = [members(l) for l in man["layers"]]
step = layers[-2]
capped = step["usr/local/bin/capped"]
assert capped.isfile(), capped
got = capped.pax_headers.get(key)
assert got is not None, capped.pax_headers
# tarfile gives binary pax values back as surrogate-escaped text.
assert got.encode("utf-8", "surrogateescape") == want, got.encode("utf-8", "surrogateescape").hex()
assert set(capped.pax_headers) == {key}, capped.pax_headers
link = step["usr/local/bin/capped-link"]
assert link.islnk() and link.linkname == "usr/local/bin/capped" and not link.pax_headers, (link, link.pax_headers)
for i, layer in enumerate(layers):
    for name, m in layer.items():
        if m is not capped:
            assert key not in m.pax_headers, (i, name)
print("tar ok")
PY
check "the layer: a pax record SCHILY.xattr.security.capability with the exact bytes, on the file only" \
	grep -q "tar ok" "$T/tar.check"
grep -v "tar ok" "$T/tar.check" | sed 's/^/# /'

# umoci, as root (rootless umoci cannot set security.*), and the host's getcap.
run umoci unpack --image "$store:t@$A" "$T/bundle"
check "umoci unpacks the image" test "$rc" = 0
R="$T/bundle/rootfs"
run getcap "$R/usr/local/bin/capped"
check "getcap: cap_net_raw=ep on the file" test "$out" = "$R/usr/local/bin/capped cap_net_raw=ep"
run getcap "$R/usr/local/bin/capfile"
check "and none on the file it was copied from" test -z "$out"

# Two stores, two caches: the same digest.
git clone -q "$T/repo" "$T/clone"
(cd "$T/clone" && KILN_CACHE="$T/cache2" "$KILN" -q build --store "$T/store2") >"$T/clone.out" 2>&1
check "another clone, cache and store builds the same digest" test "$(tail -1 "$T/clone.out")" = "$D1"
expect_rc 0 "kiln audit: identical" kiln audit

# kiln run, as the image's user app: the file in the container's root
# carries the capability.
expect_rc 0 "kiln run -u app reads the capability" \
	kiln run --rm --network none -u app t capfile get /usr/local/bin/capped
check "kiln run: the file has cap_net_raw+ep" test "$out" = "security.capability=$CAP_HEX"
# What that means in kiln's runtime (docs/building.md): without NET_RAW
# in the bounding set (kiln's default set, as podman's) the kernel refuses
# to exec a file whose capabilities it cannot grant; --cap-add NET_RAW
# lets it run.
run kiln run --rm --network none t /usr/local/bin/capped status
check "kiln run, default capabilities: exec of the file is refused (rc $rc)" test "$rc" != 0
expect_contains "$err" "exec /usr/local/bin/capped: Operation not permitted" "the message says so"
expect_rc 0 "kiln run --cap-add NET_RAW runs it" \
	kiln run --rm --network none --cap-add NET_RAW t /usr/local/bin/capped status

# runc, on umoci's bundle: uid 1000, CAP_NET_RAW only in the bounding set
# (none effective, permitted, inheritable or ambient), no no_new_privs.
# Exec'ing the file gives the capability; exec'ing its copy without one
# does not: it comes from the file alone.  (kiln's own runtime sets
# no_new_privs, under which file capabilities give nothing: docs/building.md.)
cid="kiln-t0263-$$"
at_exit "runc delete --force $cid >/dev/null 2>&1"
caps_of() { # PATH: CapPrm and CapEff of uid 1000 exec'ing it
	python3 - "$T/bundle/config.json" "$1" <<'PY' && runc run --bundle "$T/bundle" "$cid" </dev/null
import json, sys
p = sys.argv[1]
c = json.load(open(p))
proc = c["process"]
proc.update(terminal=False, user={"uid": 1000, "gid": 1000}, noNewPrivileges=False, args=[sys.argv[2], "status"])
proc["capabilities"] = {"bounding": ["CAP_NET_RAW"], "effective": [], "permitted": [],
                        "inheritable": [], "ambient": []}
json.dump(c, open(p, "w"))
PY
}
run caps_of /usr/local/bin/capped
check "runc: uid 1000 exec'ing the file holds CAP_NET_RAW (2000)" \
	test "$out" = "$(printf 'CapPrm:\t0000000000002000\nCapEff:\t0000000000002000')"
[ "$rc" = 0 ] || printf '%s\n' "$err" | sed 's/^/# runc: /'
run caps_of /usr/local/bin/capfile
check "runc: and nothing exec'ing the copy without it" \
	test "$out" = "$(printf 'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000')"

# kiln diff against a commit whose step does not set the capability:
# the files differ only in their extended attributes.
cd "$T/repo"
sed -i '/capfile set/d' kiln.yaml
git add -A && git_commit "no capability"
expect_rc 0 "build the commit without the capability" kiln build
expect_rc 0 "kiln diff" kiln diff "t@$A" "t@$(git rev-parse HEAD)"
expect_contains "$out" "files (1 changed, 0 added, 0 removed):" "one file changed"
expect_contains "$out" "~ usr/local/bin/capped (xattrs)" "the file, its extended attributes"

done_testing
