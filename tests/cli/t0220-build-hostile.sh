#!/usr/bin/env bash
# kiln build against hostile .deb files: each case is a package whose
# data.tar (or control, or compression, or bytes) is crafted, served from a
# file:// apt repository built here, locked by the real `kiln lock` and
# built by the real `kiln build`.  Every case must either fail with a clear
# error (exit 1; exit 3 for bytes that do not match the lock) that names
# the .deb and the entry, or keep the entry inside the image (checked with
# umoci); and in every case nothing is written outside $T on the host and
# the store stays a valid OCI layout (index.json unchanged by a failed
# build, an earlier image still readable by skopeo, every blob complete).
. "$(dirname "$0")/../lib/cli.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
tok="$$"                      # every escape attempt is named kiln-escape-$tok-CASE
apt="$T/apt"
store="$T/store"
export SOURCE_DATE_EPOCH=1717200000

# ---------------------------------------------------------------------------
# The data.tar of each case, by python3's tarfile (GNU format: long names
# as ././@LongLink entries, as dpkg-deb writes them).
cat >"$T/mkdata.py" <<'PY'
import io, sys, tarfile

case, tok, out = sys.argv[1], sys.argv[2], sys.argv[3]
pkg = "kh-" + case
buf = io.BytesIO()
tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)


