#!/usr/bin/env bash
# kiln keygen: an Ed25519 key pair under .kiln/ at the top of the work tree,
# the private key 0600 and never overwritten without --force, both halves
# readable by openssl, and a signature openssl makes and checks.
. "$(dirname "$0")/../lib/cli.sh"
# This script tests where keys go by default: not the harness's key.
unset KILN_KEY

cd "$T"
git init -q repo
mkdir -p repo/sub/dir
cd repo/sub/dir

expect_rc 0 "keygen in a git work tree" kiln keygen
expect_contains "$out" "key id:      sha256:" "prints the key id"
keyid=$(printf '%s\n' "$out" | awk '/^key id:/{print $3}')
check "the key id is sha256:HEX" kiln_digest_ok "$keyid"
priv="$T/repo/.kiln/signing.key"
pub="$T/repo/.kiln/trusted/${keyid:7:16}.pub"
expect_contains "$out" "private key: $priv" "prints the private key path (top of the work tree)"
expect_contains "$out" "public key:  $pub" "prints the public key path, named by the key id"
check "private key written" test -f "$priv"
check "public key written" test -f "$pub"
check "private key is mode 0600" test "$(stat -c %a "$priv")" = 600
check "public key is mode 0644" test "$(stat -c %a "$pub")" = 644
check "private key is PKCS#8 PEM" grep -qx -- '-----BEGIN PRIVATE KEY-----' "$priv"
check "public key is SPKI PEM" grep -qx -- '-----BEGIN PUBLIC KEY-----' "$pub"
check "openssl reads it as ED25519" sh -c "openssl pkey -in '$priv' -noout -text | grep -q ED25519"
check "the public key is the private key's" sh -c "openssl pkey -in '$priv' -pubout | cmp -s - '$pub'"
# The key id is sha256 of the DER SubjectPublicKeyInfo.
der_id=sha256:$(openssl pkey -pubin -in "$pub" -outform DER | sha256sum | cut -d' ' -f1)
check "the key id is sha256 of the DER public key" test "$keyid" = "$der_id"

# A second keygen must not destroy the first key.
cp "$priv" "$T/key.before"
expect_rc 1 "a second keygen is refused" kiln keygen
expect_contains "$err" "exists" "and says the key exists"
expect_contains "$err" "--force" "and how to overwrite it"
expect_same_file "$T/key.before" "$priv" "the existing key is untouched"
check "no second public key appeared" test "$(ls "$T/repo/.kiln/trusted" | wc -l)" = 1
check "no temp files left" test -z "$(find "$T/repo/.kiln" -name '*.tmp.*')"
expect_rc 0 "keygen --force replaces it" kiln keygen --force
check "with a different key" sh -c "! cmp -s '$T/key.before' '$priv'"
check "still mode 0600" test "$(stat -c %a "$priv")" = 600
keyid=$(printf '%s\n' "$out" | awk '/^key id:/{print $3}')
pub="$T/repo/.kiln/trusted/${keyid:7:16}.pub"
check "the new public key is beside the old" test -f "$pub" -a "$(ls "$T/repo/.kiln/trusted" | wc -l)" = 2

# Explicit paths, KILN_KEY, --json.
expect_rc 0 "keygen --key --pub" kiln keygen --key "$T/k/a.key" --pub "$T/k/a.pub"
check "writes the given paths (creating the directory)" test -f "$T/k/a.key" -a -f "$T/k/a.pub"
expect_rc 1 "an existing --pub is refused too" kiln keygen --key "$T/k/b.key" --pub "$T/k/a.pub"
check "leaving no private key behind" test ! -e "$T/k/b.key"
KILN_KEY="$T/env.key" expect_rc 0 "KILN_KEY names the private key" kiln keygen --pub "$T/env.pub"
check "KILN_KEY's file written" test -f "$T/env.key"
expect_rc 0 "keygen --json" kiln --json keygen --key "$T/j.key" --pub "$T/j.pub"
check "--json gives keyid, private, public" sh -c "printf '%s' '$out' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"private\"]==\"$T/j.key\" and d[\"public\"]==\"$T/j.pub\" and d[\"keyid\"].startswith(\"sha256:\")'"

# Outside a git work tree: the current directory.
mkdir "$T/plain" && cd "$T/plain"
expect_rc 0 "keygen outside git" kiln keygen
check "writes ./.kiln/signing.key" test -f "$T/plain/.kiln/signing.key"
cd "$T/repo/sub/dir"

expect_rc 2 "an unexpected argument is a usage error" kiln keygen extra
expect_rc 2 "an unknown option is a usage error" kiln keygen --frobnicate
expect_rc 0 "keygen --help" kiln keygen --help
expect_contains "$out" "usage: kiln keygen" "shows its usage"

# Interop: a DSSE PAE built with printf, signed and verified by openssl with
# kiln's keys (the kiln side of this is in tests/unit/test_dsse.c).
payload='{"_type":"https://in-toto.io/Statement/v1"}'
type=application/vnd.in-toto+json
printf 'DSSEv1 %d %s %d %s' "${#type}" "$type" "${#payload}" "$payload" >"$T/pae"
check "openssl signs with kiln's private key" \
	openssl pkeyutl -sign -inkey "$priv" -rawin -in "$T/pae" -out "$T/sig"
check "and verifies with kiln's public key" \
	openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$T/pae" -sigfile "$T/sig"
check "the signature is 64 bytes" test "$(stat -c %s "$T/sig")" = 64
done_testing
