"""Field transformations: casting, dates, units, code lists and crosswalks, vectorised over unique values.

Exports repeat the same few values (land-use codes, dates, county names) thousands of times, so each step
works on the *distinct* values of a column and maps the result back with numpy: the cost grows with the
number of distinct values, not rows. Every failure becomes a problem naming the row, field and value.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

from etl.mapping import UNITS, FieldSpec

DATE_PATTERNS = [
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]


@dataclass
class FieldProblem:
    """A value that could not be transformed; ``index`` is the position in the table (not the row number)."""

    index: int
    rule: str
    field: str
    message_zh: str
    message_en: str
    expected: str = ""
    actual: str = ""
    severity: str = "error"


def parse_date(value: object) -> dt.date | None:
    """Dates as business systems write them: 2016-3-1, 2016/03/01, 2016年3月1日, 20160301, Excel dates.

    Returns None for an empty value; raises ValueError for a value that is not a real date.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    for pattern in DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day = (int(g) for g in match.groups()[:3])
            return dt.date(year, month, day)  # raises ValueError for 2016-13-45
    raise ValueError(text)


def _as_text(value: object, strip: bool) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if value.is_integer():
            value = int(value)
    text = str(value)
    if strip:
        text = text.strip()
    return text or None


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, distinct)`` with ``values == distinct[codes]``: one C-level hash per row (pandas).

    NULLs (None, NaN) are one distinct value, ``None``, like any other: every later step sees them once.
    """
    if not len(values):
        return np.zeros(0, dtype=np.intp), np.empty(0, dtype=object)
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    distinct = np.asarray(distinct, dtype=object)
    distinct[pd.isna(distinct)] = None  # pandas hands NULLs back as NaN
    return codes, distinct


class Classifier:
    """Maps source values to standard codes through a code list, a crosswalk or an inline table."""

    def __init__(self, spec: FieldSpec, lookups: Lookups):
        self.spec = spec
        self.lookups = lookups

    def __call__(self, value: str) -> tuple[str | None, str | None, str]:
        """(code, problem rule or None, detail)."""
        spec = self.spec
        if spec.values is not None:
            if value in spec.values:
                return spec.values[value], None, ""
            return None, "code_unknown", f"not in the mapping's table ({', '.join(spec.values)})"
        if spec.crosswalk:
            targets = self.lookups.crosswalk(spec.crosswalk).get(value)
            if targets is None:
                # a value already in the target list is accepted as it is
                target_list = self.lookups.crosswalk_target_list(spec.crosswalk)
                if target_list and value in self.lookups.codelist(target_list)["by_code"]:
                    return value, None, ""
                return None, "code_unknown", f"not in crosswalk {spec.crosswalk}"
            if len(targets) > 1:
                return None, "code_ambiguous", f"one-to-many: {'/'.join(targets)} (a person must decide)"
            return targets[0], None, ""
        codelist = self.lookups.codelist(spec.codelist)
        if spec.match == "name":
            code = codelist["by_name"].get(value)
            if code is None and value in codelist["by_code"]:
                code = value
        else:
            code = value if value in codelist["by_code"] else None
        if code is None:
            return None, "code_unknown", f"not in code list {spec.codelist}"
        return code, None, ""


class Lookups:
    """Code lists and crosswalks from the database, loaded once per run (they are small)."""

    def __init__(self) -> None:
        self._codelists: dict[str, dict] = {}
        self._crosswalks: dict[str, dict[str, list[str]]] = {}
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """Digest of every code and crosswalk entry: a row loaded under other code lists is re-validated."""
        if self._fingerprint is None:
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT md5(coalesce((SELECT string_agg(concat_ws(':', codelist_id, code, name, "
                    "valid_from, valid_to), ',' ORDER BY id) FROM layers_code), '') "
                    "|| coalesce((SELECT string_agg(concat_ws(':', crosswalk, source_code, target_code, "
                    "superseded_by_id), ',' ORDER BY id) FROM layers_crosswalkentry), ''))"
                )
                self._fingerprint = cursor.fetchone()[0]
        return self._fingerprint

    def codelist(self, key: str) -> dict:
        if key not in self._codelists:
            from layers.models import Code

            rows = list(Code.objects.filter(codelist__key=key).values_list("code", "name", "valid_to"))
            self._codelists[key] = {
                "by_code": {code: name for code, name, _ in rows},
                "by_name": {name: code for code, name, valid_to in rows if valid_to is None},
            }
        return self._codelists[key]

    def crosswalk(self, key: str) -> dict[str, list[str]]:
        if key not in self._crosswalks:
            from layers.models import CrosswalkEntry

            table: dict[str, list[str]] = {}
            for source, target in CrosswalkEntry.objects.filter(
                crosswalk=key, superseded_by=None
            ).values_list("source_code", "target_code"):
                table.setdefault(source, []).append(target)
            self._crosswalks[key] = {k: sorted(set(v)) for k, v in table.items()}
        return self._crosswalks[key]

    def crosswalk_target_list(self, key: str) -> str | None:
        """The code list a crosswalk maps into, by the naming convention ``<from>_to_<list>``."""
        if key == "gbt21010_2007_to_2017":
            return "gbt21010_2017"
        return None


def _numeric_column(spec: FieldSpec, raw: np.ndarray, label: str) -> tuple[np.ndarray, list[FieldProblem]]:
    """Numbers that arrive as numbers (shapefile/GeoPackage numeric fields): cast in one vectorised step."""
    values = raw.astype(np.float64)
    if spec.unit:
        values = values * UNITS[spec.unit]
    missing = np.isnan(values)
    problems: list[FieldProblem] = []
    out = np.empty(len(values), dtype=object)
    if spec.type == "int":
        bad = ~missing & (values != np.round(values))
        for i in np.flatnonzero(bad):
            problems.append(
                FieldProblem(
                    int(i),
                    "type_invalid",
                    label,
                    f"字段「{label}」的值「{raw[i]}」不是整数",
                    f"field '{label}': '{raw[i]}' is not an integer",
                    expected="int",
                    actual=str(raw[i]),
                )
            )
        ok = ~missing & ~bad
        out[ok] = values[ok].astype(np.int64).tolist()
    else:
        ok = ~missing
        out[ok] = np.round(values[ok], 2).tolist()
    out[~ok] = None
    if spec.required:
        for i in np.flatnonzero(missing):
            problems.append(
                FieldProblem(
                    int(i),
                    "required_missing",
                    label,
                    f"必填字段「{label}」为空",
                    f"required field '{label}' is empty",
                )
            )
    return out, problems


# a problem found on a distinct value, before it is expanded to every row holding that value:
# (rule, field, message_zh, message_en, expected, actual, severity)
Found = dict[int, list[tuple[str, str, str, str, str, str, str]]]


def _expand(codes: np.ndarray, n_distinct: int, found: Found) -> list[FieldProblem]:
    """One FieldProblem per row whose distinct value had a problem (in row order)."""
    if not found:
        return []
    bad = np.zeros(n_distinct, dtype=bool)
    bad[list(found)] = True
    return [FieldProblem(int(i), *t) for i in np.flatnonzero(bad[codes]) for t in found[codes[i]]]


def _caster(spec: FieldSpec):
    """A function value → ("ok", cast value) or ("bad", value) for the field's type."""
    if spec.type == "date":

        def cast(v):
            try:
                return ("ok", parse_date(v))
            except (ValueError, TypeError):
                return ("bad", v)

        return cast
    if spec.type in ("int", "decimal"):
        factor = Decimal(str(UNITS[spec.unit])) if spec.unit else None

        def cast(v):
            if v is None:
                return ("ok", None)
            text = str(v).replace(",", "").strip()
            try:
                number = Decimal(text)
            except InvalidOperation:
                return ("bad", v)
            if not number.is_finite():
                return ("bad", v)
            if factor is not None:
                number = (number * factor).quantize(Decimal("0.01"))
            if spec.type == "int":
                if number != number.to_integral_value():
                    return ("bad", v)
                return ("ok", int(number))
            return ("ok", number)

        return cast
    return lambda v: ("ok", v)


