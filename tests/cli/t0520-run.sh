#!/usr/bin/env bash
# kiln run/ps/logs/stop/rm/exec: real containers from an image this test
# builds (the fixture's static busybox), judged from inside (/proc, id,
# hostname), from the host (mountinfo, cgroupfs, the layer on disk, the
# process table, ip, nft, curl) and by runc itself running the same bundle.
# Runs with the default runtime, or KILN_RUNTIME (t0521 sets runc).  Needs
# root.  The bridge, subnet and nftables table are this run's own; only
# 127.0.0.1 and the containers' addresses are used.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
# Everything this script makes lives under $T and a cgroup of its own.
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0520-$$"
at_exit cleanup_containers

# Networking of this run only (as t0510): a bridge, a free /24 and a table.
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export KILN_NET_BRIDGE="kr$suffix" KILN_NET_TABLE="kiln_run_$suffix"
routes=$(ip -4 route show table all; ip -4 -o addr)
for i in $(seq 0 40); do
	a=$(( 150 + (0x${suffix:0:2} + i) % 50 )); b=$(( (0x${suffix:2:2} + 7 * i) % 250 ))
	case "$routes" in *"10.$a.$b."*|*"10.$a.0.0/16"*|*"10.0.0.0/8"*) continue ;; esac
	export KILN_NET_SUBNET="10.$a.$b.0/24"; net="10.$a.$b"; break
done
port=$(( 12000 + 0x${suffix:4:2} * 4 ))
ip_forward_ref enter
at_exit 'ip link del "$KILN_NET_BRIDGE" 2>/dev/null; nft delete table ip "$KILN_NET_TABLE" 2>/dev/null; ip_forward_ref leave'
# gone PID: no such process, or a zombie (a dead monitor's child waits for
# its reaper, this machine's PID 1, which may be slow to reap).
gone() { ! grep -qs '^State:[[:space:]]*[^Z[:space:]]' "/proc/$1/status"; }
# empty DIR…: no entries below any DIR.
empty() { [ -z "$(find "$@" -mindepth 1 2>/dev/null)" ]; }
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<'YAML'
accounts:
  groups: [{name: app, gid: "1000"}, {name: extra, gid: "1001"}]
  users: [{name: app, uid: "1000", gid: "1000", home: /home/app}]
config:
  cmd: [/bin/sh, -c, "echo default-cmd"]
  env: {FOO: from-image, PATH: /usr/bin:/bin}
YAML
expect_rc 0 "lock the busybox image" kiln lock
git add -A && git_commit busybox
expect_rc 0 "build it" kiln build
SNAP=t

