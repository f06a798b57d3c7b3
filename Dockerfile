# syntax=docker/dockerfile:1
# Tracker's production image: the README's "Production" steps, nothing more.
#   build:   pip install -r requirements.txt, npm ci, collectstatic
#   release: python manage.py migrate   (tables and schedules; compose.yaml: "release")
#   run:     gunicorn (sync workers; the default command) or python manage.py qcluster
# Settings come from the environment at run time (DEBUG=false, SECRET_KEY, ALLOWED_HOSTS,
# CSRF_TRUSTED_ORIGINS, DATABASE_URL, REDIS_URL, ...: see .env.example).

# --- Front-end packages: npm from Debian's packages, only in this stage --------------------
FROM python:3.11-slim AS frontend
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# --- The application ------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEB_CONCURRENCY=5
RUN useradd --system --create-home --uid 10001 --user-group tracker
WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# node_modules/ stays in the image: the staticfiles finder and its system check (run by
# `migrate` too) read the pinned front-end files from it.
COPY --from=frontend /app/node_modules ./node_modules
# Static files are collected into the image (whitenoise serves them from the app process).
# No secret is needed to collect; this throwaway key never reaches a running container.
RUN DEBUG=false SECRET_KEY=collectstatic-at-build-time-only python manage.py collectstatic --noinput

# The code is root's and read-only for the app; it writes nothing to /app with PostgreSQL.
USER tracker
EXPOSE 8000
# gunicorn reads its number of workers from WEB_CONCURRENCY (5 unless set).
CMD ["gunicorn", "tracker_project.wsgi:application", "--worker-class", "sync", "--bind", "0.0.0.0:8000", \
     "--access-logfile", "-"]
