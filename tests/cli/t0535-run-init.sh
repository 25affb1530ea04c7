#!/usr/bin/env bash
# kiln run --init (docs/containers.md, "--init"): kiln's own init
# (lib/runtime/init/kiln-init.c) as the container's PID 1, under kiln's
# runtime and under runc (the same config.json).  A program without a
# SIGTERM handler is immune to SIGTERM as PID 1, so `kiln stop` of `sleep`
# waits out the grace time and SIGKILLs it (137); under the init it ends at
# once with 143.  Orphans are reaped (no Z left, where without the init
# they stay zombies), exit codes and signals pass through.  Needs root;
# --network none throughout, so no bridge or address is used.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0535-$$"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# exit_code NAME: the exit code `kiln ps -a --json` recorded.
exit_code() {
	kiln ps -a --json | python3 -c 'import json,sys; print([c for c in json.load(sys.stdin) if c["name"]==sys.argv[1]][0]["exit_code"])' "$1"
}
# zombies NAME: the container's processes in state Z, as its own ps shows them.
zombies() { kiln exec "$1" ps -o pid,stat,comm | awk '$2 ~ /^Z/'; }
has_zombie() { test -n "$(zombies "$1")"; }
# sleeping NAME: a process of the container is (has exec'd) sleep.
sleeping() { kiln exec "$1" sh -c 'cat /proc/[0-9]*/comm 2>/dev/null | grep -qx sleep'; }
no_zombie() { test -z "$(zombies "$1")"; }
# wait_for N CMD…: CMD succeeds within N tries 0.1 s apart (a bounded wait
# for something that must happen, not a timing assertion).
wait_for() {
	local n=$1; shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	"$@"
}

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<'YAML'
config:
  env: {PATH: /usr/bin:/bin}
YAML
expect_rc 0 "lock the busybox image" kiln lock
git add -A && git_commit busybox
expect_rc 0 "build it" kiln build
SNAP=t

runtimes=kiln
if command -v runc >/dev/null; then runtimes="kiln runc"; else echo "# runc is absent: only kiln's runtime"; fi

