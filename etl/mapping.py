"""Declarative mappings: one YAML file per business system, ``etl/mappings/<system>.yaml``.

A mapping says, for each layer an export contains, where to find it, how to read it (format, encoding,
CRS), which unified model it feeds, its natural key, and for every target field where the value comes from
and how it is transformed and checked. It is validated in stages, like MapProxy's configuration: YAML
syntax → structure → references (model fields, code lists), and *all* problems are reported at once, each
with its path in the file (``targets[0].fields.land_use.unmapped``). Runtime code never reads YAML.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from etl.errors import MappingError
from layers.models import LINEAGE_FIELDS, Building, LandSupply, Parcel, PlanningPermit

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"

MODELS = {
    "parcel": Parcel,
    "building": Building,
    "permit": PlanningPermit,
    "landsupply": LandSupply,
}
FORMATS = {"shapefile", "zip", "gpkg", "geojson", "csv", "xlsx", "filegdb"}
TYPES = {"str", "int", "decimal", "date"}
UNITS = {"m2": 1.0, "mu": 10000.0 / 15.0, "ha": 10000.0}  # 1 亩 = 10000/15 m² ≈ 666.67 m²
VALIDATORS = {"zddm", "bdcdyh"}
UNMAPPED = {"reject", "null", "keep", "value"}
GEOMETRY_POLICIES = {"reject", "warn", "fix", "ignore"}
NOT_MAPPABLE = {*LINEAGE_FIELDS, "id", "geom"}  # filled by the load itself


@dataclass(frozen=True)
class FieldSpec:
    """How one target field gets its value."""

    target: str
    sources: tuple[str, ...] = ()
    template: str | None = None
    value: Any = None
    type: str = "str"
    required: bool = False
    validate: str | None = None
    codelist: str | None = None
    crosswalk: str | None = None
    match: str = "code"
    values: dict[str, str] | None = None
    unmapped: str = "reject"
    unmapped_value: Any = None
    unit: str | None = None
    max_length: int | None = None
    strip: bool = True

    @property
    def classified(self) -> bool:
        return bool(self.codelist or self.crosswalk or self.values)


@dataclass(frozen=True)
class GeometrySpec:
    """Where the geometry is and what to do about the usual defects (DOMAIN.md §5, §6)."""

    kind: str = "layer"  # layer | wkt | xy
    sources: tuple[str, ...] = ()
    crs: str = "EPSG:4490"
    repair: str = "warn"  # invalid geometry: warn (repair and keep) | reject
    swapped_axes: str = "reject"  # reject | fix | warn
    zone_prefix: str = "reject"  # reject | fix | warn
    gcj02: str = "ignore"  # reject | warn | ignore (needs registered parcels to compare with)
    jurisdiction: str = "reject"  # reject | warn | ignore
    area_field: str | None = None
    area_tolerance: float = 0.05
    area_severity: str = "warning"


@dataclass(frozen=True)
class SourceSpec:
    file: str
    format: str
    layer: str | None = None
    encoding: str = "auto"
    header_row: int | None = None  # spreadsheets: 1-based row of the header, None = detect


@dataclass(frozen=True)
class TargetSpec:
    name: str
    model: str
    source: SourceSpec
    key: tuple[str, ...]
    mode: str  # full: rows absent from the export are deleted | incremental: never delete
    fields: tuple[FieldSpec, ...]
    geometry: GeometrySpec

    @property
    def model_class(self):
        return MODELS[self.model]


@dataclass(frozen=True)
class Mapping:
    system: str
    title_zh: str
    title_en: str
    version: str
    targets: tuple[TargetSpec, ...]
    path: str = ""
    digest: str = ""
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def version_tag(self) -> str:
        """Identifies the exact mapping a row was loaded with: version plus a digest of the file."""
        return f"{self.system}@{self.version}+{self.digest[:8]}"


class _Collector:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def add(self, where: str, what: str) -> None:
        self.problems.append((where, what))

    def expect(self, node: Any, kind: type | tuple, where: str, what: str) -> bool:
        if not isinstance(node, kind):
            self.add(where, f"{what} (got {type(node).__name__})")
            return False
        return True

    def unknown_keys(self, node: dict, allowed: set[str], where: str) -> None:
        for key in node:
            if key not in allowed:
                self.add(f"{where}.{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _parse_field(name: str, node: Any, where: str, c: _Collector, model) -> FieldSpec | None:
    if isinstance(node, str):
        node = {"from": node}
    if not c.expect(node, dict, where, "a field needs a mapping (from/type/...) or a source field name"):
        return None
    allowed = {
        "from",
        "template",
        "value",
        "type",
        "required",
        "validate",
        "codelist",
        "crosswalk",
        "match",
        "values",
        "unmapped",
        "unit",
        "max_length",
        "strip",
    }
    c.unknown_keys(node, allowed, where)
    try:
        model_field = model._meta.get_field(name)
    except Exception:  # noqa: BLE001 - FieldDoesNotExist; reported as a mapping problem
        model_field = None
    if model_field is None or name in NOT_MAPPABLE:
        c.add(where, f"'{name}' is not a field of the target model {model.__name__}")
    sources = _names(node.get("from"))
    if not sources and "template" not in node and "value" not in node:
        c.add(where, "needs 'from' (source field), 'template' or a fixed 'value'")
    ftype = node.get("type", "str")
    if ftype not in TYPES:
        c.add(f"{where}.type", f"'{ftype}' is not one of {', '.join(sorted(TYPES))}")
    if node.get("validate") not in (None, *VALIDATORS):
        c.add(f"{where}.validate", f"unknown validator '{node.get('validate')}'; use zddm or bdcdyh")
    if node.get("unit") not in (None, *UNITS):
        c.add(f"{where}.unit", f"unknown unit '{node.get('unit')}'; use {', '.join(UNITS)}")
    if node.get("match", "code") not in ("code", "name"):
        c.add(f"{where}.match", "must be 'code' or 'name'")
    unmapped = node.get("unmapped", "reject")
    if unmapped is None:  # YAML `null`
        unmapped = "null"
    unmapped_value = None
    if isinstance(unmapped, dict):
        if set(unmapped) != {"value"}:
            c.add(f"{where}.unmapped", "a fixed value is written as {value: X}")
        unmapped_value = unmapped.get("value")
        unmapped = "value"
    elif unmapped not in UNMAPPED - {"value"}:
        c.add(f"{where}.unmapped", "must be reject, null, keep or {value: X}")
    values = node.get("values")
    if values is not None and not isinstance(values, dict):
        c.add(f"{where}.values", "must map source values to target values")
        values = None
    if sum(bool(node.get(k)) for k in ("codelist", "crosswalk", "values")) > 1:
        c.add(where, "use one of codelist, crosswalk or values")
    max_length = node.get("max_length")
    if max_length is None and model_field is not None and getattr(model_field, "max_length", None):
        max_length = model_field.max_length
    return FieldSpec(
        target=name,
        sources=sources,
        template=node.get("template"),
        value=node.get("value"),
        type=ftype,
        required=bool(node.get("required", False)),
        validate=node.get("validate"),
        codelist=node.get("codelist"),
        crosswalk=node.get("crosswalk"),
        match=node.get("match", "code"),
        values={str(k): str(v) for k, v in values.items()} if values else None,
        unmapped=unmapped,
        unmapped_value=unmapped_value,
        unit=node.get("unit"),
        max_length=max_length,
        strip=bool(node.get("strip", True)),
    )


def _parse_geometry(node: Any, where: str, c: _Collector, field_names: set[str]) -> GeometrySpec:
    if node is None:
        node = {}
    if not c.expect(node, dict, where, "geometry must be a mapping"):
        return GeometrySpec()
    allowed = {
        "from",
        "wkt",
        "xy",
        "crs",
        "repair",
        "swapped_axes",
        "zone_prefix",
        "gcj02",
        "jurisdiction",
        "area_check",
    }
    c.unknown_keys(node, allowed, where)
    kind, sources = "layer", ()
    if "wkt" in node:
        kind, sources = "wkt", _names(node["wkt"])
    elif "xy" in node:
        kind, sources = "xy", _names(node["xy"])
        if len(sources) != 2:
            c.add(f"{where}.xy", "needs two column names: [X, Y]")
    crs = node.get("crs", "EPSG:4490")
    if isinstance(crs, int):
        crs = f"EPSG:{crs}"
    if not isinstance(crs, str) or not crs.strip():
        c.add(f"{where}.crs", "an EPSG code (EPSG:4545) or a PROJ/WKT definition")
    else:
        try:
            from pyproj import CRS

            CRS.from_user_input(crs)
        except Exception as exc:  # noqa: BLE001 - any pyproj failure is a mapping problem
            c.add(f"{where}.crs", f"not a CRS PROJ understands: {exc}")
    policies = {}
    for key, allowed_values, default in (
        ("repair", {"warn", "reject"}, "warn"),
        ("swapped_axes", {"reject", "fix", "warn"}, "reject"),
        ("zone_prefix", {"reject", "fix", "warn"}, "reject"),
        ("gcj02", {"reject", "warn", "ignore"}, "ignore"),
        ("jurisdiction", {"reject", "warn", "ignore"}, "reject"),
    ):
        value = node.get(key, default)
        if value not in allowed_values:
            c.add(f"{where}.{key}", f"must be one of {', '.join(sorted(allowed_values))}")
        policies[key] = value
    area = node.get("area_check")
    area_field, tolerance, severity = None, 0.05, "warning"
    if area is not None:
        if c.expect(area, dict, f"{where}.area_check", "area_check needs field/tolerance"):
            c.unknown_keys(area, {"field", "tolerance", "severity"}, f"{where}.area_check")
            area_field = area.get("field")
            if area_field not in field_names:
                c.add(f"{where}.area_check.field", f"'{area_field}' is not a mapped target field")
            tolerance = area.get("tolerance", 0.05)
            if not isinstance(tolerance, int | float) or not 0 < tolerance < 1:
                c.add(f"{where}.area_check.tolerance", "a fraction between 0 and 1, e.g. 0.05 for 5 %")
                tolerance = 0.05
            severity = area.get("severity", "warning")
            if severity not in ("warning", "error"):
                c.add(f"{where}.area_check.severity", "warning or error")
    return GeometrySpec(
        kind=kind,
        sources=sources,
        crs=crs if isinstance(crs, str) else "EPSG:4490",
        area_field=area_field,
        area_tolerance=float(tolerance),
        area_severity=severity,
        **policies,
    )


def _parse_target(node: Any, where: str, c: _Collector) -> TargetSpec | None:
    if not c.expect(node, dict, where, "a target must be a mapping"):
        return None
    c.unknown_keys(node, {"name", "model", "source", "key", "mode", "fields", "geometry"}, where)
    model_name = node.get("model")
    if model_name not in MODELS:
        c.add(f"{where}.model", f"'{model_name}' is not one of {', '.join(MODELS)}")
        return None
    model = MODELS[model_name]
    source = node.get("source")
    source_spec = None
    if c.expect(source, dict, f"{where}.source", "source needs file and format"):
        c.unknown_keys(source, {"file", "format", "layer", "encoding", "header_row"}, f"{where}.source")
        if not isinstance(source.get("file"), str):
            c.add(f"{where}.source.file", "the file name (or glob) inside the export")
        if source.get("format") not in FORMATS:
            c.add(f"{where}.source.format", f"must be one of {', '.join(sorted(FORMATS))}")
        encoding = source.get("encoding", "auto")
        if encoding != "auto":
            try:
                "".encode(encoding)
            except LookupError:
                c.add(f"{where}.source.encoding", f"unknown encoding '{encoding}'")
        source_spec = SourceSpec(
            file=str(source.get("file", "")),
            format=str(source.get("format", "")),
            layer=source.get("layer"),
            encoding=encoding,
            header_row=source.get("header_row"),
        )
    fields_node = node.get("fields")
    fields: list[FieldSpec] = []
    if c.expect(fields_node, dict, f"{where}.fields", "fields must map target field → spec"):
        for name, spec in fields_node.items():
            parsed = _parse_field(str(name), spec, f"{where}.fields.{name}", c, model)
            if parsed:
                fields.append(parsed)
    names = {f.target for f in fields}
    key = _names(node.get("key"))
    if not key:
        c.add(f"{where}.key", "the natural key (e.g. [zddm]) is required for incremental loads")
    for k in key:
        if k not in names:
            c.add(f"{where}.key", f"key field '{k}' is not mapped in fields")
    for f in model._meta.concrete_fields:
        if f.name in NOT_MAPPABLE or f.null or f.blank or f.has_default():
            continue
        if f.name not in names:
            c.add(f"{where}.fields", f"required model field '{f.name}' is not mapped")
    mode = node.get("mode", "full")
    if mode not in ("full", "incremental"):
        c.add(f"{where}.mode", "full (absent rows are deleted) or incremental")
    geometry = _parse_geometry(node.get("geometry"), f"{where}.geometry", c, names)
    if source_spec is None:
        return None
    return TargetSpec(
        name=str(node.get("name") or model_name),
        model=model_name,
        source=source_spec,
        key=key,
        mode=mode,
        fields=tuple(fields),
        geometry=geometry,
    )


def parse_mapping(text: str, path: str = "<string>") -> Mapping:
    """Parse and validate a mapping; raises :class:`MappingError` listing every problem."""
    c = _Collector()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "yaml"
        raise MappingError(path, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    if not isinstance(doc, dict):
        raise MappingError(
            path, [("(top)", "a mapping file is a YAML mapping with system, version, targets")]
        )
    c.unknown_keys(doc, {"system", "title", "version", "description", "targets"}, "(top)")
    system = doc.get("system")
    if not isinstance(system, str) or not system.isidentifier():
        c.add("system", "the system name (e.g. registration), as in the file name")
    title = doc.get("title") or {}
    if not isinstance(title, dict) or not title.get("zh"):
        c.add("title", "needs zh (and en) titles")
        title = {}
    if doc.get("version") is None:
        c.add("version", "a version number, raised whenever the mapping changes meaning")
    targets_node = doc.get("targets")
    targets: list[TargetSpec] = []
    if c.expect(targets_node, list, "targets", "targets must be a list") and not targets_node:
        c.add("targets", "at least one target")
    for i, node in enumerate(targets_node or []):
        target = _parse_target(node, f"targets[{i}]", c)
        if target:
            targets.append(target)
    if len({t.name for t in targets}) != len(targets):
        c.add("targets", "target names must be unique")
    if c.problems:
        raise MappingError(path, c.problems)
    return Mapping(
        system=system,
        title_zh=title.get("zh", ""),
        title_en=title.get("en", ""),
        version=str(doc["version"]),
        targets=tuple(targets),
        path=path,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        description=str(doc.get("description", "")),
    )


def load_mapping(system: str) -> Mapping:
    """The mapping of a business system from ``etl/mappings``; unknown systems get the list of known ones."""
    path = MAPPINGS_DIR / f"{system}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
        raise MappingError(str(path), [("(file)", f"no mapping for system '{system}'; known: {known}")])
    return parse_mapping(path.read_text(encoding="utf-8"), str(path.relative_to(MAPPINGS_DIR.parent.parent)))


def known_systems() -> list[str]:
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))
