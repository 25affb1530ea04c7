#!/usr/bin/env bash
# kiln deploy's policies (docs/deploy.md): several services from
# manifests/*.yaml deployed by --all in service.after order (a cycle is
# refused before anything starts), tcp and cmd health checks,
# update.order: stop-first, update.monitor with on_failure: rollback (a
# version that dies after the switch is replaced by the one before), and
# the refusals: an unsigned snapshot, an unknown service, a manifest
# without service:.  Needs root; the bridge, subnet and nftables table are
# this run's own; only 127.0.0.1 and the containers' addresses are used.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0541-$$"
at_exit cleanup_containers

private_network policy 17000
git_commit() { git add -A && git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
page() { curl -s --max-time 2 "http://127.0.0.1:$1/"; }

mkdir -p "$T/repo/manifests/www" && cd "$T/repo" && git init -q . && trust_test_key
echo v1 >manifests/www/index.html
# service NAME PORT HEALTH UPDATE [AFTER] [CMD]: manifests/NAME.yaml
service() {
	write_manifest "manifests/$1.yaml" good:containers:keyring busybox-fixture=1.0
	sed -i "s/^name: t\$/name: $1/" "manifests/$1.yaml"
	cat >>"manifests/$1.yaml" <<EOF
files:
  - {src: www/, dst: /www/}
config:
  cmd: [sh, -c, "${6:-exec httpd -f -p 8080 -h /www}"]
service:
  publish: ["127.0.0.1:$2:8080"]
  health: $3
  update: $4
  after: [${5:-}]
EOF
	"$KILN" lock -q -f "manifests/$1.yaml" >/dev/null 2>&1 || true
}
service api $port "{tcp: \"8080\", interval: 200ms, start_period: 3s}" "{order: stop-first, grace: 1s}"
service front $((port + 1)) "{cmd: [test, -s, /www/index.html], interval: 200ms, start_period: 3s}" "{drain: 100ms, grace: 1s}" api
for m in api front; do expect_rc 0 "lock $m" kiln lock -f manifests/$m.yaml; done
git_commit v1; c1=$(git rev-parse HEAD)

expect_rc 0 "deploy --all" kiln deploy --all
check "api was deployed before front (front: after: [api])" \
	test "$(grep -o '== [a-z]*' <<<"$out" | tr '\n' ' ')" = "== api == front "
check "the tcp check was used for api" grep -q "TCP port 8080" <<<"$out"
check "the cmd check for front" grep -q "test -s /www/index.html" <<<"$out"
check "api answers" test "$(page $port)" = v1
check "front answers" test "$(page $((port + 1)))" = v1

# stop-first: the old container goes before the new one starts.
echo v2 >manifests/www/index.html; git_commit v2; c2=$(git rev-parse HEAD)
expect_rc 0 "deploy api v2 (stop-first)" kiln deploy api
check "it stopped the old one first" grep -q "stopping api.1 first (update.order: stop-first)" <<<"$out"
check "api v2 answers" test "$(page $port)" = v2
check "one container of api" \
	test "$(kiln ps --json | python3 -c 'import json,sys; print(sum(c.get("service")=="api" for c in json.load(sys.stdin)))')" = 1

# update.monitor + on_failure: rollback: v3 passes its check, then dies.
echo v3 >manifests/www/index.html
service front $((port + 1)) "{cmd: [test, -s, /www/index.html], interval: 200ms, start_period: 3s}" \
	"{drain: 100ms, grace: 1s, monitor: 4s, on_failure: rollback}" api "httpd -p 8080 -h /www; sleep 1; exit 3"
git_commit v3
expect_rc 1 "deploy front v3: it dies within the monitor window" kiln deploy front
check "says it exited after the switch" grep -q "front.2 exited .* after the switch" <<<"$err"
check "and that it rolled back" grep -q "update.on_failure: rollback" <<<"$out"
check "front v1 answers again" test "$(page $((port + 1)))" = v1
expect_rc 0 "history front --json" kiln history front --json
check "history: v3 rolled-back, then an auto-rollback serving v1" \
	python3 -c 'import json,sys; h=json.loads(sys.argv[1]); r=[(e["action"],e["result"]) for e in h]; sys.exit(not (("deploy","rolled-back") in r and r[-1]==("auto-rollback","serving") and h[-1]["commit"]==sys.argv[2]))' "$out" "$c1"

# A cycle in after: is refused before anything starts.
service api $port "{tcp: \"8080\", interval: 200ms}" "{order: stop-first}" front
git_commit cycle
before=$(kiln ps -q | sort)
expect_rc 1 "deploy --all with a cycle" kiln deploy --all
check "names the cycle" grep -q "cycle" <<<"$err"
check "nothing was started or stopped" test "$(kiln ps -q | sort)" = "$before"

# Refusals.
expect_rc 1 "an unknown service" kiln deploy nosuch
check "says no manifest has that name" grep -q 'no manifest named "nosuch"' <<<"$err"
write_manifest manifests/plain.yaml good:containers:keyring busybox-fixture=1.0
sed -i 's/^name: t$/name: plain/' manifests/plain.yaml
expect_rc 0 "lock plain" kiln lock -f manifests/plain.yaml
git_commit plain
expect_rc 1 "a manifest without service:" kiln deploy plain
check "says it is not a service" grep -q "has no service: section" <<<"$err"
echo v4 >manifests/www/index.html
service front $((port + 1)) "{cmd: [test, -s, /www/index.html], interval: 200ms, start_period: 3s}" "{drain: 100ms, grace: 1s}" api
git_commit v4; c4=$(git rev-parse HEAD)
expect_rc 0 "build front v4 unsigned" kiln build -f manifests/front.yaml --no-sign
expect_rc 3 "deploying an unsigned snapshot is refused" kiln deploy front
check "front v1 still answers" test "$(page $((port + 1)))" = v1
expect_rc 0 "unless --insecure" kiln deploy front --insecure
check "front v4 answers" test "$(page $((port + 1)))" = v4
expect_rc 0 "rollback front" kiln rollback front
check "rollback puts back what served before (v1)" test "$(page $((port + 1)))" = v1

# A service name is never a path: nothing is made outside $KILN_ROOT/services.
for cmd in "deploy" "rollback" "history"; do
	expect_rc 2 "kiln $cmd ../../escape is a usage error" kiln $cmd ../../escape
done
check "nothing was made outside services/" test ! -e "$KILN_ROOT/escape" -a ! -e "$T/escape"
# A history line kiln did not write stops the commands that read it, naming it.
echo '{"seq":9,"action":"deploy","result":"serving"}' >>"$KILN_ROOT/services/front/history"
expect_rc 1 "a foreign history line is refused" kiln history front
check "naming the file and line" grep -q "services/front/history:[0-9]*: not a history line kiln writes" <<<"$err"
expect_rc 1 "deploy refuses it too" kiln deploy front
check "and front still answers" test "$(page $((port + 1)))" = v1
done_testing
