#!/usr/bin/env bash
# Crash safety of kiln build (docs/building.md, The store: every write atomic, a killed
# build leaves no half blob visible, concurrent processes take a lock):
# builds of new commits are SIGKILLed at random moments, and after each
# kill the store is still a valid OCI layout that skopeo and umoci read,
# every blob and every cached package hashes to its name, and the next
# build works.  Two builds at once on one store both succeed.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
store="$T/store"
pkgs="$KILN_CACHE/packages/sha256"
ms() { echo $(($(date +%s%N) / 1000000)); }

# A manifest with a closure of 15 packages and a files: input big enough
# (8 MB that do not compress) that a build takes a while and writes a
# sizeable new layer blob each time.
mkdir -p "$T/repo/img/www" && cd "$T/repo" && git init -q .
write_manifest img/kiln.yaml S app=2.0 layout-edge=1.0 uses-ge=1.0 cycle-a=1.0 alt-both=1.0 \
	epoch-app=1:1.0-1 mta-pref-user=1.0 range-both=1.0
printf 'files:\n  - {src: www/, dst: /srv/www/}\nscripts: skip\n' >>img/kiln.yaml
head -c 8000000 /dev/urandom >img/www/big.bin
echo 0 >img/www/iter.txt
expect_rc 0 "lock" kiln lock -f img/kiln.yaml
git add -A && git_commit first
C0=$(git rev-parse HEAD)
ref0="t@$C0"

expect_rc 0 "build the first image" kiln build -f img/kiln.yaml --store "$store"
D0=$(printf '%s\n' "$out" | tail -1)
check "its digest is printed" kiln_digest_ok "$D0"

# One commit per build to come, each with another files: input, and every
# other one with app pinned at 1.0 instead of 2.0 (other package layers).
cp img/kiln.yaml "$T/pin2.yaml" && cp img/kiln.lock "$T/pin2.lock"
sed -i 's/app: "2.0"/app: "1.0"/' img/kiln.yaml
expect_rc 0 "lock with app 1.0" kiln lock -f img/kiln.yaml
cp img/kiln.yaml "$T/pin1.yaml" && cp img/kiln.lock "$T/pin1.lock"
n_iter=${KILN_T0230_KILLS:-15}   # more for a longer soak: KILN_T0230_KILLS=200 tests/run t0230
for i in $(seq 1 $((n_iter + 3))); do
	cp "$T/pin$((i % 2 + 1)).yaml" img/kiln.yaml && cp "$T/pin$((i % 2 + 1)).lock" img/kiln.lock
	echo "$i" >img/www/iter.txt && git add -A && git_commit "iteration $i"
	C[i]=$(git rev-parse HEAD)
done

# How long a full build takes: a new commit, --no-cache, empty package cache.
rm -rf "$KILN_CACHE"
t0=$(ms)
expect_rc 0 "a full build of another commit, timed" kiln build --no-cache -f img/kiln.yaml --rev "${C[n_iter + 1]}" --store "$store"
full=$(($(ms) - t0))
echo "# a full build takes $full ms"

blobs_ok() { # every file under blobs/ is a complete blob named by its sha256
	local bad
	bad=$(cd "$store/blobs" && find . -mindepth 1 ! -path ./sha256 \
		! \( -type f -regextype posix-extended -regex './sha256/[0-9a-f]{64}' \) -print)
	[ -z "$bad" ] || { echo "# not a blob: $bad"; return 1; }
	bad=$(cd "$store/blobs/sha256" && for f in *; do [ "$(sha256sum <"$f" | cut -c1-64)" = "$f" ] || echo "$f"; done)
	[ -z "$bad" ] || { echo "# do not hash to their names: $bad"; return 1; }
}
packages_ok() { # every cached package hashes to its name
	local bad
	[ -d "$pkgs" ] || return 0
	bad=$(cd "$pkgs" && for f in *; do [ -e "$f" ] || continue
		[ "$(sha256sum <"$f" | cut -c1-64)" = "$f" ] || echo "$f"; done)
	[ -z "$bad" ] || { echo "# cached packages that do not hash to their names: $bad"; return 1; }
}
index_ok() { # index.json is JSON and every manifest it names is in the store, with its blobs
	/usr/bin/python3 - "$store" <<-'PY'
	import json, os, sys
	store = sys.argv[1]
	def blob(d):
	    return os.path.join(store, "blobs", *d.split(":", 1))
	index = json.load(open(os.path.join(store, "index.json")))
	for m in index["manifests"]:
	    man = json.load(open(blob(m["digest"])))
	    for d in [man["config"]] + man["layers"]:
	        if os.path.getsize(blob(d["digest"])) != d["size"]:
	            sys.exit("%s: blob %s has the wrong size" % (m["digest"], d["digest"]))
	PY
}

