#!/usr/bin/env bash
# Re-locking: an unchanged manifest gives a byte-identical lock; unpinned
# packages keep their locked versions while they fit; --update PKG moves
# them; --update re-resolves all; --check guards CI.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

cd "$T"
write_manifest kiln.yaml S upd-user=1.0
expect_rc 0 "lock with the stable suite only" kiln lock
check "upd-lib is 1.0 (stable is all there is)" grep -q "version: 1.0" kiln.lock
cp kiln.lock one.lock
expect_rc 0 "lock again" kiln lock
expect_contains "$out" "up to date" "says up to date"
expect_same_file one.lock kiln.lock "byte-identical"
expect_rc 0 "lock --check on a current lock" kiln lock --check

# The manifest gains the updates suite: upd-lib 1.1 appears, but 1.0 still fits.
write_manifest kiln.yaml S+U upd-user=1.0
expect_rc 1 "lock --check after the manifest changed fails" kiln lock --check
expect_contains "$err" "not up to date" "and says so"
expect_same_file one.lock kiln.lock "--check writes nothing"
expect_rc 0 "re-lock with the new source" kiln lock
check "the locked upd-lib 1.0 is kept while it fits" test "$(locked_set kiln.lock with-source | grep upd-lib)" = "upd-lib=1.0@stable"
expect_rc 0 "lock --update upd-lib" kiln lock --update upd-lib
expect_contains "$out" "~ upd-lib 1.0 -> 1.1" "reports the move"
check "upd-lib moves to 1.1 from updates" test "$(locked_set kiln.lock with-source | grep upd-lib)" = "upd-lib=1.1@updates"
expect_rc 2 "--update of an unknown package" kiln lock --update no-such-thing
expect_rc 2 "packages without --update are a usage error" kiln lock upd-lib

# --update with no names re-resolves from scratch.
write_manifest kiln.yaml S upd-user=1.0
kiln lock >/dev/null
write_manifest kiln.yaml S+U upd-user=1.0
expect_rc 0 "lock --update (everything)" kiln lock --update
check "everything takes the newest that fits" test "$(locked_set kiln.lock with-source | grep upd-lib)" = "upd-lib=1.1@updates"

# --update with no names lists only what changed against the previous lock
# (moved, added, removed), and counts only that; not every package as new.
write_manifest kiln.yaml S upd-user=1.0 app=2.0
kiln lock --update >/dev/null
write_manifest kiln.yaml S+U upd-user=1.0 app=2.0
expect_rc 0 "lock --update (everything) after adding a source" kiln lock --update
check "only the moved package is listed" test "$(grep -E '^[-+~] ' <<<"$out")" = "~ upd-lib 1.0 -> 1.1"
expect_contains "$out" "(1 changed;" "and counted: 1 changed"
expect_rc 0 "lock --update again, nothing moves" kiln lock --update
check "no package is listed" test -z "$(grep -E '^[-+~] ' <<<"$out")"
expect_contains "$out" "is up to date" "says up to date"
write_manifest kiln.yaml S+U upd-user=1.0
expect_rc 0 "lock --update after dropping a pin" kiln lock --update
check "the dropped closure is listed as removed" \
	test "$(grep -E '^[-+~] ' <<<"$out")" = "$(printf -- '- app 2.0\n- applib 2.0\n- data-all 1.0')"
expect_contains "$out" "(3 changed;" "and counted: 3 changed"
write_manifest kiln.yaml S+U upd-user=1.0 app=2.0
expect_rc 0 "lock --update after adding it back" kiln lock --update
check "the closure is listed as added" \
	test "$(grep -E '^[-+~] ' <<<"$out")" = "$(printf -- '+ app 2.0\n+ applib 2.0\n+ data-all 1.0')"

# A pin change shows up as a lock diff of exactly that package.
write_manifest kiln.yaml S app=1.0
kiln lock >/dev/null
write_manifest kiln.yaml S app=2.0
expect_rc 0 "lock after bumping a pin" kiln lock
expect_contains "$out" "~ app 1.0 -> 2.0" "reports the bumped pin"
expect_contains "$out" "+ data-all 1.0" "and the new dependency"

# A corrupt existing lock is an error, not silently replaced.
printf 'kiln-lock: 1\ninputs: nonsense\n' >kiln.lock
cp kiln.lock corrupt.lock
expect_rc 1 "a corrupt existing lock is refused" kiln lock
expect_contains "$err" "kiln.lock:" "with the lock's file:line"
expect_same_file corrupt.lock kiln.lock "and left as it was"
expect_rc 0 "--update replaces it" kiln lock --update

# Reordering the manifest's pins changes nothing.
write_manifest kiln.yaml S app=2.0 uses-ge=1.0
kiln lock --update >/dev/null; cp kiln.lock order1.lock
write_manifest kiln.yaml S uses-ge=1.0 app=2.0
expect_rc 0 "lock --check after reordering pins passes" kiln lock --check
expect_same_file order1.lock kiln.lock "the lock is unchanged"

# Two kiln processes never leave a half-written lock behind.
write_manifest kiln.yaml S app=2.0 uses-ge=1.0 cycle-a=1.0
kiln lock --update >/dev/null & kiln lock --update >/dev/null & wait
expect_rc 0 "after two concurrent locks, the lock is current" kiln lock --check
check "no temporary files are left" test -z "$(ls | grep -E '\.tmp|part')"
done_testing
