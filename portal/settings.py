"""Django settings for the migration portal.

Everything that differs between a laptop and production comes from the environment (12-factor, django-environ).
With DJANGO_DEBUG=true and nothing else the portal runs embedded (SQLite, django-q2's ORM broker, local-memory
cache, development keys); without it, it is production and refuses to start without its keys.
"""

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

# Production unless asked otherwise: `make run` and `make test` ask with DJANGO_DEBUG=true.
DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _required_in_production(name: str, development_default):
    """A key the portal refuses to start without in production; development gets a fixed, public stand-in."""
    value = env.list(name, default=[]) if isinstance(development_default, list) else env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return development_default
    raise ImproperlyConfigured(
        f"{name} is not set. The portal needs it in production (DJANGO_DEBUG is not true): set it in the "
        "environment or in .env beside manage.py (README, Production configuration)."
    )


_DEV_SECRET = "dev-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = _required_in_production("SECRET_KEY", _DEV_SECRET)
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Connector tokens are signed with their own key so that a leaked connector key cannot forge sessions
# or password resets, and rotating one does not log everybody out.
CONNECTOR_SIGNING_KEY = _required_in_production("CONNECTOR_SIGNING_KEY", "dev-connector-" + SECRET_KEY)
CONNECTOR_TOKEN_MAX_AGE = env.int("CONNECTOR_TOKEN_MAX_AGE", default=300)
CONNECTOR_SIGNING_KEY_FALLBACKS = env.list("CONNECTOR_SIGNING_KEY_FALLBACKS", default=[])
# A connector agent's one-time registration code works this long after an administrator created it.
AGENT_REGISTRATION_CODE_SECONDS = env.int("AGENT_REGISTRATION_CODE_SECONDS", default=3600)
# How often an agent reports when it has nothing else to say (the portal tells it, at registration and each beat).
AGENT_HEARTBEAT_SECONDS = env.int("AGENT_HEARTBEAT_SECONDS", default=20)
# How often it reports while the portal holds its request for work: that request keeps its contact and rings as soon
# as the portal has something for the agent that only a heartbeat's answer carries (migrations_app.work_board), and
# the agent reports at once when what it reports changes; so this beat is a safety net only. 1,000 idle agents then
# send a heartbeat every few seconds between them rather than 50 a second (bench/connectors.py).
AGENT_POLLING_HEARTBEAT_SECONDS = env.int("AGENT_POLLING_HEARTBEAT_SECONDS", default=3600)
# How long a presigned UploadPart URL handed to an agent lives (S3 allows up to 7 days; we allow 15 minutes at most).
AGENT_PRESIGN_SECONDS = min(env.int("AGENT_PRESIGN_SECONDS", default=900), 900)
# How often a migration waiting for its connector agent refreshes what it says (online, offline since ...).
AGENT_STATUS_SECONDS = env.float("AGENT_STATUS_SECONDS", default=15.0)
# The longest an agent's request for work is held open while there is none (long poll). Each answer costs the portal
# a request's CPU, so the longer the cheaper (1,000 idle agents: 20 requests a second at 50 s, 8 at 120 s); but an
# agent that vanished without closing its connection is seen as online until its hold ends. At most 600 s; agents
# ask for what heartbeat answers say.
AGENT_WORK_WAIT_SECONDS = min(env.float("AGENT_WORK_WAIT_SECONDS", default=120.0), 600.0)
# A hold longer than this sends the agent a space every this many seconds until its answer (JSON allows leading
# whitespace): proxies and load balancers between agents and portal close a connection idle for their timeout (often
# 60 s, HAProxy's examples 30 s), and a byte resets it. Keep it under the shortest such timeout on the path.
AGENT_WORK_KEEPALIVE_SECONDS = max(env.float("AGENT_WORK_KEEPALIVE_SECONDS", default=20.0), 1.0)
# How often each web process's work board asks the database, for all its waiting agents at once, which migrations
# have become claimable (migrations_app.work_board): a waiting migration is taken within about this much (0.5 s keeps
# the pickup's p95 under a second with 1,000 waiting agents, bench/connectors.py, at half the looks of 0.25 s).
AGENT_WORK_BOARD_SECONDS = env.float("AGENT_WORK_BOARD_SECONDS", default=0.5)
# How often an agent reads its vCenter's inventory (VMs and the mapped users' export privileges) and reports it; a
# refresh a user asks for rings the agent's request for work, and its next heartbeat takes it. Older than
# AGENT_INVENTORY_STALE_SECONDS (three periods unless set), the VM list says it is stale.
AGENT_INVENTORY_SECONDS = env.int("AGENT_INVENTORY_SECONDS", default=300)
AGENT_INVENTORY_STALE_SECONDS = env.int("AGENT_INVENTORY_STALE_SECONDS", default=3 * AGENT_INVENTORY_SECONDS)
# The largest inventory an agent may report: VMs, and bytes of the request (read before its signature is checked,
# so only for a request naming a serving agent beyond Django's DATA_UPLOAD_MAX_MEMORY_SIZE).
AGENT_INVENTORY_MAX_VMS = env.int("AGENT_INVENTORY_MAX_VMS", default=20000)
AGENT_INVENTORY_MAX_BYTES = env.int("AGENT_INVENTORY_MAX_BYTES", default=16 * 1024 * 1024)


