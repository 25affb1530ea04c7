#!/usr/bin/env bash
# The command line: --help for kiln and every command, usage errors exit 2,
# manifest errors name FILE:LINE:COL and change nothing.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

expect_rc 0 "kiln --help" kiln --help
for c in $(kiln --help | awk '/^Commands:/{f=1;next} f&&/^  [a-z]/{print $1} f&&/^$/{f=0}'); do
	expect_rc 0 "kiln $c --help" kiln "$c" --help
	expect_contains "$out" "usage: kiln $c" "kiln $c --help shows its usage"
	expect_rc 0 "kiln help $c" kiln help "$c"
done
expect_rc 2 "no command is a usage error" kiln
expect_rc 2 "an unknown command is a usage error" kiln frobnicate
expect_contains "$err" "frobnicate" "and names it"
expect_rc 2 "an unknown option is a usage error" kiln lock --frobnicate
expect_rc 0 "kiln version" kiln version
expect_contains "$out" "kiln " "prints the version"
expect_rc 0 "kiln --json version" kiln --json version
expect_contains "$out" '"version"' "as JSON"

cd "$T"
expect_rc 1 "lock without a manifest" kiln lock
expect_contains "$err" "kiln.yaml" "names the manifest it looked for"

# Hostile or wrong manifests: clear errors, and an existing lock survives.
write_manifest kiln.yaml S app=2.0
kiln lock >/dev/null
cp kiln.yaml good.yaml; cp kiln.lock good.lock
bad() { # NAME, then sed expression or file content via stdin
	local name=$1; shift
	cp good.yaml kiln.yaml
	sed -i "$@" kiln.yaml
	run kiln lock
	if [ "$rc" = 1 ] && cmp -s good.lock kiln.lock; then _report 0 "$name: refused, lock untouched"; else
		_report 1 "$name: refused, lock untouched"; echo "# rc=$rc err=$err"; fi
	expect_contains "$err" "kiln.yaml:" "$name: the message names kiln.yaml:LINE:COL"
}
bad "unpinned version" 's/app: "2.0"/app: "latest"/'
bad "version range" 's/app: "2.0"/app: ">= 2.0"/'
bad "unknown key" 's/^name: t/nmae: t/'
bad "duplicate key" 's/^name: t/name: t\nname: u/'
bad "wrong type" 's/^    components: \[main\]/    components: main/'
bad "tab indentation" 's/^  app:/\tapp:/'
bad "an alias" 's/^name: t/name: \&a t\nepoch: *a/'
bad "bad package name" 's/^  app:/  App_1:/'
bad "missing sources" '/^sources:/,/^packages:/{/^packages:/!d}'
run kiln lock -f good.yaml
check "the good manifest still locks" test "$rc" = 0
expect_contains "$(kiln lock -f good.yaml 2>&1)" "up to date" "and its lock is current"

# Garbage, NUL bytes, a huge file: errors, not crashes.
head -c 3000 /dev/urandom >garbage.yaml
run kiln lock -f garbage.yaml
check "random bytes are an error (exit 1), not a crash" test "$rc" = 1
yes 'x: y' | head -c 5000000 >huge.yaml
run kiln lock -f huge.yaml
check "a 5 MB manifest is refused (exit 1)" test "$rc" = 1
done_testing
