#!/usr/bin/env bash
# examples/demo.sh - kiln's main job on examples/hello-web, from scratch:
# lock, build (twice: reproducible, cached), inspect with skopeo, and run
# the image with podman + runc, sign it, verify it and audit it (rebuild
# from nothing, compare bit for bit).  `make demo` runs it after installing
# dependencies and building kiln.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kiln="$top/build/kiln"
work=$(mktemp -d /tmp/kiln-demo.XXXXXX)
export KILN_CACHE="$work/cache"
export CONTAINERS_CONF="$work/containers.conf"
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
pod=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs)
# kiln run's state, cgroup, bridge and nftables table: the demo's own, so it
# never touches a kiln0 of real use; all removed at exit.
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export KILN_ROOT="$work/kiln-root" KILN_CGROUP_PARENT="kiln-demo-$suffix"
export KILN_NET_BRIDGE="kd$suffix" KILN_NET_TABLE="kiln_demo_$suffix"
for _ in $(seq 50); do
	a=$((200 + RANDOM % 50)) b=$((RANDOM % 250))
	ip route | grep -q "^10\.$a\.$b\." || { export KILN_NET_SUBNET="10.$a.$b.0/24"; break; }
done
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
cleanup() {
	"$kiln" rm -f demo-web >/dev/null 2>&1 || true
	ip link del "$KILN_NET_BRIDGE" 2>/dev/null || true
	nft delete table ip "$KILN_NET_TABLE" 2>/dev/null || true
	echo "$forward_before" >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
	rmdir /sys/fs/cgroup/*/"$KILN_CGROUP_PARENT" /sys/fs/cgroup/"$KILN_CGROUP_PARENT" 2>/dev/null || true
	"${pod[@]}" rm -af -t 0 >/dev/null 2>&1 || true
	"${pod[@]}" system reset -f >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a git repository holding the hello-web example"
cp -r "$top/examples/hello-web" "$work/hello-web"
cd "$work/hello-web"
git init -q . && git add -A && git -c user.name=demo -c user.email=demo@localhost commit -qm "hello-web"

step "kiln keygen: a signing key (kept out of git) and its public key (committed, trusted)"
"$kiln" keygen
git add .kiln/trusted && git -c user.name=demo -c user.email=demo@localhost commit -qm "trust the demo key"
git log --oneline

step "kiln lock --check: the committed kiln.lock is current for kiln.yaml"
"$kiln" lock --check

step "kiln build: the commit's image into snapshots/, signed and recorded"
time "$kiln" build

step "kiln build again: every layer cached, same digest"
time "$kiln" build

step "a second clone, another store and cache, another umask and timezone: same bytes"
git clone -q "$work/hello-web" "$work/clone"
a=$("$kiln" -q build)
b=$(cd "$work/clone" && umask 077 && TZ=Asia/Tokyo KILN_CACHE="$work/cache2" \
	"$kiln" -q build --store "$work/store2" --key "$work/hello-web/.kiln/signing.key")
echo "$a"; echo "$b"
[ "$a" = "$b" ] && echo "identical"

step "kiln verify: the record's and the envelope's signatures, the provenance, every blob re-hashed"
"$kiln" verify hello-web

step "openssl agrees: the DSSE signature checks over PAE bytes built by the shell"
env_digest=$(sed 's/.*"envelope":"sha256:\([0-9a-f]*\)".*/\1/' snapshots/commits/*/hello-web.json)
python3 - "snapshots/blobs/sha256/$env_digest" "$work" <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
body = base64.b64decode(env["payload"]); t = env["payloadType"].encode()
open(sys.argv[2] + "/pae", "wb").write(b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body))
open(sys.argv[2] + "/sig", "wb").write(base64.b64decode(env["signatures"][0]["sig"]))
PY
openssl pkeyutl -verify -pubin -inkey .kiln/trusted/*.pub -rawin -in "$work/pae" -sigfile "$work/sig"

step "kiln audit: rebuild HEAD from nothing (empty store, no cache) and compare bit for bit"
time "$kiln" audit

step "the signature travels as a git note too"
git notes --ref=kiln show HEAD

step "skopeo reads the store as an OCI layout"
skopeo inspect "oci:snapshots:hello-web@$(git rev-parse HEAD)" | head -20

step "kiln run: the snapshot as a container (kiln's own runtime), port 8080 published on 127.0.0.1"
port=$((20000 + RANDOM % 20000))
"$kiln" run -d --name demo-web -p "$port:8080" hello-web
for _ in $(seq 50); do
	curl -fsS "http://127.0.0.1:$port/" 2>/dev/null && break
	sleep 0.1
done
"$kiln" ps
"$kiln" exec demo-web /bin/busybox hostname
"$kiln" stop -t 2 demo-web && "$kiln" rm demo-web

step "podman runs the exported image too (runc): busybox httpd serves the page"
"$kiln" -q export hello-web -o "$work/hello-web.tar" --format docker-archive
"${pod[@]}" load -q -i "$work/hello-web.tar"
"${pod[@]}" run -d --name demo --network none "hello-web:$(git rev-parse --short=12 HEAD)" >/dev/null
for _ in $(seq 50); do
	"${pod[@]}" exec demo /bin/busybox wget -qO- http://127.0.0.1:8080/ 2>/dev/null && break
	sleep 0.1
done

echo
echo "demo done: hello-web@$(git rev-parse --short HEAD) locked, built reproducibly, signed, verified, audited and served."
