"""The REST API under ``/api/``: layers, features as GeoJSON, identify, lookups by business key, search
suggestions and the ETL loads the map's time filter offers.

Thin views: validation and SQL live in :mod:`layers.features`; the layer list and roles come from
:mod:`layers.registry`. Every view is authenticated (basic, session, token) and shows only the layers the
user's roles allow; a layer of another role is 403, an unknown one 404.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.roles import ANALYST, ETL_OPERATOR, SUPERVISOR, has_role
from layers import features, registry, search, selectors
from layers.api.base import query_error_payload, visible_layer
from layers.api.serializers import (
    IdentifySerializer,
    LayerSerializer,
    LoadsSerializer,
    LookupSerializer,
    SearchSerializer,
)
from layers.features import FeatureQuery, QueryError

GEOJSON = "application/geo+json"
RESERVED = {"bbox", "bbox_crs", "crs", "ordering", "limit", "offset", "format"}

CRS_PARAM = OpenApiParameter(
    "crs",
    OpenApiTypes.INT,
    description="输出坐标系 output SRID: 4490 (默认), 4326, 3857, 4491–4554 (CGCS2000 高斯-克吕格)",
)


def layer_info(request, layer: registry.Layer) -> dict:
    return {
        "name": layer.name,
        "title_zh": layer.title_zh,
        "title_en": layer.title_en,
        "description_zh": layer.description_zh,
        "geometry_type": layer.geometry_type,
        "min_zoom": layer.min_zoom,
        "max_zoom": layer.max_zoom,
        "attributes": [
            {
                "name": a.column,
                "title_zh": a.title_zh,
                "title_en": a.title_en,
                "type": a.type,
                "min_zoom": a.min_zoom,
                "codelist": a.codelist,
            }
            for a in layer.attributes
        ],
        "style": {
            "fill": layer.style.fill,
            "fill_opacity": layer.style.fill_opacity,
            "stroke": layer.style.stroke,
            "stroke_width": layer.style.stroke_width,
            "label": layer.style.label.column if layer.style.label else None,
            "label_min_zoom": layer.style.label.min_zoom if layer.style.label else None,
        },
        "lookups": sorted(layer.lookups),
        "links": {
            "features": reverse("api-features", args=[layer.name], request=request),
            "tiles": request.build_absolute_uri(f"/tiles/{layer.name}/") + "{z}/{x}/{y}.pbf",
            "ogc": request.build_absolute_uri(f"/ogc/collections/{layer.name}"),
            "wmts": request.build_absolute_uri(
                f"/mapproxy/wmts/{layer.name}/webmercator/" + "{z}/{x}/{y}.png"
            ),
        },
    }


class LayerListView(APIView):
    @extend_schema(summary="图层列表 layers the user may see", responses=LayerSerializer(many=True))
    def get(self, request):
        return Response([layer_info(request, layer) for layer in registry.for_user(request.user)])


class LayerDetailView(APIView):
    @extend_schema(summary="图层信息 one layer", responses=LayerSerializer)
    def get(self, request, layer: str):
        return Response(layer_info(request, visible_layer(request, layer)))


def _page_link(request, limit: int, offset: int) -> str:
    params = {k: v for k, v in request.GET.items() if k not in ("limit", "offset")}
    params.update(limit=limit, offset=offset)
    return request.build_absolute_uri(request.path) + "?" + urlencode(params)


class FeatureListView(APIView):
    @extend_schema(
        summary="要素 features as GeoJSON",
        description=(
            "按范围、属性过滤、排序与分页读取要素。属性过滤：`<属性>=值`，"
            "数值与日期还可用 `__gte/__lte/__gt/__lt`，文本可用 `__contains`。"
            "有来源信息的图层还可按加载时间与批次过滤：`loaded_at__gte`、`loaded_at__lte`（ISO 日期或时间，"
            "只写日期表示整天）、`load_run`。"
            "Attribute filters: `<attr>=v`, `<attr>__gte=v` …; lineage filters `loaded_at__gte`, "
            "`loaded_at__lte`, `load_run` on layers with lineage (400 on the others)."
        ),
        parameters=[
            OpenApiParameter("bbox", OpenApiTypes.STR, description="minx,miny,maxx,maxy (in bbox_crs)"),
            OpenApiParameter("bbox_crs", OpenApiTypes.INT, description="SRID of bbox (default 4490)"),
            CRS_PARAM,
            OpenApiParameter("ordering", OpenApiTypes.STR, description="e.g. `-zdmj,zddm`"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–10000, default 100"),
            OpenApiParameter("offset", OpenApiTypes.INT),
            OpenApiParameter("loaded_at__gte", OpenApiTypes.STR, description="加载时间下限 ISO date/time"),
            OpenApiParameter("loaded_at__lte", OpenApiTypes.STR, description="加载时间上限 ISO date/time"),
            OpenApiParameter("load_run", OpenApiTypes.INT, description="加载批次 load run id"),
        ],
        responses={(200, GEOJSON): OpenApiTypes.OBJECT},
    )
    def get(self, request, layer: str):
        entry = visible_layer(request, layer)
        try:
            q = FeatureQuery(entry, out_srid=features.parse_srid(request.GET.get("crs")))
            if request.GET.get("bbox"):
                q.bbox = features.parse_bbox(request.GET["bbox"])
                q.bbox_srid = features.parse_srid(request.GET.get("bbox_crs"), "bbox_crs")
            q.set_ordering(request.GET.get("ordering", ""))
            q.set_page(request.GET.get("limit"), request.GET.get("offset"))
            for param, value in request.GET.items():
                if param not in RESERVED:
                    q.add_filter(param, value)
        except QueryError as exc:
            return Response(query_error_payload(exc), status=400)
        count, rows = features.feature_rows(q)
        members = {"count": count, "crs": f"EPSG:{q.out_srid}"}
        members["next"] = (
            _page_link(request, q.limit, q.offset + q.limit) if q.offset + len(rows) < count else None
        )
        members["previous"] = _page_link(request, q.limit, max(q.offset - q.limit, 0)) if q.offset else None
        return HttpResponse(features.feature_collection(rows, **members), content_type=GEOJSON)


class FeatureDetailView(APIView):
    @extend_schema(
        operation_id="api_layers_feature_retrieve",
        summary="单个要素 one feature",
        parameters=[CRS_PARAM],
        responses={(200, GEOJSON): OpenApiTypes.OBJECT},
    )
    def get(self, request, layer: str, pk: int):
        entry = visible_layer(request, layer)
        try:
            q = FeatureQuery(entry, out_srid=features.parse_srid(request.GET.get("crs")), ids=[pk], limit=1)
        except QueryError as exc:
            return Response(query_error_payload(exc), status=400)
        _, rows = features.feature_rows(q, with_count=False)
        if not rows:
            return Response({"detail": f"no feature {pk} in {layer}"}, status=404)
        return HttpResponse(rows[0], content_type=GEOJSON)


class IdentifyView(APIView):
    @extend_schema(
        summary="点查询 identify: every layer's records at a point, grouped by system, with lineage",
        parameters=[
            OpenApiParameter("lon", OpenApiTypes.DOUBLE, required=True, description="CGCS2000 经度"),
            OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True, description="CGCS2000 纬度"),
        ],
        responses=IdentifySerializer,
    )
    def get(self, request):
        try:
            lon, lat = float(request.GET["lon"]), float(request.GET["lat"])
        except KeyError as exc:
            return Response({"detail": "lon and lat are required", "param": exc.args[0]}, status=400)
        except ValueError:
            return Response({"detail": "lon and lat must be numbers", "param": "lon,lat"}, status=400)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return Response(
                {"detail": "lon/lat out of range (CGCS2000 degrees)", "param": "lon,lat"}, status=400
            )
        records = features.records_at(lon, lat, registry.for_user(request.user))
        systems: dict[str, list] = {}
        for record in records:
            systems.setdefault(record["system"], []).append(record)
        return Response({"lon": lon, "lat": lat, "count": len(records), "systems": systems})


class LookupView(APIView):
    @extend_schema(
        summary="业务编号查询 lookup by ZDDM, BDCDYH, permit or contract number",
        parameters=[CRS_PARAM],
        responses=LookupSerializer,
    )
    def get(self, request, kind: str, value: str):
        kinds = features.lookup_kinds()
        if kind not in kinds:
            return Response(
                {"detail": f"unknown lookup {kind!r}; use one of {kinds}", "param": "kind"}, status=404
            )
        try:
            srid = features.parse_srid(request.GET.get("crs"))
        except QueryError as exc:
            return Response(query_error_payload(exc), status=400)
        found = features.lookup(kind, value, registry.for_user(request.user), out_srid=srid)
        return Response({"kind": kind, "value": value, "count": len(found), "results": found})


class SearchView(APIView):
    @extend_schema(
        summary="搜索提示 search suggestions: codes by prefix, addresses and project names by substring",
        description=(
            "宗地代码、不动产单元号、许可证号、合同编号按前缀（不区分大小写）匹配；坐落与项目名称按包含匹配。"
            "完全相同的排在最前，其次编号，最后地址。Only layers the user may see; bbox in EPSG:4490."
        ),
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True, description="搜索文字（至少 2 个字符）"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–50, default 10"),
        ],
        responses=SearchSerializer,
    )
    def get(self, request):
        try:
            q, limit = search.parse_query(request.GET.get("q"), request.GET.get("limit"))
        except QueryError as exc:
            return Response(query_error_payload(exc), status=400)
        results = search.search(q, registry.for_user(request.user), limit)
        return Response({"q": q, "results": results})


MAP_ROLES = (SUPERVISOR, ANALYST, ETL_OPERATOR)  # and admin
MAX_LOADS = 500


class LoadsView(APIView):
    @extend_schema(
        summary="加载批次 completed ETL loads, newest first (the map's time filter)",
        parameters=[
            OpenApiParameter("system", OpenApiTypes.STR, description="业务系统 e.g. registration"),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"1–{MAX_LOADS}, default 50"),
        ],
        responses=LoadsSerializer,
    )
    def get(self, request):
        if not has_role(request.user, *MAP_ROLES):
            return Response({"detail": "需要地图角色 a map role is needed"}, status=403)
        try:
            limit = int(request.GET.get("limit") or 50)
        except ValueError:
            return Response({"detail": "not an integer", "param": "limit"}, status=400)
        if not 1 <= limit <= MAX_LOADS:
            return Response({"detail": f"must be between 1 and {MAX_LOADS}", "param": "limit"}, status=400)
        system = request.GET.get("system") or None
        return Response({"results": selectors.completed_loads(system=system, limit=limit)})


def dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)
