# tests/lib/containers.sh - shared by the container tests (sourced after cli.sh).
#
#   ip_forward_ref enter|leave   share net.ipv4.ip_forward with concurrent tests
#   cleanup_containers           remove this script's containers, mounts and cgroups
#                                (needs KILN_ROOT and KILN_CGROUP_PARENT set)
#   cgroup_layout                v2 (/sys/fs/cgroup is cgroup2, unified) or v1
#                                (v1 hierarchies, "hybrid" included)
#   cgroup_left PARENT           the cgroups left below PARENT, in either layout
#   private_network TAG BASE     this run's own bridge, subnet, nftables table and ports

# net.ipv4.ip_forward is one switch for the host and writing it resets every
# interface's forwarding, so tests that run at the same time share a count
# (under flock); the last one out restores what the first one found.  Same
# protocol in tests/unit/test_net.c.
ip_forward_ref() { # enter | leave
	flock /run/kiln-test-ip_forward.lock sh -c '
		f=/run/kiln-test-ip_forward
		if [ "$1" = enter ]; then
			if [ -f $f ]; then read o n <$f; echo "$o $((n+1))" >$f
			else echo "$(cat /proc/sys/net/ipv4/ip_forward) 1" >$f; fi
		elif [ -f $f ]; then
			read o n <$f; n=$((n-1))
			if [ $n -le 0 ]; then echo $o >/proc/sys/net/ipv4/ip_forward; rm -f $f
			else echo "$o $n" >$f; fi
		fi' _ "$1"
}

# Every container of this KILN_ROOT, the mounts under $T, the cgroup parent.
cleanup_containers() {
	local ids
	ids=$("$KILN" ps -aq 2>/dev/null)
	[ -n "$ids" ] && "$KILN" rm -f $ids >/dev/null 2>&1
	grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	for d in /sys/fs/cgroup/"$KILN_CGROUP_PARENT" /sys/fs/cgroup/*/"$KILN_CGROUP_PARENT"; do
		[ -d "$d" ] && rmdir "$d"/* "$d" 2>/dev/null
	done
	true
}

# A test must hold on either layout a Debian 12 host may have: cgroup v2
# alone (the default) or v1 hierarchies beside an empty v2 (this project's
# CI).  Tests say which one they saw in a TAP comment where it matters.
cgroup_layout() {
	if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then echo v2; else echo v1; fi
}

# The directories below PARENT: /sys/fs/cgroup/PARENT on v2, one per v1
# hierarchy (/sys/fs/cgroup/memory/PARENT, …) on v1.  Nothing when none.
cgroup_left() {
	local d
	for d in /sys/fs/cgroup/"$1" /sys/fs/cgroup/*/"$1"; do
		[ -d "$d" ] && find "$d" -mindepth 1 -type d
	done
	true
}

# private_network TAG PORT_BASE: this run's own network, removed on exit
# (a trap): bridge k+TAG's first letter+6 hex, nftables table kiln_TAG_HEX,
# a /24 in 10.150-199.x.0 that no route or address of the host uses, and
# ip_forward shared as above.  Sets suffix (the 6 hex digits), net (the
# subnet's first three bytes) and port (PORT_BASE + 4 × a random byte, so
# PORT_BASE to PORT_BASE+1023: give each script its own range, below the
# kernel's ephemeral ports (32768-60999), where other tests' listeners
# bound to port 0 land: 11000-24023 are taken, test_net uses 30000-31999).
private_network() {
	local tag=$1 base=$2 routes a b i
	suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	export KILN_NET_BRIDGE="k${tag:0:1}$suffix" KILN_NET_TABLE="kiln_${tag}_$suffix"
	routes=$(ip -4 route show table all; ip -4 -o addr)
	for i in $(seq 0 40); do
		a=$(( 150 + (0x${suffix:0:2} + i) % 50 )); b=$(( (0x${suffix:2:2} + 11 * i) % 250 ))
		case "$routes" in *"10.$a.$b."*|*"10.$a.0.0/16"*|*"10.0.0.0/8"*) continue ;; esac
		export KILN_NET_SUBNET="10.$a.$b.0/24"; net="10.$a.$b"; break
	done
	port=$(( base + 0x${suffix:4:2} * 4 ))
	ip_forward_ref enter
	at_exit 'ip link del "$KILN_NET_BRIDGE" 2>/dev/null; nft delete table ip "$KILN_NET_TABLE" 2>/dev/null; ip_forward_ref leave'
}
