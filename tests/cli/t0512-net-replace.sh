#!/usr/bin/env bash
# A container replaced under the same name and published port answers at
# once (docs/containers.md): its eth0's MAC is derived from its address
# (02:42 + the address's bytes, as Docker's), so the host's ARP entry for
# the reused address stays right, and kiln forgets that entry when the
# address is released.  Before, the new container got a random MAC and the
# port was dead for 30 s and more while the host kept sending to the old
# one.  Another container keeps the bridge (and the host's ARP table on
# it) up the whole time.  Needs root; the bridge, subnet and nftables table
# are this run's own; only 127.0.0.1 and the containers' addresses are used.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0512-$$"
at_exit cleanup_containers

private_network replace 13000
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
addr_of() { kiln ps --json | python3 -c 'import json,sys; print([c.get("address","") for c in json.load(sys.stdin) if c["name"]==sys.argv[1]][0])' "$1"; }
# The MAC kiln must give ADDRESS: 02:42 and its four bytes in hex.
mac_of_addr() { local IFS=.; set -- $1; printf '02:42:%02x:%02x:%02x:%02x' "$1" "$2" "$3" "$4"; }
# serve TEXT: the command of a web server whose page is TEXT.
serve() { echo "mkdir -p /www && echo '$1' >/www/index.html && exec httpd -f -p 8080 -h /www"; }
# fetch_within N: curl the published port up to N times, 0.1 s apart,
# until it answers; the page (or nothing) in $page.
fetch_within() {
	page=""
	for _ in $(seq "$1"); do
		page=$(curl -s --max-time 0.5 "http://127.0.0.1:$port/") && [ -n "$page" ] && return 0
		sleep 0.1
	done
	return 1
}

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
expect_rc 0 "lock the busybox image" kiln lock
git add -A && git_commit busybox
expect_rc 0 "build it" kiln build
SNAP=t

# The bystander holds the bridge up, so the host's ARP table on it lives on.
expect_rc 0 "run -d a bystander on the bridge" kiln run -d --name keeper "$SNAP" sleep 600
expect_rc 0 "run -d web v1 with a published port" kiln run -d --name web -p "$port:8080" "$SNAP" sh -c "$(serve v1)"
a1=$(addr_of web)
check "web has an address in this run's subnet" test "${a1%.*}" = "$net"
expect_rc 0 "read web's MAC" kiln exec web cat /sys/class/net/eth0/address
check "web's eth0 MAC is 02:42 + its address ($a1)" test "$out" = "$(mac_of_addr "$a1")"
expect_rc 0 "read the bystander's MAC" kiln exec keeper cat /sys/class/net/eth0/address
check "and so is the bystander's" test "$out" = "$(mac_of_addr "$(addr_of keeper)")"
fetch_within 50
check "v1 answers on 127.0.0.1:$port" test "$page" = v1
check "the host has an ARP entry for web's address" \
	sh -c "ip neigh show dev '$KILN_NET_BRIDGE' to '$a1' | grep -q lladdr"

expect_rc 0 "rm -f web" kiln rm -f web
check "the host's ARP entry for the released address is gone" \
	test -z "$(ip neigh show dev "$KILN_NET_BRIDGE" to "$a1")"
expect_rc 0 "run -d web v2 under the same name and port" kiln run -d --name web -p "$port:8080" "$SNAP" sh -c "$(serve v2)"
check "it gets the same address" test "$(addr_of web)" = "$a1"
# Bounded: 30 tries 0.1 s apart; before derived MACs it stayed dead for 30 s.
fetch_within 30
check "v2 answers on the same port at once" test "$page" = v2

# Replaced again, without a pause in between and with traffic just before.
fetch_within 1
expect_rc 0 "rm -f web v2" kiln rm -f web
expect_rc 0 "run -d web v3" kiln run -d --name web -p "$port:8080" "$SNAP" sh -c "$(serve v3)"
fetch_within 30
check "v3 answers at once too" test "$page" = v3
expect_rc 0 "read v3's MAC" kiln exec web cat /sys/class/net/eth0/address
check "v3's MAC is that of the address again" test "$out" = "$(mac_of_addr "$a1")"

expect_rc 0 "rm -f everything" kiln rm -f web keeper
check "the bridge went with the last container" sh -c "! ip link show '$KILN_NET_BRIDGE' 2>/dev/null"
done_testing
