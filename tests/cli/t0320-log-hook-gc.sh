#!/usr/bin/env bash
# kiln hook, kiln log, kiln gc: a post-commit hook builds five commits (in
# the foreground and detached in the background), `kiln log` lists their
# signed snapshots and `git notes --ref=kiln` shows each; other people's
# hooks are never touched; gc removes nothing while every record is there,
# and after one record is deleted frees exactly the blobs only that
# snapshot used (computed here from the manifests), leaving a layout skopeo
# and umoci still read.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
# The hook calls the binary that installed it, maybe long after: a private
# copy, so a rebuild of build/kiln meanwhile cannot change or hide it.
cp "$KILN" "$T/kiln" && KILN="$T/kiln"
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

# wait_log LOG: until the hook's build log ends (generous bound; no timing asserted).
wait_log() {
	local i
	for i in $(seq 1 1200); do
		grep -q '^kiln hook: done (exit ' "$1" 2>/dev/null && return 0
		sleep 0.25
	done
	return 1
}

mkdir -p "$T/repo/img" && cd "$T/repo" && git init -q .
echo /snapshots/ >.gitignore
write_manifest img/kiln.yaml S app=2.0
cat >>img/kiln.yaml <<'YAML'
files:
  - {src: page.txt, dst: /srv/page.txt}
YAML
echo v0 >img/page.txt
expect_rc 0 "lock" kiln lock -f img/kiln.yaml
git add -A && git_commit base
C0=$(git rev-parse HEAD)
store="$T/repo/snapshots"
hook="$T/repo/.git/hooks/post-commit"

# ---- hook install / status ----
expect_rc 0 "hook status before install" kiln hook status
expect_contains "$out" "not installed: no post-commit hook at $hook" "says no hook is installed"
expect_rc 1 "install for a manifest that does not exist fails" kiln hook install -f nope.yaml
expect_contains "$err" "nope.yaml" "and names it"
check "and writes no hook" test ! -e "$hook"
expect_rc 0 "hook install --foreground" kiln hook install -f img/kiln.yaml --foreground
expect_contains "$out" "$hook" "names the hook it wrote"
check "the hook is executable" test -x "$hook"
check "and marked as kiln's" grep -qx '# kiln-hook: post-commit v1' "$hook"
check "and calls this kiln binary" grep -qF "kiln='$KILN'" "$hook"
expect_rc 0 "hook status" kiln hook status
expect_contains "$out" "installed: $hook" "status: installed, and where"
expect_contains "$out" "builds: img/kiln.yaml" "status: for which manifest"
expect_contains "$out" "mode:   foreground" "status: foreground"
expect_rc 0 "hook status --json" kiln hook status --json
check "--json: installed, manifests, mode" python3 -c '
import json,sys; d=json.loads(sys.argv[1])
assert d["installed"] is True and d["manifests"]==["img/kiln.yaml"] and d["mode"]=="foreground", d' "$out"
(cd img && kiln hook status) >"$T/sub-status"
check "status from a subdirectory finds the same hook" grep -qF "installed: $hook" "$T/sub-status"

# Two commits built inline by the hook.
for i in 1 2; do
	echo "v$i" >img/page.txt && git add -A
	run git_commit "c$i"
	eval "C$i=\$(git rev-parse HEAD)"
	check "commit $i returns 0" test "$rc" = 0
	expect_contains "$out$err" "built t@" "the foreground hook built commit $i"
done
check "commit 1 has its record" test -f "$store/commits/$C1/t.json"
check "commit 2 has its record" test -f "$store/commits/$C2/t.json"

# Three more, detached in the background.
expect_rc 0 "hook install (background) replaces kiln's own hook" kiln hook install -f img/kiln.yaml
expect_contains "$out" "in the background" "says the builds run in the background"
run kiln hook status
expect_contains "$out" "mode:   background" "status: background"
logs="$T/repo/.git/kiln/logs"
for i in 3 4 5; do
	echo "v$i" >img/page.txt && git add -A
	run git_commit "c$i"
	eval "C$i=\$(git rev-parse HEAD)"
	c=$(git rev-parse HEAD)
	check "background commit $i returns 0" test "$rc" = 0
	expect_contains "$err" "log: $logs/$c.log" "the hook says where commit $i's build log goes"
done
for c in "$C3" "$C4" "$C5"; do
	check "the build log of ${c:0:12} ends" wait_log "$logs/$c.log"
	check "and the build succeeded" grep -q '^kiln hook: done (exit 0)' "$logs/$c.log"
	expect_contains "$(cat "$logs/$c.log")" "built t@${c:0:12}" "the log has the build's output"
	check "and the record is there" test -f "$store/commits/$c/t.json"
