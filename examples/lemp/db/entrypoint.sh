#!/bin/sh
# Starts mariadb. On the first start (an empty data directory) it creates
# the system tables, sets the root password, creates MARIADB_DATABASE and
# MARIADB_USER, and runs /docker-entrypoint-initdb.d/*.sql, *.sql.gz and
# *.sh in name order, on a temporary server that accepts no TCP connections,
# so the health check passes only once all of that is done.
set -eu

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock

log() { echo "entrypoint: $*"; }

# sql_string quotes $1 as an SQL string literal.
sql_string() {
	printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"
}

# sql_ident quotes $1 as an SQL identifier.
sql_ident() {
	printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"
}

initialise() {
	: "${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD must be set}"
	log "initialising $datadir"
	mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
		--auth-root-authentication-method=socket >/dev/null

	mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
	pid=$!
	i=0
	until mariadb-admin --socket="$socket" ping >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "temporary server exited"
			exit 1
		fi
		i=$((i + 1))
		if [ "$i" -gt 300 ]; then
			log "temporary server did not start in 30s"
			exit 1
		fi
		sleep 0.1
	done

	# root keeps socket authentication (so `mariadb` run as root inside the
	# container needs no password) and gets the password for TCP.
	{
		echo "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($(sql_string "$MARIADB_ROOT_PASSWORD"));"
		echo "CREATE USER root@'%' IDENTIFIED BY $(sql_string "$MARIADB_ROOT_PASSWORD");"
		echo "GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;"
		if [ -n "${MARIADB_DATABASE:-}" ]; then
			echo "CREATE DATABASE IF NOT EXISTS $(sql_ident "$MARIADB_DATABASE");"
		fi
		if [ -n "${MARIADB_USER:-}" ]; then
			echo "CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "${MARIADB_PASSWORD:?MARIADB_PASSWORD must be set with MARIADB_USER}");"
			if [ -n "${MARIADB_DATABASE:-}" ]; then
				echo "GRANT ALL ON $(sql_ident "$MARIADB_DATABASE").* TO $(sql_string "$MARIADB_USER")@'%';"
			fi
		fi
	} | mariadb --socket="$socket"

	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
		*.sql)
			log "running $f"
			mariadb --socket="$socket" ${MARIADB_DATABASE:+-D "$MARIADB_DATABASE"} <"$f"
			;;
		*.sql.gz)
			log "running $f"
			gzip -dc "$f" | mariadb --socket="$socket" ${MARIADB_DATABASE:+-D "$MARIADB_DATABASE"}
			;;
		*.sh)
			log "running $f"
			. "$f"
			;;
		*)
			log "ignoring $f"
			;;
		esac
	done

	mariadb-admin --socket="$socket" shutdown
	wait "$pid"
	log "initialised"
}

if [ "${1:-}" = mariadbd ]; then
	mkdir -p /run/mysqld
	chown mysql:mysql /run/mysqld "$datadir"
	if [ ! -d "$datadir/mysql" ]; then
		initialise
	fi
	shift
	exec mariadbd --user=mysql --datadir="$datadir" --socket="$socket" "$@"
fi
exec "$@"