def _fernet_key_from(secret: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode()


# Tenant secrets (AWS keys, vCenter passwords) are encrypted at rest with these keys; the first one encrypts,
# all of them decrypt, so keys can be rotated by prepending a new one.
FIELD_ENCRYPTION_KEYS = _required_in_production(
    "FIELD_ENCRYPTION_KEYS", [_fernet_key_from("field-encryption:" + SECRET_KEY)]
)
for _position, _key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS: key {_position} is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens: django-rest-knox keeps a SHA-512 digest and a clear prefix only. DRF's authtoken stays installed
    # for the migration that moves its tokens over (portal 0006) and holds no rows after it.
    "rest_framework.authtoken",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "guardian",
    "axes",
    "django_q",
    "django_htmx",
    "django_tables2",
    # Layers, bottom up: the core (app label "portal", so no table was renamed), environments, the feature
    # apps, and the site that composes them. `make test` checks the import direction (.importlinter).
    "core.apps.CoreConfig",
    "core.observability.apps.ObservabilityConfig",
    "core.notifications.apps.NotificationsConfig",
    "core.connectors.apps.ConnectorsConfig",
    "environments",
    "migrations_app",
    "migrations_app.plans",
    "exports",
    "lifecycle",
    "portal.site.apps.SiteConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.auth.DeactivatedTenantMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.RequestContextMiddleware",
    # Request id (X-Request-ID), tenant and user for every log line, the access log line and request latency.
    "core.observability.middleware.RequestObservabilityMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.site.context.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # Workers and the web process share the file: wait for locks instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    # A file, not memory, so that worker threads and worker processes started by tests share the test database.
    # Named per test session so that two test runs on one machine never share (and destroy) one file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-portal-{os.getpid()}.sqlite3")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# PostgreSQL: each web or worker process shares a pool of at most this many connections among its threads
# (Django's pool, psycopg_pool) instead of opening one per request. Set it when the web processes run many threads
# (agents' long polls, README): a burst of requests then waits for a connection rather than exceeding the server's
# max_connections, and no request pays for a new connection. 0: a connection per request, as Django does by default.
DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=0)
if DATABASE_POOL_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DATABASE_POOL_SIZE,
                                                              "timeout": 30}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if env.str("REDIS_URL", default=""):
    CACHES = {"default": env.cache_url("REDIS_URL", backend="django_redis.cache.RedisCache")}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    "core.auth.LoginLockoutBackend",
    "core.auth.PortalModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ui:home"
LOGOUT_REDIRECT_URL = "login"

# The portal has no anonymous access; guardian would otherwise create an AnonymousUser row.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Every django-tables2 table is striped unless its Meta says otherwise (the stylesheet's look for lists).
DJANGO_TABLES2_TABLE_ATTRS = {"class": "striped"}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.ExpiringTokenAuthentication",
        "core.api.authentication.PortalSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.IsTenantMember"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": env.str("LOGIN_THROTTLE_RATE", default="20/min"),
                               # registration codes are guessed by nobody (256 bits), but each try costs a lookup
                               "agent-register": env.str("AGENT_REGISTER_THROTTLE_RATE", default="20/min")},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    "EXCEPTION_HANDLER_CLASS": "core.api.exceptions.PortalExceptionHandler",
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "406", "409", "415", "429", "500", "502"],
    "ERROR_SCHEMAS": {
        "409": "core.api.schema.ErrorResponse409Serializer",
        "502": "core.api.schema.ErrorResponse502Serializer",
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VM migration portal API",
    "DESCRIPTION": "Migrate vCenter VMs to Amazon EC2 and export EC2 instances to S3, per tenant and environment.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AuditActionEnum": "core.audit_actions.action_choices",
        "TenantRoleEnum": "core.roles.TenantRole",
        "EnvironmentRoleEnum": "environments.choices.EnvironmentRole",
        "NotificationEventEnum": "core.notifications.choices.event_choices",
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum.choices",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
    },
    "POSTPROCESSING_HOOKS": ["drf_standardized_errors.openapi_hooks.postprocess_schema_enums"],
}

