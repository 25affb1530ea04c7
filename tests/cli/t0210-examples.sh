#!/usr/bin/env bash
# The examples, built from the machine's real Debian mirror and run by
# podman (with runc): hello-web serves its page with busybox httpd,
# python-service answers over HTTP and runs `python3 -c`.  Needs the
# machine's Debian mirror.
. "$(dirname "$0")/../lib/cli.sh"

git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }
export CONTAINERS_CONF="$T/containers.conf"
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
pod=(podman --root "$T/podman/root" --runroot "$T/podman/run" --storage-driver vfs)
at_exit "${pod[*]} rm -af -t 0 >/dev/null 2>&1; ${pod[*]} system reset -f >/dev/null 2>&1"

# Copy an example into its own git repository.  Mirrors drop superseded
# versions: when a committed pin is gone, re-pin it to today's version
# (kiln init) so the example's shape is still what is tested.
prepare() {
	local name=$1 dir="$T/$1"
	cp -r "$KILN_TOP/examples/$name" "$dir" && cd "$dir" && git init -q . && trust_test_key
	run kiln lock --check
	if [ "$rc" != 0 ] && printf '%s' "$err" | grep -q "is in no source"; then
		echo "# $name: a pinned version left the mirror; re-pinning: $err"
		local pkgs=() p
		for p in $(sed -n 's/^  \([a-z0-9][a-z0-9.+-]*\): ".*"$/\1/p' kiln.yaml); do pkgs+=(-p "$p"); done
		mkdir -p "$T/repin-$name" && kiln -q init --force "${pkgs[@]}" "$T/repin-$name"
		for p in $(sed -n 's/^  \([a-z0-9][a-z0-9.+-]*\): ".*"$/\1/p' kiln.yaml); do
			v=$(sed -n "s/^  $p: \"\\(.*\\)\"$/\\1/p" "$T/repin-$name/kiln.yaml")
			sed -i "s/^  $p: \".*\"$/  $p: \"$v\"/" kiln.yaml
		done
		kiln -q lock
	elif [ "$rc" != 0 ]; then
		echo "# $name: $err"
	fi
	git add -A && git_commit "$name"
}

prepare hello-web
if [ ! -f "$T/hello-web/kiln.lock" ] || ! kiln lock --check >/dev/null 2>&1; then
	if printf '%s' "$err" | grep -qE 'no mirror|GET .*(resolve|connect|timed out)'; then
		echo "ok 1 # skip no Debian mirror reachable: $err"; done_testing
	fi
fi
expect_rc 0 "hello-web: the lock is current" kiln lock --check
expect_rc 0 "hello-web: kiln build" kiln build
HW=$(git rev-parse --short=12 HEAD)
expect_rc 0 "hello-web: export docker-archive" kiln export hello-web -o "$T/hw.tar" --format docker-archive
expect_rc 0 "hello-web: podman load" "${pod[@]}" load -q -i "$T/hw.tar"
expect_rc 0 "hello-web: podman run -d (its own entrypoint: busybox httpd as user web)" \
	"${pod[@]}" run -d --name "hw-$$" --network none "hello-web:$HW"
page=""
for _ in $(seq 50); do
	page=$("${pod[@]}" exec "hw-$$" /bin/busybox wget -qO- http://127.0.0.1:8080/ 2>/dev/null) && break
	sleep 0.1
done
expect_contains "$page" "Hello from kiln" "hello-web serves its page"
run "${pod[@]}" exec "hw-$$" /bin/busybox ps -o user,args
expect_contains "$out" "httpd -f -p 8080" "the server runs as the image's entrypoint"
# Who the server runs as, asked of the kernel (the host's /proc of the pid
# podman started), not of `podman top`, which prints nothing with some
# podman builds.
pid=$("${pod[@]}" inspect --format '{{.State.Pid}}' "hw-$$" 2>/dev/null)
check "podman names the server's host pid" test "${pid:-0}" -gt 0
cmdline=$(tr '\0' ' ' <"/proc/${pid:-0}/cmdline" 2>/dev/null)
expect_contains "$cmdline" "httpd -f -p 8080" "that pid is the server"
ids=$(awk '/^Uid:|^Gid:/ { print $1, $2, $3, $4, $5 }' "/proc/${pid:-0}/status" 2>/dev/null)
check "as the unprivileged user web: uid and gid 10001, real, effective, saved and fs" \
	test "$ids" = "$(printf 'Uid: 10001 10001 10001 10001\nGid: 10001 10001 10001 10001')"
run "${pod[@]}" exec "hw-$$" /bin/busybox grep '^web:' /etc/passwd
expect_contains "$out" "web:x:10001:10001:" "uid 10001 is web in the image's /etc/passwd"
"${pod[@]}" rm -f -t 0 "hw-$$" >/dev/null 2>&1

prepare python-service
expect_rc 0 "python-service: the lock is current" kiln lock --check
expect_rc 0 "python-service: kiln build" kiln build
PY=$(git rev-parse --short=12 HEAD)
expect_rc 0 "python-service: export oci-archive" kiln export python-service -o "$T/py.tar"
expect_rc 0 "python-service: podman load of the oci-archive" "${pod[@]}" load -q -i "$T/py.tar"
img=$("${pod[@]}" images --format '{{.Repository}}:{{.Tag}}' | grep python-service | head -1)
run "${pod[@]}" run --rm --network none --entrypoint /usr/bin/python3 "$img" -c 'import sys, os; print("py", sys.version_info[:2], os.getuid())'
expect_contains "$out" "py (3, 11) 10002" "python3 -c runs in the image, as uid 10002"
expect_rc 0 "python-service: podman run -d" "${pod[@]}" run -d --name "py-$$" --network none "$img"
answer=""
for _ in $(seq 50); do
	answer=$("${pod[@]}" exec "py-$$" /usr/bin/python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 8000), timeout=2)
s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
print(s.recv(4096).decode())' 2>/dev/null) && break
	sleep 0.1
done
expect_contains "$answer" "200 OK" "python-service answers its health check"
"${pod[@]}" rm -f -t 0 "py-$$" >/dev/null 2>&1
done_testing
