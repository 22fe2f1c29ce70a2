"""The ETL operators' console (数据管理员控制台). Thin views: the work is in etl.uploads and etl.console.

Every view answers only to ``etl_operator`` and ``admin`` (the audit trail only to ``admin``); ids in URLs
are looked up in our own tables, and system names only through the shipped mappings.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

from django.contrib import messages
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ADMIN, ETL_OPERATOR, role_required
from etl import console, report
from etl.errors import EtlError
from etl.mapping import Mapping, known_systems, load_mapping
from etl.mapping_doc import render_mapping_html
from etl.models import AuditEntry, ConsoleJob, LoadRun, Upload
from etl.uploads import ENCODINGS, preview, store_upload
from layers.selectors import counties_geojson

operator_only = role_required(ETL_OPERATOR, ADMIN)
# codes a new crosswalk entry fixes: unknown ones, and ambiguous ones (a one-to-one entry supersedes the
# one-to-many entries, as the operator decided)
FIXABLE_RULES = ("code_unknown", "code_ambiguous")


def _mapping(system: str) -> Mapping:
    if system not in known_systems():
        raise Http404(f"unknown system {system}")
    return load_mapping(system)


def _data_state(mapping: Mapping) -> dict:
    rows = {t.name: t.model_class.objects.filter(src_system=mapping.system).count() for t in mapping.targets}
    last = LoadRun.objects.filter(system=mapping.system, dry_run=False, status="completed").first()
    open_problems = last.problems.filter(severity="error", resolved_by=None).count() if last else 0
    return {"rows": rows, "last": last, "open": open_problems}


def job_dict(job: ConsoleJob) -> dict:
    return {
        "id": job.pk,
        "system": job.system,
        "kind": job.kind,
        "kind_label": job.get_kind_display(),
        "status": job.status,
        "status_label": job.get_status_display(),
        "progress": job.progress,
        "error": job.error,
        "run": job.run_id,
        "report": reverse("etl:run", args=[job.run_id]) if job.run_id else None,
        "cancel_requested": job.cancel_requested,
    }


@require_GET
@operator_only
def index(request: HttpRequest) -> HttpResponse:
    systems = []
    for system in known_systems():
        mapping = load_mapping(system)
        systems.append({"mapping": mapping, "state": _data_state(mapping), "job": console.active_job(system)})
    return render(request, "etl/index.html", {"systems": systems})


@require_GET
@operator_only
def system_page(request: HttpRequest, system: str) -> HttpResponse:
    mapping = _mapping(system)
    runs = list(LoadRun.objects.filter(system=system).select_related("user")[:30])
    for r in runs:
        r.duration = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
    return render(
        request,
        "etl/system.html",
        {
            "mapping": mapping,
            "state": _data_state(mapping),
            "runs": runs,
            "uploads": Upload.objects.filter(system=system).select_related("uploaded_by")[:10],
            "job": console.active_job(system),
        },
    )


@require_GET
@operator_only
def mapping_document(request: HttpRequest, system: str) -> HttpResponse:
    return HttpResponse(render_mapping_html(_mapping(system)))


@require_POST
@operator_only
def upload(request: HttpRequest, system: str) -> HttpResponse:
    _mapping(system)
    try:
        item = store_upload(system, request.FILES.getlist("files"), request.user)
    except EtlError as exc:
        messages.error(request, _("上传被拒绝：%(reason)s") % {"reason": exc})
        return redirect("etl:system", system=system)
    return redirect("etl:upload", pk=item.pk)


@operator_only
def upload_page(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Upload, pk=pk)
    if request.method == "POST":
        encoding = request.POST.get("encoding", "")
        if encoding and encoding not in ENCODINGS:
            raise Http404("unknown encoding")
        item.encoding = encoding
        item.save(update_fields=["encoding"])
        return redirect("etl:upload", pk=pk)
    mapping = _mapping(item.system)
    targets = preview(item, item.encoding)
    dry = ConsoleJob.objects.filter(upload=item, kind="dry_run").select_related("run").first()
    findings, unknown = [], []
    if dry and dry.run:
        findings = list(
            dry.run.problems.values("rule", "field", "severity")
            .annotate(n=Count("id"))
            .order_by("-n", "rule")
        )
        codes = Counter(dry.run.problems.filter(rule="code_unknown").values_list("field", "actual"))
        unknown = [{"field": f, "code": c, "n": n} for (f, c), n in codes.most_common()]
    extents = [{"target": t["target"], "bbox": t["extent"]} for t in targets if t.get("extent")]
    return render(
        request,
        "etl/upload.html",
        {
            "upload": item,
            "mapping": mapping,
            "targets": targets,
            "encodings": ENCODINGS,
            "dry": dry,
            "findings": findings,
            "unknown": unknown,
            "job": console.active_job(item.system),
            "map_data": {"counties": counties_geojson(0.01), "extents": extents},
        },
    )


@require_POST
@operator_only
def start(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Upload, pk=pk)
    kind = request.POST.get("kind")
    if kind not in (ConsoleJob.Kind.DRY_RUN, ConsoleJob.Kind.LOAD):
        raise Http404("unknown kind")
    try:
        console.job_start(system=item.system, kind=kind, user=request.user, upload=item)
    except EtlError as exc:
        messages.error(request, str(exc))
    return redirect("etl:upload", pk=pk)


@require_GET
@operator_only
def job_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(job_dict(get_object_or_404(ConsoleJob, pk=pk)))


@require_POST
@operator_only
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ConsoleJob, pk=pk)
    console.job_cancel(job, request.user)
    if request.headers.get("accept", "").startswith("application/json"):
        return JsonResponse({"ok": True})
    return redirect(request.POST.get("next") or reverse("etl:system", args=[job.system]))


@require_GET
@operator_only
def run_report(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(LoadRun, pk=pk)
    problems = run.problems.select_related("resolved_by")
    rule, field, severity = (
        request.GET.get("rule", ""),
        request.GET.get("field", ""),
        request.GET.get("severity", ""),
    )
    if rule:
        problems = problems.filter(rule=rule)
    if field:
        problems = problems.filter(field=field)
    if severity in ("error", "warning"):
        problems = problems.filter(severity=severity)
    by_rule = list(run.problems.values("rule", "severity").annotate(n=Count("id")).order_by("-n", "rule"))
    by_field = list(run.problems.values("field").annotate(n=Count("id")).order_by("-n", "field"))
    peak = max([r["n"] for r in by_rule] + [1])
    for r in by_rule:
        r["width"] = round(300 * r["n"] / peak)
    fpeak = max([r["n"] for r in by_field] + [1])
    for r in by_field:
        r["width"] = round(300 * r["n"] / fpeak)
    unknown = (
        run.problems.filter(rule__in=FIXABLE_RULES, severity="error")
        .values("rule", "field", "expected", "actual")
        .annotate(n=Count("id"), open=Count("id", filter=Q(resolved_by__isnull=True)))
        .order_by("-n")
    )
    return render(
        request,
        "etl/report.html",
        {
            "run": run,
            "problems": problems[:500],
            "total": problems.count(),
            "by_rule": by_rule,
            "by_field": by_field,
            "filters": {"rule": rule, "field": field, "severity": severity},
            "unknown": list(unknown),
            "rejected_open": run.problems.filter(severity="error", resolved_by=None)
            .exclude(row=None)
            .count(),
            "resolved": run.problems.filter(severity="error").exclude(resolved_by=None).count(),
            "reruns": run.reruns.all(),
            "job": console.active_job(run.system),
            "counties": counties_geojson(0.01),
        },
    )


@require_GET
@operator_only
def run_geojson(request: HttpRequest, pk: int) -> JsonResponse:
    """Rejected and flagged geometries of a run (as read, in CGCS2000) for the report's map."""
    run = get_object_or_404(LoadRun, pk=pk)
    features = []
    for p in run.problems.exclude(geom=None)[:5000]:
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(p.geom.geojson),
                "properties": {
                    "id": p.pk,
                    "row": p.row,
                    "rule": p.rule,
                    "field": p.field,
                    "severity": p.severity,
                    "message": p.message_zh,
                    "resolved": p.resolved_by_id is not None,
                },
            }
        )
    return JsonResponse({"type": "FeatureCollection", "features": features})


