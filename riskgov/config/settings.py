"""riskgov settings: one module, driven by the environment.

With nothing set, riskgov runs on the **embedded default**: a SQLite file under ``var/``
and Celery in eager mode (tasks run in-process, no broker). Point it at real services with
``DATABASE_URL=postgres://…`` and ``CELERY_BROKER_URL=redis://…``. Production differs only by
environment (``DEBUG=False`` switches on the HTTPS/cookie hardening that
``manage.py check --deploy`` asks for). ``.env.example`` lists every variable.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A developer may keep local values in .env (never committed); the environment wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Default for the embedded mode only; production must set its own (check --deploy says so).
_INSECURE_KEY = "django-insecure-riskgov-embedded-default-change-me"

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=_INSECURE_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

VAR_DIR = Path(env.str("RISKGOV_VAR_DIR", default=str(BASE_DIR / "var")))
DATA_DIR = Path(env.str("RISKGOV_DATA_DIR", default=str(BASE_DIR / "data")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from the package: /api/v1/docs/ works offline
    "django_celery_beat",
    "django_celery_results",
    "riskgov.core",
    "riskgov.markets",
    "riskgov.parameters",
    "riskgov.governance",
    "riskgov.portfolio",
    "riskgov.snapshots",
    "riskgov.health",
    "riskgov.reports",
    "riskgov.alerts",
    "riskgov.web",
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
    "riskgov.core.middleware.RequestIdMiddleware",
]

ROOT_URLCONF = "riskgov.config.urls"
WSGI_APPLICATION = "riskgov.config.wsgi.application"
ASGI_APPLICATION = "riskgov.config.asgi.application"

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
                "riskgov.core.context_processors.roles",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'riskgov.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server read while a health run writes (embedded default).
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL;")
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 30)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ],
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "riskgov" / "web" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Email ------------------------------------------------------------------------------
# Console backend by default; SMTP (or any backend) by EMAIL_URL, e.g. smtp+tls://u:p@host:587
_email = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(_email)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="riskgov <riskgov@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Absolute base of the links in e-mails (governance notifications, alerts): scheme://host[:port]
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")

# --- Input bounds (riskgov.core.limits) -------------------------------------------------
# Every file riskgov reads is refused, with one line naming the file and the setting, when it
# breaks one of these (bytes unless noted): a file on disk (price, venue, parameter and
# snapshot files; sparse files count at their apparent size), a snapshot archive's or a
# gunzipped file's uncompressed bytes, a snapshot archive's member count, one CSV field,
# one CSV row (snapshot tables, price, venue and history files), a JSON document's size and
# its nesting depth (levels).
RISKGOV_MAX_FILE_BYTES = env.int("RISKGOV_MAX_FILE_BYTES", default=1 << 30)
RISKGOV_MAX_UNCOMPRESSED_BYTES = env.int("RISKGOV_MAX_UNCOMPRESSED_BYTES", default=1 << 30)
RISKGOV_MAX_ZIP_MEMBERS = env.int("RISKGOV_MAX_ZIP_MEMBERS", default=64)
RISKGOV_MAX_CSV_FIELD_BYTES = env.int("RISKGOV_MAX_CSV_FIELD_BYTES", default=1 << 20)
RISKGOV_MAX_CSV_ROW_BYTES = env.int("RISKGOV_MAX_CSV_ROW_BYTES", default=4 << 20)
RISKGOV_MAX_JSON_BYTES = env.int("RISKGOV_MAX_JSON_BYTES", default=64 << 20)
RISKGOV_MAX_JSON_DEPTH = env.int("RISKGOV_MAX_JSON_DEPTH", default=64)
RISKGOV_MAX_PARQUET_ROWS = env.int("RISKGOV_MAX_PARQUET_ROWS", default=5_000_000)

# --- Reports (riskgov.reports) and alerts (riskgov.alerts) -------------------------------
# Archived report files go under MEDIA_ROOT/reports/ (served only through role-checked views).
RISKGOV_REPORT_ROLES = env.list("RISKGOV_REPORT_ROLES", default=["committee", "admin"])
# Staleness limits (hours): unset = the defaults declared once in riskgov.health.selectors
# (STALE_AFTER_HOURS 26, MAX_PRICE_AGE_HOURS 48), read through freshness_limits().
RISKGOV_REPORT_MAX_RUN_AGE_HOURS = env.float("RISKGOV_REPORT_MAX_RUN_AGE_HOURS", default=None)
RISKGOV_REPORT_MAX_PRICE_AGE_HOURS = env.float("RISKGOV_REPORT_MAX_PRICE_AGE_HOURS", default=None)
# "kaleido" (PNG through Chromium, SVG fallback when it cannot run) or "svg" (no browser)
RISKGOV_REPORT_CHARTS = env.str("RISKGOV_REPORT_CHARTS", default="kaleido")

# --- Celery -----------------------------------------------------------------------------
_BROKER = env.str("CELERY_BROKER_URL", default="")
# Embedded default: no broker -> tasks run eagerly in-process (the in-memory transport is
# named only so that kombu has something to point at; nothing is sent through it).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not _BROKER)
CELERY_BROKER_URL = _BROKER or "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
# Eager tasks a page starts (a proposal's impact run) run in a daemon thread of the served
# process instead of inside the request (riskgov.core.background); the tests turn it off.
RISKGOV_EAGER_BACKGROUND = env.bool("RISKGOV_EAGER_BACKGROUND", default=CELERY_TASK_ALWAYS_EAGER)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_BROKER or "django-db")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies within RISKGOV_MAX_JSON_BYTES / RISKGOV_MAX_JSON_DEPTH (400, never a 500)
    "DEFAULT_PARSER_CLASSES": [
        "riskgov.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "riskgov.core.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "riskgov API",
    "DESCRIPTION": "Margin parameters, governance and venue health for a derivatives venue.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's JS/CSS from drf-spectacular-sidecar (static files), never a CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ProposalStatusEnum": "riskgov.governance.models.ProposalStatus",
        "VersionStatusEnum": "riskgov.parameters.models.VersionStatus",
    },
}

# === Governance security (issue 13) — own block; keep it together ============================
# Production must bring its own key: the public embedded default is refused with DEBUG off
# (``check --deploy`` also reports it, but a server must not even start with it).
if not DEBUG and SECRET_KEY == _INSECURE_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY is not set: production (DEBUG=False) refuses the public default key")

# Login throttling and lock-out (django-axes): per user name and per client address, both
# counted; a lock-out lasts AXES_COOLOFF_HOURS or until an admin unlocks it (admin "Access
# attempts", or ``manage.py axes_reset_username``). Lock-outs and login failures are audited
# (riskgov.core.auth_audit). Behind a proxy set AXES_IPWARE_PROXY_COUNT accordingly.
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one reaching the limit locks
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no start-up banner on stderr: commands print one line on failure

# Content-Security-Policy (django-csp) on every Django response; the Dash pages send the same
# policy with the hashes of Dash's inline scripts (dashboards.app). Inline <script> in our
# templates carries the request nonce; styles allow 'unsafe-inline' (Plotly sets style attributes).
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
INSTALLED_APPS.append("csp")
from csp.constants import NONCE  # noqa: E402 — a sentinel django-csp replaces by the request nonce

# No third-party origin: Swagger UI is served from the package (drf-spectacular-sidecar).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# The OpenAPI schema and its docs are for signed-in users with a riskgov role only.
SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] = ["riskgov.api.permissions.HasAnyRole"]
# === end of the governance security block ==================================================

# --- Security (production = DEBUG off) --------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Which mode we run in, shown in the UI footer and in `manage.py demo`.
RISKGOV_MODE = (
    "embedded (SQLite, Celery eager)"
    if DATABASES["default"]["ENGINE"].endswith("sqlite3") and CELERY_TASK_ALWAYS_EAGER
    else "full stack"
)

# === Health-run scenario families (RISK_MODEL §9, §10) =====================================
# Historical path families of the standard scenario set, in days (1 = every 1-day window of
# 24 hourly steps, family path_1d; 3 = every 3-day window of 72 steps, path_3d). The standard
# set keeps both; a smaller set (e.g. "1") only for machines where the 3-day family is too slow
# (or per run: `run_health --scenarios uniform,hist1,trend,path1`).
RISKGOV_HEALTH_PATH_HORIZONS = env.list("RISKGOV_HEALTH_PATH_HORIZONS", cast=int, default=[1, 3])

# Threads of each engine call (path and gap stress, base pass) in this process: 0 = min(4,
# cores). A host running N worker processes sets cores // N (and OPENBLAS_NUM_THREADS and
# OMP_NUM_THREADS the same: BLAS and Arrow pools), so N processes do not run more threads
# than the host has cores.
RISKGOV_ENGINE_THREADS = env.int("RISKGOV_ENGINE_THREADS", default=0)

# === Health-run lifecycle (riskgov.health: runs that always end) ===========================
# Accounts per chunk of a health run (API, scheduled, impact and `run_health` without
# --chunk-accounts).
RISKGOV_HEALTH_CHUNK_ACCOUNTS = env.int("RISKGOV_HEALTH_CHUNK_ACCOUNTS", default=250_000)
# Per chunk, the riskiest accounts whose result rows (and positions) stay in PostgreSQL, with
# every liquidatable/bankrupt one; all rows go to the run's Parquet files (media store).
RISKGOV_HEALTH_PG_TOP_ACCOUNTS = env.int("RISKGOV_HEALTH_PG_TOP_ACCOUNTS", default=1000)
# Time budget of one chunk: its soft time limit (hard = budget + 60 s) and, times the number
# of chunks, the run's deadline. Finalize (combine, cascade, §12, publish) has its own budget.
RISKGOV_HEALTH_CHUNK_BUDGET_SECONDS = env.int("RISKGOV_HEALTH_CHUNK_BUDGET_SECONDS", default=600)
RISKGOV_HEALTH_FINALIZE_BUDGET_SECONDS = env.int("RISKGOV_HEALTH_FINALIZE_BUDGET_SECONDS", default=1800)
# A run's deadline, seconds after it starts: 0 = derived, finalize budget + chunks × chunk
# budget (the worst case of one worker). Past it the sweep fails the run with the reason.
RISKGOV_HEALTH_RUN_DEADLINE_SECONDS = env.int("RISKGOV_HEALTH_RUN_DEADLINE_SECONDS", default=0)
# Workers beat each running chunk (and finalize) every HEARTBEAT seconds; a chunk whose beat
# (or, never started, whose message) is older than STALE seconds is lost: the sweep
# (`health.sweep`, beat, every minute) sends it again, at most MAX_REDISPATCH times, then
# fails the run with the reason.
RISKGOV_HEALTH_HEARTBEAT_SECONDS = env.float("RISKGOV_HEALTH_HEARTBEAT_SECONDS", default=30.0)
RISKGOV_HEALTH_STALE_SECONDS = env.float("RISKGOV_HEALTH_STALE_SECONDS", default=120.0)
RISKGOV_HEALTH_CHUNK_MAX_REDISPATCH = env.int("RISKGOV_HEALTH_CHUNK_MAX_REDISPATCH", default=3)
# A run still pending this long after it was created (its start message lost) is failed.
RISKGOV_HEALTH_START_TIMEOUT_SECONDS = env.int("RISKGOV_HEALTH_START_TIMEOUT_SECONDS", default=3600)
# Marking a run failed while the database is away: `health.fail` retries with exponential
# backoff (capped at 60 s) this many times; the sweep's deadline is the backstop.
RISKGOV_HEALTH_FAIL_MAX_RETRIES = env.int("RISKGOV_HEALTH_FAIL_MAX_RETRIES", default=30)
# Redis/SQS redeliver an unacknowledged (acks_late) message after the visibility timeout; it
# must exceed the longest task that holds one: finalize's hard limit (budget + 60 s), plus a
# margin. A lost worker is found sooner by the sweep (heartbeats), not by this timeout.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int(
        "RISKGOV_BROKER_VISIBILITY_TIMEOUT",
        default=max(RISKGOV_HEALTH_CHUNK_BUDGET_SECONDS, RISKGOV_HEALTH_FINALIZE_BUDGET_SECONDS) + 60 + 600,
    ),
}
# A submitted proposal's impact job that has not started its run this long after submission
# (or its last re-send) is lost: the sweep (`governance.impact_sweep`, beat, every minute)
# sends it again, at most MAX_REDISPATCH times, then freezes the reason as the impact. A
# finished impact run nobody froze COLLECT_STALE seconds after it ended is frozen by the sweep.
RISKGOV_IMPACT_START_TIMEOUT_SECONDS = env.int("RISKGOV_IMPACT_START_TIMEOUT_SECONDS", default=900)
RISKGOV_IMPACT_MAX_REDISPATCH = env.int("RISKGOV_IMPACT_MAX_REDISPATCH", default=2)
RISKGOV_IMPACT_COLLECT_STALE_SECONDS = env.int("RISKGOV_IMPACT_COLLECT_STALE_SECONDS", default=120)
# === end health-run lifecycle ==============================================================
