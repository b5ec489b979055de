#!/bin/sh
# First start (empty data dir): create the system tables, the database and its user, and the
# health check's user; then the server on every interface, in the foreground.
set -eu
datadir=/var/lib/mysql
if [ ! -d "$datadir/mysql" ]; then
  echo "entrypoint: initialising $datadir"
  mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=socket --auth-root-socket-user=mysql >/dev/null
  mariadbd --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  for _ in $(seq 1 60); do
    mariadb --socket=/run/mysqld/init.sock -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 1
  done
  # Identifiers and passwords are the operator's (compose.yaml); quote them as SQL strings.
  q() { printf "%s" "$1" | sed "s/'/''/g"; }
  hc_pass="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  {
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;"
    fi
    if [ -n "${MARIADB_USER:-}" ]; then
      echo "CREATE USER '$(q "$MARIADB_USER")'@'%' IDENTIFIED BY '$(q "${MARIADB_PASSWORD:-}")';"
      if [ -n "${MARIADB_DATABASE:-}" ]; then
        echo "GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '$(q "$MARIADB_USER")'@'%';"
      fi
    fi
    echo "CREATE USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY '$hc_pass';"
    echo "CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$hc_pass';"
  } | mariadb --socket=/run/mysqld/init.sock
  printf '[client]\nuser=healthcheck\npassword=%s\n' "$hc_pass" >"$datadir/.my-healthcheck.cnf"
  chmod 0600 "$datadir/.my-healthcheck.cnf"
  kill "$pid"
  wait "$pid" || true
  echo "entrypoint: initialised"
fi
exec mariadbd --datadir="$datadir" --bind-address=0.0.0.0 --skip-name-resolve "$@"
