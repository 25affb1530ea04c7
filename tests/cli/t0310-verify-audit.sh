#!/usr/bin/env bash
# Signed snapshots: kiln build signs and records, openssl checks kiln's
# signatures over PAE bytes the shell builds, kiln verify catches a flipped
# byte in every kind of blob and in the record, and kiln audit rebuilds a
# commit from nothing: identical on any clone, exit 4 naming the layer and
# path when a (compromised) builder recorded something else.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/manifest.sh"

export KILN_APT_ETC="$T/etc"; mkdir -p "$T/etc"
git_commit() { git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false commit -qm "$1"; }

mkdir -p "$T/repo/www" && cd "$T/repo" && git init -q .
echo "a repository whose first commit has no manifest" >README && git add README && git_commit init
write_manifest kiln.yaml S app=2.0 layout-edge=1.0
echo 'scripts: skip' >>kiln.yaml  # layout-edge's postinst: unpack only
cat >>kiln.yaml <<'YAML'
files:
  - {src: www/, dst: /srv/www/}
YAML
echo '<h1>one</h1>' >www/index.html
echo 'same' >www/other.txt
expect_rc 0 "lock" kiln lock
mkdir -p .kiln/trusted && cp "$KILN_PUB" .kiln/trusted/ci.pub
git add -A && git_commit one
A=$(git rev-parse HEAD)
store="$T/repo/snapshots"
blob() { echo "$store/blobs/sha256/${1#sha256:}"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# ---- a build with no key stops before any work
expect_rc 1 "a build with no signing key fails" env KILN_KEY="$T/nokey" "$KILN" build
expect_contains "$err" "no signing key at $T/nokey" "it names where it looked"
expect_contains "$err" "kiln keygen" "and says how to make one"
check "and wrote nothing" test ! -e "$store/commits"

# ---- build: signed, recorded, noted
expect_rc 0 "kiln build signs by default" kiln build
IMG=$(printf '%s\n' "$out" | tail -1)
expect_contains "$out" "signed by sha256:" "the output says who signed"
rec="$store/commits/$A/t.json"
check "the record is at commits/<commit>/<name>.json" test -f "$rec"
check "the record names the image" test "$(field "$rec" manifest)" = "$IMG"
ENV=$(field "$rec" envelope); REF=$(field "$rec" referrer)
check "the envelope is a blob" test -f "$(blob "$ENV")"
check "the referrer manifest is a blob" test -f "$(blob "$REF")"
run git notes --ref=kiln show "$A"
check "git notes --ref=kiln shows the snapshot" test "$rc" = 0
expect_contains "$out" "t $IMG signed-by sha256:" "the note names the image and the signer"

# The statement: in-toto v1, SLSA v1, the commit, every package, no host or time.
python3 - "$(blob "$ENV")" "$A" "$IMG" >"$T/statement.check" 2>&1 <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
assert env["payloadType"] == "application/vnd.in-toto+json", env["payloadType"]
st = json.loads(base64.b64decode(env["payload"]))
assert st["_type"] == "https://in-toto.io/Statement/v1"
assert st["predicateType"] == "https://slsa.dev/provenance/v1"
assert st["subject"] == [{"name": "t", "digest": {"sha256": sys.argv[3][7:]}}], st["subject"]
bd = st["predicate"]["buildDefinition"]
deps = bd["resolvedDependencies"]
assert {"name": "source", "digest": {"gitCommit": sys.argv[2]}} in deps
uris = sorted(d["uri"] for d in deps if "uri" in d)
assert any(u.startswith("pkg:deb/debian/app@2.0?arch=") for u in uris), uris
assert all(len(d["digest"].get("sha256", "x" * 64)) == 64 for d in deps)
text = base64.b64decode(env["payload"]).decode()
assert "127.0.0.1" not in text and "http" not in text.replace("https://in-toto.io", "").replace(
    "https://slsa.dev", "").replace("https://kiln.dev", ""), "a mirror host leaked into the statement"
assert st["predicate"]["runDetails"]["builder"]["version"]["kiln"]
print("statement ok")
PY
check "the statement is in-toto v1 + SLSA v1 with the commit and every package, no host" grep -q "statement ok" "$T/statement.check"
cat "$T/statement.check" | grep -v 'statement ok' | sed 's/^/# /'

# ---- openssl is the judge of kiln's signatures (PAE built by the shell)
python3 - "$(blob "$ENV")" "$T" <<'PY'
import base64, json, sys
env = json.load(open(sys.argv[1]))
body = base64.b64decode(env["payload"]); t = env["payloadType"].encode()
open(sys.argv[2] + "/pae", "wb").write(b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body))
open(sys.argv[2] + "/sig", "wb").write(base64.b64decode(env["signatures"][0]["sig"]))
PY
# The PAE again with printf and wc only, to be sure python and kiln agree on it.
payload_type=application/vnd.in-toto+json
python3 -c 'import base64,json,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["payload"]))' "$(blob "$ENV")" >"$T/body"
{ printf 'DSSEv1 %d %s %d ' ${#payload_type} "$payload_type" "$(wc -c <"$T/body")"; cat "$T/body"; } >"$T/pae.sh"
expect_same_file "$T/pae" "$T/pae.sh" "the shell's PAE bytes are python's"
run openssl pkeyutl -verify -pubin -inkey "$KILN_PUB" -rawin -in "$T/pae.sh" -sigfile "$T/sig"
check "openssl pkeyutl -verify accepts the envelope's signature" test "$rc" = 0
expect_contains "$out" "Signature Verified Successfully" "openssl says so"
# The record's signature: PAE over the record without its signatures.
python3 - "$rec" "$T" <<'PY'
import base64, json, sys
r = json.load(open(sys.argv[1])); sig = r.pop("signatures")[0]["sig"]
body = json.dumps(r, sort_keys=True, separators=(",", ":")).encode()
t = b"application/vnd.kiln.record.v1+json"
open(sys.argv[2] + "/rpae", "wb").write(b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body))
open(sys.argv[2] + "/rsig", "wb").write(base64.b64decode(sig))
PY
run openssl pkeyutl -verify -pubin -inkey "$KILN_PUB" -rawin -in "$T/rpae" -sigfile "$T/rsig"
check "openssl pkeyutl -verify accepts the record's signature" test "$rc" = 0

# The forger, for the tests below (a compromised or foreign builder).
cat >"$T/forge.py" <<'PY'
import base64, hashlib, json, os, subprocess, sys
# forge.py STORE NAME TARGET SOURCE ENVELOPE_KEY RECORD_KEY: record SOURCE's
# image as TARGET's snapshot, its statement claiming TARGET, the envelope
# and the record signed (with openssl) by the keys given.
store, name, A, B, env_key, rec_key = sys.argv[1:]
tmp = os.path.dirname(os.path.abspath(__file__))
def blob_path(d): return os.path.join(store, "blobs", "sha256", d[7:])
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(blob_path(d), "wb").write(data); return d
def sign(t, body, key):
    pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)
    open(tmp + "/forge.pae", "wb").write(pae)
    subprocess.check_call(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin",
                           "-in", tmp + "/forge.pae", "-out", tmp + "/forge.sig"])
    return base64.b64encode(open(tmp + "/forge.sig", "rb").read()).decode()
