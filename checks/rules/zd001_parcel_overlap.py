"""ZD-001 宗地重叠: two surface parcels overlap by more than the tolerance."""

from checks.rules.base import GENERIC, Param, Rule

RULE = Rule(
    code="ZD-001",
    rule_class=GENERIC,
    version="1.0",
    title_zh="宗地重叠",
    title_en="Overlapping parcels",
    explanation_zh="两个地表宗地重叠面积超过容差（分层设权的地上、地下宗地不参与比较）。",
    explanation_en="Two surface parcels overlap by more than the tolerance (layered rights above or below "
    "ground are not compared).",
    severity="high",
    subject="parcel",
    reads={"parcel": ("geom", "qlsdfs")},
    material={"parcel": ("geom", "qlsdfs")},
    params={"min_overlap_m2": Param(10.0, "m²", "重叠面积下限", "minimum overlap area")},
    manifest_kind="parcel_overlap",
    # each pair once (from its smaller id, or from the side in scope when only one is), then oriented by ZDDM
    # so a full and an incremental run describe it identically
    sql="""
    WITH pairs AS (
        SELECT CASE WHEN a.zddm < b.zddm THEN a.id ELSE b.id END AS lo,
               CASE WHEN a.zddm < b.zddm THEN b.id ELSE a.id END AS hi
        FROM layers_parcel a JOIN layers_parcel b ON a.geom && b.geom AND a.id <> b.id
        WHERE a.qlsdfs = '1' AND b.qlsdfs = '1' AND IN_SCOPE(a) AND (a.id < b.id OR NOT IN_SCOPE(b))
          AND ST_Relate(a.geom, b.geom, 'T********')  -- interiors intersect: touching neighbours never
    )
    SELECT ARRAY['parcel:' || a.id, 'parcel:' || b.id] AS refs, x.geom,
           jsonb_build_object('overlap_m2', round(x.m2::numeric, 2), 'min_overlap_m2', %(min_overlap_m2)s,
                              'zddm', jsonb_build_array(a.zddm, b.zddm)) AS vals
    FROM pairs JOIN layers_parcel a ON a.id = pairs.lo JOIN layers_parcel b ON b.id = pairs.hi
    CROSS JOIN LATERAL (SELECT ST_Intersection(a.geom, b.geom) AS geom) i
    CROSS JOIN LATERAL (SELECT i.geom, onemap_gk_area(i.geom, a.geom) AS m2) x
    WHERE x.m2 >= %(min_overlap_m2)s
    """,
)