done

# ---- kiln log ----
expect_rc 0 "kiln log --pub" kiln log --pub "$KILN_PUB"
printf '%s\n' "$out" >"$T/log.txt"
check "six lines: five snapshots and the commit before the hook" test "$(wc -l <"$T/log.txt")" = 6
n=0
for i in 5 4 3 2 1; do
	n=$((n + 1))
	c=$(eval echo "\$C$i")
	d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"])' "$store/commits/$c/t.json")
	line=$(sed -n "${n}p" "$T/log.txt")
	check "line $n: commit $i, newest first, signed by the trusted key's file, size, subject" \
		grep -qE "^${c:0:12} t ${d:0:19}  signed by signing\.pub  [0-9.]+ (B|kB|MB)  c$i\$" <<<"$line"
done
check "the commit without a snapshot is shown as such" test "$(sed -n 6p "$T/log.txt")" = "${C0:0:12} -  (no snapshot)  base"
run kiln log
expect_contains "$out" "signed by sha256:" "without trusted keys, log shows the key id"
expect_contains "$out" "(untrusted)" "and says untrusted"
mkdir -p .kiln/trusted && cp "$KILN_PUB" .kiln/trusted/ci.pub
run kiln log
expect_contains "$out" "${C5:0:12} t sha256:" "with .kiln/trusted/*.pub"
expect_contains "$out" "signed by ci.pub" "the trusted key's file is named"
rm -r .kiln
expect_rc 0 "kiln log -n 2" kiln log -n 2 --pub "$KILN_PUB"
check "-n 2 shows two commits" test "$(printf '%s\n' "$out" | wc -l)" = 2
expect_rc 0 "kiln log A..B" kiln log --pub "$KILN_PUB" "$C2..$C4"
check "A..B shows B's history not in A's" test "$(printf '%s\n' "$out" | cut -c1-12 | tr '\n' ' ')" = "${C4:0:12} ${C3:0:12} "
expect_rc 0 "kiln log -f MANIFEST" kiln log -f img/kiln.yaml --pub "$KILN_PUB" -n 1
expect_contains "$out" "${C5:0:12} t " "-f shows that manifest's snapshots"
expect_rc 1 "kiln log of a bad revision fails" kiln log nosuchrev
expect_contains "$err" "nosuchrev" "and names it"
expect_rc 0 "kiln log --json" kiln log --json --pub "$KILN_PUB"
check "--json: six commits, five signed snapshots with their records' manifests" python3 -c '
import json,sys
d=json.loads(sys.argv[1]); store=sys.argv[2]
assert len(d)==6, d
assert d[5]["snapshots"]==[] and d[5]["subject"]=="base"
for c in d[:5]:
    (s,)=c["snapshots"]
    r=json.load(open("%s/commits/%s/t.json"%(store,c["commit"])))
    assert s["status"]=="signed" and s["signed_by"]=="signing.pub" and s["name"]=="t", s
    assert s["manifest"]==r["manifest"] and s["size"]==r["size"] and s["keyid"]==r["signatures"][0]["keyid"], s
    assert c["time"].endswith("Z") and c["subject"].startswith("c")
' "$out" "$store"

# Tampered copies: a bad signature and a corrupt record are shown, exit 3.
cp -r "$store" "$T/tampered"
python3 - "$T/tampered/commits/$C4/t.json" <<'PY'
import json,sys
p=sys.argv[1]; t=open(p).read(); r=json.loads(t); s=r["signatures"][0]["sig"]
flip="B" if s[10]!="B" else "C"
open(p,"w").write(t.replace(s, s[:10]+flip+s[11:]))
PY
echo garbage >>"$T/tampered/commits/$C2/t.json"
expect_rc 3 "kiln log with a bad signature and a corrupt record exits 3" kiln log --store "$T/tampered" --pub "$KILN_PUB"
expect_contains "$out" "${C4:0:12} t sha256:" "the bad one is still listed"
expect_contains "$out" "BAD SIGNATURE" "as BAD SIGNATURE"
expect_contains "$out" "${C2:0:12} t -  CORRUPT RECORD  c2" "the corrupt record is listed"
expect_contains "$err" "commits/$C2/t.json" "and stderr names its file"
expect_contains "$out" "${C5:0:12} t sha256:" "the good ones are still listed"