def info(name, kind=tarfile.REGTYPE, mode=0o644, size=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, 1717200000
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def d(name):
    tf.addfile(info(name, tarfile.DIRTYPE, 0o755))


def f(name, data=b"x\n"):
    tf.addfile(info(name, size=len(data)), io.BytesIO(data))


def sym(name, target):
    tf.addfile(info(name, tarfile.SYMTYPE, 0o777, link=target))


def hard(name, target):
    tf.addfile(info(name, tarfile.LNKTYPE, link=target))


for x in ("./", "./usr/", "./usr/share/", "./usr/share/doc/", "./usr/share/doc/%s/" % pkg):
    d(x)
f("./usr/share/doc/%s/README" % pkg, b"%s: a hostile package\n" % pkg.encode())
doc = "./usr/share/doc/%s/" % pkg
esc = "kiln-escape-%s-%s" % (tok, case)
if case == "dotdot":
    f("../../" + esc, b"dotdot\n")
elif case == "dotdot-inner":
    f("./usr/share/../../../../" + esc, b"dotdot\n")
elif case == "abs":
    f("/tmp/" + esc, b"abs\n")
elif case == "symlink-tmp":
    sym("./evil", "/tmp")
    d("./evil/")  # as dpkg-deb would write it: the symlink is kept
    f("./evil/" + esc, b"through evil\n")
elif case == "symlink-up":
    sym("./usr/share/up", "../../../../..")
    f("./usr/share/up/etc/" + esc, b"through up\n")
elif case == "loop":
    sym("./loop-a", "loop-b")
    sym("./loop-b", "loop-a")
    f("./loop-a/" + esc, b"loop\n")
elif case == "hardlink-out":
    hard(doc + esc, "../../etc/passwd")
elif case == "hardlink-missing":
    hard(doc + esc, doc + "not-there")
elif case == "hardlink-via-symlink":
    sym("./evil", "/etc")
    hard(doc + esc, "./evil/passwd")
elif case == "cross-a":  # a symlink, and in another package (layer) a write through it
    sym("./shared", "/var")
elif case == "cross-b":
    d("./shared/")
    f("./shared/" + esc, b"cross\n")
elif case == "root-symlink":
    sym(".", "/tmp")
    f("./" + esc, b"root\n")
elif case == "longlink":
    sym("./" + esc, "/" + "t" * 5000)
elif case == "newline":
    f("./usr/share/doc/%s/x\n/var/lib/dpkg/info/%s" % (pkg, esc), b"newline\n")
elif case == "biguid":
    ti = info("./" + esc, size=2)
    ti.uid = 1 << 40
    tf.addfile(ti, io.BytesIO(b"x\n"))
elif case == "chardev":
    ti = info("./" + esc, tarfile.CHRTYPE, 0o666)
    ti.devmajor, ti.devminor = 1, 3
    tf.addfile(ti)
elif case == "fifo":
    tf.addfile(info("./" + esc, tarfile.FIFOTYPE))
elif case == "name167":
    head = "./usr/share/%s/" % pkg
    dname = "d" * 60
    name = head + dname + "/"
    name += "f" * (167 - (len(name) - 2) - 4) + ".txt"
    assert len(name) - 2 == 167
    d(head)
    d(head + dname + "/")
    f(name, b"long name\n")
    open(out + "-name", "w").write(name[2:])
elif case == "name5000":
    name = "./usr/share/%s/" % pkg
    while len(name) - 2 + 201 < 5000 - 100:
        name += "d" * 200 + "/"
    name += "f" * (5000 - (len(name) - 2) - 4) + ".txt"
    assert len(name) - 2 == 5000
    f(name, b"very long name\n")
elif case in ("hugesize", "truncated"):
    # A header that declares 10 GiB (or 1 MiB) and one block of data, then
    # the archive simply ends: no more data, no end-of-archive blocks.
    raw = buf.getvalue()  # what tarfile wrote so far: no end blocks yet
    size = (10 << 30) if case == "hugesize" else (1 << 20)
    raw += info(doc + esc, size=size).tobuf(format=tarfile.GNU_FORMAT)
    raw += (b"only a few bytes, not %d\n" % size).ljust(512, b"\0")
    open(out, "wb").write(raw)
    sys.exit(0)
tf.close()
open(out, "wb").write(buf.getvalue())
PY

# ---------------------------------------------------------------------------
# The repository: every package is first built whole by dpkg-deb (control
# from a DEBIAN/control, mtimes fixed); hostile ones then get their data.tar
# replaced with the crafted one, reassembled with ar (debian-binary,
# control.tar.xz, data.tar.*).
cases_fail=(dotdot dotdot-inner abs loop hardlink-out hardlink-missing hardlink-via-symlink
	root-symlink longlink newline biguid chardev fifo name5000 hugesize truncated
	ctlname ctlversion badcomp-xz badcomp-gz twodata)
cases_inside=(symlink-tmp symlink-up name167 cross-a cross-b)
cases_verify=(swap swapsize)
all_cases=(normal "${cases_fail[@]}" "${cases_inside[@]}" "${cases_verify[@]}")

mkdir -p "$apt/dists/hostile/main/binary-amd64" "$T/build"
: >"$T/Packages"
for c in "${all_cases[@]}"; do
	p="kh-$c" v=1.0 dir="$T/build/$c"
	mkdir -p "$dir/root/DEBIAN" "$dir/root/usr/share/doc/$p" "$apt/pool/main/k/$p"
	ctl_p=$p ctl_v=$v
	[ "$c" = ctlname ] && ctl_p=kh-evil-name
	[ "$c" = ctlversion ] && ctl_v=6.6.6
	printf 'Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: kiln tests <t@kiln.invalid>\nDescription: hostile package %s\n' \
		"$ctl_p" "$ctl_v" "$c" >"$dir/root/DEBIAN/control"
	printf '%s: a normal file\n' "$p" >"$dir/root/usr/share/doc/$p/README"
	deb="$apt/pool/main/k/$p/${p}_${v}_amd64.deb"
	dpkg-deb -Zxz --root-owner-group --build "$dir/root" "$dir/skel.deb" >/dev/null || exit 1
	case "$c" in
	normal | ctlname | ctlversion | swap | swapsize) cp "$dir/skel.deb" "$deb" ;;
	*)
		(cd "$dir" && ar x skel.deb && rm -f data.tar.*) || exit 1
		/usr/bin/python3 "$T/mkdata.py" "$c" "$tok" "$dir/data.tar" || exit 1
		case "$c" in
		badcomp-xz) gzip -9n <"$dir/data.tar" >"$dir/data.tar.xz" ;;  # says xz, is gzip
		badcomp-gz) cp "$dir/data.tar" "$dir/data.tar.gz" ;;           # says gzip, is plain
		*) xz -T1 -c "$dir/data.tar" >"$dir/data.tar.xz" ;;
		esac
		(cd "$dir" && ar qcD "$deb" debian-binary control.tar.xz data.tar.?z) || exit 1
		# A second data member after the first.
		[ "$c" = twodata ] && { (cd "$dir" && ar qD "$deb" data.tar.xz) || exit 1; }
		;;
	esac
	printf 'Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: kiln tests <t@kiln.invalid>\nFilename: %s\nSize: %s\nSHA256: %s\nDescription: hostile package %s\n\n' \
		"$p" "$v" "${deb#"$apt"/}" "$(stat -c %s "$deb")" "$(sha256sum <"$deb" | cut -c1-64)" "$c" >>"$T/Packages"
