"""The query model of the analysts' workbench: JSON in, validated dataclasses out.

Why dataclasses and our own validation (not a DRF serializer): every error must name the JSON path of the
bad value (``filters[1].value``, ``spatial[0].distance``) in Chinese and English, and the rules depend on
the layer (a filter's value has the type of the field it names). After :func:`parse_query` every field
name is a :class:`analysis.fields.Field` from the registry whitelist and every value has its field's
Python type, so the compiler (:mod:`analysis.compiler`) only assembles trusted SQL text and binds values.

The model (docs/analysis.md)::

    {"layer": "landsupply",
     "filters": [{"field": "land_use", "op": "eq|ne|in|range|contains|null|notnull", "value": ...}],
     "spatial": [{"predicate": "intersects|within|contains|dwithin|disjoint",
                  "layer": "buildings", "filters": [...], "compare": [...], "exclude_intersecting": false
                  | "geometry": {GeoJSON in EPSG:4490} | "county": "500103",
                  "distance": 50}],
     "buffer": 0, "group_by": [...], "aggregates": [{"fn": "count|sum|avg", "field": ...}],
     "order_by": "-area_m2", "limit": 100, "offset": 0, "crs": 4490}

Dates may be ISO dates or relative to the day the query runs (``today``, ``today-1y``, ``today-6m``,
``today-30d``, ``today-2w``), so a saved query re-run next year still asks "more than a year ago".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from analysis.fields import NUMERIC, ORDERED, Field, FieldError, resolve
from analysis.values import (
    MAX_TEXT,
    AccessError,
    QueryModelError,
    RelativeDate,
    county_code,
    error,
    geometry_wkb,
    integer,
    number,
    parse_crs,
    typed_value,
)
from layers import registry
from layers.registry import Layer

OPS = ("eq", "ne", "in", "range", "contains", "null", "notnull")
PREDICATES = ("intersects", "within", "contains", "dwithin", "disjoint")
AGGREGATES = ("count", "sum", "avg")
COMPARE_OPS = ("eq", "ne")
TOP_KEYS = ("layer", "filters", "spatial", "buffer", "group_by", "aggregates", "order_by", "limit", "offset")
TOP_KEYS += ("crs",)
SPATIAL_KEYS = ("predicate", "layer", "geometry", "county", "distance", "filters", "compare")
SPATIAL_KEYS += ("exclude_intersecting",)
MAX_FILTERS, MAX_SPATIAL, MAX_IN, MAX_GROUPS, MAX_AGGREGATES = 50, 10, 1000, 4, 10
MAX_DISTANCE_M, MAX_BUFFER_M, MAX_OFFSET = 100_000, 10_000, 10_000_000
__all__ = ["AccessError", "QueryModelError", "RelativeDate", "Query", "parse_query", "parse_crs"]


@dataclass(frozen=True)
class Filter:
    field: Field
    op: str
    value: object = None  # typed; a list for in, a (min, max) pair for range


@dataclass(frozen=True)
class Compare:
    """A condition between the target feature and the other layer's feature of a spatial item."""

    field: Field
    op: str
    other: Field


@dataclass(frozen=True)
class Spatial:
    predicate: str
    layer: Layer | None = None
    filters: tuple[Filter, ...] = ()
    compare: tuple[Compare, ...] = ()
    geometry: bytes | None = None  # WKB, EPSG:4490
    county: str | None = None
    distance: float | None = None
    exclude_intersecting: bool = False


@dataclass(frozen=True)
class Aggregate:
    fn: str
    field: Field | None = None

    @property
    def name(self) -> str:
        return "count" if self.fn == "count" else f"{self.fn}_{self.field.name}"

    def column(self) -> dict:
        if self.fn == "count":
            return {
                "name": "count",
                "title_zh": "数量",
                "title_en": "Count",
                "type": "integer",
                "codelist": None,
            }
        zh = {"sum": "合计", "avg": "平均"}[self.fn]
        en = {"sum": "Sum of", "avg": "Mean of"}[self.fn]
        return {
            "name": self.name,
            "title_zh": f"{self.field.title_zh}{zh}",
            "title_en": f"{en} {self.field.title_en}",
            "type": "number",
            "codelist": None,
        }


