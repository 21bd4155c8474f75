#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests: `start STATE` initialises one in a
# new temporary folder, listening on a free loopback port only, and writes
# its URL to STATE/url; `stop STATE` stops it and removes the folder. The
# server refuses to run as root, so as root the cluster belongs to the
# `postgres` user Debian's package creates.
set -euo pipefail
command=${1:?usage: postgres-test.sh start|stop STATE_DIR}
state=${2:?usage: postgres-test.sh start|stop STATE_DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "postgres-test: no PostgreSQL server in /usr/lib/postgresql (install Debian's postgresql)" >&2; exit 1; }
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$state"
state=$(cd "$state" && pwd)
# The server's tools run as its owner, who may not be allowed into the caller's folder.
cd /tmp

case "$command" in
start)
  [ -f "$state/data" ] && "$0" stop "$state" || true
  data=$(mktemp -d /tmp/nasd-postgres-XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$data"
  # A port the kernel says is free (any Python will do), else a random high one.
  free='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  port=$(python3 -c "$free" 2>/dev/null || /usr/bin/python3 -c "$free" 2>/dev/null || echo $((20000 + RANDOM % 30000)))
  as_owner "$bin/initdb" -D "$data/cluster" -U nasd -A trust -E UTF8 --no-sync >/dev/null
  as_owner "$bin/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c max_connections=200" start >/dev/null
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U nasd nasd
  echo "$data" > "$state/data"
  echo "postgres://nasd@127.0.0.1:$port/nasd" > "$state/url"
  echo "postgres-test: server on 127.0.0.1:$port, data in $data"
  ;;
stop)
  [ -f "$state/data" ] || exit 0
  data=$(cat "$state/data")
  as_owner "$bin/pg_ctl" -D "$data/cluster" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$data" "$state/data" "$state/url"
  ;;
*) echo "usage: postgres-test.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
