#!/usr/bin/env bash
# bench/services.sh - the stock service images (manifests/nginx.yaml,
# manifests/postgresql.yaml) built by `kiln build` against
# `mmdebstrap --variant=apt` of the same package set, from the same local
# mirror, in the same run.  Both run the packages' maintainer scripts
# (kiln's configure layer, docs/building.md "Maintainer scripts"; apt's
# dpkg --configure), so this is the comparison build.sh's extract variant
# cannot make.
#
#   bench/services.sh [RUNS]  (default 3; needs root for apt-get and mmdebstrap,
#                              and this machine's apt mirror to fetch the .debs once)
#
# Each manifest is copied (with its lock and its files) into a git repository
# and built once as committed, which fetches the locked .debs from this
# machine's mirror.  Those .debs, plus apt and whatever of its dependencies
# the image does not already have (mmdebstrap's apt variant installs apt;
# a `kiln lock` of apt alone finds them), are laid out as an apt repository
# served on 127.0.0.1.  The manifest's sources are re-pointed at it (one
# trusted source; packages, volatile, files, config and service unchanged)
# and re-locked: the same packages, or the bench stops.  Then, interleaved:
#
#   kiln build --no-cache     package cache warm (the .debs already in $KILN_CACHE)
#   kiln build --no-cache     package cache cold (empty $KILN_CACHE: downloads
#                             from 127.0.0.1, as mmdebstrap's apt must)
#   mmdebstrap --variant=apt --include=<every package of the lock, name=version>
#                             -> OUT.tar (Essential + apt + the includes, configured)
#   kiln build                nothing changed: every layer cached
#
# Prints medians, ratios, package counts, sizes and whether each tool gives
# the same bytes twice; never fails on timings.
set -euo pipefail
runs=${1:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
kiln=${KILN:-$top/build/kiln}
. "$top/bench/lib.sh"
# On a tmpfs when there is room, as build.sh (ext4's inode allocator slows
# repeated create-and-delete of the same trees).
work=$(bench_workdir kiln-bench-services)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	# mmdebstrap's apt variant mounts /proc, /sys and /dev pieces in its chroot;
	# it unmounts them itself, but an interrupted run must not leave rm -rf
	# walking into the host's.
	findmnt -rn -o TARGET | grep "^$work/" | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
die() { say "bench/services.sh: $*"; exit 1; }

# ---- tools -----------------------------------------------------------------
if ! command -v mmdebstrap >/dev/null; then
	say "bench/services.sh: installing mmdebstrap (the peer)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null ||
		die "cannot install mmdebstrap"
fi
[ -x "$kiln" ] || die "$kiln missing: run make"
for img in nginx postgresql; do
	[ -f "$top/manifests/$img.yaml" ] && [ -f "$top/manifests/$img.lock" ] ||
		die "manifests/$img.yaml or manifests/$img.lock missing"
done
# A private copy: a `make` elsewhere must not swap the binary between runs.
cp "$kiln" "$work/kiln" && kiln=$work/kiln

bench_git_env
warm=$work/cache            # the shared, warm kiln cache (indexes and packages)
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp     # mmdebstrap's chroot

imgs=(nginx postgresql)

locknames() { awk '/^  - name:/{print $3}' "$1" | sort; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 1. each image as committed, built once against the machine's mirror ----
for s in "${imgs[@]}"; do
	say "bench/services.sh: $s: building the committed manifest once (fetches its .debs)"
	d=$work/$s/upstream
	mkdir -p "$d"
	git -C "$d" init -q
	cp "$top/manifests/$s.yaml" "$d/kiln.yaml"
	cp "$top/manifests/$s.lock" "$d/kiln.lock"
	[ ! -d "$top/manifests/$s" ] || cp -a "$top/manifests/$s" "$d/$s"
	(cd "$d" && "$kiln" -q keygen --key "$work/$s.key" >/dev/null && git add -A && git commit -qm "$s" &&
		KILN_KEY=$work/$s.key KILN_CACHE=$warm "$kiln" -q build --store "$work/$s/upstream-store" \
			>/dev/null 2>"$work/err") || { cat "$work/err" >&2; die "$s: kiln build of the committed manifest failed"; }
	rm -rf "$work/$s/upstream-store"
done
# apt and its dependencies, for mmdebstrap's apt variant: locked (and fetched)
# against the machine's mirror like the images.
say "bench/services.sh: locking apt (mmdebstrap's apt variant installs it)"
d=$work/apt/upstream
mkdir -p "$d"
git -C "$d" init -q
(cd "$d" && KILN_CACHE=$warm "$kiln" -q init --name bench-apt -p apt . &&
	KILN_CACHE=$warm "$kiln" -q lock && "$kiln" -q keygen --key "$work/apt.key" >/dev/null &&
	git add -A && git commit -qm apt &&
	KILN_KEY=$work/apt.key KILN_CACHE=$warm "$kiln" -q build --store "$work/apt/upstream-store" \
		>/dev/null 2>"$work/err") || { cat "$work/err" >&2; die "apt: kiln init/lock/build failed"; }
rm -rf "$work/apt/upstream-store"

# ---- 2. the local mirror: one apt repository per image, its lock + what apt adds ----
for s in "${imgs[@]}"; do
	# The apt lock's packages whose names the image lock lacks: one version
	# of each name in the repository, so the image re-locks to the same set.
	{
		awk '/^    filename:/{print} /^    sha256:/{print}' "$work/$s/upstream/kiln.lock"
		awk -v skip="$(locknames "$work/$s/upstream/kiln.lock" | tr '\n' ' ')" '
			BEGIN { n = split(skip, a, " "); for (i = 1; i <= n; i++) have[a[i]] = 1 }
			/^  - name:/ { keep = !($3 in have); if (keep) extra = extra " " $3 }
			keep && (/^    filename:/ || /^    sha256:/) { print }
			END { print extra > "/dev/stderr" }' "$work/apt/upstream/kiln.lock" 2>"$work/$s/apt-extra"
	} >"$work/$s/mirror.lock"
	bench_mirror_repo "$work/mirror/$s" "$work/$s/mirror.lock" "$warm" ||
		die "$s: cannot lay out the local apt repository"
done
bench_mirror_serve "$work/mirror" || die "the local mirror did not start"

# ---- 3. re-point each manifest at the local mirror and re-lock: the same packages ----
for s in "${imgs[@]}"; do
	d=$work/$s/repo
	mkdir -p "$d"
	git -C "$d" init -q
	[ ! -d "$top/manifests/$s" ] || cp -a "$top/manifests/$s" "$d/$s"
	cp -a "$work/$s/upstream/.kiln" "$d/.kiln"     # the signing key's trusted public half
	# The sources: block (up to the next top-level key) becomes one local,
	# trusted source; every other line is kept as it is.
	awk -v url="$MIRROR_URL/$s" '
		/^sources:/ { print "sources:"; print "  - name: local"; print "    suite: bookworm"
			print "    components: [main]"; print "    url: " url; print "    trusted: \"true\""
			insrc = 1; next }
		insrc && /^[^ #]/ { insrc = 0 }
		!insrc { print }' "$top/manifests/$s.yaml" >"$d/kiln.yaml"
	grep -q "^    url: $MIRROR_URL/$s\$" "$d/kiln.yaml" || die "$s: no sources: block to re-point"
	(cd "$d" && KILN_CACHE=$warm "$kiln" -q lock 2>"$work/err" && git add -A && git commit -qm lock) ||
		{ cat "$work/err" >&2; die "$s: kiln lock against the local mirror failed"; }
	if ! cmp -s <(lockset "$work/$s/upstream/kiln.lock") <(lockset "$d/kiln.lock"); then
		say "bench/services.sh: $s: the local lock differs from the committed one:"
		diff <(lockset "$work/$s/upstream/kiln.lock") <(lockset "$d/kiln.lock") >&2 || true
		exit 1
	fi
done

# ---- 4. time everything, the same runs interleaved ----
declare -A T N SZ DIG MMSUM
kbuild() { # NAME CACHE STORE ARGS…: one kiln build, its time in T[NAME]
	local name=$1 cache=$2 store=$3; shift 3
	rm -rf "$store"
	cd "$d"
	KILN_CACHE=$cache elapsed "$kiln" -q build --store "$store" "$@" >"$work/out" 2>"$work/err" || {
		say "bench/services.sh: $s: kiln build $* failed:"; cat "$work/err" >&2; exit 1; }
	cd "$work"
	T[$s.$name]+="$ELAPSED "
	DIG[$s.$name]+="$(tail -1 "$work/out") "
}
mmbuild() { # OUT: mmdebstrap's apt variant of the lock's packages
	rm -f "$1"
	elapsed mmdebstrap --quiet --variant=apt --architectures=amd64 --include="$include" \
		--aptopt='APT::Install-Recommends "false"' --aptopt='APT::Install-Suggests "false"' \
		bookworm "$1" "deb [trusted=yes] $MIRROR_URL/$s bookworm main" \
		>/dev/null 2>"$work/err" || { say "bench/services.sh: $s: mmdebstrap failed:"; cat "$work/err" >&2; exit 1; }
}
for s in "${imgs[@]}"; do
	d=$work/$s/repo
	export KILN_KEY=$work/$s.key
	N[$s]=$(grep -c '^  - name:' "$d/kiln.lock")
	include=$(awk '/^  - name:/{n=$3} /^    version:/{printf "%s%s=%s", sep, n, $2; sep=","}' "$d/kiln.lock")
	say "bench/services.sh: $s: ${N[$s]} packages, $runs runs of each"
	for ((i = 0; i < runs; i++)); do
		mmbuild "$work/mm.tar"
		T[$s.mm]+="$ELAPSED "
		MMSUM[$s]+="$(sha256sum <"$work/mm.tar" | cut -c1-64) "
		# The first and the last tarball are kept, to compare.
		if [ "$i" = 0 ]; then mv "$work/mm.tar" "$work/$s/mm-first.tar"; else mv "$work/mm.tar" "$work/$s/mm-last.tar"; fi

		kbuild warm "$warm" "$work/store-warm" --no-cache
		rm -rf "$work/cold"; mkdir "$work/cold"
		kbuild cold "$work/cold" "$work/store-cold" --no-cache
		rm -rf "$work/cold" "$work/store-cold"
	done
	SZ[$s.kiln]=$(layers_total "$work/store-warm" "$(echo "${DIG[$s.warm]}" | awk '{print $1}')")
	# The no-change rebuild: every layer in the store's build cache.
	for ((i = 0; i < runs; i++)); do
		cd "$d"
		KILN_CACHE=$warm elapsed "$kiln" -q build --store "$work/store-warm" >/dev/null
		cd "$work"
		T[$s.re]+="$ELAPSED "
	done
	rm -rf "$work/store-warm"
	# Same bytes twice: every kiln digest of the runs (warm and cold) equal; a
	# second mmdebstrap tarball when there was one run only.
	[ "$(printf '%s\n' ${DIG[$s.warm]} ${DIG[$s.cold]} | sort -u | wc -l)" = 1 ] && SZ[$s.krepro]=yes || SZ[$s.krepro]=NO
	if [ "$runs" -lt 2 ]; then
		say "bench/services.sh: $s: a second mmdebstrap run (untimed), to compare the tarballs"
		mmbuild "$work/$s/mm-last.tar"
		MMSUM[$s]+="$(sha256sum <"$work/$s/mm-last.tar" | cut -c1-64) "
	fi
	[ "$(printf '%s\n' ${MMSUM[$s]} | sort -u | wc -l)" = 1 ] && SZ[$s.mrepro]=yes || SZ[$s.mrepro]=NO
	# What differs between two mmdebstrap tarballs (first paths), for the report.
	python3 - "$work/$s/mm-first.tar" "$work/$s/mm-last.tar" >"$work/$s/mm-diff" <<-'EOF'
		import hashlib, sys, tarfile
		def index(p):
		    r = {}
		    with tarfile.open(p) as t:
		        for m in t:
		            h = hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isfile() else m.linkname
		            r[m.name] = (h, m.mode, m.uid, m.gid, m.mtime)
		    return r
		a, b = index(sys.argv[1]), index(sys.argv[2])
		d = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
		print(len(d), " ".join(d[:8]) + (" …" if len(d) > 8 else ""))
	EOF
	rm -f "$work/$s/mm-last.tar"

	# Package counts: kiln's lock against what dpkg says is installed in the tarball.
	tar -xOf "$work/$s/mm-first.tar" ./var/lib/dpkg/status |
		awk '/^Package:/{p=$2} /^Status: install ok installed/{print p}' | sort >"$work/$s/mm-pkgs"
	N[$s.mm]=$(wc -l <"$work/$s/mm-pkgs")
	N[$s.mmonly]=$(comm -13 <(locknames "$d/kiln.lock") "$work/$s/mm-pkgs" | tr '\n' ' ')
	N[$s.kilnonly]=$(comm -23 <(locknames "$d/kiln.lock") "$work/$s/mm-pkgs" | tr '\n' ' ')
	SZ[$s.mm]=$(stat -c %s "$work/$s/mm-first.tar")
	elapsed gzip -6 -c "$work/$s/mm-first.tar" >"$work/mm.tar.gz"
	T[$s.gz]=$ELAPSED
	SZ[$s.mmgz]=$(stat -c %s "$work/mm.tar.gz")
	rm -f "$work/mm.tar.gz" "$work/$s/mm-first.tar"
done

# ---- 5. the tables ----
declare -A M
m() { printf '%s\n' ${T[$1]} | median; }
for s in "${imgs[@]}"; do
	for k in mm warm cold re; do M[$s.$k]=$(m "$s.$k"); done
done
echo
echo "stock service images: kiln build vs mmdebstrap --variant=apt (both run the maintainer scripts),"
echo "same locked package set, same local mirror (127.0.0.1), median of $runs runs, $(nproc) cores; kiln --no-cache"
echo "unless said; mmdebstrap writes an uncompressed tar, kiln gzip-compressed layers"
echo "work dir on $(stat -f -c %T "$work"); load average at the start $load0, at the end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"
printf '%-10s %5s %7s %9s %9s %9s %8s %8s %10s\n' image kiln mm-pkgs mm-tar-s kiln-s kiln-cold-s mm/kiln \
	mm/cold rebuild-ms
for s in "${imgs[@]}"; do
	printf '%-10s %5d %7d %9.3f %9.3f %9.3f %7.2fx %7.2fx %10.0f\n' "$s" "${N[$s]}" "${N[$s.mm]}" \
		"${M[$s.mm]}" "${M[$s.warm]}" "${M[$s.cold]}" \
		"$(div "${M[$s.mm]}" "${M[$s.warm]}")" "$(div "${M[$s.mm]}" "${M[$s.cold]}")" \
		"$(echo "${M[$s.re]} * 1000" | bc)"
done
echo "(kiln: the lock's packages; mm-pkgs: 'install ok installed' in the tarball's dpkg status;"
echo " kiln-cold: an empty package cache, downloading from 127.0.0.1 as mmdebstrap does)"
for s in "${imgs[@]}"; do
	printf '%-10s runs (s): mmdebstrap %s| kiln %s| cold %s| rebuild %s\n' "$s" \
		"${T[$s.mm]}" "${T[$s.warm]}" "${T[$s.cold]}" "${T[$s.re]}"
	printf '%-10s only mmdebstrap has: %s\n' "$s" "${N[$s.mmonly]:-(none)}"
	printf '%-10s only kiln has: %s\n' "$s" "${N[$s.kilnonly]:-(none)}"
done
echo
echo "sizes: kiln = total of the image's gzip layer blobs; mm-tar.gz = gzip -6 of mmdebstrap's tarball afterwards"
printf '%-10s %10s %13s %9s %11s\n' image mm-tar-MB mm-tar.gz-MB gzip-6-s kiln-gz-MB
for s in "${imgs[@]}"; do
	printf '%-10s %10.1f %13.1f %9.2f %11.1f\n' "$s" "$(div "${SZ[$s.mm]}" 1000000)" \
		"$(div "${SZ[$s.mmgz]}" 1000000)" "${T[$s.gz]}" "$(div "${SZ[$s.kiln]}" 1000000)"
done
echo
echo "same bytes twice:"
for s in "${imgs[@]}"; do
	printf '  %-10s kiln: %s (every warm and cold build: %s)\n' "$s" "${SZ[$s.krepro]}" \
		"$(printf '%s\n' ${DIG[$s.warm]} ${DIG[$s.cold]} | sort -u | cut -c1-19 | tr '\n' ' ')"
	printf '  %-10s mmdebstrap, SOURCE_DATE_EPOCH=%s: %s (sha256 %s)\n' "$s" "$SOURCE_DATE_EPOCH" \
		"${SZ[$s.mrepro]}" "$(printf '%s\n' ${MMSUM[$s]} | sort -u | cut -c1-12 | tr '\n' ' ')"
	printf '  %-10s members that differ between two mmdebstrap tarballs: %s\n' "$s" "$(cat "$work/$s/mm-diff")"
done
echo
goal() { # TEXT OK
	printf '  %-62s %s\n' "$1" "$([ "$2" = 1 ] && echo met || echo MISSED)"
}
echo "goals:"
for s in "${imgs[@]}"; do
	goal "$s: kiln --no-cache faster than mmdebstrap ($(printf '%.2f' "$(div "${M[$s.mm]}" "${M[$s.warm]}")")x)" \
		"$(echo "${M[$s.mm]} > ${M[$s.warm]}" | bc)"
	goal "$s: the same image digest every build" "$([ "${SZ[$s.krepro]}" = yes ] && echo 1 || echo 0)"
	goal "$s: no-change rebuild under 100 ms ($(printf '%.0f' "$(echo "${M[$s.re]} * 1000" | bc)") ms)" \
		"$(echo "${M[$s.re]} < 0.1" | bc)"
done
