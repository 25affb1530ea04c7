#!/usr/bin/env bash
# kiln build: a commit of a manifest → an OCI image in the store, the same
# bytes from any clone, store, cache, umask, TZ or locale; judged by
# skopeo, umoci, dpkg, the OCI JSON schemas and podman (with runc).
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

mkdir -p "$T/repo/img/www/sub" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest img/kiln.yaml S app=2.0 layout-edge=1.0 epoch-app=1:1.0-1
# layout-edge has a postinst and suite stable no Essential set: unpack only.
echo 'scripts: skip' >>img/kiln.yaml
cat >>img/kiln.yaml <<'YAML'
files:
  - {src: www/, dst: /srv/www/, mode: "0644", owner: "10001:10001"}
  - {src: run.sh, dst: /usr/local/bin/}
  - {src: run.sh, dst: /root/.profile}
accounts:
  groups: [{name: web, gid: "10001"}]
  users: [{name: web, uid: "10001", gid: "10001", home: /srv}]
config:
  entrypoint: [/usr/bin/app]
  env: {LANG: C.UTF-8}
  user: web
  workdir: /srv
  labels: {org.opencontainers.image.title: t}
YAML
echo '<h1>hi</h1>' >img/www/index.html
echo 'deep' >img/www/sub/deep.txt
printf '#!/bin/sh\necho run\n' >img/run.sh && chmod +x img/run.sh
expect_rc 0 "lock" kiln lock -f img/kiln.yaml
git add -A && git_commit one
C1=$(git rev-parse HEAD)

expect_rc 0 "kiln build" kiln build -f img/kiln.yaml
D1=$(printf '%s\n' "$out" | tail -1)
check "the manifest digest is printed last" kiln_digest_ok "$D1"
expect_contains "$out" "built" "layers are built the first time"
store="$T/repo/snapshots"
check "the store is at the top of the work tree" test -f "$store/oci-layout"

expect_rc 0 "a rebuild of the same commit" kiln build -f img/kiln.yaml
expect_not_contains "$out" " built " "reuses every layer"
expect_contains "$out" "cached" "and says cached"
check "same digest" test "$(printf '%s\n' "$out" | tail -1)" = "$D1"
expect_rc 0 "kiln build --no-cache" kiln build --no-cache -f img/kiln.yaml
check "--no-cache gives the same digest" test "$(printf '%s\n' "$out" | tail -1)" = "$D1"

# Another machine's view: a clone, another store and cache, odd umask/TZ/locale, later.
git clone -q "$T/repo" "$T/clone"
sleep 1
D2=$(cd "$T/clone" && umask 077 && TZ=Pacific/Chatham LC_ALL=C.UTF-8 LANG=de_DE.UTF-8 \
	KILN_CACHE="$T/cache2" kiln -q build -f img/kiln.yaml --store "$T/store2")
check "a clone with another store, cache, umask, TZ and locale builds the same digest" test "$D2" = "$D1"
(cd "$store/blobs/sha256" && sha256sum * | sort) >"$T/blobs1"
(cd "$T/store2/blobs/sha256" && sha256sum * | sort) >"$T/blobs2"
expect_same_file "$T/blobs1" "$T/blobs2" "and the same blob bytes"
(cd "$store/blobs/sha256" && for f in *; do [ "$(sha256sum <"$f" | cut -c1-64)" = "$f" ] || echo "$f"; done) >"$T/badblobs"
check "every blob hashes to its name" test ! -s "$T/badblobs"

# Independent judges.
ref="t@$C1"
run skopeo inspect "oci:$store:$ref"
check "skopeo inspect reads the snapshot by its ref name" test "$rc" = 0
expect_contains "$out" "\"Digest\": \"$D1\"" "skopeo sees the same digest"
run /usr/bin/python3 "$KILN_TOP/tests/lib/oci-validate.py" "$store"
check "every JSON document validates against the OCI image-spec schemas" test "$rc" = 0
cp -r "$store" "$T/broken" && sed -i 's/"schemaVersion": 2/"schemaVersion": 3/' "$T/broken/index.json"
run /usr/bin/python3 "$KILN_TOP/tests/lib/oci-validate.py" "$T/broken"
check "(the schema judge does reject a broken index)" test "$rc" != 0
run umoci unpack --rootless --image "$store:$ref" "$T/bundle"
check "umoci unpacks it" test "$rc" = 0
R="$T/bundle/rootfs"
check "merged /usr: bin is a symlink to usr/bin" test "$(readlink "$R/bin")" = usr/bin
check "a package's /bin file lands in /usr/bin" test -x "$R/usr/bin/layout-edge"
check "a package's /lib file lands in /usr/lib" test -f "$R/usr/lib/layout-edge/plugin.txt"
check "an absolute symlink is kept" test "$(readlink "$R/usr/share/layout-edge/abs-link")" = /etc/layout-edge.conf
check "hard links are kept" test "$(stat -c %i "$R/usr/share/layout-edge/hard-a")" = "$(stat -c %i "$R/usr/share/layout-edge/hard-b")"
check "setuid bits are kept" test "$(stat -c %a "$R/usr/bin/le-suid")" = 4755
check "maintainer scripts were not run (scripts: skip)" test ! -e "$R/var/lib/layout-edge-postinst-ran"
check "files: copies the commit's tree" test "$(cat "$R/srv/www/index.html")" = "<h1>hi</h1>"
check "files: copies subdirectories" test -f "$R/srv/www/sub/deep.txt"
check "files: mode" test "$(stat -c %a "$R/srv/www/index.html")" = 644
check "a src without / to a dst/ lands as dst/src, keeping git's x bit" test "$(stat -c %a "$R/usr/local/bin/run.sh")" = 755
check "a later layer writing into /root keeps its 0700" test "$(stat -c %a "$R/root")" = 700
check "and /tmp keeps 1777" test "$(stat -c %a "$R/tmp")" = 1777
check "files: mtime is the layer epoch" test "$(stat -c %Y "$R/srv/www/index.html")" = 0
check "accounts: the user is in /etc/passwd" grep -q '^web:x:10001:10001::/srv:' "$R/etc/passwd"
check "accounts: the group is in /etc/group" grep -q '^web:x:10001:' "$R/etc/group"
run dpkg --admindir="$R/var/lib/dpkg" -l
expect_contains "$out" "ii  app" "dpkg -l on the image lists app"
expect_contains "$out" "epoch-app" "and epoch-app"
# dpkg records a package's own paths (/bin/x), as on any merged-/usr Debian 12.
run dpkg --admindir="$R/var/lib/dpkg" -S /bin/layout-edge
check "dpkg -S finds a file's package by the path dpkg records" test "$rc" = 0
run dpkg --admindir="$R/var/lib/dpkg" -S /usr/bin/app
expect_contains "$out" "app: /usr/bin/app" "dpkg -S /usr/bin/app names app"
cfg=$(skopeo inspect --config "oci:$store:$ref")
expect_contains "$cfg" '"User": "web"' "the config has the user"
expect_contains "$cfg" '"Entrypoint": [' "the entrypoint"
expect_contains "$cfg" "\"created\": \"$(git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)\"" "created is the commit time"