done
idx="$apt/dists/hostile/main/binary-amd64/Packages"
cp "$T/Packages" "$idx"
{
	printf 'Origin: kiln-tests\nSuite: hostile\nCodename: hostile\nDate: Sat, 01 Jun 2024 00:00:00 UTC\n'
	printf 'Architectures: amd64\nComponents: main\nSHA256:\n %s %8d main/binary-amd64/Packages\n' \
		"$(sha256sum <"$idx" | cut -c1-64)" "$(stat -c %s "$idx")"
} >"$apt/dists/hostile/Release"
check "the crafted repository has every case" test "$(grep -c '^Package: ' "$idx")" = "${#all_cases[@]}"
# The crafted files are real .debs to dpkg-deb too.
run dpkg-deb -c "$apt/pool/main/k/kh-symlink-tmp/kh-symlink-tmp_1.0_amd64.deb"
expect_contains "$out" "./evil/kiln-escape-$tok-symlink-tmp" "(dpkg-deb -c lists the crafted data.tar)"
run dpkg-deb -f "$apt/pool/main/k/kh-ctlname/kh-ctlname_1.0_amd64.deb" Package
check "(dpkg-deb -f reads the crafted control)" test "$out" = kh-evil-name

# ---------------------------------------------------------------------------
# One manifest per case (plus kh-normal), all in one commit.  The source
# has no url: (the manifest takes only http and https there): this
# machine's mirror for it is the file:// repository, through
# $KILN_MIRROR_<NAME> (docs/lockfile.md, "Mirrors").
export KILN_MIRROR_HOSTILE="file://$apt"
mkdir -p "$T/repo" && cd "$T/repo" && git init -q .
manifest() { # DIR NAME PIN…
	local dir=$1 name=$2 pin
	shift 2
	mkdir -p "$dir"
	{
		printf 'kiln: 1\nname: %s\narchitecture: amd64\nsources:\n' "$name"
		printf '  - name: hostile\n    suite: hostile\n    components: [main]\n    trusted: "true"\n'
		echo "packages:"
		for pin in "$@"; do printf '  %s: "1.0"\n' "$pin"; done
		# The cases are for kiln build's checks: with scripts: skip,
		# kiln lock reads only the indexes (by default it also reads each
		# .deb's control members, and refuses the bad ones: below).
		echo "scripts: skip"
	} >"$dir/kiln.yaml"
}
manifest good good kh-normal
expect_rc 0 "lock the good manifest from the file:// repository" kiln lock -f good/kiln.yaml
for c in "${all_cases[@]}"; do
	[ "$c" = normal ] && continue
	manifest "c-$c" "h-$c" kh-normal "kh-$c"
	run kiln lock -f "c-$c/kiln.yaml"
	[ "$rc" = 0 ] || { echo "# kiln lock for $c: exit $rc: $err"; }
done
manifest c-cross h-cross kh-normal kh-cross-a kh-cross-b
expect_rc 0 "lock kh-cross-a with kh-cross-b" kiln lock -f c-cross/kiln.yaml
check "every case locks (kiln lock does not read package contents)" \
	test "$(ls c-*/kiln.lock | wc -l)" = "${#all_cases[@]}"
# By default kiln lock reads the control members (which have maintainer
# scripts?), so a .deb whose control lies is refused already there.
manifest "$T/default-lock" h-default kh-normal kh-ctlname
sed -i '/^scripts: skip$/d' "$T/default-lock/kiln.yaml"
expect_rc 1 "kiln lock (scripts not skipped) refuses a .deb whose control names another package" \
	kiln lock -f "$T/default-lock/kiln.yaml"
expect_contains "$err" "Package 'kh-evil-name', expected 'kh-ctlname'" "naming it"
git add -A && git_commit hostile

# The .deb swapped on the mirror after locking: other bytes of the same
# size (kh-swap), and one byte more (kh-swapsize).
deb="$apt/pool/main/k/kh-swap/kh-swap_1.0_amd64.deb"
size=$(stat -c %s "$deb")
head -c "$size" "$T/build/ctlname/skel.deb" >"$deb" && truncate -s "$size" "$deb"
printf x >>"$apt/pool/main/k/kh-swapsize/kh-swapsize_1.0_amd64.deb"

