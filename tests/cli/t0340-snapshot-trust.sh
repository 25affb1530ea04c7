#!/usr/bin/env bash
# Snapshot trust (issue 9): a snapshot named by NAME, NAME@REV or @REV is
# used by run, export and diff only when its record verifies against
# .kiln/trusted/ (the policy kiln verify and kiln log apply); sha256: stays
# content-addressed; --insecure / KILN_INSECURE=1 for --no-sign stores.
# Then the store's crash and damage cases: a notes ref lock left by a
# SIGKILLed kiln is recovered, a cached build over a damaged layer blob
# rebuilds it, and verify names a snapshot index.json lacks (skopeo judges),
# which the next build of the commit adds back.  Needs root (kiln run).
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0340-$$"
unset KILN_INSECURE
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
# set_field FILE KEY VALUE: rewrite a record with one member changed, in
# kiln's canonical form (so only the signature can tell).
set_field() {
	python3 - "$@" <<'PY'
import json, sys
p, k, v = sys.argv[1:]
r = json.load(open(p)); r[k] = v
open(p, "w").write(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n")
PY
}
flip() { # FILE OFFSET: xor one byte
	python3 -c 'import sys; p,o=sys.argv[1],int(sys.argv[2]); b=bytearray(open(p,"rb").read()); o=o%len(b); b[o]^=1; open(p,"wb").write(bytes(b))' "$1" "$2"
}

mkdir -p "$T/repo/www" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<'YAML'
files:
  - {src: www/, dst: /srv/www/}
YAML
echo one >www/index.html
expect_rc 0 "lock" kiln lock
git add -A && git_commit one
A=$(git rev-parse HEAD)
expect_rc 0 "build A" kiln build
IMG_A=$(printf '%s\n' "$out" | tail -1)
echo two >www/index.html
git add -A && git_commit two
B=$(git rev-parse HEAD)
expect_rc 0 "build B" kiln build
IMG_B=$(printf '%s\n' "$out" | tail -1)
store="$T/repo/snapshots"
blob() { echo "$store/blobs/sha256/${1#sha256:}"; }
recA="$store/commits/$A/t.json"
cp -a "$store" "$T/pristine"
restore() { rm -rf "$store" && cp -a "$T/pristine" "$store"; }
cat_page() { kiln run --rm --network none "$@" cat /srv/www/index.html; }

# ---- a signed, trusted snapshot is used by every form of its name
expect_rc 0 "run t@A (signed by a trusted key)" cat_page "t@$A"
check "runs A's image" test "$out" = one
expect_rc 0 "run @REV" cat_page "@$A"
check "the same image" test "$out" = one
expect_rc 0 "run NAME (HEAD)" cat_page t
check "HEAD's image" test "$out" = two

# ---- the record of A edited to name B's image: log says BAD SIGNATURE, and
# nothing uses it
set_field "$recA" manifest "$IMG_B"
run kiln log
expect_contains "$out" "${A:0:12} t ${IMG_B:0:19}  BAD SIGNATURE" "kiln log shows the edited record as BAD SIGNATURE"
expect_rc 3 "kiln run t@A refuses it: exit 3" cat_page "t@$A"
expect_not_contains "$out" "two" "and ran nothing (not B's image)"
expect_contains "$err" "record of t@${A:0:12}: no signature verifies under a trusted key" "says the signature does not verify"
expect_contains "$err" "changed after it was signed" "says the record was changed"
expect_contains "$err" "--insecure or KILN_INSECURE=1" "and names the way out"
expect_rc 3 "kiln run @REV refuses it too" cat_page "@$A"
expect_rc 3 "kiln export t@A: exit 3" kiln export "t@$A" -o "$T/a.tar"
check "and writes no archive" test ! -e "$T/a.tar"
expect_contains "$err" "no signature verifies" "export says why"
expect_rc 3 "kiln diff t@A t@B: exit 3" kiln diff "t@$A" "t@$B"
expect_contains "$err" "snapshot t@$A" "diff names the snapshot"
expect_rc 3 "kiln verify agrees: exit 3" kiln verify "t@$A"
expect_rc 0 "a sha256: name needs no record: A's image runs by digest" cat_page "$IMG_A"
check "and it is A's" test "$out" = one
expect_rc 0 "export by digest" kiln export "$IMG_A" -o "$T/digest.tar"
expect_rc 0 "--insecure uses the record unchecked, as asked" cat_page --insecure "t@$A"
check "(which names B's image)" test "$out" = two
restore

# ---- an untrusted signer, no trusted key at all
kiln -q keygen --key "$T/other.key" --pub "$T/other.pub"
mv .kiln/trusted/test.pub "$T/test.pub.away"
expect_rc 3 "no key in .kiln/trusted/: run by name exits 3" cat_page "t@$A"
expect_contains "$err" "no trusted public key in '$T/repo/.kiln/trusted'" "naming the directory"
cp "$T/other.pub" .kiln/trusted/other.pub
expect_rc 3 "only another key trusted: exit 3" cat_page "t@$A"
expect_contains "$err" "which is not a trusted key" "says the signer is not trusted"
expect_contains "$err" "put the signer's .pub in" "and how to trust it"
rm .kiln/trusted/other.pub && mv "$T/test.pub.away" .kiln/trusted/test.pub
expect_rc 0 "the key trusted again: it runs" cat_page "t@$A"

# ---- unsigned (--no-sign) snapshots: refused unless asked for
git_commit_empty() { git -c user.name=t -c user.email=t@localhost commit -q --allow-empty -m "$1"; }
git_commit_empty unsigned
U=$(git rev-parse HEAD)
expect_rc 0 "kiln build --no-sign" kiln build --no-sign
expect_rc 3 "run of an unsigned snapshot: exit 3" cat_page t
expect_contains "$err" "not signed (built with --no-sign)" "says it is not signed"
expect_contains "$err" "--insecure or KILN_INSECURE=1" "and how to use it anyway"
expect_rc 3 "export of it: exit 3" kiln export t -o "$T/u.tar"
expect_rc 0 "run --insecure" cat_page --insecure t
expect_rc 0 "KILN_INSECURE=1 run" env KILN_INSECURE=1 "$KILN" run --rm --network none t true
expect_rc 0 "KILN_INSECURE=1 export" env KILN_INSECURE=1 "$KILN" export t -o "$T/u.tar"
expect_rc 0 "diff --insecure" kiln diff --insecure "t@$B" t
expect_rc 3 "KILN_INSECURE=0 is not insecure" env KILN_INSECURE=0 "$KILN" run --rm --network none t true
# A snapshot index.json names but no record does (a store from before
# records, or a deleted record): nothing signed says what it is.
rm "$store/commits/$U/t.json"
expect_rc 3 "a snapshot with no record: exit 3" kiln run --rm --network none t true
expect_contains "$err" "has no record" "says so"
expect_rc 0 "--insecure takes index.json's word" kiln run --rm --network none --insecure t true
git reset -q --hard "$B"
restore

# ---- the notes ref lock: a kiln SIGKILLed while holding it
lock="$T/repo/.git/refs/notes/kiln.lock"
git_commit_empty notes1
N1=$(git rev-parse HEAD)
# strace kills the build as libgit2 moves the written ref lock into place.
run strace -f -qq -o /dev/null -P "$lock" -e trace=link,rename -e inject=link,rename:signal=KILL:when=1 -- "$KILN" -q build
check "a build SIGKILLed inside the note update ($rc)" test "$rc" = 137
check "left the notes ref lock behind" test -f "$lock"
expect_rc 0 "the next build succeeds" kiln build
expect_not_contains "$err" "warning" "without a warning about the note"
check "it removed the dead kiln's lock" test ! -e "$lock"
run git notes --ref=kiln show "$N1"
expect_contains "$out" "t sha256:" "and the commit has its note (git notes show)"
git_commit_empty notes2
N2=$(git rev-parse HEAD)
# A lock no kiln made (a git killed long ago), a minute old or more.
: >"$lock" && touch -d '-5 min' "$lock"
expect_rc 0 "a build over an old orphaned ref lock" kiln build
expect_not_contains "$err" "warning" "writes its note without a warning"
run git notes --ref=kiln show "$N2"
expect_contains "$out" "t sha256:" "(git notes show)"
# A fresh lock no kiln holds (a git command at work, as far as kiln can
# tell) is left alone, and the warning says what to do.
git_commit_empty notes3
N3=$(git rev-parse HEAD)
: >"$lock"
expect_rc 0 "a build while another git holds the notes ref" kiln build
expect_contains "$err" "'$lock' exists" "warns naming the lock file"
expect_contains "$err" "remove it if no git command is running" "and what to do"
check "and left the lock alone" test -f "$lock"
rm -f "$lock"
expect_rc 0 "the next build" kiln build
run git notes --ref=kiln show "$N3"
expect_contains "$out" "t sha256:" "writes the note"
git reset -q --hard "$B"

# ---- a cached build over a damaged layer blob
manifest_json=$(cat "$(blob "$IMG_A")")
layers=$(python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.loads(sys.argv[1])["layers"]))' "$manifest_json")
PKG=$(echo $layers | cut -d' ' -f2)
FILES=$(echo $layers | awk '{print $NF}')
expect_rc 0 "(a cached rebuild of A)" kiln build --rev "$A"
# A cached build only stats its layer blobs: their bytes are not read.
run strace -f -qq -e trace=open,openat -o "$T/open.log" -- "$KILN" build --rev "$A"
check "a cached build reads no layer blob" sh -c "! grep -qE '${PKG#sha256:}|${FILES#sha256:}' '$T/open.log'"
damage() { # NAME HOW… : damage the package layer blob, rebuild A, judge
	local name=$1; shift
	"$@"
	expect_rc 0 "$name: a cached rebuild of A succeeds" kiln build --rev "$A"
	expect_contains "$out" "rebuilding it" "$name: it says the cached blob is damaged and rebuilt"
	check "$name: the same image as before" test "$(printf '%s\n' "$out" | tail -1)" = "$IMG_A"
	expect_rc 0 "$name: and the snapshot verifies" kiln verify "t@$A"
}
damage "a flipped byte" flip "$(blob "$PKG")" 1000
# The same length and mtime as before: only the bytes (and ctime) moved.
keep_mtime_flip() { cp -p "$(blob "$PKG")" "$T/ref"; flip "$(blob "$PKG")" 2000; touch -r "$T/ref" "$(blob "$PKG")"; }
damage "a flipped byte, mtime put back" keep_mtime_flip
damage "a truncated blob" truncate -s 100 "$(blob "$PKG")"
damage "a missing blob" rm -f "$(blob "$FILES")"
expect_rc 0 "then a cached build again" kiln build --rev "$A"
expect_not_contains "$out" " built " "every layer cached"

