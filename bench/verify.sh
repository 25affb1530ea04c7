#!/usr/bin/env bash
# bench/verify.sh - `kiln verify` and `kiln audit` of examples/hello-web and of
# a ~110-package image, against the floor and peers on the same snapshot, in
# the same run; the issue's bar: an audit costs no more than a cold build.
#
#   bench/verify.sh [RUNS]    (default 5; needs this machine's apt mirror to
#                              fetch the .debs once, and root only to install
#                              skopeo if it is missing)
#
# Two sets: examples/hello-web as it is in the tree (1 package, its files and
# accounts), and the closure of python3 curl git gnupg openssh-client
# ca-certificates (~110 packages, as bench/lock.sh and bench/build.sh), pinned
# with `kiln init` and locked.  The .debs are fetched once into a shared
# package cache and served as an apt repository on 127.0.0.1 (bench/lib.sh),
# so the network is out of the comparison: the big set is re-locked against
# it, hello-web keeps its manifest and lock and fetches from it through
# $KILN_MIRROR.  Each set gets a git repository, a key (`kiln keygen`), and one
# signed `kiln build` into its store: the snapshot every run looks at.  Then,
# interleaved, RUNS times:
#
#   kiln verify NAME               signature, record, provenance, every blob re-hashed
#   sha256sum BLOBS                the floor: hash every blob verify reaches, once
#   openssl dgst -sha256 BLOBS     the same with OpenSSL's sha256 (SHA-NI where the CPU has it)
#   skopeo inspect oci:STORE:REF   peer: read the image manifest and config (no blob hashed)
#   skopeo copy oci:… dir:…        peer: read every blob, digest-check it, write a copy
#   kiln audit                     verify + rebuild from nothing (empty temp store, no
#                                  build cache), packages re-hashed from the warm shared
#                                  package cache, compare bit for bit
#   kiln build --no-cache          the cold build audit is held against: an empty store,
#                                  the same warm package cache, signed and recorded
#   kiln audit --fresh             the same audit, every package downloaded again (from
#                                  127.0.0.1) into a temporary package cache
#   kiln build --no-cache          an empty store and an empty package cache (downloads
#                                  from 127.0.0.1): what audit --fresh is held against
#
# Prints medians and the ratios verify/floor, verify/peers, audit/cold build
# and audit --fresh/cold build with an empty package cache.  Benchmarks are not
# tests: timings never fail it; a step that cannot run (setup error, a verify
# or audit that does not pass) makes the exit status non-zero.
set -euo pipefail
runs=${1:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
kiln_bin=${KILN:-$top/build/kiln}
work=$(bench_workdir kiln-bench-verify)
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
die() { say "bench/verify.sh: $*"; [ ! -s "$work/err" ] || sed 's/^/  /' "$work/err" >&2; exit 1; }

# ---- tools -----------------------------------------------------------------
[ -x "$kiln_bin" ] || die "$kiln_bin missing: run make"
# A private copy: a `make` elsewhere must not swap the binary between runs.
cp "$kiln_bin" "$work/kiln"
kiln=$work/kiln
if ! command -v skopeo >/dev/null; then
	say "bench/verify.sh: installing skopeo (the peer)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends skopeo >/dev/null 2>&1 ||
		say "bench/verify.sh: no skopeo; its columns are left empty"
fi
have_skopeo=false; command -v skopeo >/dev/null && have_skopeo=true

bench_git_env
unset KILN_MIRROR KILN_KEY KILN_STORE
warm=$work/cache            # the shared, warm kiln cache (indexes and packages)
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp     # audit's scratch store and --fresh package cache

sets=(hello big)
declare -A pkgs=([big]="python3 curl git gnupg openssh-client ca-certificates")
declare -A NAME=([hello]=hello-web [big]=bench-big)
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 1. the packages, fetched once from this machine's mirror ---------------
# hello-web: the example as it is; its repository is the one timed.
d=$work/hello/repo
mkdir -p "$d"
cp -r "$top/examples/hello-web/." "$d/"
rm -rf "$d/snapshots"
git -C "$d" init -q
(cd "$d" && git add -A && git commit -qm hello-web) || die "git commit failed"
say "bench/verify.sh: fetching hello-web's packages from this machine's mirror"
(cd "$d" && KILN_CACHE=$warm "$kiln" -q build --no-sign --store "$work/hello/fetch-store" >/dev/null 2>"$work/err") ||
	die "the first build of hello-web failed"
rm -rf "$work/hello/fetch-store"
# The big set: pinned and locked against this machine's mirror, then fetched.
d=$work/big/upstream
mkdir -p "$d"
git -C "$d" init -q
args=(); for p in ${pkgs[big]}; do args+=(-p "$p"); done
say "bench/verify.sh: locking and fetching ${pkgs[big]} from this machine's mirror"
(cd "$d" && KILN_CACHE=$warm "$kiln" -q init --name "${NAME[big]}" "${args[@]}" . &&
	KILN_CACHE=$warm "$kiln" -q lock && git add -A && git commit -qm lock &&
	KILN_CACHE=$warm "$kiln" -q build --no-sign --store "$work/big/fetch-store" >/dev/null) 2>"$work/err" ||
	die "locking or fetching the big set failed"
rm -rf "$work/big/fetch-store"

# ---- 2. the local mirror -----------------------------------------------------
bench_mirror_repo "$work/mirror/hello" "$work/hello/repo/kiln.lock" "$warm" || die "the hello-web mirror"
bench_mirror_repo "$work/mirror/big" "$work/big/upstream/kiln.lock" "$warm" || die "the big set's mirror"
bench_mirror_serve "$work/mirror" || die "the local mirror did not start"

# The big set, re-locked against it: the same packages, the URL in its manifest.
d=$work/big/repo
mkdir -p "$d"
git -C "$d" init -q
{
	printf 'kiln: 1\nname: %s\narchitecture: amd64\nsources:\n' "${NAME[big]}"
	printf '  - name: local\n    suite: bookworm\n    components: [main]\n'
	printf '    url: %s/big\n    trusted: "true"\npackages:\n' "$MIRROR_URL"
	sed -n '/^packages:/,/^[^ ]/{/^  [a-z0-9]/p}' "$work/big/upstream/kiln.yaml"
} >"$d/kiln.yaml"
(cd "$d" && KILN_CACHE=$warm "$kiln" -q lock 2>"$work/err" && git add -A && git commit -qm lock) ||
	die "locking the big set against the local mirror failed"
cmp -s <(lockset "$work/big/upstream/kiln.lock") <(lockset "$d/kiln.lock") ||
	die "the local lock differs from the mirror's"

# ---- 3. a key, one signed build per set: the snapshot under test -------------
declare -A DIG COMMIT BLOBS NB MB NPKG T
blobs_of() { # STORE COMMIT NAME: every blob kiln verify reaches, one path a line
	python3 - "$@" <<'PY'
import json, os, sys
store, commit, name = sys.argv[1:]
blob = lambda d: os.path.join(store, "blobs", "sha256", d.split(":", 1)[1])
rec = json.load(open(os.path.join(store, "commits", commit, name + ".json")))
out = [blob(rec["manifest"]), blob(rec["envelope"]), blob(rec["referrer"])]
for d in (rec["manifest"], rec["referrer"]):
    m = json.load(open(blob(d)))
    out.append(blob(m["config"]["digest"]))
    out += [blob(l["digest"]) for l in m.get("layers", [])]
print("\n".join(dict.fromkeys(out)))
PY
}
setenv() { # the set's mirror: hello-web's manifest names none, so $KILN_MIRROR
	if [ "$1" = hello ]; then export KILN_MIRROR=$MIRROR_URL/hello; else unset KILN_MIRROR; fi
}
for s in "${sets[@]}"; do
	d=$work/$s/repo
	setenv "$s"
	(cd "$d" && "$kiln" -q keygen --key "$work/$s.key" >/dev/null 2>"$work/err" && git add .kiln &&
		git commit -qm "trust the bench key") || die "$s: keygen failed"
	COMMIT[$s]=$(git -C "$d" rev-parse HEAD)
	NPKG[$s]=$(grep -c '^  - name:' "$d/kiln.lock")
	(cd "$d" && KILN_CACHE=$warm "$kiln" -q build --key "$work/$s.key" --store "$work/$s/store" \
		>"$work/out" 2>"$work/err") || die "$s: the signed build failed"
	DIG[$s]=$(tail -1 "$work/out")
	BLOBS[$s]=$(blobs_of "$work/$s/store" "${COMMIT[$s]}" "${NAME[$s]}")
	NB[$s]=$(printf '%s\n' "${BLOBS[$s]}" | wc -l)
	MB[$s]=$(div "$(printf '%s\n' "${BLOBS[$s]}" | xargs stat -c %s | paste -sd+ | bc)" 1000000)
	# Once, not timed: verify passes and re-hashes as many blobs as the floor does.
	(cd "$d" && "$kiln" verify --store "$work/$s/store" "${NAME[$s]}" >"$work/out" 2>"$work/err") ||
		die "$s: kiln verify of the fresh snapshot failed"
	n=$(awk '$1 == "blobs" {print $2}' "$work/out")
	[ "$n" = "${NB[$s]}" ] || say "bench/verify.sh: $s: kiln verify re-hashed $n blobs, the floor hashes ${NB[$s]}"
	say "bench/verify.sh: set $s: ${NPKG[$s]} packages, ${DIG[$s]}, ${NB[$s]} blobs, $(printf '%.1f' "${MB[$s]}") MB"
done

# ---- 4. time everything, the same runs interleaved ---------------------------
# cpu: the CPU time (user + system) of this shell's finished children, in
# seconds, in $CPU; `times` is a builtin and runs in this shell (never in a
# $(…) subshell: a fork starts its children's count from zero).
cpu() {
	local usr sys
	times >"$work/times"
	{ read -r _ _; read -r usr sys; } <"$work/times"
	CPU=$(echo "${usr%%m*} * 60 + ${usr#*m} + ${sys%%m*} * 60 + ${sys#*m}" | tr -d s | bc)
}
t() { # KEY CMD…: run CMD in the set's repository, its wall-clock time appended to
	# T[$s.KEY] and its CPU time to T[$s.KEY.cpu]
	local k=$1 rc=0 c0; shift
	cd "$d"
	cpu; c0=$CPU
	elapsed "$@" >"$work/out" 2>"$work/err" || rc=$?
	[ "$rc" = 0 ] || { cd "$work"; die "$s: $* failed (exit $rc)"; }
	cd "$work"
	T[$s.$k]+="$ELAPSED "
	cpu
	T[$s.$k.cpu]+="$(echo "$CPU - $c0" | bc) "
}
same_image() { [ "$(tail -1 "$work/out")" = "${DIG[$s]}" ] || die "$s: a cold build gave $(tail -1 "$work/out")"; }
audit() { KILN_CACHE=$warm t audit "$kiln" -q audit --store "$store"; }
fresh() { KILN_CACHE=$warm t fresh "$kiln" -q audit --fresh --store "$store"; }
cold() {
	rm -rf "$work/cold-store"
	KILN_CACHE=$warm t cold "$kiln" -q build --no-cache --key "$work/$s.key" --store "$work/cold-store"
	same_image
	rm -rf "$work/cold-store"
}
coldpkg() {
	rm -rf "$work/cold-store" "$work/cold-cache"; mkdir "$work/cold-cache"
	KILN_CACHE=$work/cold-cache t coldpkg "$kiln" -q build --no-cache --key "$work/$s.key" \
		--store "$work/cold-store"
	same_image
	rm -rf "$work/cold-store" "$work/cold-cache"
}
for s in "${sets[@]}"; do
	d=$work/$s/repo
	store=$work/$s/store
	ref="oci:$store:${NAME[$s]}@${COMMIT[$s]}"
	mapfile -t blobs <<<"${BLOBS[$s]}"
	setenv "$s"
	say "bench/verify.sh: set $s: $runs runs of each"
	for ((i = 0; i < runs; i++)); do
		t verify "$kiln" -q verify --store "$store" "${NAME[$s]}"
		t sha sha256sum "${blobs[@]}"
		t ossl openssl dgst -sha256 "${blobs[@]}"
		if $have_skopeo; then
			t inspect skopeo inspect "$ref"
			rm -rf "$work/copy"
			t copy skopeo copy -q --insecure-policy "$ref" "dir:$work/copy"
			rm -rf "$work/copy"
		fi
		# Each audit and its cold build side by side, their order swapped every
		# other run, so a load that drifts during the run weighs on both alike.
		if ((i % 2 == 0)); then audit; cold; fresh; coldpkg; else cold; audit; coldpkg; fresh; fi
		# Nothing left behind by audit: its scratch store and --fresh cache are gone.
		[ -z "$(ls -A "$work/tmp")" ] || die "$s: audit left $(ls "$work/tmp") in \$TMPDIR"
	done
done

# ---- 5. the tables -------------------------------------------------------------
declare -A M
keys=(verify sha ossl inspect copy audit cold fresh coldpkg)
for s in "${sets[@]}"; do
	for k in "${keys[@]}" audit.cpu cold.cpu fresh.cpu coldpkg.cpu; do
		if [ -n "${T[$s.$k]:-}" ]; then M[$s.$k]=$(printf '%s\n' ${T[$s.$k]} | median); else M[$s.$k]=0; fi
	done
done
ms() { printf '%.1f' "$(echo "$1 * 1000" | bc)"; }
x() { if [ "$(echo "$2 > 0" | bc)" = 1 ]; then printf '%.2fx' "$(div "$1" "$2")"; else printf -- '-'; fi; }
echo
echo "kiln verify and kiln audit, one signed snapshot per set, median of $runs runs, $(nproc) cores;"
echo "packages served from 127.0.0.1; work dir on $(stat -f -c %T "$work"); load average at the start $load0,"
echo "at the end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every number)"
echo
echo "verify (ms) against the floor (hashing every blob it reaches) and skopeo on the same OCI layout:"
printf '%-6s %5s %5s %7s %9s %9s %9s %8s %8s %9s %9s %8s\n' set pkgs blobs MB verify sha256sum openssl \
	v/sha256 v/ossl sk-insp sk-copy v/copy
for s in "${sets[@]}"; do
	printf '%-6s %5d %5d %7.1f %9s %9s %9s %8s %8s %9s %9s %8s\n' "$s" "${NPKG[$s]}" "${NB[$s]}" "${MB[$s]}" \
		"$(ms "${M[$s.verify]}")" "$(ms "${M[$s.sha]}")" "$(ms "${M[$s.ossl]}")" \
		"$(x "${M[$s.verify]}" "${M[$s.sha]}")" "$(x "${M[$s.verify]}" "${M[$s.ossl]}")" \
		"$(ms "${M[$s.inspect]}")" "$(ms "${M[$s.copy]}")" "$(x "${M[$s.verify]}" "${M[$s.copy]}")"
done
echo "(sha256sum / openssl: coreutils sha256sum / openssl dgst -sha256 of the same blob files, one process;"
echo " sk-insp: skopeo inspect (manifest and config only, nothing hashed); sk-copy: skopeo copy to dir:"
echo " (every blob read, digest-checked and written out); verify/sk-insp = $(
	for s in "${sets[@]}"; do printf '%s %s ' "$s" "$(x "${M[$s.verify]}" "${M[$s.inspect]}")"; done))"
