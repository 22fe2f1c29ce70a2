"""GH-001 规划许可无登记宗地: a permit's red line lies over no registered surface parcel."""

from checks.rules.base import BUSINESS, Param, Rule

RULE = Rule(
    code="GH-001",
    rule_class=BUSINESS,
    version="1.0",
    title_zh="规划许可红线下无已登记宗地",
    title_en="Planning permit with no registered parcel under its red line",
    explanation_zh="用地红线与任何地表宗地的重叠面积均未达到容差（且红线位于辖区内）。",
    explanation_en="The red line overlaps no surface parcel by the tolerance (and lies in the jurisdiction).",
    severity="high",
    subject="permit",
    reads={"permit": ("geom",), "parcel": ("geom", "qlsdfs")},
    material={"permit": ("geom",)},
    params={"min_overlap_m2": Param(10.0, "m²", "视为压占的重叠面积下限", "overlap that counts as a parcel")},
    spatial=("parcel",),
    uses=("county_pieces", "permit_covers"),
    manifest_kind="permit_without_parcel",
    # the usual case first, cheaply (checks.relations.PERMIT_COVERS): a surface parcel covers the permit, so
    # the overlap is the permit's whole area (onemap_area_at_least: estimated first, projected only when
    # close). Fenced (OFFSET 0): unfenced, the planner probes the counties first
    sql="""
    SELECT ARRAY['permit:' || g.id] AS refs, g.geom,
           jsonb_build_object('area_m2', round(onemap_gk_area(g.geom)::numeric, 2),
                              'min_overlap_m2', %(min_overlap_m2)s) AS vals
    FROM (
        SELECT g.id, g.geom FROM layers_planningpermit g
        WHERE IN_SCOPE(g) AND NOT EXISTS (
            SELECT 1 FROM checks_work.permit_cover c
            WHERE c.permit_id = g.id AND onemap_area_at_least(g.geom, %(min_overlap_m2)s)
        )
        OFFSET 0
    ) g
    WHERE EXISTS (SELECT 1 FROM checks_work.county_piece c WHERE ST_Intersects(c.geom, g.geom))
      AND NOT EXISTS (
          SELECT 1 FROM layers_parcel p
          WHERE p.qlsdfs = '1' AND ST_Intersects(p.geom, g.geom)
            AND onemap_gk_area(ST_Intersection(p.geom, g.geom), g.geom) >= %(min_overlap_m2)s
      )
    """,
)
