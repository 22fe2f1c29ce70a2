"""Reads of the unified schema (writes live in ``layers.services``)."""

from __future__ import annotations

import json

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from layers.codes import County
from layers.models import AdminDivision, Building, Code, LandSupply, Parcel, PlanningPermit

# the unified tables behind the map's business layers (layer name -> model)
LAYER_MODELS = {
    "parcels": Parcel,
    "buildings": Building,
    "permits": PlanningPermit,
    "landsupply": LandSupply,
}


def layer_overview(estimate_above: int = 50_000) -> dict[str, dict]:
    """Per unified layer: its row count and data extent (CGCS2000 lon/lat), cheaply enough for every page
    view of the web map. Counting or scanning 200,000 parcels on each page load cost ~0.4 s; above
    ``estimate_above`` rows the planner's statistics answer instead (``estimated: True``: the count is
    approximate, the extent the statistics' box), below it the exact values do."""
    out: dict[str, dict] = {}
    with connection.cursor() as cursor:
        for key, model in LAYER_MODELS.items():
            table = model._meta.db_table
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
            estimate = cursor.fetchone()[0]
            extent = None
            if estimate is not None and estimate >= estimate_above:
                count, estimated = estimate, True
                try:
                    with connection.cursor() as c2, transaction.atomic():
                        c2.execute("SELECT ST_EstimatedExtent(%s, 'geom')::box2d::text", [table])
                        box = c2.fetchone()[0]
                except DatabaseError:
                    box = None
                extent = _box(box)
            else:
                cursor.execute(f"SELECT count(*), ST_Extent(geom)::text FROM {table}")
                count, box = cursor.fetchone()
                estimated, extent = False, _box(box)
            out[key] = {"count": count, "estimated": estimated, "extent": extent}
    return out


def _box(text: str | None) -> tuple[float, float, float, float] | None:
    """``BOX(x1 y1,x2 y2)`` → (x1, y1, x2, y2)."""
    if not text:
        return None
    a, b = text[text.index("(") + 1 : text.index(")")].split(",")
    return (*map(float, a.split()), *map(float, b.split()))


def counties_geojson(tolerance_deg: float = 0.002) -> dict:
    """Current county polygons as a GeoJSON FeatureCollection, simplified for an overview map."""
    table = AdminDivision._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT code, name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %s), 6)
            FROM {table} WHERE valid_to IS NULL ORDER BY code
            """,
            [tolerance_deg],
        )
        rows = cursor.fetchall()
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": code, "name": name}, "geometry": json.loads(geometry)}
            for code, name, geometry in rows
        ],
    }


def county_table() -> dict[str, County]:
    """GB/T 2260 counties of Chongqing from the database's code list (current and former codes).

    The database is the source of truth at run time (an administrator may add a code); the validators fall
    back to the shipped file only when called without a table.
    """
    rows = Code.objects.filter(codelist__key="gbt2260_chongqing").values_list(
        "code", "name", "valid_to", "extra"
    )
    current: dict[str, County] = {}
    former: dict[str, County] = {}
    for code, name, valid_to, extra in rows:
        if valid_to is None:
            current[code] = County(code, name)
        else:
            former[code] = County(code, name, valid_to.year, (extra or {}).get("successor", ""))
    return {**former, **current}


def jurisdiction_geometry():
    """Chongqing (the union of the current county polygons) as a prepared shapely geometry in 4490.

    Used by the ETL to reject rows located outside the jurisdiction; None if no county is loaded.
    """
    import shapely

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ST_AsBinary(ST_Union(geom)) FROM {AdminDivision._meta.db_table} WHERE valid_to IS NULL"
        )
        (wkb,) = cursor.fetchone()
    if wkb is None:
        return None
    geometry = shapely.from_wkb(bytes(wkb))
    shapely.prepare(geometry)
    return geometry


def completed_loads(*, system: str | None = None, limit: int = 50) -> list[dict]:
    """Committed ETL loads (no dry runs), newest first, with what they changed on the map: the map's time
    filter offers them. Read by table name: ``layers`` imports no other app of ours."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, system, finished_at, counts, ST_XMin(changed_extent), ST_YMin(changed_extent), "
            "ST_XMax(changed_extent), ST_YMax(changed_extent) FROM etl_loadrun "
            "WHERE status = 'completed' AND NOT dry_run "
            "AND (%(system)s::text IS NULL OR system = %(system)s) "
            "ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT %(limit)s",
            {"system": system, "limit": limit},
        )
        rows = cursor.fetchall()
    return [
        {
            "id": pk,
            "system": name,
            "finished_at": timezone.localtime(finished).isoformat() if finished else None,
            "counts": counts if isinstance(counts, dict) else json.loads(counts or "{}"),
            "extent": None if box[0] is None else list(box),
        }
        for pk, name, finished, counts, *box in rows
    ]