# ---- index.json: a build killed before it names the snapshot
restore
git_commit_empty index1
I=$(git rev-parse HEAD)
# strace kills it as it opens index.json to add the snapshot (after the
# blobs and the record are written: the first time a build opens it).
# kiln opens it beneath the store's descriptor, openat(fd, "index.json")
# (docs/building.md): -P matches that relative name as well.
run strace -f -qq -o /dev/null -P "$store/index.json" -P index.json -e trace=open,openat \
	-e inject=open,openat:signal=KILL:when=1 -- "$KILN" -q build
check "a build SIGKILLed as it opens index.json ($rc)" test "$rc" = 137
check "recorded the snapshot" test -f "$store/commits/$I/t.json"
run skopeo inspect "oci:$store:t@$I"
check "skopeo finds no t@I in the store" test "$rc" != 0
expect_rc 3 "kiln verify t@I: exit 3" kiln verify "t@$I"
expect_contains "$err" "index.json has no entry for t@$I" "names the missing index entry"
expect_rc 0 "the next build of the commit" kiln build
IMG_I=$(printf '%s\n' "$out" | tail -1)
run skopeo inspect "oci:$store:t@$I"
check "skopeo finds it now" test "$rc" = 0
check "as the recorded image" test "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["Digest"])' "$out")" = "$IMG_I"
expect_rc 0 "and it verifies" kiln verify "t@$I"
# An entry removed by hand, for an older commit, is named the same way.
python3 - "$store/index.json" "t@$A" <<'PY'
import json, sys
p, ref = sys.argv[1:]
i = json.load(open(p))
i["manifests"] = [m for m in i["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != ref]
json.dump(i, open(p, "w"), indent=2, sort_keys=True)
PY
expect_rc 3 "verify of a snapshot whose index entry was removed: exit 3" kiln verify "t@$A"
expect_contains "$err" "kiln build --rev ${A:0:12}" "says how to add it back"
expect_rc 0 "kiln build --rev A" kiln build --rev "$A"
expect_rc 0 "adds it back: verify" kiln verify "t@$A"
run skopeo inspect "oci:$store:t@$A"
check "skopeo finds t@A again" test "$rc" = 0
done_testing
