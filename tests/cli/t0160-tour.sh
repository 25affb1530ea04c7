#!/usr/bin/env bash
# The README's "A five-minute tour", run as it is written, so that it cannot
# drift: the ```sh block under "## A five-minute tour" in README.md is read
# line by line, each command (its comment stripped) runs in one shell, in
# order, and each is one TAP line.  A comment says what to expect:
#   "# exit N: TEXT"   the command exits N and its output holds TEXT;
#   otherwise          it exits 0, and every "quoted" piece of the comment
#                      is in its output;
# where "…" in TEXT or a quoted piece stands for any text.
#
# What differs from a reader's machine, and only that:
#   - the first line (make, then build/ on PATH) is not run: tests run after
#     make, and "kiln" on PATH is a copy of the kiln under test ($KILN);
#   - /tmp/hello is $T/hello (the directory keeps its name, hello);
#   - `kiln init` gets `--keyring` of the test archive key: the mirror is the
#     fixture's repository shaped as Debian's (tests/fixtures/README.md,
#     repo `tour`: suites bookworm, bookworm-updates, bookworm-security with
#     packages named busybox-static and ca-certificates), which Debian's
#     archive key did not sign (and `--suite bookworm` on a host whose
#     codename is another);
#   - git has an identity from the environment; podman keeps its storage
#     under $T (CONTAINERS_STORAGE_CONF); containers get this run's own
#     bridge, subnet, nftables table, state directory and cgroup;
#   - after each command, a build the post-commit hook started in the
#     background is waited for (bounded; no time is asserted).
# Needs root (kiln run's bridge network, podman).
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
top=${KILN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}

# ---- the reader's environment, made of this run's own things ----
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_MIRROR="$KILN_TEST_HTTP/tour"
# A reader has no KILN_KEY: init makes the project's key, build uses it.
unset KILN_KEY KILN_PUB
# "kiln" is the one on PATH, not cli.sh's function.
unset -f kiln
mkdir -p "$T/bin" && cp "$KILN" "$T/bin/kiln"
export GIT_AUTHOR_NAME=tour GIT_AUTHOR_EMAIL=tour@localhost
export GIT_COMMITTER_NAME=tour GIT_COMMITTER_EMAIL=tour@localhost
export CONTAINERS_STORAGE_CONF="$T/storage.conf"
printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' "$T/podman/root" "$T/podman/run" \
	>"$CONTAINERS_STORAGE_CONF"
at_exit 'podman system reset -f >/dev/null 2>&1'
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0160-$$"
at_exit cleanup_containers
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export KILN_NET_BRIDGE="kt$suffix" KILN_NET_TABLE="kiln_tour_$suffix"
routes=$(ip -4 route show table all; ip -4 -o addr)
for i in $(seq 0 40); do
	a=$(( 150 + (0x${suffix:0:2} + i) % 50 )); b=$(( (0x${suffix:2:2} + 7 * i) % 250 ))
	case "$routes" in *"10.$a.$b."*|*"10.$a.0.0/16"*|*"10.0.0.0/8"*) continue ;; esac
	export KILN_NET_SUBNET="10.$a.$b.0/24"; break
done
ip_forward_ref enter
at_exit 'ip link del "$KILN_NET_BRIDGE" 2>/dev/null; nft delete table ip "$KILN_NET_TABLE" 2>/dev/null; ip_forward_ref leave'
init_extra="--keyring \"\$KILN_TEST_KEYRING\""
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null)
if [ -n "$codename" ] && [ "$codename" != bookworm ]; then
	echo "# this host is $codename, not bookworm: kiln init gets --suite bookworm"
	init_extra="$init_extra --suite bookworm"
fi

# ---- the tour, from the README ----
mapfile -t lines < <(awk '/^## A five-minute tour$/ { tour = 1; next }
	tour && /^```sh$/ { block = 1; next }
	block && /^```$/ { exit }
	block' "$top/README.md")
check "README.md has the tour's sh block" test "${#lines[@]}" -ge 10

# in_order TEXT PATTERN: the parts of PATTERN between "…" are in TEXT, in order.
in_order() {
	local text=$1 pattern=$2 piece
	while :; do
		piece=${pattern%%…*}
		[[ $text == *"$piece"* ]] || return 1
		text=${text#*"$piece"}
		[[ $pattern == *…* ]] || return 0
		pattern=${pattern#*…}
	done
}

# wait_hook_builds: until every build log of the post-commit hook has ended.
seen_logs=" "
wait_hook_builds() {
	local log i
	for log in .git/kiln/logs/*.log; do
		[ -f "$log" ] || continue
		case "$seen_logs" in *" $log "*) continue ;; esac
		seen_logs="$seen_logs$log "
		for i in $(seq 1 1200); do
			grep -q '^kiln hook: done (exit ' "$log" && break
			sleep 0.25
		done
		check "the hook's background build of $(basename "$log" .log | cut -c1-12) succeeded" \
			grep -q '^kiln hook: done (exit 0)' "$log"
	done
}

commands=0
for line in "${lines[@]}"; do
	case "$line" in "" | "#"*) ;; *) commands=$((commands + 1)) ;; esac
done
n=0
for line in "${lines[@]}"; do
	cmd=${line%%[[:space:]]#*}
	cmd=${cmd%"${cmd##*[![:space:]]}"}
	[ -n "$cmd" ] || continue
	comment=${line#"$cmd"}
	comment=${comment#"${comment%%[![:space:]]*}"}
	comment=${comment#\#}
	comment=${comment# }
	n=$((n + 1))
	run_cmd=$cmd
	case "$cmd" in
	make*)
		check "the tour starts by building kiln and putting build/ on PATH" \
			test "$cmd" = 'make && PATH=$PWD/build:$PATH'
		PATH="$T/bin:$PATH"
		check "$cmd (not run: kiln on PATH is the kiln under test)" \
			test "$(command -v kiln)" = "$T/bin/kiln"
		continue
		;;
	*/tmp/hello*) run_cmd=${cmd//\/tmp\/hello/$T/hello} ;;
	"kiln init "*) run_cmd="kiln init $init_extra ${cmd#kiln init }" ;;
	esac

	want_rc=0
	patterns=()
	if [[ $comment =~ ^exit\ ([0-9]+):\ (.*)$ ]]; then
		want_rc=${BASH_REMATCH[1]}
		patterns=("${BASH_REMATCH[2]}")
	else
		while [[ $comment =~ \"([^\"]*)\" ]]; do
			patterns+=("${BASH_REMATCH[1]}")
			comment=${comment#*"\"${BASH_REMATCH[1]}\""}
		done
	fi
	eval "$run_cmd" </dev/null >"$T/step.out" 2>&1
	rc=$?
	output=$(cat "$T/step.out")
	why=
	[ "$rc" = "$want_rc" ] || why="exit $rc, not $want_rc"
	for p in "${patterns[@]}"; do
		in_order "$output" "$p" || why="${why:+$why; }the output lacks: $p"
	done
	if [ -z "$why" ]; then _report 0 "$cmd"; else
		_report 1 "$cmd"
		echo "# $why (ran: $run_cmd)"
		printf '%s\n' "$output" | head -20 | sed 's/^/# out: /'
	fi
	[ -d .git/kiln/logs ] && wait_hook_builds
done
check "every command of the tour ran ($n of $commands)" test "$n" = "$commands"
done_testing
