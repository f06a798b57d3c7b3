"""Tracker settings: one file, every deployment difference comes from the environment.

See `.env.example` for every variable with a comment.
"""

from __future__ import annotations

import re
import sys
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
    "csp",
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
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tracker_project.middleware.TrailingSlashMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "accounts.middleware.StaffMfaRequiredMiddleware",
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
# SQLAlchemy-style URLs name the driver after a "+" (postgresql+psycopg2://, postgresql+psycopg://);
# django-environ would take the whole scheme as the engine's name, so the driver is dropped
# (Django's PostgreSQL backend uses psycopg 3 whichever one is named). Lower case: not a setting,
# so the password in it never shows on a debug page.
_database_url = re.sub(r"^(postgres(?:ql)?)\+psycopg2?://", r"\1://", env.str("DATABASE_URL", default=""))
DATABASES = {"default": env.db_url_config(_database_url or f"sqlite:///{SQLITE_PATH}")}
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
# Shared across processes in both modes: Redis when REDIS_URL is set, else a database table,
# which a migration creates (accounts/migrations/0003_cache_table.py), so `migrate` is the only
# database step of a release.
DATABASE_CACHE_TABLE = "tracker_cache"
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
            "LOCATION": DATABASE_CACHE_TABLE,
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
# true: a staff user (or superuser) without an authenticator app is sent to set one up before any
# dashboard or admin page, and the API refuses their session (403 MFA_REQUIRED); API keys are
# separate credentials and keep working.
MFA_REQUIRED_FOR_STAFF = env.bool("MFA_REQUIRED_FOR_STAFF", default=False)
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
# The pinned front-end packages come straight from node_modules/ (after `npm ci`) under
# `vendor/...`, so `collectstatic` is the only static step; a system check names `npm ci` when
# they are missing (tracker_project/frontend.py).
STATICFILES_FINDERS = [
    "tracker_project.frontend.NodeModulesFinder",
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]
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
# Secure by default: with DEBUG off, HTTPS is assumed (a TLS-terminating proxy in front, which
# says so in X-Forwarded-Proto), so plain-HTTP requests are redirected to https, cookies are
# Secure-only and HSTS is sent for a year. Each is switched off by its own variable; the laptop
# run command (scripts/run.sh, plain HTTP on 127.0.0.1) switches them all off and says so.
SECURE_BY_DEFAULT = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SECURE_BY_DEFAULT)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE_BY_DEFAULT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE_BY_DEFAULT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if SECURE_BY_DEFAULT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE_BY_DEFAULT)
# Preload stays opt-in: the preload list is for a whole registered domain (every subdomain must
# serve HTTPS, not only Tracker's), takes months to leave, and anyone may submit a domain whose
# header says "preload". Tracker usually runs on a subdomain, which the list does not take
# anyway. So Django's "preload not set" warning (W021) is silenced: it is a choice, not an omission.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS += ["security.W021"]
# Trust X-Forwarded-Proto: https from the proxy. The proxy must set (overwrite) that header; a
# client reaching the app directly could otherwise claim https, which only spares it the redirect.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=SECURE_BY_DEFAULT) else None
)
# Load balancers probe health over plain HTTP, often without X-Forwarded-Proto: a redirect
# would read as "down". The health answer carries no cookie and no secret (paths without the
# leading slash, as SecurityMiddleware matches them).
SECURE_REDIRECT_EXEMPT = [r"^health/?$", r"^api/v1/health/?$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles, fonts and fetches from this origin only;
# no inline script, no inline style (the templates carry no <script> body, on*= handler,
# javascript: URL or style attribute; htmx's injected indicator style is turned off in base.html),
# no eval. data: images are Bootstrap's inline SVG icons in its CSS and allauth's TOTP QR code.
# The API docs page (Swagger UI, served from ninja's own static files) needs nothing more.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
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
# `migrate` installs or updates the django-q2 schedules (integrations/apps.py). The test suite
# (which imports pytest) and the bench switch it off: they install the schedules they need.
SCHEDULES_AUTO_INSTALL = env.bool("SCHEDULES_AUTO_INSTALL", default="pytest" not in sys.modules)
# Web Push (W3C Push API with VAPID, RFC 8292): `python manage.py generate_vapid_keys` prints a
# pair. Without both keys push is off and the settings page says so. The subject is a mailto: or
# https: contact the push services (Google, Mozilla, Apple, Microsoft) can reach about misuse.
WEBPUSH_VAPID_PUBLIC_KEY = env.str("WEBPUSH_VAPID_PUBLIC_KEY", default="")
WEBPUSH_VAPID_PRIVATE_KEY = env.str("WEBPUSH_VAPID_PRIVATE_KEY", default="")
WEBPUSH_SUBJECT = env.str("WEBPUSH_SUBJECT", default="mailto:tracker@localhost")
WEBPUSH_TTL = env.int("WEBPUSH_TTL", default=24 * 3600)  # seconds a push service keeps a message
WEBPUSH_TIMEOUT = env.float("WEBPUSH_TIMEOUT", default=10.0)
# The browser vendors' push services (Chrome and Chromium-based browsers: FCM; Firefox: Mozilla's
# autopush; Safari: Apple's; Edge on Windows: WNS). A subscription elsewhere is refused, since the
# server POSTs to it. A leading dot allows any host under that domain.
WEBPUSH_ALLOWED_HOSTS = env.list(
    "WEBPUSH_ALLOWED_HOSTS",
    default=["fcm.googleapis.com", "updates.push.services.mozilla.com", ".push.apple.com", ".notify.windows.com"],
)
# Push services are always HTTPS; tests point subscriptions at a plain-HTTP fake on loopback.
WEBPUSH_ALLOW_LOOPBACK_HTTP = env.bool("WEBPUSH_ALLOW_LOOPBACK_HTTP", default=False)

# --- Sponsor task sources and the shared sync machinery -------------------------------------
# A platform without credentials runs in demo mode against its built-in simulator.
SALESFORCE_INSTANCE_URL = env.str("SALESFORCE_INSTANCE_URL", default="")
SALESFORCE_ACCESS_TOKEN = env.str("SALESFORCE_ACCESS_TOKEN", default="")
SALESFORCE_API_VERSION = env.str("SALESFORCE_API_VERSION", default="64.0")
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
# Circuit breaker of the scheduled syncs (integrations/breaker.py): failed runs in a row that
# pause a scope's schedule, and the longest back-off between probe runs.
SYNC_BREAKER_THRESHOLD = env.int("SYNC_BREAKER_THRESHOLD", default=5)
SYNC_BREAKER_MAX_MINUTES = env.int("SYNC_BREAKER_MAX_MINUTES", default=60)

# --- Leads: the Google Sheet, synced both ways (a built-in demo sheet while GOOGLE_SHEET_ID is unset)
GOOGLE_SHEET_ID = env.str("GOOGLE_SHEET_ID", default="")
GOOGLE_SHEET_WORKSHEET = env.str("GOOGLE_SHEET_WORKSHEET", default="Leads")
GOOGLE_SHEETS_BASE_URL = env.str("GOOGLE_SHEETS_BASE_URL", default="https://sheets.googleapis.com")
# A field changed on both sides since the last sync: "sheet" wins, "tracker" wins, or "review"
# (held on both sides until a person picks one in the conflict inbox).
LEADS_CONFLICT_RULE = env.str("LEADS_CONFLICT_RULE", default="review")

# --- Ad platforms (campaign metrics; demo simulators while credentials are empty) ---------
META_API_VERSION = env.str("META_API_VERSION", default="v23.0")
META_GRAPH_BASE_URL = env.str("META_GRAPH_BASE_URL", default=f"https://graph.facebook.com/{META_API_VERSION}")
META_ACCESS_TOKEN = env.str("META_ACCESS_TOKEN", default="")
META_AD_ACCOUNT_ID = env.str("META_AD_ACCOUNT_ID", default="")
GOOGLE_ADS_BASE_URL = env.str("GOOGLE_ADS_BASE_URL", default="https://googleads.googleapis.com")
GOOGLE_ADS_API_VERSION = env.str("GOOGLE_ADS_API_VERSION", default="v22")
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

# --- Connections: platform accounts with encrypted credentials and refreshed tokens ---------
# Fernet keys, comma-separated: the first encrypts, all decrypt (rotate_credentials_key).
CREDENTIALS_KEYS = [key for key in env.list("CREDENTIALS_KEYS", default=[]) if key]
# An access token is refreshed when it expires within this many seconds.
CONNECTION_REFRESH_MARGIN = env.int("CONNECTION_REFRESH_MARGIN", default=300)
# A long-lived token (Meta) warns staff this many days before it expires.
CONNECTION_EXPIRY_WARNING_DAYS = env.int("CONNECTION_EXPIRY_WARNING_DAYS", default=7)
SALESFORCE_CLIENT_ID = env.str("SALESFORCE_CLIENT_ID", default="")
SALESFORCE_CLIENT_SECRET = env.str("SALESFORCE_CLIENT_SECRET", default="")
SALESFORCE_LOGIN_URL = env.str("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com")
GOOGLE_CLIENT_ID = env.str("GOOGLE_CLIENT_ID", default="")
GOOGLE_CLIENT_SECRET = env.str("GOOGLE_CLIENT_SECRET", default="")
GOOGLE_AUTH_URL = env.str("GOOGLE_AUTH_URL", default="https://accounts.google.com/o/oauth2/v2/auth")
GOOGLE_TOKEN_URL = env.str("GOOGLE_TOKEN_URL", default="https://oauth2.googleapis.com/token")
GOOGLE_REVOKE_URL = env.str("GOOGLE_REVOKE_URL", default="https://oauth2.googleapis.com/revoke")
ASANA_CLIENT_ID = env.str("ASANA_CLIENT_ID", default="")
ASANA_CLIENT_SECRET = env.str("ASANA_CLIENT_SECRET", default="")
ASANA_OAUTH_URL = env.str("ASANA_OAUTH_URL", default="https://app.asana.com/-/")
META_APP_ID = env.str("META_APP_ID", default="")
META_APP_SECRET = env.str("META_APP_SECRET", default="")
META_DIALOG_URL = env.str("META_DIALOG_URL", default=f"https://www.facebook.com/{META_API_VERSION}/dialog/oauth")
TIKTOK_APP_ID = env.str("TIKTOK_APP_ID", default="")
TIKTOK_APP_SECRET = env.str("TIKTOK_APP_SECRET", default="")
TIKTOK_AUTH_URL = env.str("TIKTOK_AUTH_URL", default="https://business-api.tiktok.com/portal/auth")
# Connect from the dashboard: Google's OpenID userinfo names the account that consented.
GOOGLE_USERINFO_URL = env.str("GOOGLE_USERINFO_URL", default="https://openidconnect.googleapis.com/v1/userinfo")

# --- Demo -----------------------------------------------------------------------------------
DEMO_USERNAME = env.str("DEMO_USERNAME", default="demo")
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="tracker-demo")
