"""What every service view shares: authentication (session, API token, HTTP basic), no anonymous access,
per-layer roles from the registry, and one error shape.

Why DRF's authentication for the map services too (tiles, OGC, MapProxy): QGIS and GDAL speak HTTP basic,
the web map speaks session cookies, scripts use tokens; one set of authentication classes answers them all,
so no service can forget one. Anonymous requests get 401 with a ``WWW-Authenticate: Basic`` challenge
(what OGC clients need to prompt for a password), never a redirect to the login page.
"""

from __future__ import annotations

from django.http import Http404
from rest_framework.exceptions import PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from layers import registry
from layers.features import QueryError
from layers.registry import Layer


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
