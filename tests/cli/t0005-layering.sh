#!/usr/bin/env bash
# The floors of lib/ (docs/architecture.md): a file may include headers of
# its own floor and of the floors it sees, never of one above or beside it.
# The Makefile enforces that with per-folder include paths; this script
# shows the enforcement failing on deliberate bad includes
# (tests/fixtures/layering/), checks that every file of lib/ compiles with
# only its floor's paths, and, as a second line of defence that needs no
# compiler, reads every #include of lib/ against the floors it may see.
. "$(dirname "$0")/../lib/cli.sh"

top=${KILN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
fixtures="$top/tests/fixtures/layering"
cd "$top" || exit 1
# Ask the Makefile itself: the lists and flags it builds with.  (Run from
# `make test`, the environment carries the parent make's job server.)
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory -C "$top" "$@"; }

floors=$(mk print-floors)
cc=$(mk print-cc)
check "the Makefile lists the floors" test -n "$floors"
declare -A sees cflags
for f in $floors; do
	sees[$f]=$(mk "print-sees-$f")
	cflags[$f]=$(mk "print-cflags-$f")
done

# Every folder of lib/ is a floor the Makefile knows (a folder it does not
# list would not be compiled at all), and the reverse.
dirs=$(cd lib && for d in */; do printf '%s ' "${d%/}"; done)
check "lib/'s folders are the Makefile's floors ($dirs)" \
	test "$(printf '%s\n' $dirs | sort)" = "$(printf '%s\n' $floors | sort)"
# and no module sits in lib/ itself, outside every floor (the build would
# not compile it).
loose=$(cd lib && ls -- *.c *.h 2>/dev/null | tr '\n' ' ')
check "every module of lib/ is in a floor's folder ($loose)" test -z "$loose"

# The arrows that must hold whatever else changes: nothing sees a floor
# above it, and runtime and net see no image, store or format.
for pair in base:debian base:io debian:formats debian:image formats:io io:image \
	image:ops image:runtime net:runtime runtime:image runtime:io runtime:net; do
	f=${pair%%:*} g=${pair#*:}
	case " ${sees[$f]} " in
	*" $g "*) check "$f does not see $g" false ;;
	*) check "$f does not see $g" true ;;
	esac
done
# A floor's flags hold exactly the -I paths of the floors it sees.
for f in $floors; do
	want=$(for g in ${sees[$f]}; do echo "-Ilib/$g"; done | sort)
	got=$(printf '%s\n' ${cflags[$f]} | grep '^-Ilib' | sort)
	check "$f compiles with -I for ${sees[$f]} only" test "$got" = "$want"
done

# (a) The compiler refuses an include that points up: each fixture
# up-OTHER.c, compiled as a file of its folder's floor, must fail because
# the header is not found; each ok.c must compile with the same flags.
for dir in "$fixtures"/*/; do
	f=$(basename "$dir")
	for src in "$dir"*.c; do
		name="fixtures/layering/$f/$(basename "$src")"
		# shellcheck disable=SC2086
		run "$cc" ${cflags[$f]} -fsyntax-only "$src"
		case $(basename "$src") in
		ok*.c)
			check "$name compiles with $f's flags" test "$rc" = 0
			[ "$rc" = 0 ] || printf '%s\n' "$err" | head -5 | sed 's/^/# /'
			;;
		up-*.c)
			bad=$(sed -n 's/^#include "\(.*\)"$/\1/p' "$src" | tail -1)
			check "$name does not compile with $f's flags" test "$rc" != 0
			expect_contains "$err" "$bad: No such file" "$name fails on its include of $bad"
			;;
		esac
	done
done

# (b) Every file of lib/, .c and .h, preprocesses with only its floor's
# include paths (the build compiles the .c files that way; the headers are
# checked alone too, so one no .c of its floor includes is covered).
for f in $floors; do
	# shellcheck disable=SC2086
	"$cc" ${cflags[$f]} -E lib/"$f"/*.[ch] >/dev/null 2>"$T/cpp.err"
	check "every file of lib/$f preprocesses with $f's flags alone" test $? = 0
	grep error "$T/cpp.err" | head -5 | sed 's/^/# /'
done

# The second line of defence, without a compiler: each #include "x.h" in a
# file of floor F names a header that lives in a floor F sees.  Header
# names are unique across lib/ and cmd/kiln, so -I order cannot pick one.
declare -A home
dupes=""
for h in lib/*/*.h cmd/kiln/*.h; do
	b=$(basename "$h")
	[ -n "${home[$b]:-}" ] && dupes="$dupes $b"
	case $h in lib/*) home[$b]=$(basename "$(dirname "$h")") ;; *) home[$b]=cmd ;; esac
done
check "no header name appears twice in lib/ and cmd/kiln ($dupes)" test -z "$dupes"
# grep_floor FLOOR FILE…: print "FILE: x.h (floor G)" for each include of a
# header FLOOR may not see.
grep_floor() {
	local f=$1 src h g; shift
	for src in "$@"; do
		for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$src"); do
			g=${home[$(basename "$h")]:-}
			[ -n "$g" ] || continue # a header of the same folder's tests, or a system one
			case " ${sees[$f]} " in *" $g "*) ;; *) echo "$src: $h (floor $g)" ;; esac
		done
	done
}
for f in $floors; do
	found=$(grep_floor "$f" lib/"$f"/*.[ch])
	check "no file of lib/$f names a header of a floor $f does not see" test -z "$found"
	[ -z "$found" ] || printf '%s\n' "$found" | sed 's/^/# /'
done
# The grep check finds what the compiler found in the fixtures.
for src in "$fixtures"/*/up-*.c; do
	f=$(basename "$(dirname "$src")")
	found=$(grep_floor "$f" "$src")
	check "the grep check flags fixtures/layering/$f/$(basename "$src")" test -n "$found"
done

# Modules of one floor may use each other, but without a cycle (layer.c
# and dpkg.c once needed each other): tsort fails on a loop in the
# "module includes module" pairs.
modules_graph() {
	local src m h
	for src in "$@"; do
		m=$(basename "${src%.?}")
		for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)\.h".*/\1/p' "$src"); do
			[ "$h" = "$m" ] || echo "$m $h"
		done
	done
}
modules_graph lib/*/*.[ch] | tsort >/dev/null 2>"$T/tsort.err"
check "no include cycle between the modules of lib/" test $? = 0
sed 's/^/# /' "$T/tsort.err"
# The same check sees a cycle when there is one.
printf '#include "dpkg.h"\n' >"$T/layer.c"
printf '#include "layer.h"\n' >"$T/dpkg.c"
! modules_graph "$T/layer.c" "$T/dpkg.c" | tsort >/dev/null 2>&1
check "the cycle check finds layer -> dpkg -> layer" test $? = 0

# One door per outside library where kiln has a module for it: libgit2 is
# opened by gitrepo.c alone.
found=$(grep -l '#include <git2' lib/*/*.[ch] cmd/kiln/*.[ch] | grep -v '^lib/io/gitrepo.c$')
check "only lib/io/gitrepo.c includes libgit2 ($found)" test -z "$found"

done_testing