# ---- git notes ----
for i in 1 2 3 4 5; do
	c=$(eval echo "\$C$i")
	d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"])' "$store/commits/$c/t.json")
	run git notes --ref=kiln show "$c"
	check "git notes --ref=kiln show commit $i" test "$rc" = 0
	expect_contains "$out" "t $d signed-by sha256:" "commit $i's note names its snapshot and signer"
done

# ---- hook uninstall, other people's hooks, core.hooksPath, worktrees ----
expect_rc 0 "hook uninstall" kiln hook uninstall
check "removes the hook" test ! -e "$hook"
run kiln hook status
expect_contains "$out" "not installed" "status: not installed"
expect_rc 0 "uninstall again is a no-op" kiln hook uninstall
echo v6 >img/page.txt && git add -A && git_commit c6
C6=$(git rev-parse HEAD)
check "no build after uninstall" test ! -e "$store/commits/$C6"
run kiln log -n 1
check "kiln log shows the gap" test "$out" = "${C6:0:12} -  (no snapshot)  c6"

printf '#!/bin/sh\necho mine\n' >"$hook" && chmod +x "$hook" && cp "$hook" "$T/mine"
expect_rc 1 "install refuses to overwrite a hook kiln did not write" kiln hook install -f img/kiln.yaml
expect_contains "$err" "kiln did not write" "and says why"
expect_contains "$err" "--force" "and how to go on"
expect_same_file "$T/mine" "$hook" "that hook is untouched"
expect_rc 1 "uninstall refuses to remove it" kiln hook uninstall
expect_same_file "$T/mine" "$hook" "and it is kept"
run kiln hook status
expect_contains "$out" "kiln did not write" "status tells it is someone else's"
expect_rc 0 "install --force" kiln hook install -f img/kiln.yaml --force
expect_same_file "$T/mine" "$hook.pre-kiln" "moves the other hook aside"
check "and installs kiln's" grep -qx '# kiln-hook: post-commit v1' "$hook"
expect_rc 0 "uninstall after --force" kiln hook uninstall
expect_same_file "$T/mine" "$hook" "puts the other hook back"
check "and leaves no .pre-kiln" test ! -e "$hook.pre-kiln"
rm "$hook"

git config core.hooksPath .githooks
expect_rc 0 "install honours core.hooksPath" kiln hook install -f img/kiln.yaml
check "the hook is in core.hooksPath" test -x "$T/repo/.githooks/post-commit"
check "and not in .git/hooks" test ! -e "$hook"
run kiln hook status
expect_contains "$out" "installed: $T/repo/.githooks/post-commit" "status names core.hooksPath's hook"
expect_rc 0 "uninstall from core.hooksPath" kiln hook uninstall
check "removed" test ! -e "$T/repo/.githooks/post-commit"
git config --unset core.hooksPath

git worktree add -q "$T/wt" 2>/dev/null
(cd "$T/wt" && kiln hook install -f img/kiln.yaml) >"$T/wt-install" 2>&1
check "install from a worktree writes the repository's shared hook" test -x "$hook"
(cd "$T/wt" && kiln hook status) >"$T/wt-status"
check "status from the worktree finds it" grep -qF "installed: $hook" "$T/wt-status"
(cd "$T/wt" && kiln hook install -f img/kiln.yaml --foreground) >/dev/null
(cd "$T/wt" && echo wt >img/page.txt && git add -A && git_commit wt) >"$T/wt-commit" 2>&1
W=$(git -C "$T/wt" rev-parse HEAD)
check "a commit in the worktree builds its snapshot into the worktree's store" test -f "$T/wt/snapshots/commits/$W/t.json"
kiln hook uninstall >/dev/null

# ---- kiln gc ----
blobs() { (cd "$store/blobs/sha256" && ls | sort); }
blobs >"$T/blobs.0"
cp "$store/index.json" "$T/index.0"
expect_rc 0 "gc with every record present" kiln gc
expect_contains "$out" "removed 0 blobs (0 B), 0 index entries, 0 cache entries" "removes nothing"
blobs >"$T/blobs.1"
expect_same_file "$T/blobs.0" "$T/blobs.1" "every blob is still there"
expect_same_file "$T/index.0" "$store/index.json" "index.json is untouched"

