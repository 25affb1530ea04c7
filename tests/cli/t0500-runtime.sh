#!/usr/bin/env bash
# t0500-runtime: kiln's runtime (lib/runtime, driven by the unit-test binary
# build/tests/test_runtime) runs a runc-style bundle, and runc run of the
# same bundle and rootfs observes the same container from inside, with
# kiln's default seccomp profile in config.json (runc reads it with
# libseccomp).
# Needs root, runc and busybox-static.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
top=${KILN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
drive="$top/build/tests/test_runtime"

B=$T/bundle
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/sys" "$B/rootfs/dev" "$B/rootfs/tmp" \
	"$B/rootfs/etc"
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$B/rootfs/bin/$a"
done

export KILN_TEST_CGROUP_PARENT=kiln-t0500-$$
seccomp=$("$drive" default-seccomp)
check "the default seccomp profile is JSON" python3 -c 'import json, sys; json.loads(sys.argv[1])' "$seccomp"
ids=()
at_exit 'for i in "${ids[@]}"; do runc --root "$T/runc" delete -f "$i" >/dev/null 2>&1; done'
at_exit 'for d in /sys/fs/cgroup/*/"$KILN_TEST_CGROUP_PARENT" /sys/fs/cgroup/"$KILN_TEST_CGROUP_PARENT"; do [ -d "$d" ] && rmdir "$d"; done 2>/dev/null'

# config SCRIPT [MEMORY_BYTES]: a config.json like `runc spec`'s, with
# Docker's default capabilities, running sh -c SCRIPT.
config() {
	local script=$1 mem=${2:-} res='"devices":[{"allow":false,"access":"rwm"}]' userns=''
	local root=rootfs namespaces='{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}'
	if [ -n "${USERNS:-}" ]; then
		root=$T/rootfs-userns
		namespaces="$namespaces,{\"type\":\"user\"}"
		userns='"uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],
  "gidMappings":[{"containerID":0,"hostID":100000,"size":65536}],'
	fi
	[ -n "$mem" ] && res="$res,\"memory\":{\"limit\":$mem,\"swap\":$mem},\"pids\":{\"limit\":20}"
	local caps='"CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW",
	  "CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT",
	  "CAP_KILL","CAP_AUDIT_WRITE"'
	script=${script//\\/\\\\}
	script=${script//\"/\\\"}
	script=${script//$'\n'/\\n}
	cat >"$B/config.json" <<JSON
{"ociVersion":"1.0.2",
 "process":{"terminal":false,"user":{"uid":0,"gid":0},"args":["sh","-c","$script"],
  "env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin","TERM=xterm"],"cwd":"/",
  "capabilities":{"bounding":[$caps],"effective":[$caps],"permitted":[$caps]},
  "rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],
  "noNewPrivileges":true},
 "root":{"path":"$root","readonly":true},
 "hostname":"kiln-t0500",
 "mounts":[
  {"destination":"/proc","type":"proc","source":"proc"},
  {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
  {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
  {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
  {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
  {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
  {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]},
  {"destination":"/data","type":"bind","source":"$T/data","options":["rbind","ro","nosuid","nodev"]}
 ],
 "linux":{"resources":{$res},$userns
  "namespaces":[$namespaces],
  "seccomp":$seccomp,
  "maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats",
   "/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/sys/firmware","/proc/scsi"],
  "readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}}
JSON
}
mkdir -p "$T/data" && echo from-the-host >"$T/data/file"
# The seccomp probe: system calls the default profile denies, and some it
# must not.
"$drive" sctest-source >"$T/sctest.c"
check "build the seccomp probe" gcc -static -O1 -o "$B/rootfs/bin/sctest" "$T/sctest.c"

n=0
# both SCRIPT [MEMORY]: run under kiln's runtime and under runc; leaves
# $kout $krc $rout $rrc.
both() {
	n=$((n + 1))
	config "$@"
	run "$drive" run "$B" "kiln-$$-$n"; kout=$out krc=$rc kerr=$err
	ids+=("runc-$$-$n")
	run runc --root "$T/runc" run -b "$B" "runc-$$-$n"; rout=$out rrc=$rc rerr=$err
	[ -n "$kerr" ] && printf '%s\n' "$kerr" | head -5 | sed 's/^/# kiln stderr: /'
	[ -n "$rerr" ] && printf "%s\n" "$rerr" | head -5 | sed "s/^/# runc stderr: /"
	return 0
}

observe='echo pid=$$; hostname; grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status
unshare -U true 2>/dev/null || echo userns-denied
tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "
ls /dev | tr "\n" " "; echo
ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | cut -c1-10,35-50 | tr -s " "
mkdir /sys/kiln 2>/dev/null || echo sys-ro
touch /x 2>/dev/null || echo root-ro
{ echo 1 >/proc/sys/kernel/domainname; } 2>/dev/null || echo procsys-ro
cat /proc/keys | wc -c; ls /sys/firmware | wc -l
cat /data/file; touch /data/x 2>/dev/null || echo data-ro
echo x >/dev/shm/x && echo shm-rw
ulimit -n; id; cat /proc/1/cmdline | tr "\0" " "; echo
awk '"'"'{print $5, $6}'"'"' /proc/self/mountinfo | grep -v "^/sys/fs/cgroup" | sort'
both "$observe"
check "kiln runtime runs the observation script" test "$krc" = 0
check "runc runs the observation script" test "$rrc" = 0
printf '%s\n' "$kout" >"$T/kiln.out"
printf '%s\n' "$rout" >"$T/runc.out"
expect_same_file "$T/runc.out" "$T/kiln.out" "kiln and runc observe the same container"
expect_contains "$kout" "pid=1" "the command is PID 1"
expect_contains "$kout" "CapEff:	00000000a80425fb" "Docker's default capabilities"
expect_contains "$kout" "NoNewPrivs:	1" "no new privileges"
expect_contains "$kout" "sys-ro" "/sys is read-only"
expect_contains "$kout" "Seccomp:	2" "a seccomp filter"
expect_contains "$kout" "userns-denied" "seccomp: no new user namespace"

# The same in a user namespace: root inside is 100000 outside.  A kernel
# may have none to give (CONFIG_USER_NS off, user.max_user_namespaces=0):
# then both runtimes must refuse the bundle, and the test says so.
chmod 755 "$T"
cp -a "$B/rootfs" "$T/rootfs-userns"
chown -R 100000:100000 "$T/rootfs-userns"
USERNS=1 both "$observe"
if userns_err=$(unshare -U true 2>&1); then
	check "user namespace: kiln runtime runs the observation script" test "$krc" = 0
	check "user namespace: runc runs the observation script" test "$rrc" = 0
	printf '%s\n' "$kout" >"$T/kiln-userns.out"
	printf '%s\n' "$rout" >"$T/runc-userns.out"
	expect_same_file "$T/runc-userns.out" "$T/kiln-userns.out" "user namespace: kiln and runc observe the same container"
else
	echo "# this kernel gives no user namespace (unshare -U: $userns_err): checked only that both runtimes refuse one"
	check "no user namespace: the kiln runtime fails ($krc)" test "$krc" != 0
	check "no user namespace: runc fails ($rrc)" test "$rrc" != 0
fi

both 'sctest'
check "seccomp probe: kiln runs it" test "$krc" = 0
check "seccomp probe: runc runs it" test "$rrc" = 0
printf '%s\n' "$kout" >"$T/kiln-sctest.out"
printf '%s\n' "$rout" >"$T/runc-sctest.out"
expect_same_file "$T/runc-sctest.out" "$T/kiln-sctest.out" "seccomp probe: kiln's filter answers as runc's (libseccomp)"
expect_contains "$kout" "keyctl=EPERM" "seccomp: keyctl is EPERM"
expect_contains "$kout" "clone3=ENOSYS" "seccomp: clone3 is ENOSYS"
# (The probe has Docker's CAP_NET_RAW; the profile is for kiln's default
# set, without it: the filter alone refuses packet sockets.)
expect_contains "$rout" "packet=EPERM" "seccomp: runc refuses AF_PACKET sockets too"
expect_contains "$kout" "personality_read_implies_exec=EPERM" "seccomp: personality(READ_IMPLIES_EXEC) is EPERM"
expect_contains "$rout" "personality_query=ok" "seccomp: runc allows the personality query"

both 'exit 3'
check "exit 3 is 3 under kiln ($krc) and runc ($rrc)" test "$krc" = 3 -a "$rrc" = 3

# One process: with a pipeline the kernel may pick the shell as a second
# victim while the first one's memory is being freed.
both 'exec dd if=/dev/zero of=/dev/null bs=100M count=1' $((32 << 20))
check "beyond the memory limit is killed: kiln ($krc) and runc ($rrc)" test "$krc" = 137 -a "$rrc" = 137

both 'i=0; while [ $i -lt 30 ]; do sleep 1 & i=$((i + 1)); done 2>&1 | grep -c "can.t fork"' $((32 << 20))
check "kiln: forks beyond pids.limit fail ($kout)" test "${kout:-0}" -ge 1
check "runc: forks beyond pids.limit fail ($rout)" test "${rout:-0}" -ge 1

left=$(cgroup_left "$KILN_TEST_CGROUP_PARENT")
check "no container cgroup is left" test -z "$left"
check "no mount is left" sh -c "! grep -q '$T' /proc/self/mountinfo"
done_testing
