#!/usr/bin/env bash
# run: steps (docs/building.md, Steps that run) on the fixture's busybox
# image: the same digest from two stores with their own caches; what the
# sandbox shows a step (no network to a host listener on 127.0.0.1, no host
# file, a fixed environment and hostname, root); the step's layer judged by
# a tar reader, umoci and podman (files, hard and symbolic links, clamped
# mtimes, deletions as whiteouts, an opaque directory, droppings left out);
# the cache (only the changed step runs again, --no-cache runs all); a step
# writing the date named by kiln audit; a failing step leaving the store
# exactly as it was, no mount and no scratch directory.  Needs root.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0260-$$"
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

# A listener on the host's loopback that no step may reach, and a host file
# no step may see.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$T" && exec python3 -m http.server --bind 127.0.0.1 "$port" >"$T/listener.log" 2>&1) &
listener=$!
at_exit "kill $listener 2>/dev/null"
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
# The probe the step uses (the image's busybox is the host's) does reach it from here.
printf 'GET /control HTTP/1.0\r\n\r\n' | /bin/busybox nc -w 3 127.0.0.1 "$port" >/dev/null
check "(the listener answers busybox nc on the host)" grep -q "GET /control" "$T/listener.log"
: >"$T/listener.log"
marker="$T/host-marker"; echo secret >"$marker"

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<YAML
epoch: "1000000"
run:
  - |
    echo step-one-output
    mkdir -p /srv && echo one >/srv/one && ln /srv/one /srv/hard && ln -s one /srv/sym
    touch -d @2000000000 /srv/future
    cp /usr/bin/busybox /usr/bin/gone && ln -s busybox /usr/bin/gone-link
    rm -rf /var/lib/dpkg/info && mkdir /var/lib/dpkg/info && echo x >/var/lib/dpkg/info/new
    mkdir -p /var/log/apt /var/cache/debconf /var/cache/ldconfig /etc
    echo log >/var/log/dpkg.log; echo log >/var/log/apt/history.log; echo c >/var/cache/ldconfig/aux-cache
    echo old >/var/cache/debconf/config.dat-old; echo new >/var/cache/debconf/config.dat
    echo 0123456789abcdef0123456789abcdef >/etc/machine-id
    hostname >/srv/hostname; env | sort >/srv/env; id -u >/srv/uid
    if printf 'GET /from-a-step HTTP/1.0\r\n\r\n' | nc -w 3 127.0.0.1 $port; then echo reached >/srv/net; else echo unreachable >/srv/net; fi
    if [ -e $marker ]; then echo seen >/srv/marker; else echo absent >/srv/marker; fi
  - [/bin/touch, /srv/exec-form]
  - rm /usr/bin/wget /usr/bin/gone /usr/bin/gone-link && echo step-three-output
YAML
expect_rc 0 "lock" kiln lock
git add -A && git_commit steps
A=$(git rev-parse HEAD)
L0=$(grep -n '^  - |' kiln.yaml | head -1 | cut -d: -f1)

# ---- two stores, two caches: the same digest
expect_rc 0 "build with run: steps" kiln build
D1=$(printf '%s\n' "$out" | tail -1)
printf '%s\n' "$out" | sed 's/^/# /'
expect_contains "$out" "  | step-one-output" "the step's output is shown, prefixed"
expect_contains "$out" "kiln.yaml:$L0 (run[0])" "each step is named by its manifest line"
git clone -q "$T/repo" "$T/clone"
(cd "$T/clone" && KILN_CACHE="$T/cache2" "$KILN" -q build --store "$T/store2") >"$T/clone.out" 2>&1
check "another clone, store and cache builds the same digest" test "$(tail -1 "$T/clone.out")" = "$D1"
kiln_digest_ok "$D1" || sed 's/^/# /' "$T/clone.out"

