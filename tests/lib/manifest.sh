# tests/lib/manifest.sh - write test manifests against the fixture repository.
#
#   write_manifest FILE SOURCES PIN…
#     SOURCES: S (good/stable) or S+U (good/stable then good/stable-updates),
#              or REPO:SUITE:TRUST for one source (TRUST keyring|other|trusted)
#     PIN: name=version
write_manifest() {
	local file=$1 sources=$2 pin repo suite trust
	shift 2
	{
		echo "kiln: 1"
		echo "name: t"
		echo "architecture: amd64"
		echo "sources:"
		case "$sources" in
		S | S+U)
			printf '  - name: stable\n    url: %s/good\n    suite: stable\n    components: [main]\n    keyring: %s\n' \
				"$KILN_TEST_HTTP" "$KILN_TEST_KEYRING"
			[ "$sources" = S+U ] &&
				printf '  - name: updates\n    url: %s/good\n    suite: stable-updates\n    components: [main]\n    keyring: %s\n' \
					"$KILN_TEST_HTTP" "$KILN_TEST_KEYRING"
			;;
		*)
			IFS=: read -r repo suite trust <<<"$sources"
			printf '  - name: only\n    url: %s/%s\n    suite: %s\n    components: [main]\n' \
				"$KILN_TEST_HTTP" "$repo" "$suite"
			case "$trust" in
			keyring) echo "    keyring: $KILN_TEST_KEYRING" ;;
			other) echo "    keyring: $KILN_TEST_OTHER_KEYRING" ;;
			trusted) echo "    trusted: \"true\"" ;;
			esac
			;;
		esac
		echo "packages:"
		for pin in "$@"; do
			printf '  %s: "%s"\n' "${pin%%=*}" "${pin#*=}"
		done
	} >"$file"
}

# locked_set LOCK: "name=version[@source]" per line, sorted; @source when $2 = with-source
locked_set() {
	awk -v ws="${2:-}" '/^  - name:/{n=$3} /^    version:/{v=$2; gsub(/"/,"",v)}
		/^    source:/{s=$2; print n "=" v (ws=="with-source" ? "@" s : "")}' "$1" | sort
}
