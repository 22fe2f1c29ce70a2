"""ZD-002 宗地面积不符: declared ZDMJ differs from the drawn area (planar Gauss-Krüger) beyond tolerance."""

from checks.rules.base import GENERIC, Param, Rule

RULE = Rule(
    code="ZD-002",
    rule_class=GENERIC,
    version="1.1",
    title_zh="宗地面积与图形面积不符",
    title_en="Declared parcel area differs from the drawn area",
    explanation_zh="宗地面积（ZDMJ）与图形在所在3度带高斯-克吕格投影下的面积相差超过容差。",
    explanation_en="ZDMJ differs from the polygon's area in its own 3° Gauss-Krüger zone by more than the "
    "tolerance.",
    severity="medium",
    subject="parcel",
    reads={"parcel": ("geom", "zdmj")},
    material={"parcel": ("geom", "zdmj")},
    params={"tolerance_pct": Param(5.0, "%", "面积差容差", "tolerance (share of the drawn area)")},
    manifest_kind="parcel_area_mismatch",
    sql="""
    SELECT ARRAY['parcel:' || p.id] AS refs, p.geom,
           jsonb_build_object('zdmj', p.zdmj, 'drawn_m2', round(a.m2::numeric, 2),
                              'ratio', round((p.zdmj / a.m2)::numeric, 4),
                              'tolerance_pct', %(tolerance_pct)s) AS vals
    FROM layers_parcel p
    CROSS JOIN LATERAL (SELECT onemap_gk_area(p.geom) AS m2) a
    WHERE p.zdmj IS NOT NULL AND IN_SCOPE(p)
      -- the estimate first (no projection), the Gauss-Krüger area only where it is missing (see
      -- onemap_approx_area_m2) or near or beyond the tolerance
      AND coalesce(
          abs(p.zdmj / NULLIF(onemap_approx_area_m2(p.geom), 0) - 1) > (%(tolerance_pct)s - 0.5) / 100.0, true
      )
      -- the drawn area appears once in the filter: the planner inlines a.m2, and each mention would be one
      -- more projection of every parcel (NULLIF drops the empty ones)
      AND abs(p.zdmj / NULLIF(a.m2, 0) - 1) > %(tolerance_pct)s / 100.0
    """,
)
