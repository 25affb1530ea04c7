#!/usr/bin/env bash
# bench/container.sh - container start: `kiln run --rm SNAP /bin/true` against
# `podman run --rm --runtime runc` of the same image, `runc run` of a ready
# bundle (kiln's own config.json and a copy of the rootfs) and the floor
# `unshare --mount --pid --fork --uts --ipc --net chroot ROOT /bin/true`,
# in the same run, median of RUNS each (default 20), with ratios.
#
#   bench/container.sh [RUNS]      needs root, runc, podman and busybox-static
#
# The image is built by kiln from one package, a static busybox (this
# machine's /bin/busybox with its applets as /bin links), served from a
# local unsigned repository on 127.0.0.1.  Every contender runs with no
# network (--network none, a new empty network namespace): network setup is
# benchmarked separately (kiln's bridge, one line).  kiln's times include
# everything `kiln run` does: resolve SNAP, mount the overlay, write the
# bundle, start, wait, unmount and remove; resolving NAME through git costs
# more than a digest (one line each).  Timings never fail the script.
set -euo pipefail
runs=${1:-20}
top=$(cd "$(dirname "$0")/.." && pwd)
kiln=${KILN:-$top/build/kiln}
. "$top/bench/lib.sh"
work=$(bench_workdir kiln-bench-run)
server_pid=
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export KILN_ROOT="$work/kiln-root" KILN_CGROUP_PARENT="kiln-bench-$suffix"
export KILN_NET_BRIDGE="kb$suffix" KILN_NET_TABLE="kiln_bench_$suffix" KILN_NET_SUBNET="10.$((200 + 0x${suffix:0:2} % 50)).$((0x${suffix:2:2} % 250)).0/24"
export KILN_CACHE="$work/cache" CONTAINERS_CONF="$work/containers.conf"
pod=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs)
cleanup() {
	local ids
	ids=$("$kiln" ps -aq 2>/dev/null || true)
	[ -z "$ids" ] || "$kiln" rm -f $ids >/dev/null 2>&1 || true
	"${pod[@]}" rm -af >/dev/null 2>&1 || true
	"${pod[@]}" system reset -f >/dev/null 2>&1 || true
	runc --root "$work/runc" delete -f bench-runc >/dev/null 2>&1 || true
	grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done || true
	for d in /sys/fs/cgroup/*/"$KILN_CGROUP_PARENT"; do [ -d "$d" ] && rmdir "$d"/* "$d" 2>/dev/null; done || true
	ip link del "$KILN_NET_BRIDGE" 2>/dev/null || true
	nft delete table ip "$KILN_NET_TABLE" 2>/dev/null || true
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '%s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { say "bench/container.sh: needs root"; exit 1; }
for t in runc podman unshare /bin/busybox dpkg-deb dpkg-scanpackages; do
	command -v "$t" >/dev/null || { say "bench/container.sh: missing $t (make deps)"; exit 1; }
done

# ---- the image ---------------------------------------------------------------
repo="$work/repo"
bench_busybox_repo "$repo"
bench_mirror_serve "$repo"
mkdir -p "$work/git" && cd "$work/git" && git init -q .
cat >kiln.yaml <<EOF
kiln: 1
name: bench
architecture: amd64
sources:
  - name: local
    url: $MIRROR_URL
    suite: bookworm
    components: [main]
    trusted: true
packages:
  bench-busybox: "1.0"
EOF
bench_git_env
"$kiln" -q lock >/dev/null
git add -A && git commit -qm bench
# Signed, by a key of .kiln/trusted/: running by name checks the record's
# signature, as it does for any user (docs/signing.md).
KILN_KEY= "$kiln" -q keygen >/dev/null
digest=$(KILN_KEY= "$kiln" build | tail -1)
SNAP=bench
"$kiln" run --rm --network none "$SNAP" /bin/true # unpacks the layers once, checks it works

# ---- the peers' inputs -------------------------------------------------------
# runc: kiln's own bundle for /bin/true, with a copy of the merged rootfs.
id=$("$kiln" run -d --network none --name bench-bundle "$SNAP" sleep 600)
sdir=$(echo "$KILN_ROOT"/run/containers/"$id")
mkdir -p "$work/bundle"
cp -a "$sdir/rootfs" "$work/bundle/rootfs"
python3 - "$sdir/config.json" "$work/bundle/config.json" "$sdir" <<'PY'
import json, os, shutil, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/bin/true"]
c["linux"]["cgroupsPath"] += "-runc"
# The bundle's own files (/etc/hosts, …) go with the copy.
for m in c["mounts"]:
    src = m.get("source", "")
    if src.startswith(sys.argv[3] + "/"):
        dst = os.path.join(os.path.dirname(sys.argv[2]), os.path.basename(src))
        shutil.copy(src, dst)
        m["source"] = dst
json.dump(c, open(sys.argv[2], "w"))
PY
"$kiln" rm -f bench-bundle >/dev/null
cp -a "$work/bundle/rootfs" "$work/chroot"
# podman: the same image, loaded from kiln's docker-archive export.
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
"$kiln" -q export "$SNAP" --format docker-archive -o "$work/image.tar" >/dev/null
"${pod[@]}" load -q -i "$work/image.tar" >/dev/null
image=$("${pod[@]}" images -q | head -1)
"${pod[@]}" run --rm --network none --runtime runc "$image" /bin/true

# ---- timing --------------------------------------------------------------------
declare -A med
bench() { # NAME CMD…
	local name=$1 t=() i
	shift
	for ((i = 0; i < runs; i++)); do
		elapsed "$@" >/dev/null 2>&1 || { say "bench/container.sh: $name failed: $*"; return 1; }
		t+=("$ELAPSED")
	done
	med[$name]=$(printf '%s\n' "${t[@]}" | median)
	printf '  %-44s %8.1f ms\n' "$name" "$(echo "${med[$name]} * 1000" | bc -l)"
}
echo "container start, /bin/true, median of $runs (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
bench "kiln run --rm (kiln runtime, none)" "$kiln" run --rm --network none "$SNAP" /bin/true
bench "kiln run --rm --insecure (no signature check)" "$kiln" run --rm --insecure --network none "$SNAP" /bin/true
bench "kiln run --rm --store S sha256:… (no git)" "$kiln" run --rm --network none --store "$work/git/snapshots" "$digest" /bin/true
bench "kiln run --rm --runtime runc (none)" "$kiln" run --rm --runtime runc --network none "$SNAP" /bin/true
bench "kiln run --rm (kiln runtime, bridge)" "$kiln" run --rm "$SNAP" /bin/true
bench "podman run --rm --runtime runc (none)" "${pod[@]}" run --rm --network none --runtime runc "$image" /bin/true
bench "runc run (ready bundle)" runc --root "$work/runc" run --bundle "$work/bundle" bench-runc
bench "unshare … chroot ROOT /bin/true (floor)" unshare --mount --pid --fork --uts --ipc --net chroot "$work/chroot" /bin/true
k=${med["kiln run --rm (kiln runtime, none)"]}
echo
printf '  podman / kiln          %6.1fx   (goal: 15x or more)\n' "$(div "${med["podman run --rm --runtime runc (none)"]}" "$k")"
printf '  runc alone / kiln      %6.2fx   (goal: above 1: kiln faster than runc alone)\n' "$(div "${med["runc run (ready bundle)"]}" "$k")"
printf '  kiln / floor           %6.1fx\n' "$(div "$k" "${med["unshare … chroot ROOT /bin/true (floor)"]}")"
printf '  kiln                   %6.1f ms  (goal: 15 ms or less)\n' "$(echo "$k * 1000" | bc -l)"
