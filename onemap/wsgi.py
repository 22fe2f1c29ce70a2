"""WSGI entry point (gunicorn in the demo and in production)."""

import os

from django.core.wsgi import get_wsgi_application

from onemap.bootstrap import ensure_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "onemap.settings.dev")
ensure_database()
application = get_wsgi_application()
