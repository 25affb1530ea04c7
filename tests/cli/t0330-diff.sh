#!/usr/bin/env bash
# kiln diff: two commits' snapshots → the config fields, packages and files that differ,
# as text (byte for byte), --stat, --json (judged by python3's json), and
# clean errors for an unknown snapshot and a damaged layer blob.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

mkdir -p "$T/repo/www" && cd "$T/repo" && git init -q . && trust_test_key
printf 'snapshots/\n.kiln/signing.key\n' >.gitignore
[ -n "${KILN_KEY:-}" ] && [ -f "$KILN_KEY" ] || kiln keygen >/dev/null
files_yaml() {
	cat >>kiln.yaml <<'YAML'
files:
  - {src: www/, dst: /srv/www/, mode: "0644"}
YAML
}
write_manifest kiln.yaml S app=1.0 && files_yaml
echo 'one' >www/index.html
echo 'same' >www/same.txt
expect_rc 0 "lock A" kiln lock
git add -A && git_commit A
A=$(git rev-parse HEAD)
expect_rc 0 "build A" kiln build
DA=$(printf '%s\n' "$out" | tail -1)

# B: a pinned version moves (app 1.0 → 2.0, which pulls in data-all), a
# package is added (epoch-app) and a copied file changes.
write_manifest kiln.yaml S app=2.0 epoch-app=1:1.0-1 && files_yaml
echo 'two' >www/index.html
expect_rc 0 "lock B" kiln lock
git add -A && git_commit B
B=$(git rev-parse HEAD)
expect_rc 0 "build B" kiln build
DB=$(printf '%s\n' "$out" | tail -1)
check "the two snapshots differ" test "$DA" != "$DB"

expect_rc 0 "kiln diff t@A t@B" kiln diff "t@$A" "t@$B"
cat >"$T/want" <<'EOF'
packages (1 changed, 2 added, 0 removed):
  ~ app 1.0 → 2.0
  + data-all 1.0
  + epoch-app 1:1.0-1
files (5 changed, 11 added, 0 removed):
  ~ srv/www/index.html (content)
  ~ usr/bin/app (content)
  ~ usr/share/doc/app/README (content)
  ~ var/lib/dpkg/info/app.md5sums (content)
  ~ var/lib/dpkg/status (content)
  + usr/bin/epoch-app
  + usr/share/doc/data-all
  + usr/share/doc/data-all/README
  + usr/share/doc/data-all/copyright
  + usr/share/doc/epoch-app
  + usr/share/doc/epoch-app/README
  + usr/share/doc/epoch-app/copyright
  + var/lib/dpkg/info/data-all.list
  + var/lib/dpkg/info/data-all.md5sums
  + var/lib/dpkg/info/epoch-app.list
  + var/lib/dpkg/info/epoch-app.md5sums
EOF
printf '%s\n' "$out" >"$T/got"
expect_same_file "$T/want" "$T/got" "the diff lists exactly the moved, added and changed packages and files"

expect_rc 0 "the same by @REV, HEAD~1 and HEAD" kiln diff @HEAD~1 @HEAD
printf '%s\n' "$out" >"$T/got2"
expect_same_file "$T/want" "$T/got2" "and says the same"

expect_rc 0 "in the other direction" kiln diff "t@$B" "t@$A"
expect_contains "$out" "  ~ app 2.0 → 1.0" "app goes back"
expect_contains "$out" "  - epoch-app 1:1.0-1" "epoch-app is removed"
expect_contains "$out" "  - usr/bin/epoch-app" "and its file"

expect_rc 0 "--stat" kiln diff --stat "t@$A" "t@$B"
check "--stat prints only the counts" test "$out" = "$(printf 'packages (1 changed, 2 added, 0 removed)\nfiles (5 changed, 11 added, 0 removed)')"

expect_rc 1 "--exit-code when they differ" kiln diff --exit-code "t@$A" "t@$B"
expect_rc 0 "--exit-code when they do not" kiln diff --exit-code "t@$A" "$DA"
check "identical snapshots: no differences" test "$out" = "no differences"

