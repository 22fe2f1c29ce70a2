"""A mapping as a document: one self-contained HTML page per business system (中文在前, English second).

For the people who did not write the YAML (the registration office, auditors, the next ETL operator): for
each target, where the data comes from (file, format, encoding, CRS with its name), the natural key, the
load mode, what happens to defective geometries, and a table source field → unified column (the TD/T 1066
code, i.e. the model field's ``db_column``, and its verbose name) → transformation (type, unit conversion,
code list / crosswalk / value table, unmapped policy, validator, required). The code lists and crosswalks a
mapping uses are appended with their entries, as the database holds them when the page is written.

The page has inline CSS and no script, font or image from anywhere: it opens from a file share or an
e-mail attachment on a machine without internet access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from etl.mapping import UNITS, FieldSpec, GeometrySpec, Mapping, TargetSpec

TARGET_CRS = "EPSG:4490"

MODE_TEXT = {
    "full": ("全量", "full: a row absent from the export is deleted from the unified table"),
    "incremental": ("增量", "incremental: rows are added and updated, never deleted"),
}
TYPE_TEXT = {
    "str": ("文本", "text"),
    "int": ("整数", "integer"),
    "decimal": ("数值", "decimal"),
    "date": ("日期", "date"),
}
UNIT_TEXT = {"m2": ("平方米", "m²"), "mu": ("亩", "mu"), "ha": ("公顷", "ha")}
UNMAPPED_TEXT = {
    "reject": ("拒绝该行（记为问题）", "reject the row (recorded as a problem)"),
    "null": ("置空并警告", "set to NULL, with a warning"),
    "keep": ("保留原值并警告", "keep the source value, with a warning"),
    "value": ("设为固定值并警告", "set to a fixed value, with a warning"),
}
VALIDATOR_TEXT = {
    "zddm": (
        "宗地代码校验（GB/T 37346-2019：19位，区县代码、地籍区、地籍子区、所有权与使用权类型、顺序号）",
        "ZDDM check (GB/T 37346-2019: 19 characters, county, cadastral district and sub-district, ownership "
        "and right type, sequence)",
    ),
    "bdcdyh": (
        "不动产单元号校验（GB/T 37346-2019：28位，宗地代码 + 定着物类型 + 定着物单元编号）",
        "BDCDYH check (GB/T 37346-2019: 28 characters, parcel code + fixture type + fixture unit number)",
    ),
}
VALIDATOR_SHORT = {"zddm": ("宗地代码", "ZDDM"), "bdcdyh": ("不动产单元号", "BDCDYH")}
FORMAT_TEXT = {
    "shapefile": "Shapefile (.shp/.shx/.dbf)",
    "zip": "Zip 压缩包 archive",
    "gpkg": "GeoPackage",
    "geojson": "GeoJSON",
    "csv": "CSV",
    "xlsx": "Excel XLSX",
    "filegdb": "File Geodatabase",
}
ENCODING_AUTO = {
    "shapefile": (
        "自动识别：.cpg 文件 → DBF 语言驱动字节 → UTF-8 严格解码 → GB18030",
        "auto: .cpg file → DBF language-driver byte → strict UTF-8 → GB18030",
    ),
    "csv": ("自动识别：UTF-8 BOM → UTF-8 严格解码 → GB18030", "auto: UTF-8 BOM → strict UTF-8 → GB18030"),
    "xlsx": ("无需指定（XLSX 为 Unicode）", "not needed (XLSX is Unicode)"),
}
POLICY_TEXT = {
    "repair": (
        "无效图形（自相交等）",
        "invalid geometry (self-intersection ...)",
        {
            "warn": ("自动修复并保留，记警告", "repair and keep, with a warning"),
            "reject": ("拒绝该行", "reject the row"),
        },
    ),
    "swapped_axes": (
        "X/Y 坐标互换",
        "X and Y swapped",
        {
            "reject": ("拒绝该行", "reject the row"),
            "fix": ("交换回来并警告", "swap back, with a warning"),
            "warn": ("不修正，仅警告", "leave as is, with a warning"),
        },
    ),
    "zone_prefix": (
        "东坐标缺少带号",
        "easting without its zone prefix",
        {
            "reject": ("拒绝该行", "reject the row"),
            "fix": ("补上带号并警告", "add the prefix, with a warning"),
            "warn": ("不修正，仅警告", "leave as is, with a warning"),
        },
    ),
    "gcj02": (
        "疑似 GCJ-02（火星坐标）偏移（与已登记宗地比对）",
        "GCJ-02 offset suspected (compared with the registered parcels)",
        {
            "reject": ("拒绝该行", "reject the row"),
            "warn": ("仅警告", "warning only"),
        },
    ),
    "jurisdiction": (
        "位置不在重庆市辖区内",
        "located outside Chongqing",
        {
            "reject": ("拒绝该行", "reject the row"),
            "warn": ("仅警告", "warning only"),
            "ignore": ("不检查", "not checked"),
        },
    ),
}

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --head: #f0f4f8; --accent: #0b6e4f; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.55;
       font-family: "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC",
                    "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif; font-size: 14px; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 24px; margin: 0 0 4px; color: var(--accent); }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--accent); }
h3 { font-size: 15px; margin: 20px 0 6px; }
.en { color: var(--muted); font-weight: normal; }
p.lead { margin: 0 0 16px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
table.kv th { width: 220px; }
table.fields { table-layout: fixed; }
table.fields th { white-space: normal; }
table.fields td { overflow-wrap: anywhere; }
code { font-family: "SFMono-Regular", Consolas, "Liberation Mono", monospace; font-size: 13px;
       background: #f5f7fa; padding: 0 3px; border-radius: 3px; }
td.map { overflow-wrap: normal; }
.arrow { color: var(--accent); font-weight: 600; }
.tag { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #e3f8ef;
       color: #0b6e4f; }
.tag.warn { background: #fff3c4; color: #8d6708; }
.tag.bad { background: #ffe3e3; color: #a61b1b; }
ul.plain { margin: 0; padding-left: 18px; }
table.small { width: auto; margin: 4px 0; }
table.small td, table.small th { padding: 2px 6px; font-size: 13px; }
details { margin: 8px 0 16px; }
summary { cursor: pointer; font-weight: 600; }
footer { margin-top: 48px; color: var(--muted); font-size: 12px; }
@media print { details { display: block; } summary { list-style: none; } }
"""


