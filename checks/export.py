"""Findings exports: GeoJSON, XLSX (summary by rule and status with a chart, then the detail list) and
GeoPackage (one layer, EPSG:4490). The CLI and the API call the same functions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from django.db.models import QuerySet

from checks.models import STATUS_EN
from checks.selectors import (
    STATUS_TITLES,
    business_keys,
    finding_properties,
    findings_geojson,
    summary,
)

FORMATS = ("json", "xlsx", "gpkg")
DETAIL_COLUMNS = [
    ("id", "编号(指纹) id"),
    ("rule", "规则 rule"),
    ("title_zh", "规则名称"),
    ("status_zh", "状态"),
    ("status", "status"),
    ("county", "区县 county"),
    ("zddm", "宗地代码 ZDDM"),
    ("bdcdyh", "不动产单元号/自然幢号 BDCDYH/ZRZH"),
    ("permit_no", "许可证号 permit"),
    ("contract_no", "合同编号 contract"),
    ("values", "比较值 values"),
    ("opened_at", "发现时间 opened"),
    ("fixed_at", "整改时间 fixed"),
    ("exception_reason", "误报理由 exception reason"),
    ("lon", "经度 lon"),
    ("lat", "纬度 lat"),
]


def export_json(qs: QuerySet) -> bytes:
    return json.dumps(findings_geojson(qs), ensure_ascii=False, indent=1).encode("utf-8")


def _cell(value):
    if isinstance(value, list):
        return "; ".join(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def export_xlsx(qs: QuerySet) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "汇总 summary"
    statuses = list(STATUS_TITLES)
    status_titles = [f"{STATUS_TITLES[s]} {STATUS_EN[s]}" for s in statuses]
    ws.append(["规则 rule", "规则名称", "rule title", *status_titles, "平均整改天数 mean days to fix"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    in_export = set(qs.values_list("rule", flat=True).distinct())
    rules = [r for r in summary()["rules"] if r["rule"] in in_export] or summary()["rules"]
    # the summary counts what the export contains (same filters)
    counted: dict[tuple[str, str], int] = {}
    for rule, status in qs.values_list("rule", "status"):
        counted[(rule, status)] = counted.get((rule, status), 0) + 1
    for r in rules:
        ws.append(
            [
                r["rule"],
                r["title_zh"],
                r["title_en"],
                *[counted.get((r["rule"], s), 0) for s in statuses],
                r["mean_days_to_fix"],
            ]  # fmt: skip
        )
    chart = BarChart()
    chart.type = "col"
    chart.grouping = "stacked"
    chart.overlap = 100
    chart.title = "各规则问题数（按状态） Findings per rule and status"
    chart.y_axis.title = "数量 count"
    data = Reference(ws, min_col=4, max_col=3 + len(statuses), min_row=1, max_row=1 + len(rules))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=1 + len(rules)))
    chart.width, chart.height = 24, 12
    ws.add_chart(chart, f"A{len(rules) + 4}")

    detail = wb.create_sheet("明细 findings")
    detail.append([title for _key, title in DETAIL_COLUMNS])
    for cell in detail[1]:
        cell.font = Font(bold=True)
    for f in qs.iterator(chunk_size=2000):
        props = finding_properties(f)
        point = f.geom.point_on_surface if f.geom and not f.geom.empty else None
        props["lon"], props["lat"] = (round(point.x, 7), round(point.y, 7)) if point else (None, None)
        detail.append([_cell(props.get(key)) for key, _title in DETAIL_COLUMNS])
    detail.freeze_panes = "A2"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def export_gpkg(qs: QuerySet, path: Path) -> Path:
    import pyogrio

    rows = list(qs)
    names = [
        "fid_text",
        "rule",
        "status",
        "status_zh",
        "county",
        *business_keys([]).keys(),
        "vals",
        "opened_at",
    ]
    columns: dict[str, list] = {n: [] for n in names}
    geoms = []
    for f in rows:
        props = finding_properties(f)
        columns["fid_text"].append(f.fingerprint)
        for n in ("rule", "status", "status_zh", "county", "opened_at"):
            columns[n].append(props[n])
        for n, keys in business_keys(f.keys).items():
            columns[n].append("; ".join(keys))
        columns["vals"].append(json.dumps(f.values, ensure_ascii=False))
        geoms.append(bytes(f.geom.wkb) if f.geom else None)
    path.unlink(missing_ok=True)
    pyogrio.raw.write(
        path,
        np.array(geoms, dtype=object),
        [np.array(columns[n], dtype=object) for n in names],
        ["id" if n == "fid_text" else n for n in names],
        driver="GPKG",
        layer="findings",
        crs="EPSG:4490",
        geometry_type="Unknown",
        encoding="UTF-8",
    )
    return path


def export_findings(qs: QuerySet, fmt: str, out: Path) -> Path:
    """Write the findings of ``qs`` to ``out`` in ``fmt`` (json | xlsx | gpkg)."""
    if fmt == "json":
        out.write_bytes(export_json(qs))
    elif fmt == "xlsx":
        out.write_bytes(export_xlsx(qs))
    elif fmt == "gpkg":
        export_gpkg(qs, out)
    else:
        raise ValueError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    return out