# JSON, read by python3.
expect_rc 0 "--json" kiln --json diff "t@$A" "t@$B"
printf '%s\n' "$out" >"$T/diff.json"
run /usr/bin/python3 -m json.tool "$T/diff.json"
check "python3 -m json.tool parses it" test "$rc" = 0
run /usr/bin/python3 - "$T/diff.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p, f = d["packages"], d["files"]
assert p["changed"] == [{"name": "app", "architecture": "amd64", "from": "1.0", "to": "2.0"}], p["changed"]
assert [(x["name"], x["version"]) for x in p["added"]] == [("data-all", "1.0"), ("epoch-app", "1:1.0-1")], p["added"]
assert p["removed"] == [], p["removed"]
ch = {x["path"]: x["what"] for x in f["changed"]}
assert ch["srv/www/index.html"] == ["content"], ch
assert ch["usr/bin/app"] == ["content"], ch
assert len(f["changed"]) == 5 and len(f["added"]) == 11 and f["removed"] == [], f
assert "usr/bin/epoch-app" in f["added"], f["added"]
assert d["differ"] is True
print("ok")
PY
check "the JSON has the right entries" test "$rc" = 0 -a "$out" = ok
[ "$rc" = 0 ] || printf '%s\n' "$err" | sed 's/^/# /'

