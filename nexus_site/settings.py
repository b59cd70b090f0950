"""Settings, read only from the environment (django-environ). See `.env.example` for every variable.

The embedded default (no variable set) is SQLite in the project folder with Celery running tasks
eagerly in-process, DEBUG on. With `DEBUG` off, `SECRET_KEY` must be set or the app refuses to start.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY: str = env.str("SECRET_KEY", default="insecure-dev-key-only-for-debug-mode")
else:
    try:
        SECRET_KEY = env.str("SECRET_KEY")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off the app refuses to start without one: set SECRET_KEY "
            "in the environment (for example `export SECRET_KEY=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')`)."
        ) from exc

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "backlog",
    "flow",
    "events",
    "integration",
]

MIDDLEWARE = [
    # First: a database outage or a conflict left after the retries is a 503, never a 500 (nexus_site.db).
    "nexus_site.db.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "nexus_site.urls"
WSGI_APPLICATION = "nexus_site.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# A connection kept between requests (`CONN_MAX_AGE` seconds; 0 = one per request) is checked before
# reuse, so after a database restart the next request opens a new one instead of failing
# (`nexus_site.db`: requests during the outage answer 503, the app recovers without a restart).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default under concurrent writers (web requests, the in-process recompute): WAL lets
    # readers go on while one writes; a writer waits up to `timeout` seconds (the busy timeout) for
    # the lock instead of failing with "database is locked"; IMMEDIATE takes the write lock at BEGIN,
    # so two transactions never deadlock upgrading their read locks.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # An unreachable server fails a request within seconds (503) rather than hanging it.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# SQLite (the embedded default) cannot defer the Product Backlog's rank constraint nor treat NULL teams
# as equal in the membership constraint. Migration backlog 0002 adds a plain unique rank index there,
# and `membership_add` checks duplicates itself, so these two warnings are expected on SQLite.
SILENCED_SYSTEM_CHECKS = ["models.W038", "models.W047"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production: DEBUG off) ---
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE: bool = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE: bool = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Celery: REDIS_URL set -> broker; unset -> tasks run eagerly in-process ---
REDIS_URL: str | None = env.str("REDIS_URL", default=None) or None
# `make test` runs the suite in parallel workers (pytest-xdist sets PYTEST_XDIST_WORKER = gw0, gw1...).
# pytest-django gives each its own test database; here each also takes its own Redis database (the
# next ones after REDIS_URL's), so that one worker's tests never consume another's broker queue.
TEST_WORKER: str = env.str("PYTEST_XDIST_WORKER", default="")
if REDIS_URL and TEST_WORKER.startswith("gw"):
    _redis = urlsplit(REDIS_URL)
    _redis_db = int(_redis.path.strip("/") or 0) + int(TEST_WORKER[2:]) + 1
    REDIS_URL = urlunsplit(_redis._replace(path=f"/{_redis_db}"))
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER: bool = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request when Redis is down: fail fast, the caller marks work pending.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
}
CELERY_TASK_PUBLISH_RETRY = False
# A task whose worker died mid-way (SIGKILL, a lost machine) is not acknowledged (ACKS_LATE): Redis
# gives it to another worker after this many seconds (longer than any task runs).
# Workers look for such tasks every CELERY_RESTORE_INTERVAL seconds (kombu's default sweep is about
# 100 s: 10 s x a throttle of 10; one cheap Redis query per sweep here).
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = env.int("CELERY_VISIBILITY_TIMEOUT", default=600)
CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_interval"] = env.int("CELERY_RESTORE_INTERVAL", default=10)
CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_throttle"] = 1
#: Seconds between the sweeps that pick up work left waiting in the database while Redis was away.
SWEEP_SECONDS: float = env.float("SWEEP_SECONDS", default=10.0)
# Flow figures: every night all Nexuses are recomputed (idempotent); every SWEEP_SECONDS those whose
# calendar day has turned in their own time zone, or whose recompute was left pending while the broker
# was down (cheap when none is). Webhooks: every SWEEP_SECONDS, re-queue deliveries never queued (the
# broker was down) or whose retry is overdue (lost with a worker): so, within 30 s of Redis being back,
# both run by themselves.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "flow-recompute-all-nightly": {"task": "flow.recompute_all", "schedule": crontab(hour=1, minute=30)},
    "flow-recompute-due": {"task": "flow.recompute_due", "schedule": SWEEP_SECONDS},
    "webhooks-retry-due": {"task": "backlog.webhooks_retry_due", "schedule": SWEEP_SECONDS},
    "idempotency-prune": {"task": "backlog.idempotency_prune", "schedule": crontab(minute=35)},
}
CELERY_TIMEZONE = "UTC"

# The REST API (`/api/v1/`, conventions in `backlog/api/`): personal tokens or the browser session,
# JSON only, one error format, keyset (cursor) pagination.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "nexus_site.api.schema.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "nexus_site.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PARSER_CLASSES": ["nexus_site.api.parsers.JSONParser"],
    "DEFAULT_METADATA_CLASS": "nexus_site.api.metadata.Metadata",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "nexus_site.api.pagination.KeysetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "nexus_site.api.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": False,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nexus Flow API",
    "DESCRIPTION": "See `nexus_site.api.schema.DESCRIPTION`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # assets from drf-spectacular-sidecar: the docs work offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "nexus_site.api.schema.postprocess_schema",
    ],
    "PREPROCESSING_HOOKS": ["nexus_site.api.schema.preprocess_endpoints"],
    "ENUM_NAME_OVERRIDES": {
        "TeamStatusEnum": "backlog.models.TeamStatus",
        "GoalStatusEnum": "backlog.models.GoalStatus",
        "GoalClosedStatusEnum": [("achieved", "Achieved"), ("abandoned", "Abandoned")],
        "DeliveryStatusEnum": "backlog.models_api.DeliveryStatus",
        "WipLimitKindEnum": "backlog.models.WipLimitKind",
        "DependencyStatusEnum": "backlog.models_dependency.DependencyStatus",
        "DependencyKindEnum": "backlog.models_dependency.DependencyKind",
        # The Nexus event at which something was found or changed (dependencies, Sprint scope).
        "NexusEventEnum": "backlog.models_dependency.FoundAt",
        # Flow: the level asked for and the basis of a team's figures.
        "FlowLevelEnum": ["team", "nexus"],
        # Integration issues: the event they were raised at and their escalation level (Scrum@Scale).
        "IssueEventEnum": "integration.models_issues.IssueEvent",
        "IssueLevelEnum": "integration.models_issues.IssueLevel",
    },
}
#: How long a POST's `Idempotency-Key` is remembered (seconds).
API_IDEMPOTENCY_TTL: int = env.int("API_IDEMPOTENCY_TTL", default=24 * 3600)
#: Whether webhooks may target loopback/private addresses (tests, a local receiver); off in production.
WEBHOOK_ALLOW_PRIVATE_TARGETS: bool = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=DEBUG)
#: Seconds before the first retry of a failed webhook delivery (then x4 each time, at most an hour).
WEBHOOK_BACKOFF_BASE: int = env.int("WEBHOOK_BACKOFF_BASE", default=10)

# Demo data: printed by `make run`, never used outside the demo loader.
DEMO_PASSWORD: str = env.str("DEMO_PASSWORD", default="demo")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
