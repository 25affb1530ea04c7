#!/usr/bin/env bash
# kiln run of a named snapshot applies the service: section of the manifest
# it was built from (docs/containers.md, "A service's settings"): published
# ports (answering on 127.0.0.1), volumes, resources; -p replaces the
# publish list, --no-service ignores it all.  ps shows the commit and the
# digest a container runs, which a new commit does not change.  A run that
# fails to start leaves nothing holding its name.  Needs root; the bridge,
# subnet and nftables table are this run's own (as t0512); only 127.0.0.1
# and the containers' addresses are used.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0530-$$"
at_exit cleanup_containers

private_network svc 15000
port2=$((port + 1)); port3=$((port + 2))
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
json_of() { kiln ps -a --json | python3 -c 'import json,sys; c=[c for c in json.load(sys.stdin) if c["name"]==sys.argv[1]]; print(c[0].get(sys.argv[2], "") if c else "NONE")' "$1" "$2"; }
serve() { echo "mkdir -p /www && echo '$1' >/www/index.html && exec httpd -f -p 8080 -h /www"; }
# fetch_within N PORT: curl 127.0.0.1:PORT up to N times, 0.1 s apart,
# until it answers; the page (or nothing) in $page.
fetch_within() {
	page=""
	for _ in $(seq "$1"); do
		page=$(curl -s --max-time 0.5 "http://127.0.0.1:$2/") && [ -n "$page" ] && return 0
		sleep 0.1
	done
	return 1
}
# name_free NAME: no container holds NAME (ps -a) and a new one takes it.
name_free() {
	check "$1: ps -a shows nothing left" test "$(json_of "$1" id)" = NONE
	expect_rc 0 "$1: the name can be used again at once" kiln run --rm --no-service --network none --name "$1" "$SNAP" true
}

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<EOF
service:
  publish: ["127.0.0.1:$port:8080"]
  volumes: ["svcdata:/data"]
  resources: {memory: 64M, pids: "77"}
EOF
expect_rc 0 "lock the busybox image" kiln lock
git add -A && git_commit service
expect_rc 0 "build it" kiln build
SNAP=t
commit1=$(git rev-parse HEAD)
digest1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"])' "snapshots/commits/$commit1/t.json")

# publish from service: answers on 127.0.0.1, without any -p.
expect_rc 0 "run -d web: no -p" kiln run -d --name web "$SNAP" sh -c "$(serve v1)"
fetch_within 50 "$port"
check "service.publish answers on 127.0.0.1:$port" test "$page" = v1
check "ps --json lists the manifest's port" test "$(json_of web ports)" = "['127.0.0.1:$port:8080']"

# ps: the commit and the digest, not the revision as typed.
check "ps --json: the full commit" test "$(json_of web commit)" = "$commit1"
digest=$(json_of web image)
check "ps --json: the full digest" kiln_digest_ok "$digest"
check "the digest is the snapshot's (its record's)" test "$digest" = "$digest1"
run kiln ps
expect_contains "$out" "t@${commit1:0:12}" "ps shows SNAPSHOT as NAME@COMMIT12"
expect_contains "$out" " ${digest:7:12} " "ps shows IMAGE as the digest's first 12 hex"
echo "# a new commit" >>notes && git add notes && git_commit "another commit"
check "HEAD moved" test "$(git rev-parse HEAD)" != "$commit1"
run kiln ps
expect_contains "$out" "t@${commit1:0:12}" "after a new commit ps still shows what runs"
check "and --json the same commit" test "$(json_of web commit)" = "$commit1"
SNAP=t@HEAD~1 # the snapshot of commit1 from here on

# -p replaces the manifest's publish list (as docker-compose run).
expect_rc 0 "run -d web2 -p $port2:8080" kiln run -d --name web2 -p "127.0.0.1:$port2:8080" "$SNAP" sh -c "$(serve v2)"
check "web2 publishes only the -p port" test "$(json_of web2 ports)" = "['127.0.0.1:$port2:8080']"
fetch_within 50 "$port2"
check "the -p port answers" test "$page" = v2
fetch_within 1 "$port"
check "the manifest's port is still web's" test "$page" = v1

# volumes and resources from service:.
expect_rc 0 "service.volumes is mounted" kiln run --rm --network none "$SNAP" sh -c 'echo kept >/data/f; grep " /data " /proc/self/mountinfo'
check "the named volume holds the write" test "$(cat "$KILN_ROOT/volumes/svcdata/f")" = kept
expect_rc 0 "service.resources apply" kiln run --rm --network none "$SNAP" sh -c \
	'cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max'
check "pids: 77" test "$out" = 77
expect_rc 0 "--pids overrides" kiln run --rm --network none --pids 55 "$SNAP" sh -c \
	'cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max'
check "pids: 55" test "$out" = 55
expect_rc 0 "--no-service ignores it" kiln run --rm --network none --no-service "$SNAP" sh -c \
	'test -d /data && echo mounted || echo none; cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max'
check "no volume, the default pids" test "$(echo $out)" = "none 2048"
# A sha256: snapshot has no manifest: nothing is applied.
expect_rc 0 "a digest runs without service:" kiln run --rm --network none "$digest" sh -c 'test -d /data && echo mounted || echo none'
check "no volume" test "$out" = none

# Failed starts leave no container holding the name.
# expect_fail WHAT TEXT CMD…: CMD fails (any exit but 0) saying TEXT.
expect_fail() {
	local what=$1 text=$2; shift 2
	run "$@"
	check "$what fails" test "$rc" != 0
	expect_contains "$err" "$text" "$what: the error says why"
}
expect_fail "the manifest's port, taken by web" "$port" kiln run --name f0 "$SNAP" true
name_free f0
expect_fail "a missing program" "/no/such/program" kiln run --name f1 --network none "$SNAP" /no/such/program
name_free f1
expect_fail "a missing program, -d" "/no/such/program" kiln run -d --name f2 --network none "$SNAP" /no/such/program
name_free f2
expect_fail "a missing entrypoint binary" "/nope" kiln run --name f3 --network none --entrypoint /nope "$SNAP"
name_free f3
expect_fail "a volume that cannot be mounted (a directory onto a file)" "/etc/passwd" \
	kiln run -d --name f4 --network none -v data:/etc/passwd "$SNAP" true
name_free f4
expect_fail "a host port already published (by web2)" "$port2" kiln run -d --name f5 -p "127.0.0.1:$port2:8080" "$SNAP" sleep 60
name_free f5
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); sys.stdout.write("up\n"); sys.stdout.flush(); time.sleep(600)' "$port3" >"$T/listener" &
listener=$!
at_exit "kill $listener 2>/dev/null"
until [ -s "$T/listener" ]; do sleep 0.05; done
expect_fail "a host port a host process listens on" "$port3" kiln run -d --name f6 -p "127.0.0.1:$port3:8080" "$SNAP" sleep 60
name_free f6
expect_fail "an unknown user" nosuch kiln run --name f7 --network none -u nosuch "$SNAP" true
name_free f7

expect_rc 0 "rm -f the services" kiln rm -f web web2
done_testing
