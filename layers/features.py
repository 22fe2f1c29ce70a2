"""Feature reads for the REST API, OGC API Features, identify and lookups: one query builder for all.

Why SQL and not a serializer per feature: PostGIS transforms and writes GeoJSON for thousands of features
far faster than GEOS objects going through Python (the 10,000-feature bbox of ``bench/tiles.py``), and the
output CRS (4490, 4326, 3857, CGCS2000 Gauss-Krüger zones) is one ``ST_Transform`` away. Column names come
only from the registry (:mod:`layers.registry`); request values are validated here and bound as parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.utils import timezone

from layers.geodesy import NULL_DATUM_SRID
from layers.registry import LINEAGE_COLUMNS, SRID, Layer, all_layers

# CGCS2000 lon/lat, WGS 84, Web Mercator, and the CGCS2000 Gauss-Krüger zones EPSG defines (6° 4491–4512,
# 3° 4513–4554): the CRSs Chinese clients ask for. Only integers ever reach PostGIS.
GK_ZONES = range(4491, 4555)
OUTPUT_SRIDS = (4490, 4326, 3857, *GK_ZONES)
GEOGRAPHIC = {4490, 4326}
MAX_LIMIT = 10_000
OPERATORS = {"": "=", "gte": ">=", "lte": "<=", "gt": ">", "lt": "<", "contains": "ILIKE"}
# lineage columns a features request may filter on (layers with lineage only), with their operators
LINEAGE_FILTERS = {"loaded_at": ("gte", "lte", "gt", "lt"), "load_run": ("",)}


class QueryError(ValueError):
    """Bad request input; ``param`` names the query parameter so the client knows what to fix."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


