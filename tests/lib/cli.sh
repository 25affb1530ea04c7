# tests/lib/cli.sh - the CLI-test harness, sourced by tests/cli/tNNNN-*.sh.
#
#   . "$(dirname "$0")/../lib/cli.sh"
#   run kiln lock                  # runs a command, keeps $out, $err, $rc
#   check "lock succeeds" test $rc = 0
#   expect_rc 1 "bad pin fails" kiln lock -f bad.yaml
#   expect_contains "$err" "no version" "error names the version"
#   done_testing
#
# Every script gets its own scratch directory $T (removed on exit, also on
# failure) and runs the real binary $KILN (build/kiln) as `kiln`.
set -u
: "${KILN:?run through tests/run or set KILN=path/to/kiln}"
T=$(mktemp -d "/tmp/kiln-t-$(basename "$0" .sh).XXXXXX")
export KILN_CACHE="$T/cache"
export HOME="$T/home"
mkdir -p "$HOME"
# Builds sign by default (docs/signing.md): each script has its own throwaway key
# pair; verification takes the public half with --pub "$KILN_PUB".
export KILN_KEY="$T/signing.key" KILN_PUB="$T/signing.pub"
"$KILN" -q keygen --key "$KILN_KEY" --pub "$KILN_PUB" >/dev/null ||
	{ echo "cli.sh: kiln keygen failed" >&2; exit 1; }
# trust_test_key [DIR]: trust this script's key in the work tree DIR (default
# .): DIR/.kiln/trusted/test.pub, as `kiln init` or `kiln keygen` would, so
# kiln run/export/diff use its snapshots by name (docs/signing.md).
trust_test_key() { mkdir -p "${1:-.}/.kiln/trusted" && cp "$KILN_PUB" "${1:-.}/.kiln/trusted/test.pub"; }
tap_n=0
tap_failed=0
_cleanups=()
on_exit() { local c; for c in "${_cleanups[@]}"; do eval "$c"; done; reap_runc_under_t; rm -rf "$T"; }
# Containers podman started with its storage under $T (podman --root "$T/…")
# outlive a podman that failed mid-way (its own state lost under load): force
# them down by bundle path, so that nothing this script started survives it.
reap_runc_under_t() {
	command -v runc >/dev/null || return 0
	runc list 2>/dev/null | awk -v t="$T/" 'NR > 1 && index($4, t) == 1 { print $1 }' |
		while read -r id; do runc delete --force "$id" >/dev/null 2>&1; done
}
trap on_exit EXIT
# Register a cleanup command run on exit (before $T is removed).
at_exit() { _cleanups+=("$1"); }

kiln() { "$KILN" "$@"; }

# run CMD…: run and capture stdout in $out, stderr in $err, status in $rc.
run() {
	out=$("$@" 2>"$T/.stderr"); rc=$?
	err=$(cat "$T/.stderr")
	return 0
}

_report() { # status name
	tap_n=$((tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $tap_n - $2"
	else
		tap_failed=$((tap_failed + 1))
		echo "not ok $tap_n - $2"
	fi
}

# check NAME CMD…: passes when CMD exits 0.
check() {
	local name=$1; shift
	if "$@"; then _report 0 "$name"; else _report 1 "$name"; echo "# failed: $*"; fi
}

# expect_rc CODE NAME CMD…: runs CMD (via run) and wants exit CODE.
expect_rc() {
	local want=$1 name=$2; shift 2
	run "$@"
	if [ "$rc" = "$want" ]; then _report 0 "$name"; else
		_report 1 "$name"
		echo "# wanted exit $want, got $rc from: $*"
		printf '%s\n' "$out" | head -20 | sed 's/^/# out: /'
		printf '%s\n' "$err" | head -20 | sed 's/^/# err: /'
	fi
}

# expect_contains TEXT SUBSTRING NAME
expect_contains() {
	case "$1" in
	*"$2"*) _report 0 "$3" ;;
	*) _report 1 "$3"; echo "# wanted to find: $2"; printf '%s\n' "$1" | head -20 | sed 's/^/# in: /' ;;
	esac
}

# expect_not_contains TEXT SUBSTRING NAME
expect_not_contains() {
	case "$1" in
	*"$2"*) _report 1 "$3"; echo "# did not want: $2"; printf '%s\n' "$1" | head -20 | sed 's/^/# in: /' ;;
	*) _report 0 "$3" ;;
	esac
}

# expect_same_file A B NAME: byte-identical files.
expect_same_file() {
	if cmp -s "$1" "$2"; then _report 0 "$3"; else
		_report 1 "$3"; diff -u "$1" "$2" | head -30 | sed 's/^/# /'
	fi
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" = 0 ]
	exit $?
}

# kiln_digest_ok TEXT: "sha256:" and 64 lowercase hex digits.
kiln_digest_ok() { [[ "$1" =~ ^sha256:[0-9a-f]{64}$ ]]; }
