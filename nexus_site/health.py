"""Health endpoints for load balancers and `docker-compose.yml`'s health checks (no log-in, no cookies,
never cached):

- `GET /healthz`: the process answers (liveness). 200 `{"status": "ok"}`; touches no service.
- `GET /readyz`: the process can serve (readiness): the database answers `SELECT 1` and, when Redis is
  configured (`REDIS_URL`), Redis answers `PING`, each within `TIMEOUT_SECONDS`. 200
  `{"status": "ready", "checks": {"database": "ok", "redis": "ok" | "not configured"}}`; 503 with
  `"status": "unavailable"` and the failed check's reason (`"checks": {"redis": "unreachable: ..."}`)
  otherwise. Without Redis the app still serves pages and keeps every write (tasks wait in the
  database), but a deployment that configured Redis is not ready without it.
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

#: How long a readiness check waits for a service (seconds).
TIMEOUT_SECONDS = 2


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 as long as the process answers requests."""
    return JsonResponse({"status": "ok"})


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"unreachable: {type(exc).__name__}"
    finally:
        client.close()
    return "ok"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database (and Redis, if configured) answer; 503 naming what does not."""
    checks = {"database": _database(), "redis": _redis()}
    ready = all(v in ("ok", "not configured") for v in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
