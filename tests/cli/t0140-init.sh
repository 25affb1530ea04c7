#!/usr/bin/env bash
# kiln init: a starter manifest pinned to what the mirror has now, that
# locks straight away; never overwrites without --force.
. "$(dirname "$0")/../lib/cli.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_MIRROR="$KILN_TEST_HTTP/good"
# init makes the project's signing key where builds look for it by default.
unset KILN_KEY
mkdir -p "$T/My Project" && cd "$T/My Project"
expect_rc 0 "init against the fixture mirror" \
	kiln init --suite stable --keyring "$KILN_TEST_KEYRING" -p app -p upd-user
expect_contains "$(cat kiln.yaml)" 'app: "2.0"' "pins the newest app"
expect_contains "$(cat kiln.yaml)" 'name: my-project' "names the image after the directory"
expect_contains "$(cat kiln.yaml)" "suite: stable-updates" "adds the -updates suite the mirror has"
expect_not_contains "$(cat kiln.yaml)" "stable-security" "but not a -security suite it lacks"
expect_contains "$(cat kiln.yaml)" 'upd-user: "1.0"' "pins upd-user"
expect_not_contains "$(cat kiln.yaml)" "entrypoint: [/bin/busybox]" "no busybox entrypoint for an image without busybox"
expect_not_contains "$(cat kiln.yaml)" "127.0.0.1" "names no mirror host"
expect_contains "$(cat .gitignore)" "/snapshots/*" "ignores the store"
expect_contains "$(cat .gitignore)" "/.kiln/signing.key" "and the private signing key"
check "init made a signing key" test -f .kiln/signing.key
check "mode 0600" test "$(stat -c %a .kiln/signing.key)" = 600
check "and its trusted public key" sh -c 'ls .kiln/trusted/*.pub >/dev/null'
expect_contains "$out" "trusted key: " "and says to commit the public key"
cp .kiln/signing.key "$T/key.before"
expect_rc 0 "the starter locks straight away" kiln lock
cp kiln.yaml first.yaml
expect_rc 1 "init refuses to overwrite" kiln init --suite stable --keyring "$KILN_TEST_KEYRING"
expect_contains "$err" "--force" "and says how"
expect_same_file first.yaml kiln.yaml "kiln.yaml is untouched"
expect_rc 0 "init --force overwrites" kiln init --force --suite stable --keyring "$KILN_TEST_KEYRING" -p app
expect_contains "$out" "(already there)" "a second init keeps the key"
expect_same_file "$T/key.before" .kiln/signing.key "untouched"
check ".gitignore gains the store only once" test "$(grep -c '/snapshots/\*' .gitignore)" = 1
expect_rc 1 "init of a package the mirror lacks" kiln init --force --suite stable --keyring "$KILN_TEST_KEYRING" -p no-such-pkg
expect_contains "$err" "no-such-pkg" "names it"
expect_rc 1 "init with a bad package name" kiln init --force --suite stable -p 'Bad_Name'
expect_rc 2 "init with two directories is a usage error" kiln init a b
done_testing
