"""The fields a query may name: a layer's registry attributes, ``id``, and four virtual fields.

Why a whitelist and not column names from the request: every name that reaches SQL text comes from here,
built from :mod:`layers.registry` declarations (checked identifiers) and fixed templates. Request values
never become SQL text; they are bound parameters (:mod:`analysis.compiler`).

Virtual fields:

* ``area_m2``: the geodesic area on the CGCS2000 ellipsoid, ``ST_Area(geom::geography)``, in m². Never an
  area in square degrees; within 0.1 % of the Gauss-Krüger planar area in the feature's 3° zone.
* ``county``: the GB/T 2260 code of the current county (``layers_admindivision``, ``valid_to IS NULL``)
  containing ``ST_PointOnSurface(geom)``: one county per feature, even for one that crosses a boundary.
* ``year:<date attribute>``: the calendar year of a date (for grouping, or a filter on years).
* ``class1:<GB/T 21010 attribute>``: the first-level land-use class, the first two digits of the code
  (``0701`` → ``07`` 住宅用地), as rule GH-003 compares permits and parcels (permit codes are 2017 codes
  after the ETL's 2007→2017 crosswalk, so their first two digits are the 2017 first-level class).
"""

from __future__ import annotations

from dataclasses import dataclass

from layers.registry import Layer

LANDUSE_CODELIST = "gbt21010_2017"
COUNTY_CODELIST = "gbt2260_chongqing"
NUMERIC = ("integer", "number")
ORDERED = ("integer", "number", "date", "datetime")

COUNTY_SQL = (
    "(SELECT ad.code FROM layers_admindivision ad WHERE ad.valid_to IS NULL "
    "AND ST_Intersects(ad.geom, ST_PointOnSurface({a}.geom)) ORDER BY ad.code LIMIT 1)"
)


class FieldError(ValueError):
    """A field name the layer does not have (the message lists what it has)."""

    def __init__(self, message_zh: str, message_en: str):
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


@dataclass(frozen=True)
class Field:
    """A resolved field: its name as the query writes it, SQL template (``{a}`` = the layer's alias), type,
    titles and the code list its values belong to."""

    name: str
    template: str
    type: str
    title_zh: str
    title_en: str
    codelist: str | None = None
    virtual: bool = False

    def sql(self, alias: str) -> str:
        return self.template.format(a=alias)

    def column(self) -> dict:
        """The column description the API returns for this field."""
        return {
            "name": self.name,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "type": self.type,
            "codelist": self.codelist,
        }

    def label_column(self) -> dict:
        """The column of the decoded names of a coded field (``<name>_label``)."""
        return {
            "name": f"{self.name}_label",
            "title_zh": f"{self.title_zh}（名称）",
            "title_en": f"{self.title_en} (name)",
            "type": "string",
            "codelist": None,
        }


ID_FIELD = Field("id", "{a}.id", "integer", "编号", "ID")
AREA_FIELD = Field(
    "area_m2", "ST_Area({a}.geom::geography)", "number", "图形面积(m²)", "Area (m², geodesic)", virtual=True
)
COUNTY_FIELD = Field(
    "county", COUNTY_SQL, "string", "所在区县", "County (located)", COUNTY_CODELIST, virtual=True
)


def resolve(layer: Layer, name: object) -> Field:
    """The field ``name`` of ``layer``, or :class:`FieldError` naming what the layer offers."""
    if not isinstance(name, str) or not name:
        raise FieldError("字段名必须是非空文本", "a field name must be a non-empty string")
    if name == "id":
        return ID_FIELD
    if name == "area_m2":
        return AREA_FIELD
    if name == "county":
        return COUNTY_FIELD
    kind, sep, column = name.partition(":")
    if sep:
        attr = layer.attribute(column)
        if kind == "year" and attr is not None and attr.type in ("date", "datetime"):
            return Field(
                name,
                f"EXTRACT(YEAR FROM {{a}}.{attr.column})::integer",
                "integer",
                f"{attr.title_zh}年度",
                f"{attr.title_en} (year)",
                virtual=True,
            )
        if kind == "class1" and attr is not None and attr.codelist == LANDUSE_CODELIST:
            return Field(
                name,
                f"NULLIF(left({{a}}.{attr.column}, 2), '')",
                "string",
                f"{attr.title_zh}一级类",
                f"{attr.title_en} (first-level class)",
                LANDUSE_CODELIST,
                virtual=True,
            )
        dates = [a.column for a in layer.attributes if a.type in ("date", "datetime")]
        coded = [a.column for a in layer.attributes if a.codelist == LANDUSE_CODELIST]
        raise FieldError(
            f"图层 {layer.name} 没有字段 {name}；可用 year:{'|'.join(dates) or '（无日期字段）'}、"
            f"class1:{'|'.join(coded) or '（无地类字段）'}",
            f"layer {layer.name!r} has no field {name!r}; use year:<{'|'.join(dates) or 'no date field'}> "
            f"or class1:<{'|'.join(coded) or 'no GB/T 21010 field'}>",
        )
    attr = layer.attribute(name)
    if attr is None:
        names = ", ".join(["id", *layer.columns, "area_m2", "county"])
        raise FieldError(
            f"图层 {layer.name} 没有字段 {name}；可用字段：{names}",
            f"layer {layer.name!r} has no field {name!r}; fields: {names}",
        )
    return Field(attr.column, f"{{a}}.{attr.column}", attr.type, attr.title_zh, attr.title_en, attr.codelist)


def output_fields(layer: Layer) -> list[Field]:
    """The fields of a feature row: id, every attribute, the geodesic area."""
    return [ID_FIELD, *(resolve(layer, a.column) for a in layer.attributes), AREA_FIELD]
