"""``onemap_covered_by(g, container)``: ``ST_CoveredBy`` without a relate where the boundaries do not meet.

Why: the building relation asks "is this building covered by that parcel?" once per building (1M times at 1M
buildings), and ``ST_CoveredBy`` is a full DE-9IM relate in GEOS 3.11 (≈ 11 µs a pair): more than the
reference join's ``ST_Intersects``. A building nearly always stands clear of its parcel's edges. When ``g`` is
one polygon whose distance to the container's boundary (every ring, holes included) is above zero, ``g`` lies
wholly in one of the regions the boundary separates, so one of its vertices tells which: inside the container,
or not. ``ST_Distance``, ``ST_Boundary`` and the point-in-polygon test are PostGIS's own code, not GEOS (≈ 1.5
µs together). Where ``g`` touches or crosses the boundary, or has several parts, the relate decides as before,
unless ``g`` is the container's very polygon (equal coordinates: a land-supply record drawn from its parcel),
which a comparison settles; a relate of two identical rings is the slowest kind (50,000 such records: 0.93 →
0.41 s). Floating point can only call a contact of ~1e-10 m "clear", far below every tolerance. At 1M
buildings the relation's join went from 11.8 s to 7.8 s (the reference join: 8.2 s).
"""

from django.db import migrations

FORWARD = [
    """
    CREATE OR REPLACE FUNCTION onemap_covered_by(g geometry, container geometry) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS  -- not STRICT, one expression: inlined into the caller
    $$ SELECT CASE
           WHEN ST_NumGeometries(g) = 1 AND ST_Distance(g, ST_Boundary(container)) > 0
               THEN ST_Intersects(ST_PointN(ST_ExteriorRing(ST_GeometryN(g, 1)), 1), container)
           WHEN g = container THEN true  -- PostGIS 3: the same coordinates in the same order
           ELSE ST_CoveredBy(g, container)
       END $$
    """,
]
BACKWARD = ["DROP FUNCTION IF EXISTS onemap_covered_by(geometry, geometry)"]


class Migration(migrations.Migration):
    dependencies = [("checks", "0005_box_overlap_native_boxes")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
