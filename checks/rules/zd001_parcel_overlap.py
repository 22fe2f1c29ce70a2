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
    # each pair once (from its smaller id, or from the side in scope when only one is), oriented by ZDDM so a
    # full and an incremental run describe it identically. The exact test (a full DE-9IM relate: interiors
    # intersect, so touching neighbours never) only where the boxes could hold the tolerance
    # (onemap_box_overlap_m2, an upper bound: most neighbours meet in a thin strip of their boxes)
    sql="""
    WITH pairs AS (
        SELECT o.lo_id, o.lo_zddm, o.lo_geom, o.hi_id, o.hi_zddm, o.hi_geom
        FROM layers_parcel a JOIN layers_parcel b ON a.geom && b.geom AND a.id <> b.id
        CROSS JOIN LATERAL (
            SELECT CASE WHEN a.zddm < b.zddm THEN a.id ELSE b.id END AS lo_id,
                   CASE WHEN a.zddm < b.zddm THEN a.zddm ELSE b.zddm END AS lo_zddm,
                   CASE WHEN a.zddm < b.zddm THEN a.geom ELSE b.geom END AS lo_geom,
                   CASE WHEN a.zddm < b.zddm THEN b.id ELSE a.id END AS hi_id,
                   CASE WHEN a.zddm < b.zddm THEN b.zddm ELSE a.zddm END AS hi_zddm,
                   CASE WHEN a.zddm < b.zddm THEN b.geom ELSE a.geom END AS hi_geom
        ) o
        -- "+ 0": the id order is a filter on the few box neighbours, never a primary-key range scan
        WHERE a.qlsdfs = '1' AND b.qlsdfs = '1' AND IN_SCOPE(a) AND (a.id + 0 < b.id + 0 OR NOT IN_SCOPE(b))
          AND onemap_box_overlap_m2(a.geom, b.geom) >= %(min_overlap_m2)s
          AND ST_Relate(a.geom, b.geom, 'T********')
    )
    SELECT ARRAY['parcel:' || lo_id, 'parcel:' || hi_id] AS refs, x.geom,
           jsonb_build_object('overlap_m2', round(x.m2::numeric, 2), 'min_overlap_m2', %(min_overlap_m2)s,
                              'zddm', jsonb_build_array(lo_zddm, hi_zddm)) AS vals
    FROM pairs
    CROSS JOIN LATERAL (SELECT ST_Intersection(lo_geom, hi_geom) AS geom) i
    CROSS JOIN LATERAL (SELECT i.geom, onemap_gk_area(i.geom, lo_geom) AS m2) x
    WHERE x.m2 >= %(min_overlap_m2)s
    """,
)