# Peers. Unset endpoints mean the real AWS; the sandbox sets them to its moto server.
AWS_ENDPOINT_URL = env.str("AWS_ENDPOINT_URL", default="") or None
# CA certificates (PEM) the AWS endpoint's HTTPS certificate must chain to: botocore's own bundle when unset; the
# sandbox's self-signed CA when AWS_ENDPOINT_URL is the HTTPS sandbox.
AWS_CA_BUNDLE = env.str("AWS_CA_BUNDLE", default="") or None
AWS_DEFAULT_REGION = env.str("AWS_DEFAULT_REGION", default="us-east-1")

# django-q2: ORM broker by default (tasks enqueued in the same transaction as the job row). `retry` must exceed
# `timeout`, or the broker hands a still-running tick to a second worker. A disk transfer is one long tick, so
# the timeout is generous; resuming a job whose worker died is the reconciler's work (job leases), not q2's
# redelivery, which only comes after `retry` and then finds the job leased or finished.
Q_CLUSTER = {
    "name": "portal",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=6 * 3600),
    "retry": env.int("Q_RETRY", default=6 * 3600 + 600),
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 250,
    "catch_up": False,
    "orm": "default",
    "poll": 0.5,
}
if env.str("Q_REDIS_URL", default=""):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = env.str("Q_REDIS_URL")

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# One line per event: JSON (LOG_FORMAT=json, the default in production) or text (the default with DJANGO_DEBUG),
# each carrying the request id, tenant, user and job it belongs to. A job's own lines are also kept for its detail
# page and API: the last JOB_LOG_MAX_LINES per job (core.observability).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
JOB_LOG_MAX_LINES = env.int("JOB_LOG_MAX_LINES", default=200)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.observability.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "core.observability.logs.JsonFormatter"},
        "text": {"()": "core.observability.logs.TextFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
        "job_log": {"()": "core.observability.logs.JobLogHandler"},
    },
    "root": {"handlers": ["console", "job_log"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Migrations. A tenant runs at most this many migrations at once per region (AMP: 4); AWS allows 5 active
# VM imports per region. Leases: a worker renews its job lease every MIGRATION_LEASE_SECONDS / 4.
MIGRATION_MAX_ACTIVE_PER_REGION = env.int("MIGRATION_MAX_ACTIVE_PER_REGION", default=4)
MIGRATION_AWS_MAX_ACTIVE_IMPORTS = env.int("MIGRATION_AWS_MAX_ACTIVE_IMPORTS", default=5)
MIGRATION_LEASE_SECONDS = env.int("MIGRATION_LEASE_SECONDS", default=60)
MIGRATION_POLL_SECONDS = env.float("MIGRATION_POLL_SECONDS", default=10.0)
MIGRATION_TICK_BUDGET_SECONDS = env.float("MIGRATION_TICK_BUDGET_SECONDS", default=60.0)
MIGRATION_PART_SIZE = env.int("MIGRATION_PART_SIZE", default=32 * 1024 * 1024)
# S3's minimum part size (all parts but the last); not configurable: only tests lower it, together with the sandbox.
MIGRATION_S3_MIN_PART_SIZE = 5 * 1024 * 1024
MIGRATION_UPLOAD_CONCURRENCY = env.int("MIGRATION_UPLOAD_CONCURRENCY", default=3)
MIGRATION_STAGING_BUCKET_PREFIX = env.str("MIGRATION_STAGING_BUCKET_PREFIX", default="vmigrate-staging")
# Transient failures (throttling, a broken stream, an expired session) are retried from the checkpoint with
# exponential backoff and jitter, at most MIGRATION_MAX_ATTEMPTS failed attempts per step; releasing what a
# cancelled or failed job holds is retried with the same backoff until AWS confirms it is gone.
MIGRATION_MAX_ATTEMPTS = env.int("MIGRATION_MAX_ATTEMPTS", default=8)
# A wait (the next conversion poll, a retry) hands the worker back and is woken by a one-off schedule, which the
# cluster's scheduler fires within about 30 s. A tick may instead sleep through waits until it has slept
# MIGRATION_INLINE_WAIT_SECONDS in all (0 in production: imports take minutes; tests with sub-second polls and a
# fast sandbox clock raise it).
MIGRATION_INLINE_WAIT_SECONDS = env.float("MIGRATION_INLINE_WAIT_SECONDS", default=0.0)
MIGRATION_RETRY_BASE_SECONDS = env.float("MIGRATION_RETRY_BASE_SECONDS", default=15.0)
MIGRATION_RETRY_MAX_SECONDS = env.float("MIGRATION_RETRY_MAX_SECONDS", default=900.0)

# The platform's own AWS identity, used only to assume a tenant's role (sts:AssumeRole); unset means boto3's
# default chain (environment, instance role). Never used for a tenant's work. PLATFORM_AWS_ACCOUNT_ID names its
# account without asking STS; a tenant's role in that account is refused.
PLATFORM_AWS_ACCESS_KEY_ID = env.str("PLATFORM_AWS_ACCESS_KEY_ID", default="")
PLATFORM_AWS_SECRET_ACCESS_KEY = env.str("PLATFORM_AWS_SECRET_ACCESS_KEY", default="")
PLATFORM_AWS_ACCOUNT_ID = env.str("PLATFORM_AWS_ACCOUNT_ID", default="")
# A tenant's own limit on concurrent migrations per region may only lower MIGRATION_MAX_ACTIVE_PER_REGION; this caps
# one tenant's active migrations across all its regions, so one tenant cannot take every worker.
MIGRATION_MAX_ACTIVE_PER_TENANT = env.int("MIGRATION_MAX_ACTIVE_PER_TENANT", default=16)
# All tenants share the platform's workers: at most this many migrations are active at once platform-wide, and free
# slots go round-robin by tenant (migrations_app/admission.py), each tenant within its per-region and per-tenant caps.
MIGRATION_MAX_ACTIVE_SHARED = env.int("MIGRATION_MAX_ACTIVE_SHARED", default=32)

# Accounts and sessions (core.auth).
# The client's address is the n-th X-Forwarded-For entry from the right behind n trusted proxies that append to it
# (0: REMOTE_ADDR only); the audit log, the login lockout and the login throttle all use it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Login lockout (django-axes) on every login path (API token, login page, platform admin): LOGIN_FAILURE_LIMIT
# failures for one username (from anywhere) or from one address (for any usernames) refuse that username or address
# until LOGIN_COOLOFF_MINUTES have passed since the last counted failure. Attempts while locked out are not counted,
# so a lockout someone else provokes ends on time; a success resets nothing, or a valid account would let its owner
# wipe their address's count between guesses at others.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_CACHE = "default"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "core.middleware.client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLE_ADMIN = False  # the cache handler keeps no rows to show
if CACHES["default"]["BACKEND"].endswith(".LocMemCache"):
    # Without REDIS_URL each process counts its own failures: the lockout still works, at up to (processes x limit)
    # attempts. Set REDIS_URL to share the counts; axes' warning says the same and would fail the deploy check.
    SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "axes.W001"]
# API tokens expire this long after they were issued (and at once when the password changes). Each request for a
# token issues a new one; a user keeps at most API_TOKENS_PER_USER (the oldest go). Stored as hashes (knox).
API_TOKEN_LIFETIME_HOURS = env.int("API_TOKEN_LIFETIME_HOURS", default=24 * 7)
API_TOKENS_PER_USER = env.int("API_TOKENS_PER_USER", default=10)
REST_KNOX = {
    "TOKEN_PREFIX": "vmp_",  # recognisable in a leaked file or a secret scanner
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_TTL": timedelta(hours=API_TOKEN_LIFETIME_HOURS),
    "AUTO_REFRESH": False,
}
AUTH_PASSWORD_VALIDATORS = [*AUTH_PASSWORD_VALIDATORS, {"NAME": "core.auth.RevokeApiTokensOnPasswordChange"}]
# Failed logins are audited, at most this many rows per window for one username and address, for one address and
# in all; beyond that they are counted and summed up in one "auth.failed.suppressed" row.
AUDIT_AUTH_FAILURE_WINDOW_SECONDS = env.int("AUDIT_AUTH_FAILURE_WINDOW_SECONDS", default=3600)
AUDIT_AUTH_FAILURE_ROWS = env.int("AUDIT_AUTH_FAILURE_ROWS", default=5)
AUDIT_AUTH_FAILURE_ROWS_PER_ADDRESS = env.int("AUDIT_AUTH_FAILURE_ROWS_PER_ADDRESS", default=50)
AUDIT_AUTH_FAILURE_ROWS_TOTAL = env.int("AUDIT_AUTH_FAILURE_ROWS_TOTAL", default=1000)
# Error pages and reports hide every variable, key and field whose name looks secret, in every frame.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.debug.PortalExceptionReporterFilter"

# Outbound address policy. The vCenter URL is a tenant's, and so are the ESX addresses its vCenter hands back, yet
# the platform's workers connect to them from the platform's network: by default only public addresses over HTTPS
# (no loopback, link-local/metadata, private, CGNAT, ULA, multicast or reserved addresses). A vCenter reached over a
# VPN or Direct Connect needs its (and its ESX hosts') range allow-listed, e.g. OUTBOUND_ALLOWED_CIDRS=10.20.0.0/16.
# Plain HTTP is for the sandbox only. Checked here so that a misspelt CIDR stops the start, not a migration.
from adapters.outbound import OutboundPolicy as _OutboundPolicy  # noqa: E402

OUTBOUND_ALLOW_HTTP = env.bool("OUTBOUND_ALLOW_HTTP", default=False)
OUTBOUND_ALLOWED_CIDRS = env.list("OUTBOUND_ALLOWED_CIDRS", default=[])
try:
    _OutboundPolicy(allow_http=OUTBOUND_ALLOW_HTTP, allowed_cidrs=tuple(OUTBOUND_ALLOWED_CIDRS))
except ValueError as _exc:
    raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_CIDRS: {_exc}") from None

# The job engine's defaults (core.jobs): each kind reads <PREFIX>_<NAME> first (MIGRATION_, EXPORT_,
# ENVIRONMENT_JOB_), then JOB_<NAME>. Failed attempts are capped per step (a step that makes progress starts again
# from 0); retries back off exponentially with jitter. A wait of up to JOB_INLINE_WAIT_SECONDS in all is slept inside
# the tick (its heartbeat keeps the lease); a longer one hands the worker back and a schedule wakes the job.
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=60)
JOB_POLL_SECONDS = env.float("JOB_POLL_SECONDS", default=15.0)
JOB_TICK_BUDGET_SECONDS = env.float("JOB_TICK_BUDGET_SECONDS", default=60.0)
JOB_INLINE_WAIT_SECONDS = env.float("JOB_INLINE_WAIT_SECONDS", default=60.0)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=8)
JOB_RETRY_BASE_SECONDS = env.float("JOB_RETRY_BASE_SECONDS", default=15.0)
JOB_RETRY_MAX_SECONDS = env.float("JOB_RETRY_MAX_SECONDS", default=900.0)
# Admission limits of the kinds that have no better-known one: images being created, and launches, per region.
BACKUP_MAX_ACTIVE_PER_REGION = env.int("BACKUP_MAX_ACTIVE_PER_REGION", default=10)
LAUNCH_MAX_ACTIVE_PER_REGION = env.int("LAUNCH_MAX_ACTIVE_PER_REGION", default=20)

