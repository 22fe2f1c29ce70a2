"""MapProxy mounted at ``/mapproxy/`` inside Django: authentication and per-layer roles first, then the
MapProxy app built for exactly the layers the user may see (see :func:`tiles.mapproxy.app_for`).

Layer names are read from where each protocol puts them (WMS ``LAYERS``/``QUERY_LAYERS``, WMTS ``LAYER``
or the REST path, TMS path); a layer of another role is 403 before MapProxy renders anything.

Cached tiles (WMTS REST and TMS URLs) are answered from MapProxy's file cache by Django itself, after the
role check: going through MapProxy's WSGI app for a file that already exists costs ~20× a static file
(request objects, image wrapping, a full copy of the body). The tile's file is located with MapProxy's
own request parsing and tile grid (so origins, skipped TMS levels and the cache layout are exactly
MapProxy's); a missing file (never rendered, or removed by the re-seed job's clean-up) falls through to
MapProxy, which renders and stores it. ETag and Last-Modified come from the file, so a re-seeded tile
has a new validator.

A cached tile is answered before URL resolution and DRF's ``APIView`` dispatch, by the same checks
(:func:`cached_tile`, called from :class:`tiles.middleware.CachedTileMiddleware`); everything else, and
every error, is :class:`MapProxyView`'s.
"""

from __future__ import annotations

import functools
import io
import mimetypes
import os

from django.http import HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied

from accounts.roles import user_roles
from layers import registry
from layers.api.base import ServiceView, fast_authenticate
from layers.registry import Layer
from tiles import mapproxy

LAYER_PARAMS = ("layers", "query_layers", "layer")


def requested_layers(path: str, params) -> set[str]:
    names = set()
    for key, value in params.items():
        if key.lower() in LAYER_PARAMS:
            names.update(n.strip() for n in value.split(",") if n.strip())
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "wmts" and parts[1] != "1.0.0":
        names.add(parts[1])
    if len(parts) >= 3 and parts[0] == "tms" and parts[1] == "1.0.0":
        names.add(parts[2].split("_EPSG")[0])
    return names


# The layers a set of roles may see, by set of roles: registry.for_user asks every layer (each asking the
# user's roles) on every request, and a web map asks for dozens of tiles at once. Valid while the registry
# holds the same layers (the snapshot is compared by identity first, so a hit costs a tuple of ~10 items).
_visible: dict[frozenset[str], tuple[tuple[Layer, ...], list[Layer], frozenset[str]]] = {}


def visible_layers(user) -> tuple[list[Layer], frozenset[str]]:
    """``registry.for_user(user)`` and its names (which only depend on the user's roles)."""
    roles = frozenset(user_roles(user))
    snapshot = tuple(registry.all_layers())
    hit = _visible.get(roles)
    if hit is not None and hit[0] == snapshot:
        return hit[1], hit[2]
    visible = registry.for_user(user)
    if len(_visible) > 64:  # a handful of roles: only a changing registry gets here
        _visible.clear()
    _visible[roles] = (snapshot, visible, frozenset(layer.name for layer in visible))
    return visible, _visible[roles][2]


def cached_tile_path(app, path: str, environ: dict) -> str | None:
    """The file of a WMTS REST or TMS tile in MapProxy's file cache, if it is there (else ``None``: the
    request goes to MapProxy). Anything MapProxy would reject or treat specially also returns ``None``."""
    location = tile_file(app, path, environ)
    return location if location is not None and os.path.isfile(location) else None


_MISSING = object()


def tile_file_of_url(app, path: str, query: str) -> str | None:
    """:func:`tile_file` of a request's path and query string (the environ is built on a miss only)."""
    memo = getattr(app, "_onemap_tile_files", None)
    if memo is not None:
        location = memo.get((path, query), _MISSING)
        if location is not _MISSING:
            return location
    return tile_file(app, path, tile_environ(path, query))


def tile_file(app, path: str, environ: dict) -> str | None:
    """Where MapProxy keeps (or would keep) the tile of this URL; ``None`` for anything that is not a
    plain WMTS REST/TMS tile of a file cache. Remembered on the app per URL (the answer depends only on
    the app's configuration and the URL), so a tile burst parses each URL once."""
    memo = getattr(app, "_onemap_tile_files", None)
    if memo is None:
        memo = app._onemap_tile_files = {}
    key = (path, environ.get("QUERY_STRING", ""))
    if key in memo:
        return memo[key]
    location = _tile_file(app, path, environ)
    if len(memo) > 50_000:
        memo.clear()
    memo[key] = location
    return location


def _tile_file(app, path: str, environ: dict) -> str | None:
    parts = path.split("/")
    if len(parts) < 5 or parts[0] not in ("wmts", "tms") or parts[1] == "1.0.0" and parts[0] == "wmts":
        return None
    try:
        from mapproxy.cache.file import FileCache
        from mapproxy.cache.tile import Tile
        from mapproxy.request.base import Request

        handler = app.handlers.get(parts[0])
        if handler is None or (parts[0] == "wmts" and not hasattr(handler, "url_converter")):
            return None
        request = handler.parse_request(Request(environ))
        if getattr(request, "request_handler_name", None) != ("tile" if parts[0] == "wmts" else "map"):
            return None
        if parts[0] == "wmts":
            handler.check_request(request)  # parses the REST path (layer, matrix set, tile, format)
            layer = handler.layers[request.layer][request.tilematrixset]
            if request.format and request.format != layer.format:
                return None
            coord = layer._internal_tile_coord(request)
        else:
            if handler.origin and not request.origin:
                request.origin = handler.origin
            layer, _limit = handler.layer(request)
            if request.format != layer.format:
                return None
            coord = layer._internal_tile_coord(request, use_profiles=request.use_profiles)
        if getattr(request, "dimensions", None) and set(request.dimensions) - {"_layer_spec"}:
            return None
        cache = layer.tile_manager.cache
        if not isinstance(cache, FileCache):
            return None
        return cache.tile_location(Tile(coord))
    except Exception:  # noqa: BLE001 - whatever MapProxy cannot parse, MapProxy answers (with its error)
        return None