# ---------------------------------------------------------------------------
# Judges.
# Every place a write could have escaped to: /tmp and / themselves, /etc,
# $T's parent and the repository's parents (where "../../x" lands), root's
# home (the harness moves $HOME into $T).
escapes() {
	find /tmp / /etc "$T/.." "$T/repo/.." "$T/repo/../.." /root -maxdepth 3 \
		-path "$T" -prune -o -name "kiln-escape-$tok*" -print 2>/dev/null | sort -u
}
# Every file in blobs/ is a complete blob: directly in blobs/sha256, named
# by 64 hex digits, its bytes hash to its name.
blobs_ok() { # STORE
	local bad
	bad=$(cd "$1/blobs" && find . -mindepth 1 ! -path ./sha256 ! \( -type f -regextype posix-extended -regex './sha256/[0-9a-f]{64}' \) -print)
	[ -z "$bad" ] || { echo "# not a blob: $bad"; return 1; }
	bad=$(cd "$1/blobs/sha256" && for f in *; do [ "$(sha256sum <"$f" | cut -c1-64)" = "$f" ] || echo "$f"; done)
	[ -z "$bad" ] || { echo "# blobs that do not hash to their name: $bad"; return 1; }
}
# strace sees every path kiln (and anything it starts) creates, changes or
# removes: one log per process, judged by writes.py.
cat >"$T/writes.py" <<'PY'
import glob, os, re, sys

# Paths that processes traced by `strace -ff -y -o PREFIX` created, changed
# or removed, outside the allowed directory (one file per process: no
# interleaved "unfinished"/"resumed" lines).  cwd: where the first one ran.
prefix, cwd, allowed = sys.argv[1], sys.argv[2], sys.argv[3]
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
call = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)")
arg = re.compile(r'(AT_FDCWD|-?\d+<[^>]*>|-?\d+)?,?\s*"((?:[^"\\]|\\.)*)"')
cwds, bad = {}, set()


def fine(p):
    return p == allowed or p.startswith(allowed + "/") or p == "/dev/null" or p.startswith("/proc/")


files = sorted(glob.glob(prefix + ".*"), key=lambda f: int(f.rsplit(".", 1)[1]))
for f in files:
    pid = f.rsplit(".", 1)[1]
    for line in open(f, errors="replace"):
        m = call.match(line)
        if not m or int(m.group(3)) < 0:
            continue
        name, args = m.group(1), m.group(2)
        here = cwds.get(pid, cwd)
        if name in ("clone", "clone3", "fork", "vfork"):
            cwds[m.group(3)] = here  # a child starts where its parent is
            continue
        if name == "chdir":
            cwds[pid] = os.path.join(here, re.search(r'"([^"]*)"', args).group(1))
            continue
        if name in ("open", "openat") and not WRITE_FLAGS.search(args):
            continue
        paths = []
        for dirfd, p in arg.findall(args):
            if p.startswith("/"):
                paths.append(p)
            elif "<" in dirfd:
                paths.append(os.path.join(dirfd[dirfd.index("<") + 1 : -1], p))
            else:
                paths.append(os.path.join(here, p))
        if name in ("symlink", "symlinkat"):
            paths = paths[1:]  # the first string is the link's target, not a place
        bad.update(p for p in map(os.path.normpath, paths) if not fine(p))
print("\n".join(sorted(bad)))
if not files:
    sys.exit("no strace output under " + prefix)
PY
traced=()
if command -v strace >/dev/null; then
	traced=(strace -ff -y -qq -o "$T/strace/log" -e trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,mknod,mknodat,unlink,unlinkat,truncate,chmod,fchmodat,chown,fchownat,utimensat,chdir,clone,clone3,fork,vfork)
else
	echo "# no strace on this machine: only find judges what was written"
