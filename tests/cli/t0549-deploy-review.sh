#!/usr/bin/env bash
# Review of issue 11 (kiln deploy / rollback / history, docs/deploy.md):
# each block reproduces one finding and fails on the code it was written
# against.  Needs root; the bridge, subnet and nftables table are this
# run's own; only 127.0.0.1 and the containers' addresses are used.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0549-$$"
at_exit cleanup_containers

private_network review 18000
git_commit() { git add -A && git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; git rev-parse HEAD; }
page() { curl -s --max-time 2 "http://127.0.0.1:$1/"; }
# service NAME CMD SERVICE-BODY: manifests/NAME.yaml (locked)
service() {
	write_manifest "manifests/$1.yaml" good:containers:keyring busybox-fixture=1.0
	sed -i "s/^name: t\$/name: $1/" "manifests/$1.yaml"
	printf 'files:\n  - {src: www/, dst: /www/}\nconfig:\n  cmd: [sh, -c, "%s"]\nservice:\n%s\n' "$2" "$3" \
		>>"manifests/$1.yaml"
	"$KILN" lock -f "manifests/$1.yaml" >"$T/lock.out" 2>&1 || { echo "# lock $1 failed:"; sed "s/^/# /" "$T/lock.out"; }
}
ids_of() { kiln ps -a --json | python3 -c 'import json,sys; print(" ".join(sorted(c["name"]+"="+c["status"] for c in json.load(sys.stdin) if c.get("service")==sys.argv[1])))' "$1"; }
httpd="exec httpd -f -p 8080 -h /www"
health='  health: {tcp: "8080", interval: 200ms, timeout: 1s, retries: "3", start_period: 3s}'

mkdir -p "$T/repo/manifests/www" && cd "$T/repo" && git init -q . && trust_test_key
echo v1 >manifests/www/index.html

# 1. A version that publishes nothing (its publish: list dropped) keeps
# serving: kiln history must not replace it, again and again.
service drop "$httpd" "  publish: [\"127.0.0.1:$port:8080\"]
$health
  update: {drain: 100ms, grace: 1s}"
d1=$(git_commit drop1)
service drop "$httpd" "$health
  update: {drain: 100ms, grace: 1s}"
d2=$(git_commit drop2)
expect_rc 0 "drop: deploy v1 (publishes a port)" kiln deploy drop --rev "$d1"
expect_rc 0 "drop: deploy v2 (publishes nothing)" kiln deploy drop --rev "$d2"
before=$(ids_of drop)
expect_rc 0 "drop: history" kiln history drop
check "drop: kiln history did not replace the serving container" test "$(ids_of drop)" = "$before"
check "drop: nor said it recovered anything" bash -c "! grep -q 'nothing serves' <<<\"\$1\"" _ "$out$err"
check "drop: the port v2 no longer publishes is no longer the service's" \
	sh -c "! nft list table ip '$KILN_NET_TABLE' | grep -q 'dport $port '; ! test -e '$KILN_ROOT/run/net/services/drop.service'"

# 2. container:NAME: two containers of the service cannot hold one port
# in the same network namespace; a deploy must not report the new one
# healthy because the old one answered its check.
expect_rc 0 "shared: build a holder" kiln build -f manifests/drop.yaml --rev "$d1"
expect_rc 0 "shared: run the namespace holder" kiln run -d --no-service --name holder-$suffix drop@"$d1" sleep 600
service shared "$httpd" "  network: \"container:holder-$suffix\"
$health
  update: {drain: 100ms, grace: 1s}"
s1=$(git_commit shared1)
echo v2 >manifests/www/index.html; s2=$(git_commit shared2)
expect_rc 0 "shared: deploy v1" kiln deploy shared --rev "$s1"
run kiln deploy shared --rev "$s2"
sleep 1  # let a new container that lost the port race exit
holder_addr=$(kiln ps --json | python3 -c 'import json,sys; print([c["address"] for c in json.load(sys.stdin) if c["name"]==sys.argv[1]][0])' holder-$suffix)
check "shared: after the deploy (rc $rc) a version answers in the holder's namespace" \
	sh -c "curl -s --max-time 2 http://$holder_addr:8080/ | grep -qx 'v[12]'"
check "shared: and the container the history says serves is running" \
	sh -c "kiln_ps=\$(\"\$KILN\" ps -a); echo \"\$kiln_ps\" | grep 'shared\.' | grep -q ' Up '"
echo v1 >manifests/www/index.html

