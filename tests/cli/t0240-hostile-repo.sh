#!/usr/bin/env bash
# A cloned repository cannot make kiln read, write or delete anything
# outside the repository, the store and the cache (issue 9).  A repository
# commits its own snapshot store, then, one variant per branch, replaces a
# piece of it (snapshots/, blobs/, blobs/sha256/, tmp/, cache/, commits/,
# commits/<id>/, index.json, a blob, .lock), of .kiln/ or .gitignore, or of
# a cache the user keeps inside the work tree, with a symlink to a canary
# tree outside.  In a fresh `git clone` of each, every command that opens
# the store (build, gc, gc --dry-run, verify, audit, log, diff, export,
# run) or writes into the work tree (keygen, init, lock) either fails with
# exit 3 and an error naming the symlink, or succeeds without touching it;
# and the canary tree is exactly as it was: same names, same bytes (sha256),
# same modes and times, and, where the filesystem keeps access times, no
# file of it even read.  Then: stale temporary files of killed writers
# (commits/<id>/*.json.tmp.*, kiln.lock.tmp.*) are swept, safely.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_MIRROR="$KILN_TEST_HTTP/good"
# Containers (kiln run) under $T and a cgroup of this run, no network.
export KILN_ROOT="$T/kroot" KILN_CGROUP_PARENT="kiln-t0240-$$"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

# ---- the canary: a tree outside every repository, named to tempt each sweep.
# Deep enough below /tmp that no other test's `find /tmp -maxdepth 3` lists
# it (that would move its directories' access times).
V="$T/out/side/victim"
HEX1=$(printf a | sha256sum | cut -c1-64)
HEX2=$(printf b | sha256sum | cut -c1-64)
mkdir -p "$V/sub" "$V/sha256"
for f in keep.txt .hidden notes.tmp.123456 index.json.tmp.AbCdEf "blob-$HEX1-XyZ123" "$HEX1" "$HEX2" \
	t.json t.json.tmp.Qw12Er kiln.lock.tmp.Ab12Cd "sha256/$HEX1" "sub/$HEX2" sub/a.tmp.b; do
	printf 'canary %s\n' "$f" >"$V/$f"
done
"$KILN" -q keygen --key "$T/other.key" --pub "$V/evil.pub" >/dev/null
chmod 0640 "$V/keep.txt"
# Old access times below the modification times: with relatime, any read
# of a canary file moves its access time.
canary_times() { find "$V" -depth -exec touch -h -m -d '2020-01-01 00:00:00' {} + &&
	find "$V" -exec touch -h -a -d '2001-01-01 00:00:00' {} +; }
canary_times
tar -C "$V" -cf "$T/canary.tar" .
mapfile -t canary_paths < <(cd "$V" && find . | sort)
(cd "$V" && find . -printf '%p %y\n' | sort) >"$T/canary.list"
(cd "$V" && find . -type f -exec sha256sum {} + | sort -k2) >"$T/canary.sums"
canary_times
# stat alone reads nothing (find does list: it comes second).  A file's
# access time says whether it was read; a directory's is left out: other
# tests running meanwhile may list /tmp deeply.
canary_stat() {
	(cd "$V" && stat -c '%n %F %s %a %Y %X' "${canary_paths[@]}" 2>&1) |
		awk '$2 == "directory" { $NF = "-" } { print }'
}
canary_stat >"$T/canary.stat"
# Does this filesystem move access times at all?  (A probe, not a canary.)
echo probe >"$T/atime-probe" && touch -a -d '2001-01-01' "$T/atime-probe" && cat "$T/atime-probe" >/dev/null
if [ "$(stat -c %X "$T/atime-probe")" -gt 1000000000 ] && [ "$(stat -c %X "$T/atime-probe")" != "$(date -d 2001-01-01 +%s)" ]; then
	atime_works=1
else
	atime_works=0
	echo "# access times are not updated on this filesystem: reads of the canary are not detected"
fi

