#!/usr/bin/env bash
# The stock python-app manifest (manifests/python-app.yaml), against this
# machine's Debian mirror: python3's scripts byte-compile the standard
# library and ca-certificates' make the CA bundle, and `kiln audit`
# rebuilds the image to the same bytes; `kiln deploy python-app` answers
# JSON on the host's published port as the user app; a note posted is kept
# in the volume across a second deploy, with no failed request during it.
# Needs root and the mirror.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/stock.sh"

stock_setup python-app py 23000
stock_lock python-app
stock_commit python-app
stock_build python-app
expect_contains "$out" "  | Setting up ca-certificates" "dpkg configures ca-certificates"
stock_unpack python-app
check "the CA bundle is made (ca-certificates' postinst)" grep -q "BEGIN CERTIFICATE" "$R/etc/ssl/certs/ca-certificates.crt"
pyc="$R/usr/lib/python3.11/__pycache__/os.cpython-311.pyc"
check "the standard library is byte-compiled (python3's postinst), hash-based (the same every build)" \
	python3 -c 'import sys; h = open(sys.argv[1], "rb").read(8); sys.exit(not int.from_bytes(h[4:8], "little") & 1)' "$pyc"
rm -rf "$T/bundle"
stock_audit

expect_rc 0 "kiln deploy python-app" kiln deploy python-app
c1=$(stock_container python-app)
url=http://127.0.0.1:$port
run curl -sf --max-time 5 "$url/"
expect_contains "$out" '"greeting": "hello from a kiln image", "python": "3.11.2"' "the app answers JSON on the published port"
run curl -sf --max-time 5 -X POST -H 'Content-Type: application/json' -d '{"text": "kept across deploys"}' "$url/notes"
expect_contains "$out" '"text": "kept across deploys"' "a note is stored"
run curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X POST -d 'not json' "$url/notes"
check "a bad body is a 400" test "$out" = 400
run kiln exec "$c1" id -un
check "the app runs as the user app" test "$out" = app
run kiln exec "$c1" python3 -c 'import ssl; print(ssl.create_default_context().cert_store_stats()["x509_ca"])'
check "Python's default TLS context loads the CA bundle ($out certificates)" test "${out:-0}" -gt 100

( while [ ! -e "$T/stop" ]; do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 "$url/health" || echo failed
  done >"$T/codes" ) &
loop=$!
expect_rc 0 "kiln deploy python-app --force: a new container" kiln deploy python-app --force
touch "$T/stop"; wait "$loop"
c2=$(stock_container python-app)
check "another container serves ($c1 → $c2)" test -n "$c2" -a "$c1" != "$c2"
check "no request failed during the replacement ($(wc -l <"$T/codes") made)" test "$(sort -u "$T/codes")" = 200
run curl -sf --max-time 5 "$url/notes"
expect_contains "$out" '"text": "kept across deploys"' "the new container reads the note from the volume"
done_testing
