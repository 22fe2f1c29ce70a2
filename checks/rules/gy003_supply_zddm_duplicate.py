"""GY-003 宗地代码重复使用: two land-supply records name the same parcel code but lie in different places."""

from checks.rules.base import GENERIC, Param, Rule

RULE = Rule(
    code="GY-003",
    rule_class=GENERIC,
    version="1.0",
    title_zh="同一宗地代码用于不同位置的供地记录",
    title_en="One parcel code on land-supply records in different places",
    explanation_zh="两条供地记录填写相同的宗地代码，但供地范围重叠面积未达到容差（同一代码指向两处土地）。",
    explanation_en="Two land-supply records carry the same ZDDM but their polygons overlap by less than the "
    "tolerance: one code names two pieces of land.",
    severity="low",
    subject="landsupply",
    reads={"landsupply": ("geom", "zddm")},
    material={"landsupply": ("zddm", "geom")},
    params={
        "min_overlap_m2": Param(10.0, "m²", "视为同一地块的重叠面积", "overlap that means the same land")
    },
    manifest_kind="",
    sql="""
    WITH pairs AS (
        SELECT CASE WHEN a.contract_no < b.contract_no THEN a.id ELSE b.id END AS lo,
               CASE WHEN a.contract_no < b.contract_no THEN b.id ELSE a.id END AS hi
        FROM layers_landsupply a JOIN layers_landsupply b ON b.zddm = a.zddm AND b.id <> a.id
        WHERE a.zddm <> '' AND IN_SCOPE(a) AND (a.id < b.id OR NOT IN_SCOPE(b))
    )
    SELECT ARRAY['landsupply:' || a.id, 'landsupply:' || b.id] AS refs, ST_Collect(a.geom, b.geom) AS geom,
           jsonb_build_object('zddm', a.zddm,
                              'contracts', jsonb_build_array(a.contract_no, b.contract_no)) AS vals
    FROM pairs JOIN layers_landsupply a ON a.id = pairs.lo JOIN layers_landsupply b ON b.id = pairs.hi
    WHERE NOT ST_Intersects(a.geom, b.geom)
       OR onemap_gk_area(ST_Intersection(a.geom, b.geom), a.geom) < %(min_overlap_m2)s
    """,
)
