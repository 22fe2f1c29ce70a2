"""The published map layers: one entry per layer, read by every service (REST, OGC API Features, vector
tiles, MapServer/MapProxy, identify, lookups).

Why one registry: a layer's name, titles, style, zoom range, attributes and roles used to drift apart when
each service kept its own copy (a layer hidden from analysts in the API but listed in WMS capabilities).
Here a layer is declared once; the services, the MapProxy/MapServer configuration and their tests are
derived from it, so adding a layer (e.g. one more consistency-check rule's findings) is one
:func:`register` call with a SQL source and a style.

Sources are SQL text written in this repository (never built from request data): a ``SELECT`` that yields
an ``id`` column, a ``geom`` column in EPSG:4490 and the attribute columns. Request values only ever reach
SQL as bound parameters, and column names only from a :class:`Layer`'s own declarations.

This module imports no other app of ours: apps that own data (``etl``, ``checks``) are referenced by table
name, and may register their own layers from their ``AppConfig.ready``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from accounts.roles import ADMIN, ANALYST, ETL_OPERATOR, SUPERVISOR, user_roles

SRID = 4490
LINEAGE_COLUMNS = ("src_system", "src_file", "src_layer", "src_row", "load_run", "loaded_at", "version")
ATTRIBUTE_TYPES = ("string", "integer", "number", "date", "datetime")
GEOMETRY_TYPES = ("MultiPolygon", "Polygon", "MultiLineString", "LineString", "Point", "Geometry")


class RegistryError(ValueError):
    """A layer declaration that cannot work (raised at import/registration, not at request time)."""


@dataclass(frozen=True)
class Attribute:
    """One attribute column of a layer. ``min_zoom``: the first Web Mercator zoom at which vector tiles
    carry it (small scales get fewer attributes, so tiles stay small); REST and OGC always return all."""

    column: str
    title_zh: str
    title_en: str
    type: str = "string"
    min_zoom: int = 0
    # the code list (``layers_codelist.key``) its values are codes of: identify shows their names beside them
    codelist: str | None = None


@dataclass(frozen=True)
class Label:
    """A text label drawn by MapServer (and offered to web clients): the column, from which zoom on."""

    column: str
    min_zoom: int = 15
    color: str = "#1f2937"
    halo: str = "#ffffff"
    size: int = 9


@dataclass(frozen=True)
class Style:
    fill: str | None = "#3b82f6"
    fill_opacity: float = 0.25
    stroke: str = "#1d4ed8"
    stroke_width: float = 1.0
    label: Label | None = None


@dataclass(frozen=True)
class Layer:
    """A published layer. ``name`` is the URL/tile/WMS name (ASCII, stable); ``system`` is how identify
    groups records: a column of the source (``src_system``) or a fixed string in quotes (``"'etl'"``)."""

    name: str
    title_zh: str
    title_en: str
    source: str
    geometry_type: str
    attributes: tuple[Attribute, ...]
    style: Style
    roles: tuple[str, ...]
    min_zoom: int = 0
    max_zoom: int = 20
    system: str = "src_system"
    lineage: bool = True
    lookups: dict[str, str] = field(default_factory=dict)
    # text columns the search box matches anywhere in the value (addresses, project names)
    search_text: tuple[str, ...] = ()
    # ETL targets whose loads change this layer; "*" = every load (the ETL quarantine)
    etl_targets: tuple[str, ...] = ()
    # simplification tolerance in tile pixels (of a 256-px tile) below ``simplify_until`` zoom
    simplify_px: float = 0.5
    simplify_until: int = 15
    description_zh: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(a.column for a in self.attributes)

    def attribute(self, column: str) -> Attribute | None:
        return next((a for a in self.attributes if a.column == column), None)

    def attributes_at(self, zoom: int) -> tuple[Attribute, ...]:
        return tuple(a for a in self.attributes if a.min_zoom <= zoom)

    def system_sql(self) -> str:
        """The SQL of ``system`` over the source aliased ``src`` (a column, or the quoted constant)."""
        return self.system if self.system.startswith("'") else f"src.{self.system}"

    def relation(self) -> str:
        """The source as a FROM item (aliased ``src``)."""
        return f"({self.source}) AS src"

    def allows(self, user) -> bool:
        """Whether ``user`` may see this layer in any service (admin sees everything)."""
        owned = user_roles(user)
        return ADMIN in owned or bool(owned.intersection(self.roles))

    def fingerprint(self) -> str:
        """A short hash of the declaration: part of tile ETags, so a style or attribute change is never
        answered with a cached tile of the old definition (computed once per declaration)."""
        cached = _FINGERPRINTS.get(id(self))
        if cached is None or cached[0] is not self:
            text = json.dumps(asdict(self), sort_keys=True, default=str)
            cached = (self, hashlib.sha1(text.encode()).hexdigest()[:10])
            _FINGERPRINTS[id(self)] = cached
        return cached[1]


_REGISTRY: dict[str, Layer] = {}
_LITERAL = re.compile(r"'[a-z][a-z0-9_]*'")
_FINGERPRINTS: dict[int, tuple[Layer, str]] = {}


def _check(layer: Layer) -> None:
    problems = []
    if not layer.name.isascii() or not layer.name.replace("_", "").isalnum() or not layer.name.islower():
        problems.append("name must be lower-case ASCII letters, digits and _")
    if layer.geometry_type not in GEOMETRY_TYPES:
        problems.append(f"geometry_type {layer.geometry_type!r} is not one of {GEOMETRY_TYPES}")
    for attr in layer.attributes:
        if attr.type not in ATTRIBUTE_TYPES:
            problems.append(f"attribute {attr.column}: type {attr.type!r} not in {ATTRIBUTE_TYPES}")
        if not attr.column.isidentifier() or attr.column in ("id", "geom"):
            problems.append(f"attribute {attr.column!r} is not a plain column name (id/geom are implicit)")
    if layer.style.label and layer.style.label.column not in layer.columns:
        problems.append(f"label column {layer.style.label.column!r} is not an attribute")
    for kind, column in layer.lookups.items():
        if column not in layer.columns:
            problems.append(f"lookup {kind}: column {column!r} is not an attribute")
    for column in layer.search_text:
        attr = layer.attribute(column)
        if attr is None or attr.type != "string":
            problems.append(f"search_text: {column!r} is not a text attribute")
    if not (layer.system.isidentifier() or _LITERAL.fullmatch(layer.system)):
        problems.append(f"system {layer.system!r} is neither a column nor a quoted word like \"'etl'\"")
    if not layer.roles:
        problems.append("roles: at least one role must be allowed")
    if not 0 <= layer.min_zoom <= layer.max_zoom <= 22:
        problems.append("zoom range must satisfy 0 <= min_zoom <= max_zoom <= 22")
    if problems:
        raise RegistryError(f"layer {layer.name!r}: " + "; ".join(problems))


def register(layer: Layer, *, replace: bool = False) -> Layer:
    """Add a layer (apps call this from ``AppConfig.ready``). A second layer of the same name is an error
    unless ``replace`` (a reloaded app)."""
    _check(layer)
    if layer.name in _REGISTRY and not replace and _REGISTRY[layer.name] != layer:
        raise RegistryError(f"layer {layer.name!r} is already registered")
    _REGISTRY[layer.name] = layer
    return layer


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def all_layers() -> list[Layer]:
    return list(_REGISTRY.values())


def get(name: str) -> Layer | None:
    return _REGISTRY.get(name)


def for_user(user) -> list[Layer]:
    """The layers ``user`` may see, in registry order: what every listing (API, OGC, capabilities) shows."""
    return [layer for layer in _REGISTRY.values() if layer.allows(user)]


def layers_for_targets(targets: Iterable[str]) -> list[Layer]:
    """Layers changed by a load that touched the given ETL targets (``parcel``, ``building`` ...)."""
    wanted = set(targets)
    return [
        layer
        for layer in _REGISTRY.values()
        if "*" in layer.etl_targets or wanted.intersection(layer.etl_targets)
    ]


def table_source(table: str, columns: Iterable[str], *, where: str = "", lineage: bool = True) -> str:
    """``SELECT id, geom, <columns>[, lineage] FROM <table> [WHERE ...]`` for a table of ours."""
    cols = ["id", "geom", *columns, *(LINEAGE_COLUMNS if lineage else ())]
    sql = f"SELECT {', '.join(cols)} FROM {table}"
    return f"{sql} WHERE {where}" if where else sql


EVERYONE = (SUPERVISOR, ANALYST, ETL_OPERATOR)

_PARCEL_ATTRS = (
    Attribute("zddm", "宗地代码", "Parcel code (ZDDM)", min_zoom=13),
    Attribute("bdcdyh", "不动产单元号", "Real estate unit no. (BDCDYH)", min_zoom=15),
    Attribute("qxdm", "区县代码", "County code", min_zoom=13, codelist="gbt2260_chongqing"),
    Attribute("zl", "坐落", "Address", min_zoom=15),
    Attribute("zdmj", "宗地面积(m²)", "Declared area (m²)", "number", min_zoom=15),
    Attribute("yt", "用途", "Land use (GB/T 21010)", min_zoom=0, codelist="gbt21010_2017"),
    Attribute("qllx", "权利类型", "Right type", min_zoom=16, codelist="qllx"),
    Attribute("qlr", "权利人", "Right holder", min_zoom=16),
    Attribute("djsj", "登记时间", "Registered on", "date", min_zoom=16),
    Attribute("zt", "状态", "Status", min_zoom=0),
)
_BUILDING_ATTRS = (
    Attribute("bdcdyh", "不动产单元号", "Real estate unit no. (BDCDYH)", min_zoom=16),
    Attribute("zrzh", "自然幢号", "Building no. (ZRZH)", min_zoom=16),
    Attribute("zddm", "宗地代码", "Parcel code (ZDDM)", min_zoom=16),
    Attribute("xmmc", "项目名称", "Project", min_zoom=16),
    Attribute("jzwmc", "建筑物名称", "Building name", min_zoom=15),
    Attribute("zcs", "总层数", "Floors", "integer", min_zoom=14),
    Attribute("ghyt", "规划用途", "Planned use", min_zoom=14, codelist="fwyt"),
    Attribute("jgrq", "竣工日期", "Completed on", "date", min_zoom=16),
)
_PERMIT_ATTRS = (
    Attribute("permit_no", "许可证号", "Permit no.", min_zoom=13),
    Attribute("kind", "证件类型", "Kind", min_zoom=0, codelist="ghxk"),
    Attribute("project_name", "项目名称", "Project", min_zoom=14),
    Attribute("developer", "建设单位", "Developer", min_zoom=15),
    Attribute("land_use", "用地性质", "Land use", min_zoom=13, codelist="gbt21010_2017"),
    Attribute("land_area", "用地面积(m²)", "Land area (m²)", "number", min_zoom=15),
    # what the analysts sum per county and year (规划许可建筑面积); vector tiles carry it only when zoomed in
    Attribute("floor_area", "建筑面积(m²)", "Floor area (m²)", "number", min_zoom=16),
    Attribute("issued_on", "发证日期", "Issued on", "date", min_zoom=15),
)
_SUPPLY_ATTRS = (
    Attribute("contract_no", "合同编号", "Contract no.", min_zoom=13),
    Attribute("method", "供地方式", "Supply method", min_zoom=0, codelist="gdfs"),
    Attribute("zddm", "宗地代码", "Parcel code (ZDDM)", min_zoom=14),
    Attribute("project_name", "项目名称", "Project", min_zoom=14),
    Attribute("grantee", "受让人", "Grantee", min_zoom=15),
    Attribute("land_use", "土地用途", "Land use", min_zoom=13, codelist="gbt21010_2017"),
    Attribute("area", "供地面积(m²)", "Area (m²)", "number", min_zoom=15),
    Attribute("supplied_on", "供地日期", "Supplied on", "date", min_zoom=15),
    Attribute("agreed_start_on", "约定开工日期", "Agreed start", "date", min_zoom=15),
    Attribute("actual_start_on", "实际开工日期", "Actual start", "date", min_zoom=15),
)
_PROBLEM_ATTRS = (
    Attribute("rule", "规则", "Rule", min_zoom=0),
    Attribute("severity", "级别", "Severity", min_zoom=0),
    Attribute("system", "业务系统", "System", min_zoom=12),
    Attribute("target", "目标", "Target", min_zoom=12),
    Attribute("source_file", "文件", "File", min_zoom=14),
    Attribute("source_row", "行号", "Row", "integer", min_zoom=14),
    Attribute("source_id", "源记录标识", "Source id", min_zoom=14),
    Attribute("message_zh", "说明", "Message", min_zoom=14),
    Attribute("run_id", "加载批次", "Load run", "integer", min_zoom=14),
)

register(
    Layer(
        name="parcels",
        title_zh="宗地",
        title_en="Parcels",
        source=table_source("layers_parcel", [a.column for a in _PARCEL_ATTRS]),
        geometry_type="MultiPolygon",
        attributes=_PARCEL_ATTRS,
        style=Style("#f59e0b", 0.25, "#b45309", 1.0, Label("zl", min_zoom=16)),
        roles=EVERYONE,
        min_zoom=10,
        lookups={"zddm": "zddm", "bdcdyh": "bdcdyh"},
        search_text=("zl",),
        etl_targets=("parcel",),
        description_zh="不动产登记宗地（TD/T 1066 ZDJBXX），现势与历史",
    )
)
register(
    Layer(
        name="buildings",
        title_zh="自然幢",
        title_en="Buildings",
        source=table_source("layers_building", [a.column for a in _BUILDING_ATTRS]),
        geometry_type="MultiPolygon",
        attributes=_BUILDING_ATTRS,
        style=Style("#ef4444", 0.35, "#991b1b", 0.8, Label("jzwmc", min_zoom=17)),
        roles=EVERYONE,
        min_zoom=13,
        lookups={"bdcdyh": "bdcdyh", "zddm": "zddm"},
        etl_targets=("building",),
    )
)
register(
    Layer(
        name="permits",
        title_zh="规划许可",
        title_en="Planning permits",
        source=table_source("layers_planningpermit", [a.column for a in _PERMIT_ATTRS]),
        geometry_type="MultiPolygon",
        attributes=_PERMIT_ATTRS,
        style=Style(None, 0.0, "#7c3aed", 1.5, Label("project_name", min_zoom=15, color="#5b21b6")),
        roles=EVERYONE,
        min_zoom=10,
        lookups={"permit": "permit_no"},
        search_text=("project_name",),
        etl_targets=("permit",),
    )
)
register(
    Layer(
        name="landsupply",
        title_zh="土地供应",
        title_en="Land supply",
        source=table_source("layers_landsupply", [a.column for a in _SUPPLY_ATTRS]),
        geometry_type="MultiPolygon",
        attributes=_SUPPLY_ATTRS,
        style=Style("#10b981", 0.2, "#047857", 1.2, Label("project_name", min_zoom=15, color="#065f46")),
        roles=EVERYONE,
        min_zoom=10,
        lookups={"contract": "contract_no", "zddm": "zddm"},
        search_text=("project_name",),
        etl_targets=("landsupply",),
    )
)
register(
    Layer(
        name="counties",
        title_zh="区县界线",
        title_en="County boundaries",
        source=(
            "SELECT id, geom, code, name, 'reference'::text AS system FROM layers_admindivision "
            "WHERE valid_to IS NULL"
        ),
        geometry_type="MultiPolygon",
        attributes=(
            Attribute("code", "行政区划代码", "Division code"),
            Attribute("name", "名称", "Name"),
        ),
        style=Style(None, 0.0, "#475569", 1.5, Label("name", min_zoom=8, color="#334155", size=11)),
        roles=EVERYONE,
        min_zoom=5,
        system="system",
        lineage=False,
        simplify_px=1.0,
    )
)
register(
    Layer(
        name="etl_quarantine",
        title_zh="ETL 隔离记录",
        title_en="ETL quarantine",
        source=(
            "SELECT p.id, p.geom, p.rule, p.severity, r.system, p.target, p.source_file, "
            "p.row AS source_row, p.source_id, p.message_zh, p.run_id "
            "FROM etl_problem p JOIN etl_loadrun r ON r.id = p.run_id "
            "WHERE p.geom IS NOT NULL AND p.resolved_by_id IS NULL"
        ),
        geometry_type="Geometry",
        attributes=_PROBLEM_ATTRS,
        style=Style("#dc2626", 0.3, "#7f1d1d", 1.5, Label("rule", min_zoom=15, color="#7f1d1d")),
        roles=(SUPERVISOR, ETL_OPERATOR),
        min_zoom=8,
        system="system",
        lineage=False,
        etl_targets=("*",),
        description_zh="ETL 拒绝或警告的源记录（带几何），供数据管理员核对",
    )
)
