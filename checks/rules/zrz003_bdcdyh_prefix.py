"""ZRZ-003 不动产单元号与所在宗地不符: BDCDYH[1–19] is not the code of the parcel the building stands on."""

from checks.rules.base import BUSINESS, Rule

RULE = Rule(
    code="ZRZ-003",
    rule_class=BUSINESS,
    version="1.0",
    title_zh="自然幢不动产单元号与所在宗地代码不符",
    title_en="Building BDCDYH does not start with its parcel's ZDDM",
    explanation_zh="自然幢不动产单元号前19位应为其所在宗地（重叠面积最大的地表宗地）的宗地代码。",
    explanation_en="The first 19 characters of a building's BDCDYH must be the ZDDM of the surface parcel it "
    "stands on (the one it overlaps most).",
    severity="medium",
    subject="building",
    reads={"building": ("geom", "bdcdyh"), "parcel": ("geom", "qlsdfs", "zddm")},
    material={"building": ("bdcdyh", "zddm"), "parcel": ("zddm",)},
    spatial=("parcel",),
    uses=("building_parcels",),
    manifest_kind="bdcdyh_parcel_mismatch",
    sql="""
    SELECT ARRAY['building:' || b.id, 'parcel:' || p.id] AS refs, b.geom AS geom,
           jsonb_build_object('bdcdyh', b.bdcdyh, 'prefix', left(b.bdcdyh, 19), 'host_zddm', p.zddm,
                              'building_zddm', b.zddm) AS vals
    FROM checks_work.building_parcel r
    JOIN layers_building b ON b.id = r.building_id JOIN layers_parcel p ON p.id = r.parcel_id
    LEFT JOIN checks_work.building_host h ON h.building_id = r.building_id
    -- the pair is the host: the one parcel covering the building (no building_host row), or the one
    -- building_host names
    WHERE NOT r.prefix_ok AND r.rel > 0 AND (h.building_id IS NULL OR h.host_id = r.parcel_id) AND IN_SCOPE(b)
    """,
)
