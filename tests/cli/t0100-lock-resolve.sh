#!/usr/bin/env bash
# kiln lock against the fixture repository: every resolution rule of
# docs/lockfile.md, Resolution, one row each (the table in tests/fixtures/README.md).
# A row is: id, sources, pins (comma-separated), then either the expected
# lock (name=version[@source] …) or "ERROR" and text the message must hold.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

rows=(
"R01|S|app=1.0|app=1.0 applib=2.0"
"R02|S|app=2.0|app=2.0 applib=2.0 data-all=1.0"
"R03|S|app=3.0|ERROR|app|3.0|1.0 (stable), 2.0 (stable)"
"R04|S|nosuch-pkg=1.0|ERROR|nosuch-pkg|no source has a package"
"R05|S|uses-ge=1.0|libv=1:0.5 uses-ge=1.0"
"R06|S|uses-gt=1.0|libv=1:0.5 uses-gt=1.0"
"R07|S|uses-le=1.0|libv=1.0 uses-le=1.0"
"R08|S|uses-lt=1.0|libv=1.0~rc1 uses-lt=1.0"
"R09|S|uses-eq=1.0|libv=1.0 uses-eq=1.0"
"R10|S|uses-eq-epoch=1.0|libv=1:0.5 uses-eq-epoch=1.0"
"R11|S|uses-lt-epoch=1.0|libv=1.1 uses-lt-epoch=1.0"
"R12|S|uses-ge=1.0,libv=1.0|libv=1.0 uses-ge=1.0"
"R13|S|uses-lt=1.0,libv=1.1|ERROR|libv (<< 1.0)|libv 1.1 is already chosen|required by: uses-lt 1.0 (pinned)"
"R14|S|libv=1:0.5|libv=1:0.5"
"R15|S|libv=0.5|ERROR|libv|\"0.5\"|1:0.5"
"R16|S|uses-gt-none=1.0|ERROR|libgt (>> 2.0)|libgt has 1.0 (stable), 2.0 (stable)"
"R17|S|uses-ge-edge=1.0|libgt=2.0 uses-ge-edge=1.0"
"R18|S|uses-rev=1.0|libw=2.0-10 uses-rev=1.0"
"R19|S|uses-rev-lt=1.0|libw=2.0-2 uses-rev-lt=1.0"
"R20|S|range-both=1.0|librange=1.5 range-both=1.0"
"R21|S|range-a=1.0|librange=2.0 range-a=1.0"
"R22|S|range-b=1.0|librange=1.5 range-b=1.0"
"R23|S|range-a=1.0,range-b=1.0|librange=1.5 range-a=1.0 range-b=1.0"
"R24|S|uses-predep=1.0|libpre=1.0 uses-predep=1.0"
"R25|S|alt-missing-first=1.0|alt-b=1.0 alt-missing-first=1.0"
"R26|S|alt-both=1.0|alt-a=1.0 alt-both=1.0"
"R27|S|alt-version=1.0|alt-b=1.0 alt-version=1.0"
"R28|S|alt-none=1.0|ERROR|alt-nonexistent | alt-nonexistent2|no source has a package alt-nonexistent2"
"R29|S|mta-user=1.0|ERROR|mail-transport-agent is a virtual package provided by mta-one, mta-two|pin the one you want"
"R30|S|mta-user=1.0,mta-two=1.0|mta-two=1.0 mta-user=1.0"
"R31|S|mta-user=1.0,mta-one=1.0,mta-two=1.0|ERROR|conflict|mta-one|mta-two"
"R32|S|mta-pref-user=1.0|mta-pref-user=1.0 mta-two=1.0"
"R33|S|mail-transport-agent=1.0|ERROR|virtual package|mta-one"
"R34|S|realvirt-user=1.0|realvirt=1.0 realvirt-user=1.0"
"R35|S|realvirt-user-v=1.0|realvirt-provider=1.0 realvirt-user-v=1.0"
"R36|S|api-user=1.0|api-user=1.0 libapi-impl2=1.0"
"R37|S|api3-user=1.0|ERROR|libapi (>= 3)|no provider of libapi fits"
"R38|S|nov-user=1.0|libnov-provider=1.0 nov-user=1.0"
"R39|S|nov-user-versioned=1.0|ERROR|libnov (>= 1)"
"R40|S|any-user=1.0|any-user=1.0 toolm=1.0"
"R41|S|cycle-a=1.0|cycle-a=1.0 cycle-b=1.0"
"R42|S|has-recommends=1.0|has-recommends=1.0"
"R43|S|conflicts-user=1.0|ERROR|conf-y 1.0|conf-x 1.0"
"R44|S|conflicts-outside=1.0|conflicts-outside=1.0"
"R45|S|conflicts-virtual=1.0|ERROR|conf-v-b 1.0|conf-v-a 1.0"
"R46|S|conflicts-versioned=1.0|conf-vers=1.0 conf-x=1.0 conflicts-versioned=1.0"
"R47|S|breaks-ok=1.0|breaks-ok=1.0 brk-lib=1.0 brk-target=2.0"
"R48|S|breaks-bad=1.0|ERROR|brk-target (<< 2.0)|brk-target 1.0 would conflict with brk-lib 1.0"
"R49|S|breaks-ok=1.0,brk-target=1.0|ERROR|brk-lib|brk-target 1.0"
"R50|S|needs-missing-version=1.0|ERROR|missing-lib (>= 9)|missing-lib has 1.0 (stable)|required by: needs-missing-version 1.0 (pinned)"
"R51|S|needs-nonexistent=1.0|ERROR|does-not-exist|no source has a package does-not-exist"
"R52|S|ms-user=1.0|libms1=1.0 ms-user=1.0"
"R53|S|needs-i386-only=1.0|ERROR|i386-only|no source has a package i386-only"
"R54|S|i386-only=1.0|ERROR|packages.i386-only|no source has a package"
"R55|S|epoch-app=1:1.0-1|epoch-app=1:1.0-1"
"R56|S|epoch-app=1.0-1|ERROR|epoch-app|1:1.0-1 (stable)"
"R57|S|upd-user=1.0|upd-lib=1.0 upd-user=1.0"
"R58|S+U|upd-user=1.0|upd-lib=1.1@updates upd-user=1.0@stable"
"R59|S+U|upd-user=1.0,upd-lib=1.0|upd-lib=1.0@stable upd-user=1.0@stable"
"R60|S|upd-app=1.1|ERROR|upd-app|\"1.1\"|1.0 (stable)"
"R61|S+U|upd-app=1.1|upd-app=1.1@updates upd-lib=1.1@updates"
"R62|S+U|upd-app=1.0|upd-app=1.0@stable upd-lib=1.1@updates"
"R63|S|spacing-user=1.0|alt-b=1.0 libgt=2.0 spacing-user=1.0"
"R64|S|folded-user=1.0|alt-a=1.0 folded-user=1.0 libgt=2.0"
"R65|S|layout-edge=1.0|layout-edge=1.0"
"R66|S|data-all=1.0|data-all=1.0"
"R67|S|app=2.0,uses-ge=1.0,cycle-a=1.0,alt-both=1.0|alt-a=1.0 alt-both=1.0 app=2.0 applib=2.0 cycle-a=1.0 cycle-b=1.0 data-all=1.0 libv=1:0.5 uses-ge=1.0"
)

