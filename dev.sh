#!/usr/bin/env bash
# docbox developer entry point. Needs only python3 (>= 3.11) and git; everything else
# (uv, the workspace's packages, the Debian packages the tests start) it installs itself.
#
#   ./dev.sh demo [args]      run the whole system on this machine (docbox demo)
#   ./dev.sh test [args]      ruff + mypy + pytest (args go to pytest); what CI runs
#   ./dev.sh pytest [args]    pytest only
#   ./dev.sh lint             ruff check + mypy
#   ./dev.sh fmt              ruff format + ruff check --fix
#   ./dev.sh sync             set up the environment only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

TOOLS_DIR="$ROOT/.tools"
BOOTSTRAP_VENV="$TOOLS_DIR/venv"
MIN_PYTHON="3.11"

# Debian packages whose programs the tests start as real servers (DESIGN.md, principle 8).
# Extend as the tests grow: influxdb, chromium, docker-compose, ...
TEST_DEB_PACKAGES=(mosquitto postgresql influxdb docker-compose chromium npm)
# A package counts as present when its program is on PATH, however it was installed (npm, say,
# often comes with a Node.js from elsewhere, and Debian's npm package would conflict with it).
declare -A TEST_DEB_COMMANDS=([mosquitto]=mosquitto [influxdb]=influxd [docker-compose]=docker-compose
  [chromium]=chromium [npm]=npm)

# What mypy (strict, configured in pyproject.toml) checks.
MYPY_PATHS=(protocol/src edge/src cloud/src provisioning/src demo/src tests)

# No interpreter downloads: uses the machine's Python (downloads fail here anyway).
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"

UV=""
APT_UPDATED=0

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'dev.sh: error: %s\n' "$*" >&2
  exit 1
}
is_root() { [[ "$(id -u)" -eq 0 ]]; }

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    die "apt-get not found; install these packages with your package manager: $*"
  fi
  if ! is_root; then
    die "missing Debian packages: $*
  install them with:  sudo apt-get install $*
  (or run this command as root, which installs them)"
  fi
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Use-Pty=0 "$@" </dev/null
}

deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

find_python() {
  local candidate
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c "import sys; sys.exit(sys.version_info < (${MIN_PYTHON/./, }))" 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  die "Python >= $MIN_PYTHON not found on PATH (Debian: sudo apt-get install python3)"
}

# Installs uv into .tools/venv with pip, for machines that have no uv yet.
bootstrap_uv() {
  local python
  python="$(find_python)"
  mkdir -p "$TOOLS_DIR"
  if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    # Debian's python3 has no venv/ensurepip without this package.
    if is_root && command -v apt-get >/dev/null 2>&1; then
      apt_install python3-venv
    else
      die "Python's venv module is missing, needed to install uv.
  install it with:  sudo apt-get install python3-venv
  (or install uv yourself and put it on PATH)"
    fi
  fi
  if [[ ! -x "$BOOTSTRAP_VENV/bin/python" ]] || ! "$BOOTSTRAP_VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$BOOTSTRAP_VENV" # a half-made one from an interrupted run
    say "creating $BOOTSTRAP_VENV"
    "$python" -m venv "$BOOTSTRAP_VENV"
  fi
  say "installing uv into $BOOTSTRAP_VENV"
  "$BOOTSTRAP_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.5"
}

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then
    UV="$(command -v uv)"
  elif [[ -x "$BOOTSTRAP_VENV/bin/uv" ]]; then
    UV="$BOOTSTRAP_VENV/bin/uv"
  else
    bootstrap_uv
    [[ -x "$BOOTSTRAP_VENV/bin/uv" ]] || die "uv was not installed into $BOOTSTRAP_VENV"
    UV="$BOOTSTRAP_VENV/bin/uv"
  fi
}

# Makes uv trust the system's CA store, as pip and git do, not only its bundled roots:
# networks that inspect TLS put their CA there. Newer uv renamed the variable.
trust_system_certs() {
  if [[ -n "${UV_SYSTEM_CERTS:-}${UV_NATIVE_TLS:-}" ]]; then
    return 0
  fi
  if "$UV" help sync 2>/dev/null | grep -q -- '--system-certs'; then
    export UV_SYSTEM_CERTS=true
  else
    export UV_NATIVE_TLS=true
  fi
}

ensure_env() {
  ensure_uv
  trust_system_certs
  local args=(sync --all-packages)
  if [[ -f uv.lock ]]; then
    args+=(--frozen)
  fi
  if ! "$UV" "${args[@]}"; then
    die "'uv ${args[*]}' failed"
  fi
}

ensure_test_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian system: make sure these are installed: ${TEST_DEB_PACKAGES[*]}"
    return 0
  fi
  local missing=() package
  for package in "${TEST_DEB_PACKAGES[@]}"; do
    local program="${TEST_DEB_COMMANDS[$package]:-}"
    if [[ -n "$program" ]] && command -v "$program" >/dev/null 2>&1; then
      continue
    fi
    deb_installed "$package" || missing+=("$package")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
  fi
}

run() { "$UV" run --no-sync "$@"; }

# Runs ruff and mypy; returns non-zero if either failed (both always run).
lint() {
  local status=0 paths=() path
  say "ruff check"
  run ruff check . || status=1
  for path in "${MYPY_PATHS[@]}"; do
    if [[ -e "$path" ]]; then paths+=("$path"); fi
  done
  say "mypy ${paths[*]}"
  run mypy "${paths[@]}" || status=1
  return "$status"
}

run_pytest() {
  say "pytest $*"
  local status=0
  run pytest "$@" || status=$?
  if [[ "$status" -eq 5 ]]; then
    printf 'dev.sh: error: pytest collected no tests (exit code 5): that counts as a failure\n' >&2
    return 1
  fi
  return "$status"
}

usage() {
  sed -n '2,11s/^# \{0,1\}//p' "$0"
}

main() {
  local command="${1:-help}"
  if [[ $# -gt 0 ]]; then shift; fi
  case "$command" in
    demo)
      ensure_env
      exec "$UV" run --no-sync docbox demo "$@"
      ;;
    test)
      ensure_env
      ensure_test_packages
      local lint_status=0 test_status=0
      lint || lint_status=1
      run_pytest "$@" || test_status=$?
      if [[ "$lint_status" -ne 0 ]]; then
        printf 'dev.sh: error: lint failed (ruff or mypy, see above)\n' >&2
        exit 1
      fi
      exit "$test_status"
      ;;
    pytest)
      ensure_env
      ensure_test_packages
      run_pytest "$@"
      ;;
    lint)
      ensure_env
      lint
      ;;
    fmt)
      ensure_env
      run ruff format .
      run ruff check --fix .
      ;;
    sync)
      ensure_env
      ;;
    help | -h | --help)
      usage
      ;;
    *)
      usage >&2
      die "unknown command: $command"
      ;;
  esac
}

main "$@"