# 3. stop-first: a switch that fails (the new port is another
# container's) must not leave the service down ("the old one serves").
service sf "$httpd" "  publish: [\"127.0.0.1:$((port + 1)):8080\"]
$health
  update: {order: stop-first, drain: 100ms, grace: 1s}"
f1=$(git_commit sf1)
service sf "$httpd" "  publish: [\"127.0.0.1:$((port + 2)):8080\"]
$health
  update: {order: stop-first, drain: 100ms, grace: 1s}"
f2=$(git_commit sf2)
expect_rc 0 "stop-first: deploy v1" kiln deploy sf --rev "$f1"
expect_rc 0 "stop-first: a bystander publishes v2's port" \
	kiln run -d --no-service --name squat-$suffix -p "127.0.0.1:$((port + 2)):8080" drop@"$d1"
run kiln deploy sf --rev "$f2"
check "stop-first: the deploy failed (rc $rc)" test "$rc" != 0
check "stop-first: v1 still answers once kiln deploy has returned" test "$(page $((port + 1)))" = v1
expect_rc 0 "stop-first: rm the bystander" kiln rm -f squat-$suffix

# 4. A cmd check that times out leaves no process in the container.
service slow "sleep 2; touch /tmp/ok; exec sleep 600" \
	"  health: {cmd: [sh, -c, \"[ -f /tmp/ok ] || exec sleep 1000\"], interval: 200ms, timeout: 300ms, retries: \"3\", start_period: 5s}
  update: {drain: 100ms, grace: 1s}"
w1=$(git_commit slow1)
expect_rc 0 "slow: deploy (its first probes time out)" kiln deploy slow --rev "$w1"
expect_rc 0 "slow: ps in the container" kiln exec slow.1 ps
check "slow: no timed-out probe is left running in it" bash -c "! grep -q 'sleep 1000' <<<\"\$1\"" _ "$out"

# 5. Monitored deploy whose new container dies: the dead one is removed,
# and a kill during the auto-rollback does not put the condemned version
# back (nor wedge the service).
service mon "$httpd" "  publish: [\"127.0.0.1:$((port + 3)):8080\"]
$health
  update: {drain: 100ms, grace: 1s, monitor: 3s, on_failure: rollback}"
m1=$(git_commit mon1)
echo v2 >manifests/www/index.html
service mon "httpd -p 8080 -h /www; sleep 1.5; exit 3" "  publish: [\"127.0.0.1:$((port + 3)):8080\"]
$health
  update: {drain: 100ms, grace: 1s, monitor: 3s, on_failure: rollback}"
m2=$(git_commit mon2)
expect_rc 0 "mon: deploy v1" kiln deploy mon --rev "$m1"
expect_rc 1 "mon: deploy v2: it dies in the monitor window, v1 is put back" kiln deploy mon --rev "$m2"
check "mon: only the serving container is left (not the dead v2)" test "$(ids_of mon | wc -w)" = 1
"$KILN" deploy mon --rev "$m2" >"$T/mon.out" 2>&1 & pid=$!
for _ in $(seq 200); do grep -q "auto-rollback mon" "$T/mon.out" && break; sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null
echo "# killed during: $(tail -1 "$T/mon.out")"
run kiln history mon
check "mon: after a kill during the auto-rollback, kiln history succeeds (rc $rc)" test "$rc" = 0
check "mon: and v1 (not the condemned v2) answers" test "$(page $((port + 3)))" = v1
expect_rc 0 "mon: an explicit deploy of v1 works" kiln deploy mon --rev "$m1"
echo v1 >manifests/www/index.html

# 6. kiln rollback after a repair's recover goes to the previous version,
# not to the one that serves.
service rb "$httpd" "  publish: [\"127.0.0.1:$((port + 4)):8080\"]
$health
  update: {drain: 100ms, grace: 1s}"
r1=$(git_commit rb1)
echo v2 >manifests/www/index.html; r2=$(git_commit rb2)
expect_rc 0 "rb: deploy v1" kiln deploy rb --rev "$r1"
expect_rc 0 "rb: deploy v2" kiln deploy rb --rev "$r2"
expect_rc 0 "rb: a user removes the serving container" kiln rm -f rb.2
expect_rc 0 "rb: kiln history recovers v2" kiln history rb
check "rb: v2 answers" test "$(page $((port + 4)))" = v2
expect_rc 0 "rb: kiln rollback" kiln rollback rb
check "rb: the rollback put v1 back" test "$(page $((port + 4)))" = v1

expect_rc 0 "rm the holder" kiln rm -f holder-$suffix
done_testing
