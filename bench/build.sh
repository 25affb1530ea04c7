#!/usr/bin/env bash
# bench/build.sh - `kiln build` against `mmdebstrap --variant=extract` on the
# same locked package closures, from the same local mirror, in the same run,
# next to the physical floor (decode every data.tar, compress the bytes).
#
#   bench/build.sh [RUNS]     (default 3; needs root for apt-get and mmdebstrap,
#                              and this machine's apt mirror to fetch the .debs once)
#
# Two sets: the closure of python3-minimal (~20 packages) and that of
# python3 curl git gnupg openssh-client ca-certificates (~110, as bench/lock.sh).
# Each is pinned with `kiln init` and locked against the machine's mirror;
# the locked .debs are fetched once (by a first `kiln build`) and laid out as
# a small apt repository served on 127.0.0.1, so the network is out of the
# comparison.  Both tools then build from that repository:
#
#   mmdebstrap --variant=extract --include=<the whole closure, pkg=version>  -> OUT.tar
#   kiln build --no-cache            gzip, package cache warm (the .debs already in $KILN_CACHE)
#   kiln build --no-cache            gzip, package cache cold (empty $KILN_CACHE: downloads
#                                    from 127.0.0.1, as mmdebstrap's apt must)
#   kiln build --no-cache --zstd     package cache warm
#   kiln build                       no change: every layer cached
#
# and the floor on the same .debs: dpkg-deb --fsys-tarfile of each (1 and 2
# jobs), then gzip -6 / libdeflate-gzip -6 / zstd -3 of the concatenated tar
# bytes (1 core, and 2 cores: zstd -T2, two halves compressed side by side).
# Prints medians, ratios and the goals; never fails on timings.
set -euo pipefail
runs=${1:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
kiln=${KILN:-$top/build/kiln}
. "$top/bench/lib.sh"
# Everything both tools write (caches, stores, mmdebstrap's chroot and tarball)
# goes to one tmpfs when there is room: on a disk, repeated create-and-delete
# runs make ext4's inode allocator (recently_deleted) slow down mmdebstrap's
# unpacking from one run to the next, which is the benchmark's doing, not the tool's.
work=$(bench_workdir kiln-bench-build)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }

# ---- tools -----------------------------------------------------------------
if ! command -v mmdebstrap >/dev/null; then
	say "bench/build.sh: installing mmdebstrap (the peer)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null
fi
# kiln's gzip is libdeflate: the fair gzip floor is libdeflate-gzip (best effort).
if ! command -v libdeflate-gzip >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libdeflate-tools \
		>/dev/null 2>&1 || say "bench/build.sh: no libdeflate-gzip; the gzip floor uses gzip -6"
fi
have_ldgz=false; command -v libdeflate-gzip >/dev/null && have_ldgz=true
[ -x "$kiln" ] || { say "bench/build.sh: $kiln missing: run make"; exit 1; }
# A private copy: a `make` elsewhere must not swap the binary between runs.
cp "$kiln" "$work/kiln" && kiln=$work/kiln

bench_git_env
warm=$work/cache            # the shared, warm kiln cache (indexes and packages)
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp     # mmdebstrap's chroot

sets=(small big)
declare -A pkgs=(
	[small]="python3-minimal"
	[big]="python3 curl git gnupg openssh-client ca-certificates"
)


load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 1. pin and lock against the machine's mirror, fetch every .deb once ----
for s in "${sets[@]}"; do
	say "bench/build.sh: locking set $s (${pkgs[$s]}) against this machine's mirror"
	d=$work/$s/upstream
	mkdir -p "$d"
	git -C "$d" init -q
	args=(); for p in ${pkgs[$s]}; do args+=(-p "$p"); done
	(cd "$d" && KILN_CACHE=$warm "$kiln" -q init --name "bench-$s" "${args[@]}" . &&
		KILN_CACHE=$warm "$kiln" -q lock && git add -A && git commit -qm lock &&
		KILN_CACHE=$warm "$kiln" -q build --store "$work/$s/upstream-store" >/dev/null)
	rm -rf "$work/$s/upstream-store"
done

# ---- 2. the local mirror: one apt repository per set, dists/ + pool/ layout ----
for s in "${sets[@]}"; do
	bench_mirror_repo "$work/mirror/$s" "$work/$s/upstream/kiln.lock" "$warm" "$work/$s/debs"
done
bench_mirror_serve "$work/mirror" || { say "bench/build.sh: the local mirror did not start"; exit 1; }

