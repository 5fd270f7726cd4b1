# Sourced by the scripts: starts throw-away PostgreSQL and Redis servers bound to 127.0.0.1
# in a temporary folder, exports their URLs, and stops them on exit.
set -euo pipefail
SERVICES_DIR="$(mktemp -d -t handoff-services.XXXXXX)"
chmod 755 "$SERVICES_DIR"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

run_as_pg() {
  # initdb refuses to run as root: use the postgres account the Debian package creates.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin port data
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  port="$(free_port)"
  data="$SERVICES_DIR/pg"
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres "$data"
  run_as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  run_as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  run_as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres handoff_test
  PG_CTL="$bin/pg_ctl"
  PG_DATA="$data"
  export HANDOFF_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/handoff_test"
  echo "PostgreSQL on 127.0.0.1:$port" >&2
}

start_redis() {
  local port
  port="$(free_port)"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --databases 128 \
    --daemonize yes --dir "$SERVICES_DIR" --pidfile "$SERVICES_DIR/redis.pid" \
    --logfile "$SERVICES_DIR/redis.log"
  for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export HANDOFF_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
  echo "Redis on 127.0.0.1:$port" >&2
}

stop_services() {
  if [ -n "${PG_DATA:-}" ]; then
    run_as_pg "$PG_CTL" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -f "$SERVICES_DIR/redis.pid" ]; then
    kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null || true
  fi
  rm -rf "$SERVICES_DIR"
}
trap stop_services EXIT
