#!/usr/bin/env bash
# Set-up step shared by the run and test commands. Idempotent and quick when nothing changed:
# a virtualenv in .venv with the pinned Python packages and the pinned front-end packages from
# package-lock.json in node_modules/ (served as static/vendor/... by a staticfiles finder, so
# collectstatic picks them up: tracker_project/frontend.py).
#   scripts/setup.sh         runtime packages
#   scripts/setup.sh --dev   runtime + test/tooling packages
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
REQ=requirements.txt
[ "${1:-}" = "--dev" ] && REQ=requirements-dev.txt

if ! command -v "$PYTHON" >/dev/null; then
  echo "setup: $PYTHON not found; install Python 3.11 first" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
STAMP=".venv/.installed-$(cat "$REQ" requirements.txt | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  echo "setup: installing Python packages from $REQ"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$REQ"
  touch "$STAMP"
fi

if ! command -v npm >/dev/null; then
  echo "setup: npm not found; installing Debian's nodejs and npm"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm >/dev/null
  fi
fi
NPM_STAMP="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$NPM_STAMP" ]; then
  echo "setup: installing front-end packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$NPM_STAMP"
fi
# Older versions copied the front-end files into static/vendor/; node_modules/ is the one source now.
rm -rf static/vendor
mkdir -p var