def parse_srid(value: str | int | None, param: str = "crs", default: int = SRID) -> int:
    """An SRID from ``4490``, ``EPSG:4490`` or an OGC CRS URI; only the supported list is accepted."""
    if value in (None, ""):
        return default
    text = str(value).strip()
    if text.endswith("/OGC/1.3/CRS84") or text.upper() == "CRS84":
        return 4326
    for prefix in ("http://www.opengis.net/def/crs/EPSG/0/", "EPSG:", "epsg:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if not text.isdigit() or int(text) not in OUTPUT_SRIDS:
        raise QueryError(
            param, f"unsupported CRS {value!r}; use 4490, 4326, 3857 or a CGCS2000 GK zone 4491-4554"
        )
    return int(text)


def parse_bbox(value: str, param: str = "bbox") -> tuple[float, float, float, float]:
    parts = value.split(",")
    if len(parts) != 4:
        raise QueryError(param, "expected four numbers minx,miny,maxx,maxy")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError as exc:
        raise QueryError(param, f"not a number in {value!r}") from exc
    if not (minx < maxx and miny < maxy):
        raise QueryError(param, "min must be smaller than max on both axes")
    return minx, miny, maxx, maxy


def _typed(layer: Layer, column: str, raw: str, param: str):
    attr = layer.attribute(column)
    try:
        if attr.type == "integer":
            return int(raw)
        if attr.type == "number":
            return Decimal(raw)
        if attr.type == "date":
            return dt.date.fromisoformat(raw)
        if attr.type == "datetime":
            return dt.datetime.fromisoformat(raw)
    except (ValueError, InvalidOperation) as exc:
        raise QueryError(param, f"{raw!r} is not a valid {attr.type}") from exc
    return raw


def like_escape(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (backslash is LIKE's default escape): matched literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def parse_instant(raw: str, param: str) -> tuple[dt.datetime, bool]:
    """An aware date-time from ISO 8601 (a date, or a date-time with or without offset; naive values are
    in the project's time zone), and whether it was a bare date (its first instant)."""
    text = raw.strip()
    try:
        if len(text) == 10:
            value = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        else:
            # "2024-05-01 08:00" is accepted, and a "+08:00" offset sent unencoded arrives as " 08:00"
            text = text[:10] + text[10:11].replace(" ", "T") + text[11:].replace(" ", "+")
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise QueryError(param, f"{raw!r} is not an ISO date or date-time") from exc
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value, len(raw.strip()) == 10


@dataclass
class FeatureQuery:
    """What a client asked for, validated. ``filters``: (column, operator, value)."""

    layer: Layer
    bbox: tuple[float, float, float, float] | None = None
    bbox_srid: int = SRID
    filters: list[tuple[str, str, object]] = field(default_factory=list)
    ordering: list[tuple[str, bool]] = field(default_factory=list)
    limit: int = 100
    offset: int = 0
    out_srid: int = SRID
    lat_lon: bool = False  # OGC API Part 2: EPSG:4490/4326 coordinates in the CRS's lat/lon axis order
    ids: list[int] | None = None

    def add_filter(self, param: str, raw: str) -> None:
        """``column`` / ``column__gte|lte|gt|lt|contains`` with a value of the attribute's type."""
        column, _, op = param.partition("__")
        attr = self.layer.attribute(column)
        if (attr is None and column not in LINEAGE_FILTERS) or op not in OPERATORS:
            lineage = ", loaded_at__gte, loaded_at__lte, load_run" if self.layer.lineage else ""
            raise QueryError(param, f"unknown filter; filterable: {', '.join(self.layer.columns)}{lineage}")
        if attr is None and column in LINEAGE_FILTERS:
            self._add_lineage_filter(param, column, op, raw)
            return
        if op == "contains":
            if attr.type != "string":
                raise QueryError(param, "__contains applies to text attributes only")
            value = "%" + like_escape(raw) + "%"
        else:
            if op and attr.type == "string":
                raise QueryError(param, f"__{op} applies to numbers and dates only")
            value = _typed(self.layer, column, raw, param)
        self.filters.append((column, OPERATORS[op], value))

    def _add_lineage_filter(self, param: str, column: str, op: str, raw: str) -> None:
        """``loaded_at__gte|lte|gt|lt`` (ISO date or date-time) and ``load_run`` (a load run id): what the
        map's time filter asks for. A bare date means the whole day: ``__lte=2024-05-01`` includes it."""
        if not self.layer.lineage:
            raise QueryError(param, f"layer {self.layer.name!r} has no lineage (load run, load time)")
        if op not in LINEAGE_FILTERS[column]:
            allowed = ", ".join(column + (f"__{o}" if o else "") for o in LINEAGE_FILTERS[column])
            raise QueryError(param, f"unknown filter; use {allowed}")
        if column == "load_run":
            try:
                value: object = int(raw)
            except ValueError as exc:
                raise QueryError(param, f"{raw!r} is not a load run id") from exc
            self.filters.append((column, "=", value))
            return
        value, whole_day = parse_instant(raw, param)
        operator = OPERATORS[op]
        if whole_day and op in ("lte", "gt"):  # up to / after the end of that day, not its first instant
            value, operator = value + dt.timedelta(days=1), {"lte": "<", "gt": ">="}[op]
        self.filters.append((column, operator, value))

    def set_ordering(self, raw: str, param: str = "ordering") -> None:
        for item in filter(None, (p.strip() for p in raw.split(","))):
            desc = item.startswith("-")
            column = item.lstrip("-+")
            if column != "id" and self.layer.attribute(column) is None:
                raise QueryError(
                    param, f"cannot order by {column!r}; use id or {', '.join(self.layer.columns)}"
                )
            self.ordering.append((column, desc))

    def set_page(self, limit: str | None, offset: str | None, default: int = 100) -> None:
        try:
            self.limit = default if limit in (None, "") else int(limit)
        except ValueError as exc:
            raise QueryError("limit", "not an integer") from exc
        try:
            self.offset = 0 if offset in (None, "") else int(offset)
        except ValueError as exc:
            raise QueryError("offset", "not an integer") from exc
        if not 1 <= self.limit <= MAX_LIMIT:
            raise QueryError("limit", f"must be between 1 and {MAX_LIMIT}")
        if self.offset < 0:
            raise QueryError("offset", "must not be negative")


def _where(q: FeatureQuery) -> tuple[str, list]:
    clauses, params = ["src.geom IS NOT NULL"], []
    if q.bbox is not None:
        minx, miny, maxx, maxy = q.bbox
        envelope = "ST_MakeEnvelope(%s, %s, %s, %s, %s)"
        if q.bbox_srid != SRID:
            envelope = f"ST_Transform(ST_Segmentize({envelope}, %s), {SRID})"
            params += [minx, miny, maxx, maxy, q.bbox_srid, max(maxx - minx, maxy - miny) / 32]
        else:
            params += [minx, miny, maxx, maxy, SRID]
        clauses.append(f"ST_Intersects(src.geom, {envelope})")
    for column, operator, value in q.filters:
        clauses.append(f"src.{column} {operator} %s")
        params.append(value)
    if q.ids is not None:
        clauses.append("src.id = ANY(%s)")
        params.append(q.ids)
    return " AND ".join(clauses), params


def _geometry_sql(q: FeatureQuery) -> str:
    if q.out_srid == SRID:
        geom = "src.geom"
    elif q.out_srid in (NULL_DATUM_SRID, 3857):  # the same coordinates by a cheaper path (layers.geodesy)
        geom = f"ST_Transform(ST_SetSRID(src.geom, {NULL_DATUM_SRID}), {int(q.out_srid)})"
    else:
        geom = f"ST_Transform(src.geom, {int(q.out_srid)})"
    if q.lat_lon and q.out_srid in GEOGRAPHIC:
        geom = f"ST_FlipCoordinates({geom})"
    precision = 8 if q.out_srid in GEOGRAPHIC else 3
    return f"ST_AsGeoJSON({geom}, {precision})::json"


def _properties_sql(layer: Layer, columns) -> str:
    pairs = ", ".join(f"'{c}', src.{c}" for c in columns)
    return f"json_build_object({pairs})"


def feature_rows(q: FeatureQuery, *, with_count: bool = True) -> tuple[int | None, list[str]]:
    """Features as GeoJSON text (one string per feature) and, optionally, how many match in total."""
    where, params = _where(q)
    order = ", ".join(f"src.{c} {'DESC' if d else 'ASC'}" for c, d in q.ordering) or "src.id"
    if q.ordering:
        order += ", src.id"
    feature = (
        f"json_build_object('type', 'Feature', 'id', src.id, 'geometry', {_geometry_sql(q)}, "
        f"'properties', {_properties_sql(q.layer, q.layer.columns)})::text"
    )
    count = "count(*) OVER ()" if with_count else "NULL::bigint"
    sql = (
        f"SELECT {feature}, {count} FROM {q.layer.relation()} WHERE {where} "
        f"ORDER BY {order} LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, q.limit, q.offset])
        rows = cursor.fetchall()
    if with_count and not rows and q.offset:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {q.layer.relation()} WHERE {where}", params)
            return cursor.fetchone()[0], []
    return (rows[0][1] if rows else 0) if with_count else None, [r[0] for r in rows]


def feature_collection(features: list[str], **members) -> str:
    """A FeatureCollection as text, with extra top-level members (links, counts) JSON-encoded."""
    import json

    extra = "".join(f', "{k}": {json.dumps(v, ensure_ascii=False, default=str)}' for k, v in members.items())
    return '{"type": "FeatureCollection", "features": [' + ",".join(features) + "]" + extra + "}"


def _lineage_sql(layer: Layer) -> str:
    if not layer.lineage:
        return "NULL::json"
    return _properties_sql(layer, LINEAGE_COLUMNS)


def records_at(lon: float, lat: float, layers: list[Layer], tolerance_deg: float = 1e-5) -> list[dict]:
    """Every visible layer's records at a point (CGCS2000 lon/lat): identify. Lineage says where each came
    from, so a supervisor can trace a disagreement back to the file and row; ``labels`` names the codes of
    coded attributes (用途 0701 → 城镇住宅用地) and ``bbox`` lets the map zoom to the record."""
    out = []
    with connection.cursor() as cursor:
        for layer in layers:
            cursor.execute(
                f"SELECT src.id, {layer.system_sql()}::text, {_properties_sql(layer, layer.columns)}::text, "
                f"{_lineage_sql(layer)}::text, ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) "
                f"FROM {layer.relation()} CROSS JOIN LATERAL Box2D(src.geom) AS b "
                f"WHERE src.geom && ST_Expand(ST_SetSRID(ST_MakePoint(%s, %s), {SRID}), %s) "
                f"AND ST_DWithin(src.geom, ST_SetSRID(ST_MakePoint(%s, %s), {SRID}), %s) ORDER BY src.id",
                [lon, lat, tolerance_deg, lon, lat, tolerance_deg],
            )
            for pk, system, props, lineage, *box in cursor.fetchall():
                out.append(
                    {
                        "layer": layer.name,
                        "title_zh": layer.title_zh,
                        "title_en": layer.title_en,
                        "system": system or "",
                        "id": pk,
                        "properties": _loads(props),
                        "lineage": _loads(lineage),
                        "labels": {},
                        "bbox": box,
                    }
                )
    _add_labels(out, {layer.name: layer for layer in layers})
    return out


def _add_labels(records: list[dict], layers: dict[str, Layer]) -> None:
    """Fill each record's ``labels`` with the names of its coded values, read in one query for all."""
    wanted: set[tuple[str, str]] = set()
    for record in records:
        for attr in layers[record["layer"]].attributes:
            value = record["properties"].get(attr.column)
            if attr.codelist and value not in (None, ""):
                wanted.add((attr.codelist, str(value)))
    if not wanted:
        return
    names = code_names(wanted)
    for record in records:
        for attr in layers[record["layer"]].attributes:
            value = record["properties"].get(attr.column)
            name = names.get((attr.codelist, str(value))) if attr.codelist and value is not None else None
            if name:
                record["labels"][attr.column] = name


def code_names(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Names of (code list, code) pairs from the code lists in the database (what operators maintain). A
    code with several periods (a county renamed) is named by its current entry, else its latest one."""
    lists, codes = zip(*sorted(pairs), strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (l.key, c.code) l.key, c.code, c.name "
            "FROM layers_code c JOIN layers_codelist l ON l.id = c.codelist_id "
            "JOIN unnest(%s::text[], %s::text[]) AS w(list, code) ON w.list = l.key AND w.code = c.code "
            "ORDER BY l.key, c.code, c.valid_to DESC NULLS FIRST, c.valid_from DESC NULLS LAST",
            [list(lists), list(codes)],
        )
        return {(key, code): name for key, code, name in cursor.fetchall()}


def lookup(kind: str, value: str, layers: list[Layer], out_srid: int = SRID) -> list[dict]:
    """Records whose business key of ``kind`` (zddm, bdcdyh, permit, contract) equals ``value``."""
    out = []
    for layer in layers:
        column = layer.lookups.get(kind)
        if column is None:
            continue
        q = FeatureQuery(layer, out_srid=out_srid, limit=MAX_LIMIT)
        q.filters.append((column, "=", value))
        _, rows = feature_rows(q, with_count=False)
        out += [{"layer": layer.name, "title_zh": layer.title_zh, **_loads(r)} for r in rows]
    return out


def layer_extent(layer: Layer) -> tuple[float, float, float, float] | None:
    """The layer's data extent in CGCS2000 lon/lat, or None when it has no rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(src.geom) e "
            f"FROM {layer.relation()}) x"
        )
        row = cursor.fetchone()
    return None if row is None or row[0] is None else tuple(row)


def lookup_kinds() -> list[str]:
    return sorted({kind for layer in all_layers() for kind in layer.lookups})


def _loads(text: str | None):
    import json

    return json.loads(text) if text else None
