#!/bin/sh
# sshd-start: make the host keys at the container's first start (in the
# volume /var/lib/ssh-host-keys, so a replacement keeps them), then run sshd
# in the foreground, logging to stderr.  Arguments are passed to sshd.
set -eu
keys=/var/lib/ssh-host-keys
mkdir -p "$keys/etc/ssh" /run/sshd
chmod 0755 /run/sshd
chmod 0700 "$keys"
ssh-keygen -A -f "$keys"      # only the missing ones: -A keeps existing keys
exec /usr/sbin/sshd -D -e "$@"