# canary_intact WHAT: nothing under $V was created, removed, changed or read.
canary_intact() {
	local now ok=0
	now=$(canary_stat)
	[ "$atime_works" = 1 ] || now=$(printf '%s\n' "$now" | awk '{$NF=""; print}')
	local want
	want=$(cat "$T/canary.stat")
	[ "$atime_works" = 1 ] || want=$(printf '%s\n' "$want" | awk '{$NF=""; print}')
	if [ "$now" != "$want" ]; then
		ok=1
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$now") | head -10 | sed 's/^/# canary: /'
	fi
	if ! (cd "$V" && find . -printf '%p %y\n' | sort | cmp -s - "$T/canary.list"); then
		ok=1
		(cd "$V" && find . -printf '%p %y\n' | sort | diff "$T/canary.list" - | head -10 | sed 's/^/# canary: /')
	fi
	if ! (cd "$V" && sha256sum --quiet -c "$T/canary.sums" >/dev/null 2>&1); then
		ok=1
		echo "# canary: sha256sum -c fails"
	fi
	# Each command is judged on its own: a damaged canary is put back.
	if [ "$ok" != 0 ]; then
		find "$V" -mindepth 1 -delete 2>/dev/null; rm -rf "$V"; mkdir -p "$V"
		tar -C "$V" -xf "$T/canary.tar"
	fi
	canary_times
	_report $ok "$1: the canary outside is untouched (names, bytes, modes, times)"
}

# ---- the origin: a busybox image, its trusted key, its store committed
mkdir -p "$T/origin" && cd "$T/origin" && git init -q .
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
expect_rc 0 "lock the image" kiln lock
mkdir -p .kiln/trusted && cp "$KILN_PUB" .kiln/trusted/test.pub
git add -A && git_commit base
C0=$(git rev-parse HEAD)
expect_rc 0 "build it" kiln build
MANIFEST=$(printf '%s\n' "$out" | tail -1)
check "a digest is printed" kiln_digest_ok "$MANIFEST"
LAYER=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][0]["digest"][7:])' \
	"snapshots/blobs/sha256/${MANIFEST#sha256:}")
check "the image has a layer" test -f "snapshots/blobs/sha256/$LAYER"
git add -f snapshots && git_commit "the store"
S=$(git rev-parse HEAD)

# variant NAME: a branch from the committed store; the commands after it
# run in the origin, replacing one piece with a symlink out.
variant() { git checkout -q -B "v-$1" "$S"; }
link() { # PATH TARGET: PATH becomes a symlink to TARGET, committed
	git rm -rq --cached "$1" 2>/dev/null
	rm -rf "$1"
	mkdir -p "$(dirname "$1")"
	ln -s "$2" "$1"
	git add -f "$1"
}
variant store;     link snapshots "$V"; git_commit store
variant blobs;     link snapshots/blobs "$V"; git_commit blobs
variant sha256;    link snapshots/blobs/sha256 "$V"; git_commit sha256
variant tmp;       link snapshots/tmp "$V"; git_commit tmp
variant cache;     link snapshots/cache "$V"; git_commit cache
variant commits;   link snapshots/commits "$V"; git_commit commits
variant commit;    link "snapshots/commits/$C0" "$V"; git_commit commit
variant index;     link snapshots/index.json "$V/keep.txt"; git_commit index
variant blob;      link "snapshots/blobs/sha256/$LAYER" "$V/$HEX1"; git_commit blob
variant lockfile;  link snapshots/.lock "$V/made-by-kiln"; git_commit lockfile
variant trusted;   link .kiln/trusted "$V"; git_commit trusted
variant dotkiln;   link .kiln "$V"; git_commit dotkiln
variant gitignore; link .gitignore "$V/keep.txt"; git_commit gitignore
variant klock;     link kiln.lock "$V/keep.txt"; git_commit klock
# A cache the user put inside the work tree ($KILN_CACHE=.kcache below).
variant workcache; link .kcache/packages "$V"; link .kcache/indexes "$V/sub"; link .kcache/tmp "$V/sha256"
git_commit workcache
git checkout -q "$S"
check "every variant is committed as a symlink" \
	test "$(git ls-tree v-tmp snapshots/tmp | cut -c1-6)" = 120000