# What only C3's snapshot uses, from the manifests (not from kiln).
cat >"$T/reach.py" <<'PY'
import glob, json, os, sys
store = sys.argv[1]
def blob(d): return json.load(open(os.path.join(store, "blobs/sha256", d[7:])))
def reach(rec):
    out = {rec["manifest"]}
    m = blob(rec["manifest"]); out |= {m["config"]["digest"]} | {l["digest"] for l in m["layers"]}
    if rec.get("referrer"):
        out |= {rec["envelope"], rec["referrer"]}
        r = blob(rec["referrer"]); out |= {r["config"]["digest"]} | {l["digest"] for l in r["layers"]}
    return out
gone = sys.argv[2]
recs = {p: json.load(open(p)) for p in glob.glob(os.path.join(store, "commits/*/*.json"))}
mine = set().union(*(reach(r) for p, r in recs.items() if r["commit"] == gone))
others = set().union(*(reach(r) for p, r in recs.items() if r["commit"] != gone))
only = sorted(mine - others)
for d in only: print(d[7:])
# the cache entries naming a blob that goes
with open(sys.argv[3], "w") as f:
    for p in glob.glob(os.path.join(store, "cache/*")):
        if open(p).read().split()[0] in {"sha256:" + d[7:] for d in only}: f.write(os.path.basename(p) + "\n")
PY
python3 "$T/reach.py" "$store" "$C3" "$T/cache.expected" >"$T/expected"
check "C3's snapshot has blobs of its own (its files layer, config, manifest, signature)" test "$(wc -l <"$T/expected")" -ge 5
check "and its files layer has a cache entry" test "$(wc -l <"$T/cache.expected")" -ge 1
m3=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"])' "$store/commits/$C3/t.json")
cp "$store/commits/$C3/t.json" "$T/record3"
rm "$store/commits/$C3/t.json"

expect_rc 0 "gc --dry-run" kiln gc --dry-run
expect_contains "$out" "would remove $(wc -l <"$T/expected") blobs" "says what it would remove"
blobs >"$T/blobs.2"
expect_same_file "$T/blobs.0" "$T/blobs.2" "and deletes nothing"
expect_same_file "$T/index.0" "$store/index.json" "nor touches index.json"

ncache=$(ls "$store/cache" | wc -l)
echo stale >"$store/tmp/blob-left-by-a-killed-build"
expect_rc 0 "gc after deleting C3's record" kiln gc
check "stale tmp/ files are gone" test ! -e "$store/tmp/blob-left-by-a-killed-build"
expect_contains "$out" "removed $(wc -l <"$T/expected") blobs" "reports the blobs it removed"
expect_contains "$out" "2 index entries" "and two index entries (the image ref and its signature's referrer)"
expect_contains "$out" "$(wc -l <"$T/cache.expected") cache entr" "and the cache entries of the removed layers"
blobs >"$T/blobs.3"
comm -23 "$T/blobs.0" "$T/blobs.3" >"$T/removed"
expect_same_file "$T/expected" "$T/removed" "gc removed exactly the blobs only C3's snapshot used"
check "the cache lost exactly those entries" test "$(ls "$store/cache" | wc -l)" = $((ncache - $(wc -l <"$T/cache.expected")))
check "index.json no longer names C3's manifest" sh -c "! grep -q '$m3' '$store/index.json'"
for c in "$C1" "$C2" "$C4" "$C5"; do
	run skopeo inspect "oci:$store:t@$c"
	check "skopeo still inspects t@${c:0:12}" test "$rc" = 0
done
run skopeo inspect "oci:$store:t@$C3"
check "but not the collected t@${C3:0:12}" test "$rc" != 0
run umoci unpack --rootless --image "$store:t@$C5" "$T/bundle"
check "umoci still unpacks a survivor" test "$rc" = 0
check "with its file" test "$(cat "$T/bundle/rootfs/srv/page.txt")" = v5
run /usr/bin/python3 "$KILN_TOP/tests/lib/oci-validate.py" "$store"
check "the layout still validates against the OCI schemas" test "$rc" = 0
expect_rc 0 "kiln log after gc" kiln log --pub "$KILN_PUB"
expect_contains "$out" "${C3:0:12} -  (no snapshot)  c3" "shows C3 without a snapshot"
expect_rc 0 "a second gc" kiln gc
expect_contains "$out" "removed 0 blobs" "finds nothing more"
expect_rc 0 "gc --json" kiln gc --json
check "--json counts" python3 -c '
import json,sys; d=json.loads(sys.argv[1])
assert d["blobs_removed"]==0 and d["removed"]==[] and d["records"]==4 and d["blobs_kept"]>0, d' "$out"

