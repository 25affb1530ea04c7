#!/usr/bin/env bash
# A new named volume starts as a copy of the image's directory at its path,
# as Docker's and podman's do (docs/containers.md, Volumes): owner, group,
# mode and contents (files with their bytes, modes, owners and mtimes,
# directories, symlinks as links; setuid bits cleared, hard links kept
# as links; FIFOs cannot be in a layer: test_fsutil skips them); an
# existing volume, even empty, and a host directory are never touched; a
# path the image lacks, or a symlink at or on the way to the path, gives an
# empty root 0755 volume; a killed creation's temporary is swept; creations
# at once make one volume.  Judged from inside the container and on the
# host.  Needs root.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/manifest.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # skip needs root"; exit 0; fi
export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
export KILN_ROOT="$T/root" KILN_CGROUP_PARENT="kiln-t0516-$$"
at_exit cleanup_containers
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
V="$KILN_ROOT/volumes"
# attrs PATH: numeric owner:group, octal mode, mtime (busybox stat inside, GNU outside).
attrs() { stat -c '%u:%g %a %Y' "$1"; }
# eq GOT WANT: equal, and WANT not empty (a failed probe proves nothing).
eq() { [ -n "$2" ] && [ "$1" = "$2" ]; }

mkdir -p "$T/repo" && cd "$T/repo" && git init -q . && trust_test_key
write_manifest kiln.yaml good:containers:keyring busybox-fixture=1.0
cat >>kiln.yaml <<'YAML'
epoch: "1500000000"
run:
  - |
    mkdir -p /srv/data/sub /srv/real/inner
    echo image-file >/srv/data/file
    echo deep >/srv/data/sub/deep
    ln -s /etc /srv/data/etc-link
    ln -s ../../.. /srv/data/up-link
    ln /srv/data/file /srv/data/hard
    echo s >/srv/data/suid
    touch -d @1400000000 /srv/data/file /srv/data/sub/deep /srv/data/sub /srv/data
    chown -R 10005:10006 /srv/data
    chown -h 0:10006 /srv/data/up-link
    chmod 0750 /srv/data && chmod 0700 /srv/data/sub && chmod 4755 /srv/data/suid
    touch -d @1400000000 /srv/data
    echo real >/srv/real/inner/f
    ln -s /etc /data-link
    ln -s real /srv/via
YAML
expect_rc 0 "lock" kiln lock
git add -A && git_commit volume-init
expect_rc 0 "build an image with /srv/data owned by 10005, mode 0750" kiln build
SNAP=t

# The image as a container sees it without a volume.
expect_rc 0 "the image's /srv/data" kiln run --rm --network none "$SNAP" sh -c \
	'stat -c "%u:%g %a %Y" /srv/data /srv/data/file /srv/data/sub /srv/data/sub/deep; stat -c %a /srv/data/suid; ls /srv/data | tr "\n" " "'
img=$out
printf '%s\n' "$img" | sed 's/^/# image: /'
img_data=$(sed -n 1p <<<"$img") img_file=$(sed -n 2p <<<"$img")
img_sub=$(sed -n 3p <<<"$img") img_deep=$(sed -n 4p <<<"$img")
check "(the image's directory is 10005:10006 0750)" test "${img_data% *}" = "10005:10006 750"
check "(the image's file is setuid)" test "$(sed -n 5p <<<"$img")" = 4755

# ---- a new volume: the image's directory
expect_rc 0 "an unprivileged user writes to a new volume at the image's directory" \
	kiln run --rm --network none -u 10005 -v newvol:/srv/data "$SNAP" \
	sh -c 'touch /srv/data/x && cat /srv/data/file && cat /srv/data/sub/deep'
check "and reads the image's files there" test "$(echo $out)" = "image-file deep"
check "the volume's root has the image's owner and mode (x changed its mtime)" \
	eq "$(stat -c '%u:%g %a' "$V/newvol")" "${img_data% *}"
check "a file: owner, mode, mtime" eq "$(attrs "$V/newvol/file")" "$img_file"
check "a file: its bytes" test "$(cat "$V/newvol/file")" = image-file
check "a subdirectory: owner, mode, mtime" eq "$(attrs "$V/newvol/sub")" "$img_sub"
check "a file in it" eq "$(attrs "$V/newvol/sub/deep")" "$img_deep"
check "a symlink to /etc is copied as the link" test "$(readlink "$V/newvol/etc-link")" = /etc
check "its owner too" test "$(stat -c %u:%g "$V/newvol/etc-link")" = 10005:10006
check "a symlink to ../../.. is copied as the link" test "$(readlink "$V/newvol/up-link")" = ../../..
check "with its own owner" test "$(stat -c %u:%g "$V/newvol/up-link")" = 0:10006
check "it is a link, not a copy of /etc" test -L "$V/newvol/etc-link" -a ! -e "$V/newvol/passwd"
check "a hard link stays a link to the copied file (t0264: its bytes once)" \
	test "$(stat -c %i "$V/newvol/hard")" = "$(stat -c %i "$V/newvol/file")" -a "$(cat "$V/newvol/hard")" = image-file
