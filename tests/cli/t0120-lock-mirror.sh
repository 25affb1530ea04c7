#!/usr/bin/env bash
# Mirrors are transport, not identity (docs/lockfile.md, Mirrors): a source without url:
# takes $KILN_MIRROR_<NAME>, then $KILN_MIRROR, then apt's own sources
# (one-line .list and deb822 .sources); the lock names no host, and a lock
# made through one mirror is byte-identical to one made through another.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

cd "$T"
write_manifest kiln.yaml S app=2.0
sed -i '/url:/d' kiln.yaml           # no url: the machine decides
empty_etc="$T/etc-empty"; mkdir -p "$empty_etc"

KILN_APT_ETC="$empty_etc" KILN_MIRROR= run kiln lock
check "with no mirror anywhere, lock fails" test "$rc" = 1
expect_contains "$err" "no mirror for suite \"stable\"" "and says which suite has no mirror"
expect_contains "$err" "KILN_MIRROR_STABLE" "and names the variable to set"

KILN_APT_ETC="$empty_etc" KILN_MIRROR="$KILN_TEST_HTTP/good" run kiln lock
check "KILN_MIRROR serves a source without url:" test "$rc" = 0
expect_not_contains "$(cat kiln.lock)" "127.0.0.1" "the lock names no host"
cp kiln.lock a.lock

# Another mirror of the same archive (a redirecting path): same bytes.
KILN_APT_ETC="$empty_etc" KILN_MIRROR_STABLE="$KILN_TEST_HTTP/redirect/good" KILN_MIRROR="http://127.0.0.1:1/nothing" \
	run kiln lock --update
check "KILN_MIRROR_<NAME> wins over KILN_MIRROR" test "$rc" = 0
expect_same_file a.lock kiln.lock "a lock made through another mirror is byte-identical"

# apt's own sources, one-line format (options in brackets, comments).
mkdir -p "$T/etc-list/sources.list.d"
cat >"$T/etc-list/sources.list" <<LIST
# a comment
deb [arch=amd64 signed-by=$KILN_TEST_KEYRING] $KILN_TEST_HTTP/tag/list/good stable main
deb-src $KILN_TEST_HTTP/nowhere stable main
LIST
KILN_APT_ETC="$T/etc-list" KILN_MIRROR= run kiln lock --update
check "apt's one-line sources.list gives the mirror" test "$rc" = 0
expect_same_file a.lock kiln.lock "same lock through apt's .list mirror"
check "the request went to the .list URI" grep -q "/tag/list/good/dists/stable/InRelease" "$KILN_TEST_HTTPD_LOG"

# deb822 .sources (Enabled: no is skipped; several suites on one entry).
mkdir -p "$T/etc-822/sources.list.d"
cat >"$T/etc-822/sources.list.d/a.sources" <<SRC
Types: deb
URIs: http://127.0.0.1:1/disabled
Suites: stable
Components: main
Enabled: no

# the real one
Types: deb deb-src
URIs: $KILN_TEST_HTTP/tag/deb822/good
Suites: stable stable-updates
Components: main
Signed-By: $KILN_TEST_KEYRING
SRC
KILN_APT_ETC="$T/etc-822" KILN_MIRROR= run kiln lock --update
check "apt's deb822 .sources gives the mirror" test "$rc" = 0
expect_same_file a.lock kiln.lock "same lock through apt's .sources mirror"
check "the request went to the enabled .sources URI" grep -q "/tag/deb822/good/dists/stable/InRelease" "$KILN_TEST_HTTPD_LOG"

# An unreachable mirror is a clear error and the lock stays.
cp kiln.lock before.lock
KILN_APT_ETC="$empty_etc" KILN_MIRROR="http://127.0.0.1:1" run kiln lock --update
check "an unreachable mirror fails" test "$rc" = 1
expect_contains "$err" "127.0.0.1:1" "and names the URL it could not reach"
expect_same_file before.lock kiln.lock "and the previous lock is untouched"

# url: in the manifest wins over everything.
write_manifest url.yaml S app=2.0
KILN_MIRROR="http://127.0.0.1:1" run kiln lock -f url.yaml
check "url: in the manifest wins over KILN_MIRROR" test "$rc" = 0
done_testing
