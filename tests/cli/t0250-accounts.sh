#!/usr/bin/env bash
# kiln build: accounts as shadow-utils would leave them (docs/building.md,
# Accounts).  /etc/shadow's last-change day is the epoch's day, never 0
# (which forces a password change at login, shadow(5)); a home directory a
# package ships belongs to its user, the directory itself and nothing
# under it; kiln's own directories are not taken over.  Checked in the
# layer tars themselves (numeric owners), read by Python's tarfile.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

# image_view STORE DIGEST: "path uid:gid mode layer" of every path as the
# stacked layers show it (the highest layer's version), and the image's
# /etc/shadow into $T/shadow.
image_view() {
	/usr/bin/python3 - "$1" "$2" "$T/shadow" <<'PY'
import json, sys, tarfile
store, digest, shadow_out = sys.argv[1:]
blob = lambda d: f"{store}/blobs/sha256/{d.split(':', 1)[1]}"
manifest = json.load(open(blob(digest)))
view = {}
for i, layer in enumerate(manifest["layers"]):
    with tarfile.open(blob(layer["digest"])) as tar:
        for m in tar:
            name = m.name.rstrip("/")
            view[name] = f"{name} {m.uid}:{m.gid} {m.mode:04o} {i}"
            if name == "etc/shadow":
                open(shadow_out, "wb").write(tar.extractfile(m).read())
for name in sorted(view):
    print(view[name])
PY
}
owner_of() { awk -v p="$1" '$1 == p { print $2 }' "$T/view"; }
mode_of() { awk -v p="$1" '$1 == p { print $3 }' "$T/view"; }

mkdir -p "$T/repo/img" && cd "$T/repo" && git init -q .
write_manifest img/kiln.yaml S layout-edge=1.0
# layout-edge has a postinst; this test is about the accounts kiln writes
# itself (the configure layer has its own tests: t0265, t0195).
cat >>img/kiln.yaml <<'YAML'
scripts: skip
epoch: "1686398400"
accounts:
  groups: [{name: le, gid: "2000"}, {name: via, gid: "2001"}]
  users:
    - {name: le, uid: "2000", gid: "2000", home: /usr/share/layout-edge, shell: /bin/sh}
    - {name: via, uid: "2001", gid: "2001", home: /lib/layout-edge}
    - {name: fresh, uid: "2002", gid: "2002", home: /srv/fresh}
    - {name: tmpuser, uid: "2003", gid: "2003", home: /tmp}
    - {name: second, uid: "2004", gid: "2004", home: /srv/fresh}
YAML
expect_rc 0 "lock" kiln lock -f img/kiln.yaml
git add -A && git_commit one
expect_rc 0 "kiln build" kiln build --no-sign -f img/kiln.yaml
D=$(printf '%s\n' "$out" | tail -1)
image_view "$T/repo/snapshots" "$D" >"$T/view"
check "the layers were read" grep -q '^usr/share/layout-edge ' "$T/view"

# 1686398400 is 2023-06-10 12:00:00 UTC: day 19518.
printf '%s\n' "root:*:19518:0:99999:7:::" "le:!:19518:0:99999:7:::" "via:!:19518:0:99999:7:::" \
	"fresh:!:19518:0:99999:7:::" "tmpuser:!:19518:0:99999:7:::" "second:!:19518:0:99999:7:::" \
	"nobody:*:19518:0:99999:7:::" >"$T/shadow.want"
expect_same_file "$T/shadow.want" "$T/shadow" "shadow's last change is the epoch's day, for every account"
check "shadow has no last-change 0 (no forced password change)" \
	test -z "$(awk -F: '$3 == "0"' "$T/shadow")"
check "shadow(5) is readable by pwck's rules: 9 fields a line" \
	test -z "$(awk -F: 'NF != 9' "$T/shadow")"

check "a home a package ships belongs to its user" test "$(owner_of usr/share/layout-edge)" = 2000:2000
check "and keeps the package's mode" test "$(mode_of usr/share/layout-edge)" = 0755
check "only the directory: the files under it stay root's" \
	test "$(owner_of usr/share/layout-edge/hard-a)" = 0:0
check "and the directories under it too" test "$(owner_of usr/share/layout-edge/private)" = 0:0
check "a home reached through a symlink (/lib -> usr/lib) is the directory it leads to" \
	test "$(owner_of usr/lib/layout-edge)" = 2001:2001
check "a missing home is made, owned by its user" test "$(owner_of srv/fresh)" = 2002:2002
check "a second user of the same home does not take it over" test "$(owner_of srv/fresh)" != 2004:2004
check "kiln's skeleton (/tmp) is not taken over by a user" test "$(owner_of tmp)" = 0:0
check "nor its mode" test "$(mode_of tmp)" = 1777

# Epoch 0 (the default): day 0 would force a change, so the field is empty,
# as useradd leaves it when SOURCE_DATE_EPOCH is in day 0.
sed -i '/^epoch:/d' img/kiln.yaml
git add -A && git_commit two
expect_rc 0 "kiln build with the default epoch" kiln build --no-sign -f img/kiln.yaml
D0=$(printf '%s\n' "$out" | tail -1)
image_view "$T/repo/snapshots" "$D0" >"$T/view"
check "epoch 0: root's last change is empty, not 0" grep -qx 'root:\*::0:99999:7:::' "$T/shadow"
check "epoch 0: a user's last change is empty" grep -qx 'le:!::0:99999:7:::' "$T/shadow"
check "epoch 0: the package home still belongs to its user" test "$(owner_of usr/share/layout-edge)" = 2000:2000

# A build from nothing gives the same bytes (the owner does not depend on a cache).
expect_rc 0 "a --no-cache rebuild" kiln build --no-sign --no-cache -f img/kiln.yaml
check "gives the same digest" test "$(printf '%s\n' "$out" | tail -1)" = "$D0"

done_testing
