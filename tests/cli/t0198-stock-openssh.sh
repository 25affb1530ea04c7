#!/usr/bin/env bash
# The stock openssh manifest (manifests/openssh.yaml), against this machine's
# Debian mirror: openssh-server's scripts make sshd_config (ucf), the sshd
# account and PAM's files; the host keys they make at build time are left
# out (volatile:), so `kiln audit` rebuilds the image to the same bytes and
# no key is in it; `kiln deploy openssh` makes the keys at first start in
# the volume; ssh on the host logs in as admin with a key, not with a
# password, not as root; a second deploy keeps the host key.  Without
# volatile:, the audit names exactly the host key files as what varies.
# Needs root and the mirror.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/stock.sh"

stock_setup openssh ssh 22000
stock_lock openssh
# The user's key, as manifests/README.md says: into openssh/authorized_keys.
ssh-keygen -q -t ed25519 -N '' -C kiln-test -f "$T/id" && cp "$T/id.pub" manifests/openssh/authorized_keys
stock_commit openssh
stock_build openssh
expect_contains "$out" "  | Creating SSH2 ED25519 key" "openssh-server's postinst makes host keys at build time"
stock_unpack openssh
check "no host key is in the image (volatile:)" test -z "$(find "$R/etc/ssh" -name 'ssh_host_*')"
check "sshd_config is made (ucf, in the postinst)" grep -q '^Include /etc/ssh/sshd_config.d/\*.conf' "$R/etc/ssh/sshd_config"
check "the sshd account exists" grep -q '^sshd:x:' "$R/etc/passwd"
check "PAM's common files are made (pam-auth-update, in libpam-runtime's postinst)" \
	test -s "$R/etc/pam.d/common-auth" -a -s "$R/etc/pam.d/common-session"
check "admin's password is locked and never expires (shadow: no last change 0)" \
	grep -qE '^admin:[!*]:(|[1-9][0-9]*):' "$R/etc/shadow"
rm -rf "$T/bundle"
stock_audit

expect_rc 0 "kiln deploy openssh" kiln deploy openssh
c1=$(stock_container openssh)
check "sshd listens on the published port" stock_wait_tcp "$port"
sshc() {
	ssh -F /dev/null -p "$port" -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new \
		-o UserKnownHostsFile="$T/known_hosts" "$@"
}
run sshc -i "$T/id" -o IdentitiesOnly=yes admin@127.0.0.1 'id -un; echo "$HOME"'
check "ssh on the host logs in as admin with the key" test "$out" = "admin"$'\n'"/home/admin"
# BatchMode never sends a password, so "Permission denied" alone proves
# nothing: the methods sshd still offers are in the message, and with
# passwords and keyboard-interactive off only publickey is left.
run sshc -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive admin@127.0.0.1 true
expect_contains "$err" "Permission denied (publickey)." "a password login is refused: sshd offers only publickey"
# root with a key it accepts (Debian's default, prohibit-password, would let it in).
expect_rc 0 "root gets admin's key" kiln exec "$c1" sh -c \
	'mkdir -p -m 0700 /root/.ssh && cp /home/admin/.ssh/authorized_keys /root/.ssh/ && chown -R root:root /root/.ssh'
run sshc -i "$T/id" -o IdentitiesOnly=yes root@127.0.0.1 true
check "root cannot log in, even with a key in its authorized_keys" test "$rc" != 0
expect_contains "$err" "Permission denied" "refused by sshd"
hostkey=$(ssh-keygen -F "[127.0.0.1]:$port" -f "$T/known_hosts" | grep -v '^#')
check "the host key was made at first start" test -n "$hostkey"

expect_rc 0 "kiln deploy openssh --force: a new container" kiln deploy openssh --force
c2=$(stock_container openssh)
check "another container serves ($c1 → $c2)" test -n "$c2" -a "$c1" != "$c2"
run sshc -i "$T/id" -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes admin@127.0.0.1 true
check "it has the same host key (kept in the volume): strict checking passes" test "$rc" = 0

# ---- without volatile: the audit names exactly what the scripts made with random bytes
sed -i '/^volatile:/,/^[a-z]/{/^volatile:/d;/^  - /d}' manifests/openssh.yaml
check "the copy has no volatile: left" test -z "$(grep -nE '^volatile:|ssh_host_' manifests/openssh.yaml)"
stock_commit "openssh without volatile"
stock_build openssh
expect_rc 4 "kiln audit: different (exit 4)" kiln audit
named=$(printf '%s\n' "$out" | grep -oE 'path [^ :]+' | sort -u | sed 's/^path //')
want=$(for t in ecdsa ed25519 rsa; do printf 'etc/ssh/ssh_host_%s_key\netc/ssh/ssh_host_%s_key.pub\n' $t $t; done | sort)
check "it names exactly the six host key files" test "$named" = "$want"
[ "$named" = "$want" ] || printf '%s\n' "$out" | head -20 | sed 's/^/# audit: /'
done_testing