# What a container sees of itself.
probe='echo pid=$$; echo host=$(hostname); grep -E "^(CapEff|CapBnd|CapPrm|NoNewPrivs)" /proc/self/status; echo foo=$FOO; id'
expect_rc 0 "run --rm a command" kiln run --rm --name probe1 "$SNAP" sh -c "$probe"
kiln_probe=$out
expect_contains "$out" "pid=1" "PID 1 is the command"
expect_contains "$out" "host=probe1" "hostname is the container's name"
expect_contains "$out" "CapEff:	00000000800405fb" "effective capabilities are podman's default set (t0525)"
expect_contains "$out" "CapBnd:	00000000800405fb" "and so is the bounding set"
expect_contains "$out" "NoNewPrivs:	1" "no new privileges"
expect_contains "$out" "foo=from-image" "the image's environment"
expect_contains "$out" "uid=0(root) gid=0(root)" "runs as the image's user (root)"
# With a terminal on stdin and stdout the container gets one (script(1)
# gives kiln a pty, as a user's shell would).
run script -qec "'$KILN' run --rm --network none '$SNAP' sh -c 'tty; test -t 0 && echo interactive'" /dev/null
check "run with a terminal: exit 0" test "$rc" = 0
expect_contains "$out" "/dev/pts/" "the container's stdin is a pty of its own"
expect_contains "$out" "interactive" "and a terminal"
run script -qec "'$KILN' run -d --name ttyd '$SNAP' sleep 30 >/dev/null && '$KILN' exec ttyd sh -c 'tty' ; '$KILN' rm -f ttyd >/dev/null" /dev/null
expect_contains "$out" "/dev/pts/" "exec gets a terminal too"
# Docker's /etc files: hosts, hostname, resolv.conf (no loopback servers).
expect_rc 0 "a container has /etc/hosts, /etc/hostname, /etc/resolv.conf" kiln run --rm --name etcs --network none "$SNAP" sh -c 'cat /etc/hostname; grep -c localhost /etc/hosts; grep -c "^nameserver 127" /etc/resolv.conf; true'
check "hostname, localhost, no loopback name server" test "$(printf '%s' "$out" | tr '\n' ' ')" = "etcs 2 0"
# Docker-like seccomp defaults, in the bundle (so runc applies them too).
expect_rc 0 "a container runs under a seccomp filter" kiln run --rm "$SNAP" grep Seccomp: /proc/self/status
expect_contains "$out" "Seccomp:	2" "mode 2 (filter)"
expect_rc 0 "user namespaces are refused inside" kiln run --rm "$SNAP" sh -c 'unshare -U true 2>&1 && echo allowed || echo refused'
expect_contains "$out" "refused" "unshare -U fails"
expect_rc 0 "the image's cmd when none is given" kiln run --rm "$SNAP"
check "prints default-cmd" test "$out" = default-cmd
expect_rc 0 "--hostname, -e, -u" kiln run --rm --hostname hh -e FOO=over -e NEW=1 -u app "$SNAP" sh -c 'echo $(hostname) $FOO $NEW; id -u; id -g'
check "hostname, env override and user by name" test "$(echo $out)" = "hh over 1 1000 1000"
# -e KEY: the caller's value (read by the command line, cmd/kiln/env.c); an
# unset KEY is not passed at all.
unset KILN_T0520_UNSET
expect_rc 0 "-e KEY takes the caller's value" env KILN_T0520_FROM=caller "$KILN" run --rm \
	-e KILN_T0520_FROM -e KILN_T0520_UNSET "$SNAP" sh -c 'echo "$KILN_T0520_FROM ${KILN_T0520_UNSET-unset}"'
check "-e KEY passes the caller's value, not an unset one" test "$out" = "caller unset"
expect_rc 0 "-u uid:gid" kiln run --rm -u 1234:1001 "$SNAP" id
expect_contains "$out" "uid=1234 gid=1001" "numeric user and group"
expect_rc 1 "an unknown user name is refused" kiln run --rm -u nosuch "$SNAP" true
expect_contains "$err" "nosuch" "the error names the user"
expect_rc 0 "-w sets the working directory" kiln run --rm -w /tmp "$SNAP" pwd
check "pwd is /tmp" test "$out" = /tmp

# Exit codes.
expect_rc 42 "the container's exit code is kiln's" kiln run --rm "$SNAP" sh -c 'exit 42'
expect_rc 0 "exit 0" kiln run --rm "$SNAP" true
run kiln run --rm "$SNAP" /no/such/program
check "a missing program fails" test "$rc" != 0
expect_rc 0 "stdin reaches the container" sh -c "echo piped | '$KILN' run --rm '$SNAP' cat"
check "cat echoes stdin" test "$out" = piped
expect_rc 0 "stdout and stderr both arrive" kiln run --rm "$SNAP" sh -c 'echo to-out; echo to-err >&2'
check "stdout" test "$out" = to-out
check "stderr" test "$err" = to-err