# Migration plan runs: how often a running plan looks whether its wave's migrations have ended (the wait is
# scheduled, never slept in a worker: a plan runs for hours).
PLAN_POLL_SECONDS = env.float("PLAN_POLL_SECONDS", default=30.0)
PLAN_INLINE_WAIT_SECONDS = env.float("PLAN_INLINE_WAIT_SECONDS", default=0.0)

# Environment jobs (AMI backups, launches from templates): their worker lease, how often a backup's image is polled
# while EC2 makes it, and how long one tick may run before it hands the job to a fresh tick.
ENVIRONMENT_JOB_LEASE_SECONDS = env.int("ENVIRONMENT_JOB_LEASE_SECONDS", default=60)
ENVIRONMENT_JOB_POLL_SECONDS = env.float("ENVIRONMENT_JOB_POLL_SECONDS", default=15.0)
ENVIRONMENT_JOB_TICK_BUDGET_SECONDS = env.float("ENVIRONMENT_JOB_TICK_BUDGET_SECONDS", default=60.0)

# Exports (EC2-to-S3). AWS runs at most 5 export tasks per region at once; more are queued first come, first
# served. A worker polls the export task every EXPORT_POLL_SECONDS within ticks of EXPORT_TICK_BUDGET_SECONDS and
# renews its job lease (EXPORT_LEASE_SECONDS) meanwhile. Download links of finished exports live
# EXPORT_DOWNLOAD_URL_SECONDS: an hour by default, never more than twelve hours (exports/links.py; AWS would sign
# seven days, far too long for a bearer URL).
EXPORT_MAX_ACTIVE_PER_REGION = env.int("EXPORT_MAX_ACTIVE_PER_REGION", default=5)
EXPORT_LEASE_SECONDS = env.int("EXPORT_LEASE_SECONDS", default=60)
EXPORT_POLL_SECONDS = env.float("EXPORT_POLL_SECONDS", default=15.0)
EXPORT_TICK_BUDGET_SECONDS = env.float("EXPORT_TICK_BUDGET_SECONDS", default=60.0)
EXPORT_DOWNLOAD_URL_SECONDS = env.int("EXPORT_DOWNLOAD_URL_SECONDS", default=3600)

