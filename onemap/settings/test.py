"""Settings for the test suite: same database engine (real PostGIS), faster password hashing."""

from onemap.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the apps' folders (no collectstatic needed in tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
