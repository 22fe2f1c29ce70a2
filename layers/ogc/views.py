"""OGC API - Features (Part 1 core + GeoJSON, Part 2 CRS) at ``/ogc/``, so QGIS and GDAL's ``OAPIF:`` driver
read every layer the user may see.

Axis order follows Part 2: the default CRS84 and EPSG:3857 are x/y (lon/lat, east/north); EPSG:4490 and
EPSG:4326 named by URI are lat/lon, both in ``crs`` output and in ``bbox`` given with ``bbox-crs``.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema

from layers import features, registry
from layers.api.base import ServiceView, query_error_payload, visible_layer
from layers.features import FeatureQuery, QueryError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
SUPPORTED_CRS = [CRS84, EPSG.format(4490), EPSG.format(4326), EPSG.format(3857)]
STORAGE_CRS = EPSG.format(4490)
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
RESERVED = {"bbox", "bbox-crs", "crs", "limit", "offset", "f", "datetime"}


def _crs(value: str | None, param: str) -> tuple[int, bool]:
    """(SRID, lat/lon order?) for a CRS URI from the supported list."""
    if value in (None, "", CRS84):
        return 4326, False
    if value not in SUPPORTED_CRS:
        raise QueryError(param, f"unsupported CRS {value!r}; supported: {', '.join(SUPPORTED_CRS)}")
    srid = features.parse_srid(value, param)
    return srid, srid in features.GEOGRAPHIC


def _json(data: dict, status: int = 200) -> HttpResponse:
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


def _error(exc: QueryError) -> HttpResponse:
    return _json({"code": "InvalidParameterValue", **query_error_payload(exc)}, status=400)


def _collection(request, layer: registry.Layer) -> dict:
    base = request.build_absolute_uri(f"/ogc/collections/{layer.name}")
    extent = features.layer_extent(layer)
    bbox = [round(v, 6) for v in extent] if extent else None
    return {
        "id": layer.name,
        "title": layer.title_zh,
        "description": f"{layer.title_en}. {layer.description_zh}".strip(),
        "itemType": "feature",
        "crs": SUPPORTED_CRS,
        "storageCrs": STORAGE_CRS,
        "extent": {"spatial": {"bbox": [bbox] if bbox else [], "crs": CRS84}},
        "links": [
            {"href": base, "rel": "self", "type": "application/json", "title": layer.title_zh},
            {
                "href": f"{base}/items",
                "rel": "items",
                "type": "application/geo+json",
                "title": layer.title_zh,
            },
        ],
    }


class LandingView(ServiceView):
    @extend_schema(exclude=True)
    def get(self, request):
        base = request.build_absolute_uri("/ogc")
        return _json(
            {
                "title": "OneMap 一张图 OGC API - Features",
                "description": "国土房管一张图的统一图层 (CGCS2000)",
                "links": [
                    {
                        "href": f"{base}/",
                        "rel": "self",
                        "type": "application/json",
                        "title": "本页 this document",
                    },
                    {
                        "href": request.build_absolute_uri("/api/schema/"),
                        "rel": "service-desc",
                        "type": "application/vnd.oai.openapi+json;version=3.0",
                        "title": "OpenAPI",
                    },
                    {
                        "href": f"{base}/conformance",
                        "rel": "conformance",
                        "type": "application/json",
                        "title": "Conformance",
                    },
                    {
                        "href": f"{base}/collections",
                        "rel": "data",
                        "type": "application/json",
                        "title": "Collections",
                    },
                ],
            }
        )


class ConformanceView(ServiceView):
    @extend_schema(exclude=True)
    def get(self, request):
        return _json({"conformsTo": CONFORMANCE})


class CollectionsView(ServiceView):
    @extend_schema(exclude=True)
    def get(self, request):
        base = request.build_absolute_uri("/ogc/collections")
        return _json(
            {
                "links": [{"href": base, "rel": "self", "type": "application/json", "title": "Collections"}],
                "crs": SUPPORTED_CRS,
                "collections": [_collection(request, layer) for layer in registry.for_user(request.user)],
            }
        )


class CollectionView(ServiceView):
    @extend_schema(exclude=True)
    def get(self, request, collection: str):
        return _json(_collection(request, visible_layer(request, collection)))


def _crs_header(srid: int, lat_lon: bool) -> str:
    return f"<{CRS84 if srid == 4326 and not lat_lon else EPSG.format(srid)}>"


class ItemsView(ServiceView):
    @extend_schema(exclude=True)
    def get(self, request, collection: str):
        layer = visible_layer(request, collection)
        try:
            srid, lat_lon = _crs(request.GET.get("crs"), "crs")
            q = FeatureQuery(layer, out_srid=srid, lat_lon=lat_lon)
            q.set_page(request.GET.get("limit"), request.GET.get("offset"), default=100)
            if request.GET.get("bbox"):
                bbox_srid, bbox_lat_lon = _crs(request.GET.get("bbox-crs"), "bbox-crs")
                minx, miny, maxx, maxy = features.parse_bbox(request.GET["bbox"])
                q.bbox = (miny, minx, maxy, maxx) if bbox_lat_lon else (minx, miny, maxx, maxy)
                q.bbox_srid = bbox_srid
            for param, value in request.GET.items():
                if param not in RESERVED:
                    q.add_filter(param, value)
        except QueryError as exc:
            return _error(exc)
        matched, rows = features.feature_rows(q)
        self_url = request.build_absolute_uri(request.path)
        links = [
            {"href": f"{self_url}?{request.GET.urlencode()}", "rel": "self", "type": "application/geo+json"}
        ]
        if q.offset + len(rows) < matched:
            params = {**request.GET.dict(), "offset": q.offset + q.limit, "limit": q.limit}
            links.append(
                {"href": f"{self_url}?{urlencode(params)}", "rel": "next", "type": "application/geo+json"}
            )
        if q.offset:
            params = {**request.GET.dict(), "offset": max(q.offset - q.limit, 0), "limit": q.limit}
            links.append(
                {"href": f"{self_url}?{urlencode(params)}", "rel": "prev", "type": "application/geo+json"}
            )
        body = features.feature_collection(
            rows,
            numberMatched=matched,
            numberReturned=len(rows),
            timeStamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            links=links,
        )
        return HttpResponse(
            body, content_type="application/geo+json", headers={"Content-Crs": _crs_header(srid, lat_lon)}
        )


class ItemView(ServiceView):
    @extend_schema(exclude=True)
    def get(self, request, collection: str, fid: int):
        layer = visible_layer(request, collection)
        try:
            srid, lat_lon = _crs(request.GET.get("crs"), "crs")
        except QueryError as exc:
            return _error(exc)
        _, rows = features.feature_rows(
            FeatureQuery(layer, out_srid=srid, lat_lon=lat_lon, ids=[fid], limit=1), with_count=False
        )
        if not rows:
            return _json({"code": "NotFound", "detail": f"no item {fid} in {collection}"}, status=404)
        return HttpResponse(
            rows[0], content_type="application/geo+json", headers={"Content-Crs": _crs_header(srid, lat_lon)}
        )
