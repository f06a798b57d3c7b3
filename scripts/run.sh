#!/usr/bin/env bash
# Set up, migrate, seed the demo data and run the web server and the django-q2 cluster together.
# Defaults: SQLite in var/, ORM broker, demo connectors, http://127.0.0.1:8000 (TRACKER_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
# With DEBUG off the settings assume HTTPS behind a proxy (README, "Production"). This command
# serves plain HTTP on a laptop, so it switches that off; each can still be set in the shell.
export SECURE_SSL_REDIRECT=${SECURE_SSL_REDIRECT:-false} SESSION_COOKIE_SECURE=${SESSION_COOKIE_SECURE:-false}
export CSRF_COOKIE_SECURE=${CSRF_COOKIE_SECURE:-false} SECURE_HSTS_SECONDS=${SECURE_HSTS_SECONDS:-0}
export BEHIND_TLS_PROXY=${BEHIND_TLS_PROXY:-false}
echo "run: plain HTTP for this machine: SECURE_SSL_REDIRECT=$SECURE_SSL_REDIRECT SESSION_COOKIE_SECURE=$SESSION_COOKIE_SECURE" \
  "CSRF_COOKIE_SECURE=$CSRF_COOKIE_SECURE SECURE_HSTS_SECONDS=$SECURE_HSTS_SECONDS BEHIND_TLS_PROXY=$BEHIND_TLS_PROXY (not for production)"
python manage.py migrate --noinput
python manage.py collectstatic --noinput -v0
python manage.py seed_demo
python manage.py setup_schedules
echo "Starting web on http://${TRACKER_HOST:-127.0.0.1}:${TRACKER_PORT:-8000} and the task cluster (Ctrl-C stops both)"
exec honcho start -f Procfile
