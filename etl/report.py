"""The schema-mismatch report of a run as JSON, XLSX (with a chart) or GeoPackage (rejected geometries).

Format of the JSON report: ``docs/etl-report.md``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from etl.models import LoadRun

PROBLEM_FIELDS = [
    "target",
    "file",
    "row",
    "source_id",
    "rule",
    "field",
    "severity",
    "message_zh",
    "message_en",
    "expected",
    "actual",
    "resolved_by",
]


def _problem_dict(p) -> dict:
    return {
        "target": p.target,
        "file": p.source_file,
        "row": p.row,
        "source_id": p.source_id,
        "rule": p.rule,
        "field": p.field,
        "severity": p.severity,
        "message": f"{p.message_zh} / {p.message_en}",
        "message_zh": p.message_zh,
        "message_en": p.message_en,
        "expected": p.expected,
        "actual": p.actual,
        "resolved_by": p.resolved_by_id,
        "raw": p.raw,
    }


def report_data(run: LoadRun) -> dict:
    problems = list(run.problems.order_by("target", "row", "rule"))
    by_rule = Counter((p.rule, p.severity) for p in problems)
    by_field = Counter((p.target, p.field, p.rule) for p in problems)
    return {
        "run": run.pk,
        "system": run.system,
        "status": run.status,
        "dry_run": run.dry_run,
        "source": run.source_path,
        "checksum": run.checksum,
        "mapping_version": run.mapping_version,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "counts": run.counts,
        "targets": run.per_target,
        "error": run.error,
        "summary": {
            "by_rule": [{"rule": r, "severity": s, "count": n} for (r, s), n in sorted(by_rule.items())],
            "by_field": [
                {"target": t, "field": f, "rule": r, "count": n} for (t, f, r), n in sorted(by_field.items())
            ],
        },
        "problems": [_problem_dict(p) for p in problems],
    }


def write_xlsx(run: LoadRun, out: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    data = report_data(run)
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总 Summary"
    summary.append([f"加载批次 Run #{run.pk}", run.system, run.status, run.source_path])
    summary.append(["计数 Counts", *[f"{k}={v}" for k, v in run.counts.items()]])
    summary.append([])
    summary.append(["规则 Rule", "级别 Severity", "数量 Count"])
    for cell in summary[4]:
        cell.font = Font(bold=True)
    first = summary.max_row + 1
    for item in data["summary"]["by_rule"]:
        summary.append([item["rule"], item["severity"], item["count"]])
    last = summary.max_row
    if last >= first:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "按规则统计 Problems by rule"
        chart.add_data(Reference(summary, min_col=3, min_row=first - 1, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(summary, min_col=1, min_row=first, max_row=last))
        chart.height, chart.width = 8 + 0.4 * (last - first), 18
        summary.add_chart(chart, "F4")
    detail = wb.create_sheet("问题明细 Problems")
    raw_keys: list[str] = []
    for p in data["problems"]:
        for k in p["raw"]:
            if k not in raw_keys:
                raw_keys.append(k)
    detail.append([*PROBLEM_FIELDS, *[f"原始:{k}" for k in raw_keys]])
    for cell in detail[1]:
        cell.font = Font(bold=True)
    for p in data["problems"]:
        detail.append([p[f] for f in PROBLEM_FIELDS] + [_cell(p["raw"].get(k)) for k in raw_keys])
    detail.freeze_panes = "A2"
    wb.save(out)
    return out


def _cell(value):
    return value if isinstance(value, int | float | str) or value is None else str(value)


def write_gpkg(run: LoadRun, out: Path) -> Path:
    """Every problem as a feature (rejected geometries on a map); problems without geometry have none."""
    import pyogrio

    problems = list(run.problems.order_by("target", "row", "rule"))
    rows = [_problem_dict(p) for p in problems]
    fields = [f for f in PROBLEM_FIELDS if f != "resolved_by"]
    values = [
        np.array([-1 if r["row"] is None else r["row"] for r in rows], dtype=np.int64)
        if name == "row"
        else np.array([r[name] for r in rows], dtype=object)
        for name in fields
    ]
    wkb = np.array([None if p.geom is None else bytes(p.geom.wkb) for p in problems], dtype=object)
    out.unlink(missing_ok=True)
    pyogrio.raw.write(
        out,
        wkb,
        values,
        fields,
        layer=f"problems_run_{run.pk}",
        driver="GPKG",
        geometry_type="Unknown",
        crs="EPSG:4490",
        dataset_options={"VERSION": "1.2"},
    )
    return out
