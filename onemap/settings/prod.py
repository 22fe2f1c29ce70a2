"""Production: secure by default. SECRET_KEY and ALLOWED_HOSTS must come from the environment.

``python manage.py check --deploy`` is clean with these settings (tested). Deployments behind a
TLS-terminating proxy set ``SECURE_PROXY_SSL_HEADER`` through ``ONEMAP_BEHIND_PROXY=1``.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from onemap.settings.base import *  # noqa: F403
from onemap.settings.base import env_bool, env_list

if not os.environ.get("SECRET_KEY"):
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment for production settings.")
SECRET_KEY = os.environ["SECRET_KEY"]
if not os.environ.get("ALLOWED_HOSTS"):
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set (comma-separated host names) for production.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
DEBUG = env_bool("DEBUG", False)

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("ONEMAP_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
