#!/bin/sh
# Healthy when the server answers a query from the application's user over
# TCP, in the application's database.
MYSQL_PWD="$MARIADB_PASSWORD" exec mariadb --protocol=tcp -h 127.0.0.1 \
    -u "$MARIADB_USER" -D "$MARIADB_DATABASE" -N -e 'SELECT 1' >/dev/null
