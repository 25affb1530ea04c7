#!/usr/bin/env bash
# Containers are reached through their published ports, not by their
# addresses (docs/containers.md, Network): a neighbour that routes the
# containers' subnet through this host (here a network namespace of this
# test, joined to the host by a veth pair in a /30 no route of the host uses)
# cannot open a connection to a container's address, published port or
# not, while the published port on the host's address answers it, the host
# itself still reaches the container's address, and containers reach each
# other.  Needs root; every address used is this test's own.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0513-$$"
at_exit cleanup_containers
private_network forward 14000
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
addr_of() { "$KILN" ps --json | python3 -c 'import json,sys; print([c.get("address","") for c in json.load(sys.stdin) if c["name"]==sys.argv[1]][0])' "$1"; }

# The neighbour: its own namespace, a /30 with the host that no route or
# address of the host uses, the containers' subnet routed through the host.
ns="kfwd$suffix" hv="kfh$suffix" nv="kfn$suffix"
routes=$(ip -4 route show table all; ip -4 -o addr)
for _ in $(seq 60); do
	link="10.$((150 + RANDOM % 50)).$((RANDOM % 250))"
	case "$routes" in *"$link."*|*"${link%.*}.0.0/16"*|*"10.0.0.0/8"*) continue ;; esac
	[ "$link" != "$net" ] && break
done
hostaddr=$link.1 nbaddr=$link.2
at_exit 'ip netns del "$ns" 2>/dev/null; ip link del "$hv" 2>/dev/null'
ip netns add "$ns" && ip link add "$hv" type veth peer name "$nv" && ip link set "$nv" netns "$ns" &&
	ip addr add $hostaddr/30 dev "$hv" && ip link set "$hv" up &&
	ip -n "$ns" addr add $nbaddr/30 dev "$nv" && ip -n "$ns" link set "$nv" up &&
	ip -n "$ns" link set lo up && ip -n "$ns" route add "$KILN_NET_SUBNET" via $hostaddr
check "(the neighbour's namespace routes $KILN_NET_SUBNET through the host)" test $? = 0

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
expect_rc 0 "lock the busybox image" kiln lock
git add -A && git_commit busybox
expect_rc 0 "build it" kiln build
serve="mkdir -p /www && echo web >/www/index.html && httpd -p 9090 -h /www && exec httpd -f -p 8080 -h /www"
expect_rc 0 "run -d web: 8080 published, 9090 not" kiln run -d --name web -p "$port:8080" t sh -c "$serve"
expect_rc 0 "run -d another container" kiln run -d --name other t sleep 600
a=$(addr_of web)
for _ in $(seq 50); do curl -s --max-time 0.5 "http://$a:8080/" >/dev/null && break; sleep 0.1; done

run curl -s --max-time 3 "http://$a:8080/"
check "the host reaches the container's address" test "$out" = web
run ip netns exec "$ns" curl -s --max-time 3 "http://$hostaddr:$port/"
check "the neighbour reaches the published port on the host's address" test "$out" = web
run ip netns exec "$ns" curl -s --max-time 3 "http://$a:8080/"
check "the neighbour cannot connect to the container's address (published port)" test "$rc" != 0 -a -z "$out"
run ip netns exec "$ns" curl -s --max-time 3 "http://$a:9090/"
check "nor to a port that is not published" test "$rc" != 0 -a -z "$out"
# (busybox nc: the static busybox's wget resolves names through glibc's NSS.)
run kiln exec other sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $a 9090"
check "containers on the bridge still reach each other" grep -qx web <<<"${out//$'\r'/}"
done_testing
