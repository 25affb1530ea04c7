#!/usr/bin/env bash
# The stock redis manifest (manifests/redis.yaml), against this machine's
# Debian mirror: redis-tools' scripts make the user redis and its
# directories, dpkg-statoverride gives it redis.conf; `kiln audit` rebuilds
# the image to the same bytes; `kiln deploy redis` answers PING on the
# host's loopback, as the user redis; a key written survives a second
# deploy (redis saves on its stop signal into the volume, which starts as
# the image's /var/lib/redis: owned by redis).  Needs root and the mirror.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/stock.sh"

stock_setup redis redis 21000
stock_lock redis
stock_commit redis
stock_build redis
expect_contains "$out" "  | Setting up redis-server" "dpkg configures redis-server"
stock_unpack redis
check "redis-tools' postinst made the user redis" grep -q '^redis:x:[0-9]*:[0-9]*::/var/lib/redis:/usr/sbin/nologin$' "$R/etc/passwd"
rm -rf "$T/bundle"
stock_audit

# RESP over bash's /dev/tcp: one command; its reply line, or the value of
# a bulk reply ($LEN, then the value).
redis() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf '%s\r\n' "$*" >&3
	IFS= read -r -t 5 reply <&3
	case $reply in '$-1'*) ;; '$'*) IFS= read -r -t 5 reply <&3 ;; esac
	exec 3>&-
	printf '%s\n' "${reply%$'\r'}"
}
expect_rc 0 "kiln deploy redis" kiln deploy redis
c1=$(stock_container redis)
check "redis listens on the published port of 127.0.0.1" stock_wait_tcp "$port"
check "PING answers PONG" test "$(redis PING)" = "+PONG"
check "SET answers OK" test "$(redis SET kiln-test written-by-v1)" = "+OK"
run kiln exec "$c1" id -un
check "redis runs as the user redis" test "$out" = redis
run kiln exec "$c1" stat -c '%U %a' /etc/redis/redis.conf
check "redis.conf is redis' own, 640 (the postinst's dpkg-statoverride)" test "$out" = "redis 640"

expect_rc 0 "kiln deploy redis --force (stop-first)" kiln deploy redis --force
c2=$(stock_container redis)
check "another container serves ($c1 → $c2)" test -n "$c2" -a "$c1" != "$c2"
stock_wait_tcp "$port"
check "the key survived: saved into the volume at the stop, loaded by the new one" \
	test "$(redis GET kiln-test)" = written-by-v1
run kiln logs "$c2"
expect_contains "$out" "DB loaded from disk" "the new redis loaded the dataset the old one saved on its stop signal"
done_testing