def _unmapped(spec: FieldSpec, label: str, rule: str, value: object, detail: str):
    """(value to keep, problem) for a code the classifier could not map, following the mapping's policy."""
    policy, actual = spec.unmapped, str(value)
    if rule == "code_ambiguous" or policy == "reject":
        return None, (
            rule,
            label,
            f"字段「{label}」的代码「{actual}」无法对应标准代码：{detail}。请在代码对照表中补充对应关系后重跑",
            f"field '{label}': code '{actual}' cannot be mapped: {detail}. Add it to the "
            "crosswalk and re-run the rejected rows",
            spec.codelist or spec.crosswalk or "table",
            actual,
            "error",
        )
    if policy == "null":
        return None, (
            rule,
            label,
            f"代码「{actual}」无对应，已置空",
            f"code '{actual}' unmapped: set to NULL",
            "",
            actual,
            "warning",
        )
    if policy == "value":
        return spec.unmapped_value, (
            rule,
            label,
            f"代码「{actual}」无对应，已设为{spec.unmapped_value}",
            f"code '{actual}' unmapped: set to {spec.unmapped_value}",
            "",
            actual,
            "warning",
        )
    return value, (  # keep
        rule,
        label,
        f"代码「{actual}」不在代码表中，原值保留",
        f"code '{actual}' not in the code list: kept as is",
        "",
        actual,
        "warning",
    )


