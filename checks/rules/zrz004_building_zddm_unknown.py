"""ZRZ-004 自然幢宗地代码不存在: the parcel a building names (ZRZ.ZDDM) is not registered."""

from checks.rules.base import BUSINESS, Rule

RULE = Rule(
    code="ZRZ-004",
    rule_class=BUSINESS,
    version="1.0",
    title_zh="自然幢所填宗地代码不存在",
    title_en="Building names a parcel that does not exist",
    explanation_zh="自然幢的宗地代码（ZRZ.ZDDM）在宗地表中找不到。",
    explanation_en="The parcel code on the building (ZRZ.ZDDM) is not in the parcel table.",
    severity="medium",
    subject="building",
    reads={"building": ("zddm",), "parcel": ("zddm",)},
    material={"building": ("zddm",)},
    key_links=(("parcel", "zddm", "zddm"),),
    manifest_kind="building_zddm_unknown",
    sql="""
    SELECT ARRAY['building:' || b.id] AS refs, b.geom AS geom,
           jsonb_build_object('building_zddm', b.zddm) AS vals
    FROM layers_building b
    WHERE b.zddm <> '' AND IN_SCOPE(b)
      AND NOT EXISTS (SELECT 1 FROM layers_parcel p WHERE p.zddm = b.zddm)
    """,
)
