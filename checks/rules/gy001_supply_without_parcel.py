"""GY-001 供地无宗地无许可: a land-supply polygon lies over neither a surface parcel nor a permit."""

from checks.rules.base import BUSINESS, Param, Rule

RULE = Rule(
    code="GY-001",
    rule_class=BUSINESS,
    version="1.0",
    title_zh="供地记录无对应宗地或规划许可",
    title_en="Land supply with no parcel or permit",
    explanation_zh="供地范围与任何地表宗地、任何规划许可红线的重叠面积均未达到容差。",
    explanation_en="The supplied polygon overlaps no surface parcel and no permit red line by the tolerance.",
    severity="medium",
    subject="landsupply",
    reads={"landsupply": ("geom",), "parcel": ("geom", "qlsdfs"), "permit": ("geom",)},
    material={"landsupply": ("geom",)},
    params={"min_overlap_m2": Param(10.0, "m²", "重叠面积下限", "minimum overlap area")},
    spatial=("parcel", "permit"),
    manifest_kind="supply_without_parcel",
    # the usual case first, cheaply and in parallel: one surface parcel covers the record (then the overlap is
    # its whole area, estimated first); an anti-join in a fenced subquery (see GH-001), the overlays only for
    # what it leaves. A record drawn from its parcel is the parcel's very polygon: onemap_covered_by settles
    # that by comparing coordinates
    sql="""
    SELECT ARRAY['landsupply:' || s.id] AS refs, s.geom,
           jsonb_build_object('area_m2', round(onemap_gk_area(s.geom)::numeric, 2),
                              'zddm', s.zddm, 'min_overlap_m2', %(min_overlap_m2)s) AS vals
    FROM (
        SELECT s.id, s.geom, s.zddm FROM layers_landsupply s
        WHERE IN_SCOPE(s) AND NOT EXISTS (
            SELECT 1 FROM layers_parcel p
            WHERE p.qlsdfs = '1' AND p.geom ~ s.geom
              AND onemap_covered_by(s.geom, p.geom)
              AND onemap_area_at_least(s.geom, %(min_overlap_m2)s)
        )
        OFFSET 0
    ) s
    WHERE NOT EXISTS (
          SELECT 1 FROM layers_parcel p
          WHERE p.qlsdfs = '1' AND ST_Intersects(p.geom, s.geom)
            AND onemap_gk_area(ST_Intersection(p.geom, s.geom), s.geom) >= %(min_overlap_m2)s
      )
      AND NOT EXISTS (
          SELECT 1 FROM layers_planningpermit g
          WHERE ST_Intersects(g.geom, s.geom)
            AND onemap_gk_area(ST_Intersection(g.geom, s.geom), s.geom) >= %(min_overlap_m2)s
      )
    """,
)
