#!/usr/bin/env bash
# kiln deploy / rollback / history (docs/deploy.md): an HTTP service under
# load from loopback is deployed v1..v5, rolled back to v1, rolled back
# again (to v5), with an unrelated container on the bridge the whole time;
# not one request may fail, every response names its version, and each
# switch is seen at once.  A version that fails its health check never
# gets a request; a named volume carries data across replacements; kiln
# deploy killed at random points leaves one serving version, nothing left
# over, and a history that tells the truth.  Needs root; the bridge,
# subnet and nftables table are this run's own; only 127.0.0.1 and the
# containers' addresses are used.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0540-$$"
at_exit cleanup_containers

private_network deploy 16000
git_commit() { git add -A && git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
volume="t0540data$suffix"
at_exit 'rm -rf "$KILN_ROOT/volumes/'"$volume"'"'

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
sed -i 's/^name: t$/name: web/' kiln.yaml
cat >>kiln.yaml <<EOF
files:
  - {src: www/, dst: /www/}
config:
  cmd: [sh, -c, "[ -f /data/first ] || cat /www/index.html >/data/first; cp /data/first /www/first.txt; exec httpd -f -v -p 8080 -h /www"]
service:
  publish: ["127.0.0.1:$port:8080"]
  volumes: ["$volume:/data"]
  health: {http: /up, port: "8080", interval: 200ms, timeout: 1s, retries: "3", start_period: 3s}
  update: {drain: 500ms, grace: 2s}
EOF
mkdir www
version() { echo "$1" >www/index.html; echo ok >www/up; git_commit "$1"; git rev-parse HEAD; }
expect_rc 0 "lock the service's manifest" kiln lock
c1=$(version v1); c2=$(version v2); c3=$(version v3); c4=$(version v4); c5=$(version v5)
echo vbad >www/index.html; rm www/up; git_commit vbad   # no /up: its health check gets 404
cbad=$(git rev-parse HEAD)

# The bystander keeps the bridge (and the host's ARP table on it) up.
expect_rc 0 "build the snapshots" kiln build --rev "$c1"
expect_rc 0 "run a bystander on the bridge" kiln run -d --no-service --name keeper-$suffix web@"$c1" sleep 600

page() { curl -s --max-time 2 "http://127.0.0.1:$port/${1:-}"; }

# The load: one new connection per request, as fast as curl goes, from
# loopback, until $T/stop exists; one line per request: the page or FAIL.
load() {
	while [ ! -e "$T/stop" ]; do
		if r=$(curl -s -f --max-time 5 "http://127.0.0.1:$port/"); then echo "$r"; else echo "FAIL $?"; fi
	done >"$T/load.$1"
}

expect_rc 0 "deploy v1" kiln deploy web --rev "$c1"
check "v1 answers" test "$(page)" = v1
check "v1 wrote the volume" test "$(page first.txt)" = v1

load 1 & loader=$!
at_exit "touch $T/stop; kill $loader 2>/dev/null"
for v in 2 3 4 5; do
	c=$(eval echo \$c$v)
	expect_rc 0 "deploy v$v under load" kiln deploy web --rev "$c"
	check "v$v answers at once after deploy returns" test "$(page)" = "v$v"
	check "v$v reads the data v1 wrote to the volume" test "$(page first.txt)" = v1
	check "its output said what changes (files)" grep -q "changes: .*files +0 -0 ~1" <<<"$out"
done
expect_rc 0 "rollback to v1 under load" kiln rollback web --to "$c1"
check "v1 answers after the rollback" test "$(page)" = v1
check "the rolled-back v1 reads its own volume data" test "$(page first.txt)" = v1
expect_rc 0 "rollback without --to" kiln rollback web
check "goes back to what served before: v5" test "$(page)" = v5

# A version whose health check fails never gets a request.
expect_rc 1 "deploy vbad: its health check fails" kiln deploy web --rev "$cbad"
check "the failure names the check" grep -q "GET /up on port 8080" <<<"$err"
check "and what it saw (status 404)" grep -q "status 404" <<<"$err"
check "and the container's last log lines" grep -q "its last log lines" <<<"$err"
check "v5 still answers" test "$(page)" = v5
touch "$T/stop"; wait $loader
total=$(wc -l <"$T/load.1"); fails=$(grep -c '^FAIL' "$T/load.1")
echo "# $total requests under load across 4 deploys, 2 rollbacks and 1 failed deploy; $fails failed"
check "requests were made" test "$total" -gt 20
check "not one request failed" test "$fails" = 0
check "every response named a version" test -z "$(grep -v -x -E 'v[1-5]' "$T/load.1")"
check "vbad never answered" sh -c "! grep -q vbad '$T/load.1'"
check "each version answered in order (v1, v2, …, v5, v1, v5)" \
	test "$(uniq "$T/load.1" | tr '\n' ' ')" = "v1 v2 v3 v4 v5 v1 v5 "

expect_rc 0 "history" kiln history web
check "history lists 6 deploys" test "$(grep -c '^[0-9]* .* deploy ' <<<"$out")" = 6
check "and 2 rollbacks" test "$(grep -c '^[0-9]* .* rollback ' <<<"$out")" = 2
check "and the failure" grep -q ' failed ' <<<"$out"
expect_rc 0 "history --json" kiln history web --json
echo "$out" >"$T/history.json"
check "the current entry is v5's commit" \
	python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); c=[e for e in h if e["current"]]; sys.exit(not (len(c)==1 and c[0]["commit"]==sys.argv[2]))' "$T/history.json" "$c5"
