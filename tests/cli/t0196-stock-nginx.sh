#!/usr/bin/env bash
# The stock nginx manifest (manifests/nginx.yaml, manifests/README.md),
# taken as a user would, against this machine's Debian mirror: its lock is
# current, the Essential set the maintainer scripts need is in it visibly,
# the build runs nginx-common's scripts in the sandbox (no service starts),
# the image has what they make (base-passwd's www-data, the enabled default
# site, every package configured), `kiln audit` rebuilds it from nothing to
# the same bytes, and `kiln deploy nginx` serves the page on the host's
# published port; a second deploy replaces the container without a failed
# request.  Needs root and the machine's Debian mirror.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/stock.sh"

stock_setup nginx nginx 19000
stock_lock nginx
check "the Essential set is added, visibly: dpkg why: essential" \
	awk '/^  - name: dpkg$/{d=1} d && /^    why: essential$/{ok=1} /^  - name: dpkg-/{d=0} END{exit !ok}' manifests/nginx.lock
check "nginx-common's scripts are listed" \
	awk '/^  - name: nginx-common$/{d=1} d && /^    scripts: \[config, postinst, preinst\]$/{ok=1} END{exit !ok}' manifests/nginx.lock
stock_commit nginx

stock_build nginx
expect_contains "$out" "  | Setting up nginx-common" "dpkg configures nginx-common"
expect_contains "$out" "policy-rc.d denied execution of start" "and no service starts"
stock_unpack nginx
check "www-data is in /etc/passwd (base-passwd's accounts)" grep -q '^www-data:x:33:33:' "$R/etc/passwd"
check "the default site is enabled (nginx-common's postinst)" \
	test "$(readlink "$R/etc/nginx/sites-enabled/default")" = /etc/nginx/sites-available/default
check "the page is the manifest's" grep -q "Served by nginx from a kiln image" "$R/var/www/html/index.html"
rm -rf "$T/bundle"

stock_audit

expect_rc 0 "kiln deploy nginx" kiln deploy nginx
page=$(curl -s --max-time 5 "http://127.0.0.1:$port/")
expect_contains "$page" "Served by nginx from a kiln image" "nginx serves the page on the published port"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/missing")
check "a missing page is nginx's 404" test "$code" = 404
c1=$(stock_container nginx)

# Requests all along a second deploy (start-first: the new container takes
# the port once its health check passes, the old one drains).
( while [ ! -e "$T/stop" ]; do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 "http://127.0.0.1:$port/" || echo failed
  done >"$T/codes" ) &
loop=$!
expect_rc 0 "kiln deploy nginx --force: a new container" kiln deploy nginx --force
touch "$T/stop"; wait "$loop"
c2=$(stock_container nginx)
check "another container serves ($c1 → $c2)" test -n "$c2" -a "$c1" != "$c2"
check "no request failed during the replacement ($(wc -l <"$T/codes") made)" \
	test "$(sort -u "$T/codes")" = 200
run kiln exec "$c2" /usr/sbin/nginx -t
expect_contains "$err" "syntax is ok" "nginx -t in the serving container: its configuration is sound"
done_testing