# The image's layers are read-only and shared; writes go to the container's own layer.
passwd_layer=$(grep -l '^root:' "$KILN_ROOT"/layers/*/etc/passwd | head -1)
check "the layers are unpacked under KILN_ROOT/layers" test -f "$passwd_layer"
before=$(sha256sum <"$passwd_layer")
expect_rc 0 "a container overwrites an image file" kiln run --name writer "$SNAP" sh -c 'echo hacked >/etc/passwd; cat /etc/passwd'
check "it sees its write" test "$out" = hacked
check "the unpacked layer on disk is untouched" test "$(sha256sum <"$passwd_layer")" = "$before"
wid=$(kiln ps -aq | head -1)
check "the write is in the container's upper dir" grep -q hacked "$KILN_ROOT"/containers/"$wid"*/upper/etc/passwd
expect_rc 0 "another container" kiln run --rm "$SNAP" head -1 /etc/passwd
expect_contains "$out" "root:x:0:0" "sees the image's file"
expect_rc 0 "rm the writer" kiln rm writer
check "the write vanished with the container" sh -c "! ls '$KILN_ROOT'/containers/'$wid'* >/dev/null 2>&1"

# --rm leaves nothing.
expect_rc 0 "run --rm" kiln run --rm --name gone "$SNAP" true
check "no mount left under KILN_ROOT" sh -c "! grep -q ' $KILN_ROOT' /proc/self/mountinfo"
check "no container state left" empty "$KILN_ROOT/run/containers" "$KILN_ROOT/containers"
check "no runc state left" empty "$KILN_ROOT/run/runc"
check "no name left" empty "$KILN_ROOT/run/names"
check "no cgroup left" test -z "$(cgroup_left "$KILN_CGROUP_PARENT")"

# Volumes survive their containers.
expect_rc 0 "write into a named volume" kiln run --name v1 -v data:/data "$SNAP" sh -c 'echo kept >/data/f'
expect_rc 0 "rm the container" kiln rm v1
check "the volume is under KILN_ROOT/volumes" test "$(cat "$KILN_ROOT/volumes/data/f")" = kept
expect_rc 0 "a new container mounts it" kiln run --rm -v data:/data "$SNAP" cat /data/f
check "and reads what the first wrote" test "$out" = kept
expect_rc 0 "a read-only volume" kiln run --rm -v data:/data:ro "$SNAP" sh -c 'echo x >/data/g 2>/dev/null && echo wrote || echo refused'
check "refuses writes" test "$out" = refused
expect_rc 2 "a bad --memory is a usage error" kiln run --rm --memory 1x "$SNAP" true
# What the container's root writes in a volume (a setuid shell) must not
# work for the host's users: volumes/ is root's alone, mounts are nosuid.
check "KILN_ROOT/volumes is mode 0700" test "$(stat -c %a "$KILN_ROOT/volumes")" = 700
expect_rc 0 "a volume is mounted nosuid,nodev" kiln run --rm -v data:/data "$SNAP" sh -c 'grep " /data " /proc/self/mountinfo'
expect_contains "$out" "nosuid" "nosuid"
expect_contains "$out" "nodev" "and nodev"
expect_rc 1 "a volume that cannot be mounted (a directory onto a file)" kiln run --rm --network none -v data:/etc/passwd "$SNAP" true
expect_contains "$err" "/etc/passwd" "the error names the mount, not a side effect"
expect_not_contains "$err" "ns/net" "(not the network setup that found the process gone)"
expect_rc 1 "a volume over /proc is refused" kiln run --rm -v data:/proc "$SNAP" true
expect_contains "$err" "container's own" "says why"
expect_rc 1 "a volume over / is refused" kiln run --rm -v "$T:/" "$SNAP" true
expect_rc 1 "a hostname that is not one is refused" kiln run --rm --hostname 'a b' "$SNAP" true
expect_rc 2 "--network bogus is a usage error" kiln run --rm --network bogus "$SNAP" true
expect_rc 2 "-p abc is a usage error" kiln run --rm -p abc "$SNAP" true
expect_rc 2 "--name 'a b' is a usage error" kiln run --rm --name 'a b' "$SNAP" true
expect_rc 2 "-e =x is a usage error" kiln run --rm -e =x "$SNAP" true
expect_rc 1 "a relative container path is refused" kiln run --rm -v data:rel "$SNAP" true

# cgroup limits.
expect_rc 137 "--memory 32M: an allocation beyond it is killed" \
	kiln run --rm --memory 32M "$SNAP" sh -c 'x=$(head -c 200000000 /dev/zero | tr "\0" a); echo survived'
expect_not_contains "$out" survived "the shell did not survive"
expect_rc 0 "--memory 32M: a small allocation is fine" \
	kiln run --rm --memory 32M "$SNAP" sh -c 'x=$(head -c 1000000 /dev/zero | tr "\0" a); echo survived'
run kiln run --rm --pids 4 "$SNAP" sh -c 'for i in 1 2 3 4 5 6; do sleep 2 & done; echo all-forked'
expect_contains "$err" "can't fork" "--pids 4: forks beyond it are refused"
expect_not_contains "$out" "all-forked" "so the loop does not finish"
expect_rc 0 "--pids 4: three children are fine" kiln run --rm --pids 4 "$SNAP" sh -c 'sleep 0.1 & sleep 0.1 & wait; echo ok'

# The quota as the container sees its own cgroup: v2's cpu.max (in the
# cgroup /proc/self/cgroup names, which is / in a cgroup namespace), or v1's
# cpu.cfs_quota_us in the cpu hierarchy.
if [ "$(cgroup_layout)" = v2 ]; then
	echo "# cgroup v2: the quota is read from cpu.max"
	expect_rc 0 "--cpus 0.5 sets the CFS quota" kiln run --rm --cpus 0.5 --name cpu1 "$SNAP" \
		sh -c 'cat "/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)/cpu.max"'
	check "quota 50000 of 100000" test "$out" = "50000 100000"
else
	echo "# cgroup v1: the quota is read from cpu.cfs_quota_us"
	expect_rc 0 "--cpus 0.5 sets the CFS quota" kiln run --rm --cpus 0.5 --name cpu1 "$SNAP" \
		sh -c 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us 2>/dev/null | head -1'
	check "quota 50000 of 100000" test "$out" = 50000
fi

# Detached: run -d, ps, logs, exec, stop, rm.
expect_rc 0 "run -d" kiln run -d --name web "$SNAP" sh -c 'echo started; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done'
id=$out
check "prints the id" test ${#id} = 32
expect_rc 0 "ps" kiln ps
expect_contains "$out" "${id:0:12}  web" "ps lists it by id and name"
expect_contains "$out" "Up " "as up"
expect_rc 0 "ps --json" kiln ps --json
expect_contains "$out" '"status": "running"' "ps --json says running"
sleep 0.3
expect_rc 0 "logs" kiln logs web
check "logs has its output" test "$out" = started
expect_rc 0 "logs by id prefix" kiln logs "${id:0:8}"
check "the same" test "$out" = started
expect_rc 1 "the name is unique" kiln run -d --name web "$SNAP" true
expect_contains "$err" "taken" "says it is taken"
expect_rc 0 "exec" kiln exec web sh -c 'echo pid=$$ host=$(hostname); ls /proc | grep -c "^[0-9]"'
expect_contains "$out" "host=web" "exec runs in the container's uts namespace"
expect_not_contains "$out" "pid=1 " "exec is not PID 1"
expect_rc 7 "exec's exit code is kiln's" kiln exec web sh -c 'exit 7'
if [ "${KILN_RUNTIME:-kiln}" = kiln ]; then # (runc has exit codes of its own)
	expect_rc 127 "exec of a command that does not exist: 127, as a shell" kiln exec web /nonexist
	expect_contains "$err" "exec /nonexist: No such file" "says what"
	expect_not_contains "$err" "exec /nonexist: exec" "once"
	expect_rc 127 "run of one: 127 too" kiln run --rm --network none --entrypoint /nonexist "$SNAP"
fi
# CVE-2019-5736: what kiln exec starts in a container is at first a copy of
# kiln; it must be a sealed in-memory copy, never the host's kiln file,
# which a "#!/proc/self/exe" command could otherwise reach and rewrite.
"$KILN" exec web sleep 3 >/dev/null 2>&1 &
execpid=$!
exe=
for _ in $(seq 50); do
	exe=$(readlink "/proc/$execpid/exe" 2>/dev/null)
	case "$exe" in /memfd:*) break ;; esac
	sleep 0.1
done
check "kiln exec runs from a sealed in-memory copy of itself ($exe)" sh -c "case '$exe' in /memfd:kiln-sealed*) true;; *) false;; esac"
wait "$execpid"
expect_rc 1 "rm of a running container is refused" kiln rm web
expect_contains "$err" "running" "and says why"
start=$(date +%s%N)
expect_rc 0 "stop" kiln stop -t 20 web
check "stop used SIGTERM (the trap), not the timeout" test $((($(date +%s%N) - start) / 1000000)) -lt 5000
expect_rc 0 "logs after stop" kiln logs web
expect_contains "$out" "bye" "the trap ran"
run kiln ps
expect_not_contains "$out" "web" "ps no longer lists it"
expect_rc 0 "ps -a" kiln ps -a
expect_contains "$out" "Exited (0)" "ps -a lists it as exited with 0"
check "its overlay is unmounted" sh -c "! grep -q ' $KILN_ROOT/run/containers/$id' /proc/self/mountinfo"
expect_rc 0 "rm" kiln rm web
run kiln ps -a
expect_not_contains "$out" "web" "gone"
expect_rc 1 "logs of a removed container" kiln logs web

expect_rc 0 "run -d a PID 1 without a TERM handler" kiln run -d --name stubborn "$SNAP" sleep 60
expect_rc 0 "stop -t 1 falls back to SIGKILL" kiln stop -t 1 stubborn
run kiln ps -a --json
expect_contains "$out" '"exit_code": 137' "exit 137"
kiln rm stubborn >/dev/null
expect_rc 0 "rm -f of a running container" sh -c "'$KILN' run -d --name f1 '$SNAP' sleep 60 >/dev/null && '$KILN' rm -f f1"
check "nothing left of it" sh -c "! '$KILN' ps -a | grep -q f1"

expect_rc 0 "logs -f follows until the container exits" sh -c \
	"'$KILN' run -d --name lf '$SNAP' sh -c 'echo one; sleep 0.5; echo two' >/dev/null && '$KILN' logs -f lf"
check "both lines" test "$(echo $out)" = "one two"
kiln rm lf >/dev/null

# A monitor killed by SIGKILL: the next command reaps.
expect_rc 0 "run -d a container to orphan" kiln run -d --name orphan "$SNAP" sleep 60
mon=$(kiln ps --json | python3 -c 'import json,sys; print([c for c in json.load(sys.stdin) if c["name"]=="orphan"][0]["monitor_pid"])')
cpid=$(kiln ps --json | python3 -c 'import json,sys; print([c for c in json.load(sys.stdin) if c["name"]=="orphan"][0]["pid"])')
check "the container process runs" kill -0 "$cpid"
kill -9 "$mon"; sleep 0.2
expect_rc 0 "ps after kill -9 of its monitor" kiln ps -a
expect_contains "$out" "Exited (137)" "shows it exited"
check "the container process is gone" gone "$cpid"
check "its mount is gone" sh -c "! grep -q ' $KILN_ROOT/run/containers' /proc/self/mountinfo"
check "its cgroup is gone" test -z "$(cgroup_left "$KILN_CGROUP_PARENT")"
kiln rm orphan >/dev/null
expect_rc 0 "run -d --rm a container to orphan" kiln run -d --rm --name orphan2 "$SNAP" sleep 60
mon=$(kiln ps --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["monitor_pid"])')
kill -9 "$mon"; sleep 0.2
expect_rc 0 "ps after kill -9" kiln ps -a
expect_not_contains "$out" "orphan2" "a --rm container is removed by the reaper"
check "nothing left" empty "$KILN_ROOT/run/containers" "$KILN_ROOT/containers" "$KILN_ROOT/run/names"

# Network modes.
expect_rc 0 "--network none" kiln run --rm --network none "$SNAP" sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; ip -o link show lo'
check "has only lo" test "$(printf '%s\n' "$out" | head -1)" = lo
check "no other interface" test "$(printf '%s\n' "$out" | wc -l)" = 2
expect_contains "$out" "UP" "lo is up"
expect_rc 0 "--network host" kiln run --rm --network host "$SNAP" sh -c 'readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'
check "is in the host's network namespace" test "$(printf '%s\n' "$out" | head -1)" = "$(readlink /proc/self/ns/net)"
hostif=$(ip -o -4 route show default | awk '{print $5; exit}')
[ -n "$hostif" ] || hostif=lo
expect_contains "$out" "$hostif" "sees the host's interfaces ($hostif)"
expect_rc 0 "run -d A" kiln run -d --name neta "$SNAP" sleep 60
apid=$(kiln ps --json | python3 -c 'import json,sys; print([c for c in json.load(sys.stdin) if c["name"]=="neta"][0]["pid"])')
expect_rc 0 "--network container:A" kiln run --rm --network container:neta "$SNAP" readlink /proc/self/ns/net
check "shares A's network namespace" test "$out" = "$(readlink /proc/$apid/ns/net)"
check "which is not the host's" test "$out" != "$(readlink /proc/self/ns/net)"
expect_rc 1 "container:NAME of no container" kiln run --rm --network container:nosuch "$SNAP" true
kiln rm -f neta >/dev/null

# bridge (the default): an address on this run's bridge, reachable from the
# host and from other containers; a published port answers on 127.0.0.1.
addr_of() { kiln ps --json | python3 -c 'import json,sys; print([c.get("address","") for c in json.load(sys.stdin) if c["name"]==sys.argv[1]][0])' "$1"; }
serve='mkdir -p /www && echo "hello from $(hostname)" >/www/index.html && exec httpd -f -p 8080 -h /www'
expect_rc 0 "run -d a web server on the bridge" kiln run -d --name b1 -p "$port:8080" "$SNAP" sh -c "$serve"
a1=$(addr_of b1)
check "it has an address in this run's subnet" test "${a1%.*}" = "$net"
expect_rc 0 "it has eth0 with that address" kiln exec b1 ip -o -4 addr show eth0
expect_contains "$out" "inet $a1/24" "eth0 carries it"
expect_rc 0 "its /etc/hosts names its address" kiln exec b1 cat /etc/hosts
expect_contains "$out" "$(printf '\tb1')" "and its hostname"
expect_contains "$out" "localhost" "and localhost"
# A host port a program already listens on is refused, not taken over.
busy=$((port + 2))
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$busy" &
listener=$!
at_exit "kill $listener 2>/dev/null"
for _ in $(seq 50); do ss -ltn | grep -q ":$busy " && break; sleep 0.1; done
expect_rc 1 "-p onto a port a host program listens on is refused" kiln run --rm -p "$busy:8080" "$SNAP" true
expect_contains "$err" "in use on this host" "and says so"
kill "$listener" 2>/dev/null
check "the bridge exists" ip link show "$KILN_NET_BRIDGE"
check "so does the nftables table" nft list table ip "$KILN_NET_TABLE"
page=""
for _ in $(seq 50); do page=$(curl -s --max-time 1 "http://$a1:8080/") && [ -n "$page" ] && break; sleep 0.1; done
check "the host reaches it by address" test "$page" = "hello from b1"
expect_rc 0 "another container reaches it by address" kiln run --rm --name b2 "$SNAP" wget -qO- "http://$a1:8080/"
check "and gets its page" test "$out" = "hello from b1"
expect_rc 0 "a container given NET_RAW pings the host at the gateway" kiln run --rm --cap-add NET_RAW "$SNAP" \
	ping -c 1 -W 2 "$net.1"
run curl -s --max-time 3 "http://127.0.0.1:$port/"
check "the published port answers on 127.0.0.1" test "$out" = "hello from b1"
veth=$(ip -o link show master "$KILN_NET_BRIDGE" | wc -l)
check "one veth on the bridge" test "$veth" = 1
expect_rc 0 "rm -f the server" kiln rm -f b1
check "its veth is gone" test -z "$(ip -o link show master "$KILN_NET_BRIDGE" 2>/dev/null)"
check "the bridge went with the last container" sh -c "! ip link show '$KILN_NET_BRIDGE' 2>/dev/null"
check "and the table" sh -c "! nft list table ip '$KILN_NET_TABLE' 2>/dev/null"
expect_rc 1 "-p with --network none is refused" kiln run --rm --network none -p "$port:80" "$SNAP" true

# The same bundle under `runc run`: the same observations.
expect_rc 0 "run -d a container for its bundle" kiln run -d --name bundle "$SNAP" sleep 60
bid=$(kiln ps -q | head -1)
sdir=$(echo "$KILN_ROOT"/run/containers/"$bid"*)
mkdir -p "$T/bundle"
cp -a "$sdir/rootfs" "$T/bundle/rootfs"
python3 - "$sdir/config.json" "$T/bundle/config.json" "$probe" "$sdir" <<'PY'
import json, os, shutil, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", sys.argv[3]]
# The bundle's own files (/etc/hosts, …) go with the copy.
for m in c["mounts"]:
    src = m.get("source", "")
    if src.startswith(sys.argv[4] + "/"):
        dst = os.path.join(os.path.dirname(sys.argv[2]), os.path.basename(src))
        shutil.copy(src, dst)
        m["source"] = dst
c["hostname"] = "probe1"
c["linux"]["cgroupsPath"] = c["linux"]["cgroupsPath"] + "-runc"
json.dump(c, open(sys.argv[2], "w"))
PY
kiln rm -f bundle >/dev/null
expect_rc 0 "runc run of kiln's bundle" runc --root "$T/runc" run --bundle "$T/bundle" "kiln-t0520-$$"
check "gives the same observations as kiln run" test "$out" = "$kiln_probe"
runc --root "$T/runc" delete -f "kiln-t0520-$$" >/dev/null 2>&1

expect_rc 2 "run without SNAP is a usage error" kiln run
expect_rc 1 "an unknown snapshot" kiln run --rm nosuch@HEAD true
expect_rc 1 "stop of no container" kiln stop nosuch
expect_rc 0 "run --help" kiln run --help
expect_contains "$out" "--memory" "documents its options"
done_testing
