"""A validated :class:`analysis.query.Query` compiled to parameterized PostGIS SQL.

Why every spatial condition is an ``EXISTS`` (or ``NOT EXISTS``) on the other layer: a target feature is
counted once however many features of the other layer it meets, so counts and area sums stay right, and
PostgreSQL runs it as a semi-join (anti-join for ``disjoint``) driven by the other table's GiST index.
Distances are geodesic metres (``ST_DWithin`` on geography), with a degree box around the geometry first
(``&&`` with ``ST_Expand``) so the index still narrows the candidates; areas are geodesic m².

SQL text comes only from the registry (layer sources, attribute columns) and the templates below; every
value is a named parameter (``%(p3)s``), so nothing from a request is ever spliced into SQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from analysis.fields import output_fields, resolve
from analysis.query import Filter, Query, RelativeDate, Spatial
from layers.features import like_escape
from layers.geodesy import NULL_DATUM_SRID
from layers.registry import SRID

ARRAY_TYPES = {
    "string": "text[]",
    "integer": "bigint[]",
    "number": "numeric[]",
    "date": "date[]",
    "datetime": "timestamptz[]",
}
GEOGRAPHIC = (4490, 4326)
TARGET = "t"


def expand_sql(geom: str, metres: str) -> str:
    """A box around ``geom`` (lon/lat) that holds every point within ``metres`` of it: degrees of latitude
    are ≥ 110.5 km, degrees of longitude ≥ 111.3 km × cos(latitude) at the geometry's far edge from the
    equator, so 110 km per degree errs on the generous side."""
    lat = f"least(89.0, greatest(abs(ST_YMin({geom})), abs(ST_YMax({geom}))))"
    return f"ST_Expand({geom}, {metres} / (110000.0 * cos(radians({lat}))), {metres} / 110000.0)"


def geometry_out_sql(geom: str, srid: int) -> str:
    """``geom`` (EPSG:4490) in the output CRS; lon/lat relabelled as WGS 84 first (layers.geodesy)."""
    if srid == SRID:
        return geom
    if srid in (NULL_DATUM_SRID, 3857):
        return f"ST_Transform(ST_SetSRID({geom}, {NULL_DATUM_SRID}), {int(srid)})"
    return f"ST_Transform({geom}, {int(srid)})"


def precision(srid: int) -> int:
    """Decimal places of output coordinates: ~1 mm either way."""
    return 8 if srid in GEOGRAPHIC else 3


@dataclass
class Compiled:
    """SQL text with named parameters, and what the columns of its rows are."""

    sql: str
    params: dict
    columns: list[dict] = field(default_factory=list)


class Compiler:
    """Compiles one query; ``today`` resolves relative dates (``today-1y``) for this run."""

    def __init__(self, query: Query, today: dt.date):
        self.q = query
        self.today = today
        self.params: dict = {}
        self.aliases = 0
        self.from_sql, self.where_sql = self._from(), self._where()

    # -- parameters ------------------------------------------------------------------------------------

    def bind(self, value) -> str:
        if isinstance(value, RelativeDate):
            value = value.resolve(self.today)
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    # -- FROM and WHERE --------------------------------------------------------------------------------

    @property
    def target_geom(self) -> str:
        """The target geometry the spatial predicates test: buffered (on geography) when asked."""
        return "tb.geom" if self.q.buffer > 0 else f"{TARGET}.geom"

    def _from(self) -> str:
        sql = f"({self.q.layer.source}) AS {TARGET}"
        if self.q.buffer > 0:  # computed once per row (OFFSET 0 keeps it from being inlined per use)
            metres = self.bind(self.q.buffer)
            buffered = f"ST_SetSRID(ST_Buffer({TARGET}.geom::geography, {metres})::geometry, {SRID})"
            sql += f" CROSS JOIN LATERAL (SELECT {buffered} AS geom OFFSET 0) AS tb"
        return sql

    def _where(self) -> str:
        clauses = [f"{TARGET}.geom IS NOT NULL"]
        clauses += [self.filter_sql(f, TARGET) for f in self.q.filters]
        clauses += [self.spatial_sql(s) for s in self.q.spatial]
        return " AND ".join(clauses)

    def filter_sql(self, f: Filter, alias: str) -> str:
        expr = f.field.sql(alias)
        text = f.field.type == "string"
        if f.op == "null":
            return f"({expr} IS NULL OR {expr} = '')" if text else f"{expr} IS NULL"
        if f.op == "notnull":
            return f"({expr} IS NOT NULL AND {expr} <> '')" if text else f"{expr} IS NOT NULL"
        if f.op == "eq":
            return f"{expr} = {self.bind(f.value)}"
        if f.op == "ne":
            return f"{expr} IS DISTINCT FROM {self.bind(f.value)}"
        if f.op == "contains":
            return f"{expr} ILIKE {self.bind('%' + like_escape(f.value) + '%')}"
        if f.op == "in":
            values = [v.resolve(self.today) if isinstance(v, RelativeDate) else v for v in f.value]
            return f"{expr} = ANY(CAST({self.bind(values)} AS {ARRAY_TYPES[f.field.type]}))"
        low, high = f.value  # range, both ends included
        parts = []
        if low is not None:
            parts.append(f"{expr} >= {self.bind(low)}")
        if high is not None:
            parts.append(f"{expr} <= {self.bind(high)}")
        return "(" + " AND ".join(parts) + ")"

    def spatial_sql(self, s: Spatial) -> str:
        tg = self.target_geom
        distance = self.bind(s.distance) if s.predicate == "dwithin" else None
        if s.layer is None:
            if s.geometry is not None:
                other = f"ST_GeomFromWKB({self.bind(s.geometry)}, {SRID})"
            else:
                other = (
                    "(SELECT ad.geom FROM layers_admindivision ad WHERE ad.valid_to IS NULL "
                    f"AND ad.code = {self.bind(s.county)} ORDER BY ad.id LIMIT 1)"
                )
            condition = self._relation(s.predicate, tg, other, distance)
            if self.q.buffer > 0 and s.predicate != "disjoint":  # the index on the unbuffered geometry
                reach = self.bind(self.q.buffer + (s.distance or 0.0))
                condition = f"{TARGET}.geom && {expand_sql(other, reach)} AND {condition}"
            return condition
        self.aliases += 1
        alias = f"o{self.aliases}"
        test = "intersects" if s.predicate == "disjoint" else s.predicate
        clauses = [self._relation(test, tg, f"{alias}.geom", distance, other_indexed=True)]
        if s.exclude_intersecting:
            clauses.append(f"NOT ST_Intersects({alias}.geom, {tg})")
        clauses += [self.filter_sql(f, alias) for f in s.filters]
        for c in s.compare:
            mine, theirs = c.field.sql(TARGET), c.other.sql(alias)
            if c.field.type == "string":  # an empty code is no value: it neither equals nor differs
                mine, theirs = f"NULLIF({mine}, '')", f"NULLIF({theirs}, '')"
            clauses.append(f"{mine} {'=' if c.op == 'eq' else '<>'} {theirs}")
        exists = f"EXISTS (SELECT 1 FROM ({s.layer.source}) AS {alias} WHERE {' AND '.join(clauses)})"
        return f"NOT {exists}" if s.predicate == "disjoint" else exists

    @staticmethod
    def _relation(predicate: str, tg: str, other: str, distance: str | None, other_indexed=False) -> str:
        """``predicate`` between the target geometry ``tg`` and ``other`` (target within/contains other)."""
        if predicate == "intersects":
            return f"ST_Intersects({other}, {tg})"
        if predicate == "disjoint":
            return f"NOT ST_Intersects({other}, {tg})"
        if predicate == "within":
            return f"ST_Within({tg}, {other})"
        if predicate == "contains":
            return f"ST_Contains({tg}, {other})"
        box = (
            f"{other} && {expand_sql(tg, distance)}"
            if other_indexed
            else f"{tg} && {expand_sql(other, distance)}"
        )
        return f"{box} AND ST_DWithin({other}::geography, {tg}::geography, {distance})"

    # -- statements ------------------------------------------------------------------------------------

    def count(self) -> Compiled:
        return Compiled(f"SELECT count(*) FROM {self.from_sql} WHERE {self.where_sql}", self.params)

    def _order_features(self) -> str:
        fields = {f.name: f for f in output_fields(self.q.layer)}
        parts = []
        for name, desc in self.q.order_by:
            f = fields.get(name) or resolve(self.q.layer, name)
            parts.append(f"{f.sql(TARGET)} {'DESC NULLS LAST' if desc else 'ASC NULLS LAST'}")
        return ", ".join([*parts, f"{TARGET}.id"])

    def page(self) -> Compiled:
        """One page of features and the total in one statement: the matching ids and sort keys are
        computed once (counted, sorted, cut to the page) and only the page's rows are joined back to the
        layer for their fields and geometry; a separate count would evaluate every condition twice. The
        first column is the total; an empty page still gives one row (total, then NULLs)."""
        fields = output_fields(self.q.layer)
        by_name = {f.name: f for f in fields}
        keys = [(by_name.get(n) or resolve(self.q.layer, n), desc) for n, desc in self.q.order_by]
        ids = [f"{TARGET}.id AS _id", *(f"{f.sql(TARGET)} AS _o{i}" for i, (f, _d) in enumerate(keys))]
        direction = ["DESC NULLS LAST" if desc else "ASC NULLS LAST" for _f, desc in keys]
        order_m = ", ".join([*(f"_o{i} {d}" for i, d in enumerate(direction)), "_id"])
        order_p = ", ".join([*(f"p._o{i} {d}" for i, d in enumerate(direction)), "p._id"])
        select = [f"{f.sql(TARGET)} AS {_quote(f.name)}" for f in fields]
        select.append(
            f"ST_AsGeoJSON({geometry_out_sql(f'{TARGET}.geom', self.q.crs)}, {precision(self.q.crs)}, 0)"
        )
        sql = (
            f"WITH m AS MATERIALIZED (SELECT {', '.join(ids)} FROM {self.from_sql} WHERE {self.where_sql}), "
            f"p AS (SELECT * FROM m ORDER BY {order_m} LIMIT %(limit)s OFFSET %(offset)s) "
            f"SELECT (SELECT count(*) FROM m), {', '.join(select)} FROM (SELECT 1) AS one "
            f"LEFT JOIN (p JOIN ({self.q.layer.source}) AS {TARGET} ON {TARGET}.id = p._id) ON true "
            f"ORDER BY {order_p}"
        )
        params = {**self.params, "limit": self.q.limit, "offset": self.q.offset}
        return Compiled(sql, params, [f.column() for f in fields])

    def features(
        self, *, geometry: str = "geojson", page: bool = True, srid: int | None = None, cap: int | None = None
    ) -> Compiled:
        """Feature rows: the output fields, then the geometry in ``srid`` as ``geojson`` text, ``wkb``,
        ``wkt`` (+ point on surface x, y) or ``xy`` (point on surface only). ``page``: the query's
        limit/offset; otherwise every row (exports), at most ``cap``."""
        srid = self.q.crs if srid is None else srid
        fields = output_fields(self.q.layer)
        select = [f"{f.sql(TARGET)} AS {_quote(f.name)}" for f in fields]
        out = geometry_out_sql(f"{TARGET}.geom", srid)
        point = geometry_out_sql(f"ST_PointOnSurface({TARGET}.geom)", srid)
        digits = precision(srid)
        if geometry == "geojson":
            select.append(f"ST_AsGeoJSON({out}, {digits}, 0)")
        elif geometry == "wkb":
            select.append(f"ST_AsBinary({out})")
        elif geometry in ("wkt", "xy"):
            select += [f"round(ST_X({point})::numeric, {digits})", f"round(ST_Y({point})::numeric, {digits})"]
            if geometry == "wkt":
                select.append(f"ST_AsText({out}, {digits})")
        sql = (
            f"SELECT {', '.join(select)} FROM {self.from_sql} WHERE {self.where_sql} "
            f"ORDER BY {self._order_features()}"
        )
        return Compiled(*self._page(sql, page, cap), [f.column() for f in fields])

    def _page(self, sql: str, page: bool, cap: int | None) -> tuple[str, dict]:
        params = dict(self.params)
        if page:
            sql += " LIMIT %(limit)s OFFSET %(offset)s"
            params.update(limit=self.q.limit, offset=self.q.offset)
        elif cap is not None:
            sql += " LIMIT %(cap)s"
            params.update(cap=cap)
        return sql, params

    def groups(self, *, page: bool = True, cap: int | None = None) -> Compiled:
        """One row per group: the group values, the aggregates, and the number of groups (last column)."""
        inner = [f"{g.sql(TARGET)} AS g{i}" for i, g in enumerate(self.q.group_by)]
        outer = [f"g{i}" for i in range(len(self.q.group_by))]
        for i, a in enumerate(self.q.aggregates):
            if a.fn == "count":
                outer.append("count(*)")
            else:
                inner.append(f"{a.field.sql(TARGET)} AS v{i}")
                outer.append(f"{a.fn}(v{i})")
        names = {g.name: f"g{i}" for i, g in enumerate(self.q.group_by)}
        names.update({a.name: f"{i + len(self.q.group_by) + 1}" for i, a in enumerate(self.q.aggregates)})
        order = [f"{names[n]} {'DESC' if d else 'ASC'} NULLS LAST" for n, d in self.q.order_by]
        order += [f"g{i} ASC NULLS LAST" for i in range(len(self.q.group_by))]
        group = ", ".join(f"g{i}" for i in range(len(self.q.group_by)))
        sql = (
            f"SELECT {', '.join(outer)}, count(*) OVER () FROM (SELECT {', '.join(inner)} "
            f"FROM {self.from_sql} WHERE {self.where_sql}) AS x GROUP BY {group} ORDER BY {', '.join(order)}"
        )
        columns = [g.column() for g in self.q.group_by] + [a.column() for a in self.q.aggregates]
        return Compiled(*self._page(sql, page, cap), columns)

    def group_count(self) -> Compiled:
        group = ", ".join(g.sql(TARGET) for g in self.q.group_by)
        return Compiled(
            f"SELECT count(*) FROM (SELECT 1 FROM {self.from_sql} WHERE {self.where_sql} GROUP BY {group}) g",
            self.params,
        )


def _quote(name: str) -> str:
    """A column alias from a whitelisted field name (may hold ``:``): double-quoted."""
    return '"' + name.replace('"', "") + '"'
