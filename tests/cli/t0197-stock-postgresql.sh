#!/usr/bin/env bash
# The stock postgresql manifest (manifests/postgresql.yaml), against this
# machine's Debian mirror: the build runs postgresql-common's and ssl-cert's
# scripts, and what they make with random bytes (the build-time cluster,
# the snakeoil key) is left out by volatile:, so `kiln audit` rebuilds the
# image to the same bytes; `kiln deploy postgresql` makes the cluster at
# first start in the volume; psql on the host logs in with a password and
# queries it; a second deploy (stop-first) shuts postgres down cleanly and
# the new container serves the same data.  Needs root and the mirror.
. "$(dirname "$0")/../lib/cli.sh"
. "$(dirname "$0")/../lib/containers.sh"
. "$(dirname "$0")/../lib/stock.sh"

stock_setup postgresql pg 20000
stock_lock postgresql
stock_commit postgresql
stock_build postgresql
expect_contains "$out" "  | Setting up postgresql-15" "dpkg configures postgresql-15"
expect_contains "$out" "  | Creating new PostgreSQL cluster 15/main" "whose postinst makes a cluster at build time"
stock_unpack postgresql
check "the user postgres exists (postgresql-common's postinst)" \
	grep -q '^postgres:x:[0-9]*:[0-9]*:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash$' "$R/etc/passwd"
check "the build-time cluster is not in the image (volatile:)" \
	test ! -e "$R/var/lib/postgresql/15/main" -a ! -e "$R/etc/postgresql/15/main"
check "nor the snakeoil key and certificate, nor a hash link to them" \
	test ! -e "$R/etc/ssl/private/ssl-cert-snakeoil.key" -a ! -e "$R/etc/ssl/certs/ssl-cert-snakeoil.pem" \
	-a -z "$(find "$R/etc/ssl/certs" -type l)"
check "createcluster.conf is made (postgresql-common's postinst, through ucf)" \
	test -s "$R/etc/postgresql-common/createcluster.conf"
rm -rf "$T/bundle"

stock_audit

expect_rc 0 "kiln deploy postgresql" kiln deploy postgresql
c1=$(stock_container postgresql)
check "postgres accepts connections on the published port" stock_wait_tcp "$port"
run kiln logs "$c1"
expect_contains "$out" "no cluster in /var/lib/postgresql/data: initdb" "the cluster is made at first start"
# The role's password, set inside the container as the user postgres
# (peer authentication on the socket), as manifests/README.md says.
expect_rc 0 "set the password with kiln exec … psql" kiln exec "$c1" \
	setpriv --reuid=postgres --regid=postgres --init-groups psql -qc "ALTER ROLE postgres PASSWORD 'kiln-test'"
pg() { PGPASSWORD=${PW:-kiln-test} PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p "$port" -U postgres -XtAq "$@"; }
run pg -c "SELECT 41 + 1"
check "psql on the host: SELECT 41 + 1 is 42" test "$out" = 42
run pg -c "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('written by v1')"
check "a table is written" test "$rc" = 0
PW=wrong run pg -c "SELECT 1"
expect_contains "$err" 'password authentication failed for user "postgres"' "a wrong password is refused"

expect_rc 0 "kiln deploy postgresql --force (stop-first: the old postgres stops first)" kiln deploy postgresql --force
c2=$(stock_container postgresql)
check "another container serves ($c1 → $c2)" test -n "$c2" -a "$c1" != "$c2"
stock_wait_tcp "$port"
run pg -c "SELECT v FROM kept"
check "the new container serves the data of the volume" test "$out" = "written by v1"
run kiln logs "$c2"
expect_not_contains "$out" "initdb" "and made no new cluster"
expect_contains "$out" "database system was shut down at" "the old one shut down cleanly (SIGINT: fast shutdown)"
done_testing
