#!/usr/bin/env bash
# A build killed with SIGKILL in the middle of a run: step (docs/building.md,
# Steps that run): the step's processes die with it (no orphan keeps
# running), and the next build removes what it left — the scratch directory,
# the overlay still mounted in it, the step's cgroups — without touching
# the stage of a build that is still running beside it.  Needs root.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0266-$$"
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
at_exit cleanup_containers
at_exit 'pkill -9 -f "sleep $nap" 2>/dev/null'
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
leaves() { cgroup_left "$KILN_CGROUP_PARENT" | grep -c '/build-' ; }
nap=$((86000 + RANDOM % 300))

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
printf 'run:\n  - echo started; sleep %s\n' "$nap" >>kiln.yaml
expect_rc 0 "lock" kiln lock
git add -A && git_commit long
"$KILN" build >"$T/b.out" 2>&1 &
build=$!
for _ in $(seq 300); do grep -q '| started' "$T/b.out" && break; sleep 0.1; done
check "the step runs (its output shows)" grep -q '| started' "$T/b.out"
check "its sleep is a process on the host" pgrep -f "sleep $nap"
kill -9 "$build"; wait "$build" 2>/dev/null
for _ in $(seq 50); do pgrep -f "sleep $nap" >/dev/null || break; sleep 0.1; done
check "SIGKILL of kiln: the step's processes die with it" test -z "$(pgrep -f "sleep $nap")"
check "(the scratch directory is left, with its overlay mounted)" \
	test -n "$(ls -d "$TMPDIR"/kiln-stage.* 2>/dev/null)" -a -n "$(grep -F " $TMPDIR/kiln-stage." /proc/self/mountinfo)"
check "(and the step's cgroup)" test "$(leaves)" -ge 1

# A second build runs beside the next one: its stage must survive the sweep.
mkdir -p "$T/other" && cd "$T/other" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
printf 'run:\n  - echo other-started; sleep 4; echo other-done >/srv-done\n' >>kiln.yaml
"$KILN" -q lock && git add -A && git_commit other
"$KILN" build >"$T/o.out" 2>&1 &
other=$!
for _ in $(seq 300); do grep -q '| other-started' "$T/o.out" && break; sleep 0.1; done

cd "$T/repo"
sed -i "s/echo started; sleep $nap/echo quick/" kiln.yaml
git add -A && git_commit quick
expect_rc 0 "the next build" kiln build
wait "$other"; orc=$?
check "the build running beside it was not disturbed (exit $orc)" test "$orc" = 0
expect_contains "$(cat "$T/o.out")" "| other-started" "(it ran its step meanwhile)"
check "no scratch directory is left" test -z "$(ls -d "$TMPDIR"/kiln-stage.* 2>/dev/null)"
check "nothing is mounted under TMPDIR" test -z "$(grep -F " $TMPDIR/" /proc/self/mountinfo)"
check "no step cgroup is left" test "$(leaves)" = 0
done_testing