# Exports.
expect_rc 0 "export oci-archive" kiln export -f img/kiln.yaml "t@HEAD" -o "$T/t.oci.tar"
run skopeo inspect "oci-archive:$T/t.oci.tar"
expect_contains "$out" "$D1" "skopeo reads the oci-archive"
expect_rc 0 "export docker-archive" kiln export -f img/kiln.yaml @HEAD --format docker-archive -o "$T/t.docker.tar"
run skopeo inspect "docker-archive:$T/t.docker.tar"
check "skopeo reads the docker-archive" test "$rc" = 0
kiln export -f img/kiln.yaml "t@HEAD" -o "$T/again.oci.tar" >/dev/null
expect_same_file "$T/t.oci.tar" "$T/again.oci.tar" "exporting twice gives the same bytes"
expect_rc 1 "export of a snapshot that was never built" kiln export -f img/kiln.yaml "nope@HEAD" -o "$T/x.tar"

# podman runs it (with runc: crun fails on this machine's hybrid cgroups).
export CONTAINERS_CONF="$T/containers.conf"
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
pod=(podman --root "$T/podman/root" --runroot "$T/podman/run" --storage-driver vfs)
at_exit "${pod[*]} rm -af >/dev/null 2>&1; ${pod[*]} system reset -f >/dev/null 2>&1"
run "${pod[@]}" load -q -i "$T/t.docker.tar"
check "podman loads the docker-archive" test "$rc" = 0
run "${pod[@]}" image inspect --format '{{.Config.User}} {{.Config.Entrypoint}}' "t:${C1:0:12}"
expect_contains "$out" "web [/usr/bin/app]" "podman sees the image's user and entrypoint"
# (Running images: t0210 runs the real examples, which have a shell and a server.)

# The build reads the commit, never the work directory.
echo '<h1>uncommitted</h1>' >img/www/index.html
expect_rc 0 "build with an uncommitted change" kiln build -f img/kiln.yaml
check "the work directory does not leak in" test "$(printf '%s\n' "$out" | tail -1)" = "$D1"
git checkout -q -- img/www/index.html

# A new commit that changes one file rebuilds one layer.
echo '<h1>two</h1>' >img/www/index.html && git add -A && git_commit two
expect_rc 0 "build the next commit" kiln build -f img/kiln.yaml
check "only the files layer is built" test "$(printf '%s\n' "$out" | grep -c ' built ')" = 1
expect_contains "$(printf '%s\n' "$out" | grep ' built ')" "files:" "and it is the files layer"
expect_rc 0 "the first commit is still buildable by --rev" kiln build -f img/kiln.yaml --rev "$C1"
check "and gives its old digest" test "$(printf '%s\n' "$out" | tail -1)" = "$D1"

# A stale lock is refused and says what changed.
sed -i 's/app: "2.0"/app: "1.0"/' img/kiln.yaml && git add -A && git_commit stale
expect_rc 1 "a manifest whose lock is stale is refused" kiln build -f img/kiln.yaml
expect_contains "$err" "pinned 1.0, locked 2.0" "and the error names the pin that moved"

# zstd layers.
git revert --no-commit HEAD >/dev/null && git_commit unstale
expect_rc 0 "kiln build --zstd" kiln build --zstd -f img/kiln.yaml --store "$T/zstore"
run skopeo inspect --raw "oci:$T/zstore:t@$(git rev-parse HEAD)"
expect_contains "$out" "tar+zstd" "zstd layers have the zstd media type"
done_testing