check "the failed entry says why" \
	python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); sys.exit(not any(e["result"]=="failed" and "status 404" in e.get("message","") for e in h))' "$T/history.json"
service_containers() { kiln ps --json | python3 -c 'import json,sys; print(" ".join(c["name"] for c in json.load(sys.stdin) if c.get("service")=="web"))'; }
check "one container of the service runs" test "$(service_containers | wc -w)" = 1
check "the bystander ran throughout" sh -c "\"\$KILN\" ps --json | grep -q keeper-$suffix"

# Already serving: nothing to do.
expect_rc 0 "deploy v5 again" kiln deploy web --rev "$c5"
check "says it already serves" grep -q "already serves" <<<"$out"

# Killed at random points: one version serves, nothing is left over, the
# history tells what happened, the next deploy works.
rm -f "$T/stop"; load 2 & loader=$!
for i in 1 2 3 4 5 6; do
	if [ $((i % 2)) = 1 ]; then c=$c2; else c=$c3; fi
	"$KILN" deploy web --rev "$c" >"$T/kill.out" 2>&1 &
	pid=$!
	delay="$(( RANDOM % 2 )).$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
	sleep "$delay"
	kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
	echo "# kill $i after $delay s, during: $(tail -1 "$T/kill.out")"
	expect_rc 0 "kill $i: history repairs" kiln history web --json
	echo "$out" >"$T/history.json"
	echo "# kill $i: the deploy ended $(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))[-1]; print(e["result"], "-", e.get("message", ""))' "$T/history.json")"
	check "kill $i: no deploy is left unfinished" \
		python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); sys.exit(not all(e["result"]!="started" for e in h))' "$T/history.json"
	check "kill $i: exactly one container of the service" test "$(service_containers | wc -w)" = 1
	p=$(page)
	check "kill $i: a version serves ($p)" sh -c "echo '$p' | grep -qxE 'v[1-5]'"
	cur=$(python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); print([e["commit"] for e in h if e["current"]][0])' "$T/history.json")
	check "kill $i: the history's current version is the one serving" \
		test "$(git log -1 --format=%s "$cur")" = "$p"
	rules=$(nft list table ip "$KILN_NET_TABLE" | grep "dport $port" | grep -o "dnat to [0-9.:]*" | sort -u)
	addr=$(kiln ps --json | python3 -c 'import json,sys; print([c["address"] for c in json.load(sys.stdin) if c.get("service")=="web"][0])')
	check "kill $i: the port's DNAT rules lead to the serving container only" test "$rules" = "dnat to $addr:8080"
done
touch "$T/stop"; wait $loader
total=$(wc -l <"$T/load.2"); fails=$(grep -c '^FAIL' "$T/load.2")
echo "# $total requests while deploys were killed; $fails failed"
check "not one request failed while deploys were killed" test "$fails" = 0
expect_rc 0 "the next deploy works" kiln deploy web --rev "$c4"
check "v4 answers" test "$(page)" = v4

# gc keeps every snapshot a history names, even without its record.
rm -f snapshots/commits/"$c2"/web.json
expect_rc 0 "gc" kiln gc
digest2=$(kiln history web --json | python3 -c 'import json,sys; print([e["digest"] for e in json.load(sys.stdin) if e["commit"]==sys.argv[1]][0])' "$c2")
check "v2's image (no record left) survives gc: it is in the history" \
	test -f "snapshots/blobs/sha256/${digest2#sha256:}"

expect_rc 0 "rm -f the bystander" kiln rm -f keeper-$suffix
done_testing
