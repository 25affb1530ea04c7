#!/usr/bin/env bash
# The environment is read in one place (docs/architecture.md, Environment):
# cmd/kiln/env.c reads it and passes values down as options, so no file of
# lib/ calls getenv or secure_getenv, and no other file of cmd/kiln does.
. "$(dirname "$0")/../lib/cli.sh"

top=${KILN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1

# Files of lib/ still allowed to read the environment while they are being
# split (issue 10); empty this line once that work is merged.
allowed=""

# readers FILE…: the files among FILE… that call getenv or secure_getenv
# (comments are dropped first, so a sentence naming getenv does not count).
readers() {
	local f
	for f in "$@"; do
		sed -e 's://.*$::' -e 's:/\*.*\*/::g' "$f" |
			grep -Eq '\b(secure_)?getenv[[:space:]]*\(' && echo "$f"
	done
	return 0
}

# The check finds a reader: a file that calls getenv, one that calls
# secure_getenv, and one that only names it in a comment.
mkdir -p "$T/fix"
printf '#include <stdlib.h>\nconst char *f(void) { return getenv("HOME"); }\n' >"$T/fix/a.c"
printf 'const char *g(void) { return secure_getenv ("X"); }\n' >"$T/fix/b.c"
printf '/* not getenv("X") */\nint h(void) { return 0; }\n' >"$T/fix/c.c"
found=$(readers "$T/fix/a.c" "$T/fix/b.c" "$T/fix/c.c" | tr '\n' ' ')
check "the check sees getenv and secure_getenv calls, not comments ($found)" \
	test "$found" = "$T/fix/a.c $T/fix/b.c "

mapfile -t lib_files < <(find lib -name '*.[ch]' | sort)
bad=()
for f in $(readers "${lib_files[@]}"); do
	case " $allowed " in *" $f "*) continue ;; esac
	bad+=("$f")
done
check "no file of lib/ reads the environment (${bad[*]:-none})" test ${#bad[@]} = 0

mapfile -t cmd_files < <(find cmd/kiln -name '*.[ch]' ! -name env.c | sort)
bad=$(readers "${cmd_files[@]}" | tr '\n' ' ')
check "cmd/kiln reads the environment in env.c only (${bad:-none})" test -z "$bad"

done_testing
