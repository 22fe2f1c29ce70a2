"""``/api/queries/``: run a query, saved queries. Thin views: validation in :mod:`analysis.query`, SQL in
:mod:`analysis.compiler`, execution and access in :mod:`analysis.engine`.

Every view is authenticated (basic, session, token) like the rest of ``/api/``; running needs the analyst,
supervisor or admin role and every layer the query reads must be visible to the user (403 otherwise).
Errors are ``{"error": {"path", "message_zh", "message_en"}}``: 400 for a bad query (``path`` names the
JSON path of the bad value), 403 for a role or layer, 400 with ``"code": "timeout"`` when the statement
timeout stopped the query (not 408: browsers re-send a request answered 408 on a kept-alive connection).
"""

from __future__ import annotations

from dataclasses import replace

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import engine, jobs, services
from analysis.models import ExportJob, SavedQuery
from analysis.query import AccessError, QueryModelError, parse_crs, parse_query
from analysis.serializers import (
    ErrorSerializer,
    ExportJobSerializer,
    ExportQueuedSerializer,
    ExportRequestSerializer,
    ResultSerializer,
    RunRequestSerializer,
    SavedListSerializer,
    SavedQuerySerializer,
    SavedWriteSerializer,
)
from layers.api.base import FirstRendererNegotiation

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


def failure(exc: QueryModelError | engine.QueryTimeout) -> Response:
    """The response for an error of the query engine: 403 for access, 400 for the rest (timeout too)."""
    return Response(exc.payload(), status=403 if isinstance(exc, AccessError) else 400)


