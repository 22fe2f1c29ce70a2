"""Exports of a query's result: CSV (UTF-8 with BOM, Chinese header), XLSX (openpyxl, write-only), GeoPackage
(pyogrio) and GeoJSON, in EPSG:4490 or a Gauss-Krüger zone; grouped queries export their table (CSV, XLSX).

Why every format streams: an export may hold a million rows. Rows come from a server-side cursor inside
the engine's read-only transaction (:func:`analysis.engine.export_rows`) and go to the file chunk by chunk
(CSV and GeoJSON row by row, XLSX through openpyxl's write-only mode, GeoPackage by appending chunks), so
memory stays flat whatever the size.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from analysis.engine import export_rows
from analysis.query import Query

CHUNK = 20_000
PROGRESS_EVERY = 5_000


@dataclass(frozen=True)
class Format:
    name: str
    content_type: str
    geometry: str  # what the engine adds to each feature row (analysis.compiler.Compiler.features)
    tables: bool  # may export a grouped query's table


FORMATS = {
    "csv": Format("csv", "text/csv; charset=utf-8", "wkt", True),
    "xlsx": Format("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xy", True),
    "gpkg": Format("gpkg", "application/geopackage+sqlite3", "wkb", False),
    "geojson": Format("geojson", "application/geo+json", "geojson", False),
}
POINT_COLUMNS = [
    {
        "name": "x",
        "title_zh": "内点X",
        "title_en": "X (point on surface)",
        "type": "number",
        "codelist": None,
    },
    {
        "name": "y",
        "title_zh": "内点Y",
        "title_en": "Y (point on surface)",
        "type": "number",
        "codelist": None,
    },
]
WKT_COLUMN = {
    "name": "wkt",
    "title_zh": "几何(WKT)",
    "title_en": "Geometry (WKT)",
    "type": "string",
    "codelist": None,
}
# a text cell starting like a formula is written as text (XLSX) or with a leading apostrophe (CSV), so
# opening an export in a spreadsheet never evaluates data (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[int], None]


def extra_columns(fmt: Format, query: Query) -> list[dict]:
    if query.grouped:
        return []
    return {"wkt": [*POINT_COLUMNS, WKT_COLUMN], "xy": POINT_COLUMNS}.get(fmt.geometry, [])


def write_export(
    query: Query,
    *,
    fmt: str,
    srid: int,
    path: Path,
    progress: Progress | None = None,
    timeout_ms: int | None = None,
) -> int:
    """Write the whole result of ``query`` (no page) to ``path`` in ``fmt``; returns the rows written.
    ``progress(rows)`` is called every few thousand rows; ``timeout_ms`` as in
    :func:`analysis.engine.export_rows` (a web request passes the interactive timeout)."""
    spec = FORMATS[fmt]
    if query.grouped and not spec.tables:
        raise ValueError(f"a grouped query exports as a table (csv, xlsx), not {fmt}")
    with export_rows(query, geometry=spec.geometry, srid=srid, timeout_ms=timeout_ms) as (columns, rows):
        columns = columns + extra_columns(spec, query)
        writer = {"csv": _csv, "xlsx": _xlsx, "gpkg": _gpkg, "geojson": _geojson}[fmt]
        return writer(path, columns, _counted(rows, progress), query=query, srid=srid)


def _counted(rows: Iterable[list], progress: Progress | None) -> Iterable[list]:
    n = 0
    for row in rows:
        yield row
        n += 1
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(n)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _csv(path: Path, columns: list[dict], rows: Iterable[list], **_) -> int:
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([c["title_zh"] for c in columns])
        texts = [c["type"] == "string" for c in columns]
        for row in rows:
            cells = [_text(v) for v in row]
            for i, is_text in enumerate(texts):
                if is_text and cells[i].startswith(FORMULA_START):
                    cells[i] = "'" + cells[i]
            writer.writerow(cells)
            n += 1
    return n


def _xlsx_value(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        from django.utils import timezone

        return timezone.localtime(value).replace(tzinfo=None)
    return value


def _xlsx(path: Path, columns: list[dict], rows: Iterable[list], *, query: Query, **_) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    title = query.layer.title_zh + ("统计" if query.grouped else "")
    ws = wb.create_sheet(
        ILLEGAL_CHARACTERS_RE.sub("", title)[:31].translate(str.maketrans("", "", "[]:*?/\\"))
    )
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for c in columns:
        cell = WriteOnlyCell(ws, value=c["title_zh"])
        cell.font = bold
        header.append(cell)
    ws.append(header)
    n = 0
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, str):
                if ILLEGAL_CHARACTERS_RE.search(value):
                    value = ILLEGAL_CHARACTERS_RE.sub("", value)
                if value.startswith("="):  # openpyxl would write a formula
                    value = WriteOnlyCell(ws, value=value)
                    value.data_type = "s"
            elif value is not None and not isinstance(value, int | float):
                value = _xlsx_value(value)
            cells.append(value)
        ws.append(cells)
        n += 1
    wb.save(path)
    return n


def _gpkg_arrays(columns: list[dict], chunk: list[list]) -> tuple[list[np.ndarray], list]:
    arrays, masks = [], []
    for i, c in enumerate(columns):
        values = [r[i] for r in chunk]
        missing = np.array([v is None for v in values], dtype=bool)
        if c["type"] == "integer":
            arrays.append(np.array([0 if v is None else v for v in values], dtype=np.int64))
            masks.append(missing if missing.any() else None)
        elif c["type"] == "number":
            arrays.append(np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64))
            masks.append(None)
        elif c["type"] == "date":
            arrays.append(
                np.array(["NaT" if v is None else v.isoformat() for v in values], dtype="datetime64[D]")
            )
            masks.append(None)
        elif c["type"] == "datetime":
            arrays.append(
                np.array([_xlsx_value(v) if v is not None else "NaT" for v in values], dtype="datetime64[ms]")
            )
            masks.append(None)
        else:
            arrays.append(np.array(values, dtype=object))
            masks.append(None)
    return arrays, masks


def _gpkg(path: Path, columns: list[dict], rows: Iterable[list], *, query: Query, srid: int) -> int:
    import pyogrio

    n, chunk, written = 0, [], False
    geometry_type = query.layer.geometry_type if query.layer.geometry_type != "Geometry" else "Unknown"
    names = [c["name"] for c in columns]

    def flush() -> None:
        nonlocal written
        arrays, masks = _gpkg_arrays(columns, chunk)
        geoms = np.array([None if r[-1] is None else bytes(r[-1]) for r in chunk], dtype=object)
        pyogrio.raw.write(
            path,
            geoms,
            arrays,
            names,
            field_mask=masks if any(m is not None for m in masks) else None,
            driver="GPKG",
            layer=query.layer.name,
            crs=f"EPSG:{srid}",
            geometry_type=geometry_type,
            promote_to_multi=geometry_type.startswith("Multi"),
            encoding="UTF-8",
            append=written,
        )
        written = True

    for row in rows:
        chunk.append(row)
        n += 1
        if len(chunk) >= CHUNK:
            flush()
            chunk = []
    if chunk or not written:
        flush()
    return n


def _geojson(path: Path, columns: list[dict], rows: Iterable[list], *, query: Query, srid: int) -> int:
    names = [c["name"] for c in columns]
    n = 0
    head = {
        "type": "FeatureCollection",
        "name": query.layer.name,
        "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{srid}"}},
    }
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n')
        for row in rows:
            props = {k: _json(v) for k, v in zip(names, row[:-1], strict=True)}
            fh.write(",\n" if n else "")
            fh.write(
                f'{{"type": "Feature", "id": {int(row[0])}, "geometry": {row[-1] or "null"}, '
                f'"properties": {json.dumps(props, ensure_ascii=False)}}}'
            )
            n += 1
        fh.write("\n]}\n")
    return n


def _json(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
