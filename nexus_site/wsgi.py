"""WSGI entry point (gunicorn `nexus_site.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexus_site.settings")
application = get_wsgi_application()