# ---- what the step saw and left, judged by umoci
store="$T/repo/snapshots"
run umoci unpack --rootless --image "$store:t@$A" "$T/bundle"
check "umoci unpacks the image" test "$rc" = 0
R="$T/bundle/rootfs"
check "the network: the host's listener on 127.0.0.1 was not reachable" test "$(cat "$R/srv/net")" = unreachable
check "and the listener saw nothing" test ! -s "$T/listener.log"
check "host files: the host's marker file was not there" test "$(cat "$R/srv/marker")" = absent
check "the hostname is kiln-build" test "$(cat "$R/srv/hostname")" = kiln-build
check "the step ran as root" test "$(cat "$R/srv/uid")" = 0
want_env=$(printf '%s\n' DEBIAN_FRONTEND=noninteractive HOME=/root LANG=C.UTF-8 \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PWD=/ SHLVL=1 \
	SOURCE_DATE_EPOCH=1000000 TZ=UTC | sort)
check "the environment is the fixed one" test "$(grep -v '^_=' "$R/srv/env")" = "$want_env"
[ "$(grep -v '^_=' "$R/srv/env")" = "$want_env" ] || grep -v '^_=' "$R/srv/env" | sed 's/^/# env: /'
check "a new file" test "$(cat "$R/srv/one")" = one
check "a hard link" test "$(stat -c %i "$R/srv/one")" = "$(stat -c %i "$R/srv/hard")"
check "a symlink" test "$(readlink "$R/srv/sym")" = one
check "the exec form ran" test -f "$R/srv/exec-form"
check "an mtime after the epoch is clamped to it" test "$(stat -c %Y "$R/srv/future")" = 1000000
check "a deleted file of a lower layer is gone" test ! -e "$R/usr/bin/wget"
check "and the others are still there" test -L "$R/usr/bin/wc"
check "a file made and deleted by two steps is gone" test ! -e "$R/usr/bin/gone"
check "an opaque directory hides what was below it" test "$(ls "$R/var/lib/dpkg/info")" = new
check "dpkg.log is left out" test ! -e "$R/var/log/dpkg.log"
check "apt's logs are left out" test ! -e "$R/var/log/apt/history.log"
check "ld.so's aux-cache is left out" test ! -e "$R/var/cache/ldconfig/aux-cache"
check "debconf's *-old is left out" test ! -e "$R/var/cache/debconf/config.dat-old"
check "but debconf's database is kept" test "$(cat "$R/var/cache/debconf/config.dat")" = new
check "/etc/machine-id is emptied" test -f "$R/etc/machine-id" -a ! -s "$R/etc/machine-id"

# The layers' tar entries, read by Python's tarfile.
python3 - "$store" "$A" >"$T/tar.check" 2>&1 <<'PY'
import json, sys, tarfile
store, commit = sys.argv[1], sys.argv[2]
rec = json.load(open(f"{store}/commits/{commit}/t.json"))
man = json.load(open(f"{store}/blobs/sha256/{rec['manifest'][7:]}"))
cfg = json.load(open(f"{store}/blobs/sha256/{man['config']['digest'][7:]}"))
by = [h["created_by"] for h in cfg["history"]]
assert by[-3].startswith("run: /bin/sh -c echo step-one-output"), by[-3]
assert by[-2] == 'run: ["/bin/touch", "/srv/exec-form"]', by[-2]
def names(layer):
    with tarfile.open(f"{store}/blobs/sha256/{layer['digest'][7:]}") as t:
        return {m.name: m for m in t.getmembers()}
one, two, three = (names(l) for l in man["layers"][-3:])
assert "var/lib/dpkg/info/.wh..wh..opq" in one, sorted(one)
assert one["srv/one"].islnk() and one["srv/one"].linkname == "srv/hard", one["srv/one"]  # the first name in path order holds the bytes
assert all(m.mtime <= 1000000 and m.uid == 0 and m.uname == "" for m in one.values())
assert sorted(two) == ["srv", "srv/exec-form"], sorted(two)
assert {"usr/bin/.wh.wget", "usr/bin/.wh.gone", "usr/bin/.wh.gone-link"} <= set(three), sorted(three)
assert not any(n.startswith("var/log/") and m.isfile() for n, m in one.items()), sorted(one)
print("tar ok")
PY
check "the layers: history names the steps, whiteouts and opaque markers as OCI says, hard links, owners, mtimes" \
	grep -q "tar ok" "$T/tar.check"
