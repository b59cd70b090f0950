"""Settings, read only from the environment (django-environ). See `.env.example` for every variable.

The embedded default (no variable set) is SQLite in the project folder with Celery running tasks
eagerly in-process, DEBUG on. With `DEBUG` off, `SECRET_KEY` must be set or the app refuses to start.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ
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
    "axes",
    "csp",
    "backlog",
    "flow",
    "events",
    "integration",
    # Last: its ready() runs once every app above is ready (nexus_site/apps.py).
    "nexus_site.apps.SiteConfig",
]

MIDDLEWARE = [
    # Outermost: every response (a 503 included) carries the request's id (`X-Request-ID`), and every
    # log line of the request names it (nexus_site.logs).
    "nexus_site.middleware.RequestIdMiddleware",
    # Then: a database outage or a conflict left after the retries is a 503, never a 500 (nexus_site.db).
    "nexus_site.db.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last (as django-axes asks): turns a locked-out log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
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
# Persistent connections: each server thread keeps its connection for `CONN_MAX_AGE` seconds (0 = a
# new one per request, which costs PostgreSQL about 5 ms and six times the throughput of a page with a
# query; a `?conn_max_age=` in DATABASE_URL wins). It is checked before reuse (`CONN_HEALTH_CHECKS`), so
# after a database restart the next request opens a new one instead of failing (`nexus_site.db`:
# requests during the outage answer 503, the app recovers without a restart).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
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
# Log-in throttling (django-axes): AXES_FAILURE_LIMIT failed log-ins for one username from one address
# lock that pair out for AXES_COOLOFF_MINUTES; the log-in page then shows
# `registration/locked_out.html` (status 429). Axes' backend must come first; it ignores calls
# without a request (the test client's `login()`, scripts), which go on to the model backend. API
# tokens (nexus_site.api.auth) never pass through here: the API is throttled by DRF (REST_FRAMEWORK).
AUTHENTICATION_BACKENDS = [
    "nexus_site.security.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED: bool = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT: int = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# The client's address: REMOTE_ADDR, or behind a proxy (BEHIND_PROXY) the last X-Forwarded-For entry.
AXES_CLIENT_IP_CALLABLE = "nexus_site.security.client_ip"

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
# The container health checks ask over plain HTTP inside the container (nexus_site/healthcheck.py).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
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
# Cookies: never readable by scripts (the session; the CSRF token travels in the page's hx-headers, so its
# cookie need not be read either), sent on top-level navigation from elsewhere but not on cross-site
# subrequests (Lax); HTTPS only when DEBUG is off (above).
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Content Security Policy (django-csp): the front-end is vendored under static/, so everything comes
# from this origin. No inline script runs except with the response's nonce (none is needed today: the
# inline <script type="application/json"> blocks are data, not code); no eval. Styles: <style> elements
# and style sheets from this origin only (htmx's own indicator style is off: `htmx-config` in base.html,
# its rules are in app.css); style="" attributes are allowed (style-src-attr 'unsafe-inline') because
# the pages size bars and place markers with computed values (sparkline heights, meter positions), which
# a style sheet cannot hold. `CSP_REPORT_ONLY` reports instead of enforcing (to try a change).
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-elem": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

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

# --- The cache, shared by every process: Redis when REDIS_URL is set, else files on this machine ---
# Throttle counters, the suggestion index and cached pages must agree across gunicorn workers (and
# Celery workers), so never the per-process memory cache. With Redis (the same database as the broker;
# `clear()` deletes only keys under KEY_PREFIX) a Redis outage is a miss, not a 500
# (`nexus_site.cache`); short timeouts so a hung Redis costs a request at most about a second. Without
# it (the embedded default) Django's file cache in CACHE_DIR (default `var/cache/`; each parallel test
# worker its own folder): written atomically (a temporary file renamed), read by every process.
CACHE_DIR = Path(env.str("CACHE_DIR", default=str(BASE_DIR / "var" / "cache")))
if TEST_WORKER:
    CACHE_DIR = CACHE_DIR / TEST_WORKER
CACHES: dict[str, dict[str, Any]] = {
    "default": (
        {
            "BACKEND": "nexus_site.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "nexus",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(CACHE_DIR),
            "KEY_PREFIX": "nexus",
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    )
}
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
# The beat's schedule (the nightly recompute, the sweeps every SWEEP_SECONDS): `nexus_site.celery`, where
# Celery is imported (not at every start of Django: a management command does not pay for it).
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
    # Throttling: requests per client (a user, by their account; else the address), answered 429 with
    # `Retry-After` in the error format. Generous defaults (a busy integration, a team at the board);
    # set `API_THROTTLE_USER` / `API_THROTTLE_ANON` ("<n>/<second|minute|hour|day>"), "" for no limit.
    "DEFAULT_THROTTLE_CLASSES": [
        "nexus_site.api.throttling.AnonRateThrottle",
        "nexus_site.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="6000/minute") or None,
        "anon": env.str("API_THROTTLE_ANON", default="120/minute") or None,
    },
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
        # The Nexus Sprint Retrospective's improvement actions: what each becomes, and its status.
        "ImprovementActionKindEnum": "events.models_retro.ActionKind",
        "ImprovementActionStatusEnum": "events.models_retro.ActionStatus",
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

# Logs on standard error: JSON lines (one object per line: time, level, logger, message, request_id...)
# when LOG_JSON is on (the default with DEBUG off, as under gunicorn), plain text otherwise. Every line
# written while a request is served carries its `request_id` (nexus_site.middleware, nexus_site.logs).
LOG_JSON: bool = env.bool("LOG_JSON", default=not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "nexus_site.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "nexus_site.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_JSON else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-axes: failed log-ins and lockouts (WARNING) are kept, each successful one's bookkeeping not.
    "loggers": {
        # Django's own console handler (DEBUG only, plain text) and mail_admins (no ADMINS here) are
        # dropped: `django.*` lines go to the root handler once, in the chosen format (LOG_JSON=1 with
        # DEBUG on wrote each of them twice, once as plain text).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
