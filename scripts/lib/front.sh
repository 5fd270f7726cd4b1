# Sourced by scripts/serve and scripts/scale: phonetool's front door on this machine.
# nginx listens on 127.0.0.1:$PORT and hands whole requests to gunicorn on a Unix socket;
# open job pages go to the events process (gunicorn with gevent). deploy/nginx.conf.in is
# the configuration.
set -euo pipefail

front_config() {
  # Writes $RUN/nginx.conf and exports what gunicorn needs behind it.
  RUN="$PHONETOOL_INSTANCE/run"
  local user_line=""
  mkdir -p "$RUN/nginx"
  rm -f "$RUN/app.sock" "$RUN/events.sock"
  # As root, nginx's workers take another account unless told: this one, which can
  # read the sockets and the static files.
  [ "$(id -u)" = 0 ] && user_line="user $(id -un);"
  sed -e "s|@RUN@|$RUN|g" \
      -e "s|@USER_LINE@|$user_line|" \
      -e "s|@LISTEN@|127.0.0.1:$PORT|" \
      -e "s|@STATIC@|$ROOT/service/src/phonetool/static|" \
      -e "s|@MAX_UPLOAD_MB@|${PHONETOOL_MAX_UPLOAD_MB:-200}|g" \
      -e "s|@HEADER_TIMEOUT@|${PHONETOOL_PROXY_HEADER_TIMEOUT:-10}|" \
      -e "s|@BODY_TIMEOUT@|${PHONETOOL_PROXY_BODY_TIMEOUT:-20}|" \
      "$ROOT/deploy/nginx.conf.in" >"$RUN/nginx.conf"
  /usr/sbin/nginx -t -q -p "$RUN" -c "$RUN/nginx.conf"
  export PHONETOOL_PROXY_HOPS=1  # X-Forwarded-* come from nginx, and only from it
}

wait_for_sockets() {
  # nginx last, once both servers listen: its first client gets an answer, not a 502.
  for _ in $(seq 600); do
    [ -S "$RUN/app.sock" ] && [ -S "$RUN/events.sock" ] && return 0
    sleep 0.1
  done
}

start_front() {
  # The three processes, each added to the caller's `children`.
  front_config
  PHONETOOL_BIND="unix:$RUN/app.sock" \
    "$VENV/bin/gunicorn" --config python:phonetool.gunicorn_conf &
  children+=($!)
  PHONETOOL_BIND="unix:$RUN/events.sock" \
    "$VENV/bin/gunicorn" --config python:phonetool.gunicorn_events_conf &
  children+=($!)
  wait_for_sockets
  /usr/sbin/nginx -p "$RUN" -c "$RUN/nginx.conf" -g "daemon off;" &
  children+=($!)
}
