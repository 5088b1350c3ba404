"""Orion Ops settings: everything comes from environment variables.

With neither DATABASE_URL nor CELERY_BROKER_URL set, Orion Ops runs embedded:
SQLite and a filesystem broker under ``var/`` — no services needed. Production
sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis), SECRET_KEY,
ALLOWED_HOSTS and HTTPS=1. See the README's configuration table.
"""

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from orion_ops.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_str,
    redis_key_prefix_for,
    sqlite_database,
)
from orion_ops.logs import LOG_FORMATS, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ORION_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
DATABASE_URL = env_str("DATABASE_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not DATABASE_URL and not CELERY_BROKER_URL


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set in production")
    # Embedded mode keeps a generated key in var/ so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "orion_ops.apps.AdminConfig",  # django.contrib.admin with the sign-in lockout
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "incidents",
    "incidents.paging.apps.PagingConfig",
    "diagnostics",
]

MIDDLEWARE = [
    "orion_ops.middleware.RequestContextMiddleware",
    "incidents.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "orion_ops.middleware.RejectUnstorableTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "incidents.scoping.ScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "orion_ops.urls"
WSGI_APPLICATION = "orion_ops.wsgi.application"
# WSGI wrappers answering a few hot requests before Django's request cycle (orion_ops/wsgi.py).
WSGI_WRAPPERS = ["incidents.web.live.stamp_fast_path"]

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
                "csp.context_processors.nonce",
            ],
        },
    },
]

# Database -------------------------------------------------------------------
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=0)
if DATABASE_URL:
    DATABASES = {
        "default": database_from_url(
            DATABASE_URL,
            pool_max_size=DATABASE_POOL_MAX_SIZE,
            pool_timeout=env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        )
    }
