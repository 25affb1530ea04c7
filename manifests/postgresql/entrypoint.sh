#!/bin/sh
# postgres-entrypoint: at the container's first start, make the cluster in
# $PGDATA (the volume), then run postgres in the foreground as the user
# postgres.  Arguments are passed to postgres (-c name=value, ...).
#
# The cluster is made here, not at build time, because initdb writes a
# random system identifier: an image holding one would differ on every
# build, and every deployment of it would share the identifier.
#
#   POSTGRES_PASSWORD  the password of the role postgres, set at first start;
#                      without it the role has none and only local (peer)
#                      connections inside the container can log in.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"
chmod 2775 /run/postgresql

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	echo "postgres-entrypoint: no cluster in $PGDATA: initdb"
	pwfile=
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		# Removed however the start ends: a failed initdb (set -e) or a
		# stop must not leave the password on the container's disk.
		trap '[ -z "$pwfile" ] || rm -f "$pwfile"' EXIT
		trap 'exit 1' HUP INT TERM
		pwfile=$(mktemp)
		printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
		chown postgres "$pwfile"
	fi
	# initdb and the postgres it starts read the file, not the environment.
	unset POSTGRES_PASSWORD
	as_postgres initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=peer --auth-host=scram-sha-256 ${pwfile:+--pwfile="$pwfile"}
	[ -z "$pwfile" ] || rm -f "$pwfile"
	trap - EXIT HUP INT TERM
	# Reachable on the container's address, with a password.
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
fi
unset POSTGRES_PASSWORD
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@"
