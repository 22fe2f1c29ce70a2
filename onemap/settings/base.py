"""Settings shared by every environment; everything site-specific comes from the environment.

Environment variables: ``SECRET_KEY``, ``DEBUG``, ``ALLOWED_HOSTS`` (comma-separated), ``DATABASE_URL``
(a PostGIS database; without it the embedded cluster under ``var/pg`` is used), ``CSRF_TRUSTED_ORIGINS``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from onemap import embedded_pg

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use 1/0, true/false, yes/no.")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def local_secret_key() -> str:
    """A per-checkout key kept in var/, so development sessions survive restarts without a shared key."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def database_config() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        config["ENGINE"] = "django.contrib.gis.db.backends.postgis"
        return config
    try:
        pg = embedded_pg.settings()
    except embedded_pg.EmbeddedPgError as exc:
        raise ImproperlyConfigured(f"{exc} (or set DATABASE_URL)") from exc
    return {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "HOST": pg["host"],
        "PORT": pg["port"],
        "NAME": pg["name"],
        "USER": pg["user"],
        "PASSWORD": pg["password"],
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "leaflet",
    "procrastinate.contrib.django",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "layers",
    "etl",
    "checks",
    "tiles",
    "analysis",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "onemap.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # tile services only: the session's user remembered for seconds (layers/api/auth.py)
    "layers.api.auth.CachedSessionUserMiddleware",
    # cached WMTS/TMS tiles answered here, after the same authentication and role checks (tiles/middleware.py)
    "tiles.middleware.CachedTileMiddleware",
    # Nothing but the login page (and static assets) answers an anonymous user.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "onemap.urls"
WSGI_APPLICATION = "onemap.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.roles.roles_context",
            ],
        },
    },
]

DATABASES = {"default": database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Simplified Chinese first, English second.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

# Government networks are often intranet-only: no online base map by default (django-leaflet would
# otherwise point at OpenStreetMap), every asset is served by the app.
# a 天地图 key: the web map then offers its online vector and imagery maps as optional base maps
TIANDITU_KEY = os.environ.get("TIANDITU_KEY", "")
LEAFLET_CONFIG = {
    "TILES": [],
    "DEFAULT_CENTER": (29.56, 106.55),
    "DEFAULT_ZOOM": 9,
    "MIN_ZOOM": 5,
    "MAX_ZOOM": 20,
    "RESET_VIEW": False,
}

# REST API, OGC API Features, tiles and MapProxy share these: HTTP basic first, so an anonymous request is
# answered 401 with a Basic challenge (what QGIS/GDAL need), then the web map's session, then API tokens.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "layers.api.auth.CachedBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OneMap 一张图 API",
    "DESCRIPTION": (
        "国土房管一张图：图层、要素（GeoJSON）、点查询与业务编号查询。Layers, features, identify, lookups."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Generated MapServer/MapProxy configuration and tile caches (one folder per database, see tiles.mapproxy).
TILES_DIR = VAR_DIR / "tiles"
TILES_SEED_MAX_ZOOM = int(os.environ.get("TILES_SEED_MAX_ZOOM", "14"))

# Analysts' queries (analysis/): every query runs read-only under a statement timeout; the run API returns
# at most ANALYSIS_MAX_ROWS features or groups, exports at most ANALYSIS_MAX_EXPORT_ROWS rows, and an
# export of more than ANALYSIS_EXPORT_DIRECT_ROWS rows runs as a background job.
ANALYSIS_STATEMENT_TIMEOUT_MS = int(os.environ.get("ANALYSIS_STATEMENT_TIMEOUT_MS", "30000"))
ANALYSIS_EXPORT_STATEMENT_TIMEOUT_MS = int(os.environ.get("ANALYSIS_EXPORT_STATEMENT_TIMEOUT_MS", "600000"))
ANALYSIS_MAX_ROWS = int(os.environ.get("ANALYSIS_MAX_ROWS", "10000"))
ANALYSIS_MAX_EXPORT_ROWS = int(os.environ.get("ANALYSIS_MAX_EXPORT_ROWS", "1000000"))
ANALYSIS_EXPORT_DIRECT_ROWS = int(os.environ.get("ANALYSIS_EXPORT_DIRECT_ROWS", "5000"))
ANALYSIS_EXPORT_DIR = VAR_DIR / "exports"

# GDAL 3.6 (Debian 12) predates the GDAL 3.9 option that stops spatial references built from strings from
# reading files or URLs. OneMap only ever builds SpatialReference objects from integer EPSG codes or from
# mapping files reviewed in the repository, never from user text, so the warning is silenced on purpose.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