echo
echo "audit (s) against a cold build: kiln build --no-cache into an empty store, signed and recorded"
printf '%-6s %5s %8s %8s %8s %9s %11s %11s %10s\n' set pkgs audit cold a/cold a-cold-ms audit-fresh \
	cold-nopkg fresh/cold
for s in "${sets[@]}"; do
	printf '%-6s %5d %8.3f %8.3f %8s %9.0f %11.3f %11.3f %10s\n' "$s" "${NPKG[$s]}" "${M[$s.audit]}" \
		"${M[$s.cold]}" "$(x "${M[$s.audit]}" "${M[$s.cold]}")" \
		"$(echo "(${M[$s.audit]} - ${M[$s.cold]}) * 1000" | bc)" "${M[$s.fresh]}" "${M[$s.coldpkg]}" \
		"$(x "${M[$s.fresh]}" "${M[$s.coldpkg]}")"
done
printf '%-6s %5s %8s %8s %8s %9s %11s %11s %10s\n' '' 'cpu:' audit cold a/cold a-cold-ms \
	audit-fresh cold-nopkg fresh/cold
for s in "${sets[@]}"; do
	printf '%-6s %5s %8.3f %8.3f %8s %9.0f %11.3f %11.3f %10s\n' "$s" "" "${M[$s.audit.cpu]}" \
		"${M[$s.cold.cpu]}" "$(x "${M[$s.audit.cpu]}" "${M[$s.cold.cpu]}")" \
		"$(echo "(${M[$s.audit.cpu]} - ${M[$s.cold.cpu]}) * 1000" | bc)" "${M[$s.fresh.cpu]}" \
		"${M[$s.coldpkg.cpu]}" "$(x "${M[$s.fresh.cpu]}" "${M[$s.coldpkg.cpu]}")"