# The commands, each in a fresh clone of the variant.
declare -A cmd=(
	[build]="$KILN build"
	[build-rev]="$KILN build --rev $C0"
	[gc-dry]="$KILN gc --dry-run"
	[gc]="$KILN gc"
	[verify]="$KILN verify t@$C0"
	[audit]="$KILN audit $C0"
	[log]="$KILN log"
	[diff]="$KILN diff t@$C0 t@$C0"
	[export]="$KILN export t@$C0 -o $T/export.tar"
	[keygen]="env -u KILN_KEY $KILN keygen"
	[init]="env -u KILN_KEY $KILN init --force --suite containers --keyring $KILN_TEST_KEYRING -p busybox-fixture"
	[lock]="$KILN lock"
)
order=(build build-rev gc-dry gc verify audit log diff export keygen init lock)
if [ "$(id -u)" = 0 ]; then
	cmd[run]="$KILN run --rm --network none t@$C0 true"
	order+=(run)
else
	echo "# not root: kiln run is not tried"
fi
ALL_STORE="build build-rev gc-dry gc verify audit log diff export run"
# What each variant must refuse (exit 3 naming the link); every other
# command succeeds or is refused the same way, never anything else.
declare -A must_fail=(
	[store]="$ALL_STORE"          [blobs]="$ALL_STORE"   [sha256]="$ALL_STORE"
	[tmp]="build build-rev gc-dry gc"
	[cache]="build build-rev gc-dry gc"
	[commits]="$ALL_STORE"
	[commit]="build-rev gc-dry gc verify audit log diff export run"
	[index]="build build-rev gc-dry gc verify"
	[blob]="verify diff export"
	[lockfile]="build build-rev gc-dry gc"
	[trusted]="verify log keygen init"
	[dotkiln]="verify log keygen init build-key"
	[gitignore]="init"
	[klock]="lock build"
	[workcache]="build build-rev audit lock init"
)
# audit reports a rebuild that fails as such (exit 1), whatever the cause.
declare -A want_rc=([workcache:audit]=1)
declare -A shown=(
	[store]="snapshots'" [blobs]="snapshots/blobs'" [sha256]="snapshots/blobs/sha256'"
	[tmp]="snapshots/tmp'" [cache]="snapshots/cache'" [commits]="snapshots/commits'"
	[commit]="snapshots/commits/$C0'" [index]="snapshots/index.json'"
	[blob]="snapshots/blobs/sha256/$LAYER'" [lockfile]="snapshots/.lock'"
	[trusted]=".kiln/trusted'" [dotkiln]=".kiln'" [gitignore]=".gitignore'"
	[klock]="kiln.lock'"
	[workcache]=".kcache/"
)
n=0
for v in store blobs sha256 tmp cache commits commit index blob lockfile trusted dotkiln gitignore klock workcache; do
	cmds=("${order[@]}")
	[ "$v" = dotkiln ] && cmds+=(build-key)
	for c in "${cmds[@]}"; do
		n=$((n + 1))
		clone="$T/c$n-$v-$c"
		git clone -q -b "v-$v" "$T/origin" "$clone"
		line=${cmd[$c]:-}
		[ "$c" = build-key ] && line="env -u KILN_KEY $KILN build"
		extra=()
		[ "$v" = workcache ] && extra=(env "KILN_CACHE=$clone/.kcache")
		cd "$clone"
		# shellcheck disable=SC2086
		run "${extra[@]}" $line
		cd "$T"
		case " ${must_fail[$v]} " in
		*" $c "*)
			want=${want_rc[$v:$c]:-3}
			if [ "$rc" = "$want" ] && [[ "$err" == *"${shown[$v]}"* ]] && [[ "$err" == *"symbolic link"* ]]; then
				_report 0 "$v: $c refuses the symlink (exit $want, names ${shown[$v]%\'})"
			else
				_report 1 "$v: $c refuses the symlink (exit $want, names ${shown[$v]%\'})"
				echo "# rc=$rc"; printf '%s\n' "$err" | tail -5 | sed 's/^/# err: /'
			fi ;;
		*)
			if [ "$rc" = 0 ] || { [ "$rc" = 3 ] && [[ "$err" == *"${shown[$v]}"* ]]; }; then
				_report 0 "$v: $c succeeds, or refuses naming the link (rc $rc)"
			else
				_report 1 "$v: $c succeeds, or refuses naming the link"
				echo "# rc=$rc"; printf '%s\n' "$err" | tail -5 | sed 's/^/# err: /'
			fi ;;
		esac
		canary_intact "$v: $c"
		rm -rf "$clone"
	done
