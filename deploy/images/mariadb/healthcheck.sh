#!/bin/sh
# The official image's health check, for the two tests compose.yaml asks for: --connect (a TCP
# connection is accepted, so the server is past its first-start initialisation, which runs
# without networking) and --innodb_initialized (InnoDB is up).
set -eu
cnf=/var/lib/mysql/.my-healthcheck.cnf
sql="SELECT 1"
for arg in "$@"; do
  case "$arg" in
    --connect) ;;
    --innodb_initialized)
      sql="SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT')" ;;
    *) echo "healthcheck.sh: unknown test $arg" >&2; exit 2 ;;
  esac
done
[ -f "$cnf" ] || exit 1
out="$(mariadb --defaults-extra-file="$cnf" --protocol=tcp -h 127.0.0.1 -N -e "$sql")"
[ "$out" = 1 ]
