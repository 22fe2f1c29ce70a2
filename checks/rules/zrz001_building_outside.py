"""ZRZ-001 自然幢超出宗地范围: the part of a building outside every surface parcel is above the tolerance."""

from checks.rules.base import GENERIC, Param, Rule

RULE = Rule(
    code="ZRZ-001",
    rule_class=GENERIC,
    version="1.0",
    title_zh="自然幢超出宗地范围",
    title_en="Building outside its parcel",
    explanation_zh="自然幢轮廓落在所有地表宗地之外的面积超过容差（分层设权宗地不参与比较）。",
    explanation_en="The part of the building footprint outside every surface parcel exceeds the tolerance "
    "(layered-right parcels are not compared).",
    severity="high",
    subject="building",
    reads={"building": ("geom",), "parcel": ("geom", "qlsdfs", "zddm")},
    material={"building": ("geom",), "parcel": ("geom", "qlsdfs")},
    params={"min_outside_m2": Param(10.0, "m²", "超出面积下限", "minimum outside area")},
    spatial=("parcel",),
    uses=("building_parcels",),
    manifest_kind="building_outside_parcel",
    sql="""
    SELECT ARRAY['building:' || b.id] AS refs, h.outside_geom AS geom,
           jsonb_build_object('outside_m2', round(h.outside_m2::numeric, 2), 'host_zddm', p.zddm,
                              'min_outside_m2', %(min_outside_m2)s) AS vals
    FROM checks_work.building_host h JOIN layers_building b ON b.id = h.building_id
    LEFT JOIN layers_parcel p ON p.id = h.host_id
    WHERE h.outside_m2 >= %(min_outside_m2)s AND IN_SCOPE(b)
    """,
)