# The cache stayed consistent: rebuilding C3 gives the same image.
expect_rc 0 "rebuild C3 after gc" kiln build -f img/kiln.yaml --rev "$C3"
check "the same manifest digest as before" test "$(printf '%s\n' "$out" | tail -1)" = "$m3"

# Never on doubt.
blobs >"$T/blobs.4"
cp "$store/commits/$C2/t.json" "$T/record2"
echo garbage >>"$store/commits/$C2/t.json"
rm "$store/commits/$C4/t.json"
expect_rc 3 "gc refuses when a record is corrupt (exit 3: it fails its check)" kiln gc
expect_contains "$err" "commits/$C2/t.json" "and names the record"
blobs >"$T/blobs.5"
expect_same_file "$T/blobs.4" "$T/blobs.5" "deleting nothing"
cp "$T/record2" "$store/commits/$C2/t.json"
d2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"])' "$T/record2")
mv "$store/blobs/sha256/${d2:7}" "$T/m2"
expect_rc 1 "gc refuses when a recorded manifest is missing" kiln gc
expect_contains "$err" "$d2" "and names it"
mv "$T/m2" "$store/blobs/sha256/${d2:7}"

# A store with blobs but no record at all is not emptied without --force.
cp -r "$store" "$T/norecords" && rm -r "$T/norecords/commits"
expect_rc 1 "gc refuses to empty a store without records" kiln gc --store "$T/norecords"
expect_contains "$err" "no snapshot record" "and says why"
expect_rc 0 "gc --force empties it" kiln gc --force --store "$T/norecords"
check "no blob left" test -z "$(ls "$T/norecords/blobs/sha256")"

# ---- a failed background build says why in its log ----
kiln hook install -f img/kiln.yaml >/dev/null
echo v7 >img/page.txt && git add -A
KILN_KEY="$T/no-such.key" run git_commit c7
c=$(git rev-parse HEAD)
check "a background build without a key: the commit still succeeds" test "$rc" = 0
check "its log ends" wait_log "$logs/$c.log"
check "with the failure" grep -q '^kiln hook: done (exit 1)' "$logs/$c.log"
check "and says why (no signing key)" grep -q "no signing key" "$logs/$c.log"
run kiln log -n 1
check "kiln log points at the failed hook build's log" test "$out" = "${c:0:12} -  (no snapshot: the hook's build failed, see $logs/$c.log)  c7"
run kiln log -n 1 --json
check "--json: hook_build failed, with its log" python3 -c '
import json,sys; (d,)=json.loads(sys.argv[1])
assert d["snapshots"]==[] and d["hook_build"]=={"status":"failed","log":sys.argv[2]}, d' "$out" "$logs/$c.log"
printf 'kiln hook: building\n' >"$logs/$C6.log"
run kiln log -n 1 "$C6"
expect_contains "$out" "(no snapshot yet: the hook's build is running or was interrupted, see $logs/$C6.log)" "an unfinished hook build is shown as such"
kiln hook uninstall >/dev/null

# Two manifests, one hook: one line per snapshot in kiln log.
mkdir -p img2 && cp img/kiln.yaml img/kiln.lock img/page.txt img2/
sed -i 's/^name: t$/name: u/' img2/kiln.yaml
expect_rc 0 "lock a second manifest" kiln lock -f img2/kiln.yaml
expect_rc 0 "hook install for two manifests" kiln hook install --foreground -f img/kiln.yaml -f img2/kiln.yaml
run kiln hook status
expect_contains "$out" "builds: img/kiln.yaml img2/kiln.yaml" "status lists both"
git add -A && run git_commit c8
c=$(git rev-parse HEAD)
run kiln log -n 1 --pub "$KILN_PUB"
check "kiln log shows both snapshots of the commit, by name" test "$(printf '%s\n' "$out" | cut -d' ' -f1,2 | tr '\n' ' ')" = "${c:0:12} t ${c:0:12} u "
expect_rc 0 "kiln log -f shows only that manifest's" kiln log -n 1 -f img2/kiln.yaml --pub "$KILN_PUB"
check "one line, u" test "$(printf '%s\n' "$out" | cut -d' ' -f2)" = u
kiln hook uninstall >/dev/null

expect_rc 0 "kiln log --help" kiln log --help
expect_contains "$out" "usage: kiln log" "log has help"
expect_rc 0 "kiln hook --help" kiln hook --help
expect_rc 0 "kiln gc --help" kiln gc --help
expect_rc 2 "kiln hook without a verb is a usage error" kiln hook

done_testing