# ---------------------------------------------------------------------------
# Kill builds at random moments.
killed=0 finished=0
for i in $(seq 1 "$n_iter"); do
	# Every third build starts with an empty package cache, so some kills
	# land in the middle of downloads (the .part files stay for the next).
	[ $((i % 3)) = 1 ] && rm -rf "$pkgs"
	delay=$((RANDOM % (full + 1)))
	"$KILN" -q build --no-cache -f img/kiln.yaml --rev "${C[i]}" --store "$store" >/dev/null 2>"$T/kill.err" &
	pid=$!
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	{ wait "$pid"; } 2>/dev/null   # (no "Killed" job notice in the log)
	rc=$?
	case $rc in
	137) killed=$((killed + 1)) ;;
	0) finished=$((finished + 1)) ;;
	*) echo "# build $i exited $rc:"; sed 's/^/#   /' "$T/kill.err" ;;
	esac
	check "kill $i (after $delay ms): the build was killed or had finished" test "$rc" = 137 -o "$rc" = 0
	run /usr/bin/python3 -m json.tool "$store/index.json"
	check "kill $i: index.json parses" test "$rc" = 0
	check "kill $i: every manifest index.json names is complete" index_ok
	run skopeo inspect "oci:$store:$ref0"
	check "kill $i: skopeo inspect reads the first image" test "$rc" = 0
	expect_contains "$out" "\"Digest\": \"$D0\"" "kill $i: with its digest"
	rm -rf "$T/bundle"
	run umoci unpack --rootless --image "$store:$ref0" "$T/bundle"
	check "kill $i: umoci unpacks the first image" test "$rc" = 0
	check "kill $i: every file under blobs/ is a complete blob" blobs_ok
	check "kill $i: every cached package hashes to its name" packages_ok
done
echo "# $killed builds killed, $finished finished before the kill"
check "builds were killed mid-way" test "$killed" -gt 0
cmp -s "$T/bundle/rootfs/srv/www/big.bin" img/www/big.bin
check "the first image's files are intact" test $? = 0
echo "# left in the store by killed builds: $(find "$store" -name '*.tmp.*' -o -path "$store/tmp/*" | wc -l) temporary files"

# The store and the package cache work on: a normal build completes, and
# the next one reuses everything.
c1=${C[n_iter + 2]}
expect_rc 0 "after the kills, a normal build completes" kiln build -f img/kiln.yaml --rev "$c1" --store "$store"
D_last=$(printf '%s\n' "$out" | tail -1)
check "and prints a digest" kiln_digest_ok "$D_last"
expect_rc 0 "the same build again" kiln build -f img/kiln.yaml --rev "$c1" --store "$store"
expect_not_contains "$out" " built " "reuses every layer"
expect_contains "$out" "cached" "and says cached"
check "same digest" test "$(printf '%s\n' "$out" | tail -1)" = "$D_last"
expect_rc 0 "--no-cache rebuilds the same bytes" kiln build --no-cache -f img/kiln.yaml --rev "$c1" --store "$store"
check "same digest with --no-cache" test "$(printf '%s\n' "$out" | tail -1)" = "$D_last"
check "every blob hashes to its name" blobs_ok
check "every cached package hashes to its name" packages_ok
run /usr/bin/python3 "$KILN_TOP/tests/lib/oci-validate.py" "$store"
check "every JSON document validates against the OCI image-spec schemas" test "$rc" = 0
[ "$rc" = 0 ] || printf '%s\n' "$out" | grep -v '^valid' | head | sed 's/^/# /'

# Two builds at once on one store (and one package cache): the store lock
# serializes them; both succeed with the same digest.
rm -rf "$pkgs"
c2=${C[n_iter + 3]}   # never built yet: both write its new blobs
"$KILN" -q build --no-cache -f img/kiln.yaml --rev "$c2" --store "$store" >"$T/a.out" 2>"$T/a.err" &
pa=$!
"$KILN" -q build --no-cache -f img/kiln.yaml --rev "$c2" --store "$store" >"$T/b.out" 2>"$T/b.err" &
pb=$!
wait "$pa"; ra=$?
wait "$pb"; rb=$?
check "two concurrent builds: the first succeeds" test "$ra" = 0
check "two concurrent builds: the second succeeds" test "$rb" = 0
cat "$T/a.err" "$T/b.err" | head | sed 's/^/# /'
da=$(tail -1 "$T/a.out") db=$(tail -1 "$T/b.out")
check "both print a digest" kiln_digest_ok "$da"
check "the same digest" test "$da" = "$db"
run skopeo inspect "oci:$store:t@$c2"
expect_contains "$out" "\"Digest\": \"$da\"" "skopeo reads the image they built"
check "index.json names it once" test "$(grep -c "\"t@$c2\"" "$store/index.json")" = 1
check "every blob still hashes to its name" blobs_ok
check "every cached package still hashes to its name" packages_ok
done_testing