# ---- 3. re-lock each set against the local mirror: the same packages ----
for s in "${sets[@]}"; do
	d=$work/$s/repo
	mkdir -p "$d"
	git -C "$d" init -q
	{
		printf 'kiln: 1\nname: bench-%s\narchitecture: amd64\nsources:\n' "$s"
		printf '  - name: local\n    suite: bookworm\n    components: [main]\n'
		printf '    url: %s/%s\n    trusted: "true"\npackages:\n' "$MIRROR_URL" "$s"
		sed -n '/^packages:/,/^[^ ]/{/^  [a-z0-9]/p}' "$work/$s/upstream/kiln.yaml"
	} >"$d/kiln.yaml"
	# A signing key: kiln build signs and records by default, as it is timed.
	(cd "$d" && "$kiln" -q keygen --key "$work/$s.key" >/dev/null &&
		KILN_CACHE=$warm "$kiln" -q lock && git add -A && git commit -qm lock)
	if ! cmp -s <(lockset "$work/$s/upstream/kiln.lock") <(lockset "$d/kiln.lock"); then
		say "bench/build.sh: set $s: the local lock differs from the mirror's:"
		diff <(lockset "$work/$s/upstream/kiln.lock") <(lockset "$d/kiln.lock") >&2 || true
		exit 1
	fi
done

# ---- 4. time everything, the same runs interleaved ----
declare -A T N SZ
kbuild() { # NAME CACHE STORE ARGS…: one kiln build, its time in T[NAME]
	local name=$1 cache=$2 store=$3; shift 3
	rm -rf "$store"
	cd "$d"
	KILN_CACHE=$cache elapsed "$kiln" -q build --store "$store" "$@" >"$work/out" 2>"$work/err" || {
		say "bench/build.sh: kiln build $* failed:"; cat "$work/err" >&2; exit 1; }
	cd "$work"
	T[$s.$name]+="$ELAPSED "
	DIG[$s.$name]=$(tail -1 "$work/out")
}
declare -A DIG
for s in "${sets[@]}"; do
	d=$work/$s/repo
	export KILN_KEY=$work/$s.key
	N[$s]=$(grep -c '^  - name:' "$d/kiln.lock")
	include=$(awk '/^  - name:/{n=$3} /^    version:/{printf "%s%s=%s", sep, n, $2; sep=","}' "$d/kiln.lock")
	say "bench/build.sh: set $s: ${N[$s]} packages, $runs runs of each"
	for ((i = 0; i < runs; i++)); do
		rm -f "$work/mm.tar"
		elapsed mmdebstrap --quiet --variant=extract --architectures=amd64 --include="$include" \
			bookworm "$work/mm.tar" "deb [trusted=yes] $MIRROR_URL/$s bookworm main" \
			>/dev/null 2>"$work/err" || { say "bench/build.sh: mmdebstrap failed:"; cat "$work/err" >&2; exit 1; }
		T[$s.mm]+="$ELAPSED "
		SZ[$s.mm]=$(stat -c %s "$work/mm.tar")
		rm -f "$work/mm.tar" "$work/mm.tar.gz"
		# The same, gzip-compressed as a layer would be (mmdebstrap pipes through gzip).
		elapsed mmdebstrap --quiet --variant=extract --architectures=amd64 --include="$include" \
			bookworm "$work/mm.tar.gz" "deb [trusted=yes] $MIRROR_URL/$s bookworm main" \
			>/dev/null 2>"$work/err" || { say "bench/build.sh: mmdebstrap failed:"; cat "$work/err" >&2; exit 1; }
		T[$s.mmgz]+="$ELAPSED "
		SZ[$s.mmgz]=$(stat -c %s "$work/mm.tar.gz")
		rm -f "$work/mm.tar.gz"

		kbuild gz "$warm" "$work/store-gz" --no-cache
		SZ[$s.gz]=$(layers_total "$work/store-gz" "${DIG[$s.gz]}")
		rm -rf "$work/cold"; mkdir "$work/cold"
		kbuild gzcold "$work/cold" "$work/store-gzcold" --no-cache
		rm -rf "$work/cold" "$work/store-gzcold"
		kbuild zst "$warm" "$work/store-zst" --no-cache --zstd
		SZ[$s.zst]=$(layers_total "$work/store-zst" "${DIG[$s.zst]}")
		rm -rf "$work/store-zst"
	done
	# The no-change rebuild: every layer in the store's build cache.
	for ((i = 0; i < runs; i++)); do
		cd "$d"
		KILN_CACHE=$warm elapsed "$kiln" -q build --store "$work/store-gz" >/dev/null
		cd "$work"
		T[$s.re]+="$ELAPSED "
	done
	rm -rf "$work/store-gz"
	[ "${DIG[$s.gz]}" = "${DIG[$s.gzcold]}" ] && SZ[$s.repro]=yes || SZ[$s.repro]=NO

	# The floor, on the same .debs.
	(cd "$work/$s/debs" && ls *.deb >"$work/list" &&
		xargs -n1 dpkg-deb --fsys-tarfile <"$work/list" >"$work/all.tar")
	SZ[$s.tar]=$(stat -c %s "$work/all.tar")
	split -n 2 "$work/all.tar" "$work/half."
	ft() { elapsed "$@" >/dev/null; T[$s.$k]+="$ELAPSED "; }
	for ((i = 0; i < runs; i++)); do
		cd "$work/$s/debs"
		k=dec1 ft xargs -P1 -n1 dpkg-deb --fsys-tarfile <"$work/list"
		k=dec2 ft xargs -P2 -n1 dpkg-deb --fsys-tarfile <"$work/list"
		cd "$work"
		k=gzip1 ft gzip -6 -c all.tar
		k=gzip2 ft bash -c 'gzip -6 -c half.aa >/dev/null & gzip -6 -c half.ab >/dev/null; wait'
		if $have_ldgz; then
			k=ldgz1 ft libdeflate-gzip -6 -c all.tar
			k=ldgz2 ft bash -c 'libdeflate-gzip -6 -c half.aa >/dev/null & libdeflate-gzip -6 -c half.ab >/dev/null; wait'
		fi
		k=zst1 ft zstd -q -3 -T1 -c all.tar
		k=zst2 ft zstd -q -3 -T2 -c all.tar
	done
	rm -f "$work/all.tar" "$work"/half.*