else:
    DATABASES = {"default": sqlite_database(str(VAR_DIR / "orion.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every Redis key Orion Ops writes (cache, login throttle, circuit breakers, locks, the
# Celery queues and bindings) starts with this, so two instances can share one Redis
# database. The default follows the database name: staging and production differ.
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX") or redis_key_prefix_for(DATABASES["default"])

# Cache: shared by web and worker processes (login throttling, breakers).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# The image collects static files outside var/ (STATIC_ROOT=/app/static), so a volume on var/ does not hide them.
STATIC_ROOT = Path(env_str("STATIC_ROOT") or str(VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env_bool("ORION_PLAIN_STATIC", False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Security ---------------------------------------------------------------------
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
if env_bool("SECURE_PROXY_SSL_HEADER", HTTPS):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Reverse proxies in front of the app whose X-Forwarded-For entries are trusted (login throttling by address).
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0, minimum=0)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=60)
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Where pages open the dashboards' event stream (orion_ops.events, served by uvicorn): a path the
# ingress routes to that service ("/dashboard/events/") or a URL on another origin. Empty: pages
# check the change stamp every second instead.
LIVE_EVENTS_URL = env_str("LIVE_EVENTS_URL", "")
if LIVE_EVENTS_URL and (not LIVE_EVENTS_URL.startswith(("/", "http://", "https://")) or "?" in LIVE_EVENTS_URL):
    raise ImproperlyConfigured(
        f"LIVE_EVENTS_URL: expected a path or an http(s) URL without a query, got {LIVE_EVENTS_URL!r}"
    )
_LIVE_EVENTS_ORIGIN = "/".join(LIVE_EVENTS_URL.split("/")[:3]) if "://" in LIVE_EVENTS_URL else None

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Swagger UI sets inline styles on its elements; scripts stay strict.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", *([_LIVE_EVENTS_ORIGIN] if _LIVE_EVENTS_ORIGIN else [])],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Request bodies: alert storms send large webhooks (the intake enforces its own cap).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 16 * 1024 * 1024, minimum=1024)

# Alert intake ---------------------------------------------------------------
INTAKE_MAX_BODY_BYTES = env_int("INTAKE_MAX_BODY_BYTES", 16 * 1024 * 1024, minimum=1024)
# Bodies with at most this many alerts are processed before the answer (200);
# larger ones are stored, answered 202 and processed by a worker.
INTAKE_INLINE_MAX_ALERTS = env_int("INTAKE_INLINE_MAX_ALERTS", 100, minimum=0)
INTAKE_BATCH_ALERTS = env_int("INTAKE_BATCH_ALERTS", 1000, minimum=1)
INTAKE_PAYLOAD_RETENTION_DAYS = env_int("INTAKE_PAYLOAD_RETENTION_DAYS", 30, minimum=1)
INTAKE_RETRY_AFTER_SECONDS = env_int("INTAKE_RETRY_AFTER_SECONDS", 5, minimum=1)
# A stored payload that fails this many times is marked failed and no longer retried.
INTAKE_MAX_ATTEMPTS = env_int("INTAKE_MAX_ATTEMPTS", 5, minimum=1)

# REST API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "incidents.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["incidents.permissions.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["incidents.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "incidents.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "incidents.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "incidents.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Orion Ops API",
    "DESCRIPTION": "Incident management for services on Kubernetes, PostgreSQL and Prometheus.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "incidents.api.schema.json_schema_for_openapi_30",
    ],
    "ENUM_NAME_OVERRIDES": {
        "IncidentStatusEnum": "incidents.models.Status",
        "SeverityEnum": "incidents.models.Severity",
        "ResolutionEnum": "incidents.models.Resolution",
        "AlertStatusEnum": ["firing", "resolved"],
    },
}

# Tokens: how long a token's last_used_at may lag, to avoid a write per request.
API_TOKEN_TOUCH_SECONDS = env_int("API_TOKEN_TOUCH_SECONDS", 60, minimum=0)
IDEMPOTENCY_KEY_TTL_SECONDS = env_int("IDEMPOTENCY_KEY_TTL_SECONDS", 24 * 3600, minimum=60)
METRICS_TOKEN = env_str("METRICS_TOKEN")
# The OpenAPI schema and its docs page list every endpoint and field: public only
# when asked (or with DEBUG); otherwise for signed-in users and tokens with a role.
API_SCHEMA_PUBLIC = env_bool("API_SCHEMA_PUBLIC", DEBUG)

# Environment variables a diagnostic target may name as its secret (dsn_env,
# auth_header_env, ...), besides ORION_TARGET_*. Orion Ops' own settings are
# refused even when listed here (orion_ops.secret_env).
TARGET_SECRET_ENV = env_list("TARGET_SECRET_ENV")

# SLA: seconds to acknowledge, per severity (P0 "immediate" = 5 minutes).
SLA_ACK_SECONDS = {
    "P0": env_int("SLA_ACK_SECONDS_P0", 5 * 60, minimum=1),
    "P1": env_int("SLA_ACK_SECONDS_P1", 15 * 60, minimum=1),
    "P2": env_int("SLA_ACK_SECONDS_P2", 60 * 60, minimum=1),
    "P3": env_int("SLA_ACK_SECONDS_P3", 24 * 60 * 60, minimum=1),
}
SLA_CHECK_INTERVAL_SECONDS = env_int("SLA_CHECK_INTERVAL_SECONDS", 15, minimum=1)

# Teams: with TEAM_SCOPED=1, people see and act only on their teams' services' incidents
# (docs/teams.md); incidents of no team's service belong to the TRIAGE_TEAM.
TEAM_SCOPED = env_bool("TEAM_SCOPED", False)
TRIAGE_TEAM = env_str("TRIAGE_TEAM", "triage")

# Paging: escalation ticks, the outbox's retries, and where messages go.
PAGING_ESCALATION_INTERVAL_SECONDS = env_int("PAGING_ESCALATION_INTERVAL_SECONDS", 15, minimum=1)
PAGING_SEND_TIMEOUT_SECONDS = env_int("PAGING_SEND_TIMEOUT_SECONDS", 10, minimum=1)
PAGING_MAX_ATTEMPTS = env_int("PAGING_MAX_ATTEMPTS", 5, minimum=1)
PAGING_RETRY_BASE_SECONDS = env_int("PAGING_RETRY_BASE_SECONDS", 5, minimum=1)
PAGING_RETRY_MAX_SECONDS = env_int("PAGING_RETRY_MAX_SECONDS", 300, minimum=1)
# The sweep re-queues deliveries whose task was lost (the broker was down at commit, or a worker died):
# every PAGING_SWEEP_INTERVAL_SECONDS, rows due for longer than PAGING_SWEEP_GRACE_SECONDS.
PAGING_SWEEP_INTERVAL_SECONDS = env_int("PAGING_SWEEP_INTERVAL_SECONDS", 30, minimum=1)
PAGING_SWEEP_GRACE_SECONDS = env_int("PAGING_SWEEP_GRACE_SECONDS", 60, minimum=1)
# Links in messages and the iCal feed point here (e.g. https://orion.example.com).
ORION_BASE_URL = env_str("ORION_BASE_URL")
# Outbound webhooks are signed with each of these (comma-separated): add the new secret, then drop the old.
WEBHOOK_SIGNING_SECRETS = env_list("WEBHOOK_SIGNING_SECRETS")

# Email (paging and updates) through Django's SMTP backend.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
# Embedded with no mail server named: emails are written to the worker's log instead of failing.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if EMBEDDED and not env_str("EMAIL_HOST")
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "orion-ops@localhost")

# Post-incident review: severities whose fixed incidents get a report to review.
REPORT_SEVERITIES = env_list("REPORT_SEVERITIES", ["P0", "P1", "P2"])
# A report is approved by a manager other than the one who submitted it, unless this is on (one-person teams).
REPORT_SELF_APPROVAL = env_bool("REPORT_SELF_APPROVAL", False)
ACTION_ITEM_REMINDER_HOUR_UTC = env_int("ACTION_ITEM_REMINDER_HOUR_UTC", 8, minimum=0)

# Celery -----------------------------------------------------------------------
if CELERY_BROKER_URL:
    CELERY = {"broker_url": CELERY_BROKER_URL}
else:
    # Embedded: a broker that needs no server. Web and worker share the folder.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY = {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": str(_broker_dir / "queue"),
            "data_folder_out": str(_broker_dir / "queue"),
            "processed_folder": str(_broker_dir / "processed"),
            "control_folder": str(_broker_dir / "control"),
            "store_processed": False,
        },
    }
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
# A task whose worker dies under it is redelivered at most this many times, then given up (failed).
CELERY_MAX_REDELIVERIES = env_int("CELERY_MAX_REDELIVERIES", 3, minimum=0)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY["broker_transport_options"] = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        # Queues, unacked sets, bindings and (kombu prefixes them too) the control channel's topics.
        "global_keyprefix": f"{REDIS_KEY_PREFIX}:",
    }
CELERY.update(
    {
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "celery",
        "task_time_limit": env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1),
        "task_soft_time_limit": env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1),
        "task_always_eager": env_bool("CELERY_TASK_ALWAYS_EAGER", False),
        "broker_connection_retry_on_startup": True,
        "beat_schedule_filename": str(VAR_DIR / "celerybeat-schedule"),
        "timezone": "UTC",
        # The periodic tasks are registered by each app in its AppConfig.ready().
    }
)

# Logging --------------------------------------------------------------------
# plain: "time level logger message [request_id=… task_id=…]"; json: one JSON object per line.
# Secrets are redacted from every line either way (orion_ops.logs).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").strip().lower() or "plain"
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT: expected one of {', '.join(LOG_FORMATS)}, got {LOG_FORMAT!r}")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))
