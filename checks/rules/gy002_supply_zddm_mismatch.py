"""GY-002 供地宗地代码指向别处: the record names an existing parcel that is not the one under it."""

from checks.rules.base import BUSINESS, Param, Rule

RULE = Rule(
    code="GY-002",
    rule_class=BUSINESS,
    version="1.0",
    title_zh="供地记录宗地代码与所在宗地不符",
    title_en="Land supply names a parcel other than the one under it",
    explanation_zh="供地记录的宗地代码指向一个已登记宗地，但供地范围所在的主宗地（重叠面积最大者）是另一宗地。",
    explanation_en="The record's ZDDM names a registered parcel, but its polygon lies on another one (the "
    "surface parcel it overlaps most; a tie with the named parcel is no finding).",
    severity="medium",
    subject="landsupply",
    reads={"landsupply": ("geom", "zddm"), "parcel": ("geom", "qlsdfs", "zddm")},
    material={"landsupply": ("zddm", "geom"), "parcel": ("zddm",)},
    params={"min_overlap_m2": Param(10.0, "m²", "主宗地重叠面积下限", "minimum overlap of the host")},
    spatial=("parcel",),
    key_links=(("parcel", "zddm", "zddm"),),
    manifest_kind="supply_zddm_mismatch",
    # the cheap test first (materialised, so the host overlay runs only for what it leaves): a named surface
    # parcel that covers the polygon is a largest overlap
    sql="""
    WITH cand AS MATERIALIZED (
        SELECT s.id AS sid, n.id AS nid
        FROM layers_landsupply s JOIN layers_parcel n ON n.zddm = s.zddm
        WHERE IN_SCOPE(s) AND s.zddm <> ''
          AND NOT (n.qlsdfs = '1' AND onemap_covered_by(s.geom, n.geom))
    )
    SELECT ARRAY['landsupply:' || s.id, 'parcel:' || h.id, 'parcel:' || n.id] AS refs, s.geom,
           jsonb_build_object('supply_zddm', s.zddm, 'located_zddm', h.zddm) AS vals
    FROM cand JOIN layers_landsupply s ON s.id = cand.sid JOIN layers_parcel n ON n.id = cand.nid
    CROSS JOIN LATERAL (
        SELECT p.id, p.zddm, onemap_gk_area(ST_Intersection(p.geom, s.geom), s.geom) m2
        FROM layers_parcel p
        WHERE p.qlsdfs = '1' AND ST_Intersects(p.geom, s.geom)
        ORDER BY 3 DESC, p.id LIMIT 1
    ) h
    WHERE h.m2 >= %(min_overlap_m2)s AND h.zddm <> s.zddm
      -- the named parcel is not one of the largest overlaps (ties are not findings)
      AND h.m2 > 0.01 + CASE WHEN n.qlsdfs = '1' AND ST_Intersects(n.geom, s.geom)
                             THEN onemap_gk_area(ST_Intersection(n.geom, s.geom), s.geom) ELSE 0 END
    """,
)
