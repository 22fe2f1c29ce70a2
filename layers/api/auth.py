"""HTTP basic authentication that does not hash the password on every request.

Why: QGIS and GDAL send basic credentials with every tile and feature request, and Django's password
hasher is deliberately slow (hundreds of milliseconds); a map view of 30 tiles would spend seconds hashing.
A successful check is remembered for a few minutes in the cache, keyed by a keyed hash of the header (the
password itself is never stored); a changed password or a deactivated user takes effect when it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

import django
from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.contrib.auth.signals import user_logged_out
from django.core.cache import cache
from django.db.models.base import DJANGO_VERSION_PICKLE_KEY
from django.db.models.signals import post_delete, post_save
from django.utils.functional import SimpleLazyObject
from drf_spectacular.authentication import BasicScheme
from rest_framework.authentication import BasicAuthentication

TTL_SECONDS = 300


class NotRemembered(Exception):
    """Raised by :class:`CachedBasicAuthentication` in ``memory_only`` mode where it would check the
    password: the caller (the cached-tile fast path) leaves the request to DRF's full dispatch, which then
    checks it once, with its usual 401 on failure."""


class CachedBasicAuthentication(BasicAuthentication):
    memory_only = False  # set on an instance by fast paths that must not hash a password

    def authenticate_credentials(self, userid, password, request=None):
        digest = hmac.new(settings.SECRET_KEY.encode(), f"{userid}\0{password}".encode(), hashlib.sha256)
        key = "onemap-basic-" + digest.hexdigest()
        pk = cache.get(key)
        if pk is not None:
            user = get_user_model().objects.filter(pk=pk, is_active=True).first()
            if user is not None:
                return user, None
        if self.memory_only:
            raise NotRemembered
        user, auth = super().authenticate_credentials(userid, password, request)
        cache.set(key, user.pk, TTL_SECONDS)
        return user, auth


class CachedBasicScheme(BasicScheme):
    """The OpenAPI description of the class above: plain HTTP basic."""

    target_class = "layers.api.auth.CachedBasicAuthentication"


# Session users remembered per process for a few seconds, keyed by the session cookie: a web map asks for
# dozens of tiles at once, and each would otherwise read the session row and the user row (two of the
# three queries of a vector tile, and all of a cached raster tile's). A logout or a save of the user in
# this process drops the entries at once; elsewhere they expire within SESSION_TTL_SECONDS.
SESSION_TTL_SECONDS = 10.0
_session_lock = threading.Lock()
_sessions: dict[str, tuple[float, object]] = {}


SERVICE_PREFIXES = ("/tiles/", "/mapproxy/")


def _copy_user(user):
    """A copy of a remembered user for one request (so its per-request attributes, such as the roles put
    on it, stay out of the remembered one): what ``copy.copy`` makes of a model instance (its
    ``__getstate__`` / ``__setstate__``), without the detour through pickling's ``__reduce__`` and the app
    registry look-up of ``model_unpickle``, which cost three times as much on every tile."""
    state = user.__getstate__()
    state[DJANGO_VERSION_PICKLE_KEY] = django.__version__  # as __reduce__ adds it
    clone = object.__new__(type(user))
    clone.__setstate__(state)
    return clone


def _session_user(request, key: str):
    hit = _sessions.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return _copy_user(hit[1])
    user = get_user(request)  # Django's own: session row, user row, session hash check
    if user.is_authenticated:
        with _session_lock:
            if len(_sessions) > 10_000:
                _sessions.clear()
            _sessions[key] = (time.monotonic() + SESSION_TTL_SECONDS, _copy_user(user))
    return user


class CachedSessionUserMiddleware:
    """Right after ``AuthenticationMiddleware``: on the tile services only (``/tiles/``, ``/mapproxy/``),
    ``request.user`` of a session cookie comes from the short per-process memory above. Everything else
    (a user's own pages, the API, the admin) reads the session as Django does."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if key and request.path_info.startswith(SERVICE_PREFIXES):
            request.user = SimpleLazyObject(lambda: _session_user(request, key))
        return self.get_response(request)


def forget_sessions(user_id=None) -> None:
    """Drop remembered sessions (of one user, or all)."""
    with _session_lock:
        for key in [k for k, (_, user) in _sessions.items() if user_id is None or user.pk == user_id]:
            _sessions.pop(key, None)


def _on_logout(sender, request=None, user=None, **kwargs) -> None:
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME) if request is not None else None
    with _session_lock:
        _sessions.pop(key, None)
    if user is not None:
        forget_sessions(user.pk)


def _on_user_saved(sender, instance, **kwargs) -> None:
    forget_sessions(instance.pk)


user_logged_out.connect(_on_logout, dispatch_uid="onemap-session-cache-logout")
post_save.connect(_on_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="onemap-session-cache-user")
post_delete.connect(_on_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="onemap-session-cache-del")
