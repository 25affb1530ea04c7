#!/usr/bin/env bash
# bench/deploy.sh - replacing a serving HTTP container under load:
# `kiln deploy` (start the new one, health check, switch the published port
# in one nftables transaction, drain, stop the old one) against replacing
# it by hand with podman (`podman stop` + `podman rm` + `podman run -p`),
# in the same run, on the same image (kiln's, loaded into podman from its
# docker-archive export), under the same load: a client on loopback that
# opens a new connection per request as fast as it can (bench/load.py).
#
#   bench/deploy.sh [ROUNDS]    needs root, podman; default 5 replacements each
#
# For each replacement it prints: failed requests, the time from the start
# of the command to the first response of the new version, and for kiln
# the time from the health check passing (the "is healthy" line) to that
# first response (goal: within the health interval + 50 ms; kiln switches
# right after the check, so it is the switch's own cost).  Timings never
# fail the script.
set -euo pipefail
rounds=${1:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
kiln=${KILN:-$top/build/kiln}
. "$top/bench/lib.sh"
work=$(bench_workdir kiln-bench-deploy)
server_pid=
load_pid=
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export KILN_ROOT="$work/kiln-root" KILN_CGROUP_PARENT="kiln-bench-$suffix"
export KILN_NET_BRIDGE="kb$suffix" KILN_NET_TABLE="kiln_bench_$suffix" KILN_NET_SUBNET="10.$((200 + 0x${suffix:0:2} % 50)).$((0x${suffix:2:2} % 250)).0/24"
export KILN_CACHE="$work/cache" CONTAINERS_CONF="$work/containers.conf"
kport=$((40000 + 0x${suffix:4:2} * 2)) pport=$((40001 + 0x${suffix:4:2} * 2))
pod=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs)
had_cni_bridge=$(ip link show cni-podman0 >/dev/null 2>&1 && echo yes || echo no)
cleanup() {
	local ids
	[ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null || true
	ids=$("$kiln" ps -aq 2>/dev/null || true)
	[ -z "$ids" ] || "$kiln" rm -f $ids >/dev/null 2>&1 || true
	"${pod[@]}" rm -af >/dev/null 2>&1 || true
	"${pod[@]}" system reset -f >/dev/null 2>&1 || true
	# a container podman lost track of (a failed rm) still runs under runc
	runc list 2>/dev/null | awk -v w="$work/" 'NR > 1 && index($4, w) == 1 { print $1 }' |
		while read -r id; do runc delete --force "$id" >/dev/null 2>&1; done || true
	[ "$had_cni_bridge" = yes ] || ip link del cni-podman0 2>/dev/null || true
	grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done || true
	for d in /sys/fs/cgroup/"$KILN_CGROUP_PARENT" /sys/fs/cgroup/*/"$KILN_CGROUP_PARENT"; do
		[ -d "$d" ] && rmdir "$d"/* "$d" 2>/dev/null; done || true
	ip link del "$KILN_NET_BRIDGE" 2>/dev/null || true
	nft delete table ip "$KILN_NET_TABLE" 2>/dev/null || true
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '%s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { say "bench/deploy.sh: needs root"; exit 1; }
for t in podman /bin/busybox dpkg-deb dpkg-scanpackages python3; do
	command -v "$t" >/dev/null || { say "bench/deploy.sh: missing $t (make deps)"; exit 1; }
done

# ---- the images: two versions of one web page --------------------------------
repo="$work/repo"
bench_busybox_repo "$repo"
bench_mirror_serve "$repo"
mkdir -p "$work/git/www" && cd "$work/git" && git init -q .
cat >kiln.yaml <<EOF
kiln: 1
name: web
architecture: amd64
sources:
  - {name: local, url: $MIRROR_URL, suite: bookworm, components: [main], trusted: true}
packages:
  bench-busybox: "1.0"
files:
  - {src: www/, dst: /www/}
config:
  cmd: [httpd, -f, -p, "8080", -h, /www]
service:
  publish: ["127.0.0.1:$kport:8080"]
  health: {http: /, port: "8080", interval: 1s, timeout: 1s, start_period: 10s}
  update: {drain: 1s, grace: 2s}
EOF
bench_git_env
"$kiln" -q lock >/dev/null
KILN_KEY= "$kiln" -q keygen >/dev/null
for v in v1 v2; do
	echo "$v" >www/index.html
	git add -A && git commit -qm "$v"
	KILN_KEY= "$kiln" -q build >/dev/null
	"$kiln" -q export web --format docker-archive -o "$work/$v.tar" >/dev/null
done
c1=$(git rev-parse HEAD~1) c2=$(git rev-parse HEAD)
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
for v in v1 v2; do
	img=$("${pod[@]}" load -i "$work/$v.tar" 2>/dev/null | sed -n -E 's/^Loaded image(s)?: //p' | tail -1)
	"${pod[@]}" tag "$img" "localhost/web:$v"
done

# ---- the load ------------------------------------------------------------------
start_load() { # PORT FILE
	python3 "$top/bench/load.py" "$1" "$2" & load_pid=$!
}
stop_load() { kill -INT "$load_pid"; wait "$load_pid" 2>/dev/null || true; load_pid=; }
# first_after FILE T0 VERSION: seconds from T0 to the first response naming
# VERSION (nothing when none came: the caller counts that as 60 s)
first_after() {
	awk -v t0="$2" -v v="$3" '$1 >= t0 && $2 == v { printf "%.3f", $1 - t0; exit }' "$1"
}
failed_between() { awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b && $2 == "FAIL"' "$1" | wc -l; }

# ---- kiln --------------------------------------------------------------------------
echo "replacing a serving container under load ($rounds times each; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
"$kiln" deploy web --rev "$c1" >/dev/null
start_load "$kport" "$work/kiln.load"
sleep 1
declare -a kt kh kf
for ((i = 0; i < rounds; i++)); do
	if ((i % 2 == 0)); then rev=$c2 want=v2; else rev=$c1 want=v1; fi
	t0=$EPOCHREALTIME
	"$kiln" deploy web --rev "$rev" | while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done >"$work/deploy.out"
	t1=$EPOCHREALTIME
	healthy=$(awk '/is healthy/ { print $1; exit }' "$work/deploy.out")
	sleep 0.5
	kt+=("$(first_after "$work/kiln.load" "$t0" "$want")")
	[ -n "${kt[-1]}" ] || kt[-1]=60
	kh+=("$(first_after "$work/kiln.load" "$healthy" "$want")")
	kf+=("$(failed_between "$work/kiln.load" "$t0" "$EPOCHREALTIME")")
	printf '  kiln deploy      #%d  failed %4s   new version after %6.3f s (%6.1f ms after healthy); deploy took %.1f s\n' \
		"$((i + 1))" "${kf[-1]}" "${kt[-1]}" "$(echo "${kh[-1]} * 1000" | bc -l)" "$(echo "$t1 - $t0" | bc)"
done
stop_load

# ---- podman, by hand ------------------------------------------------------------
"${pod[@]}" run -d --name web -p "127.0.0.1:$pport:8080" --runtime runc localhost/web:v1 >/dev/null
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$pport/" >/dev/null && break; sleep 0.1; done
start_load "$pport" "$work/podman.load"
sleep 1
declare -a pt pf
for ((i = 0; i < rounds; i++)); do
	if ((i % 2 == 0)); then want=v2; else want=v1; fi
	t0=$EPOCHREALTIME
	"${pod[@]}" stop -t 2 web >/dev/null && "${pod[@]}" rm -f web >/dev/null &&
		"${pod[@]}" run -d --name web -p "127.0.0.1:$pport:8080" --runtime runc "localhost/web:$want" >/dev/null
	# up to 60 s: a replaced container's address is reused with a new MAC,
	# and the host's neighbour entry may point at the old one for a while
	for _ in $(seq 600); do [ "$(curl -fs --max-time 1 "http://127.0.0.1:$pport/")" = "$want" ] && break; sleep 0.1; done
	sleep 0.5
	pt+=("$(first_after "$work/podman.load" "$t0" "$want")")
	[ -n "${pt[-1]}" ] || pt[-1]=60
	pf+=("$(failed_between "$work/podman.load" "$t0" "$EPOCHREALTIME")")
	printf '  podman stop/rm/run #%d  failed %4s   new version after %6.3f s\n' "$((i + 1))" "${pf[-1]}" "${pt[-1]}"
done
stop_load

sum() { local s=0 x; for x in "$@"; do s=$((s + x)); done; echo $s; }
echo
printf '  failed requests      kiln %d   podman %d   (goal: 0 for kiln)\n' "$(sum "${kf[@]}")" "$(sum "${pf[@]}")"
printf '  to the new version   kiln %.3f s   podman %.3f s   (medians)\n' \
	"$(printf '%s\n' "${kt[@]}" | median)" "$(printf '%s\n' "${pt[@]}" | median)"
printf '  healthy -> serving   kiln %.1f ms (median; goal: under the 1 s interval + 50 ms)\n' \
	"$(echo "$(printf '%s\n' "${kh[@]}" | median) * 1000" | bc -l)"
printf '  requests served      kiln %d   podman %d\n' "$(grep -vc FAIL "$work/kiln.load")" "$(grep -vc FAIL "$work/podman.load")"
