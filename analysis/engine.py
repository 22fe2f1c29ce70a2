"""Running queries: who may, the read-only transaction with a statement timeout, and the results.

Why a read-only transaction even though the SQL is ours: it is the last line of defence. Whatever a future
change to the compiler lets through, the database itself refuses to write (``transaction_read_only``) and
stops a runaway statement (``statement_timeout``, ``ANALYSIS_STATEMENT_TIMEOUT_MS``). Both are ``SET
LOCAL`` inside a transaction (a savepoint when one is open) that is always rolled back, so they never leak
into the connection or the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.roles import ANALYST, SUPERVISOR, has_role
from analysis.compiler import Compiler
from analysis.fields import Field, output_fields
from analysis.query import AccessError, Query

QUERY_ROLES = (ANALYST, SUPERVISOR)  # and admin
QUERY_CANCELED = "57014"


class QueryTimeout(Exception):
    """The statement timeout stopped the query."""

    def __init__(self, timeout_ms: int):
        super().__init__(f"the query ran longer than {timeout_ms} ms and was stopped")
        self.timeout_ms = timeout_ms

    def payload(self) -> dict:
        seconds = self.timeout_ms / 1000
        return {
            "error": {
                "path": "",
                "code": "timeout",
                "message_zh": f"查询超过 {seconds:g} 秒被终止；请缩小范围（加属性条件、区县或范围）后重试",
                "message_en": f"the query ran longer than {seconds:g} s and was stopped; narrow it "
                "(attribute filters, a county, an area) and try again",
            }
        }


def can_query(user) -> bool:
    return has_role(user, *QUERY_ROLES)


def check_access(user, query: Query) -> None:
    """Raise :class:`AccessError` unless ``user`` may query and see every layer the query reads."""
    if not can_query(user):
        raise AccessError(
            "",
            "需要分析人员、监管人员或管理员角色",
            "running queries needs the analyst, supervisor or admin role",
        )
    paths = ["layer"] + [f"spatial[{i}].layer" for i, s in enumerate(query.spatial) if s.layer is not None]
    for path, layer in zip(paths, query.layers(), strict=True):
        if not layer.allows(user):
            raise AccessError(
                path,
                f"图层 {layer.title_zh}（{layer.name}）需要其他角色",
                f"layer {layer.name!r} needs another role",
            )


def max_export_rows() -> int:
    return int(getattr(settings, "ANALYSIS_MAX_EXPORT_ROWS", 1_000_000))


def statement_timeout_ms(*, export: bool = False) -> int:
    if export:
        return int(getattr(settings, "ANALYSIS_EXPORT_STATEMENT_TIMEOUT_MS", 600_000))
    return int(getattr(settings, "ANALYSIS_STATEMENT_TIMEOUT_MS", 30_000))


@contextmanager
def read_only(timeout_ms: int):
    """A read-only transaction (or savepoint) with a statement timeout, always rolled back."""
    try:
        with transaction.atomic():
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL transaction_read_only = on")
                    # PostGIS functions carry high costs, so the planner's estimates cross the JIT thresholds
                    # and LLVM compiles for longer than the query runs (1.5 s of JIT for a 0.5 s grouping)
                    cursor.execute("SET LOCAL jit = off")
                    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout_ms))])
                yield
            finally:
                transaction.set_rollback(True)
    except DatabaseError as exc:
        if is_interrupted(exc):
            raise QueryTimeout(timeout_ms) from exc
        raise


def is_interrupted(exc: DatabaseError) -> bool:
    """Whether the statement timeout stopped the statement: PostgreSQL cancels it (57014), or, when the
    timeout fires inside a GEOS call, PostGIS interrupts GEOS and reports its InterruptedException."""
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == QUERY_CANCELED or "InterruptedException" in str(cause or exc)


def codebook(lists: set[str]) -> dict[str, dict[str, str]]:
    """Names of every code of the given code lists (a renamed code by its current entry, else its latest)."""
    if not lists:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (l.key, c.code) l.key, c.code, c.name "
            "FROM layers_code c JOIN layers_codelist l ON l.id = c.codelist_id WHERE l.key = ANY(%s) "
            "ORDER BY l.key, c.code, c.valid_to DESC NULLS FIRST, c.valid_from DESC NULLS LAST",
            [sorted(lists)],
        )
        book: dict[str, dict[str, str]] = {key: {} for key in lists}
        for key, code, name in cursor.fetchall():
            book[key][code] = name
    return book


def json_value(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


@dataclass
class Shape:
    """How a row of field values becomes output columns: each field, plus ``<name>_label`` after each
    coded one (county names, land-use classes ...)."""

    fields: list[Field]
    book: dict[str, dict[str, str]]

    @classmethod
    def load(cls, fields: list[Field]) -> Shape:
        return cls(fields, codebook({f.codelist for f in fields if f.codelist}))

    def columns(self) -> list[dict]:
        out = []
        for f in self.fields:
            out.append(f.column())
            if f.codelist:
                out.append(f.label_column())
        return out

    def values(self, row) -> list:
        out = []
        for f, value in zip(self.fields, row, strict=True):
            if f.name == "area_m2" and value is not None:
                value = round(float(value), 2)
            out.append(value)
            if f.codelist:
                out.append(None if value is None else self.book[f.codelist].get(str(value)))
        return out


def _aggregate_values(query: Query, row) -> list:
    out = []
    for a, value in zip(query.aggregates, row, strict=True):
        out.append(int(value) if a.fn == "count" else None if value is None else round(float(value), 2))
    return out


def run_query(query: Query) -> dict:
    """The result of a query as the run API returns it (features or groups); the caller checked access."""
    compiler = Compiler(query, timezone.localdate())
    started = time.perf_counter()
    with read_only(statement_timeout_ms()), connection.cursor() as cursor:
        if query.grouped:
            compiled = compiler.groups()
            cursor.execute(compiled.sql, compiled.params)
            rows = cursor.fetchall()
            if rows:
                total = rows[0][-1]
            else:
                counted = compiler.group_count()
                cursor.execute(counted.sql, counted.params)
                total = cursor.fetchone()[0]
            elapsed = time.perf_counter() - started
            shape = Shape.load(list(query.group_by))
            n = len(query.group_by)
            return {
                "kind": "groups",
                "layer": query.layer.name,
                "columns": shape.columns() + [a.column() for a in query.aggregates],
                "rows": [
                    [json_value(v) for v in shape.values(r[:n])] + _aggregate_values(query, r[n:-1])
                    for r in rows
                ],
                "total_groups": total,
                "sql_ms": round(elapsed * 1000, 1),
            }
        compiled = compiler.page()
        cursor.execute(compiled.sql, compiled.params)
        rows = cursor.fetchall()
        elapsed = time.perf_counter() - started
        total = rows[0][0] if rows else 0
        rows = [r[1:] for r in rows if r[1] is not None]
        shape = Shape.load(output_fields(query.layer))
    columns = shape.columns()
    names = [c["name"] for c in columns]
    features = []
    for row in rows:
        values = [json_value(v) for v in shape.values(row[:-1])]
        features.append(
            {
                "type": "Feature",
                "id": row[0],
                "geometry": json.loads(row[-1]) if row[-1] else None,
                "properties": dict(zip(names, values, strict=True)),
            }
        )
    return {
        "kind": "features",
        "layer": query.layer.name,
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "crs": query.crs,
        "columns": columns,
        "sql_ms": round(elapsed * 1000, 1),
        "features": {"type": "FeatureCollection", "features": features},
    }


@contextmanager
def export_rows(query: Query, *, geometry: str, srid: int, timeout_ms: int | None = None, chunk: int = 2000):
    """Every row of the query (no page) for an export, streamed from a server-side cursor inside the
    read-only transaction: yields ``(columns, rows)`` where each row is the output values followed by the
    geometry payload (``geometry``: geojson, wkb, wkt (x, y, wkt), xy (x, y); none for grouped queries).
    ``timeout_ms``: the statement timeout (default: ``ANALYSIS_EXPORT_STATEMENT_TIMEOUT_MS``, for jobs)."""
    compiler = Compiler(query, timezone.localdate())
    with read_only(statement_timeout_ms(export=True) if timeout_ms is None else timeout_ms):
        if query.grouped:
            compiled = compiler.groups(page=False, cap=max_export_rows())
            shape = Shape.load(list(query.group_by))
            columns = shape.columns() + [a.column() for a in query.aggregates]
            n = len(query.group_by)

            def convert(r):
                return shape.values(r[:n]) + _aggregate_values(query, r[n:-1])
        else:
            compiled = compiler.features(geometry=geometry, page=False, srid=srid, cap=max_export_rows())
            shape = Shape.load(output_fields(query.layer))
            columns = shape.columns()
            n = len(shape.fields)

            def convert(r):
                return shape.values(r[:n]) + list(r[n:])

        with connection.chunked_cursor() as cursor:
            cursor.execute(compiled.sql, compiled.params)

            def rows() -> Iterator[list]:
                while True:
                    batch = cursor.fetchmany(chunk)
                    if not batch:
                        return
                    yield from (convert(r) for r in batch)

            yield columns, rows()


def count_rows(query: Query) -> int:
    """How many rows an export of the query would write (features, or groups)."""
    compiler = Compiler(query, timezone.localdate())
    compiled = compiler.group_count() if query.grouped else compiler.count()
    with read_only(statement_timeout_ms()), connection.cursor() as cursor:
        cursor.execute(compiled.sql, compiled.params)
        return cursor.fetchone()[0]