fi
traced_run() { rm -rf "$T/strace"; mkdir "$T/strace"; run "${traced[@]}" "$@"; }
writes_outside() { # ALLOWED: what the last traced_run wrote outside ALLOWED
	[ ${#traced[@]} = 0 ] || /usr/bin/python3 "$T/writes.py" "$T/strace/log" "$PWD" "$1"
}
if [ ${#traced[@]} != 0 ]; then
	traced_run sh -c "touch '$T/probe' && mkdir ../probe-dir && ln -s /etc ../probe-link && rm -r ../probe-dir ../probe-link '$T/probe'"
	check "(the strace judge sees writes outside a directory)" \
		test "$(writes_outside "$T/repo" | tr '\n' ' ')" = "$T/probe $T/probe-dir $T/probe-link "
fi

before=$(escapes)
check "no escape paths exist before the builds" test -z "$before"

# The earlier good image the hostile builds must not damage.
expect_rc 0 "build the good image" kiln build -f good/kiln.yaml --store "$store"
good_digest=$(printf '%s\n' "$out" | tail -1)
good_ref="good@$(git rev-parse HEAD)"
check "its digest is printed" kiln_digest_ok "$good_digest"

store_valid() { # CASE
	local c=$1
	run skopeo inspect "oci:$store:$good_ref"
	check "$c: skopeo still reads the earlier image" test "$rc" = 0
	expect_contains "$out" "\"Digest\": \"$good_digest\"" "$c: with its digest"
	check "$c: every file under blobs/ is a complete blob" blobs_ok "$store"
	check "$c: index.json parses" /usr/bin/python3 -m json.tool "$store/index.json" /dev/null
	check "$c: every cached package hashes to its name" packages_ok
}
packages_ok() {
	local f
	for f in "$KILN_CACHE"/packages/sha256/*; do
		[ -e "$f" ] || continue
		[ "$(sha256sum <"$f" | cut -c1-64)" = "${f##*/}" ] || { echo "# bad cached package: $f"; return 1; }
	done
}

# hostile CASE WANT_RC MESSAGE…: build the case's manifest; it must fail with
# WANT_RC, name the .deb (or the file) and each MESSAGE, and change nothing.
hostile() {
	local c=$1 want=$2 m
	shift 2
	cp "$store/index.json" "$T/index.before"
	traced_run "$KILN" build -f "c-$c/kiln.yaml" --store "$store"
	herr=$err
	check "$c: kiln build fails with exit $want" test "$rc" = "$want"
	[ "$rc" = "$want" ] || printf '%s\n' "$out" "$err" | head -20 | sed 's/^/#   /'
	expect_contains "$err" "kh-${c}_1.0_amd64.deb" "$c: the error names the .deb"
	for m in "$@"; do expect_contains "$err" "$m" "$c: the error says: $m"; done
	expect_not_contains "$out" "sha256:" "$c: no digest is printed"
	expect_same_file "$T/index.before" "$store/index.json" "$c: index.json is unchanged"
	outside=$(writes_outside "$T")
	check "$c: nothing was written outside \$T" test -z "$outside"
	[ -z "$outside" ] || printf '%s\n' "$outside" | head | sed 's/^/# outside: /'
	check "$c: no escape path on the host" test -z "$(escapes)"
	store_valid "$c"
}

# inside CASE PATH CONTENT: the build succeeds and the entry is at PATH in
# the image (umoci unpacks it), never on the host.
inside() {
	local c=$1 path=$2 content=$3
	traced_run "$KILN" build -f "c-$c/kiln.yaml" --store "$store"
	check "$c: kiln build succeeds" test "$rc" = 0
	[ "$rc" = 0 ] || printf '%s\n' "$err" | head -20 | sed 's/^/#   /'
	outside=$(writes_outside "$T")
	check "$c: nothing was written outside \$T" test -z "$outside"
	[ -z "$outside" ] || printf '%s\n' "$outside" | head | sed 's/^/# outside: /'
	check "$c: no escape path on the host" test -z "$(escapes)"
	rm -rf "$T/bundle"
	run umoci unpack --rootless --image "$store:h-$c@$(git rev-parse HEAD)" "$T/bundle"
	check "$c: umoci unpacks the image" test "$rc" = 0
	check "$c: the entry is inside the image at $path" test -f "$T/bundle/rootfs$path"
	check "$c: with the package's bytes" test "$(cat "$T/bundle/rootfs$path" 2>/dev/null)" = "$content"
	store_valid "$c"
}

# ---------------------------------------------------------------------------
# The cases.
hostile dotdot 1 "../../kiln-escape-$tok-dotdot" "'..' in path"
hostile dotdot-inner 1 "kiln-escape-$tok-dotdot-inner" "'..' in path"
hostile abs 1 "/tmp/kiln-escape-$tok-abs" "absolute path"
hostile loop 1 "loop-a/kiln-escape-$tok-loop"
expect_contains "$herr" "too many levels of symbolic links" "loop: the error says it is a symlink loop"
hostile hardlink-out 1 "kiln-escape-$tok-hardlink-out" "../../etc/passwd"
hostile hardlink-missing 1 "kiln-escape-$tok-hardlink-missing" "not-there"
hostile hardlink-via-symlink 1 "kiln-escape-$tok-hardlink-via-symlink" "evil/passwd"
hostile root-symlink 1 "entry '.': the root is not a directory"
hostile longlink 1 "kiln-escape-$tok-longlink" "too long symlink target"
hostile newline 1 "newline in its name"
# The name is refused because a newline would forge a line of the .list;
# the message must not forge a line of kiln's own output either.
lines=$(printf '%s\n' "$herr" | wc -l)
check "newline: the error is one line (the name's newline is escaped)" test "$lines" = 1
[ "$lines" = 1 ] || printf '%s\n' "$herr" | sed 's/^/# err: /'
hostile biguid 1 "kiln-escape-$tok-biguid" "owner out of range"
hostile chardev 1 "kiln-escape-$tok-chardev" "device node"
hostile fifo 1 "kiln-escape-$tok-fifo" "fifo"
hostile name5000 1 "entry name of 5002 bytes (limit 4096)" "./usr/share/kh-name5000/ddd"
hostile hugesize 1 "kiln-escape-$tok-hugesize" "10737418240 bytes"
hostile truncated 1 "kiln-escape-$tok-truncated"
hostile ctlname 1 "Package 'kh-evil-name', expected 'kh-ctlname'"
hostile ctlversion 1 "Version '6.6.6', expected '1.0'"
# (libarchive is given only the filter the name says, so gzip bytes in a
# data.tar.xz are not even recognized as an archive.)
hostile badcomp-xz 1 "data.tar.xz: Unrecognized archive format"
hostile badcomp-gz 1 "data.tar.gz" "not compressed as its name says"
hostile twodata 1 "unexpected member 'data.tar.xz' after data.tar"
hostile swap 3 "sha256 mismatch"
hostile swapsize 3 "size mismatch"
locked=$(awk '/^Package: kh-swap$/{f=1} f&&/^SHA256:/{print $2; exit}' "$idx")
swapped=$(sha256sum <"$apt/pool/main/k/kh-swap/kh-swap_1.0_amd64.deb" | cut -c1-64)
check "swap: nothing entered the package cache under the locked digest" test ! -e "$KILN_CACHE/packages/sha256/$locked"
check "swap: nor under the swapped file's" test ! -e "$KILN_CACHE/packages/sha256/$swapped"

inside symlink-tmp "/tmp/kiln-escape-$tok-symlink-tmp" "through evil"
check "symlink-tmp: evil stays a symlink to /tmp in the image" test "$(readlink "$T/bundle/rootfs/evil")" = /tmp
check "symlink-tmp: the image's /tmp keeps mode 1777" test "$(stat -c %a "$T/bundle/rootfs/tmp")" = 1777
inside symlink-up "/etc/kiln-escape-$tok-symlink-up" "through up"
check "symlink-up: ../../../../.. is clamped at the image root" test "$(readlink "$T/bundle/rootfs/usr/share/up")" = ../../../../..
inside name167 "/$(cat "$T/build/name167/data.tar-name")" "long name"

# A symlink in one package and a write through it in another, whose layer
# sits above (kh-cross-a's bucket is below kh-cross-b's): the write lands
# in the image's /var.  kh-cross-b's layer was first built without the
# symlink under it (c-cross-b), so a cache that did not chain the layers
# below would reuse the wrong bytes: the cached build must equal a build
# from nothing.
inside cross-b "/shared/kiln-escape-$tok-cross-b" "cross"
check "cross-b: alone, shared is a directory" test -d "$T/bundle/rootfs/shared" -a ! -L "$T/bundle/rootfs/shared"
inside cross "/var/kiln-escape-$tok-cross-b" "cross"
check "cross: shared stays kh-cross-a's symlink to /var" test "$(readlink "$T/bundle/rootfs/shared")" = /var
run kiln build -f c-cross/kiln.yaml --store "$store"
cross_digest=$(printf '%s\n' "$out" | tail -1)
expect_contains "$out" "cached" "cross: a rebuild reuses cached layers"
run kiln -q build --no-cache -f c-cross/kiln.yaml --store "$T/store-fresh"
check "cross: a build from nothing gives the cached build's digest" test "$out" = "$cross_digest"
check "cross: (which is a digest)" kiln_digest_ok "$cross_digest"

after=$(escapes)
check "no escape paths exist after all the builds" test -z "$after"
# The whole host, bounded in time (a cold page cache can make this walk
# slow; the targeted finds above and strace already cover every write).
found=$(timeout 25 find / \( -path /proc -o -path /sys -o -path "$T" \) -prune -o -name "kiln-escape-$tok*" -print 2>/dev/null | head -5)
check "nothing named kiln-escape-$tok anywhere under / (but \$T, /proc, /sys)" test -z "$found"
done_testing
