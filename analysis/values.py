"""Values of the query model: errors with JSON paths, typed values (relative dates), drawn geometries,
county codes and output CRSs.

Why apart from :mod:`analysis.query`: these are the checks on what a request may put into a bound
parameter; the model's structure (which keys, which fields of which layer) lives in ``query``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from analysis.fields import Field
from layers.features import QueryError, parse_srid

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
MAX_TEXT, MAX_VERTICES = 500, 20_000
RELATIVE = re.compile(r"today(?:([+-])(\d{1,4})([dwmy]))?")


class QueryModelError(ValueError):
    """A query the model refuses: ``path`` is the JSON path of the bad value (``filters[1].value``)."""

    def __init__(self, path: str, message_zh: str, message_en: str):
        super().__init__(f"{path}: {message_en}")
        self.path = path
        self.message_zh = message_zh
        self.message_en = message_en

    def payload(self) -> dict:
        return {"error": {"path": self.path, "message_zh": self.message_zh, "message_en": self.message_en}}


class AccessError(QueryModelError):
    """The user may not run this query (role, or a layer of another role): HTTP 403, not 400."""


@dataclass(frozen=True)
class RelativeDate:
    """``today`` plus or minus some days, weeks, months or years: resolved when the query runs."""

    text: str
    sign: int = 0
    amount: int = 0
    unit: str = "d"

    def resolve(self, today: dt.date) -> dt.date:
        n = self.sign * self.amount
        if self.unit == "d":
            return today + dt.timedelta(days=n)
        if self.unit == "w":
            return today + dt.timedelta(weeks=n)
        months = n * (12 if self.unit == "y" else 1)
        year, month = divmod(today.year * 12 + today.month - 1 + months, 12)
        month += 1
        last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
        return dt.date(year, month, min(today.day, last))


def error(path: str, zh: str, en: str) -> QueryModelError:
    return QueryModelError(path, zh, en)


def number(value: object, path: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise error(path, "应为数值", "must be a number")
    if not low <= value <= high:
        raise error(path, f"应在 {low:g} 到 {high:g} 之间", f"must be between {low:g} and {high:g}")
    return float(value)


def integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(path, "应为整数", "must be an integer")
    if not low <= value <= high:
        raise error(path, f"应在 {low} 到 {high} 之间", f"must be between {low} and {high}")
    return value


def typed_value(f: Field, value: object, path: str):
    """``value`` as the Python type of field ``f`` (dates may be relative: :class:`RelativeDate`)."""
    if value is None:
        raise error(path, "缺少值（空值请用 null 运算符）", "a value is required (use op null for no value)")
    if isinstance(value, bool):
        raise error(path, f"应为 {f.type} 类型的值", f"must be a {f.type} value, not a boolean")
    if f.type == "string":
        if isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise error(
                path, f"应为文本（最多 {MAX_TEXT} 字）", f"must be text (at most {MAX_TEXT} characters)"
            )
        return value
    if f.type == "integer":
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            value = int(value)
        if not isinstance(value, int):
            raise error(path, "应为整数", "must be an integer")
        return value
    if f.type == "number":
        try:
            number = Decimal(str(value).strip()) if isinstance(value, int | float | str) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise error(path, "应为数值", "must be a number")
        return number
    if isinstance(value, str):
        text = value.strip()
        match = RELATIVE.fullmatch(text)
        if match:
            sign, amount, unit = match.groups()
            return RelativeDate(text, -1 if sign == "-" else 1, int(amount or 0), unit or "d")
        try:
            if f.type == "date":
                return dt.date.fromisoformat(text)
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    raise error(
        path,
        "应为 ISO 日期（如 2015-01-01）或相对日期（today、today-1y、today-30d）",
        "must be an ISO date (e.g. 2015-01-01) or relative to today (today, today-1y, today-30d)",
    )


def coordinates_ok(value: object, depth: int) -> bool:
    """Nested lists of finite numbers, ``depth`` levels deep (a position is level 0)."""
    if depth == 0:
        return (
            isinstance(value, list)
            and len(value) in (2, 3)
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
        )
    return isinstance(value, list) and bool(value) and all(coordinates_ok(v, depth - 1) for v in value)


def geometry_wkb(value: object, path: str) -> bytes:
    from django.contrib.gis.gdal import GDALException
    from django.contrib.gis.geos import GEOSException, GEOSGeometry

    depth = {
        "Point": 0,
        "MultiPoint": 1,
        "LineString": 1,
        "MultiLineString": 2,
        "Polygon": 2,
        "MultiPolygon": 3,
    }
    if (
        not isinstance(value, dict)
        or value.get("type") not in GEOMETRY_TYPES
        or set(value) - {"type", "coordinates", "crs", "bbox"}
        or not coordinates_ok(value.get("coordinates"), depth[value["type"]])
    ):
        raise error(
            path,
            f"应为 GeoJSON 几何（{', '.join(GEOMETRY_TYPES)}），EPSG:4490 经纬度",
            f"must be a GeoJSON geometry ({', '.join(GEOMETRY_TYPES)}) in EPSG:4490 lon/lat",
        )
    try:
        geom = GEOSGeometry(json.dumps({"type": value["type"], "coordinates": value["coordinates"]}))
    except (GDALException, GEOSException, ValueError, TypeError) as exc:
        raise error(path, "无法解析的 GeoJSON 几何", f"not a readable GeoJSON geometry ({exc})") from exc
    if geom.empty or geom.num_coords > MAX_VERTICES:
        raise error(
            path, f"几何为空或超过 {MAX_VERTICES} 个顶点", f"empty, or more than {MAX_VERTICES} vertices"
        )
    minx, miny, maxx, maxy = geom.extent
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise error(
            path, "坐标超出经纬度范围（应为 EPSG:4490 经度、纬度）", "coordinates are not lon/lat (EPSG:4490)"
        )
    if not geom.valid:
        raise error(path, f"几何无效：{geom.valid_reason}", f"invalid geometry: {geom.valid_reason}")
    return bytes(geom.wkb)


def county_code(value: object, path: str) -> str:
    from layers.models import AdminDivision

    code = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(code, str) or not re.fullmatch(r"\d{6}", code):
        raise error(path, "应为 6 位区县代码，如 500103", "must be a 6-digit county code, e.g. 500103")
    if not AdminDivision.objects.filter(code=code, valid_to__isnull=True).exists():
        raise error(path, f"没有现行区县 {code}", f"no current county {code}")
    return code


def parse_crs(value: object, path: str) -> int:
    """An output SRID: what :func:`layers.features.parse_srid` accepts (4490, 4326, 3857, 4491–4554)."""
    if isinstance(value, bool) or not isinstance(value, int | str | None):
        raise error(path, "应为 EPSG 代码", "must be an EPSG code")
    try:
        return parse_srid(value, path)
    except QueryError as exc:
        raise error(
            path,
            "不支持的坐标系；可用 4490、4326、3857 或 CGCS2000 高斯-克吕格 4491–4554",
            exc.message,
        ) from exc
