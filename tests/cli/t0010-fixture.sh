#!/usr/bin/env bash
# t0010-fixture: the shared apt fixture (tests/lib/fixture-up) is what
# tests/fixtures/README.md says, checked with tools kiln did not write:
# gpgv, curl, sha256sum/md5sum, dpkg-deb and apt-get.  kiln is not run.
# shellcheck disable=SC2016,SC2046,SC2086,SC2154,SC2317 # lists split on purpose; $out $err $rc come from run; helpers run via check
# shellcheck source-path=SCRIPTDIR source=../lib/cli.sh
. "$(dirname "$0")/../lib/cli.sh"
: "${KILN_TEST_HTTP:?run through tests/run (needs the fixture from tests/lib/fixture-up)}"
top=${KILN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
readme="$top/tests/fixtures/README.md"
W=$KILN_TEST_WWW
H=$KILN_TEST_HTTP
K=$KILN_TEST_KEYRING
OK=$KILN_TEST_OTHER_KEYRING

# --- signatures --------------------------------------------------------------
gpgv_ok() { gpgv --keyring "$1" "${@:2}" >/dev/null 2>&1; }
gpgv_bad() { ! gpgv_ok "$@"; }
d=$W/good/dists
check "gpgv accepts good/stable InRelease" gpgv_ok "$K" "$d/stable/InRelease"
check "gpgv accepts good/stable-updates InRelease" gpgv_ok "$K" "$d/stable-updates/InRelease"
check "gpgv accepts good/stable Release.gpg" gpgv_ok "$K" "$d/stable/Release.gpg" "$d/stable/Release"
gpgv --keyring "$K" --output "$T/verified" "$d/stable/InRelease" 2>/dev/null
expect_same_file "$T/verified" "$d/stable/Release" "good InRelease signs exactly good Release"
check "gpgv rejects good InRelease with the other keyring" gpgv_bad "$OK" "$d/stable/InRelease"
d=$W/badsig/dists/stable
check "gpgv rejects badsig InRelease" gpgv_bad "$K" "$d/InRelease"
check "gpgv rejects badsig Release.gpg" gpgv_bad "$K" "$d/Release.gpg" "$d/Release"
check "gpgv accepts badsig InRelease with the other keyring" gpgv_ok "$OK" "$d/InRelease"
d=$W/tampered/dists/stable
check "gpgv rejects tampered InRelease" gpgv_bad "$K" "$d/InRelease"
check "gpgv rejects tampered Release.gpg" gpgv_bad "$K" "$d/Release.gpg" "$d/Release"
run gpgv --keyring "$K" "$d/InRelease"
expect_contains "$err" "BAD signature" "tampered: gpgv says BAD signature"
d=$W/outside/dists/stable
check "gpgv accepts outside InRelease" gpgv_ok "$K" "$d/InRelease"
gpgv --keyring "$K" --output "$T/outside" "$d/InRelease" 2>/dev/null
expect_contains "$(cat "$d/InRelease")" "evil-outside" "outside: the file carries unsigned text"
expect_not_contains "$(cat "$T/outside")" "evil" "outside: gpgv's output has none of it"
expect_contains "$(cat "$T/outside")" "Label: kiln-fixture-outside" "outside: gpgv's output is the Release"
check "nosig-detached Release.gpg verifies" gpgv_ok "$K" "$W/nosig-detached/dists/stable/Release.gpg" \
	"$W/nosig-detached/dists/stable/Release"
check "badindex InRelease verifies" gpgv_ok "$K" "$W/badindex/dists/stable/InRelease"

# --- the server --------------------------------------------------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
rel=$H/good/dists/stable/Release
expect_contains "$(code "$rel")" 200 "GET Release: 200"
run curl -sSI "$rel"
expect_contains "$out" "Last-Modified: Sat, 01 Jun 2024 00:00:00 GMT" "Last-Modified is the fixed time"
etag=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^ETag: //p')
expect_contains "$(code -H 'If-Modified-Since: Sat, 01 Jun 2024 00:00:00 GMT' "$rel")" 304 "If-Modified-Since: 304"
expect_contains "$(code -H 'If-Modified-Since: Fri, 31 May 2024 00:00:00 GMT' "$rel")" 200 "older If-Modified-Since: 200"
expect_contains "$(code -H "If-None-Match: $etag" "$rel")" 304 "If-None-Match: 304"
expect_contains "$(code -H 'If-None-Match: "other"' "$rel")" 200 "other ETag: 200"
curl -s -r 10-29 -o "$T/range" "$rel"
head -c 30 "$W/good/dists/stable/Release" | tail -c 20 >"$T/range.want"
expect_same_file "$T/range" "$T/range.want" "Range 10-29 gives those bytes"
expect_contains "$(code -r 10-29 "$rel")" 206 "Range: 206"
expect_contains "$(code -r 999999- "$rel")" 416 "Range past the end: 416"
run curl -sS -o /dev/null "$H/truncate/good/dists/stable/Release"
check "truncate: curl reports a partial transfer (18)" test "$rc" = 18
expect_contains "$(code "$H/tag/t0010-$$/flaky/good/dists/stable/Release")" 503 "flaky: first 503"
expect_contains "$(code "$H/tag/t0010-$$/flaky/good/dists/stable/Release")" 200 "flaky: then 200"
expect_contains "$(code "$H/status/500/x")" 500 "status/500"
expect_contains "$(code -L "$H/redirect/good/dists/stable/Release")" 200 "redirect is followed to the file"
expect_contains "$(code "$H/good/dists/stable/")" 404 "directories: 404"
expect_contains "$(code "$H/unsigned/dists/stable/InRelease")" 404 "unsigned: no InRelease"
expect_contains "$(code "$H/unsigned/dists/stable/Release.gpg")" 404 "unsigned: no Release.gpg"
expect_contains "$(code "$H/nosig-detached/dists/stable/InRelease")" 404 "nosig-detached: no InRelease"
expect_contains "$(code "$H/outside/dists/stable/Release")" 404 "outside: no Release"
expect_contains "$(cat "$KILN_TEST_HTTPD_LOG")" "GET /good/dists/stable/Release 304" "the log has METHOD PATH STATUS lines"

# --- Release checksums -------------------------------------------------------
# release_mismatches RELEASE-TEXT SUITE-DIR: index files whose size, MD5 or
# SHA256 differ from the Release lines, and Packages* files Release omits.
release_mismatches() {
	local text=$1 sd=$2 sect hash size path algo listed=" "
	while read -r sect hash size path; do
		case $sect in MD5Sum) algo=md5sum ;; SHA256) algo=sha256sum ;; esac
		listed+="$path "
		if [ ! -f "$sd/$path" ] || [ "$(stat -c %s "$sd/$path")" != "$size" ] ||
			[ "$($algo <"$sd/$path" | cut -d' ' -f1)" != "$hash" ]; then
			echo "$sect:$path"
		fi
	done < <(awk '/^[A-Za-z0-9-]+:/ { sect = $1; sub(/:$/, "", sect); next }
		/^ / && (sect == "MD5Sum" || sect == "SHA256") { print sect, $1, $2, $3 }' "$text")
	for path in $(cd "$sd" && find main -name 'Packages*' | sort); do
		case "$listed" in *" $path "*) ;; *) echo "unlisted:$path" ;; esac
	done
}
for s in good/dists/stable good/dists/stable-updates badsig/dists/stable unsigned/dists/stable \
	nosig-detached/dists/stable; do
	run release_mismatches "$W/$s/Release" "$W/$s"
	check "$s: every index matches Release (size, MD5, SHA256) and is listed" test -z "$out"
	[ -z "$out" ] || printf '# %s\n' $out
