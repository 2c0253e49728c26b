"""Settings for Agent Studio, read from the environment (12-factor, django-environ).

Without DATABASE_URL and CELERY_BROKER_URL the studio runs on the embedded default:
SQLite in WAL mode and kombu's filesystem transport under ``var/``.
"""

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from limits import parse_many

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("AGENTSTUDIO_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _embedded_secret_key() -> str:
    """A per-checkout random key kept under var/, so no secret ever lives in the repo."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _embedded_secret_key()
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (README, "Production settings"); off by default so a local checkout works ------
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# The probes are asked over plain HTTP by the orchestrator, past the proxy: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
# "HEADER,value", e.g. "HTTP_X_FORWARDED_PROTO,https": set it only behind a proxy that
# overwrites that header, or a client could claim HTTPS.
_proxy_ssl_header = env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        'DJANGO_SECURE_PROXY_SSL_HEADER is "HEADER,value", e.g. "HTTP_X_FORWARDED_PROTO,https"'
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "agentstudio.accounts",
    "agentstudio.audit",
    "agentstudio.billing",
    "agentstudio.ops",
    "agentstudio.api",
    "playbooks",
    "approvals",
    "tools",
]

MIDDLEWARE = [
    "agentstudio.middleware.RequestIdMiddleware",
    "agentstudio.middleware.BodySizeLimitMiddleware",
    "agentstudio.middleware.UnstorableInputMiddleware",
    "agentstudio.ratelimits.middleware.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "agentstudio.urls"
WSGI_APPLICATION = "agentstudio.wsgi.application"
ASGI_APPLICATION = "agentstudio.asgi.application"

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
                "approvals.admin_inbox.approvals_awaiting",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
EMBEDDED_DATABASE = not env.str("DATABASE_URL", default="")
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web process read while the worker writes; IMMEDIATE makes a
            # writing transaction take the lock up front instead of failing half-way.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The ORM's statements stay unprepared (Django's default), but psycopg honours an
    # explicit `execute(..., prepare=True)` only when the connection has a threshold: the
    # engine's hot statements ask for it (engine/store/postgres.py, lease.py), so set one that no
    # statement reaches by repetition.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and Celery -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Longer than any run-engine time slice, so a slow slice is never redelivered twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Workers keep their database connection across tasks instead of reconnecting (~4.6 ms)
# for every doorbell; Django's own health checks still apply on reuse.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=200)

# --- Auth, i18n, static -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["agentstudio.formats"]  # admin times read "8 Dec 2026 14:03 UTC"
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the admin's favicon
MEDIA_ROOT = VAR_DIR / "media"
LOGIN_URL = "/admin/login/"

# Request bodies: JSON and YAML up to 1 MiB (413 above). In multipart bodies each file is
# capped by AGENTSTUDIO_ARTIFACT_MAX_BYTES, the other fields together by the JSON limit, and
# the envelope by both (at most AGENTSTUDIO_UPLOAD_MAX_FILES files); see body_limits.py.
AGENTSTUDIO_MAX_JSON_BODY_BYTES = env.int("AGENTSTUDIO_MAX_JSON_BODY_BYTES", default=1024 * 1024)
AGENTSTUDIO_ARTIFACT_MAX_BYTES = env.int("AGENTSTUDIO_ARTIFACT_MAX_BYTES", default=50 * 1024**2)
AGENTSTUDIO_UPLOAD_MAX_FILES = env.int("AGENTSTUDIO_UPLOAD_MAX_FILES", default=20)
DATA_UPLOAD_MAX_MEMORY_SIZE = AGENTSTUDIO_MAX_JSON_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FILES = AGENTSTUDIO_UPLOAD_MAX_FILES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Agent Studio policy ----------------------------------------------------------------
AGENTSTUDIO_PROMOTION_MAX_AUTO_STEPS = env.int("AGENTSTUDIO_PROMOTION_MAX_AUTO_STEPS", default=10)
AGENTSTUDIO_PROMOTION_APPROVAL_TTL_SECONDS = env.int(
    "AGENTSTUDIO_PROMOTION_APPROVAL_TTL_SECONDS", default=7 * 24 * 3600
)
AGENTSTUDIO_APPROVAL_TTL_SECONDS = env.int("AGENTSTUDIO_APPROVAL_TTL_SECONDS", default=3600)
# Notifications of new and soon-expiring approvals: a signed webhook (when a URL is set) and
# e-mail to the organization's deciders through Django's mail backend (EMAIL_URL).
AGENTSTUDIO_APPROVAL_WEBHOOK_URL = env.str("AGENTSTUDIO_APPROVAL_WEBHOOK_URL", default="")
AGENTSTUDIO_APPROVAL_WEBHOOK_SECRET = env.str("AGENTSTUDIO_APPROVAL_WEBHOOK_SECRET", default="")
AGENTSTUDIO_APPROVAL_REMIND_BEFORE_SECONDS = env.int(
    "AGENTSTUDIO_APPROVAL_REMIND_BEFORE_SECONDS", default=600
)
AGENTSTUDIO_PUBLIC_URL = env.str("AGENTSTUDIO_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip(
    "/"
)
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="agent-studio@localhost")
AGENTSTUDIO_HTTP_ALLOW = env.list("AGENTSTUDIO_HTTP_ALLOW", default=[])
AGENTSTUDIO_BLUEPRINT_DIR = BASE_DIR / "playbooks" / "blueprints"
AGENTSTUDIO_DEMO_CREDIT_USD = env.str("AGENTSTUDIO_DEMO_CREDIT_USD", default="100.00")

# --- Run engine -------------------------------------------------------------------------
AGENTSTUDIO_WORKSPACE_ROOT = Path(
    env.str("AGENTSTUDIO_WORKSPACE_ROOT", default=str(MEDIA_ROOT / "runs"))
)
# A worker advances a run for at most one slice, then re-enqueues it (fairness).
AGENTSTUDIO_RUN_SLICE_SECONDS = env.float("AGENTSTUDIO_RUN_SLICE_SECONDS", default=10.0)
# A worker's lease on a run: its heartbeat thread renews it every third of this while a
# slice runs (however long a step takes), so a live worker never loses its run to another;
# a dead worker's lease expires within this and beat rings for the run again.
AGENTSTUDIO_RUN_LEASE_SECONDS = env.int("AGENTSTUDIO_RUN_LEASE_SECONDS", default=15)
AGENTSTUDIO_STEP_TIMEOUT_SECONDS = env.float("AGENTSTUDIO_STEP_TIMEOUT_SECONDS", default=120.0)
AGENTSTUDIO_STALLED_RUN_SECONDS = env.int("AGENTSTUDIO_STALLED_RUN_SECONDS", default=30)
# A run whose slice dies with an error this many times in a row at the same step fails,
# instead of being re-enqueued by beat forever.
AGENTSTUDIO_RUN_SLICE_FAILURES_MAX = env.int("AGENTSTUDIO_RUN_SLICE_FAILURES_MAX", default=3)
AGENTSTUDIO_TOOL_MODULES = env.list("AGENTSTUDIO_TOOL_MODULES", default=[])
# Folders of skills (Agent Skills format); the shipped ones live in skills/.
AGENTSTUDIO_SKILL_DIRS = [
    Path(folder)
    for folder in env.list("AGENTSTUDIO_SKILL_DIRS", default=[str(BASE_DIR / "skills")])
]
# Run scope tokens (JWT, HS256): signed with this key, else with SECRET_KEY.
AGENTSTUDIO_SCOPE_TOKEN_KEY = env.str("AGENTSTUDIO_SCOPE_TOKEN_KEY", default="")
AGENTSTUDIO_SCOPE_TOKEN_TTL_SECONDS = env.int("AGENTSTUDIO_SCOPE_TOKEN_TTL_SECONDS", default=3600)
# Vault: Fernet keys, newest first (older ones still decrypt); empty: derived from SECRET_KEY.
AGENTSTUDIO_VAULT_KEYS = env.list("AGENTSTUDIO_VAULT_KEYS", default=[])
# `provider: default` without an organization default: the organization's provider of this name.
AGENTSTUDIO_DEFAULT_MODEL_PROVIDER = env.str("AGENTSTUDIO_DEFAULT_MODEL_PROVIDER", default="")
# The price of a model the price table does not know (USD per million tokens); its usage
# records are flagged `price_fallback`.
AGENTSTUDIO_FALLBACK_INPUT_USD_PER_MTOK = env.str(
    "AGENTSTUDIO_FALLBACK_INPUT_USD_PER_MTOK", default="10"
)
AGENTSTUDIO_FALLBACK_OUTPUT_USD_PER_MTOK = env.str(
    "AGENTSTUDIO_FALLBACK_OUTPUT_USD_PER_MTOK", default="30"
)
# The output tokens a model call may produce when its spec sets no `model.max_tokens`.
AGENTSTUDIO_DEFAULT_MAX_OUTPUT_TOKENS = env.int(
    "AGENTSTUDIO_DEFAULT_MAX_OUTPUT_TOKENS", default=4096
)

# Rate limits (agentstudio.ratelimits), in the `limits` notation ("10 per 10 seconds; 30 per
# minute": every window must hold); each key has its own counters, shared through Redis when
# REDIS_URL is set, else per process. An empty value switches that limit off.
AGENTSTUDIO_RATE_LIMIT_AI_SERVICES = env.str(  # per user
    "AGENTSTUDIO_RATE_LIMIT_AI_SERVICES", default="10 per 10 seconds; 30 per minute"
)
AGENTSTUDIO_RATE_LIMIT_AI_SERVICES_ORG = env.str(  # per organization
    "AGENTSTUDIO_RATE_LIMIT_AI_SERVICES_ORG", default="10 per 10 seconds; 30 per minute"
)
AGENTSTUDIO_RATE_LIMIT_RUN_STARTS = env.str(  # per user
    "AGENTSTUDIO_RATE_LIMIT_RUN_STARTS", default="120 per minute"
)
AGENTSTUDIO_RATE_LIMIT_RUN_STARTS_ORG = env.str(  # per organization
    "AGENTSTUDIO_RATE_LIMIT_RUN_STARTS_ORG", default="600 per minute"
)
AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS = env.str(  # per run (its scope token), REST and MCP
    "AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS", default="600 per minute"
)
AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS_ORG = env.str(  # per organization
    "AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS_ORG", default="3000 per minute"
)
# The first part of every limiter key in Redis (deployments sharing one Redis keep theirs apart).
AGENTSTUDIO_RATE_LIMIT_PREFIX = env.str("AGENTSTUDIO_RATE_LIMIT_PREFIX", default="agentstudio")

# A limit the `limits` notation cannot read stops the start, not the first request.
_RATE_LIMIT_SETTINGS = [
    "AGENTSTUDIO_RATE_LIMIT_AI_SERVICES",
    "AGENTSTUDIO_RATE_LIMIT_AI_SERVICES_ORG",
    "AGENTSTUDIO_RATE_LIMIT_RUN_STARTS",
    "AGENTSTUDIO_RATE_LIMIT_RUN_STARTS_ORG",
    "AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS",
    "AGENTSTUDIO_RATE_LIMIT_TOOL_CALLS_ORG",
]
for _name in _RATE_LIMIT_SETTINGS:
    if vars()[_name].strip():
        try:
            parse_many(vars()[_name])
        except ValueError as _exc:
            raise ImproperlyConfigured(f"{_name}: {_exc} (write e.g. '30 per minute')") from _exc

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agentstudio.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["agentstudio.accounts.permissions.IsOrganizationMember"],
    "DEFAULT_PAGINATION_CLASS": "agentstudio.api.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "agentstudio.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's parsers plus refusing NUL, lone surrogates and too-deep JSON (400, with a path)
    "DEFAULT_PARSER_CLASSES": [
        "agentstudio.api.request_checks.CheckedJSONParser",
        "agentstudio.api.request_checks.CheckedFormParser",
        "agentstudio.api.request_checks.CheckedMultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Agent Studio API",
    "DESCRIPTION": "Author, govern and run AI-agent Playbooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH views validate with the same serializer as create (required fields stay required)
    "COMPONENT_SPLIT_PATCH": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "agentstudio.api.schema.error_responses",
    ],
    # Swagger UI assets ship in a package, so /api/v1/docs/ works with no outside network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging: JSON lines, each carrying the request id ----------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
from agentstudio.logging import logging_config  # noqa: E402

LOGGING = logging_config(level=LOG_LEVEL)

CELERY_BEAT_SCHEDULE = {
    "approvals-expire-overdue": {"task": "approvals.expire_overdue", "schedule": 30.0},
    "approvals-remind-expiring": {"task": "approvals.remind_expiring", "schedule": 60.0},
    "approvals-escalate-due": {"task": "approvals.escalate_due", "schedule": 30.0},
    "runs-requeue-stalled": {
        "task": "runs.requeue_stalled",
        "schedule": env.float("AGENTSTUDIO_REQUEUE_INTERVAL_SECONDS", default=5.0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
