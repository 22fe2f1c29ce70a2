"""Value-level transformations: dates as business systems write them, distinct-value mapping."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from etl.mapping import FieldSpec
from etl.transforms import factorize, parse_date, transform_field


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-3-1", dt.date(2016, 3, 1)),
        ("2016-03-01", dt.date(2016, 3, 1)),
        ("2016/03/01", dt.date(2016, 3, 1)),
        ("2016.3.1", dt.date(2016, 3, 1)),
        ("2016年3月1日", dt.date(2016, 3, 1)),
        ("2016年3月1", dt.date(2016, 3, 1)),
        ("20160301", dt.date(2016, 3, 1)),
        ("2016-03-01 08:30:00", dt.date(2016, 3, 1)),
        (dt.datetime(2016, 3, 1, 8, 30), dt.date(2016, 3, 1)),
        ("", None),
        (None, None),
    ],
)
def test_dates_in_the_formats_systems_use(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2016-13-45", "2016年2月30日", "3/1/2016", "二〇一六年", "20161301"])
def test_impossible_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_factorize_keeps_nulls_as_one_distinct_value_and_rebuilds_the_column():
    values = np.array(["a", None, "b", "a", float("nan"), "b", None, "某"], dtype=object)
    codes, distinct = factorize(values)
    assert len(distinct) == 4 and distinct.dtype == object  # a, NULL, b, 某
    assert distinct[codes].tolist() == ["a", None, "b", "a", None, "b", None, "某"]
    codes, distinct = factorize(np.array([], dtype=object))
    assert len(codes) == 0 and len(distinct) == 0


def test_transform_runs_each_step_once_per_distinct_value():
    from types import SimpleNamespace

    calls = []

    def validator(value):
        calls.append(value)
        return (
            [SimpleNamespace(code="bad", message_zh="坏", message_en="bad", severity="error")]
            if value == "x"
            else []
        )

    spec = FieldSpec(target="zl", sources=("ZL",), validate="v", required=True)
    column = np.array(["x", "y", None, "x", " y ", "y"] * 1000, dtype=object)
    out, problems = transform_field(spec, {"ZL": column}, len(column), None, {"v": validator})
    assert sorted(calls) == ["x", "y", "y"]  # "y" and " y " are distinct raw values, stripped alike
    assert out[0] == "x" and out[1] == "y" and out[2] is None and out[4] == "y"
    assert sorted({(p.rule, p.actual) for p in problems}) == [("required_missing", ""), ("v_bad", "x")]
    assert [p.index for p in problems if p.rule == "v_bad"] == sorted(
        [*range(0, 6000, 6), *range(3, 6000, 6)]
    )


def test_row_hashes_change_with_any_value_and_with_the_salt():
    from etl.staging import row_hashes

    text = np.array(["a", "b", None, "a"], dtype=object)
    numbers = np.array([1.0, 2.0, np.nan, 1.0])
    wkb = np.array([b"\x01", b"\x02", b"\x03", b"\x01"], dtype=object)
    hashes = row_hashes([text, numbers, wkb], 4, b"mapping@1|codes")
    assert all(isinstance(h, str) and len(h) == 32 for h in hashes)
    assert hashes[0] == hashes[3] and len(set(hashes[:3])) == 3  # same values, same digest; else different
    changed = row_hashes([text, np.array([1.0, 2.0, np.nan, 1.5]), wkb], 4, b"mapping@1|codes")
    assert changed[:3].tolist() == hashes[:3].tolist() and changed[3] != hashes[3]
    swapped = row_hashes([numbers, text, wkb], 4, b"mapping@1|codes")  # column order matters
    assert swapped[0] != hashes[0]
    assert row_hashes([text, numbers, wkb], 4, b"mapping@2|codes")[0] != hashes[0]
    assert (
        row_hashes([], 2, b"x").tolist() == row_hashes([], 2, b"x").tolist()
        and len(row_hashes([], 2, b"x")) == 2
    )


def test_copy_text_escapes_only_what_copy_needs():
    import datetime as dt
    from decimal import Decimal

    from etl.staging import copy_text

    plain = np.array(["渝中区", None, "渝中区", "a b"], dtype=object)
    assert copy_text(plain).tolist() == ["渝中区", "\\N", "渝中区", "a b"]
    assert copy_text(plain, blank_null=True).tolist() == ["渝中区", "", "渝中区", "a b"]
    hostile = np.array(["tab\there", "back\\slash", "line\nbreak\r", None], dtype=object)
    assert copy_text(hostile).tolist() == ["tab\\there", "back\\\\slash", "line\\nbreak\\r", "\\N"]
    mixed = np.array([Decimal("12.50"), dt.date(2016, 3, 1), 7, True, None], dtype=object)
    assert copy_text(mixed).tolist() == ["12.50", "2016-03-01", "7", "t", "\\N"]
