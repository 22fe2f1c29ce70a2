"""Validators for 宗地代码 (ZDDM, 19 chars) and 不动产单元号 (BDCDYH, 28 chars), GB/T 37346-2019.

Why our own: public validators often demand digits at positions 13, 14 and 20 (they are letters) or reject
parcels of undetermined ownership (Z), so real registration data fails them. Each problem has its own code
and message so an ETL operator knows exactly what is wrong with a value, not just that it is wrong.

Layout (1-based positions)::

    1-6 county (GB/T 2260) | 7-9 地籍区 | 10-12 地籍子区 | 13 ownership G/J/Z | 14 right type
    15-19 parcel sequence 00001-99999 | 20 fixture type F/L/Q/W | 21-28 fixture unit number

The validators are pure functions over a county table (by default the GB/T 2260 list shipped in
``layers/data``), so the ETL can run them vectorised over a staging table's distinct values without a query
per row.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

OWNERSHIP = {
    "G": "国家土地所有权 state",
    "J": "集体土地所有权 collective",
    "Z": "土地所有权未确定或有争议 undetermined",
}
RIGHT_TYPES = {
    "A": "集体土地所有权",
    "B": "建设用地使用权（地表）",
    "S": "建设用地使用权（地上）",
    "X": "建设用地使用权（地下）",
    "C": "宅基地使用权",
    "D": "土地承包经营权（耕地）",
    "E": "林地使用权 / 承包经营权（林地）",
    "F": "草原使用权 / 承包经营权（草地）",
    "H": "海域使用权",
    "G": "无居民海岛使用权",
    "W": "使用权未确定或有争议",
    "Y": "其他使用权",
}
COLLECTIVE_ONLY = {"A", "C"}  # collective ownership and homestead exist only on collective land
FIXTURE_TYPES = {"F": "房屋等建筑物、构筑物", "L": "森林、林木", "Q": "其他", "W": "无定着物"}


@dataclass(frozen=True)
class CodeProblem:
    """One reason a code is invalid (``severity='error'``) or suspicious (``'warning'``)."""

    code: str
    message_zh: str
    message_en: str
    severity: str = "error"

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


@dataclass(frozen=True)
class County:
    code: str
    name: str
    valid_to_year: int | None = None  # None: still in use
    successor: str = ""


@functools.cache
def chongqing_counties() -> Mapping[str, County]:
    """GB/T 2260 county codes of Chongqing, current and former, from the shipped code list.

    A former code that was later reused (500110 万盛区 → 綦江区) is simply current.
    """
    counties: dict[str, County] = {}
    with open(DATA_DIR / "gbt2260_chongqing.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        counties[row["code"]] = County(row["code"], row["name"])
    for row in rows:
        for predecessor in filter(None, (p.strip() for p in row["predecessors"].split(";"))):
            code, _, name = predecessor.partition(" ")
            if code not in counties:
                counties[code] = County(code, name, int(row["current_since"]), row["code"])
    return counties


def _problem(code: str, zh: str, en: str, severity: str = "error") -> CodeProblem:
    return CodeProblem(code, zh, en, severity)


def _check_parcel_part(
    value: str, counties: Mapping[str, County], cache: dict | None = None
) -> list[CodeProblem]:
    """Positions 1-19, shared by ZDDM and the start of BDCDYH.

    Positions 1-14 (county, districts, ownership, right type) repeat across thousands of parcels of a
    block: with a ``cache`` (one per load, with the same ``counties``) they are checked once per prefix.
    """
    prefix = value[:14]
    known = cache.get(prefix) if cache is not None else None
    if known is None:
        known = tuple(_check_prefix(prefix, counties))
        if cache is not None:
            cache[prefix] = known
    problems = list(known)
    sequence = value[14:19]
    if not (sequence.isascii() and sequence.isdigit()):
        problems.append(
            _problem(
                "sequence_format",
                f"宗地顺序号「{sequence}」应为5位数字",
                f"parcel sequence '{sequence}' must be 5 digits",
            )
        )
    elif sequence == "00000":
        problems.append(
            _problem(
                "sequence_zero",
                "宗地顺序号不能为00000（应为00001–99999）",
                "parcel sequence 00000 is invalid (00001-99999)",
            )
        )
    return problems


def _check_prefix(value: str, counties: Mapping[str, County]) -> list[CodeProblem]:
    """Positions 1-14 of a parcel code."""
    problems: list[CodeProblem] = []
    county = value[0:6]
    if not county.isascii() or not county.isdigit():
        problems.append(
            _problem(
                "county_format",
                f"区县代码「{county}」应为6位数字",
                f"county part '{county}' must be 6 digits",
            )
        )
    elif county not in counties:
        problems.append(
            _problem(
                "county_unknown",
                f"区县代码「{county}」不是重庆市的GB/T 2260区县代码",
                f"county code {county} is not a GB/T 2260 county of Chongqing",
            )
        )
    elif counties[county].valid_to_year is not None:
        c = counties[county]
        problems.append(
            _problem(
                "county_obsolete",
                f"区县代码{county}（{c.name}）已于{c.valid_to_year}年停用，现为{c.successor}",
                f"county code {county} ({c.name}) was retired in {c.valid_to_year}; now {c.successor}",
                "warning",
            )
        )
    for start, label_zh, label_en, code in (
        (6, "地籍区", "cadastral district", "district_invalid"),
        (9, "地籍子区", "cadastral sub-district", "subdistrict_invalid"),
    ):
        part = value[start : start + 3]
        if not (part.isascii() and part.isdigit()) or part == "000":
            problems.append(
                _problem(
                    code,
                    f"{label_zh}「{part}」应为001–999",
                    f"{label_en} '{part}' must be 001-999",
                )
            )
    ownership, right = value[12], value[13]
    if ownership not in OWNERSHIP:
        problems.append(
            _problem(
                "ownership_invalid",
                f"第13位所有权类型「{ownership}」应为G（国家）、J（集体）或Z（未确定）",
                f"position 13 (ownership) '{ownership}' must be G, J or Z",
            )
        )
    if right not in RIGHT_TYPES:
        problems.append(
            _problem(
                "right_type_invalid",
                f"第14位权利类型「{right}」无效，应为{'/'.join(RIGHT_TYPES)}之一",
                f"position 14 (right type) '{right}' is not one of {'/'.join(RIGHT_TYPES)}",
            )
        )
    elif right in COLLECTIVE_ONLY and ownership in OWNERSHIP and ownership != "J":
        problems.append(
            _problem(
                "right_type_ownership",
                f"权利类型{right}（{RIGHT_TYPES[right]}）只能用于集体土地（J），不能与{ownership}组合",
                f"right type {right} exists only on collective land (J), not with ownership {ownership}",
            )
        )
    return problems


def validate_zddm(
    value: str | None, *, counties: Mapping[str, County] | None = None, cache: dict | None = None
) -> list[CodeProblem]:
    """Every reason ``value`` is not a valid 宗地代码; an empty list means valid."""
    counties = chongqing_counties() if counties is None else counties
    if value is None or value == "":
        return [_problem("missing", "宗地代码为空", "parcel code (ZDDM) is empty")]
    if len(value) != 19:
        return [
            _problem(
                "length",
                f"宗地代码应为19位，实际{len(value)}位",
                f"parcel code must have 19 characters, not {len(value)}",
            )
        ]
    return _check_parcel_part(value, counties, cache)


def validate_bdcdyh(
    value: str | None, *, counties: Mapping[str, County] | None = None, cache: dict | None = None
) -> list[CodeProblem]:
    """Every reason ``value`` is not a valid 不动产单元号; an empty list means valid."""
    counties = chongqing_counties() if counties is None else counties
    if value is None or value == "":
        return [_problem("missing", "不动产单元号为空", "real-estate unit number (BDCDYH) is empty")]
    if len(value) != 28:
        return [
            _problem(
                "length",
                f"不动产单元号应为28位，实际{len(value)}位",
                f"real-estate unit number must have 28 characters, not {len(value)}",
            )
        ]
    problems = _check_parcel_part(value[:19], counties, cache)
    fixture, number = value[19], value[20:28]
    if fixture not in FIXTURE_TYPES:
        problems.append(
            _problem(
                "fixture_type_invalid",
                f"第20位定着物类型「{fixture}」应为F（房屋）、L（林木）、Q（其他）或W（无定着物）",
                f"position 20 (fixture type) '{fixture}' must be F, L, Q or W",
            )
        )
    if not (number.isascii() and number.isdigit()):
        problems.append(
            _problem(
                "fixture_number_format",
                f"定着物单元编号「{number}」应为8位数字",
                f"fixture unit number '{number}' must be 8 digits",
            )
        )
    elif fixture == "W" and number != "00000000":
        problems.append(
            _problem(
                "fixture_number_w",
                f"无定着物（W）的单元编号应为00000000，实际为{number}",
                f"with fixture type W the unit number must be 00000000, not {number}",
            )
        )
    elif fixture in {"L", "Q"} and number == "00000000":
        problems.append(
            _problem(
                "fixture_number_zero",
                f"定着物类型{fixture}的单元编号不能为00000000",
                f"fixture type {fixture} needs a unit number other than 00000000",
            )
        )
    elif fixture == "F" and number[:4] == "0000":
        problems.append(
            _problem(
                "fixture_building_zero",
                f"房屋（F）单元编号的前4位幢号不能为0000，实际为{number}",
                f"for buildings (F) the first 4 digits (building number) cannot be 0000: {number}",
            )
        )
    return problems


def errors(problems: list[CodeProblem]) -> list[CodeProblem]:
    return [p for p in problems if p.severity == "error"]
