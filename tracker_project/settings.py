"""Tracker settings: one file, every deployment difference comes from the environment.

See `.env.example` for every variable with a comment.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str(
    "SECRET_KEY",
    default="django-insecure-development-key-set-SECRET_KEY-in-production-0123456789abcdef",
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = [o for o in env.list("CSRF_TRUSTED_ORIGINS", default=[]) if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_q",
    "ninja",
    "accounts",
    "integrations",
    "sponsors",
    "leads",
    "tasks",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "accounts.middleware.ApiErrorEnvelopeMiddleware",
]

ROOT_URLCONF = "tracker_project.urls"
WSGI_APPLICATION = "tracker_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tasks.context_processors.notifications",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Default: an embedded SQLite file in var/. SQLite is tuned so the web process and the django-q2
# cluster can write at once: WAL journal, a busy timeout, and IMMEDIATE transactions so a writer
# takes the lock at BEGIN instead of failing half-way with "database is locked".
SQLITE_PATH = VAR_DIR / "tracker.sqlite3"
DATABASES = {"default": env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"),
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# SQLite cannot create the deferred (status, position) unique constraint; there every write is
# serialised by IMMEDIATE transactions, which keeps positions unique without it.
SILENCED_SYSTEM_CHECKS = ["models.W038"]

# --- Cache (allauth login rate limits, API rate limits) -------------------------------------
# Shared across processes in both modes: Redis when REDIS_URL is set, else a database table.
REDIS_URL = env.str("REDIS_URL", default="")
# Seconds a Redis connect or reply may take before the call fails (then the API answers without
# rate limiting, or 503 where Redis is needed). redis-py's own default is 5 s; a request should
# not wait that long for a counter.
REDIS_TIMEOUT = env.float("REDIS_TIMEOUT", default=2.0)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tracker"),
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "tracker_cache",
        }
    }

# --- django-q2 ------------------------------------------------------------------------------
# retry must exceed timeout, or a long task is handed to a second worker while still running.
# A job whose worker died (killed, out of memory) is not acknowledged, and the ORM broker hands it
# out again `retry` seconds after it was taken; the job locks (tasks/jobs.py) expire between the
# two. At least 10 s apart: a timed-out worker is killed up to ~4 s after `timeout`.
Q_TIMEOUT = env.int("Q_TIMEOUT", default=300)
Q_RETRY = Q_TIMEOUT + max(10, env.int("Q_RETRY_MARGIN", default=60))
Q_CLUSTER = {
    "name": "tracker",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TIMEOUT,
    "retry": Q_RETRY,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 500,
    "queue_limit": 50,
    "label": "Task queue",
    "orm": "default",
    "poll": 1,
}
if REDIS_URL:
    Q_CLUSTER.pop("orm")
    # The same timeouts for the broker (the pusher's BLPOP waits 1 s, so replies get longer).
    Q_CLUSTER["redis"] = (
        f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}"
        f"socket_connect_timeout={REDIS_TIMEOUT:g}&socket_timeout={REDIS_TIMEOUT + 3:g}"
    )
# A cluster whose heartbeat is older than this is reported "down" by the health endpoints.
Q_HEARTBEAT_MAX_AGE = env.int("Q_HEARTBEAT_MAX_AGE", default=90)

# --- Auth (django-allauth) ------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="none")
ACCOUNT_ALLOW_SIGNUP = env.bool("ACCOUNT_ALLOW_SIGNUP", default=True)
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LOGIN_RATE_LIMIT", default="10/m/ip,5/5m/key"),
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
# With verification off, an unverified address must not block setting up two-factor auth.
MFA_ALLOW_UNVERIFIED_EMAIL = ACCOUNT_EMAIL_VERIFICATION == "none"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Tracker"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API ------------------------------------------------------------------------------------
# Requests per window per API key (or per signed-in user), e.g. "600/60" = 600 per minute.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/60")

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tracker <tracker@localhost>")

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str("STATICFILES_BACKEND", default="")
        or (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# --- Reminders, notifications, enrichment ---------------------------------------------------
# Absolute base URL used in emails and webhooks to link back to a task.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
ENRICHMENT_BASE_URL = env.str("ENRICHMENT_BASE_URL", default="https://jsonplaceholder.typicode.com")
ENRICHMENT_TIMEOUT = env.float("ENRICHMENT_TIMEOUT", default=5.0)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=5.0)
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=5)
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
DIGEST_HOUR = env.int("DIGEST_HOUR", default=8)

# --- Sponsor task sources and the shared sync machinery -------------------------------------
# A platform without credentials runs in demo mode against its built-in simulator.
SALESFORCE_INSTANCE_URL = env.str("SALESFORCE_INSTANCE_URL", default="")
SALESFORCE_ACCESS_TOKEN = env.str("SALESFORCE_ACCESS_TOKEN", default="")
SALESFORCE_API_VERSION = env.str("SALESFORCE_API_VERSION", default="62.0")
ASANA_BASE_URL = env.str("ASANA_BASE_URL", default="https://app.asana.com/api/1.0")
ASANA_ACCESS_TOKEN = env.str("ASANA_ACCESS_TOKEN", default="")
GOOGLE_CALENDAR_BASE_URL = env.str("GOOGLE_CALENDAR_BASE_URL", default="https://www.googleapis.com/calendar/v3")
GOOGLE_ACCESS_TOKEN = env.str("GOOGLE_ACCESS_TOKEN", default="")
GOOGLE_SERVICE_ACCOUNT_FILE = env.str("GOOGLE_SERVICE_ACCOUNT_FILE", default="")
SYNC_HTTP_TIMEOUT = env.float("SYNC_HTTP_TIMEOUT", default=30.0)
SYNC_MAX_ATTEMPTS = env.int("SYNC_MAX_ATTEMPTS", default=5)
SYNC_BACKOFF_BASE = env.float("SYNC_BACKOFF_BASE", default=1.0)
SYNC_BACKOFF_MAX = env.float("SYNC_BACKOFF_MAX", default=60.0)
SYNC_MAX_RETRY_AFTER = env.float("SYNC_MAX_RETRY_AFTER", default=300.0)
SYNC_STALE_AFTER = env.int("SYNC_STALE_AFTER", default=600)
SYNC_REQUEUE_AFTER = env.int("SYNC_REQUEUE_AFTER", default=300)
SYNC_RUN_RETENTION_DAYS = env.int("SYNC_RUN_RETENTION_DAYS", default=30)
SYNC_QUIET_RUN_RETENTION_HOURS = env.int("SYNC_QUIET_RUN_RETENTION_HOURS", default=24)
SYNC_JOBS_INLINE = env.bool("SYNC_JOBS_INLINE", default=False)

# --- Leads: the Google Sheet, synced both ways (a built-in demo sheet while GOOGLE_SHEET_ID is unset)
GOOGLE_SHEET_ID = env.str("GOOGLE_SHEET_ID", default="")
GOOGLE_SHEET_WORKSHEET = env.str("GOOGLE_SHEET_WORKSHEET", default="Leads")
GOOGLE_SHEETS_BASE_URL = env.str("GOOGLE_SHEETS_BASE_URL", default="https://sheets.googleapis.com")
# A field changed on both sides since the last sync: "sheet" wins, "tracker" wins, or "review"
# (held on both sides until a person picks one in the conflict inbox).
LEADS_CONFLICT_RULE = env.str("LEADS_CONFLICT_RULE", default="review")

# --- Ad platforms (campaign metrics; demo simulators while credentials are empty) ---------
META_GRAPH_BASE_URL = env.str("META_GRAPH_BASE_URL", default="https://graph.facebook.com/v21.0")
META_ACCESS_TOKEN = env.str("META_ACCESS_TOKEN", default="")
META_AD_ACCOUNT_ID = env.str("META_AD_ACCOUNT_ID", default="")
GOOGLE_ADS_BASE_URL = env.str("GOOGLE_ADS_BASE_URL", default="https://googleads.googleapis.com")
GOOGLE_ADS_API_VERSION = env.str("GOOGLE_ADS_API_VERSION", default="v21")
GOOGLE_ADS_CUSTOMER_ID = env.str("GOOGLE_ADS_CUSTOMER_ID", default="")
GOOGLE_ADS_LOGIN_CUSTOMER_ID = env.str("GOOGLE_ADS_LOGIN_CUSTOMER_ID", default="")
GOOGLE_ADS_DEVELOPER_TOKEN = env.str("GOOGLE_ADS_DEVELOPER_TOKEN", default="")
GOOGLE_ADS_ACCESS_TOKEN = env.str("GOOGLE_ADS_ACCESS_TOKEN", default="")
TIKTOK_BASE_URL = env.str("TIKTOK_BASE_URL", default="https://business-api.tiktok.com")
TIKTOK_ACCESS_TOKEN = env.str("TIKTOK_ACCESS_TOKEN", default="")
TIKTOK_ADVERTISER_ID = env.str("TIKTOK_ADVERTISER_ID", default="")
TIKTOK_CURRENCY = env.str("TIKTOK_CURRENCY", default="USD")
CAMPAIGN_LOOKBACK_DAYS = env.int("CAMPAIGN_LOOKBACK_DAYS", default=7)
CAMPAIGN_REVISION_THRESHOLD = env.str("CAMPAIGN_REVISION_THRESHOLD", default="0.10")

# --- Demo -----------------------------------------------------------------------------------
DEMO_USERNAME = env.str("DEMO_USERNAME", default="demo")
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="tracker-demo")