done

# ---- 5. the tables ----
declare -A M
m() { printf '%s\n' ${T[$1]} | median; }
for s in "${sets[@]}"; do
	for k in mm mmgz gz gzcold zst re dec1 dec2 gzip1 gzip2 ldgz1 ldgz2 zst1 zst2; do
		if [ -n "${T[$s.$k]:-}" ]; then M[$s.$k]=$(m "$s.$k"); fi
	done
	if $have_ldgz; then gz1=${M[$s.ldgz1]} gz2=${M[$s.ldgz2]}; else gz1=${M[$s.gzip1]} gz2=${M[$s.gzip2]}; fi
	M[$s.fgz1]=$(echo "${M[$s.dec1]} + $gz1" | bc)
	M[$s.fgz2]=$(echo "${M[$s.dec2]} + $gz2" | bc)
	M[$s.fzst1]=$(echo "${M[$s.dec1]} + ${M[$s.zst1]}" | bc)
	M[$s.fzst2]=$(echo "${M[$s.dec2]} + ${M[$s.zst2]}" | bc)
done
echo
echo "kiln build vs mmdebstrap --variant=extract, same locked closure, same local mirror (127.0.0.1),"
echo "median of $runs runs, $(nproc) cores; kiln --no-cache unless said; mmdebstrap writes an uncompressed tar"
echo "work dir on $(stat -f -c %T "$work"); load average at the start $load0, at the end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"
printf '%-6s %5s %8s %8s %8s %8s %8s %7s %7s %7s %8s %10s\n' set pkgs mm-tar-s mm-tgz-s kiln-gz-s \
	gz-cold-s kiln-zst-s mm/gz mm/gzcd mm/zst mmtgz/gz rebuild-ms
for s in "${sets[@]}"; do
	printf '%-6s %5d %8.3f %8.3f %8.3f %8.3f %8.3f %6.1fx %6.1fx %6.1fx %7.1fx %10.0f\n' "$s" "${N[$s]}" \
		"${M[$s.mm]}" "${M[$s.mmgz]}" "${M[$s.gz]}" "${M[$s.gzcold]}" "${M[$s.zst]}" \
		"$(div "${M[$s.mm]}" "${M[$s.gz]}")" "$(div "${M[$s.mm]}" "${M[$s.gzcold]}")" \
		"$(div "${M[$s.mm]}" "${M[$s.zst]}")" "$(div "${M[$s.mmgz]}" "${M[$s.gz]}")" \
		"$(echo "${M[$s.re]} * 1000" | bc)"
done
echo "(mm-tar: mmdebstrap to an uncompressed OUT.tar, the ratios' base; mm-tgz: to OUT.tar.gz;"
echo " gz-cold/gzcd: kiln with an empty package cache, downloading from 127.0.0.1 as mmdebstrap does)"
for s in "${sets[@]}"; do
	printf '%-6s runs (s): mm-tar %s| mm-tgz %s| kiln gzip %s| cold %s| zstd %s| rebuild %s\n' "$s" \
		"${T[$s.mm]}" "${T[$s.mmgz]}" "${T[$s.gz]}" "${T[$s.gzcold]}" "${T[$s.zst]}" "${T[$s.re]}"