def transform_field(
    spec: FieldSpec, table_data: dict[str, np.ndarray], n: int, lookups: Lookups, validators: dict
) -> tuple[np.ndarray, list[FieldProblem]]:
    """Compute one target column; returns the values (object array, None = NULL) and the problems.

    Every step (cast, classification, validation, length) runs once per *distinct* source value; only the
    final column and the problems of bad values are expanded to rows.
    """
    field_label = "+".join(spec.sources) or spec.target
    raw = table_data[spec.sources[0]] if spec.sources and not spec.template else None
    if (
        raw is not None
        and raw.dtype.kind in "fiu"
        and spec.type in ("int", "decimal")
        and not (spec.classified or spec.validate)
    ):
        return _numeric_column(spec, raw, field_label)
    if spec.value is not None and not spec.sources and not spec.template:
        codes, vals = np.zeros(n, dtype=np.intp), np.array([spec.value] if n else [], dtype=object)
    elif spec.template:
        parts = {name: table_data[name] for name in spec.sources}
        values = np.empty(n, dtype=object)
        for i in range(n):
            pieces = {name: (_as_text(col[i], spec.strip) or "") for name, col in parts.items()}
            text = spec.template.format(**pieces).strip()
            values[i] = text or None
        codes, vals = factorize(values)
    else:
        codes, vals = factorize(raw)
        if pd.api.types.infer_dtype(vals, skipna=True) == "string":  # the common case, without calls
            texts = vals[~pd.isna(vals)]
            vals[~pd.isna(vals)] = [t.strip() for t in texts] if spec.strip else texts
            vals[vals == ""] = None
        else:
            for j, v in enumerate(vals):
                vals[j] = _as_text(v, spec.strip)
    stages: list[Found] = []
    errored = np.zeros(len(vals), dtype=bool)

    cast = _caster(spec)
    found: Found = {}
    kind = {"date": "日期", "int": "整数", "decimal": "数值"}.get(spec.type, "")
    for j, v in enumerate(vals) if spec.type != "str" else ():  # text needs no cast
        status, value = cast(v)
        if status == "bad":
            found[j] = [
                (
                    "type_invalid" if spec.type != "date" else "date_invalid",
                    field_label,
                    f"字段「{field_label}」的值「{value}」不是有效的{kind}",
                    f"field '{field_label}': '{value}' is not a valid {spec.type}",
                    spec.type,
                    str(value),
                    "error",
                )
            ]
            errored[j] = True
            value = None
        vals[j] = value
    stages.append(found)

    if spec.classified:
        classifier = Classifier(spec, lookups)
        found = {}
        for j, v in enumerate(vals):
            if v is None:
                continue
            code, rule, detail = classifier(str(v))
            if rule is None:
                vals[j] = code
                continue
            vals[j], problem = _unmapped(spec, field_label, rule, v, detail)
            found[j] = [problem]
            errored[j] |= problem[-1] == "error"
        stages.append(found)

    if spec.validate:
        validate = validators[spec.validate]
        found = {}
        for j, v in enumerate(vals):
            if v is None:
                continue
            checked = validate(str(v))
            if checked:
                found[j] = [
                    (
                        f"{spec.validate}_{p.code}",
                        field_label,
                        p.message_zh,
                        p.message_en,
                        "",
                        str(v),
                        p.severity,
                    )
                    for p in checked
                ]
                errored[j] |= any(p.severity == "error" for p in checked)
        stages.append(found)

    if spec.max_length and spec.type == "str":
        found = {}
        for j, v in enumerate(vals):
            if v is not None and len(str(v)) > spec.max_length:
                found[j] = [
                    (
                        "too_long",
                        field_label,
                        f"字段「{field_label}」超过{spec.max_length}个字符（{len(str(v))}）",
                        f"field '{field_label}' is longer than {spec.max_length} characters",
                        f"<= {spec.max_length}",
                        str(v)[:80],
                        "error",
                    )
                ]
                errored[j] = True
                vals[j] = None
        stages.append(found)

    if spec.required:
        found = {
            j: [
                (
                    "required_missing",
                    field_label,
                    f"必填字段「{field_label}」为空",
                    f"required field '{field_label}' is empty",
                    "",
                    "",
                    "error",
                )
            ]
            for j, v in enumerate(vals)
            if v is None and not errored[j]
        }
        stages.append(found)

    problems = [p for found in stages for p in _expand(codes, len(vals), found)]
    return vals[codes], problems
