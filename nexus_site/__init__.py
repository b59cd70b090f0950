"""Project package: settings, URL configuration, WSGI/ASGI entry points and the Celery app.

The Celery app (`nexus_site.celery.app`) is imported where a task is sent or run (the tasks modules
import it, so every task goes through its broker), by `celery -A nexus_site`, and as
`nexus_site.celery_app`; not at every start of Django, which it would slow by a good tenth of a second.
"""

from __future__ import annotations

from typing import Any

__all__ = ["celery_app"]


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        from nexus_site.celery import app

        return app
    raise AttributeError(f"module 'nexus_site' has no attribute {name!r}")
