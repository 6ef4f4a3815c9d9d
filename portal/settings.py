"""Django settings for the migration portal.

Everything that differs between a laptop and production comes from the environment (12-factor, django-environ).
With no environment at all the portal runs embedded: SQLite, django-q2's ORM broker, local-memory cache.
"""

import base64
import hashlib
import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=True)
_DEV_SECRET = "dev-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else environ.Env.NOTSET)
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Connector tokens are signed with their own key so that a leaked connector key cannot forge sessions
# or password resets, and rotating one does not log everybody out.
CONNECTOR_SIGNING_KEY = env.str(
    "CONNECTOR_SIGNING_KEY", default=("dev-connector-" + SECRET_KEY) if DEBUG else environ.Env.NOTSET
)
CONNECTOR_TOKEN_MAX_AGE = env.int("CONNECTOR_TOKEN_MAX_AGE", default=300)
CONNECTOR_SIGNING_KEY_FALLBACKS = env.list("CONNECTOR_SIGNING_KEY_FALLBACKS", default=[])


def _fernet_key_from(secret: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode()


# Tenant secrets (AWS keys, vCenter passwords) are encrypted at rest with these keys; the first one encrypts,
# all of them decrypt, so keys can be rotated by prepending a new one.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=[_fernet_key_from("field-encryption:" + SECRET_KEY)] if DEBUG else []
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "guardian",
    "django_q",
    # Layers, bottom up: the core (app label "portal", so no table was renamed), environments, the feature
    # apps, and the site that composes them. `make test` checks the import direction (.importlinter).
    "portal.core.apps.CoreConfig",
    "environments",
    "migrations_app",
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
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.core.middleware.RequestContextMiddleware",
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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if env.str("REDIS_URL", default=""):
    CACHES = {"default": env.cache_url("REDIS_URL", backend="django_redis.cache.RedisCache")}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
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
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.core.api.permissions.IsTenantMember"],
    "DEFAULT_PAGINATION_CLASS": "portal.core.api.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "portal.core.api.schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": env.str("LOGIN_THROTTLE_RATE", default="20/min")},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    "EXCEPTION_HANDLER_CLASS": "portal.core.api.exceptions.PortalExceptionHandler",
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "406", "409", "415", "429", "500", "502"],
    "ERROR_SCHEMAS": {
        "409": "portal.core.api.schema.ErrorResponse409Serializer",
        "502": "portal.core.api.schema.ErrorResponse502Serializer",
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
        "TenantRoleEnum": "portal.core.roles.TenantRole",
        "EnvironmentRoleEnum": "environments.choices.EnvironmentRole",
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Migrations. The connector runs at most this many migrations at once per region (AMP: 4); AWS allows 5 active
# VM imports per region. Leases: a worker renews its job lease every MIGRATION_LEASE_SECONDS / 4.
MIGRATION_MAX_ACTIVE_PER_REGION = env.int("MIGRATION_MAX_ACTIVE_PER_REGION", default=4)
MIGRATION_AWS_MAX_ACTIVE_IMPORTS = env.int("MIGRATION_AWS_MAX_ACTIVE_IMPORTS", default=5)
MIGRATION_LEASE_SECONDS = env.int("MIGRATION_LEASE_SECONDS", default=60)
MIGRATION_POLL_SECONDS = env.float("MIGRATION_POLL_SECONDS", default=10.0)
MIGRATION_TICK_BUDGET_SECONDS = env.float("MIGRATION_TICK_BUDGET_SECONDS", default=60.0)
MIGRATION_PART_SIZE = env.int("MIGRATION_PART_SIZE", default=8 * 1024 * 1024)
MIGRATION_UPLOAD_CONCURRENCY = env.int("MIGRATION_UPLOAD_CONCURRENCY", default=3)
MIGRATION_STAGING_BUCKET_PREFIX = env.str("MIGRATION_STAGING_BUCKET_PREFIX", default="vmigrate-staging")