recB = json.load(open(os.path.join(store, "commits", B, name + ".json")))
env = json.load(open(blob_path(recB["envelope"])))
st = json.loads(base64.b64decode(env["payload"]))
for d in st["predicate"]["buildDefinition"]["resolvedDependencies"]:
    if "gitCommit" in d["digest"]: d["digest"]["gitCommit"] = A
body = json.dumps(st, sort_keys=True, separators=(",", ":")).encode()
keyid = env["signatures"][0]["keyid"]  # only a hint
env = {"payload": base64.b64encode(body).decode(), "payloadType": "application/vnd.in-toto+json",
       "signatures": [{"keyid": keyid, "sig": sign(b"application/vnd.in-toto+json", body, env_key)}]}
env_bytes = json.dumps(env, sort_keys=True, separators=(",", ":")).encode()
envd = put(env_bytes)
manifest_size = os.path.getsize(blob_path(recB["manifest"]))
ref = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "artifactType": "application/vnd.dsse.envelope.v1+json",
       "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                  "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
       "layers": [{"mediaType": "application/vnd.dsse.envelope.v1+json", "digest": envd, "size": len(env_bytes)}],
       "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": recB["manifest"], "size": manifest_size}}
refd = put(json.dumps(ref, sort_keys=True, separators=(",", ":")).encode())
rec = dict(recB); rec.pop("signatures"); rec["commit"] = A; rec["envelope"] = envd; rec["referrer"] = refd
body = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
rec["signatures"] = [{"keyid": keyid, "sig": sign(b"application/vnd.kiln.record.v1+json", body, rec_key)}]
open(os.path.join(store, "commits", A, name + ".json"), "w").write(json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n")
idx = json.load(open(os.path.join(store, "index.json")))
for m in idx["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == name + "@" + A:
        m["digest"] = recB["manifest"]; m["size"] = manifest_size
json.dump(idx, open(os.path.join(store, "index.json"), "w"), indent=2, sort_keys=True)
PY

# ---- verify
expect_rc 0 "kiln verify NAME" kiln verify t
expect_contains "$out" "verified t@${A:0:12} $IMG" "names the snapshot and image"
expect_contains "$out" "signature  good, by ci.pub" "names the trusted key file"
expect_contains "$out" "lock       matches" "checks the lock against the commit"
expect_rc 0 "kiln verify NAME@REV" kiln verify "t@$A"
expect_rc 0 "kiln verify @REV" kiln verify "@HEAD"
expect_rc 0 "kiln verify sha256:DIGEST" kiln verify "$IMG"
expect_rc 0 "kiln verify --json" kiln --json verify t
check "--json parses and says verified" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d[0]["verified"] and d[0]["manifest"]==sys.argv[2]' "$out" "$IMG"
kiln -q keygen --key "$T/other.key" --pub "$T/other.pub"
expect_rc 3 "verify with only another key trusted: exit 3" kiln verify --pub "$T/other.pub" t
expect_contains "$err" "no signature verifies under a trusted key" "says no trusted signature"
expect_rc 1 "an unknown snapshot: exit 1" kiln verify nosuch
expect_contains "$err" "no snapshot of nosuch" "names it"

# ---- tamper: one flipped byte in each kind of blob, in the record; another key's signature
flip() { # FILE OFFSET: xor one byte
	python3 -c 'import sys; p,o=sys.argv[1],int(sys.argv[2]); b=bytearray(open(p,"rb").read()); o=o%len(b); b[o]^=1; open(p,"wb").write(bytes(b))' "$1" "$2"
}
cp -a "$store" "$T/pristine"
restore() { rm -rf "$store" && cp -a "$T/pristine" "$store"; }
manifest_json=$(cat "$(blob "$IMG")")
CONFIG=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["config"]["digest"])' "$manifest_json")
LAYER=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][-1]["digest"])' "$manifest_json")
tamper() { # NAME FILE OFFSET WANT
	restore
	chmod u+w "$2"
	flip "$2" "$3"
	expect_rc 3 "flipped byte in the $1: verify exits 3" kiln verify t
	expect_contains "$err" "$4" "and names the $1"
}
tamper "layer" "$(blob "$LAYER")" 100 "$LAYER"
tamper "config" "$(blob "$CONFIG")" 30 "$CONFIG"
tamper "image manifest" "$(blob "$IMG")" 40 "$IMG"
tamper "envelope" "$(blob "$ENV")" 50 "$ENV"
tamper "referrer manifest" "$(blob "$REF")" 60 "$REF"
tamper "record's image digest" "$rec" 200 "record"
tamper "record's build time" "$rec" 16 "record"
restore
sed -i 's/"kiln_version":"/"kiln_version": "/' "$rec"
expect_rc 3 "a record re-spelled (same JSON, other bytes) fails" kiln verify t
expect_contains "$err" "canonical form" "as not canonical"
restore
# Another key's signatures in place of ours: on the record and the envelope,
# then on the envelope only (the record still signed by the trusted key).
python3 "$T/forge.py" "$store" t "$A" "$A" "$T/other.key" "$T/other.key"
expect_rc 3 "a snapshot re-signed by another key fails" kiln verify t
expect_contains "$err" "record of t@${A:0:12}: no signature verifies under a trusted key" "at the record"
restore
python3 "$T/forge.py" "$store" t "$A" "$A" "$T/other.key" "$KILN_KEY"
expect_rc 3 "an envelope signed by another key fails" kiln verify t
expect_contains "$err" "envelope sha256:" "names the envelope"
expect_contains "$err" "verif" "and says it does not verify"
restore
rm -f "$(blob "$LAYER")"
expect_rc 3 "a missing layer fails" kiln verify t
expect_contains "$err" "$LAYER" "naming the layer"
restore

