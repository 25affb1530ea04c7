# bench/lib.sh - helpers shared by the benchmarks (sourced, not run).
#
#   bench_workdir NAME          a fresh work directory: on /dev/shm when it is a
#                               tmpfs with more than 4 GB free, else in /tmp
#   median                      the median of the numbers on stdin, one a line
#   elapsed CMD…                run CMD; its wall-clock seconds in $ELAPSED, its
#                               exit status returned (also under set -e's `||`)
#   div A B                     A / B to 6 decimals
#   bench_git_env               a fixed git identity and date, SOURCE_DATE_EPOCH
#   bench_mirror_repo DIR LOCK CACHE [DEBS]
#                               DIR becomes an apt repository (dists/bookworm/main
#                               + pool/) of LOCK's packages, hard links to the
#                               .debs in the kiln cache CACHE (fetched by a build);
#                               DEBS, if given, gets a flat link to each .deb too
#   bench_busybox_repo DIR      an apt repository of one static busybox package
#   bench_mirror_serve ROOT     serve ROOT on 127.0.0.1 (python3 http.server):
#                               the URL in $MIRROR_URL, the server's pid in
#                               $server_pid (the caller's trap kills it)
#
# The benchmarks time kiln on a local mirror so that the network is out of
# the comparison; the packages are fetched once from this machine's mirror.

bench_workdir() {
	if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
		[ "$(df -Pk /dev/shm | awk 'NR==2{print $4}')" -gt $((4 * 1024 * 1024)) ]; then
		mktemp -d "/dev/shm/$1.XXXXXX"
	else
		mktemp -d "/tmp/$1.XXXXXX"
	fi
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# No fork around the timing: $EPOCHREALTIME is read by the shell itself.
elapsed() {
	local a=$EPOCHREALTIME rc=0
	"$@" || rc=$?
	ELAPSED=$(echo "$EPOCHREALTIME - $a" | bc)
	return $rc
}
div() { echo "scale=6; $1 / $2" | bc -l; }

bench_git_env() {
	export SOURCE_DATE_EPOCH=1700000000
	export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost GIT_COMMITTER_NAME=bench \
		GIT_COMMITTER_EMAIL=bench@localhost GIT_AUTHOR_DATE=@1700000000 GIT_COMMITTER_DATE=@1700000000
}

bench_mirror_repo() { # DIR LOCK CACHE [DEBS]
	local r=$1 lock=$2 cache=$3 debs=${4:-} file sha
	mkdir -p "$r/dists/bookworm/main/binary-amd64"
	[ -z "$debs" ] || mkdir -p "$debs"
	while read -r file sha; do
		mkdir -p "$r/$(dirname "$file")"
		ln "$cache/packages/sha256/$sha" "$r/$file"
		[ -z "$debs" ] || ln "$cache/packages/sha256/$sha" "$debs/$(basename "$file")"
	done < <(awk '/^    filename:/{f=$2} /^    sha256:/{print f, $2}' "$lock")
	(cd "$r" && dpkg-scanpackages --multiversion pool /dev/null 2>/dev/null \
		>dists/bookworm/main/binary-amd64/Packages &&
		gzip -9nk dists/bookworm/main/binary-amd64/Packages) || return 1
	if command -v apt-ftparchive >/dev/null; then
		(cd "$r/dists/bookworm" && apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm \
			-o APT::FTPArchive::Release::Codename=bookworm \
			-o APT::FTPArchive::Release::Architectures=amd64 \
			-o APT::FTPArchive::Release::Components=main release . >../Release.new &&
			mv ../Release.new Release)
	else
		{
			printf 'Origin: kiln-bench\nLabel: kiln-bench\nSuite: bookworm\nCodename: bookworm\n'
			printf 'Date: %s\n' "$(LC_ALL=C date -u -R)"
			printf 'Architectures: amd64\nComponents: main\nSHA256:\n'
			(cd "$r/dists/bookworm" && for f in main/binary-amd64/Packages main/binary-amd64/Packages.gz; do
				printf ' %s %s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
			done)
		} >"$r/dists/bookworm/Release"
	fi
}

bench_mirror_serve() { # ROOT
	local port probe
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	python3 -m http.server --bind 127.0.0.1 --directory "$1" "$port" >"$1.http.log" 2>&1 &
	server_pid=$!
	MIRROR_URL=http://127.0.0.1:$port
	probe=$(cd "$1" && find . -name Release -path '*/dists/*' | head -1)
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "$MIRROR_URL/${probe#./}" 2>/dev/null && return 0
		sleep 0.1
	done
	curl -fsS -o /dev/null "$MIRROR_URL/${probe#./}"
}

# bench_busybox_repo DIR: an unsigned apt repository (dists/bookworm/main) of
# one package, bench-busybox 1.0: this machine's static /bin/busybox with
# its applets as /bin links (for the container benchmarks).
bench_busybox_repo() {
	local repo=$1 pkg=$1.pkg a f
	mkdir -p "$pkg/DEBIAN" "$pkg/bin"
	cp /bin/busybox "$pkg/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$pkg/bin/$a"; done
	printf 'Package: bench-busybox\nVersion: 1.0\nArchitecture: amd64\nMaintainer: bench <b@localhost>\nDescription: static busybox for the container benchmarks\n' >"$pkg/DEBIAN/control"
	mkdir -p "$repo/pool" "$repo/dists/bookworm/main/binary-amd64"
	dpkg-deb --root-owner-group --build "$pkg" "$repo/pool/bench-busybox_1.0_amd64.deb" >/dev/null
	(cd "$repo" && dpkg-scanpackages pool /dev/null 2>/dev/null >dists/bookworm/main/binary-amd64/Packages)
	{
		printf 'Suite: bookworm\nCodename: bookworm\nArchitectures: amd64\nComponents: main\nSHA256:\n'
		f=main/binary-amd64/Packages
		printf ' %s %s %s\n' "$(sha256sum <"$repo/dists/bookworm/$f" | cut -d' ' -f1)" "$(stat -c %s "$repo/dists/bookworm/$f")" "$f"
	} >"$repo/dists/bookworm/Release"
}

# A lock's packages as "name version sha256" lines, sorted.
lockset() { awk '/^  - name:/{n=$3} /^    version:/{v=$2} /^    sha256:/{print n, v, $2}' "$1" | sort; }

# layers_total STORE DIGEST: the total size of an image's layer blobs.
layers_total() {
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(l["size"] for l in m["layers"]))' \
		"$1/blobs/sha256/${2#sha256:}"
}
