# Sourced by scripts/serve and scripts/scale: phonetool's front door on this machine.
# nginx listens on 127.0.0.1:$PORT and hands whole requests to gunicorn on a Unix socket;
# open job pages go to the events process (gunicorn with gevent). deploy/nginx.conf.in is
# the configuration; the process ids are added to the caller's `children`.
set -euo pipefail

start_front() {
  local run="$PHONETOOL_INSTANCE/run" user_line=""
  mkdir -p "$run/nginx"
  rm -f "$run/app.sock" "$run/events.sock"
  # As root, nginx's workers take another account unless told: this one, which can
  # read the sockets and the static files.
  [ "$(id -u)" = 0 ] && user_line="user $(id -un);"
  sed -e "s|@RUN@|$run|g" \
      -e "s|@USER_LINE@|$user_line|" \
      -e "s|@LISTEN@|127.0.0.1:$PORT|" \
      -e "s|@STATIC@|$ROOT/src/phonetool/static|" \
      -e "s|@MAX_UPLOAD_MB@|${PHONETOOL_MAX_UPLOAD_MB:-200}|g" \
      -e "s|@HEADER_TIMEOUT@|${PHONETOOL_PROXY_HEADER_TIMEOUT:-10}|" \
      -e "s|@BODY_TIMEOUT@|${PHONETOOL_PROXY_BODY_TIMEOUT:-20}|" \
      "$ROOT/deploy/nginx.conf.in" >"$run/nginx.conf"
  /usr/sbin/nginx -t -q -p "$run" -c "$run/nginx.conf"

  export PHONETOOL_PROXY_HOPS=1  # X-Forwarded-* come from nginx, and only from it
  PHONETOOL_BIND="unix:$run/app.sock" \
    "$VENV/bin/gunicorn" --config python:phonetool.gunicorn_conf &
  children+=($!)
  PHONETOOL_BIND="unix:$run/events.sock" \
    "$VENV/bin/gunicorn" --config python:phonetool.gunicorn_events_conf &
  children+=($!)
  # nginx last, once both servers listen: its first client gets an answer, not a 502.
  for _ in $(seq 600); do
    [ -S "$run/app.sock" ] && [ -S "$run/events.sock" ] && break
    sleep 0.1
  done
  /usr/sbin/nginx -p "$run" -c "$run/nginx.conf" -g "daemon off;" &
  children+=($!)
}
