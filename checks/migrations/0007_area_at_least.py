"""``onemap_area_at_least(g, m2)``: ``onemap_gk_area(g) >= m2``, projecting only where the estimate is close.

Why: GH-001 and GY-001 ask of every covered red line or supply polygon whether it is big enough to count as
an overlap, and each asked it with the same estimate-then-project expression. ``onemap_approx_area_m2`` (0004)
is within 0.07 % of the Gauss-Krüger area wherever it is not NULL, so an estimate 1 % above the threshold
settles it; below that, or without an estimate, the projected area decides (≈ 4× the cost).
"""

from django.db import migrations

FORWARD = [
    """
    CREATE OR REPLACE FUNCTION onemap_area_at_least(g geometry, m2 double precision) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS  -- not STRICT, one expression: inlined into the caller
    $$ SELECT CASE WHEN onemap_approx_area_m2(g) >= m2 * 1.01 THEN true ELSE onemap_gk_area(g) >= m2 END $$
    """,
]
BACKWARD = ["DROP FUNCTION IF EXISTS onemap_area_at_least(geometry, double precision)"]


class Migration(migrations.Migration):
    dependencies = [("checks", "0006_covered_by_without_relate")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
