"""ZD-003 宗地代码区县不符: ZDDM[1–6] is not the county whose polygon contains the parcel."""

from checks.rules.base import BUSINESS, Rule

RULE = Rule(
    code="ZD-003",
    rule_class=BUSINESS,
    version="1.1",
    title_zh="宗地代码中的区县与所在行政区不符",
    title_en="County part of ZDDM differs from the county the parcel lies in",
    explanation_zh="宗地代码前6位应为包含该宗地（内点）的区县行政区划代码；已撤销代码的继任区县视为一致。",
    explanation_en="ZDDM positions 1–6 must be the code of the county polygon containing the parcel (a point "
    "on its surface); a former code whose successor is that county is accepted.",
    severity="medium",
    subject="parcel",
    reads={"parcel": ("geom", "zddm")},
    material={"parcel": ("geom", "zddm")},
    uses=("county_pieces",),
    reads_counties=True,
    manifest_kind="zddm_county_mismatch",
    sql="""
    SELECT ARRAY['parcel:' || p.id] AS refs, p.geom,
           jsonb_build_object('zddm_county', left(p.zddm, 6), 'located_county', c.code,
                              'located_county_name', d.name) AS vals
    -- candidates first by boxes and codes alone: only parcels whose box meets a piece of another county
    -- (border parcels, or a wrong county code) pay for a point on their surface
    FROM layers_parcel p
    JOIN checks_work.county_piece c ON c.geom && p.geom AND left(p.zddm, 6) <> c.code
    LEFT JOIN layers_admindivision d ON d.code = c.code AND d.valid_to IS NULL
    WHERE ST_Intersects(c.geom, ST_PointOnSurface(p.geom)) AND IN_SCOPE(p)
      AND NOT EXISTS (
          SELECT 1 FROM layers_code k JOIN layers_codelist l ON l.id = k.codelist_id
          WHERE l.key = 'gbt2260_chongqing' AND k.code = left(p.zddm, 6) AND k.extra ->> 'successor' = c.code
      )
    """,
)