for rt in $runtimes; do
	R="--runtime $rt --network none"
	# What the container runs: /dev/init as PID 1, the command as its child.
	expect_rc 0 "[$rt] run --init" kiln run --rm --init $R "$SNAP" \
		sh -c 'tr "\0" " " </proc/1/cmdline; echo; echo pid=$$; grep -w /dev/init /proc/self/mountinfo'
	expect_contains "$out" "/dev/init -- sh -c" "[$rt] PID 1 is /dev/init -- the command"
	expect_not_contains "$out" "pid=1"$'\n' "[$rt] the command is not PID 1"
	expect_contains "$out" " /dev/init ro," "[$rt] /dev/init is a read-only mount"
	expect_rc 0 "[$rt] /dev/init cannot be written" kiln run --rm --init $R "$SNAP" \
		sh -c 'echo x 2>/dev/null >/dev/init && echo written || echo refused'
	check "[$rt] (refused)" test "$out" = refused
	expect_rc 0 "[$rt] a user other than root runs it too" kiln run --rm --init $R -u 1000:1000 "$SNAP" \
		sh -c 'id -u; tr "\0" " " </proc/1/cmdline'
	expect_contains "$out" "1000"$'\n'"/dev/init -- sh" "[$rt] (uid 1000, under /dev/init)"

	# kiln stop of a PID 1 without a TERM handler: at once under the init.
	expect_rc 0 "[$rt] run -d --init sleep 1000" kiln run -d --init $R --name "s-$rt" "$SNAP" sleep 1000
	start=$(now_ms)
	expect_rc 0 "[$rt] stop -t 30" kiln stop -t 30 "s-$rt"
	took=$(($(now_ms) - start))
	echo "# [$rt] kiln stop -t 30 of sleep under --init took $took ms"
	check "[$rt] stop did not wait out the 30 s grace" test "$took" -lt 30000
	check "[$rt] sleep died of the SIGTERM: 143" test "$(exit_code "s-$rt")" = 143
	# The same without the init: SIGTERM is ignored, the grace runs out.
	expect_rc 0 "[$rt] run -d sleep 1000 (no --init)" kiln run -d $R --name "n-$rt" "$SNAP" sleep 1000
	start=$(now_ms)
	expect_rc 0 "[$rt] stop -t 2" kiln stop -t 2 "n-$rt"
	took=$(($(now_ms) - start))
	echo "# [$rt] kiln stop -t 2 of sleep without --init took $took ms"
	check "[$rt] without the init stop waits out the grace" test "$took" -ge 2000
	check "[$rt] and SIGKILLs it: 137" test "$(exit_code "n-$rt")" = 137
	kiln rm "s-$rt" "n-$rt" >/dev/null

	# An orphan that exits: reaped by the init, a zombie without it.  The
	# shell execs sleep, so without --init PID 1 is a sleep that never
	# waits.  The orphan exits only once the shell has become sleep (until
	# then the shell itself might reap it): it waits on a fifo the test
	# writes to then.
	orphan='mkfifo /tmp/go; (sh -c "read x </tmp/go; echo >/tmp/orphan-done" &); exec sleep 1000'
	expect_rc 0 "[$rt] run -d --init a shell that orphans a child" \
		kiln run -d --init $R --name "z-$rt" "$SNAP" sh -c "$orphan"
	expect_rc 0 "[$rt] run -d the same without --init" kiln run -d $R --name "zn-$rt" "$SNAP" sh -c "$orphan"
	for c in "z-$rt" "zn-$rt"; do
		check "[$rt] $c: the shell has become sleep" wait_for 100 sleeping "$c"
		run kiln exec "$c" sh -c 'echo go >/tmp/go'
		check "[$rt] $c: the orphan ran and exited" wait_for 100 kiln exec "$c" test -e /tmp/orphan-done
	done
	check "[$rt] without the init, the orphan stays a zombie" wait_for 100 has_zombie "zn-$rt"
	wait_for 100 no_zombie "z-$rt"
	left=$(zombies "z-$rt")
	check "[$rt] under the init no zombie is left" test -z "$left"
	[ -z "$left" ] || echo "# zombies: $left"
	expect_rc 0 "[$rt] ps in the container" kiln exec "z-$rt" ps -o pid,stat,comm
	check "[$rt] shows the init as PID 1" sh -c "printf '%s\n' \"\$1\" | grep -Eq '^ +1 S +init\$'" _ "$out"
	kiln rm -f "z-$rt" "zn-$rt" >/dev/null

	# Exit codes pass through: a code, a signal as 128+N, a missing program.
	expect_rc 7 "[$rt] exit 7 passes through" kiln run --rm --init $R "$SNAP" sh -c 'exit 7'
	expect_rc 137 "[$rt] killed by SIGKILL: 137" kiln run --rm --init $R "$SNAP" sh -c 'kill -KILL $$'
	expect_rc 143 "[$rt] killed by SIGTERM: 143" kiln run --rm --init $R "$SNAP" sh -c 'kill -TERM $$'
	expect_rc 127 "[$rt] a program that does not exist: 127" kiln run --rm --init $R "$SNAP" /nonexist
	expect_contains "$err" "kiln-init: exec /nonexist: not found" "[$rt] and the init says so"
	expect_rc 0 "[$rt] the state records --init" kiln run --init $R --name "rec-$rt" "$SNAP" true
	check "[$rt] (state.json: init true)" grep -q '"init": true' \
		"$KILN_ROOT"/run/containers/*/state.json
	kiln rm "rec-$rt" >/dev/null
done

# A terminal: the command's group is the terminal's foreground group, so it
# can read from it (a background group would be stopped by SIGTTIN).
cat >"$T/tty.sh" <<TTY
#!/bin/sh
exec '$KILN' run --rm --init --network none '$SNAP' sh -c 'test -t 0 && read x && echo got=\$x'
TTY
chmod +x "$T/tty.sh"
run sh -c "printf 'hello\n' | script -qec '$T/tty.sh' /dev/null"
check "with a terminal: exit 0" test "$rc" = 0
expect_contains "$out" "got=hello" "the command reads the terminal"

# The file under KILN_ROOT: content-addressed, read-only, the build's init.
f=$(find "$KILN_ROOT/init" -type f)
check "one init file under \$KILN_ROOT/init" test "$(echo "$f" | wc -l)" = 1
check "named by its sha256" test "$(basename "$f")" = "$(sha256sum <"$f" | cut -c1-64)"
check "mode 0555" test "$(stat -c %a "$f")" = 555
check "the bytes of build/kiln-init" cmp -s "$f" "$KILN_TOP/build/kiln-init"
check "a static program" sh -c "file '$f' | grep -q 'statically linked'"
echo corrupted >"$f.x" && chmod 0555 "$f.x" && mv -f "$f.x" "$f"
expect_rc 0 "a damaged init file" kiln run --rm --init --network none "$SNAP" true
check "is written again" cmp -s "$f" "$KILN_TOP/build/kiln-init"

done_testing