@dataclass
class Reference:
    """A code list or crosswalk as the database holds it (``exists`` False when it is not there)."""

    kind: str  # codelist | crosswalk
    key: str
    name: str = ""
    standard: str = ""
    version: str = ""
    exists: bool = False
    rows: list[tuple] = field(default_factory=list)


def load_references(mapping: Mapping) -> dict[tuple[str, str], Reference]:
    """The code lists and crosswalks ``mapping`` refers to, with their entries, from the database."""
    from layers.models import Code, CodeList, CrosswalkEntry

    refs: dict[tuple[str, str], Reference] = {}
    for target in mapping.targets:
        for spec in target.fields:
            if spec.codelist and ("codelist", spec.codelist) not in refs:
                ref = Reference("codelist", spec.codelist)
                codelist = CodeList.objects.filter(key=spec.codelist).first()
                if codelist is not None:
                    ref.exists = True
                    ref.name, ref.standard, ref.version = codelist.name, codelist.standard, codelist.version
                    ref.rows = list(
                        Code.objects.filter(codelist=codelist)
                        .order_by("code", "valid_from")
                        .values_list("code", "name", "valid_from", "valid_to")
                    )
                refs[("codelist", spec.codelist)] = ref
            if spec.crosswalk and ("crosswalk", spec.crosswalk) not in refs:
                ref = Reference("crosswalk", spec.crosswalk)
                entries = list(
                    CrosswalkEntry.objects.filter(crosswalk=spec.crosswalk, superseded_by=None)
                    .order_by("source_code", "target_code")
                    .values_list("source_code", "source_name", "target_code", "cardinality", "note")
                )
                ref.exists = CrosswalkEntry.objects.filter(crosswalk=spec.crosswalk).exists()
                ref.rows = entries
                ref.name = "代码对照表 crosswalk"
                refs[("crosswalk", spec.crosswalk)] = ref
    return refs


def crs_name(crs: str) -> str:
    """The CRS's name as PROJ knows it ('' when PROJ does not understand the definition)."""
    try:
        from pyproj import CRS

        return CRS.from_user_input(crs).name
    except Exception:  # noqa: BLE001 - any PROJ failure: the page shows the definition alone
        return ""


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _bi(zh: str, en: str) -> str:
    """Chinese first, English second."""
    return f"{_e(zh)} <span class=en>{_e(en)}</span>"


def _code(value) -> str:
    return f"<code>{_e(value)}</code>"


def _anchor(kind: str, key: str) -> str:
    return f"{kind}-{key}".replace(" ", "_")


