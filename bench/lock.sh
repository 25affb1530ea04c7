#!/usr/bin/env bash
# bench/lock.sh - `kiln lock` against `apt-get install -s --print-uris` on the
# same ~100-package closure, both with warm index caches, in the same run.
#
#   bench/lock.sh [RUNS]        (default 5; needs the machine's apt mirror)
#
# The package set is pinned to the newest versions this machine's mirror has
# (with `kiln init`), for bookworm + bookworm-updates + bookworm-security.
# apt resolves from an empty dpkg status, as kiln does.  Prints the median
# of each and the ratio; never fails on timings.
set -euo pipefail
runs=${1:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
kiln=${KILN:-$top/build/kiln}
work=$(mktemp -d /tmp/kiln-bench-lock.XXXXXX)
trap 'rm -rf "$work"' EXIT
export KILN_CACHE="$work/cache"
pkgs=(python3 curl git gnupg openssh-client ca-certificates)

cd "$work"
args=(); for p in "${pkgs[@]}"; do args+=(-p "$p"); done
"$kiln" -q init --name bench "${args[@]}" .
"$kiln" -q lock                           # warms kiln's index cache
n_kiln=$(grep -c '^  - name:' kiln.lock)

# A private apt: the same suites from the same mirror, empty status.
mkdir -p apt/lists/partial apt/cache/archives/partial apt/etc/sources.list.d apt/etc/preferences.d
: >apt/status
for s in bookworm bookworm-updates bookworm-security; do
	files=(); for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && files+=("$f"); done
	uri=$(awk -v s="$s" '
		/^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i==s) print u}
		/^deb / && $0 !~ /\[/ && $4==s {print $2}' "${files[@]}" | head -1)
	[ -n "$uri" ] && echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $s main" >>apt/etc/sources.list
done
aptopts=(-o Dir::Etc::sourcelist="$work/apt/etc/sources.list" -o Dir::Etc::sourceparts="$work/apt/etc/sources.list.d"
	-o Dir::Etc::preferencesparts="$work/apt/etc/preferences.d" -o Dir::State::Lists="$work/apt/lists"
	-o Dir::State::status="$work/apt/status" -o Dir::Cache="$work/apt/cache" -o APT::Architecture=amd64
	-o APT::Architectures::=amd64 -o Acquire::Languages=none -o Debug::NoLocking=1 -o APT::Install-Recommends=0)
apt-get -q "${aptopts[@]}" -o APT::Sandbox::User=root update >/dev/null
mapfile -t pins < <(sed -n 's/^  \([a-z0-9][a-z0-9.+-]*\): "\(.*\)"$/\1=\2/p' kiln.yaml)
apt-get "${aptopts[@]}" install -s "${pins[@]}" | awk '/^Inst /{gsub(/[()]/,"",$3); print $2, $3}' | sort >apt.set
awk '/^  - name:/{n=$3} /^    version:/{print n, $2}' kiln.lock | sort >kiln.set
n_apt=$(wc -l <apt.set)
same=$(cmp -s apt.set kiln.set && echo "the same packages and versions" || echo "DIFFERENT sets (see diff below)")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
t_kiln=(); t_apt=()
for ((i = 0; i < runs; i++)); do
	rm -f kiln.lock
	a=$(now); "$kiln" -q lock; b=$(now)
	t_kiln+=("$(echo "$b - $a" | bc)")
	a=$(now); apt-get "${aptopts[@]}" install -s --print-uris -qq "${pins[@]}" >/dev/null; b=$(now)
	t_apt+=("$(echo "$b - $a" | bc)")
done
mk=$(printf '%s\n' "${t_kiln[@]}" | median)
ma=$(printf '%s\n' "${t_apt[@]}" | median)
printf 'lock of %d pins: kiln %d packages, apt %d packages: %s\n' "${#pins[@]}" "$n_kiln" "$n_apt" "$same"
cmp -s apt.set kiln.set || diff apt.set kiln.set | head -20
printf 'kiln lock (warm)            median %6.3f s over %d runs\n' "$mk" "$runs"
printf 'apt-get install -s --print-uris median %6.3f s over %d runs\n' "$ma" "$runs"
printf 'ratio apt/kiln: %.1fx  (goal: kiln at a fifth of apt or less, >= 5x)\n' "$(echo "$ma / $mk" | bc -l)"