done
echo "(wall-clock medians, then the CPU time, user + system, of the same runs: other work on the"
echo " machine disturbs it less; audit: the shared package cache warm; cold: the same warm package"
echo " cache (a build re-hashes each cached .deb too); a-cold-ms: what audit costs over the cold build,"
echo " to compare with verify above; audit-fresh: audit --fresh, every .deb downloaded again;"
echo " cold-nopkg: a cold build with an empty package cache, downloading from the same mirror;"
echo " every cold build gave the recorded digest, every audit said identical)"
for s in "${sets[@]}"; do
	printf '%-6s runs (s): verify %s| audit %s| cold %s| fresh %s| cold-nopkg %s\n' "$s" \
		"${T[$s.verify]}" "${T[$s.audit]}" "${T[$s.cold]}" "${T[$s.fresh]}" "${T[$s.coldpkg]}"
done
echo
goal() { printf '  %-82s %s\n' "$1" "$([ "$2" = 1 ] && echo met || echo MISSED)"; }
echo "goals (on the wall-clock medians; the CPU ratio beside it):"
for s in "${sets[@]}"; do
	goal "$s: audit no more than a cold build ($(x "${M[$s.audit]}" "${M[$s.cold]}"), cpu $(
		x "${M[$s.audit.cpu]}" "${M[$s.cold.cpu]}"))" "$(echo "${M[$s.audit]} <= ${M[$s.cold]}" | bc)"
	goal "$s: audit --fresh no more than a cold build with no package cache ($(
		x "${M[$s.fresh]}" "${M[$s.coldpkg]}"), cpu $(x "${M[$s.fresh.cpu]}" "${M[$s.coldpkg.cpu]}"))" \
		"$(echo "${M[$s.fresh]} <= ${M[$s.coldpkg]}" | bc)"
done
