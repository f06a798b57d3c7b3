#!/usr/bin/env bash
# Set up and run every check: lint, format, migrations, deploy check, the test suite on
# PostgreSQL (127.0.0.1:5432, user postgres; it creates its own test database) and on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
source .venv/bin/activate

# The browser tests drive Debian's Chromium through Playwright (no browser download).
if ! command -v chromium >/dev/null; then
  echo "test: installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
unset DATABASE_URL REDIS_URL DEBUG SECRET_KEY ALLOWED_HOSTS CSRF_TRUSTED_ORIGINS
unset SECURE_SSL_REDIRECT SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SECURE_HSTS_SECONDS \
  SECURE_HSTS_INCLUDE_SUBDOMAINS SECURE_HSTS_PRELOAD BEHIND_TLS_PROXY

echo "== ruff"
ruff check .
ruff format --check .

echo "== migrations"
python manage.py makemigrations --check --dry-run

# Only the variables the README's "Production" section asks for: HTTPS, Secure cookies and HSTS
# must be on by default. (The PostgreSQL URL is not used by the check; it is set as production sets it.)
echo "== deploy check (production settings)"
DEBUG=false \
SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
ALLOWED_HOSTS=tracker.example.com CSRF_TRUSTED_ORIGINS=https://tracker.example.com \
DATABASE_URL=postgres://tracker@127.0.0.1:5432/tracker \
  python manage.py check --deploy --fail-level WARNING

PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tracker}
if ! python - "$PG_URL" <<'PY'
import sys, psycopg
url = sys.argv[1].rsplit("/", 1)[0] + "/postgres"
try:
    psycopg.connect(url, connect_timeout=5).close()
except Exception as exc:
    sys.exit(f"PostgreSQL is not reachable at {url}: {exc}")
PY
then
  echo "test: PostgreSQL is required for the test suite" >&2; exit 1
fi

echo "== tests on PostgreSQL"
DATABASE_URL="$PG_URL" pytest -q "$@"

echo "== tests on SQLite"
pytest -q -m "not postgres_only" "$@"

# Short versions of the load and fault runs (about 3 minutes together); README "Load and faults"
# (bench/README.md) gives the full ones and the soak. Both use PostgreSQL on 127.0.0.1:5432 for
# their own databases (tracker_load*); the fault run also starts a private PostgreSQL and a
# private redis-server of its own.
echo "== load: mixed API workload on gunicorn + PostgreSQL, then a consistency check (short)"
python bench/load_mixed.py --short

echo "== faults: cluster and one worker killed mid-pull, PostgreSQL and Redis restarted under load (short)"
python bench/faults.py --short