done
expect_contains "$(grep -c '^ ' "$W/good/dists/stable/Release")" 12 "good/stable Release lists 6 files twice"
run release_mismatches "$T/outside" "$W/outside/dists/stable"
check "outside: indexes match the signed Release" test -z "$out"
run release_mismatches "$W/badindex/dists/stable/Release" "$W/badindex/dists/stable"
check "badindex: all 6 hash lines mismatch" test "$(printf '%s\n' "$out" | grep -c main/)" = 6
run release_mismatches "$W/tampered/dists/stable/Release" "$W/tampered/dists/stable"
check "tampered: exactly the changed SHA256 line mismatches" test "$out" = "SHA256:main/binary-amd64/Packages"

# --- Packages stanzas against the .deb files ---------------------------------
# stanza_mismatches REPO-DIR PACKAGES: stanzas whose Filename, Size, SHA256 or
# MD5sum do not match the file.
stanza_mismatches() {
	local f size sha md5
	while read -r f size sha md5; do
		if [ ! -f "$1/$f" ] || [ "$(stat -c %s "$1/$f")" != "$size" ] ||
			[ "$(sha256sum <"$1/$f" | cut -d' ' -f1)" != "$sha" ] ||
			[ "$(md5sum <"$1/$f" | cut -d' ' -f1)" != "$md5" ]; then
			echo "$f"
		fi
	done < <(awk 'BEGIN { RS = "" } { f = s = h = m = "-"; n = split($0, l, "\n")
		for (i = 1; i <= n; i++) { split(l[i], kv, ": ")
			if (kv[1] == "Filename") f = kv[2]; else if (kv[1] == "Size") s = kv[2]
			else if (kv[1] == "SHA256") h = kv[2]; else if (kv[1] == "MD5sum") m = kv[2] }
		print f, s, h, m }' "$2")
}
nstanzas=0
for p in $(cd "$W" && find . -path '*/binary-*/Packages' | sort); do
	repo=${p#./}; repo=${repo%%/*}
	[ "$repo" = badindex ] && continue
	nstanzas=$((nstanzas + $(grep -c '^Package:' "$W/$p")))
	run stanza_mismatches "$W/$repo" "$W/$p"
	check "${p#./}: Filename, Size, SHA256, MD5sum match the debs" test -z "$out"
	[ -z "$out" ] || printf '# %s\n' $out
done
expect_contains "$(grep -c '^Package:' "$W/good/dists/stable/main/binary-amd64/Packages")" 89 "good/stable amd64 has 89 stanzas"
run stanza_mismatches "$W/badindex" "$W/badindex/dists/stable/main/binary-amd64/Packages"
check "badindex: its Packages names versions whose files are fine (only the index was changed)" test -z "$out"
expect_contains "$(xz -dc "$W/badindex/dists/stable/main/binary-amd64/Packages.xz")" "2.0+evil" "badindex: Packages.xz changed too"
expect_contains "$(gzip -dc "$W/badindex/dists/stable/main/binary-amd64/Packages.gz")" "2.0+evil" "badindex: Packages.gz changed too"
for s in good/dists/stable/main/binary-amd64 good/dists/stable/main/binary-i386 good/dists/stable-updates/main/binary-amd64; do
	check "$s: Packages.gz and .xz hold Packages" sh -c \
		"gzip -dc '$W/$s/Packages.gz' | cmp -s - '$W/$s/Packages' && xz -dc '$W/$s/Packages.xz' | cmp -s - '$W/$s/Packages'"
done

# --- every .deb --------------------------------------------------------------
bad=""; n=0; members=""
while IFS= read -r deb; do
	n=$((n + 1))
	dpkg-deb -I "$deb" >/dev/null 2>&1 || bad+=" $deb"
	members+=" $(ar t "$deb" | tr '\n' ' ')"
done < <(find "$W" -name '*.deb' | sort)
check "dpkg-deb -I reads all $n debs" test -z "$bad"
[ -z "$bad" ] || printf '# unreadable: %s\n' $bad
for m in data.tar.xz data.tar.gz data.tar.zst control.tar.zst data.tar; do
	expect_contains "$members " " $m " "some deb has $m"
done
run dpkg-deb -c "$W/good/pool/main/l/layout-edge/layout-edge_1.0_amd64.deb"
expect_contains "$out" "./usr/share/layout-edge/hard-b link to ./usr/share/layout-edge/hard-a" "layout-edge has a hard link"
expect_contains "$out" "./usr/bin/le-link -> layout-edge" "layout-edge has a relative symlink"
expect_contains "$out" "-rwsr-xr-x root/root" "layout-edge has a setuid file owned by root"
expect_contains "$(dpkg-deb -f "$W/good/pool/main/libv/libv/libv_0.5_amd64.deb" Version)" "1:0.5" "libv_0.5_amd64.deb is version 1:0.5"

# --- apt-get cross-checks of the README tables -------------------------------
# apt_root NAME TRUST SOURCES-LINES: a private apt configuration in $T/apt-NAME.
# TRUST is keyring, other or trusted.
apt_root() {
	local r=$T/apt-$1 kr=$K
	[ "$2" = other ] && kr=$OK
	mkdir -p "$r/lists/partial" "$r/cache/archives/partial" "$r/empty" "$r/state"
	printf '%s\n' "$3" >"$r/sources.list"
	cat >"$r/apt.conf" <<-EOF
	Dir::Etc::main "/dev/null";
	Dir::Etc::parts "$r/empty";
	Dir::Etc::sourcelist "$r/sources.list";
	Dir::Etc::sourceparts "$r/empty";
	Dir::Etc::preferences "/dev/null";
	Dir::Etc::preferencesparts "$r/empty";
	Dir::Etc::trusted "$kr";
	Dir::Etc::trustedparts "$r/empty";
	Dir::State "$r/state";
	Dir::State::status "/dev/null";
	Dir::State::lists "$r/lists";
	Dir::Cache "$r/cache";
	Dir::Log "$r/log";
	APT::Architecture "amd64";
	APT::Architectures { "amd64"; };
	APT::Sandbox::User "root";
	APT::Install-Recommends "false";
	APT::Install-Suggests "false";
	Acquire::Languages "none";
	Acquire::Retries "0";
	Debug::NoLocking "true";
	EOF
	echo "$r"
}
apt_in() { local r=$1; shift; APT_CONFIG=$r/apt.conf apt-get -q "$@"; }
# apt_resolve ROOT PINS…: the Inst lines as sorted "name=version@suite".
apt_resolve() {
	local r=$1; shift
	apt_in "$r" install -s "$@" >"$T/apt.out" 2>&1 || return 1
	sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) [^:]*:\([^ ]*\) .*/\1=\2@\3/p' "$T/apt.out" | sort | tr '\n' ' ' | sed 's/ $//'
}

