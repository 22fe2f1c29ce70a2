"""GH-002 规划许可压占他人宗地: the red line covers a parcel of a holder other than the developer."""

from checks.rules.base import BUSINESS, Param, Rule

RULE = Rule(
    code="GH-002",
    rule_class=BUSINESS,
    version="1.0",
    title_zh="规划许可红线压占其他权利人宗地",
    title_en="Planning permit overlaps a parcel of another holder",
    explanation_zh="权利人（QLR）与建设单位不同的地表宗地，内缩容差距离后仍与用地红线重叠超过面积容差。",
    explanation_en="A surface parcel whose holder (QLR) is not the developer still overlaps the red line by "
    "more than the area tolerance after shrinking the parcel by the edge tolerance.",
    severity="high",
    subject="permit",
    reads={"permit": ("geom", "developer"), "parcel": ("geom", "qlsdfs", "qlr")},
    material={"permit": ("geom", "developer"), "parcel": ("geom", "qlr")},
    params={
        "edge_m": Param(5.0, "m", "宗地内缩距离（吸收边界误差）", "parcel shrink (absorbs edge noise)"),
        "min_overlap_m2": Param(50.0, "m²", "重叠面积下限", "minimum overlap area"),
    },
    spatial=("parcel",),
    manifest_kind="permit_holder_conflict",
    sql="""
    SELECT ARRAY['permit:' || g.id, 'parcel:' || p.id] AS refs, ST_Transform(x.geom, 4490) AS geom,
           jsonb_build_object('developer', g.developer, 'parcel_zddm', p.zddm, 'parcel_holder', p.qlr,
                              'overlap_m2', round(ST_Area(x.geom)::numeric, 2), 'edge_m', %(edge_m)s,
                              'min_overlap_m2', %(min_overlap_m2)s) AS vals
    -- driven from the permits (far fewer than parcels), in parallel: one parcel index probe per permit. The
    -- box test names the permit's envelope and the intersection sits in a CASE, so that no index condition
    -- on the permits can be derived: a plain join is planned as every parcel probing the permits' index
    -- (≈ 4× slower), a lateral with OFFSET 0 runs on one core
    FROM layers_planningpermit g
    JOIN layers_parcel p ON p.geom && ST_Envelope(g.geom)
      AND p.qlsdfs = '1'
      AND CASE WHEN p.qlr IS DISTINCT FROM g.developer THEN ST_Intersects(p.geom, g.geom) ELSE false END
    CROSS JOIN LATERAL (SELECT onemap_gk_srid(g.geom) AS srid) z
    CROSS JOIN LATERAL (
        SELECT ST_Intersection(
                   ST_Transform(g.geom, z.srid), ST_Buffer(ST_Transform(p.geom, z.srid), -%(edge_m)s)
               ) AS geom
    ) x
    WHERE IN_SCOPE(g)
      AND ST_Area(x.geom) >= %(min_overlap_m2)s
    """,
)