@require_GET
@operator_only
def run_download(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    run = get_object_or_404(LoadRun, pk=pk)
    name = f"onemap-run-{run.pk}-{run.system}"
    if fmt == "json":
        response = JsonResponse(
            report.report_data(run), json_dumps_params={"ensure_ascii": False, "indent": 1}
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
        return response
    writers = {"xlsx": report.write_xlsx, "gpkg": report.write_gpkg}
    if fmt not in writers:
        raise Http404("unknown format")
    folder = Path(tempfile.mkdtemp(prefix="onemap-report-"))
    path = writers[fmt](run, folder / f"{name}.{fmt}")
    handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    path.unlink()  # the open handle keeps the bytes; nothing is left behind on disk
    folder.rmdir()
    return FileResponse(handle, as_attachment=True, filename=f"{name}.{fmt}")


@require_POST
@operator_only
def crosswalk_fix(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(LoadRun, pk=pk)
    source_code = request.POST.get("source_code", "").strip()
    crosswalk = request.POST.get("crosswalk", "").strip()
    # only a code this run reported as unknown or ambiguous in that crosswalk can be mapped from here
    if not run.problems.filter(rule__in=FIXABLE_RULES, expected=crosswalk, actual=source_code).exists():
        raise Http404("no such unknown code in this run")
    try:
        entry = console.crosswalk_map(
            crosswalk=crosswalk,
            source_code=source_code,
            target_code=request.POST.get("target_code", "").strip(),
            user=request.user,
        )
    except EtlError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("已新增代码对照 %(src)s → %(dst)s，可重跑被拒行。")
            % {"src": entry.source_code, "dst": entry.target_code},
        )
    return redirect("etl:run", pk=pk)


@require_POST
@operator_only
def rerun(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(LoadRun, pk=pk)
    whole = request.POST.get("scope") == "all"
    try:
        if whole:
            origin = ConsoleJob.objects.filter(run=run).select_related("upload").first()
            if origin is None or origin.upload is None:
                raise console.ConsoleError(_("此批次不是从控制台上传的，请重新上传导出文件"))
            console.job_start(system=run.system, kind="load", user=request.user, upload=origin.upload)
        else:
            console.job_start(system=run.system, kind="rerun", user=request.user, rerun_of=run)
    except EtlError as exc:
        messages.error(request, str(exc))
    return redirect("etl:run", pk=pk)


@require_GET
@role_required(ADMIN)
def audit(request: HttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.select_related("user")[:500]
    return render(request, "etl/audit.html", {"entries": entries})
