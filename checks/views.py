"""JSON API of the checks (plain Django views; every view checks the role).

Analysts and supervisors read (admins may do everything); only supervisors and admins change a status;
anyone else gets 403. Errors are JSON ``{"error": {"param", "message_zh", "message_en"}}`` with status 400.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ANALYST, SUPERVISOR, role_required
from checks.export import export_xlsx
from checks.models import Finding
from checks.selectors import (
    FilterError,
    finding_detail,
    findings_filtered,
    findings_geojson,
    rule_catalogue,
    summary,
)
from checks.services import TransitionError, finding_set_status

READERS = (SUPERVISOR, ANALYST)
MAX_LIMIT = 5000


def _error(param: str, zh: str, en: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": {"param": param, "message_zh": zh, "message_en": en}}, status=status)


def _filters(request: HttpRequest):
    return findings_filtered(
        rule=request.GET.get("rule") or None,
        status=request.GET.get("status") or None,
        county=request.GET.get("county") or None,
    )


@require_GET
@role_required(*READERS)
def rules(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"rules": rule_catalogue()}, json_dumps_params={"ensure_ascii": False})


@require_GET
@role_required(*READERS)
def summary_view(request: HttpRequest) -> JsonResponse:
    try:
        runs = int(request.GET.get("runs", 10))
    except ValueError:
        return _error("runs", "runs 必须是整数", "runs must be an integer")
    return JsonResponse(summary(runs=max(1, min(runs, 100))), json_dumps_params={"ensure_ascii": False})


@require_GET
@role_required(*READERS)
def findings(request: HttpRequest) -> JsonResponse:
    try:
        qs = _filters(request)
        limit = int(request.GET.get("limit", 500))
        offset = int(request.GET.get("offset", 0))
    except FilterError as exc:
        return _error(exc.param, f"参数 {exc.param} 无效", str(exc))
    except ValueError:
        return _error("limit", "limit/offset 必须是整数", "limit and offset must be integers")
    if not (1 <= limit <= MAX_LIMIT) or offset < 0:
        return _error("limit", f"limit 须在 1–{MAX_LIMIT} 之间", f"limit must be 1–{MAX_LIMIT}, offset ≥ 0")
    return JsonResponse(
        findings_geojson(qs, limit=limit, offset=offset), json_dumps_params={"ensure_ascii": False}
    )


@require_GET
@role_required(*READERS)
def finding(request: HttpRequest, fingerprint: str) -> JsonResponse:
    detail = finding_detail(fingerprint)
    if detail is None:
        raise Http404("no such finding")
    return JsonResponse(detail, json_dumps_params={"ensure_ascii": False})


@require_POST
@role_required(SUPERVISOR)
def finding_status(request: HttpRequest, fingerprint: str) -> JsonResponse:
    """Body (JSON or form): ``status`` (confirmed | exception | verified | reopened), ``reason``, ``expires``
    (ISO date-time, 误报 only)."""
    target = Finding.objects.filter(fingerprint=fingerprint).first()
    if target is None:
        raise Http404("no such finding")
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            return _error("body", "请求体不是有效的 JSON", "the body is not valid JSON")
        if not isinstance(body, dict):
            return _error("body", "请求体必须是 JSON 对象", "the body must be a JSON object")
    else:
        body = request.POST
    expires = None
    if body.get("expires"):
        expires = parse_datetime(str(body["expires"]))
        if expires is None:
            return _error("expires", "有效期格式应为 ISO 8601", "expires must be an ISO 8601 date-time")
        if timezone.is_naive(expires):
            expires = timezone.make_aware(expires)
    try:
        event = finding_set_status(
            finding=target,
            to=str(body.get("status", "")),
            user=request.user,
            reason=str(body.get("reason", "")),
            expires=expires,
        )
    except TransitionError as exc:
        return _error("status", exc.message_zh, exc.message_en)
    return JsonResponse(
        {
            "id": fingerprint,
            "status": event.to_status,
            "event": {"at": _iso(event.at), "from": event.from_status},
        },
        json_dumps_params={"ensure_ascii": False},
    )


def _iso(value: datetime) -> str:
    return value.isoformat()


@require_GET
@role_required(*READERS)
def export_xlsx_view(request: HttpRequest) -> HttpResponse:
    try:
        qs = _filters(request)
    except FilterError as exc:
        return _error(exc.param, f"参数 {exc.param} 无效", str(exc))
    response = HttpResponse(
        export_xlsx(qs), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = 'attachment; filename="findings.xlsx"'
    return response