# An independent judge: umoci unpacks both images; walking the two trees
# gives the same added, removed and content-changed paths as kiln diff --json.
umoci_judge() { # REF_A REF_B DIFF_JSON NAME
	rm -rf "$T/ua" "$T/ub"
	run umoci unpack --rootless --image "snapshots:$1" "$T/ua"
	check "umoci unpacks $1" test "$rc" = 0
	run umoci unpack --rootless --image "snapshots:$2" "$T/ub"
	check "umoci unpacks $2" test "$rc" = 0
	run /usr/bin/python3 - "$T/ua/rootfs" "$T/ub/rootfs" "$3" <<'PY'
import json, os, sys
def walk(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("l", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("d", None)
            else:
                out[rel] = ("f", open(p, "rb").read())
    return out
a, b = walk(sys.argv[1]), walk(sys.argv[2])
f = json.load(open(sys.argv[3]))["files"]
added = sorted(set(b) - set(a))
removed = sorted(set(a) - set(b))
changed = sorted(p for p in set(a) & set(b) if a[p] != b[p])
assert added == sorted(f["added"]), (added, f["added"])
assert removed == sorted(f["removed"]), (removed, f["removed"])
kiln_content = sorted(x["path"] for x in f["changed"] if set(x["what"]) & {"content", "type", "link target"})
assert changed == kiln_content, (changed, kiln_content)
print("ok")
PY
	check "$4" test "$rc" = 0 -a "$out" = ok
	[ "$rc" = 0 ] || printf '%s\n' "$err" | sed 's/^/# /'
}
umoci_judge "t@$A" "t@$B" "$T/diff.json" "umoci's trees differ in exactly the paths kiln diff names"
expect_rc 0 "--json for identical snapshots" kiln diff --json "t@$A" "t@$A"
expect_contains "$out" '"differ":false' "says they do not differ"
expect_rc 0 "--json --stat" kiln diff --json --stat "t@$A" "t@$B"
expect_contains "$out" '"packages":{"added":2,"changed":1,"removed":0}' "gives the counts"

# A change in metadata only: the copied files' mode.
sed -i 's/mode: "0644"/mode: "0600"/' kiln.yaml && git add -A && git_commit C
expect_rc 0 "build C" kiln build
expect_rc 0 "a mode change" kiln diff @HEAD~1 @HEAD
cat >"$T/want" <<'EOF'
packages (0 changed, 0 added, 0 removed):
files (2 changed, 0 added, 0 removed):
  ~ srv/www/index.html (mode)
  ~ srv/www/same.txt (mode)
EOF
printf '%s\n' "$out" >"$T/got"
expect_same_file "$T/want" "$T/got" "names the mode as what changed"

# Unusual entries: layout-edge ships hard links, a setuid file, a 0700
# directory, UTF-8 and 167-byte names; diff lists them as umoci sees them.
write_manifest kiln.yaml S app=2.0 epoch-app=1:1.0-1 layout-edge=1.0 && files_yaml
echo 'scripts: skip' >>kiln.yaml  # layout-edge's postinst: unpack only
sed -i 's/mode: "0644"/mode: "0600"/' kiln.yaml
expect_rc 0 "lock D" kiln lock
git add -A && git_commit D
expect_rc 0 "build D" kiln build
expect_rc 0 "diff C D --json" kiln diff --json @HEAD~1 @HEAD
printf '%s\n' "$out" >"$T/diff-cd.json"
umoci_judge "t@$(git rev-parse HEAD~1)" "t@$(git rev-parse HEAD)" "$T/diff-cd.json" \
	"umoci agrees on a package with hard links, UTF-8 and long names"
expect_rc 0 "diff C D" kiln diff @HEAD~1 @HEAD
expect_contains "$out" "  + layout-edge 1.0" "the package is added"
expect_contains "$out" "  + usr/share/layout-edge/hard-b" "the hard link is a file of its own"
expect_contains "$out" "  + usr/share/layout-edge/ünïcødé.txt" "UTF-8 names print as they are"
expect_contains "$out" "  + usr/share/layout-edge/$(printf 'd%.0s' {1..60})/$(printf 'f%.0s' {1..80}).txt" "long names too"

# Only mtimes move (the epoch of the files kiln writes): counted, listed with --mtime.
echo 'epoch: "100"' >>kiln.yaml && git add -A && git_commit E
expect_rc 0 "build E" kiln build
expect_rc 0 "an mtime-only change" kiln diff @HEAD~1 @HEAD
expect_contains "$out" "files (0 changed, 0 added, 0 removed, " "is counted apart"
expect_not_contains "$out" "srv/www/index.html" "and not listed"
expect_rc 0 "--mtime" kiln diff --mtime @HEAD~1 @HEAD
expect_contains "$out" "  ~ srv/www/index.html (mtime)" "lists it"
expect_rc 1 "--exit-code counts it as a difference" kiln diff --exit-code @HEAD~1 @HEAD
expect_rc 0 "--json" kiln diff --json @HEAD~1 @HEAD
expect_contains "$out" '"srv/www/index.html"' "lists it in mtime_only"
expect_contains "$out" '"changed":[]' "and nothing as changed"

# Only the image config changes (docs/manifest.md's config:): no package
# or file moves, yet the diff names every field that did, before and after.
cat >>kiln.yaml <<'YAML'
config:
  entrypoint: [/usr/bin/app, --serve]
  env: {LANG: C.UTF-8, MODE: blue, OLD: gone-soon}
  workdir: /srv
  labels: {org.opencontainers.image.title: one}
YAML
git add -A && git_commit F
expect_rc 0 "build F" kiln build
cp kiln.yaml "$T/kiln-F.yaml"
sed -i -e 's|entrypoint: \[/usr/bin/app, --serve\]|entrypoint: [/usr/bin/app, --serve, "--port=8080"]|' \
	-e 's|env: {LANG: C.UTF-8, MODE: blue, OLD: gone-soon}|env: {LANG: C.UTF-8, MODE: green, NEW: "a b"}|' \
	-e 's|workdir: /srv|workdir: /srv/www|' \
	-e 's|labels: {org.opencontainers.image.title: one}|labels: {org.opencontainers.image.title: two, tier: web}|' kiln.yaml
printf '  ports: [8080/tcp]\n  stop_signal: SIGQUIT\n' >>kiln.yaml
git add -A && git_commit G
expect_rc 0 "build G" kiln build
expect_rc 0 "a config-only change" kiln diff @HEAD~1 @HEAD
cat >"$T/want" <<'EOF'
config (4 changed, 4 added, 1 removed):
  ~ Entrypoint: ["/usr/bin/app","--serve"] → ["/usr/bin/app","--serve","--port=8080"]
  ~ Env MODE: blue → green
  ~ WorkingDir: /srv → /srv/www
  ~ Labels org.opencontainers.image.title: one → two
  + Env NEW=a b
  + ExposedPorts 8080/tcp
  + Labels tier=web
  + StopSignal: SIGQUIT
  - Env OLD=gone-soon
packages (0 changed, 0 added, 0 removed):
files (0 changed, 0 added, 0 removed):
EOF
printf '%s\n' "$out" >"$T/got"
expect_same_file "$T/want" "$T/got" "names each config field that changed, not 'no differences'"
expect_rc 1 "--exit-code counts config changes" kiln diff --exit-code @HEAD~1 @HEAD
expect_rc 0 "--stat" kiln diff --stat @HEAD~1 @HEAD
expect_contains "$out" "config (4 changed, 4 added, 1 removed)" "--stat counts them"
expect_not_contains "$out" "Entrypoint" "and lists none"
expect_rc 0 "--json" kiln diff --json @HEAD~1 @HEAD
printf '%s\n' "$out" >"$T/diff-fg.json"
run /usr/bin/python3 - "$T/diff-fg.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["config"]
ch = {(x["field"], x.get("key")): (x["from"], x["to"]) for x in c["changed"]}
assert ch[("Entrypoint", None)] == ('["/usr/bin/app","--serve"]', '["/usr/bin/app","--serve","--port=8080"]'), ch
assert ch[("Env", "MODE")] == ("blue", "green"), ch
assert ch[("WorkingDir", None)] == ("/srv", "/srv/www"), ch
assert ch[("Labels", "org.opencontainers.image.title")] == ("one", "two"), ch
ad = [(x["field"], x.get("key"), x.get("value")) for x in c["added"]]
assert ("Env", "NEW", "a b") in ad and ("ExposedPorts", "8080/tcp", None) in ad, ad
assert ("Labels", "tier", "web") in ad and ("StopSignal", None, "SIGQUIT") in ad, ad
assert c["removed"] == [{"field": "Env", "key": "OLD", "value": "gone-soon"}], c["removed"]
assert d["differ"] is True and d["packages"]["changed"] == [] and d["files"]["changed"] == []
print("ok")
PY
check "the JSON has the config entries" test "$rc" = 0 -a "$out" = ok
[ "$rc" = 0 ] || printf '%s\n' "$err" | sed 's/^/# /'
expect_rc 0 "--json --stat" kiln diff --json --stat @HEAD~1 @HEAD
expect_contains "$out" '"config":{"added":4,"changed":4,"removed":1}' "counts config changes"
# Env is a set: the same variables in another order are no change.
cp "$T/kiln-F.yaml" kiln.yaml
sed -i 's|env: {LANG: C.UTF-8, MODE: blue, OLD: gone-soon}|env: {OLD: gone-soon, MODE: blue, LANG: C.UTF-8}|' kiln.yaml
git add -A && git_commit H
expect_rc 0 "build H" kiln build
expect_rc 0 "diff F H" kiln diff "t@$(git rev-parse HEAD~2)" @HEAD
check "the same env in another order: no differences" test "$out" = "no differences"

# Errors.
expect_rc 1 "an unknown snapshot" kiln diff "t@$A" "nope@$B"
expect_contains "$err" "kiln: diff: snapshot nope@$B: no snapshot nope@" "names the snapshot"
expect_rc 1 "a revision git does not know" kiln diff "t@$A" "t@no-such-rev"
expect_contains "$err" "snapshot t@no-such-rev" "names it too"
expect_rc 2 "one snapshot is a usage error" kiln diff "t@$A"
expect_rc 1 "a sha256 that is not in the store" kiln diff "t@$A" "sha256:$(printf '0%.0s' {1..64})"

# A flipped byte in a layer blob of B (one A does not share): exit 3, naming it.
layers_of() { /usr/bin/python3 -c 'import json,sys; print("\n".join(l["digest"] for l in json.load(open(sys.argv[1]))["layers"]))' "snapshots/blobs/sha256/${1#sha256:}"; }
victim=$(comm -13 <(layers_of "$DA" | sort) <(layers_of "$DB" | sort) | head -1)
check "B has a layer of its own" test -n "$victim"
blob="snapshots/blobs/sha256/${victim#sha256:}"
cp "$blob" "$T/saved-blob"
size=$(stat -c %s "$blob")
chmod u+w "$blob"
printf '%02x' $(( ($(od -An -tu1 -j $((size / 2)) -N1 "$blob") ^ 0x20) )) | xxd -r -p |
	dd of="$blob" bs=1 seek=$((size / 2)) conv=notrunc status=none
check "(the blob was changed)" test "$(sha256sum <"$blob" | cut -c1-64)" != "${victim#sha256:}"
expect_rc 3 "a flipped byte in a layer blob" kiln diff "t@$A" "t@$B"
expect_contains "$err" "snapshot t@$B: layer " "names the snapshot and the layer"
expect_contains "$err" "($victim): its bytes hash to sha256:" "and the blob's digest"
expect_rc 3 "also when the damaged snapshot is the first" kiln diff "t@$B" "t@$A"
cp "$T/saved-blob" "$blob"
rm "$blob"
expect_rc 1 "a missing layer blob" kiln diff "t@$A" "t@$B"
expect_contains "$err" "$victim" "names the blob"
expect_contains "$err" "No such file" "and the cause"
cp "$T/saved-blob" "$blob"
expect_rc 0 "restored, it diffs again" kiln diff "t@$A" "t@$B"
done_testing
