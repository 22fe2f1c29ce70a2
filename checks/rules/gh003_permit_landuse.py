"""GH-003 规划用地性质与宗地用途不符: the permit's use and its host parcel's YT differ at the first level."""

from checks.rules.base import BUSINESS, Param, Rule

RULE = Rule(
    code="GH-003",
    rule_class=BUSINESS,
    version="1.0",
    title_zh="规划用地性质与宗地用途不一致",
    title_en="Permit land use incompatible with the parcel's land use",
    explanation_zh="许可用地性质（经 GB/T 21010 2007→2017 对照转换）与主宗地（重叠面积最大的地表宗地）"
    "用途的一级类不同。",
    explanation_en="The permit's land use (through the GB/T 21010 2007→2017 crosswalk) and the land use (YT) "
    "of its host parcel (the surface parcel it overlaps most) differ in their first-level class.",
    severity="medium",
    subject="permit",
    reads={"permit": ("geom", "land_use"), "parcel": ("geom", "qlsdfs", "yt")},
    material={"permit": ("land_use",), "parcel": ("yt",)},
    params={"min_overlap_m2": Param(10.0, "m²", "主宗地重叠面积下限", "minimum overlap of the host")},
    spatial=("parcel",),
    uses=("permit_covers",),
    manifest_kind="permit_landuse_conflict",
    # the usual case first, cheaply (fenced): a surface parcel of the same first-level class covers the red
    # line (checks.relations.PERMIT_COVERS), so it is a largest overlap; the host overlay runs only for the
    # rest. Among equally large overlaps a parcel of the same class is preferred (a tie is no finding)
    sql="""
    SELECT ARRAY['permit:' || g.id, 'parcel:' || h.id] AS refs, g.geom,
           jsonb_build_object('permit_land_use', g.land_use, 'parcel_zddm', h.zddm, 'parcel_yt', h.yt) AS vals
    FROM (  -- fenced (OFFSET 0), not a materialised CTE: the cheap test in parallel, the overlay after it
        SELECT g.id, g.geom, g.land_use FROM layers_planningpermit g
        WHERE IN_SCOPE(g) AND g.land_use <> '' AND NOT EXISTS (
            SELECT 1 FROM checks_work.permit_cover c
            WHERE c.permit_id = g.id AND c.yt_class = left(g.land_use, 2)
        )
        OFFSET 0
    ) g
    CROSS JOIN LATERAL (
        SELECT p.id, p.zddm, p.yt, onemap_gk_area(ST_Intersection(p.geom, g.geom), g.geom) m2
        FROM layers_parcel p
        WHERE p.qlsdfs = '1' AND ST_Intersects(p.geom, g.geom)
        ORDER BY 4 DESC, left(p.yt, 2) = left(g.land_use, 2) DESC, p.id LIMIT 1
    ) h
    WHERE h.yt <> '' AND h.m2 >= %(min_overlap_m2)s AND left(g.land_use, 2) <> left(h.yt, 2)
    """,
)
