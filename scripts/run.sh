#!/usr/bin/env bash
# Set up, migrate, seed the demo data and run the web server and the django-q2 cluster together.
# Defaults: SQLite in var/, ORM broker, demo connectors, http://127.0.0.1:8000 (TRACKER_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
python manage.py migrate --noinput
python manage.py collectstatic --noinput -v0
python manage.py seed_demo
python manage.py setup_schedules
echo "Starting web on http://${TRACKER_HOST:-127.0.0.1}:${TRACKER_PORT:-8000} and the task cluster (Ctrl-C stops both)"
exec honcho start -f Procfile