done
echo
gzname=gzip; $have_ldgz && gzname=libdeflate-gzip
echo "floor on the same .debs: decode = dpkg-deb --fsys-tarfile of each (1 / 2 jobs);"
echo "compress = $gzname -6 and zstd -3 of the concatenated tar (1 core / 2 cores); floor = decode + compress"
printf '%-6s %7s %7s %8s %8s %7s %7s %9s %9s %9s %9s %9s %9s\n' set dec-1 dec-2 gz6-1c gz6-2c zst-1c zst-2c \
	floor-gz1 floor-gz2 floor-zs1 floor-zs2 kiln/flgz2 kiln/flzs2
for s in "${sets[@]}"; do
	if $have_ldgz; then gz1=${M[$s.ldgz1]} gz2=${M[$s.ldgz2]}; else gz1=${M[$s.gzip1]} gz2=${M[$s.gzip2]}; fi
	printf '%-6s %7.3f %7.3f %8.3f %8.3f %7.3f %7.3f %9.3f %9.3f %9.3f %9.3f %9.2fx %9.2fx\n' "$s" \
		"${M[$s.dec1]}" "${M[$s.dec2]}" "$gz1" "$gz2" "${M[$s.zst1]}" "${M[$s.zst2]}" \
		"${M[$s.fgz1]}" "${M[$s.fgz2]}" "${M[$s.fzst1]}" "${M[$s.fzst2]}" \
		"$(div "${M[$s.gz]}" "${M[$s.fgz2]}")" "$(div "${M[$s.zst]}" "${M[$s.fzst2]}")"
done
echo
printf '(zlib gzip -6 for reference: '
for s in "${sets[@]}"; do printf '%s %.3f s 1 core, %.3f s 2 cores; ' "$s" "${M[$s.gzip1]}" "${M[$s.gzip2]}"; done
printf ')\n\n'
echo "sizes: unpacked = the concatenated data.tar bytes; kiln = total of the image's compressed layer blobs"
printf '%-6s %12s %10s %10s %11s %12s %10s\n' set unpacked-MB mm-tar-MB mm-tgz-MB kiln-gz-MB kiln-zst-MB \
	same-bytes
for s in "${sets[@]}"; do
	printf '%-6s %12.1f %10.1f %10.1f %11.1f %12.1f %10s\n' "$s" "$(div "${SZ[$s.tar]}" 1000000)" \
		"$(div "${SZ[$s.mm]}" 1000000)" "$(div "${SZ[$s.mmgz]}" 1000000)" "$(div "${SZ[$s.gz]}" 1000000)" \
		"$(div "${SZ[$s.zst]}" 1000000)" "${SZ[$s.repro]}"
done
echo "(same-bytes: the warm and cold gzip builds gave the same image manifest digest)"
echo
goal() { # TEXT OK
	printf '  %-62s %s\n' "$1" "$([ "$2" = 1 ] && echo met || echo MISSED)"
}
echo "goals:"
for s in "${sets[@]}"; do
	goal "$s: kiln gzip >= 2x faster than mmdebstrap ($(printf '%.1f' "$(div "${M[$s.mm]}" "${M[$s.gz]}")")x)" \
		"$(echo "${M[$s.mm]} >= 2 * ${M[$s.gz]}" | bc)"
	goal "$s: kiln zstd >= 4x faster than mmdebstrap ($(printf '%.1f' "$(div "${M[$s.mm]}" "${M[$s.zst]}")")x)" \
		"$(echo "${M[$s.mm]} >= 4 * ${M[$s.zst]}" | bc)"
	goal "$s: kiln gzip within 1.5x of the 2-core floor ($(printf '%.2f' "$(div "${M[$s.gz]}" "${M[$s.fgz2]}")")x)" \
		"$(echo "${M[$s.gz]} <= 1.5 * ${M[$s.fgz2]}" | bc)"
	goal "$s: kiln zstd within 1.5x of the 2-core floor ($(printf '%.2f' "$(div "${M[$s.zst]}" "${M[$s.fzst2]}")")x)" \
		"$(echo "${M[$s.zst]} <= 1.5 * ${M[$s.fzst2]}" | bc)"
	goal "$s: no-change rebuild under 100 ms ($(printf '%.0f' "$(echo "${M[$s.re]} * 1000" | bc)") ms)" \
		"$(echo "${M[$s.re]} < 0.1" | bc)"
done
