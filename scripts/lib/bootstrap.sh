# Sourced by the scripts: installs the system packages and the Python environment they need.
# Idempotent: a second run only checks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  # Installs the Debian packages named, if any is missing.
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

python_env() {
  # Creates .venv and installs Flask-Handoff (the repository's root) and the service
  # (service/, with the given extras: "dev", "dev,bench"), every version from the lock,
  # constraints.txt.
  # Under scripts/test (HANDOFF_PYTHON_READY=1, set once its own install is done) the
  # environment is left alone: a test that starts another script must not reinstall
  # the package beneath the tests running beside it.
  local extras="${1:-}"
  if [ "${HANDOFF_PYTHON_READY:-}" = 1 ] && [ -x "$VENV/bin/python" ]; then
    return 0
  fi
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  local target="$ROOT/service" log="$VENV/pip-install.log"
  [ -n "$extras" ] && target="$ROOT/service[$extras]"
  echo "installing Python packages into .venv (log: .venv/pip-install.log)" >&2
  # uv installs the lock (pip took ~35 s resolving, unpacking and compiling it; uv ~11 s);
  # pip, which the venv brings, installs only uv, at the lock's version. Compiled now:
  # where PYTHONDONTWRITEBYTECODE is set, a module without its .pyc is compiled again in
  # every process that imports it (~0.5 s of CPU per process start).
  if ! { "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
           -c "$ROOT/constraints.txt" uv &&
         "$VENV/bin/uv" pip install --compile-bytecode --python "$VENV/bin/python" \
           -c "$ROOT/constraints.txt" -e "$ROOT" -e "$target"; } \
       >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "installing failed; the full log is in .venv/pip-install.log" >&2
    return 1
  fi
  # Fail here, not later, if the install broke.
  "$VENV/bin/python" -c 'import flask_handoff, phonetool'
}