cat "$KILN_TEST_WWW"/good/dists/stable/main/binary-amd64/Packages \
	"$KILN_TEST_WWW"/good/dists/stable-updates/main/binary-amd64/Packages >"$T/Packages"
for row in "${rows[@]}"; do
	IFS='|' read -r id sources pins expected rest <<<"$row"
	dir="$T/$id"; mkdir -p "$dir"
	IFS=, read -r -a pinv <<<"$pins"
	write_manifest "$dir/kiln.yaml" "$sources" "${pinv[@]}"
	# layout-edge has a postinst and suite stable no Essential set: the
	# rows are about resolution, so unpack only (the error is below).
	case "$pins" in *layout-edge*) echo 'scripts: skip' >>"$dir/kiln.yaml" ;; esac
	run kiln lock -f "$dir/kiln.yaml"
	if [ "$expected" = ERROR ]; then
		if [ "$rc" = 1 ] && [ ! -e "$dir/kiln.lock" ]; then
			_report 0 "$id: $pins fails, writing no lock"
		else
			_report 1 "$id: $pins fails, writing no lock"; echo "# rc=$rc out=$out err=$err"
		fi
		IFS='|' read -r -a needles <<<"$rest"
		for needle in "${needles[@]}"; do
			expect_contains "$err" "$needle" "$id: the message names '$needle'"
		done
	else
		want=$(tr ' ' '\n' <<<"$expected" | sort)
		mode=; case "$expected" in *@*) mode=with-source ;; esac
		got=$(locked_set "$dir/kiln.lock" $mode 2>/dev/null)
		if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then
			_report 0 "$id: $pins locks $expected"
		else
			_report 1 "$id: $pins locks $expected"
			echo "# rc=$rc got: $(echo $got)"; printf '%s\n' "$err" | sed 's/^/# err: /'
		fi
	fi