S=$(apt_root S keyring "deb $H/good stable main")
SU=$(apt_root SU keyring "deb $H/good stable main
deb $H/good stable-updates main")
quiet() { "$@" >"$T/quiet.log" 2>&1 || { sed 's/^/# /' "$T/quiet.log"; return 1; }; }
check "apt-get update: good stable" quiet apt_in "$S" update
check "apt-get update: good stable + stable-updates" quiet apt_in "$SU" update
run apt_in "$S" install -qq --print-uris app=2.0
check "apt-get --print-uris app=2.0" test "$rc" = 0
expect_contains "$out" "$H/good/pool/main/a/app/app_2.0_amd64.deb" "apt's URI for app 2.0 is the pool path"

# Resolution table rows: | Rnn | S or S+U | pins | expected | apt |
rows=0
while IFS='|' read -r _ id src pins expected mode _; do
	for v in id src pins expected mode; do read -r "${v?}" <<<"${!v}"; done
	case "$id" in R[0-9]*) ;; *) continue ;; esac
	rows=$((rows + 1))
	root=$S; [ "$src" = S+U ] && root=$SU
	# expected as apt prints it: name=version@suite, sorted
	want=""
	if [ "${expected#ERROR}" = "$expected" ]; then
		want=$(for e in $expected; do
			case $e in *@updates) echo "${e%@*}@stable-updates" ;; *@*) echo "$e" ;; *) echo "$e@stable" ;; esac
		done | sort | tr '\n' ' ' | sed 's/ $//')
	fi
	case "$mode" in
	same | set)
		if [ -z "$want" ]; then
			check "$id: an ERROR row cannot be apt '$mode'" false
			continue
		fi
		;;
	esac
	case "$mode" in
	same)
		got=$(apt_resolve "$root" $pins || true)
		check "$id apt agrees: $pins => $expected" test "$got" = "$want"
		[ "$got" = "$want" ] || echo "# apt: ${got:-failed: $(grep -E '^E:|unmet|Depends|Conflicts|Breaks' "$T/apt.out" | head -3 | tr '\n' ' ')}"
		;;
	set)
		all=$(for e in $expected; do echo "${e%@*}"; done)
		got=$(apt_resolve "$root" $all || true)
		check "$id apt accepts the expected closure of $pins" test "$got" = "$want"
		[ "$got" = "$want" ] || echo "# apt: ${got:-failed}"
		# ...and each unpinned package is at its highest workable version:
		# any newer version of it makes apt fail.
		newer_ok=""
		for e in $all; do
			name=${e%%=*} ver=${e#*=}
			case " $pins " in *" $name="*) continue ;; esac
			for v in $(APT_CONFIG=$root/apt.conf apt-cache madison "$name" | awk -F' [|] ' '{ print $2 }'); do
				dpkg --compare-versions "$v" gt "$ver" || continue
				if apt_resolve "$root" $(printf '%s\n' $all | sed "s/^$name=.*/$name=$v/") >/dev/null; then
					newer_ok+=" $name=$v"
				fi
			done
		done
		check "$id no newer version would do:$newer_ok" test -z "$newer_ok"
		;;
	fails)
		got=$(apt_resolve "$root" $pins || echo FAILED)
		check "$id apt fails too: $pins" test "$got" = FAILED
		# Unless the row is about a missing name or version, apt must have
		# found every pin: it fails for the row's reason, not a typo.
		case "$expected" in
		"ERROR no such"*) ;;
		*) check "$id apt knows every pin of: $pins" sh -c '! grep -qE "Unable to locate|was not found" "$0"' "$T/apt.out" ;;
		esac
		;;
	esac
