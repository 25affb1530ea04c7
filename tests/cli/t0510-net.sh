#!/usr/bin/env bash
# lib/net bridge mode judged by tools kiln did not write: iproute2, nft,
# python3's http.server inside a namespace (via nsenter) and curl from the
# host's 127.0.0.1.  "Containers" are `unshare --net sleep` processes; the
# library is driven by build/tests/test_net (driver mode).  Only loopback and
# the addresses given to these namespaces are used; the bridge, table and
# namespaces carry a per-run suffix and go at exit, ip_forward is restored.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"

if [ "$(id -u)" != 0 ]; then
	echo "ok 1 # skip needs root (CAP_NET_ADMIN)"; done_testing
fi
DRV="${KILN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/build/tests/test_net"
check "driver built" test -x "$DRV"

suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export KILN_NET_STATE="$T/net" KILN_NET_BRIDGE="kc$suffix" KILN_NET_TABLE="kiln_cli_$suffix"
routes=$(ip -4 route show table all; ip -4 -o addr)
for i in $(seq 0 40); do
	a=$(( 200 + (0x${suffix:0:2} + i) % 50 )); b=$(( (0x${suffix:2:2} + 7 * i) % 250 ))
	case "$routes" in *"10.$a.$b."*|*"10.$a.0.0/16"*|*"10.0.0.0/8"*) continue ;; esac
	export KILN_NET_SUBNET="10.$a.$b.0/24"; net="10.$a.$b"; break
done
check "found a free subnet" test -n "${KILN_NET_SUBNET:-}"
port1=$(( 11000 + 0x${suffix:4:2} * 4 )); port2=$((port1 + 1))

ip_forward_ref enter
pids=()
cleanup_net() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	ip link del "$KILN_NET_BRIDGE" 2>/dev/null
	ip link del "kv${suffix}00" 2>/dev/null
	nft delete table ip "$KILN_NET_TABLE" 2>/dev/null
	ip_forward_ref leave
}
at_exit cleanup_net

# container: start a process in a new network namespace, print its pid.
container() {
	unshare --net sleep 1000 >/dev/null 2>&1 &
	local pid=$! i
	for i in $(seq 100); do
		[ "$(readlink /proc/$pid/ns/net 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] && break
		sleep 0.02
	done
	echo "$pid"
}
in_ns() { local pid=$1; shift; nsenter --net="/proc/$pid/ns/net" "$@"; }

web=$(container); pids+=("$web")
other=$(container); pids+=("$other")

# --- attach: addresses, links, rules ---
expect_rc 0 "attach web with two published ports" \
	"$DRV" attach web "$web" "127.0.0.1:$port1:8000" "$port2:8000"
expect_contains "$out" "$net.2 $net.1 kv" "web leases the first address"
expect_rc 0 "attach other" "$DRV" attach other "$other"
expect_contains "$out" "$net.3 $net.1 " "other leases the next one"

run in_ns "$web" ip -4 -o addr show dev eth0
expect_contains "$out" "inet $net.2/24" "web's eth0 has its address"
run in_ns "$web" ip -o link show lo
expect_contains "$out" "<LOOPBACK,UP,LOWER_UP>" "web's lo is up"
run in_ns "$other" ip -4 route
expect_contains "$out" "default via $net.1 dev eth0" "default route via the gateway"
run ip -4 -o addr show dev "$KILN_NET_BRIDGE"
expect_contains "$out" "inet $net.1/24" "the bridge has the gateway address"
run ip -o link show master "$KILN_NET_BRIDGE"
check "two veths on the bridge" test "$(printf '%s\n' "$out" | grep -c .)" = 2
run nft list table ip "$KILN_NET_TABLE"
expect_contains "$out" "ip daddr 127.0.0.1 tcp dport $port1 dnat to $net.2:8000" "DNAT for 127.0.0.1:$port1"
expect_contains "$out" "tcp dport $port2 dnat to $net.2:8000" "DNAT for *:$port2"
check "leases are files" test -f "$KILN_NET_STATE/leases/web.lease" -a -f "$KILN_NET_STATE/leases/other.lease"

# --- a real server in the namespace, real clients ---
mkdir -p "$T/www" && echo "served from web" >"$T/www/hello.txt"
(cd "$T/www" && exec nsenter --net="/proc/$web/ns/net" python3 -m http.server 8000 --bind 0.0.0.0) \
	>"$T/httpd.log" 2>&1 &
pids+=("$!")
disown "$!"
for i in $(seq 100); do
	in_ns "$web" curl -s -o /dev/null "http://127.0.0.1:8000/" && break
	sleep 0.05
done
run curl -s --max-time 5 "http://127.0.0.1:$port1/hello.txt"
expect_contains "$out" "served from web" "host 127.0.0.1:$port1 reaches the container"
run curl -s --max-time 5 "http://$net.1:$port2/hello.txt"
expect_contains "$out" "served from web" "host bridge address :$port2 reaches the container"
expect_rc 7 "port bound to 127.0.0.1 only is not on the bridge address" \
	curl -s --max-time 5 "http://$net.1:$port1/hello.txt"
run in_ns "$other" curl -s --max-time 5 "http://$net.2:8000/hello.txt"
expect_contains "$out" "served from web" "other reaches web by address"
run in_ns "$other" curl -s --max-time 5 "http://$net.1:$port2/hello.txt"
expect_contains "$out" "served from web" "other reaches web's published port via the host"
run grep -c "$net.3 " "$T/httpd.log"
check "web saw other's own address (no masquerade between containers)" test "$out" -ge 1
run in_ns "$web" python3 -c "import socket; s=socket.create_connection(('$net.1', 1), 2)"
expect_contains "$err" "ConnectionRefusedError" "web reaches the host (refused on a closed port)"

# --- the host's loopback stays closed to containers (CVE-2020-8558) ---
# A UDP service bound to the host's 127.0.0.1; a container that routes
# 127.0.0.0/8 to the gateway (in its own namespace) sends to it.  Without
# the guard rule route_localnet on the bridge would deliver the datagram.
port3=$((port1 + 2))
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        data, peer = s.recvfrom(512)
        f.write(data + b" from " + peer[0].encode() + b"\n")
' "$port3" "$T/udp.log" >/dev/null 2>&1 &
pids+=("$!")
disown "$!"
# Wait for events, bounded, rather than for a fixed time: the listener is
# bound; the host's datagrams have arrived.  The intruder's, which must
# never arrive, is given the same 0.3 s as before on top.
for _ in $(seq 100); do [ -e "$T/udp.log.ready" ] && break; sleep 0.1; done
send_udp() { # NAMESPACE-PID TEXT
	in_ns "$1" python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'$2', ('127.0.0.1', $port3))"
}
python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'from-host', ('127.0.0.1', $port3))"
in_ns "$other" sh -c "echo 1 >/proc/sys/net/ipv4/conf/eth0/route_localnet
	ip route del local 127.0.0.0/8 dev lo table local
	ip route del local 127.0.0.1 dev lo table local
	ip route add 127.0.0.0/8 via $net.1 dev eth0 onlink"
