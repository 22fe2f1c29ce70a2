"""What every service view shares: authentication (session, API token, HTTP basic), no anonymous access,
per-layer roles from the registry, and one error shape.

Why DRF's authentication for the map services too (tiles, OGC, MapProxy): QGIS and GDAL speak HTTP basic,
the web map speaks session cookies, scripts use tokens; one set of authentication classes answers them all,
so no service can forget one. Anonymous requests get 401 with a ``WWW-Authenticate: Basic`` challenge
(what OGC clients need to prompt for a password), never a redirect to the login page.
"""

from __future__ import annotations

import hashlib
import threading
import time

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_save
from django.http import Http404
from rest_framework.authentication import BasicAuthentication, TokenAuthentication
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.roles import user_roles
from layers import registry
from layers.api.auth import CachedBasicAuthentication, NotRemembered
from layers.features import QueryError
from layers.registry import Layer

# Roles of an authenticated user, remembered per process for a short time: a map view asks for dozens of
# tiles per second, each of which would otherwise query the user's groups. Keyed by user id, superuser
# flag and the credential (session key, or a digest of the Authorization header), so a new login or
# another credential never reuses an entry; a change of the user's groups or flags in this process drops
# the entries at once, in other processes within ROLES_TTL seconds.
ROLES_TTL = 30.0
_roles_lock = threading.Lock()
_roles: dict[tuple, tuple[float, frozenset[str]]] = {}


def _credential(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        return "a:" + hashlib.sha256(header.encode()).hexdigest()
    session = getattr(request._request, "session", None) if hasattr(request, "_request") else None
    return "s:" + (getattr(session, "session_key", None) or "")


def prime_roles(request) -> None:
    """Put the user's roles on the user object from the process cache (or load and cache them), so
    :func:`accounts.roles.user_roles` and every ``Layer.allows`` of this request run no query."""
    user = request.user
    if not user.is_authenticated or getattr(user, "_onemap_roles", None) is not None:
        return
    key = (user.pk, user.is_superuser, user.is_active, _credential(request))
    now = time.monotonic()
    hit = _roles.get(key)
    if hit is not None and hit[0] > now:
        user._onemap_roles = set(hit[1])
        return
    roles = frozenset(user_roles(user))
    with _roles_lock:
        if len(_roles) > 10_000:
            _roles.clear()
        _roles[key] = (now + ROLES_TTL, roles)


def forget_roles(user_id=None) -> None:
    """Drop remembered roles (of one user, or all)."""
    with _roles_lock:
        for key in [k for k in _roles if user_id is None or k[0] == user_id]:
            _roles.pop(key, None)


def _on_groups_changed(sender, instance, pk_set=None, **kwargs) -> None:
    if isinstance(instance, get_user_model()):
        forget_roles(instance.pk)
    else:  # a group's users changed from the group side
        forget_roles(None)


def _on_user_saved(sender, instance, **kwargs) -> None:
    forget_roles(instance.pk)


m2m_changed.connect(_on_groups_changed, sender=get_user_model().groups.through, dispatch_uid="onemap-roles")
post_save.connect(_on_user_saved, sender=get_user_model(), dispatch_uid="onemap-roles-user")


class FirstRendererNegotiation(BaseContentNegotiation):
    """Map clients send Accept headers such as ``image/png`` or ``application/vnd.ogc.wms_xml``; the
    format is chosen by the URL, so a 406 would only break them."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ServiceView(APIView):
    """Base of the tile, OGC and MapProxy views (authenticated, format from the URL)."""

    content_negotiation_class = FirstRendererNegotiation

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and IsAuthenticated first
        prime_roles(request)


# DRF authenticators that read nothing but the Authorization header and answer None without it (their
# authenticate() as DRF ships it: the first thing it does is split that header and return None if empty).
_HEADER_ONLY = (BasicAuthentication.authenticate, TokenAuthentication.authenticate)
_NEGOTIATOR = FirstRendererNegotiation()


def fast_authenticate(request, view_class: type[APIView]) -> Request | None:
    """The request as ``view_class``'s DRF dispatch would authenticate it, for fast paths that answer
    without that dispatch (content negotiation, versioning, throttles, the exception handler and
    ``finalize_response`` cost as much as the rest of a cached raster tile).

    The view's own authenticators run in their order on a DRF request (session with its CSRF check,
    token, basic), then the view's permission ``IsAuthenticated``, then :func:`prime_roles`. Without an
    Authorization header, DRF's basic and token authenticators are skipped: they would return ``None``
    after building ``request.headers`` from the whole environ, the dearest step here. ``None``
    whenever the answer is not a plain success, so that the caller hands the request to the full dispatch,
    which gives its usual response: no or wrong credentials (401 with the challenge), a basic password not
    checked within the last minutes (checked there, once: the fast path never hashes a password), or a
    view with permission or throttle classes other than ``IsAuthenticated``."""
    if view_class.throttle_classes or list(view_class.permission_classes) != [IsAuthenticated]:
        return None
    has_header = "HTTP_AUTHORIZATION" in request.META
    authenticators = []
    for cls in view_class.authentication_classes:
        if not has_header and cls.authenticate in _HEADER_ONLY:
            continue
        authenticator = cls()
        if isinstance(authenticator, CachedBasicAuthentication):
            authenticator.memory_only = True
        authenticators.append(authenticator)
    drf_request = Request(request, authenticators=authenticators, negotiator=_NEGOTIATOR)
    try:
        user = drf_request.user
    except (APIException, NotRemembered):
        return None
    if not (user and user.is_authenticated):
        return None
    prime_roles(drf_request)
    return drf_request


def visible_layer(request, name: str) -> Layer:
    """The layer if this user may see it: 404 for an unknown name, 403 for a layer of another role."""
    layer = registry.get(name)
    if layer is None:
        raise Http404(f"no layer {name!r}")
    if not layer.allows(request.user):
        raise PermissionDenied(f"图层 {layer.title_zh} 需要其他角色 (layer {name!r} needs another role)")
    return layer


def query_error_payload(exc: QueryError) -> dict:
    return {"detail": exc.message, "param": exc.param}