done
check "the canary's lock bait was never created" test ! -e "$V/made-by-kiln"

# ---- stale temporary files of killed writers are swept, never through a link
git clone -q -b "v-tmp" "$T/origin" "$T/sweep" && cd "$T/sweep"
git rm -q --cached snapshots/tmp && rm snapshots/tmp
mkdir -p snapshots/tmp
rec="snapshots/commits/$C0"
printf 'half a record' >"$rec/t.json.tmp.AbC123"
printf 'half an index' >snapshots/index.json.tmp.Zx9Yw8
key=$(ls snapshots/cache | head -1)
printf 'half an entry' >"snapshots/cache/$key.tmp.Qq1Ww2"
printf 'half a blob' >"snapshots/tmp/blob-$HEX1-Ab12Cd"
ln -s "$V/t.json.tmp.Qw12Er" "$rec/u.json.tmp.Ln1Kx2"
expect_rc 0 "gc over a store with stale temporary files" kiln gc
check "a record's temp (commits/<id>/*.json.tmp.*) is gone" test ! -e "$rec/t.json.tmp.AbC123"
check "index.json's temp is gone" test ! -e snapshots/index.json.tmp.Zx9Yw8
check "a cache entry's temp is gone" test ! -e "snapshots/cache/$key.tmp.Qq1Ww2"
check "tmp/ is emptied" test -z "$(ls -A snapshots/tmp)"
check "a temp that is a symlink is removed itself" test ! -L "$rec/u.json.tmp.Ln1Kx2"
check "the record itself stays" test -f "$rec/t.json"
expect_rc 0 "and still verifies" kiln verify "t@$C0"
canary_intact "gc's temp sweep"

# kiln.lock.tmp.*: ignored by the .gitignore init writes, swept by the next
# write of the lock, except one a live writer holds (its flock).
mkdir -p "$T/locktmp" && cd "$T/locktmp" && git init -q .
expect_rc 0 "init" env -u KILN_KEY "$KILN" init --suite containers --keyring "$KILN_TEST_KEYRING" -p busybox-fixture
expect_contains "$(cat .gitignore)" "*.lock.tmp.*" ".gitignore ignores the lock's temporary files"
printf 'stale' >kiln.lock.tmp.Dead01
printf 'live' >kiln.lock.tmp.Live02
check "git does not see a stale lock temp" test -z "$(git status --porcelain --ignored=no -- 'kiln.lock.tmp.*')"
check "git check-ignore agrees" git check-ignore -q kiln.lock.tmp.Dead01
ln -s "$V/kiln.lock.tmp.Ab12Cd" kiln.lock.tmp.Link03
rm -f kiln.lock
# flock(1) holds the live one's lock while kiln lock runs.
expect_rc 0 "kiln lock writes the lock while another writer holds its temp" \
	flock kiln.lock.tmp.Live02 "$KILN" lock
check "the lock is written" test -s kiln.lock
check "a stale kiln.lock.tmp.* is removed" test ! -e kiln.lock.tmp.Dead01
check "a live writer's temp is kept" test -f kiln.lock.tmp.Live02
check "a symlink named like a temp is not followed (left alone)" test -L kiln.lock.tmp.Link03
check "no temp of this write is left" test "$(ls kiln.lock.tmp.* | wc -l)" = 2
canary_intact "the lock's temp sweep"
done_testing