def tile_environ(path: str, query: str) -> dict:
    """The least WSGI environ MapProxy's request parsing needs to read a tile URL."""
    return {
        "PATH_INFO": "/" + path,
        "QUERY_STRING": query,
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/mapproxy",
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
    }


CONDITIONAL_HEADERS = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
)


@functools.lru_cache(maxsize=32)
def _content_type(extension: str) -> str:
    return mimetypes.guess_type("tile" + extension)[0] or "application/octet-stream"


# A meta tile writes 16 files in the same second, a seeding run a few hundred: their dates repeat.
_http_date = functools.lru_cache(maxsize=4096)(http_date)


def file_response(request, location: str) -> HttpResponse | None:
    """The cached tile as a conditional response (``None`` if it vanished since it was found: a clean-up
    ran in between, and MapProxy renders it again). The body is read whole: tiles are a few KiB, and a
    plain response is cheaper than a streamed one and carries its Content-Length. Preconditions are
    evaluated only when the request has one (without, ``get_conditional_response`` answers ``None``)."""
    meta = request.META
    try:
        with open(location, "rb") as handle:
            stat = os.fstat(handle.fileno())
            etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            last_modified = int(stat.st_mtime)
            conditional = None
            if any(name in meta for name in CONDITIONAL_HEADERS):
                conditional = get_conditional_response(request, etag=etag, last_modified=last_modified)
            body = b"" if conditional is not None else handle.read()
    except OSError:
        return None
    response = conditional or HttpResponse(body, content_type=_content_type(os.path.splitext(location)[1]))
    response["ETag"] = etag
    response["Last-Modified"] = _http_date(last_modified)
    response["Cache-Control"] = "private, max-age=60"
    return response


class MapProxyView(ServiceView):
    """The full path: DRF authentication and errors, then the tile cache or MapProxy itself."""

    @extend_schema(exclude=True)
    def get(self, request, path: str = ""):
        visible, allowed = visible_layers(request.user)
        for name in requested_layers(path, request.GET):
            if name not in allowed and registry.get(name) is not None:
                raise PermissionDenied(f"layer {name!r} needs another role")
        app = mapproxy.app_for(visible)
        if path.startswith(("wmts/", "tms/")):
            location = tile_file_of_url(app, path, request.META.get("QUERY_STRING", ""))
            response = file_response(request, location) if location is not None else None
            if response is not None:
                return response
        environ = {k: v for k, v in request.META.items() if isinstance(k, str)}
        environ.update(
            {
                "SCRIPT_NAME": "/mapproxy",
                "PATH_INFO": "/" + path,
                "REQUEST_METHOD": "GET",
                "wsgi.input": io.BytesIO(b""),
                "wsgi.errors": environ.get("wsgi.errors") or io.StringIO(),
                "wsgi.url_scheme": request.scheme,
                "SERVER_NAME": request.get_host().split(":")[0],
                "SERVER_PORT": str(request.get_port()),
                "HTTP_HOST": request.get_host(),
            }
        )
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = headers
            return lambda data: None

        chunks = app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        response = HttpResponse(body, status=captured["status"])
        for name, value in captured["headers"]:
            if name.lower() not in ("content-length", "connection"):
                response[name] = value
        response["Cache-Control"] = "private, max-age=60"
        return response


# What DRF's finalize_response adds to every MapProxyView response (its allowed methods); the fast path
# adds the same, so a tile's headers do not depend on which path answered (tested).
ALLOW = "GET, HEAD, OPTIONS"


def cached_tile(request, path: str) -> HttpResponse | None:
    """A WMTS REST/TMS tile from MapProxy's file cache without DRF's ``APIView`` dispatch, or ``None``
    (``path`` is the part after ``/mapproxy/``; see :class:`tiles.middleware.CachedTileMiddleware`).

    Why: for a cached tile, DRF's dispatch (request wrapping, content negotiation, versioning, permission
    and throttle checks, ``finalize_response``) and the role work around it cost as much as everything
    else in the request. This does the same checks, in the same order, with the same code: the view's
    authenticators and ``IsAuthenticated`` (:func:`layers.api.base.fast_authenticate`), the user's
    layers (:func:`visible_layers`), every requested layer allowed, then the file and its validators
    (:func:`file_response`). Anything else answers ``None`` and goes to :class:`MapProxyView`, which gives
    the usual response: anonymous or bad credentials (401), a layer of another role (403), an unknown
    layer, a tile not in the cache (MapProxy renders it), a malformed URL (MapProxy's error)."""
    drf_request = fast_authenticate(request, MapProxyView)
    if drf_request is None:
        return None
    visible, allowed = visible_layers(drf_request.user)
    query = request.META.get("QUERY_STRING", "")
    if not requested_layers(path, request.GET if query else {}) <= allowed:
        return None
    location = tile_file_of_url(mapproxy.app_for(visible), path, query)
    response = file_response(request, location) if location is not None else None
    if response is not None:
        response["Allow"] = ALLOW
    return response
