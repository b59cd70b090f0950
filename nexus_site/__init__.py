"""Project package: settings, URL configuration, WSGI/ASGI entry points and the Celery app."""

from nexus_site.celery import app as celery_app

__all__ = ["celery_app"]
