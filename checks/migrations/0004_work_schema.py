"""A schema for the engine's working tables (``checks.relations``), and two cheap area estimates that spare
exact tests.

Why not temporary tables: PostgreSQL never lets a parallel worker read a temporary table, so every rule that
joined one ran on a single core, and temporary tables live in each session's small local buffers. The
working tables are UNLOGGED (nothing to recover: a run rebuilds them) and one engine run at a time uses them
(the engine's advisory lock).

``onemap_box_overlap_m2(a, b)`` bounds from above, in m², the Gauss-Krüger area of ``a ∩ b`` from their
bounding boxes alone (the boxes must meet: the caller tested ``&&``): the intersection lies in the overlap of
the boxes, whose metres per degree are at most 111,700 north–south (the CGCS2000 meridian degree is
110,574–111,694 m) and 111,700 × cos φ east–west, φ no further north than the south edge of ``a`` (0 south
of the equator), and a 3° zone's scale factor adds less than 0.1 % to an area (1 % allowed). Where the
overlap lies outside the zones OneMap computes in (73.5°–136.5° E) it returns infinity: no bound. As few
calls as possible: each ``ST_XMin`` is two function calls, and this runs for millions of pairs. A pair of
parcels whose bound is below the tolerance cannot overlap by more and needs no exact (expensive) test.

``onemap_approx_area_m2(g)`` is the ellipsoidal area from the planar area in degrees² and the CGCS2000 radii
of curvature at the middle latitude of the box (no projection: ≈ 20× cheaper than a transform). For parcels
(under 0.5° tall) it is within 0.01 % of the ellipsoidal area, which is within 0.1 % of the Gauss-Krüger area
in the parcel's own 3° zone; NULL where that does not hold (taller, or outside the zones): no estimate.
ZD-002 computes the exact area only where the estimate is missing or within 0.5 % of the tolerance.
"""

from django.db import migrations

FORWARD = [
    "CREATE SCHEMA IF NOT EXISTS checks_work",
    """
    CREATE OR REPLACE FUNCTION onemap_box_overlap_m2(a geometry, b geometry) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS  -- not STRICT: a CASE body is inlined only then
    $$ SELECT CASE
           WHEN greatest(ST_XMin(a), ST_XMin(b)) < 73.5 OR least(ST_XMax(a), ST_XMax(b)) > 136.5
               THEN 'Infinity'::float8
           ELSE (least(ST_XMax(a), ST_XMax(b)) - greatest(ST_XMin(a), ST_XMin(b)))
                * (least(ST_YMax(a), ST_YMax(b)) - greatest(ST_YMin(a), ST_YMin(b)))
                * 12601490000.0  -- 111,700² m² per degree² × 1.01
                * cos(radians(greatest(ST_YMin(a), 0)))
       END $$
    """,
    """
    CREATE OR REPLACE FUNCTION onemap_approx_area_m2(g geometry) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS  -- not STRICT: a CASE body is inlined only then
    $$ SELECT CASE
           WHEN ST_YMax(g) - ST_YMin(g) < 0.5 AND ST_XMin(g) >= 73.5 AND ST_XMax(g) <= 136.5
               THEN ST_Area(g) * (pi() / 180.0) ^ 2 * 6378137.0 ^ 2 * (1 - 0.00669438002290)
                    * cos(radians((ST_YMin(g) + ST_YMax(g)) / 2))
                    / (1 - 0.00669438002290 * sin(radians((ST_YMin(g) + ST_YMax(g)) / 2)) ^ 2) ^ 2
       END $$
    """,
]
BACKWARD = [
    "DROP FUNCTION IF EXISTS onemap_approx_area_m2(geometry)",
    "DROP FUNCTION IF EXISTS onemap_box_overlap_m2(geometry, geometry)",
    "DROP SCHEMA IF EXISTS checks_work CASCADE",
]


class Migration(migrations.Migration):
    dependencies = [("checks", "0003_alter_findingevent_options")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
