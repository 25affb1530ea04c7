#!/usr/bin/env bash
# kiln lock and the repository's trust chain: signatures checked by gpgv,
# indexes by the Release's SHA256, transfers that fail part-way.  Each row
# of tests/fixtures/README.md "Expected repository behaviour"; a failure
# exits 3 (verification) or 1 (transport) and leaves the previous lock as it was.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

ok_set=$'app=2.0\napplib=2.0\ndata-all=1.0'
rows=(
"P01|good:stable:keyring|ok"
"P02|good:stable:other|3|signed by key|not in keyring"
"P03|good:nosuch:keyring|1|no InRelease or Release"
"P04|badsig:stable:keyring|3|not in keyring"
"P05|badsig:stable:other|ok"
"P06|badsig:stable:trusted|ok"
"P07|tampered:stable:keyring|3|BAD signature"
"P08|badindex:stable:keyring|3|does not match its signed Release"
"P09|badindex:stable:trusted|3|does not match its signed Release"
"P10|outside:stable:keyring|3|text"
"P11|unsigned:stable:keyring|3|has no signature"
"P12|unsigned:stable:trusted|ok"
"P13|nosig-detached:stable:keyring|ok"
"P14|truncate/good:stable:keyring|1|truncated"
"P15|redirect/good:stable:keyring|ok"
)
for row in "${rows[@]}"; do
	IFS='|' read -r id src expected rest <<<"$row"
	dir="$T/$id"; mkdir -p "$dir"
	write_manifest "$dir/kiln.yaml" "$src" app=2.0
	# A previous lock that must survive any failure byte for byte.
	printf '# an earlier lock\n' >"$dir/kiln.lock"
	cp "$dir/kiln.lock" "$dir/before"
	# Each row gets its own cache: nothing verified earlier may help it.
	KILN_CACHE="$T/cache-$id" run kiln lock --update -f "$dir/kiln.yaml"
	if [ "$expected" = ok ]; then
		got=$(locked_set "$dir/kiln.lock" 2>/dev/null)
		if [ "$rc" = 0 ] && [ "$got" = "$ok_set" ]; then _report 0 "$id: $src locks"; else
			_report 1 "$id: $src locks"; echo "# rc=$rc err=$err"; fi
	else
		if [ "$rc" = "$expected" ]; then _report 0 "$id: $src fails with exit $expected"; else
			_report 1 "$id: $src fails with exit $expected"; echo "# rc=$rc err=$err"; fi
		expect_same_file "$dir/before" "$dir/kiln.lock" "$id: the previous lock is untouched"
		IFS='|' read -r -a needles <<<"$rest"
		for needle in "${needles[@]}"; do
			expect_contains "$err" "$needle" "$id: the message says '$needle'"
		done
	fi
done
# P10: nothing of the unsigned text may reach a lock, ever.
expect_not_contains "$(cat "$T"/P*/kiln.lock)" "evil" "no lock holds text from outside a signature"
# A rejected InRelease is not kept as "current" for the next conditional request.
KILN_CACHE="$T/cache-P07" run kiln lock --update -f "$T/P07/kiln.yaml"
expect_contains "$err" "BAD signature" "P07 again: still rejected, not served from the cache"

# Caching: a second lock downloads nothing but a conditional InRelease.
mkdir -p "$T/cache1"
write_manifest "$T/c.yaml" "good:stable:keyring" app=2.0
tag="t0110-$$"
sed -i "s|url: $KILN_TEST_HTTP/good|url: $KILN_TEST_HTTP/tag/$tag/good|" "$T/c.yaml"
KILN_CACHE="$T/cache1" run kiln lock -f "$T/c.yaml"
check "first lock through a tagged path" test "$rc" = 0
first=$(grep -c "/tag/$tag/" "$KILN_TEST_HTTPD_LOG")
rm "$T/c.lock"
KILN_CACHE="$T/cache1" run kiln lock -f "$T/c.yaml"
check "second lock succeeds" test "$rc" = 0
second=$(grep "/tag/$tag/" "$KILN_TEST_HTTPD_LOG" | tail -n +$((first + 1)))
expect_contains "$second" "InRelease 304" "the second lock's InRelease request is conditional (304)"
expect_not_contains "$second" "Packages" "the second lock fetches no Packages index"
check "the second lock asked for exactly one file" test "$(printf '%s\n' "$second" | grep -c .)" = 1

# By-hash is not in the fixture; the plain path is used and checked.
expect_contains "$(grep "/tag/$tag/" "$KILN_TEST_HTTPD_LOG" | head -5)" "Packages.xz 200" "indexes come as .xz"
done_testing