# ---- more hostile stores (found in review)
rm -f "$(blob "$LAYER")" && mkfifo "$(blob "$LAYER")"
expect_rc 3 "a FIFO in place of a layer fails at once (no hang)" timeout 60 "$KILN" verify t
expect_contains "$err" "not a regular file" "says what it is"
expect_rc 3 "kiln diff over a FIFO layer fails at once too" timeout 60 "$KILN" diff t t
restore
rm -f "$(blob "$LAYER")" && ln -s /dev/zero "$(blob "$LAYER")"
expect_rc 3 "a link to /dev/zero in place of a layer fails at once" timeout 60 "$KILN" verify t
restore
# A forged unsigned record naming the same image must not hide the signed one.
mkdir -p "$store/commits/0000000000000000000000000000000000000000"
python3 - "$rec" "$store/commits/0000000000000000000000000000000000000000/t.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("signatures", "envelope", "referrer"): r.pop(k)
r["commit"] = "0" * 40
open(sys.argv[2], "w").write(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n")
PY
expect_rc 0 "verify sha256: still finds the signed record beside a forged unsigned one" kiln verify "$IMG"
restore
# A tar entry name with terminal escapes never reaches the terminal raw.
mkdir -p "$store/commits/$A" && printf 'x' >"$store/commits/$A/$(printf 'e\033]0;owned\007x').json"
run kiln log
check "kiln log prints no raw escape from a hostile record file name" sh -c "! printf '%s' \"\$1\" | grep -q \"\$(printf '\\033')\"" _ "$out"
restore
# Bytes planted under the name of a blob a build writes are replaced, not kept.
printf '[]' >"$(blob sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a)"
expect_rc 0 "a rebuild over a damaged empty-config blob" kiln build
expect_rc 0 "repairs it: the snapshot verifies" kiln verify t
restore
# A work tree whose path holds glob characters trusts its own keys only.
cp -a "$T/repo" "$T/p[ab]" && mkdir -p "$T/pa/.kiln/trusted" && cp "$T/other.pub" "$T/pa/.kiln/trusted/evil.pub"
run sh -c "cd '$T/p[ab]' && '$KILN' verify t"
check "verify in 'p[ab]' uses p[ab]/.kiln/trusted, not pa/ (glob)" test "$rc" = 0
expect_contains "$out" "by ci.pub" "and names its own key"
rm -rf "$T/p[ab]" "$T/pa"

# ---- a build cache entry planted in the store is not trusted (it would put
# someone else's layer into an image this builder signs)
mkdir -p "$T/evil/usr/bin" && echo evil >"$T/evil/usr/bin/evil"
tar -C "$T/evil" -cf - usr | gzip -n >"$T/evil.tgz"
EVIL=sha256:$(sha256sum <"$T/evil.tgz" | cut -c1-64)
EVIL_DIFF=sha256:$(gzip -dc "$T/evil.tgz" | sha256sum | cut -c1-64)
cp "$T/evil.tgz" "$(blob "$EVIL")"
n=0
for f in "$store"/cache/*; do
	n=$((n + 1))
	# Half without an authenticator, half with a made-up one.
	mac=$([ $((n % 2)) = 0 ] && printf '%064d' 0)
	echo "$EVIL $EVIL_DIFF $(stat -c %s "$T/evil.tgz") application/vnd.oci.image.layer.v1.tar+gzip $mac" >"$f"
done
check "(entries were planted)" test "$n" -gt 2
expect_rc 0 "a build over planted cache entries" kiln build
expect_not_contains "$out" " cached " "takes none of them"
check "and makes the same image as before" test "$(printf '%s\n' "$out" | tail -1)" = "$IMG"
expect_rc 0 "the next build uses its own entries again" kiln build
expect_not_contains "$out" " built " "every layer cached"
restore

# ---- unsigned builds are recorded, never verified
git -c user.name=t -c user.email=t@localhost commit -q --allow-empty -m "unsigned"
U=$(git rev-parse HEAD)
expect_rc 0 "kiln build --no-sign" kiln build --no-sign
expect_contains "$out" "not signed" "says it is not signed"
expect_rc 3 "verify of an unsigned snapshot: exit 3" kiln verify t
expect_contains "$err" "not signed" "says why"
expect_rc 0 "a signed build replaces the unsigned record" kiln build
expect_rc 1 "--no-sign never replaces a signed record" kiln build --no-sign
expect_contains "$err" "has a signed snapshot" "and says why"
expect_rc 0 "which still verifies" kiln verify t
git reset -q --hard "$A"

# ---- audit: rebuild from nothing
# Its own TMPDIR: other tests' audits run at the same time in /tmp.
mkdir -p "$T/tmp"
expect_rc 0 "kiln audit of HEAD" env TMPDIR="$T/tmp" "$KILN" audit
expect_contains "$out" "identical: t@${A:0:12}" "is identical"
check "the audit left no scratch store behind" sh -c "! ls -d '$T'/tmp/kiln-audit.* 2>/dev/null | grep -q ."
expect_rc 0 "kiln audit --fresh (packages downloaded again)" kiln audit --fresh "$A"
expect_contains "$out" "identical" "is identical too"
# A second machine: another clone, cache and store, built there, audited there.
git clone -q "$T/repo" "$T/clone"
mkdir -p "$T/clone/.kiln/trusted" && cp .kiln/trusted/ci.pub "$T/clone/.kiln/trusted/" 2>/dev/null
(cd "$T/clone" && KILN_CACHE="$T/cache2" kiln -q build --store "$T/store2") >"$T/clone.out" 2>&1
check "the clone builds the same image" test "$(tail -1 "$T/clone.out")" = "$IMG"
run sh -c "cd '$T/clone' && KILN_CACHE='$T/cache3' '$KILN' audit --store '$T/store2'"
check "and its audit (another cache) is identical" test "$rc" = 0
expect_contains "$out" "identical" "says identical"

# zstd and SOURCE_DATE_EPOCH: the statement carries them, the audit uses them.
git -c user.name=t -c user.email=t@localhost commit -q --allow-empty -m zstd
Z=$(git rev-parse HEAD)
kiln -q build >/dev/null
run env SOURCE_DATE_EPOCH=1700000000 "$KILN" build --zstd
expect_contains "$out" "replaces the snapshot" "a rebuild of a commit into another image says it replaces the recorded one"
expect_rc 0 "audit of a zstd build made with SOURCE_DATE_EPOCH (not set now)" kiln audit
expect_contains "$out" "identical" "is identical"

# ---- a compromised builder: commit B's image recorded, signed, as commit A's
git reset -q --hard "$A"
echo '<h1>two</h1>' >www/index.html
git add -A && git_commit two
B=$(git rev-parse HEAD)
IMGB=$(kiln -q build | tail -1)
python3 "$T/forge.py" "$store" t "$A" "$B" "$KILN_KEY" "$KILN_KEY"
expect_rc 0 "the forged snapshot of A verifies (signed by a trusted key)" kiln verify "t@$A"
expect_contains "$out" "$IMGB" "and it is B's image"
expect_rc 4 "kiln audit A finds the difference: exit 4" kiln audit "$A"
expect_contains "$out" "DIFFERENT: t@${A:0:12}" "says different"
expect_contains "$out" "first difference: layer" "names the layer"
expect_contains "$out" "path srv/www/index.html" "and the path that differs"
expect_contains "$out" "content differs" "and what differs"
L=$(sed -nE 's|^  first difference: (layer [0-9]+/[0-9]+), path .*|\1|p' <<<"$out")
check "and lists it as the one differing path" test "$(grep -cE '^  layer [0-9]+/[0-9]+ path ' <<<"$out")" = 1
check "in the files layer" grep -qE "^  $L path srv/www/index.html: content differs \(sha256:" <<<"$out"
check "saying what made that layer" \
	grep -qE "^  $L \(files: [0-9]+ entr(y|ies) from the commit's tree\): 1 difference$" <<<"$out"
check "and counting" grep -qx "  every difference: 1 in 1 layer" <<<"$out"
expect_rc 4 "kiln audit --json says so too" kiln --json audit "$A"
check "--json names the path" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d[0]["identical"] is False and d[0]["path"]=="srv/www/index.html", d' "$out"
check "--json lists every difference (one here), none left over, and the layer's history" python3 -c '
import json, sys
d = json.loads(sys.argv[1])[0]
assert d["differences"] == [{"layer": d["layer"], "path": "srv/www/index.html", "what": d["what"]}], d
assert d["more"] == 0, d
assert len(d["layers"]) == 1 and d["layers"][0]["layer"] == d["layer"] and d["layers"][0]["differences"] == 1, d
assert d["layers"][0]["created_by"].startswith("files: "), d' "$out"

# ---- audit --range: a table, one row per commit
run kiln audit --range "$A..$B"
check "a range of identical snapshots: exit 0" test "$rc" = 0
expect_contains "$out" "${B:0:12}  t" "lists B"
expect_contains "$out" "identical" "identical"
expect_rc 4 "kiln audit --range including the forged A: exit 4" kiln audit --range "$A^..$B"
expect_contains "$out" "DIFFERS" "the table says which differs"
expect_contains "$out" "srv/www/index.html" "and where"
expect_not_contains "$out" "more)" "one differing path: no count of others in the row"
git -c user.name=t -c user.email=t@localhost commit -q --allow-empty -m "not built"
expect_rc 0 "kiln audit --range over a commit never built: exit 0" kiln audit --range "$B..HEAD"
expect_contains "$out" "no snapshot recorded" "lists it as without a snapshot"
done_testing
