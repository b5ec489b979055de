#!/bin/sh
# The official image's settings, written as rabbitmq.conf, then the broker in the foreground.
set -eu
cat >/etc/rabbitmq/rabbitmq.conf <<CONF
# written by entrypoint.sh at each start
loopback_users = none
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
CONF
exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
