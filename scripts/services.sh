#!/usr/bin/env bash
# Start the local Redis and PostgreSQL that the tests use, if they are not already running.
set -euo pipefail

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
for _ in $(seq 1 50); do
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
  sleep 0.2
done
echo "Redis or PostgreSQL did not come up" >&2
exit 1