def _kv(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f"<table class=kv>{body}</table>"


def _source_rows(target: TargetSpec) -> list[tuple[str, str]]:
    source, geometry = target.source, target.geometry
    if source.encoding == "auto":
        zh, en = ENCODING_AUTO.get(source.format, ("自动识别：UTF-8 → GB18030", "auto: UTF-8 → GB18030"))
        encoding = _bi(zh, en)
    else:
        encoding = _code(source.encoding) + " " + _bi("（映射指定）", "(set by the mapping)")
    name = crs_name(geometry.crs)
    crs = _code(geometry.crs) + (f" — {_e(name)}" if name else "")
    crs += f"<br>{_bi('转换至', 'transformed to')} {_code(TARGET_CRS)} — {_e(crs_name(TARGET_CRS))}"
    kind = {
        "layer": _bi("图层自带几何", "the layer's own geometry"),
        "wkt": _bi("WKT 文本字段", "WKT text column") + " " + ", ".join(_code(s) for s in geometry.sources),
        "xy": _bi("X/Y 坐标字段", "X/Y coordinate columns")
        + " "
        + ", ".join(_code(s) for s in geometry.sources),
    }[geometry.kind]
    rows = [
        (_bi("文件", "file"), _code(source.file)),
        (_bi("格式", "format"), _e(FORMAT_TEXT.get(source.format, source.format))),
    ]
    if source.layer:
        rows.append((_bi("图层/工作表", "layer / sheet"), _code(source.layer)))
    if source.header_row:
        rows.append((_bi("表头行", "header row"), _e(source.header_row)))
    rows += [
        (_bi("字符编码", "encoding"), encoding),
        (_bi("坐标系", "CRS"), crs),
        (_bi("几何来源", "geometry"), kind),
    ]
    return rows


def _target_field_cell(model, spec: FieldSpec) -> tuple[str, str]:
    """(column cell 'SRC → column', name cell) for a target field."""
    try:
        model_field = model._meta.get_field(spec.target)
    except Exception:  # noqa: BLE001 - a parsed mapping names real fields; stay robust anyway
        return _e(spec.target), ""
    column = model_field.column
    names = f"{_e(model_field.verbose_name)}"
    if column != spec.target:
        names += f"<br><span class=en>field {_code(spec.target)}</span>"
    return _code(column), names


def _source_cell(spec: FieldSpec) -> str:
    if spec.template:
        return _bi("模板", "template") + " " + _code(spec.template)
    if spec.sources:
        return " + ".join(_code(s) for s in spec.sources)
    return _bi("固定值", "fixed value") + " " + _code(spec.value)


def _db_type(model, spec: FieldSpec) -> str:
    from django.db import connection

    try:
        return _e(model._meta.get_field(spec.target).db_type(connection) or "")
    except Exception:  # noqa: BLE001 - documentation only
        return ""


def _transformation(spec: FieldSpec, refs: dict[tuple[str, str], Reference], model_max_length=None) -> str:
    parts: list[str] = []
    if spec.unit:
        zh, en = UNIT_TEXT[spec.unit]
        factor = UNITS[spec.unit]
        if spec.unit == "m2":
            parts.append(_bi("单位：平方米（不换算）", "unit: m² (as is)"))
        else:
            parts.append(
                _bi(f"单位换算：{zh} → 平方米，×{factor:g}", f"unit: {en} → m², × {factor:g}")
                + " "
                + _bi("（保留两位小数）", "(rounded to 0.01)")
            )
    if spec.template and spec.sources:
        parts.append(_bi("由字段拼接", "built from") + " " + ", ".join(_code(s) for s in spec.sources))
    if spec.codelist:
        ref = refs.get(("codelist", spec.codelist))
        label = f"{_e(ref.name)} " if ref and ref.name else ""
        std = f"（{_e(ref.standard)} {_e(ref.version)}）" if ref and ref.standard else ""
        how = _bi("按名称匹配", "matched by name") if spec.match == "name" else _bi("按代码匹配", "by code")
        missing = (
            ""
            if ref is None or ref.exists
            else " <span class='tag bad'>数据库中不存在 not in the database</span>"
        )
        parts.append(
            _bi("代码表", "code list")
            + f' <a href="#{_anchor("codelist", spec.codelist)}">{_code(spec.codelist)}</a>'
            + f" {label}{std}，{how}{missing}"
        )
    if spec.crosswalk:
        ref = refs.get(("crosswalk", spec.crosswalk))
        missing = (
            ""
            if ref is None or ref.exists
            else " <span class='tag bad'>数据库中不存在 not in the database</span>"
        )
        parts.append(
            _bi("代码对照表", "crosswalk")
            + f' <a href="#{_anchor("crosswalk", spec.crosswalk)}">{_code(spec.crosswalk)}</a>'
            + f"（{len(ref.rows) if ref else 0} {_bi('项', 'entries')}）；"
            + _bi("一对多的代码需人工判定", "one-to-many codes are decided by a person")
            + missing
        )
    if spec.values is not None:
        rows = "".join(
            f"<tr><td>{_code(src)}</td><td class=arrow>→</td><td>{_code(dst)}</td></tr>"
            for src, dst in spec.values.items()
        )
        parts.append(_bi("取值对照", "value table") + f"<table class=small>{rows}</table>")
    if spec.classified:
        zh, en = UNMAPPED_TEXT[spec.unmapped]
        if spec.unmapped == "value":
            zh, en = f"设为 {spec.unmapped_value} 并警告", f"set to {spec.unmapped_value}, with a warning"
        parts.append(_bi("无法对应时：", "unmapped: ") + _bi(zh, en))
    if spec.max_length and spec.type == "str" and spec.max_length != model_max_length:
        parts.append(_bi(f"最长 {spec.max_length} 字符，超长拒绝", f"at most {spec.max_length} characters"))
    if not spec.strip:
        parts.append(_bi("保留首尾空格", "leading/trailing spaces kept"))
    return "<br>".join(parts) if parts else "—"


def _field_table(target: TargetSpec, refs: dict[tuple[str, str], Reference]) -> str:
    model = target.model_class
    head = (
        "<tr><th>#</th>"
        f"<th>{_bi('源字段', 'source field')}</th>"
        f"<th>{_bi('目标列（TD/T 1066 代码）', 'unified column (TD/T 1066 code)')}</th>"
        f"<th>{_bi('名称', 'name')}</th>"
        f"<th>{_bi('类型', 'type')}</th>"
        f"<th>{_bi('转换', 'transformation')}</th>"
        f"<th>{_bi('校验', 'validation')}</th>"
        f"<th>{_bi('必填', 'required')}</th></tr>"
    )
    body = []
    validators: list[str] = []
    for n, spec in enumerate(target.fields, start=1):
        column, names = _target_field_cell(model, spec)
        zh, en = TYPE_TEXT.get(spec.type, (spec.type, spec.type))
        type_cell = _bi(zh, en)
        db_type = _db_type(model, spec)
        if db_type:
            type_cell += f"<br><span class=en>{_bi('列类型', 'column')} {_code(db_type)}</span>"
        validator = "—"
        if spec.validate:
            vzh, ven = VALIDATOR_SHORT.get(spec.validate, (spec.validate, spec.validate))
            validator = f'<a href="#validator-{_e(spec.validate)}">{_code(spec.validate)}</a> {_bi(vzh, ven)}'
            validators.append(spec.validate)
        try:
            model_max_length = model._meta.get_field(spec.target).max_length
        except Exception:  # noqa: BLE001
            model_max_length = None
        required = "<span class=tag>是 yes</span>" if spec.required else "—"
        key = " <span class='tag warn'>键 key</span>" if spec.target in target.key else ""
        body.append(
            f"<tr><td>{n}</td><td class=map>{_source_cell(spec)}</td>"
            f"<td class=map><span class=arrow>→</span> {column}{key}</td><td>{names}</td>"
            f"<td>{type_cell}</td><td>{_transformation(spec, refs, model_max_length)}</td>"
            f"<td>{validator}</td><td>{required}</td></tr>"
        )
    notes = [
        _bi("文本去除首尾空格，空文本视为空值", "text is trimmed; empty text counts as empty"),
        _bi(
            "超过列长度的文本、无法解析的数值和日期：拒绝该行",
            "text longer than its column, numbers and dates that do not parse: the row is rejected",
        ),
        _bi(
            "日期接受 2016-3-1、2016/03/01、2016年3月1日、20160301 及 Excel 日期",
            "dates: 2016-3-1, 2016/03/01, 2016年3月1日, 20160301 and Excel dates are read",
        ),
        _bi(
            "必填字段为空：拒绝该行；非必填文本列的空值存为空字符串",
            "an empty required field rejects the row; empty optional text is stored as ''",
        ),
    ]
    for key in dict.fromkeys(validators):
        vzh, ven = VALIDATOR_TEXT.get(key, (key, key))
        notes.append(f'<span id="validator-{_e(key)}">{_code(key)} {_bi(vzh, ven)}</span>')
    cols = "".join(f'<col style="width:{w}">' for w in ("3%", "10%", "14%", "15%", "12%", "28%", "11%", "7%"))
    items = "".join(f"<li>{note}</li>" for note in notes)
    table = f"<table class=fields><colgroup>{cols}</colgroup>{head}{''.join(body)}</table>"
    return f"{table}<ul class=plain>{items}</ul>"


def _geometry_table(geometry: GeometrySpec) -> str:
    rows = []
    for key, (zh, en, choices) in POLICY_TEXT.items():
        value = getattr(geometry, key)
        czh, cen = choices.get(value, (value, value))
        severity = "bad" if value == "reject" else ("warn" if value in ("warn", "fix") else "")
        rows.append(
            f"<tr><td>{_bi(zh, en)}</td><td>{_code(key)}</td>"
            f"<td><span class='tag {severity}'>{_e(value)}</span> {_bi(czh, cen)}</td></tr>"
        )
    if geometry.area_field:
        tolerance = f"±{geometry.area_tolerance:.0%}"
        over_zh, over_en = f"相差超过 {tolerance} 时", f"off by more than {tolerance}"
        measured_zh = "图形面积按所在高斯-克吕格 3 度带计算"
        measured_en = "drawn area measured in the feature's 3° Gauss-Krüger zone"
        level = _bi("警告", "warning") if geometry.area_severity == "warning" else _bi("拒绝", "reject")
        rows.append(
            f"<tr><td>{_bi('申报面积与图形面积比对', 'declared area against the drawn area')}</td>"
            f"<td>{_code('area_check')}</td><td>{_code(geometry.area_field)} {_bi(over_zh, over_en)}"
            f" → {level}<br><span class=en>{_bi(measured_zh, measured_en)}</span></td></tr>"
        )
    head = (
        f"<tr><th>{_bi('检查', 'check')}</th><th>{_bi('键', 'key')}</th><th>{_bi('处理', 'policy')}</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _unmapped_fields(target: TargetSpec) -> str:
    from etl.mapping import NOT_MAPPABLE

    model = target.model_class
    mapped = {f.target for f in target.fields}
    items = []
    for f in model._meta.concrete_fields:
        if f.name in mapped or f.name in NOT_MAPPABLE:
            continue
        default = f.get_default() if f.has_default() else None
        note = (
            _bi(f"默认值 {default}", f"default {default}")
            if default not in (None, "")
            else _bi("空", "empty")
        )
        items.append(f"<li>{_code(f.column)} {_e(f.verbose_name)} — {note}</li>")
    if not items:
        return ""
    return (
        f"<h3>{_bi('未映射的目标列', 'unified columns this mapping does not fill')}</h3>"
        f"<ul class=plain>{''.join(items)}</ul>"
    )


def _target_section(index: int, target: TargetSpec, refs: dict[tuple[str, str], Reference]) -> str:
    model = target.model_class
    meta = model._meta
    mode_zh, mode_en = MODE_TEXT.get(target.mode, (target.mode, target.mode))
    key_cols = []
    for k in target.key:
        try:
            key_cols.append(f"{_code(meta.get_field(k).column)} {_e(meta.get_field(k).verbose_name)}")
        except Exception:  # noqa: BLE001
            key_cols.append(_code(k))
    summary = _kv(
        [
            (_bi("目标表", "unified table"), f"{_code(meta.db_table)} {_e(meta.verbose_name)}"),
            (_bi("自然键", "natural key"), " + ".join(key_cols)),
            (_bi("加载模式", "mode"), _code(target.mode) + " " + _bi(mode_zh, mode_en)),
            (
                _bi("溯源", "lineage"),
                _bi(
                    "每行记录来源系统、文件、校验和、图层、行号、批次与映射版本",
                    "each row keeps its source system, file, checksum, layer, row, load run, mapping version",
                ),
            ),
        ]
    )
    return (
        f'<section id="target-{_e(target.name)}">'
        f"<h2>{index}. {_bi('目标', 'target')} {_code(target.name)} → {_e(meta.verbose_name)}</h2>"
        f"{summary}"
        f"<h3>{_bi('数据源', 'source')}</h3>{_kv(_source_rows(target))}"
        f"<h3>{_bi('几何处理', 'geometry policies')}</h3>{_geometry_table(target.geometry)}"
        f"<h3>{_bi('字段映射', 'field mapping')}</h3>{_field_table(target, refs)}"
        f"{_unmapped_fields(target)}"
        "</section>"
    )


def _reference_section(refs: dict[tuple[str, str], Reference]) -> str:
    if not refs:
        return ""
    parts = [f"<h2>{_bi('代码表与对照表', 'code lists and crosswalks')}</h2>"]
    for (kind, key), ref in sorted(refs.items()):
        anchor = _anchor(kind, key)
        if kind == "codelist":
            title = f"{_bi('代码表', 'code list')} {_code(key)} {_e(ref.name)}"
            if ref.standard:
                title += f"（{_e(ref.standard)}，{_bi('版本', 'version')} {_e(ref.version)}）"
            head = (
                f"<tr><th>{_bi('代码', 'code')}</th><th>{_bi('名称', 'name')}</th>"
                f"<th>{_bi('启用', 'valid from')}</th><th>{_bi('停用', 'valid to')}</th></tr>"
            )
            body = "".join(
                f"<tr><td>{_code(code)}</td><td>{_e(name)}</td>"
                f"<td>{_e(vf or '')}</td><td>{_e(vt or '')}</td></tr>"
                for code, name, vf, vt in ref.rows
            )
        else:
            title = f"{_bi('代码对照表', 'crosswalk')} {_code(key)}"
            head = (
                f"<tr><th>{_bi('源代码', 'source code')}</th><th>{_bi('源名称', 'source name')}</th><th></th>"
                f"<th>{_bi('目标代码', 'target code')}</th><th>{_bi('对应关系', 'cardinality')}</th>"
                f"<th>{_bi('说明', 'note')}</th></tr>"
            )
            body = "".join(
                f"<tr><td>{_code(src)}</td><td>{_e(name)}</td><td class=arrow>→</td><td>{_code(dst)}</td>"
                f"<td>{_e(card)}</td><td>{_e(note)}</td></tr>"
                for src, name, dst, card, note in ref.rows
            )
        if not ref.exists:
            parts.append(
                f'<h3 id="{anchor}">{title}</h3><p><span class="tag bad">'
                f"{_bi('数据库中不存在', 'not in the database')}</span> "
                f"{_bi('请运行 codelists_sync 或修正映射', 'run codelists_sync or fix the mapping')}</p>"
            )
            continue
        parts.append(
            f'<h3 id="{anchor}">{title}</h3>'
            f"<details><summary>{len(ref.rows)} {_bi('项', 'entries')}</summary>"
            f"<table>{head}{body}</table></details>"
        )
    return "".join(parts)


def render_mapping_html(mapping: Mapping, references: dict[tuple[str, str], Reference] | None = None) -> str:
    """The mapping of one system as a self-contained HTML page. ``references`` (code lists and crosswalks
    with their entries) are read from the database when not given."""
    refs = load_references(mapping) if references is None else references
    title_zh = mapping.title_zh or mapping.system
    title = f"{title_zh} 数据映射说明 · {mapping.title_en or mapping.system} mapping"
    contents = "".join(
        f'<li><a href="#target-{_e(t.name)}">{_code(t.name)} → '
        f"{_e(t.model_class._meta.verbose_name)}</a></li>"
        for t in mapping.targets
    )
    header = _kv(
        [
            (_bi("业务系统", "system"), f"{_code(mapping.system)} {_bi(mapping.title_zh, mapping.title_en)}"),
            (_bi("映射版本", "version"), f"{_e(mapping.version)} — {_code(mapping.version_tag)}"),
            (_bi("映射文件", "mapping file"), _code(mapping.path) if mapping.path else "—"),
            (_bi("文件摘要", "SHA-256"), _code(mapping.digest)),
            (_bi("说明", "description"), _e(mapping.description) or "—"),
            (_bi("目标", "targets"), f"<ul class=plain>{contents}</ul>"),
        ]
    )
    sections = "".join(_target_section(i, t, refs) for i, t in enumerate(mapping.targets, start=1))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-Hans"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{_e(title_zh)} 数据映射说明 <span class=en>{_e(mapping.title_en)} — "
        "mapping to the unified schema</span></h1>"
        f"<p class=lead>{_bi('由映射文件生成；修改映射后请重新生成。', 'Generated from the mapping file.')}"
        f" <code>python manage.py etl_mapping_doc {_e(mapping.system)}</code></p>"
        f"{header}{sections}{_reference_section(refs)}"
        f"<footer>OneMap 一张图 · {_e(mapping.version_tag)}</footer>"
        "</main></body></html>\n"
    )