# Task history (portal/site/history.py): finished jobs older than this are deleted by a daily job; the audit log stays.
HISTORY_RETENTION_DAYS = env.int("HISTORY_RETENTION_DAYS", default=90)

# The hourly orphan sweep (portal/site/sweep.py) removes what migrations and exports left in AWS only when it, and the
# job it belonged to, ended at least this long ago (a live job's resources are never touched).
ORPHAN_SWEEP_MIN_AGE_SECONDS = env.int("ORPHAN_SWEEP_MIN_AGE_SECONDS", default=6 * 3600)

# Health and metrics (portal.site.health, portal.site.metrics). /metrics answers a scraper that sends
# "Authorization: Bearer <METRICS_TOKEN>" or whose address is in METRICS_ALLOWED_CIDRS (the client address as
# TRUSTED_PROXY_COUNT sees it); with neither set it answers nobody (404). Several processes (gunicorn workers,
# qcluster) share their counters through PROMETHEUS_MULTIPROC_DIR (README, Metrics). A tenant's connector agents
# count as in contact while one called within three AGENT_HEARTBEAT_SECONDS.
# Probes and scrapers talk plain HTTP to the process itself: no redirect to HTTPS for them.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_CIDRS = env.list("METRICS_ALLOWED_CIDRS", default=[])
# A tenant's connector health (it logs in to vCenter and calls STS) is kept HEALTH_CACHE_SECONDS per tenant; a forced
# refresh (?refresh=1) is allowed once per HEALTH_REFRESH_MIN_SECONDS per tenant.
HEALTH_CACHE_SECONDS = env.int("HEALTH_CACHE_SECONDS", default=30)
HEALTH_REFRESH_MIN_SECONDS = env.int("HEALTH_REFRESH_MIN_SECONDS", default=30)

