"""Staging and applying: COPY accepted rows into a temporary table, then merge set-based by natural key.

Runs inside the run's transaction (see :func:`etl.runner._execute`); the staging table is dropped at commit
or rollback. Rows whose content hash did not change are left alone (no history, no lineage churn), so
re-loading an unchanged export writes nothing.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection
from django.utils import timezone

from etl.transforms import FieldProblem
from layers.geodesy import gcj02_to_wgs84

if TYPE_CHECKING:
    from etl.mapping import Mapping
    from etl.models import LoadRun
    from etl.runner import TargetResult

LINEAGE_COLUMNS = [
    "src_system",
    "src_file",
    "src_checksum",
    "src_layer",
    "src_row",
    "load_run",
    "mapping_version",
    "loaded_at",
    "content_hash",
]
GCJ_IOU_SHIFTED = 0.3  # the geometry as delivered barely matches any parcel ...
GCJ_IOU_RESTORED = 0.8  # ... but after undoing a GCJ-02 offset it coincides with one


def to_django(geom) -> GEOSGeometry:
    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=4490)


def _ewkb_hex(geoms: np.ndarray) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, 4490), hex=True, include_srid=True)


def _columns(result: TargetResult) -> list[tuple[str, str]]:
    model = result.target.model_class
    return [(spec.target, model._meta.get_field(spec.target).column) for spec in result.target.fields]


def _insert_defaults(model, mapped: set[str]) -> dict[str, object]:
    """Model defaults of the NOT NULL fields a mapping does not fill (Django defaults are not DB defaults)."""
    skip = {"id", "geom", "version", *LINEAGE_COLUMNS}
    return {
        f.column: f.get_default()
        for f in model._meta.concrete_fields
        if f.name not in mapped and f.column not in skip and not f.null
    }


def _not_null_text(model, names: list[str]) -> list[bool]:
    """Which mapped fields are NOT NULL text columns (an empty source value is stored as '')."""
    return [
        not model._meta.get_field(n).null and model._meta.get_field(n).empty_strings_allowed for n in names
    ]


def apply(
    run: LoadRun, mapping: Mapping, result: TargetResult, *, dry_run: bool, incremental: bool, progress
) -> dict:
    """Merge the accepted rows of one target into its unified table; returns the counts."""
    target = result.target
    model = target.model_class
    table = model._meta.db_table
    fields = _columns(result)
    names = [name for name, _ in fields]
    columns = [col for _, col in fields]
    key_columns = [model._meta.get_field(k).column for k in target.key]
    idx = np.flatnonzero(result.accepted)
    geoms = result.geoms[idx]
    wkb = shapely.to_wkb(geoms)
    ewkb = _ewkb_hex(geoms)
    now = timezone.now()
    stg = f"stg_{table}"
    all_columns = [*columns, "geom", *LINEAGE_COLUMNS]
    defaults = _insert_defaults(model, set(names))
    blank_text = _not_null_text(model, names)
    staged_columns = [*all_columns, *defaults]
    staged_list = ", ".join(staged_columns)
    default_values = tuple(defaults.values())
    counts = {"read": len(result.table)}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stg}")
        cursor.execute(
            f"CREATE TEMP TABLE {stg} ON COMMIT DROP AS SELECT {staged_list} FROM {table} WITH NO DATA"
        )
        layer = result.table.layer or ""
        value_columns = [result.columns[name] for name in names]
        with cursor.copy(f"COPY {stg} ({staged_list}) FROM STDIN") as copy:
            for out_i, i in enumerate(idx):
                values = tuple(
                    "" if (v is None and blank) else v
                    for v, blank in zip((col[i] for col in value_columns), blank_text, strict=True)
                )
                digest = hashlib.md5(repr(values).encode(), usedforsecurity=False)
                digest.update(wkb[out_i])
                copy.write_row(
                    (
                        *values,
                        ewkb[out_i],
                        mapping.system,
                        result.table.display_name,
                        run.checksum,
                        layer,
                        int(result.table.rows[i]),
                        run.pk,
                        mapping.version_tag,
                        now,
                        digest.hexdigest(),
                        *default_values,
                    )
                )
        progress(f"{target.name}: staged", len(idx), len(idx))
        cursor.execute(f"CREATE INDEX ON {stg} ({', '.join(key_columns)})")
        cursor.execute(f"ANALYZE {stg}")
        join = " AND ".join(f"t.{c} = s.{c}" for c in key_columns)
        rejected_keys = [k for k, ok in zip(result.keys, result.accepted, strict=True) if k and not ok]
        key_expr = "concat_ws('/', " + ", ".join(f"t.{c}::text" for c in key_columns) + ")"
        delete_where = (
            f"t.src_system = %s AND NOT EXISTS (SELECT 1 FROM {stg} s WHERE {join}) "
            f"AND NOT ({key_expr} = ANY(%s))"
        )
        do_delete = target.mode == "full" and not incremental
        if dry_run:
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE t.id IS NULL), "
                "count(*) FILTER (WHERE t.id IS NOT NULL "
                "AND t.content_hash IS DISTINCT FROM s.content_hash) "
                f"FROM {stg} s LEFT JOIN {table} t ON {join}"
            )
            counts["added"], counts["updated"] = cursor.fetchone()
            counts["deleted"] = 0
            if do_delete:
                cursor.execute(
                    f"SELECT count(*) FROM {table} t WHERE {delete_where}", [mapping.system, rejected_keys]
                )
                counts["deleted"] = cursor.fetchone()[0]
        else:
            set_list = ", ".join(all_columns)
            source_list = ", ".join(f"s.{c}" for c in all_columns)
            cursor.execute(
                f"UPDATE {table} t SET ({set_list}) = ({source_list}) FROM {stg} s "
                f"WHERE {join} AND t.content_hash IS DISTINCT FROM s.content_hash"
            )
            counts["updated"] = cursor.rowcount
            cursor.execute(
                f"INSERT INTO {table} ({staged_list}, version) "
                f"SELECT {', '.join(f's.{c}' for c in staged_columns)}, 1 FROM {stg} s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {join})"
            )
            counts["added"] = cursor.rowcount
            counts["deleted"] = 0
            if do_delete:
                cursor.execute(f"DELETE FROM {table} t WHERE {delete_where}", [mapping.system, rejected_keys])
                counts["deleted"] = cursor.rowcount
        counts["unchanged"] = len(idx) - counts["added"] - counts["updated"]
        cursor.execute(f"DROP TABLE {stg}")
    progress(f"{target.name}: applied", len(idx), len(idx))
    return counts


def flag_gcj02_shifts(results: list[TargetResult]) -> None:
    """Reject (or warn about) rows that sit ~0.5 km off the registered parcels in a GCJ-02 way.

    A row is flagged when its geometry barely overlaps any registered parcel but, after undoing a GCJ-02
    offset, coincides with one (intersection over union). Parcels themselves are the reference, so the
    check applies to the other targets, and only once parcels are loaded.
    """
    for result in results:
        policy = result.target.geometry.gcj02
        if result.target.model == "parcel":
            continue
        idx = np.flatnonzero(result.accepted)
        if not len(idx):
            continue
        geoms = result.geoms[idx]
        restored = shapely.transform(geoms, lambda x, y: gcj02_to_wgs84(x, y), interleaved=False)
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM layers_parcel)")
            if not cursor.fetchone()[0]:
                continue
            cursor.execute(
                """
                WITH s AS (
                    SELECT ord AS i, ST_GeomFromWKB(g, 4490) AS g, ST_GeomFromWKB(c, 4490) AS c
                    FROM unnest(%s::bytea[], %s::bytea[]) WITH ORDINALITY AS u(g, c, ord)
                )
                SELECT s.i,
                    (SELECT max(ST_Area(ST_Intersection(s.g, p.geom))
                                / NULLIF(ST_Area(ST_Union(s.g, p.geom)), 0))
                       FROM layers_parcel p WHERE p.geom && s.g),
                    (SELECT max(ST_Area(ST_Intersection(s.c, p.geom))
                                / NULLIF(ST_Area(ST_Union(s.c, p.geom)), 0))
                       FROM layers_parcel p WHERE p.geom && s.c)
                FROM s
                """,
                [list(shapely.to_wkb(geoms)), list(shapely.to_wkb(restored))],
            )
            rows = cursor.fetchall()
        for ordinal, iou, iou_restored in rows:
            if (iou or 0) < GCJ_IOU_SHIFTED and (iou_restored or 0) >= GCJ_IOU_RESTORED:
                i = int(idx[ordinal - 1])
                result.problems.append(
                    FieldProblem(
                        i,
                        "gcj02_shift",
                        "geometry",
                        f"图形疑似GCJ-02（火星坐标）偏移：与登记宗地重合度{(iou or 0):.0%}，"
                        f"反偏移后为{iou_restored:.0%}；请向来源系统索取CGCS2000坐标",
                        f"geometry looks GCJ-02 shifted: overlap with registered parcels {(iou or 0):.0%}, "
                        f"{iou_restored:.0%} after undoing the offset; "
                        "ask the source for CGCS2000 coordinates",
                        expected="CGCS2000",
                        actual="GCJ-02",
                        severity="error" if policy == "reject" else "warning",
                    )
                )
                if policy == "reject":
                    result.accepted[i] = False


def resolve_problems(run: LoadRun, result: TargetResult) -> None:
    """Mark earlier rejections resolved when this run accepted the same record (by key, or by row for
    a re-run of rejected rows)."""
    accepted_keys = [k for k, ok in zip(result.keys, result.accepted, strict=True) if k and ok]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE etl_problem p SET resolved_by_id = %s FROM etl_loadrun r
            WHERE p.run_id = r.id AND r.system = %s AND r.id <> %s AND NOT r.dry_run
              AND p.severity = 'error' AND p.resolved_by_id IS NULL AND p.target = %s
              AND p.source_id = ANY(%s)
            """,
            [run.pk, run.system, run.pk, result.target.name, accepted_keys],
        )
        if run.only_rejected_of_id:
            rows = [int(r) for r, ok in zip(result.table.rows, result.accepted, strict=True) if ok]
            cursor.execute(
                "UPDATE etl_problem SET resolved_by_id = %s WHERE run_id = %s AND target = %s "
                "AND severity = 'error' AND resolved_by_id IS NULL AND row = ANY(%s)",
                [run.pk, run.only_rejected_of_id, result.target.name, rows],
            )


def changed_extent(run: LoadRun):
    """Bounding box of everything this run added, changed or deleted (old and new geometries)."""
    parts = []
    for table in ("layers_parcel", "layers_building", "layers_planningpermit", "layers_landsupply"):
        parts.append(f"SELECT geom FROM {table} WHERE load_run = %(run)s")
        parts.append(f"SELECT geom FROM {table}_history WHERE changed_by_run = %(run)s")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsBinary(ST_Envelope(ST_Extent(geom)::geometry)) "
            f"FROM ({' UNION ALL '.join(parts)}) x",
            {"run": run.pk},
        )
        (wkb,) = cursor.fetchone()
    if wkb is None:
        return None
    geom = GEOSGeometry(memoryview(bytes(wkb)), srid=4490)
    if geom.geom_type != "Polygon":
        geom = geom.buffer(1e-6).envelope
    return geom
