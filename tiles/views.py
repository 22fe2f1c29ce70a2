"""Vector tiles ``/tiles/<layer>/{z}/{x}/{y}.pbf``: authenticated, per-layer roles, ETag and 304."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from drf_spectacular.utils import extend_schema

from layers.api.base import ServiceView, visible_layer
from tiles import mvt
from tiles.services import layer_version

MVT_TYPE = "application/vnd.mapbox-vector-tile"


def tile_etag(layer, version: int) -> str:
    return f'"{layer.name}-{layer.fingerprint()}-{version}"'


class VectorTileView(ServiceView):
    """One MVT tile. The ETag is the layer definition plus its data version: clients revalidate every
    time (``no-cache``) and get a body-less 304 until a load changes the layer."""

    @extend_schema(
        summary="矢量瓦片 Mapbox vector tile (Web Mercator)",
        responses={(200, MVT_TYPE): bytes, 304: None, 403: None, 404: None},
    )
    def get(self, request, layer: str, z: int, x: int, y: int):
        entry = visible_layer(request, layer)
        if not mvt.valid_tile(z, x, y):
            raise Http404("tile outside the grid")
        headers = {"Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
        conditional = request.headers.get("If-None-Match", "")
        if conditional:
            # a revalidation: the version alone decides, and most answers are a body-less 304
            etag = tile_etag(entry, layer_version(entry.name))
            if etag in [t.strip() for t in conditional.split(",")]:
                return HttpResponse(status=304, headers={**headers, "ETag": etag})
        # version and tile in one statement: no separate round trip, and both from the same snapshot
        version, data = mvt.render_tile_with_version(entry, z, x, y)
        headers["ETag"] = tile_etag(entry, version)
        return HttpResponse(data, content_type=MVT_TYPE, headers=headers)
