"""MapProxy mounted at ``/mapproxy/`` inside Django: authentication and per-layer roles first, then the
MapProxy app built for exactly the layers the user may see (see :func:`tiles.mapproxy.app_for`).

Layer names are read from where each protocol puts them (WMS ``LAYERS``/``QUERY_LAYERS``, WMTS ``LAYER``
or the REST path, TMS path); a layer of another role is 403 before MapProxy renders anything.
"""

from __future__ import annotations

import io

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied

from layers import registry
from layers.api.base import ServiceView
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


class MapProxyView(ServiceView):
    @extend_schema(exclude=True)
    def get(self, request, path: str = ""):
        visible = registry.for_user(request.user)
        allowed = {layer.name for layer in visible}
        for name in requested_layers(path, request.GET):
            if name not in allowed and registry.get(name) is not None:
                raise PermissionDenied(f"layer {name!r} needs another role")
        app = mapproxy.app_for(visible)
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
