"""Value-level transformations: dates as business systems write them, distinct-value mapping."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from etl.transforms import UNIQUE_SAMPLE, _unique_map, parse_date


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


@pytest.mark.parametrize("n_distinct", [3, 10 * UNIQUE_SAMPLE])
def test_unique_map_calls_once_per_distinct_value_or_maps_directly(n_distinct):
    values = np.array([f"v{i % n_distinct}" for i in range(10 * UNIQUE_SAMPLE)] + [None], dtype=object)
    calls = []

    def func(v):
        calls.append(v)
        return ("ok", v)

    out = _unique_map(values, func)
    assert out.shape == values.shape and out.dtype == object
    assert out[0] == ("ok", "v0") and out[-1] == ("ok", None)
    assert all(o == ("ok", v) for o, v in zip(out, values, strict=True))
    if n_distinct == 3:
        assert len(calls) == 4  # three values and None
