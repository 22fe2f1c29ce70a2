"""``/api/queries/``: run a query. Thin views: validation in :mod:`analysis.query`, SQL in
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

from analysis import engine
from analysis.query import AccessError, QueryModelError, parse_query
from analysis.serializers import ErrorSerializer, QuerySerializer, ResultSerializer

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
        request=QuerySerializer,
        responses={200: ResultSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        examples=[OpenApiExample("residential supply since 2015 without buildings", value=EXAMPLE)],
    )
    def post(self, request):
        if not engine.can_query(request.user):
            return failure(ROLE_ERROR)
        try:
            query = parse_query(body(request), user=request.user)
            engine.check_access(request.user, query)
            return Response(engine.run_query(query))
        except (QueryModelError, engine.QueryTimeout) as exc:
            return failure(exc)
