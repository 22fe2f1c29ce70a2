"""Writes of the tiles app: layer data versions, and what a load means for the caches."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from layers import registry
from layers.registry import Layer


def layer_version(name: str) -> int:
    """The data version of a layer (0 before its first recorded change)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM tiles_layerversion WHERE layer = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else 0


def layers_bump(*, names: Iterable[str], extent_wkt: str | None = None, run_id: int | None = None) -> None:
    """Move the data version of ``names`` on (one statement per layer; creates the row on first use)."""
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(
                "INSERT INTO tiles_layerversion (layer, version, changed_at, changed_extent, changed_by_run) "
                "VALUES (%s, 1, now(), ST_GeomFromText(%s, 4490), %s) "
                "ON CONFLICT (layer) DO UPDATE SET version = tiles_layerversion.version + 1, "
                "changed_at = now(), changed_extent = EXCLUDED.changed_extent, "
                "changed_by_run = EXCLUDED.changed_by_run",
                [name, extent_wkt, run_id],
            )


def extent_wkt(extent: tuple[float, float, float, float]) -> str:
    """The rectangle of a (minx, miny, maxx, maxy) extent as WKT (what ``changed_extent`` stores)."""
    minx, miny, maxx, maxy = extent
    return f"POLYGON(({minx} {miny}, {maxx} {miny}, {maxx} {maxy}, {minx} {maxy}, {minx} {miny}))"


def _problem_geometries_sql() -> str:
    return (
        "SELECT geom FROM etl_problem "
        "WHERE (run_id = %(run)s OR resolved_by_id = %(run)s) AND geom IS NOT NULL"
    )


def layers_changed_by_run(run) -> list[Layer]:
    """Registry layers a committed load changed: those fed by a target it touched, and layers fed by every
    load (the quarantine) when the run added or resolved a problem with a geometry."""
    targets = set(run.changed_keys.values_list("target", flat=True).distinct())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS ({_problem_geometries_sql()})", {"run": run.pk})
        (problems,) = cursor.fetchone()
    return [
        layer for layer in registry.layers_for_targets(targets) if "*" not in layer.etl_targets or problems
    ]


def run_extent(run_id: int) -> tuple[float, float, float, float] | None:
    """What a run changed on the map: its changed extent (old and new rows) and its problems' geometries."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(g) e FROM ("
            "SELECT changed_extent g FROM etl_loadrun WHERE id = %(run)s UNION ALL "
            f"{_problem_geometries_sql()}) x) y",
            {"run": run_id},
        )
        row = cursor.fetchone()
    return None if row is None or row[0] is None else tuple(row)
