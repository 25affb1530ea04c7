#!/usr/bin/env bash
# Maintainer scripts of real Debian packages (docs/building.md, Maintainer
# scripts), against the machine's Debian mirror: nginx-light and
# ca-certificates lock with the Essential set added visibly, build (their
# preinst and postinst run in the sandbox), and the image has what the
# scripts make: base-passwd's www-data, the enabled default site, the CA
# bundle, every package configured; another clone with its own cache and
# store builds the same digest; `kiln run` of it serves the default page on
# a published port of loopback.  Needs root and the machine's Debian mirror.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0195-$$"
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

mkdir -p "$T/repo" && cd "$T/repo" && git init -q .
expect_rc 0 "kiln init pins the mirror's nginx-light and ca-certificates" \
	kiln init --name web -p nginx-light -p ca-certificates .
if [ "$rc" != 0 ] && printf '%s' "$err" | grep -q -E 'no mirror|GET .*(resolve|connect|timed out)'; then
	echo "ok 2 # skip no Debian mirror reachable from this machine: $err"
	done_testing
fi
trust_test_key
# What `kiln run web` runs: nginx in the foreground, as its unit does.
sed -i 's|^config:$|config:\n  entrypoint: [/usr/sbin/nginx, -g, "daemon off;"]|' kiln.yaml
expect_rc 0 "kiln lock" kiln lock
check "the Essential set is added, visibly: dpkg why: essential" \
	awk '/^  - name: dpkg$/{d=1} d && /^    why: essential$/{ok=1} /^  - name: dpkg-/{d=0} END{exit !ok}' kiln.lock
check "nginx-common's scripts are listed" \
	awk '/^  - name: nginx-common$/{d=1} d && /^    scripts: \[config, postinst, preinst\]$/{ok=1} END{exit !ok}' kiln.lock
git add -A && git_commit web
A=$(git rev-parse HEAD)

expect_rc 0 "kiln build runs the scripts" kiln build
D1=$(printf '%s\n' "$out" | tail -1)
expect_contains "$out" "  | Setting up nginx-common" "dpkg configures nginx-common"
expect_contains "$out" "policy-rc.d denied execution of start" "and no service starts"
run umoci unpack --rootless --image "$T/repo/snapshots:web@$A" "$T/bundle"
check "umoci unpacks the image" test "$rc" = 0
R="$T/bundle/rootfs"
check "www-data is in /etc/passwd (base-passwd's accounts)" grep -q '^www-data:x:33:33:' "$R/etc/passwd"
check "the default site is enabled (nginx-common's postinst)" \
	test "$(readlink "$R/etc/nginx/sites-enabled/default")" = /etc/nginx/sites-available/default
check "the CA bundle is made (ca-certificates' postinst)" grep -q "BEGIN CERTIFICATE" "$R/etc/ssl/certs/ca-certificates.crt"
check "every package is configured" \
	test "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}\n' | sort -u)" = "install ok installed"
check "no policy-rc.d is left" test ! -e "$R/usr/sbin/policy-rc.d"

git clone -q "$T/repo" "$T/clone"
(cd "$T/clone" && KILN_CACHE="$T/cache2" "$KILN" -q build --store "$T/store2") >"$T/clone.out" 2>&1
check "another clone, cache and store builds the same digest" test "$(tail -1 "$T/clone.out")" = "$D1"
[ "$(tail -1 "$T/clone.out")" = "$D1" ] || tail -5 "$T/clone.out" | sed 's/^/# clone: /'

# Networking of this run only (as t0512): a bridge, a free /24 and a table.
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export KILN_NET_BRIDGE="kd$suffix" KILN_NET_TABLE="kiln_scripts_$suffix"
routes=$(ip -4 route show table all; ip -4 -o addr)
for i in $(seq 0 40); do
	a=$(( 150 + (0x${suffix:0:2} + i) % 50 )); b=$(( (0x${suffix:2:2} + 11 * i) % 250 ))
	case "$routes" in *"10.$a.$b."*|*"10.$a.0.0/16"*|*"10.0.0.0/8"*) continue ;; esac
	export KILN_NET_SUBNET="10.$a.$b.0/24"; break
done
port=$(( 35000 + 0x${suffix:4:2} * 4 ))
ip_forward_ref enter
at_exit 'ip link del "$KILN_NET_BRIDGE" 2>/dev/null; nft delete table ip "$KILN_NET_TABLE" 2>/dev/null; ip_forward_ref leave'
expect_rc 0 "kiln run -d the nginx image with a published port" kiln run -d --name web -p "$port:80" web
page=""
for _ in $(seq 100); do
	page=$(curl -s --max-time 1 "http://127.0.0.1:$port/") && [ -n "$page" ] && break
	sleep 0.2
done
expect_contains "$page" "Welcome to nginx" "nginx serves its default page"
[ -n "$page" ] || { run kiln logs web; printf '%s\n' "$out" "$err" | sed 's/^/# logs: /'; }
run kiln rm -f web
done_testing