done

# Every entry of a lock carries its stanza's filename, size and sha256.
bad=$(/usr/bin/python3 - "$T/Packages" "$T"/R*/kiln.lock <<'PY'
import sys
idx = {}
for st in open(sys.argv[1]).read().split("\n\n"):
    f = dict(l.split(": ", 1) for l in st.splitlines() if ": " in l and not l.startswith(" "))
    if "Package" in f:
        idx[(f["Package"], f["Version"], f["Architecture"])] = (f["Filename"], f["Size"], f["SHA256"])
bad = 0
for path in sys.argv[2:]:
    cur = {}
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("  - name: "): cur = {"name": line[10:]}
        elif line.startswith("    ") and ": " in line:
            k, v = line[4:].split(": ", 1); cur[k] = v.strip('"')
            if k == "sha256" and idx.get((cur["name"], cur["version"], cur["architecture"])) != (cur["filename"], cur["size"], cur["sha256"]):
                print("# %s: %s" % (path, cur), file=sys.stderr); bad += 1
print(bad)
PY
)
check "every lock entry matches its Packages stanza (filename, size, sha256)" test "$bad" = 0

# depends: names who satisfies each clause, providers standing for virtuals.
expect_contains "$(cat "$T/R30/kiln.lock")" "depends: [mta-two]" "R30: mta-user depends on its provider mta-two"
expect_contains "$(cat "$T/R36/kiln.lock")" "depends: [libapi-impl2]" "R36: api-user depends on libapi-impl2"
expect_contains "$(cat "$T/R02/kiln.lock")" "depends: [applib, data-all]" "R02: app depends on applib and data-all"
expect_contains "$(cat "$T/R66/kiln.lock")" "architecture: all" "R66: an Architecture: all package is locked as all"
expect_not_contains "$(cat "$T/R42/kiln.lock")" "recommended-pkg" "R42: Recommends are not followed"
# Maintainer scripts without an Essential set to run them with: an error
# at lock time that says what to do.
mkdir -p "$T/noess"
write_manifest "$T/noess/kiln.yaml" S layout-edge=1.0
expect_rc 1 "a closure with scripts and no Essential set does not lock" kiln lock -f "$T/noess/kiln.yaml"
expect_contains "$err" "layout-edge 1.0 has maintainer scripts (postinst)" "naming the package and its script"
expect_contains "$err" "set scripts: skip" "and the way out"
check "no lock is written" test ! -e "$T/noess/kiln.lock"
done_testing