class QueryAPIView(APIView):
    """A view of the query engine: the role is checked once for every method (after authentication, so
    anonymous requests stay 401), and the engine's errors become their JSON answers here."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not engine.can_query(request.user):
            raise ROLE_ERROR

    def handle_exception(self, exc):
        if isinstance(exc, (QueryModelError, engine.QueryTimeout)):
            return failure(exc)
        return super().handle_exception(exc)


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


class RunView(QueryAPIView):
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
        try:
            query = query_of(request, body(request))
            engine.check_access(request.user, query)
            return Response(engine.run_query(query))
        except LookupError:
            return not_found()


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


class SavedListView(QueryAPIView):
    @extend_schema(
        operation_id="api_queries_list",
        summary="已保存的查询 saved queries: own, shared and the ready-made examples",
        responses={200: SavedListSerializer, 403: ErrorSerializer},
    )
    def get(self, request):
        items = [services.saved_dict(s, request.user) for s in services.saved_visible(request.user)]
        return Response({"results": items})

    @extend_schema(
        operation_id="api_queries_create",
        summary="保存查询 save a query",
        request=SavedWriteSerializer,
        responses={201: SavedQuerySerializer, 400: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request):
        saved = services.saved_query_create(user=request.user, data=body(request))
        return Response(services.saved_dict(saved, request.user), status=201)


class SavedDetailView(QueryAPIView):
    def _get(self, request, pk: int):
        return services.saved_visible(request.user).filter(pk=pk).first()

    @extend_schema(
        operation_id="api_queries_retrieve",
        summary="一个已保存的查询 one saved query",
        responses={200: SavedQuerySerializer, 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request, pk: int):
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
        saved = self._get(request, pk)
        if saved is None:
            return not_found()
        saved = services.saved_query_update(user=request.user, saved=saved, data=body(request))
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
        saved = self._get(request, pk)
        if saved is None:
            return not_found()
        services.saved_query_delete(user=request.user, saved=saved)
        return Response(status=204)


FILE_TYPES = {
    "text/csv": OpenApiTypes.BINARY,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": OpenApiTypes.BINARY,
    "application/geopackage+sqlite3": OpenApiTypes.BINARY,
    "application/geo+json": OpenApiTypes.OBJECT,
}


class ExportView(QueryAPIView):
    @extend_schema(
        operation_id="api_queries_export",
        summary="导出查询结果 export a query's result (CSV, XLSX, GeoPackage, GeoJSON)",
        description=(
            "≤ 5000 行直接返回文件（Content-Disposition: attachment）；"
            "更多时排队后台导出，返回 202 与状态地址。分组统计只能导出 csv、xlsx。"
            "At most ANALYSIS_EXPORT_DIRECT_ROWS rows: the file itself; more: 202 with a job whose "
            "status_url reports progress and, when done, a download_url (owner only)."
        ),
        request=ExportRequestSerializer,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="UTF-8 with BOM"),
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY,
            (200, "application/geopackage+sqlite3"): OpenApiTypes.BINARY,
            (200, "application/geo+json"): OpenApiTypes.OBJECT,
            (202, "application/json"): ExportQueuedSerializer,
            (400, "application/json"): ErrorSerializer,
            (403, "application/json"): ErrorSerializer,
            (404, "application/json"): ErrorSerializer,
        },
        examples=[
            OpenApiExample(
                "GeoPackage in GK zone 36", value={"query": EXAMPLE, "format": "gpkg", "crs": 4524}
            ),
            OpenApiExample("a saved query as XLSX", value={"saved": 4, "format": "xlsx"}),
        ],
    )
    def post(self, request):
        try:
            data = body(request)
            unknown = sorted(set(data) - {"query", "saved", "format", "crs"})
            if unknown:
                raise QueryModelError(unknown[0], f"未知的键 {unknown[0]}", f"unknown key {unknown[0]!r}")
            if ("query" in data) == ("saved" in data):
                raise QueryModelError(
                    "", "query 与 saved 须且只能给一个", "give exactly one of query and saved"
                )
            saved = None
            if "saved" in data:
                query = query_of(request, {"saved": data["saved"]})
                saved = SavedQuery.objects.filter(pk=data["saved"]).first()
            else:
                try:
                    query = parse_query(data["query"], user=request.user)
                except QueryModelError as exc:
                    raise services.prefixed(exc, "query") from exc
            engine.check_access(request.user, query)
            srid = parse_crs(data["crs"], "crs") if data.get("crs") is not None else query.crs
            query = replace(query, raw={**query.raw, "crs": srid})
            result = jobs.export_request(
                user=request.user, query=query, fmt=data.get("format"), srid=srid, saved=saved
            )
        except LookupError:
            return not_found()
        if isinstance(result, ExportJob):
            return Response(
                {
                    "job": result.pk,
                    "status": result.status,
                    "status_url": f"/api/queries/exports/{result.pk}/",
                },
                status=202,
            )
        return FileResponse(
            result.open(), as_attachment=True, filename=result.name, content_type=result.content_type
        )


def owned_job(request, pk: int) -> ExportJob | None:
    return ExportJob.objects.filter(pk=pk, owner=request.user).first()


def job_not_found() -> Response:
    return error("job", "没有这个导出任务（或不是你的）", "no such export job (or not yours)", 404)


class ExportStatusView(APIView):
    @extend_schema(
        operation_id="api_queries_export_status",
        summary="导出任务状态 export job status (owner only)",
        responses={200: ExportJobSerializer, 404: ErrorSerializer},
    )
    def get(self, request, pk: int):
        job = owned_job(request, pk)
        return job_not_found() if job is None else Response(jobs.job_dict(job))


class ExportDownloadView(APIView):
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        operation_id="api_queries_export_download",
        summary="下载导出文件 download an export (owner only)",
        responses={(200, ct): t for ct, t in FILE_TYPES.items()}
        | {(404, "application/json"): ErrorSerializer},
    )
    def get(self, request, pk: int):
        job = owned_job(request, pk)
        path = jobs.job_file(job) if job is not None else None
        if path is None:
            return job_not_found()
        return FileResponse(
            open(path, "rb"),
            as_attachment=True,
            filename=job.filename or path.name,
            content_type=jobs.FORMATS[job.format].content_type,
        )
