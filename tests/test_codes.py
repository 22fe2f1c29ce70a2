"""宗地代码 / 不动产单元号 validators and the codes_check command."""

from __future__ import annotations

import itertools

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from layers.codes import COLLECTIVE_ONLY, OWNERSHIP, RIGHT_TYPES, errors, validate_bdcdyh, validate_zddm


def codes(problems) -> list[str]:
    return [p.code for p in problems]


@pytest.mark.parametrize("value", ["500103001002GB00011", "500103001002ZW00007", "500243999999JC99999"])
def test_valid_parcel_codes(value):
    assert validate_zddm(value) == []


@pytest.mark.parametrize(("ownership", "right"), list(itertools.product(OWNERSHIP, RIGHT_TYPES)))
def test_every_ownership_right_type_combination(ownership, right):
    problems = validate_zddm(f"500103001002{ownership}{right}00011")
    if right in COLLECTIVE_ONLY and ownership != "J":
        assert codes(problems) == ["right_type_ownership"]
        assert "J" in problems[0].message_zh and right in problems[0].message_en
    else:
        assert problems == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500199001002GB00011", ["county_unknown"]),
        ("600103001002GB00011", ["county_unknown"]),
        ("50O103001002GB00011", ["county_format"]),
        ("500103000002GB00011", ["district_invalid"]),
        ("500103001000GB00011", ["subdistrict_invalid"]),
        ("500103001002GA00011", ["right_type_ownership"]),
        ("500103001002ZC00011", ["right_type_ownership"]),
        ("500103001002KB00011", ["ownership_invalid"]),
        ("500103001002GK00011", ["right_type_invalid"]),
        ("500103001002gb00011", ["ownership_invalid", "right_type_invalid"]),
        ("500103001002GB00000", ["sequence_zero"]),
        ("500103001002GB0001A", ["sequence_format"]),
        ("5001030010021000011", ["ownership_invalid", "right_type_invalid"]),
        ("500103001002GB0001", ["length"]),
        ("500103001002GB000111", ["length"]),
        ("", ["missing"]),
        (None, ["missing"]),
    ],
)
def test_invalid_parcel_codes_each_with_its_reason(value, expected):
    problems = validate_zddm(value)
    assert codes(problems) == expected
    assert all(p.severity == "error" for p in problems)
    assert all(p.message_zh and p.message_en for p in problems)


def test_former_county_code_is_a_warning_naming_the_successor():
    problems = validate_zddm("500234001001GB00001")  # 开县, 开州区 since 2016
    assert codes(problems) == ["county_obsolete"]
    assert problems[0].severity == "warning"
    assert "500154" in problems[0].message_en and "开县" in problems[0].message_zh
    assert errors(problems) == []


def test_reused_county_code_is_current():
    assert validate_zddm("500110001001GB00001") == []  # 万盛区 before 2011, 綦江区 now


@pytest.mark.parametrize(
    "value",
    [
        "500103001002GB00011W00000000",
        "500103001002GB00011F00010000",
        "500103001002GB00011F00120003",
        "500103001002GB00011L00000001",
        "500103001002ZW00007Q00000001",
    ],
)
def test_valid_unit_numbers(value):
    assert validate_bdcdyh(value) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500103001002GB00011X00010000", ["fixture_type_invalid"]),
        ("500103001002GB00011W00010001", ["fixture_number_w"]),
        ("500103001002GB00011F00000001", ["fixture_building_zero"]),
        ("500103001002GB00011L00000000", ["fixture_number_zero"]),
        ("500103001002GB00011F0001000A", ["fixture_number_format"]),
        ("500103001002GB00011F0001000", ["length"]),
        ("500199001002GA00000W00000000", ["county_unknown", "right_type_ownership", "sequence_zero"]),
    ],
)
def test_invalid_unit_numbers(value, expected):
    assert codes(validate_bdcdyh(value)) == expected


@pytest.mark.django_db
def test_codes_check_accepts_the_examples(capsys):
    call_command("codes_check", "zddm", "500103001002GB00011", "500103001002ZW00007")
    out = capsys.readouterr().out.splitlines()
    assert out == ["500103001002GB00011\tOK", "500103001002ZW00007\tOK"]


@pytest.mark.django_db
def test_codes_check_rejects_each_with_its_reason(capsys):
    values = ["500199001002GB00011", "500103001002GA00011", "500103001002GB00000", "5001030010021000011"]
    with pytest.raises(CommandError) as excinfo:
        call_command("codes_check", "zddm", "500103001002GB00011", *values)
    assert excinfo.value.returncode == 1
    lines = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["500103001002GB00011"] == "OK"
    assert "county_unknown" in lines["500199001002GB00011"] and "500199" in lines["500199001002GB00011"]
    assert "right_type_ownership" in lines["500103001002GA00011"]
    assert "sequence_zero" in lines["500103001002GB00000"]
    assert "ownership_invalid" in lines["5001030010021000011"]
    assert all(lines[v].startswith("INVALID") for v in values)


@pytest.mark.django_db
def test_codes_check_bdcdyh_fixture_part(capsys):
    with pytest.raises(CommandError):
        call_command("codes_check", "bdcdyh", "500103001002GB00011W00010001")
    assert "fixture_number_w" in capsys.readouterr().out


@pytest.mark.django_db
def test_codes_check_uses_the_database_county_list(capsys):
    """A county added to the code list by an administrator is accepted without a code change."""
    from layers.models import Code, CodeList

    Code.objects.create(codelist=CodeList.objects.get(key="gbt2260_chongqing"), code="500199", name="测试区")
    call_command("codes_check", "zddm", "500199001002GB00011")
    assert capsys.readouterr().out.strip().endswith("OK")


def test_a_prefix_cache_gives_the_same_answers():
    from layers.codes import validate_bdcdyh, validate_zddm

    cache: dict = {}
    values = ["500103001001GB00001", "500103001001GB00000", "500199001001GB00002", "500103001001GA00003"]
    for value in values * 2:
        assert validate_zddm(value, cache=cache) == validate_zddm(value)
        unit = value + "F00010001"
        assert validate_bdcdyh(unit, cache=cache) == validate_bdcdyh(unit)
    assert set(cache) == {v[:14] for v in values}