send_udp "$other" "intruder"
python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'from-host-2', ('127.0.0.1', $port3))"
for _ in $(seq 100); do grep -q "from-host-2" "$T/udp.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.3
run cat "$T/udp.log"
expect_contains "$out" "from-host from 127.0.0.1" "the host's loopback service works"
expect_not_contains "$out" "intruder" "a container cannot reach the host's 127.0.0.1"

# --- the guard comes back when removed behind kiln's back ---
# A firewall reload or an admin's `nft flush table` takes the guard while
# route_localnet=1 stays on the bridge; the next reap (every kiln container
# command makes one) or attach, even one without ports, puts it back.
guard_rule="iifname \"$KILN_NET_BRIDGE\" ip daddr 127.0.0.0/8 drop"
nft flush table ip "$KILN_NET_TABLE"
send_udp "$other" "through-the-hole"
sleep 0.3
run cat "$T/udp.log"
expect_contains "$out" "through-the-hole" "with the table flushed the container reaches 127.0.0.1"
expect_rc 0 "reap with every container alive" "$DRV" reap web other
run nft list chain ip "$KILN_NET_TABLE" guard
expect_contains "$out" "$guard_rule" "reap puts the guard back"
run nft list table ip "$KILN_NET_TABLE"
expect_contains "$out" "ip daddr 127.0.0.1 tcp dport $port1 dnat to $net.2:8000" "and the DNAT rules"
send_udp "$other" "after-reap"
sleep 0.3
run cat "$T/udp.log"
expect_not_contains "$out" "after-reap" "after the reap the container cannot reach 127.0.0.1"
nft delete chain ip "$KILN_NET_TABLE" guard
spare=$(container); pids+=("$spare")
expect_rc 0 "attach without ports after the guard chain was deleted" "$DRV" attach spare "$spare"
run nft list chain ip "$KILN_NET_TABLE" guard
expect_contains "$out" "$guard_rule" "the attach puts the guard back"
send_udp "$other" "after-attach"
sleep 0.3
run cat "$T/udp.log"
expect_not_contains "$out" "after-attach" "after the attach the container cannot reach 127.0.0.1"
expect_rc 0 "detach spare" "$DRV" detach spare