done < <(sed 's/\\|/or/g' "$readme")
check "the README has resolution rows" test "$rows" -ge 60

# Repository rows: | Pnn | path | suite | trust | expected | apt |
prow=0
while IFS='|' read -r _ id path suite trust expected mode _; do
	for v in id path suite trust mode; do read -r "${v?}" <<<"${!v}"; done
	case "$id" in P[0-9]*) ;; *) continue ;; esac
	prow=$((prow + 1))
	opt=""; [ "$trust" = trusted ] && opt="[trusted=yes] "
	r=$(apt_root "$id" "$trust" "deb $opt$H/$path $suite main")
	apt_in "$r" update >"$T/update-$id.log" 2>&1
	got=$(apt_resolve "$r" app=2.0 || true)
	want="app=2.0@$suite applib=2.0@$suite data-all=1.0@$suite"
	case "$mode" in
	same) check "$id apt agrees: $path $suite ($trust) -> ok" test "$got" = "$want" ;;
	fails) check "$id apt fails too: $path $suite ($trust)" test -z "$got" ;;
	esac
	[ "$mode" != "-" ] || [ "$path" != outside ] || check "$id apt refuses text outside the signature" \
		grep -qE "Splitting up .* into data and signature failed|Clearsigned file isn't valid" "$T/update-$id.log"
done < <(sed 's/\\|/or/g' "$readme")
check "the README has repository rows" test "$prow" -ge 15

done_testing
