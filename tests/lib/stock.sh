# tests/lib/stock.sh - shared by the stock manifests' tests (manifests/,
# tests/cli/t0196-t0199 and t0201), sourced after cli.sh and containers.sh.
# Each test takes the project's manifests/ folder as a user would, into a
# git repository of its own, against this machine's Debian mirror.
#
#   stock_setup NAME TAG PORT_BASE  root or skip; a repository $T/repo holding
#                                   manifests/ with NAME's published host port
#                                   moved to this run's $port; this run's own
#                                   network (private_network), state and cgroups
#   stock_lock NAME                 the committed lock is current (lock --check),
#                                   else the mirror has moved on: re-lock (and
#                                   re-pin) in the copy, saying so; skips the
#                                   whole test when no mirror is reachable
#   stock_commit MSG                commit the repository's state
#   stock_build NAME                build HEAD's NAME: $digest
#   stock_unpack NAME               umoci unpacks HEAD's NAME into $R (the rootfs),
#                                   where every package is configured and no
#                                   policy-rc.d is left
#   stock_audit                     kiln audit: rebuilt from nothing, identical
#   stock_container NAME            the running container that serves NAME
#   stock_wait_tcp PORT             wait (up to 30 s) until 127.0.0.1:PORT accepts

stock_setup() { # NAME TAG PORT_BASE
	local name=$1
	if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
	export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-$2-$$"
	export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
	at_exit cleanup_containers
	private_network "$2" "$3"
	mkdir -p "$T/repo" && cp -r "$KILN_TOP/manifests" "$T/repo/" && cd "$T/repo" && git init -q .
	trust_test_key
	# The published host port: this run's own, the rest of the entry kept.
	python3 - "manifests/$name.yaml" "$port" <<'EOF'
import re, sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
new, n = re.subn(r'(publish: \["(?:[0-9.]+:)?)[0-9]+(:)', r'\g<1>%s\2' % port, text, count=1)
if n != 1:
    sys.exit("no publish entry in " + path)
open(path, "w").write(new)
EOF
}

stock_commit() { git add -A && git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

stock_lock() { # NAME
	local name=$1 m=manifests/$1.yaml
	run kiln lock --check -f "$m"
	if [ "$rc" != 0 ] && printf '%s' "$err" | grep -q -E 'no mirror|GET .*(resolve|connect|timed out)'; then
		echo "ok 1 # skip no Debian mirror reachable from this machine: $err"
		done_testing
	fi
	if [ "$rc" = 0 ]; then
		check "manifests/$name.lock is current against the mirror" true
		return
	fi
	# Debian replaced a locked version since the lock was committed (a
	# security update): the test goes on with what the mirror has, as a
	# user re-locking would, and says so.
	echo "# the mirror moved on since manifests/$name.lock was committed: $err" | head -3
	run kiln lock -f "$m"
	if [ "$rc" != 0 ]; then
		# The pinned version itself is gone: pin what the mirror has now.
		local pkg ver
		for pkg in $(sed -n '/^packages:/,/^[a-z]/{s/^  \([a-z0-9][a-z0-9.+-]*\): .*/\1/p}' "$m"); do
			ver=$(mkdir -p "$T/pin-$pkg" && cd "$T/pin-$pkg" && git init -q . &&
				"$KILN" -q init --name pin -p "$pkg" . >/dev/null 2>&1 &&
				sed -n "s/^  $pkg: \"\(.*\)\"$/\1/p" kiln.yaml)
			[ -n "$ver" ] && sed -i "s|^  $pkg: \".*\"|  $pkg: \"$ver\"|" "$m" && echo "# re-pinned $pkg $ver"
		done
		run kiln lock -f "$m"
	fi
	check "re-locked against the mirror as it is now" test "$rc" = 0
	[ "$rc" = 0 ] || { printf '# %s\n' "$err"; done_testing; }
}

stock_build() { # NAME
	expect_rc 0 "kiln build -f manifests/$1.yaml (its packages' scripts run in the sandbox)" \
		kiln build -f "manifests/$1.yaml"
	digest=$(printf '%s\n' "$out" | tail -1)
	[ "$rc" = 0 ] || { printf '%s\n' "$err" | tail -5 | sed 's/^/# /'; done_testing; }
}

stock_unpack() { # NAME
	rm -rf "$T/bundle"
	run umoci unpack --rootless --image "$T/repo/snapshots:$1@$(git rev-parse HEAD)" "$T/bundle"
	check "umoci unpacks the image" test "$rc" = 0
	R="$T/bundle/rootfs"
	check "every package is configured" \
		test "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}\n' | sort -u)" = "install ok installed"
	check "no policy-rc.d is left" test ! -e "$R/usr/sbin/policy-rc.d"
}

# Rebuilt from nothing (an empty store, no build cache, every package
# downloaded again into a fresh cache): the same bytes.
stock_audit() {
	expect_rc 0 "kiln audit: rebuilt from nothing, the same digest" kiln audit
	expect_contains "$out" "identical" "the audit says identical"
	[ "$rc" = 0 ] || printf '%s\n' "$out" "$err" | tail -12 | sed 's/^/# audit: /'
}

stock_container() { # NAME
	"$KILN" ps --json | python3 -c '
import json, sys
for c in json.load(sys.stdin):
    if c.get("service") == sys.argv[1] and c.get("status", c.get("state", "")).startswith("running"):
        print(c["name"])' "$1" | head -1
}

stock_wait_tcp() { # PORT
	local i
	for i in $(seq 150); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