# --- records naming links that are not kiln's are refused ---
evil="$KILN_NET_STATE/leases/evil.lease"
printf 'kiln-net-lease 1\nid evil\naddress %s.60\nveth %s\n' "$net" "$KILN_NET_BRIDGE" >"$evil"
expect_rc 1 "detach of a record naming the bridge fails" "$DRV" detach evil
expect_contains "$err" "lease record '$evil': bad line 4: veth is not a name kiln makes" "the error names the record and the field"
expect_rc 1 "so does a reap" "$DRV" reap web other
expect_contains "$err" "lease record '$evil'" "the reap's error names the record"
check "the bridge is still there" test -e "/sys/class/net/$KILN_NET_BRIDGE"
ip link add "kv${suffix}00" type bridge
printf 'kiln-net-lease 1\nid evil\naddress %s.60\nveth kv%s00\n' "$net" "$suffix" >"$evil"
expect_rc 1 "detach of a record naming a kiln-like name that is not our veth fails" "$DRV" detach evil
expect_contains "$err" "link 'kv${suffix}00' is not a veth on bridge '$KILN_NET_BRIDGE' (kind 'bridge', master 0); not deleting it" "the error says why"
check "that link is still there" test -e "/sys/class/net/kv${suffix}00"
check "the record is kept" test -f "$evil"
rm -f "$evil"
ip link del "kv${suffix}00"

# --- conflicts ---
third=$(container); pids+=("$third")
expect_rc 1 "a taken host port is refused" "$DRV" attach third "$third" "$port2:80"
expect_contains "$err" "host port $port2/tcp: already published by container 'web'" "error names port and holder"
check "no lease left by the refused attach" test ! -e "$KILN_NET_STATE/leases/third.lease"
expect_rc 0 "the same port over udp is free" "$DRV" attach third "$third" "$port2:80/udp"
expect_contains "$out" "$net.4 " "third leases .4"

# --- concurrent attaches from two processes ---
c1=$(container); pids+=("$c1")
c2=$(container); pids+=("$c2")
"$DRV" attach con1 "$c1" >"$T/con1" 2>&1 &
j1=$!
"$DRV" attach con2 "$c2" >"$T/con2" 2>&1 &
j2=$!
wait $j1; r1=$?
wait $j2; r2=$?
check "both concurrent attaches succeed" test "$r1$r2" = 00
a1=$(cut -d' ' -f1 "$T/con1"); a2=$(cut -d' ' -f1 "$T/con2")
check "concurrent attaches get distinct addresses ($a1, $a2)" test -n "$a1" -a -n "$a2" -a "$a1" != "$a2"
run in_ns "$c2" ip -4 -o addr show dev eth0
expect_contains "$out" "inet $a2/24" "con2 has the address it was told"

# --- detach, reap ---
veth=$(awk '$1 == "veth" {print $2}' "$KILN_NET_STATE/leases/web.lease")
expect_rc 0 "detach web" "$DRV" detach web
check "web's veth is gone" test ! -e "/sys/class/net/$veth"
check "web's lease is gone" test ! -e "$KILN_NET_STATE/leases/web.lease"
run nft list table ip "$KILN_NET_TABLE"
expect_not_contains "$out" "$net.2:8000" "web's DNAT rules are gone"
expect_contains "$out" "udp dport $port2 dnat to $net.4:80" "third's rule stays"
expect_rc 7 "127.0.0.1:$port1 no longer answers" curl -s --max-time 5 "http://127.0.0.1:$port1/"
expect_rc 0 "detach web again" "$DRV" detach web
expect_rc 0 "reap all but other" "$DRV" reap other
run ls "$KILN_NET_STATE/leases"
check "only other's lease is left" test "$out" = other.lease
run ip -o link show master "$KILN_NET_BRIDGE"
check "one veth left on the bridge" test "$(printf '%s\n' "$out" | grep -c .)" = 1
expect_rc 0 "detach other" "$DRV" detach other
check "the bridge is gone" test ! -e "/sys/class/net/$KILN_NET_BRIDGE"
expect_rc 1 "the table is gone" nft list table ip "$KILN_NET_TABLE"
run ls -A "$KILN_NET_STATE/leases"
check "no lease is left" test -z "$out"

# --- none mode ---
lonely=$(container); pids+=("$lonely")
expect_rc 0 "loopback up" "$DRV" loopback "$lonely"
run in_ns "$lonely" ip -o link
expect_contains "$out" "lo: <LOOPBACK,UP,LOWER_UP>" "none: lo is up"
check "none: only lo" test "$(printf '%s\n' "$out" | grep -c .)" = 1

done_testing
