"""``/api/queries/``: run a query, saved queries. Thin views: validation in :mod:`analysis.query`, SQL in
:mod:`analysis.compiler`, execution and access in :mod:`analysis.engine`.

Every view is authenticated (basic, session, token) like the rest of ``/api/``; running needs the analyst,
supervisor or admin role and every layer the query reads must be visible to the user (403 otherwise).
Errors are ``{"error": {"path", "message_zh", "message_en"}}``: 400 for a bad query (``path`` names the
JSON path of the bad value), 403 for a role or layer, 400 with ``"code": "timeout"`` when the statement
timeout stopped the query (not 408: browsers re-send a request answered 408 on a kept-alive connection).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import engine, services
from analysis.query import AccessError, QueryModelError, parse_query
from analysis.serializers import (
    ErrorSerializer,
    ResultSerializer,
    RunRequestSerializer,
    SavedListSerializer,
    SavedQuerySerializer,
    SavedWriteSerializer,
)

ROLE_ERROR = AccessError(
    "", "需要分析人员、监管人员或管理员角色", "running queries needs the analyst, supervisor or admin role"
)


def error(path: str, zh: str, en: str, status: int = 400, **extra) -> Response:
    return Response({"error": {"path": path, "message_zh": zh, "message_en": en, **extra}}, status=status)


def body(request) -> dict:
    """The request's JSON object, or :class:`QueryModelError`."""
    try:
        data = request.data
    except ParseError as exc:
        raise QueryModelError(
            "", "请求体不是有效的 JSON", f"the body is not valid JSON ({exc.detail})"
        ) from exc
    if not isinstance(data, dict):
        raise QueryModelError("", "请求体必须是 JSON 对象", "the body must be a JSON object")
    return data


def failure(exc: Exception) -> Response:
    """The response for an error of the query engine."""
    if isinstance(exc, AccessError):
        return Response(exc.payload(), status=403)
    if isinstance(exc, engine.QueryTimeout):
        return Response(exc.payload(), status=400)
    return Response(exc.payload(), status=400)


EXAMPLE = {
    "layer": "landsupply",
    "filters": [
        {"field": "land_use", "op": "in", "value": ["0701", "0702"]},
        {"field": "supplied_on", "op": "range", "value": ["2015-01-01", None]},
    ],
    "spatial": [{"predicate": "disjoint", "layer": "buildings"}],
    "order_by": "-area_m2",
    "limit": 100,
}


class RunView(APIView):
    @extend_schema(
        operation_id="api_queries_run",
        summary="运行查询 run a query (features or groups)",
        description=(
            '请求体为查询模型（见 docs/analysis.md），或 `{"saved": id}` 重新运行已保存的查询（可另给 limit、'
            "offset、crs、order_by）。无 group_by 时返回要素（GeoJSON），有 group_by 时返回分组统计表。"
            'Body: the query model, or `{"saved": id}` to re-run a saved query on today\'s data.'
        ),
        request=RunRequestSerializer,
        responses={200: ResultSerializer, 400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        examples=[
            OpenApiExample("residential supply since 2015 without buildings", value=EXAMPLE),
            OpenApiExample("re-run a saved query", value={"saved": 2, "limit": 50}),
        ],
    )
    def post(self, request):
        if not engine.can_query(request.user):
            return failure(ROLE_ERROR)
        try:
            query = query_of(request, body(request))
            engine.check_access(request.user, query)
            return Response(engine.run_query(query))
        except LookupError:
            return not_found()
        except (QueryModelError, engine.QueryTimeout) as exc:
            return failure(exc)


def query_of(request, data: dict):
    """The query of a run or export body: the model itself, or ``{"saved": id, ...overrides}``."""
    if "saved" in data:
        overrides = {k: v for k, v in data.items() if k != "saved"}
        return services.saved_query_for_run(user=request.user, saved_id=data["saved"], overrides=overrides)
    return parse_query(data, user=request.user)


def not_found() -> Response:
    return error(
        "saved", "没有这个已保存的查询（或无权查看）", "no such saved query (or not visible to you)", 404
    )


class SavedListView(APIView):
    @extend_schema(
        operation_id="api_queries_list",
        summary="已保存的查询 saved queries: own, shared and the ready-made examples",
        responses={200: SavedListSerializer, 403: ErrorSerializer},
    )
    def get(self, request):
        if not engine.can_query(request.user):
            return failure(ROLE_ERROR)
        items = [services.saved_dict(s, request.user) for s in services.saved_visible(request.user)]
        return Response({"results": items})

    @extend_schema(
        operation_id="api_queries_create",
        summary="保存查询 save a query",
        request=SavedWriteSerializer,
        responses={201: SavedQuerySerializer, 400: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request):
        if not engine.can_query(request.user):
            return failure(ROLE_ERROR)
        try:
            saved = services.saved_query_create(user=request.user, data=body(request))
        except QueryModelError as exc:
            return failure(exc)
        return Response(services.saved_dict(saved, request.user), status=201)


class SavedDetailView(APIView):
    def _get(self, request, pk: int):
        return services.saved_visible(request.user).filter(pk=pk).first()

    @extend_schema(
        operation_id="api_queries_retrieve",
        summary="一个已保存的查询 one saved query",
        responses={200: SavedQuerySerializer, 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request, pk: int):
        if not engine.can_query(request.user):
            return failure(ROLE_ERROR)
        saved = self._get(request, pk)
        return not_found() if saved is None else Response(services.saved_dict(saved, request.user))

    @extend_schema(
        operation_id="api_queries_update",
        summary="修改已保存的查询 change a saved query (owner or admin; examples are read-only)",
        description="只改给出的字段（name、description、shared、query）。Only the fields given change.",
        request=SavedWriteSerializer,
        responses={
            200: SavedQuerySerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def put(self, request, pk: int):
        if not engine.can_query(request.user):
            return failure(ROLE_ERROR)
        saved = self._get(request, pk)
        if saved is None:
            return not_found()
        try:
            saved = services.saved_query_update(user=request.user, saved=saved, data=body(request))
        except QueryModelError as exc:
            return failure(exc)
        return Response(services.saved_dict(saved, request.user))

    @extend_schema(
        operation_id="api_queries_partial_update",
        summary="修改已保存的查询（部分） change some fields of a saved query",
        request=SavedWriteSerializer,
        responses={
            200: SavedQuerySerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def patch(self, request, pk: int):
        return self.put(request, pk)

    @extend_schema(
        operation_id="api_queries_destroy",
        summary="删除已保存的查询 delete a saved query (owner or admin; not the examples)",
        responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def delete(self, request, pk: int):
        if not engine.can_query(request.user):
            return failure(ROLE_ERROR)
        saved = self._get(request, pk)
        if saved is None:
            return not_found()
        try:
            services.saved_query_delete(user=request.user, saved=saved)
        except QueryModelError as exc:
            return failure(exc)
        return Response(status=204)