# Notifications (core.notifications): webhooks are retried with exponential backoff (base x 2^n, capped) up
# to WEBHOOK_MAX_ATTEMPTS attempts; their URLs obey the outbound address policy above. E-mail goes through Django's
# mail backend (EMAIL_URL, e.g. smtp+tls://user:password@mail.example.com:587; console in development).
# WEBHOOK_TIMEOUT_SECONDS bounds a whole attempt (connect, send, answer), not each socket read. A tenant has at most
# WEBHOOK_MAX_PER_TENANT webhooks and WEBHOOK_MAX_IN_FLIGHT_PER_TENANT attempts running at once on the shared workers.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_PER_TENANT = env.int("WEBHOOK_MAX_PER_TENANT", default=20)
WEBHOOK_MAX_IN_FLIGHT_PER_TENANT = env.int("WEBHOOK_MAX_IN_FLIGHT_PER_TENANT", default=2)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=6 * 3600.0)
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend" if DEBUG else \
        "django.core.mail.backends.smtp.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portal@localhost")
# Notification e-mail is sent from the worker that finished the job: a mail server that hangs must not hold it.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
NOTIFICATION_EMAIL_SUBJECT_PREFIX = env.str("NOTIFICATION_EMAIL_SUBJECT_PREFIX", default="VM portal")
try:
    _OutboundPolicy(allowed_cidrs=tuple(METRICS_ALLOWED_CIDRS))
except ValueError as _exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_CIDRS: {_exc}") from None
