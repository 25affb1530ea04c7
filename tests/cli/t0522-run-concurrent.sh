#!/usr/bin/env bash
# kiln run from several processes at once on a fresh KILN_ROOT: each layer
# is unpacked once (no temporary directory left), names stay unique (one
# winner), and parallel -d / stop / rm leave nothing.  Needs root.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0522-$$"
at_exit cleanup_containers
empty() { [ -z "$(find "$@" -mindepth 1 2>/dev/null)" ]; }
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
expect_rc 0 "lock" kiln lock
git add -A && git_commit busybox
expect_rc 0 "build" kiln build

for i in 1 2 3 4; do
	"$KILN" run --rm --network none t sh -c "echo run$i" >"$T/out$i" 2>&1 &
done
wait
for i in 1 2 3 4; do
	check "concurrent first run $i works" test "$(cat "$T/out$i")" = "run$i"
done
check "each layer is unpacked once, nothing temporary left" \
	test "$(ls -A "$KILN_ROOT/layers" | grep -c '^\.')" = 0
check "three layers" test "$(ls "$KILN_ROOT/layers" | wc -l)" = 3

for i in 1 2 3; do
	( "$KILN" run -d --network none --name same t sleep 30 >/dev/null 2>&1; echo $? >"$T/rc$i" ) &
done
wait
check "one of three runs with the same name wins" test "$(cat "$T"/rc1 "$T"/rc2 "$T"/rc3 | sort | tr -d '\n')" = 011
expect_rc 0 "ps" kiln ps -q
check "one container runs" test "$(printf '%s\n' "$out" | grep -c .)" = 1
expect_rc 0 "rm -f same" kiln rm -f same

for i in 1 2 3 4 5; do "$KILN" run -d --network none t sleep 30 >/dev/null & done
wait
run kiln ps -q
check "five containers started in parallel" test "$(printf '%s\n' "$out" | grep -c .)" = 5
expect_rc 0 "stop them all at once" kiln stop -t 0 $out
run kiln ps -a
check "all exited" test "$(printf '%s\n' "$out" | grep -c 'Exited (137)')" = 5
expect_rc 0 "rm them all" kiln rm $(kiln ps -aq)
check "nothing left" empty "$KILN_ROOT/run/containers" "$KILN_ROOT/containers" "$KILN_ROOT/run/names"
check "no mount left" sh -c "! grep -q ' $KILN_ROOT' /proc/self/mountinfo"
done_testing