check "setuid is cleared on the copy" test "$(stat -c %a "$V/newvol/suid")" = 755
check "the container's write is there" test -f "$V/newvol/x"
check "no temporary left beside the volume" test -z "$(ls -A "$V" | grep '^\.')"

# ---- kept: used as it is by the next container
expect_rc 0 "a second container with the volume" kiln run --rm --network none -v newvol:/srv/data "$SNAP" \
	sh -c 'rm /srv/data/sub/deep; ls /srv/data | tr "\n" " "'
expect_contains "$out" "x" "sees the first one's write"
expect_rc 0 "a third one" kiln run --rm --network none -v newvol:/srv/data:ro "$SNAP" ls /srv/data/sub
check "the volume is not copied again (what the second removed stays removed)" test -z "$out"
chmod 0700 "$V/newvol"
expect_rc 0 "a fourth one" kiln run --rm --network none -v newvol:/srv/data "$SNAP" true
check "nor reset (its mode stays the one the host set)" test "$(stat -c %a "$V/newvol")" = 700

# ---- an existing empty volume, a host directory: untouched
mkdir "$V/emptyvol"
expect_rc 0 "an existing empty volume" kiln run --rm --network none -v emptyvol:/srv/data "$SNAP" ls -A /srv/data
check "is not filled from the image" test -z "$out" -a -z "$(ls -A "$V/emptyvol")"
check "nor given the image's owner" test "$(stat -c %u:%g "$V/emptyvol")" = 0:0
mkdir "$T/host" && chmod 0711 "$T/host"
expect_rc 0 "a host directory" kiln run --rm --network none -v "$T/host:/srv/data" "$SNAP" true
check "is not filled or changed" test -z "$(ls -A "$T/host")" -a "$(stat -c %u:%a "$T/host")" = 0:711

# ---- read-only volumes start the same way
expect_rc 0 "a new read-only volume" kiln run --rm --network none -v rovol:/srv/data:ro "$SNAP" cat /srv/data/file
check "holds the image's file" test "$out" = image-file
check "with the image's owner, mode and mtime" eq "$(attrs "$V/rovol")" "$img_data"

# ---- nothing to copy: empty and root's, as before
expect_rc 0 "a volume at a path the image lacks" kiln run --rm --network none -v nopath:/srv/none "$SNAP" true
check "is empty, root 0755" test -z "$(ls -A "$V/nopath")" -a "$(stat -c %u:%g:%a "$V/nopath")" = 0:0:755
expect_rc 0 "a volume at a symlink of the image (/data-link -> /etc)" \
	kiln run --rm --network none -v linkvol:/data-link "$SNAP" true
check "is empty: the link is not followed" test -z "$(ls -A "$V/linkvol")"
check "and root 0755" test "$(stat -c %u:%g:%a "$V/linkvol")" = 0:0:755
expect_rc 0 "a volume through a symlink of the image (/srv/via -> real)" \
	kiln run --rm --network none -v viavol:/srv/via/inner "$SNAP" true
check "is empty too" test -z "$(ls -A "$V/viavol")"

# ---- a killed creation's temporary
mkdir -p "$V/.sweptvol.tmp-Ab12Cd/junk"
expect_rc 0 "a new volume beside a killed creation's temporary" \
	kiln run --rm --network none -v sweptvol:/srv/data "$SNAP" cat /srv/data/file
check "is the image's copy" test "$out" = image-file -a ! -e "$V/sweptvol/junk"
check "and the temporary is gone" test ! -e "$V/.sweptvol.tmp-Ab12Cd"
expect_rc 1 "a temporary's name is no volume name" kiln run --rm -v .sweptvol.tmp-Ab12Cd:/srv/data "$SNAP" true
expect_contains "$err" "bad name" "refused as a bad name"

# ---- several creations at once: one volume, each sees the copy
for i in 1 2 3; do
	"$KILN" run --rm --network none -v racevol:/srv/data "$SNAP" sh -c "cat /srv/data/file; touch /srv/data/r$i" \
		>"$T/race$i" 2>&1 &
done
wait
for i in 1 2 3; do
	check "concurrent creation $i sees the image's file" test "$(cat "$T/race$i")" = image-file
done
check "all writes are in one volume" test -f "$V/racevol/r1" -a -f "$V/racevol/r2" -a -f "$V/racevol/r3"
check "no temporary left" test -z "$(ls -A "$V" | grep '^\.')"

done_testing
