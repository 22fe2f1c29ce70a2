"""ZRZ-002 自然幢跨宗地: a building lies inside the surface parcels, but partly in one other than its host."""

from checks.rules.base import GENERIC, Param, Rule

RULE = Rule(
    code="ZRZ-002",
    rule_class=GENERIC,
    version="1.0",
    title_zh="自然幢跨越多个宗地",
    title_en="Building across several parcels",
    explanation_zh="自然幢基本位于地表宗地内，但与其主宗地（重叠面积最大者）以外的宗地重叠面积超过容差。",
    explanation_en="The building lies within surface parcels but overlaps a parcel other than its host "
    "(the one it overlaps most) by more than the tolerance.",
    severity="high",
    subject="building",
    reads={"building": ("geom",), "parcel": ("geom", "qlsdfs", "zddm")},
    material={"building": ("geom",), "parcel": ("geom", "qlsdfs")},
    params={
        "min_overlap_m2": Param(10.0, "m²", "跨入面积下限", "minimum overlap with the other parcel"),
        "max_outside_m2": Param(
            10.0, "m²", "超出面积上限（否则归 ZRZ-001）", "outside area below which it applies"
        ),
    },
    spatial=("parcel",),
    uses=("building_parcels",),
    manifest_kind="building_across_parcels",
    sql="""
    SELECT ARRAY['building:' || b.id, 'parcel:' || h.host_id, 'parcel:' || o.id] AS refs,
           ST_Intersection(b.geom, o.geom) AS geom,
           jsonb_build_object('host_zddm', host.zddm, 'other_zddm', o.zddm,
                              'other_overlap_m2', round(v.overlap_m2::numeric, 2),
                              'min_overlap_m2', %(min_overlap_m2)s) AS vals
    FROM checks_work.building_host h JOIN layers_building b ON b.id = h.building_id
    JOIN layers_parcel host ON host.id = h.host_id
    JOIN checks_work.building_overlap v ON v.building_id = h.building_id AND v.parcel_id <> h.host_id
    JOIN layers_parcel o ON o.id = v.parcel_id
    WHERE h.outside_m2 < %(max_outside_m2)s AND v.overlap_m2 >= %(min_overlap_m2)s AND IN_SCOPE(b)
    """,
)