grep -v "tar ok" "$T/tar.check" | sed 's/^/# /'

# podman (with runc, as t0200) sees the deletions too.
export CONTAINERS_CONF="$T/containers.conf"
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
pod=(podman --root "$T/podman/root" --runroot "$T/podman/run" --storage-driver vfs)
at_exit "${pod[*]} rm -af >/dev/null 2>&1; ${pod[*]} system reset -f >/dev/null 2>&1"
expect_rc 0 "export a docker-archive" kiln export "t@$A" --format docker-archive -o "$T/t.tar"
expect_rc 0 "podman loads it" "${pod[@]}" load -q -i "$T/t.tar"
run "${pod[@]}" run --rm --network none "t:${A:0:12}" /bin/sh -c \
	'test -e /usr/bin/wget && echo wget-present; test -e /usr/bin/gone && echo gone-present; ls /var/lib/dpkg/info; cat /srv/one'
check "podman runs it" test "$rc" = 0
check "podman: deleted files are gone, the opaque directory holds only the new file" test "$out" = "$(printf 'new\none')"
[ "$out" = "$(printf 'new\none')" ] || printf '%s\n' "$out" "$err" | sed 's/^/# podman: /'

# ---- cache: change only the last step
expect_rc 0 "a rebuild" kiln build
expect_contains "$out" "kiln.yaml:$L0 (run[0]): run: /bin/sh -c echo step-one-output" "names the step"
expect_not_contains "$out" "| step-one-output" "and does not run it"
check "every step is cached" test "$(grep -c ': cached$' <<<"$out")" = 3
sed -i 's/echo step-three-output/echo step-three-changed/' kiln.yaml
git add -A && git_commit last-step
expect_rc 0 "build after changing only the last step" kiln build
check "the first two steps are cached" test "$(grep -c '(run\[[01]\]).*: cached$' <<<"$out")" = 2
expect_not_contains "$out" "| step-one-output" "the first step did not run"
expect_contains "$out" "| step-three-changed" "the last one ran"
expect_rc 0 "--no-cache" kiln build --no-cache
expect_contains "$out" "| step-one-output" "--no-cache runs the first step again"
expect_contains "$out" "| step-three-changed" "and the last"
expect_not_contains "$out" ": cached" "and caches none"

# ---- kiln audit rebuilds from nothing (the same digest from another store is shown above)
# Two steps, so two layers, each making something differently on every build:
# the audit names every varying path of both layers, and only those; the
# second makes 120 more files, past the 100 listed.
cat >>kiln.yaml <<'YAML'
  - head -c 16 /dev/urandom >/srv/early
  - date +%s%N >/srv/date; head -c 16 /dev/urandom >/srv/random; mkdir /srv/x; i=100; while [ $i -lt 220 ]; do head -c 16 /dev/urandom >/srv/x/$i; i=$((i + 1)); done
YAML
git add -A && git_commit date
expect_rc 0 "build steps writing random bytes and the date" kiln build
expect_rc 4 "kiln audit finds the difference: exit 4" kiln audit
expect_contains "$out" "DIFFERENT" "says different"
printf '%s\n' "$out" | head -12 | sed 's/^/# audit: /'
n=$(sed -nE 's|^  first difference: layer [0-9]+/([0-9]+), path .*|\1|p' <<<"$out")
check "the first difference is the first varying step's file" \
	grep -qE "^  first difference: layer $((n - 1))/$n, path srv/early$" <<<"$out"