@dataclass(frozen=True)
class Query:
    layer: Layer
    filters: tuple[Filter, ...] = ()
    spatial: tuple[Spatial, ...] = ()
    buffer: float = 0.0
    group_by: tuple[Field, ...] = ()
    aggregates: tuple[Aggregate, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()  # (field or aggregate name, descending)
    limit: int = 100
    offset: int = 0
    crs: int = 4490
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def grouped(self) -> bool:
        return bool(self.group_by)

    def layers(self) -> list[Layer]:
        """Every layer the query reads: the user must be allowed to see all of them."""
        return [self.layer, *(s.layer for s in self.spatial if s.layer is not None)]


def max_rows() -> int:
    return int(getattr(settings, "ANALYSIS_MAX_ROWS", 10_000))


def _list(data: dict, key: str, path: str, most: int) -> list:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise error(path, "应为列表", "must be a list")
    if len(value) > most:
        raise error(path, f"最多 {most} 项", f"at most {most} items")
    return value


def _object(value: object, path: str, allowed: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise error(path, "应为 JSON 对象", "must be a JSON object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise error(
            f"{path}.{unknown[0]}" if path else unknown[0],
            f"未知的键 {unknown[0]}；可用：{', '.join(allowed)}",
            f"unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}",
        )
    return value


def _layer(name: object, path: str, user) -> Layer:
    """A registry layer; with ``user``, one that user may see (a layer of another role is
    :class:`AccessError` before any of its fields is validated, so errors reveal nothing of it)."""
    layer = registry.get(name) if isinstance(name, str) else None
    visible = registry.all_layers() if user is None else registry.for_user(user)
    if layer is None:
        names = ", ".join(layer.name for layer in visible)
        raise error(path, f"未知图层；可用图层：{names}", f"unknown layer; layers: {names}")
    if user is not None and not layer.allows(user):
        raise AccessError(
            path,
            f"图层 {layer.title_zh}（{layer.name}）需要其他角色",
            f"layer {layer.name!r} needs another role",
        )
    return layer


def _field(layer: Layer, name: object, path: str) -> Field:
    try:
        return resolve(layer, name)
    except FieldError as exc:
        raise error(path, exc.message_zh, exc.message_en) from exc


def _filter(layer: Layer, item: object, path: str) -> Filter:
    item = _object(item, path, ("field", "op", "value"))
    f = _field(layer, item.get("field"), f"{path}.field")
    op = item.get("op")
    if op not in OPS:
        raise error(f"{path}.op", f"运算符应为 {', '.join(OPS)} 之一", f"op must be one of {', '.join(OPS)}")
    vpath, value = f"{path}.value", item.get("value")
    if op in ("null", "notnull"):
        if value is not None:
            raise error(vpath, f"{op} 不需要值", f"op {op} takes no value")
        return Filter(f, op)
    if op == "contains":
        if f.type != "string":
            raise error(f"{path}.op", "contains 只适用于文本字段", "contains applies to text fields only")
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
            raise error(vpath, "应为非空文本", "must be non-empty text")
        return Filter(f, op, value)
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_IN:
            raise error(vpath, f"应为 1–{MAX_IN} 个值的列表", f"must be a list of 1-{MAX_IN} values")
        return Filter(f, op, tuple(typed_value(f, v, f"{vpath}[{i}]") for i, v in enumerate(value)))
    if op == "range":
        if f.type not in ORDERED:
            raise error(
                f"{path}.op", "range 只适用于数值和日期字段", "range applies to numbers and dates only"
            )
        if not isinstance(value, list) or len(value) != 2 or value == [None, None]:
            raise error(vpath, "应为 [最小值或 null, 最大值或 null]", "must be [min or null, max or null]")
        low, high = (None if v is None else typed_value(f, v, f"{vpath}[{i}]") for i, v in enumerate(value))
        fixed = not isinstance(low, RelativeDate) and not isinstance(high, RelativeDate)
        if fixed and low is not None and high is not None and low > high:
            raise error(vpath, "最小值大于最大值", "min is greater than max")
        return Filter(f, op, (low, high))
    return Filter(f, op, typed_value(f, value, vpath))


def _filters(layer: Layer, data: dict, path: str) -> tuple[Filter, ...]:
    items = _list(data, "filters", path, MAX_FILTERS)
    return tuple(_filter(layer, item, f"{path}[{i}]") for i, item in enumerate(items))


def _compare(target: Layer, other: Layer, item: object, path: str) -> Compare:
    item = _object(item, path, ("field", "op", "other"))
    mine = _field(target, item.get("field"), f"{path}.field")
    theirs = _field(other, item.get("other"), f"{path}.other")
    if item.get("op") not in COMPARE_OPS:
        raise error(f"{path}.op", "运算符应为 eq 或 ne", "op must be eq or ne")
    if mine.type != theirs.type:
        raise error(
            f"{path}.other",
            f"字段类型不同（{mine.type} 与 {theirs.type}）",
            f"the fields have different types ({mine.type} and {theirs.type})",
        )
    return Compare(mine, item["op"], theirs)


def _spatial(target: Layer, item: object, path: str, user) -> Spatial:
    item = _object(item, path, SPATIAL_KEYS)
    predicate = item.get("predicate")
    if predicate not in PREDICATES:
        raise error(
            f"{path}.predicate",
            f"空间关系应为 {', '.join(PREDICATES)} 之一",
            f"predicate must be one of {', '.join(PREDICATES)}",
        )
    sources = [k for k in ("layer", "geometry", "county") if item.get(k) is not None]
    if len(sources) != 1:
        raise error(
            path, "layer、geometry、county 须且只能给一个", "give exactly one of layer, geometry, county"
        )
    distance = item.get("distance")
    if predicate == "dwithin":
        distance = number(distance, f"{path}.distance", low=0, high=MAX_DISTANCE_M)
    elif distance is not None:
        raise error(f"{path}.distance", "只有 dwithin 使用距离", "distance applies to dwithin only")
    exclude = item.get("exclude_intersecting", False)
    if not isinstance(exclude, bool) or (exclude and (predicate != "dwithin" or sources != ["layer"])):
        raise error(
            f"{path}.exclude_intersecting",
            "只能用于 dwithin 与另一图层（布尔值）",
            "a boolean, for dwithin against another layer only",
        )
    if sources != ["layer"]:
        for key in ("filters", "compare"):
            if item.get(key):
                raise error(f"{path}.{key}", "只能用于另一图层", "applies to another layer only")
    common = {"predicate": predicate, "distance": distance, "exclude_intersecting": exclude}
    if sources == ["geometry"]:
        return Spatial(geometry=geometry_wkb(item["geometry"], f"{path}.geometry"), **common)
    if sources == ["county"]:
        return Spatial(county=county_code(item["county"], f"{path}.county"), **common)
    other = _layer(item["layer"], f"{path}.layer", user)
    compares = _list(item, "compare", f"{path}.compare", 5)
    return Spatial(
        layer=other,
        filters=_filters(other, item, f"{path}.filters"),
        compare=tuple(_compare(target, other, c, f"{path}.compare[{i}]") for i, c in enumerate(compares)),
        **common,
    )


def _aggregate(layer: Layer, item: object, path: str) -> Aggregate:
    item = _object(item, path, ("fn", "field"))
    fn = item.get("fn")
    if fn not in AGGREGATES:
        raise error(f"{path}.fn", "应为 count、sum 或 avg", "fn must be count, sum or avg")
    if fn == "count":
        if item.get("field") not in (None, "id"):
            raise error(f"{path}.field", "count 不需要字段", "count takes no field")
        return Aggregate("count")
    f = _field(layer, item.get("field"), f"{path}.field")
    if f.type not in NUMERIC or f.name == "id":
        raise error(
            f"{path}.field", f"{fn} 需要数值字段（如 area_m2）", f"{fn} needs a numeric field (e.g. area_m2)"
        )
    return Aggregate(fn, f)


def _order(value: object, names: list[str], path: str) -> tuple[tuple[str, bool], ...]:
    if value in (None, "", []):
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or len(items) > 5 or not all(isinstance(i, str) for i in items):
        raise error(path, "应为字段名（降序加 -），如 -area_m2", "must be a field name, '-' for descending")
    out = []
    for item in items:
        item = item.strip()
        name = item.lstrip("-+")
        if name not in names:
            raise error(
                path,
                f"不能按 {name} 排序；可用：{', '.join(names)}",
                f"cannot order by {name!r}; use {names}",
            )
        out.append((name, item.startswith("-")))
    return tuple(out)


def parse_query(data: object, *, user=None) -> Query:
    """Validate a query (parsed JSON) into a :class:`Query`; raises :class:`QueryModelError`, or with a
    ``user`` :class:`AccessError` for a layer that user may not see."""
    data = _object(data, "", TOP_KEYS)
    layer = _layer(data.get("layer"), "layer", user)
    filters = _filters(layer, data, "filters")
    spatial = tuple(
        _spatial(layer, item, f"spatial[{i}]", user)
        for i, item in enumerate(_list(data, "spatial", "spatial", MAX_SPATIAL))
    )
    buffer = data.get("buffer")
    buffer = 0.0 if buffer is None else number(buffer, "buffer", low=0, high=MAX_BUFFER_M)
    groups = []
    for i, name in enumerate(_list(data, "group_by", "group_by", MAX_GROUPS)):
        f = _field(layer, name, f"group_by[{i}]")
        if f.type not in ("string", "integer", "date") or f.name == "id" or f in groups:
            raise error(
                f"group_by[{i}]",
                "只能按文本、整数、日期字段分组（如 county、class1:land_use、year:supplied_on），且不重复",
                "group by text, integer or date fields (county, class1:<code>, year:<date>), each once",
            )
        groups.append(f)
    raw_aggregates = _list(data, "aggregates", "aggregates", MAX_AGGREGATES)
    if raw_aggregates and not groups:
        raise error("aggregates", "统计需要 group_by", "aggregates need group_by")
    aggregates = tuple(_aggregate(layer, a, f"aggregates[{i}]") for i, a in enumerate(raw_aggregates))
    if groups and not aggregates:
        aggregates = (Aggregate("count"),)
    if len({a.name for a in aggregates}) != len(aggregates):
        raise error("aggregates", "统计项重复", "an aggregate is listed twice")
    if groups:
        names = [g.name for g in groups] + [a.name for a in aggregates]
    else:
        names = ["id", *layer.columns, "area_m2", "county"]
        names += [f"{k}:{a.column}" for a in layer.attributes for k in ("year", "class1")]
    order = _order(data.get("order_by"), names, "order_by")
    if not groups:  # a virtual field in order_by must resolve (year:/class1: only where they apply)
        for name, _desc in order:
            _field(layer, name, "order_by")
    limit = data.get("limit")
    default_limit = max_rows() if groups else 100
    limit = default_limit if limit is None else integer(limit, "limit", 1, max_rows())
    offset = data.get("offset")
    offset = 0 if offset is None else integer(offset, "offset", 0, MAX_OFFSET)
    crs = parse_crs(data.get("crs"), "crs")
    return Query(
        layer=layer,
        filters=filters,
        spatial=spatial,
        buffer=buffer,
        group_by=tuple(groups),
        aggregates=aggregates,
        order_by=order,
        limit=limit,
        offset=offset,
        crs=crs,
        raw=dict(data),
    )