# srv/date holds the time in seconds (busybox's date has no %N): two builds
# within one second write the same, so it may or may not be named.
named=$(sed -nE 's|^  layer ([0-9]+/[0-9]+) path ([^:]*): .*|\1 \2|p' <<<"$out")
check "it names the first step's file in its layer" \
	grep -qx "$((n - 1))/$n srv/early" <<<"$named"
check "and the random file of the last step's layer" grep -qx "$n/$n srv/random" <<<"$named"
check "with what differs" grep -qE "^  layer $n/$n path srv/random: content differs \(sha256:" <<<"$out"
check "and no other path (exactly what the steps made differently)" \
	test -z "$(grep -vxE "$((n - 1))/$n srv/early|$n/$n srv/(date|random|x/[0-9]{3})" <<<"$named")"
check "it says what made each layer" \
	grep -qE "^  layer $n/$n \(run: /bin/sh -c date \+%s%N >/srv/date; head -c 16 /dev/u.*\): 12[12] differences$" <<<"$out"
check "and counts them all: two layers" grep -qE "^  every difference: 12[23] in 2 layers$" <<<"$out"
check "lists 100 of them" test "$(wc -l <<<"$named")" = 100
check "and says how many more" grep -qE "^  … and 2[23] more$" <<<"$out"

# ---- a failing step: its exit code and last lines, the store untouched
cat >>kiln.yaml <<'YAML'
  - |
    for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line-$i; done
    echo failing-now >&2
    exit 7
YAML
git add -A && git_commit fail
LF=$(grep -n '^  - |' kiln.yaml | tail -1 | cut -d: -f1)
listing() { (cd "$store" && find . -printf '%p %s %T@\n' | sort); }
before=$(listing)
expect_rc 1 "a failing step fails the build" kiln build
printf '%s\n' "$out" "$err" | sed 's/^/# /'
expect_contains "$err" "kiln.yaml:$LF (run[5]) failed" "it names the step by its manifest line"
expect_contains "$err" "exited with code 7" "with its exit code"
expect_contains "$err" "failing-now" "and its last lines"
expect_contains "$err" "line-12" "the last ones"
expect_not_contains "$err" "line-3" "not all of them"
check "the store is exactly as it was (no blob, record or index entry)" test "$(listing)" = "$before"
check "no mount is left under the scratch directory" sh -c "! grep -q ' $TMPDIR' /proc/self/mountinfo"
check "and no scratch directory" test -z "$(find "$TMPDIR" -maxdepth 1 -name 'kiln-*')"
check "no cgroup is left" test -z "$(cgroup_left "$KILN_CGROUP_PARENT")"

# ---- kiln stopped (SIGTERM) while a step runs: the step is stopped, nothing is left
head -n $((LF - 1)) kiln.yaml >kiln.yaml.new && mv kiln.yaml.new kiln.yaml
echo '  - echo step-started; sleep 7261; echo never' >>kiln.yaml
git add -A && git_commit stopped
"$KILN" build >"$T/stop.out" 2>"$T/stop.err" &
kpid=$!
for _ in $(seq 1 1200); do grep -q "| step-started" "$T/stop.out" && break; sleep 0.1; done
check "(the step started)" grep -q "| step-started" "$T/stop.out"
kill -TERM "$kpid"
wait "$kpid"; rc=$?
check "kiln stopped by SIGTERM during a step fails: exit 1" test "$rc" = 1
check "and says the step was stopped" grep -q "(run\[5\]): stopped by Terminated" "$T/stop.err"
sed 's/^/# /' "$T/stop.err"
check "the step's processes are gone" sh -c "! ps -eo args | grep -qx 'sleep 7261'"
check "the store is as it was" test "$(listing)" = "$before"
check "no mount is left" sh -c "! grep -q ' $TMPDIR' /proc/self/mountinfo"
check "no scratch directory" test -z "$(find "$TMPDIR" -maxdepth 1 -name 'kiln-*')"
check "no cgroup" test -z "$(cgroup_left "$KILN_CGROUP_PARENT")"

done_testing
