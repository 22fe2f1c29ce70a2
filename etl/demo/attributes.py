"""Plausible attribute values: names, addresses, dates, floor counts, areas.

Why a separate module: geometry decides *where* things are; this decides what a registration clerk, a
planning office and a land-supply office would have typed about them, consistently across the three
systems (the same holder, project name and address appear in each), which is what makes the later
cross-system checks meaningful.
"""

from __future__ import annotations

import random

import numpy as np

from . import words

AS_OF = np.datetime64("2024-06-30")
EPOCH = np.datetime64("1970-01-01")


def days(d: str) -> int:
    return int((np.datetime64(d) - EPOCH).astype(int))


class Namer:
    """Draws names from the word lists with one generator, so output is reproducible per seed."""

    def __init__(self, rng: np.random.Generator):
        # a stdlib generator seeded from numpy's: per-call draws are ~10× cheaper for single picks
        self.r = random.Random(int(rng.integers(2**62)))

    def pick(self, seq):
        return self.r.choice(seq)

    def person(self) -> str:
        return self.r.choice(words.SURNAMES) + "".join(self.r.choices(words.GIVEN, k=self.r.randint(1, 2)))

    def place(self) -> str:
        return self.pick(words.PLACE_WORDS)

    def company(self, yt: str) -> str:
        suffixes = words.COMPANY_SUFFIX.get(yt, words.COMPANY_SUFFIX["0701"])
        a, b = self.place(), self.place()
        while b == a:
            b = self.place()
        return f"重庆{a}{b}{self.pick(suffixes)}"

    def holder(self, yt: str, county_name: str, collective: str) -> str:
        if collective == "C":
            return self.person()
        if collective == "B":
            return f"{county_name}{self.place()}村股份经济合作社"
        if yt == "0801":
            return f"重庆市{county_name}{self.pick(words.AGENCIES)}"
        if yt == "0810":
            return f"重庆市{county_name}城市管理局"
        return self.company(yt)

    def project(self, yt: str) -> str:
        return self.place() + self.pick(words.PROJECT_SUFFIX[yt])


def parcel_timeline(has_buildings: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Day numbers of each parcel's land date (supply/allocation), registration, start and completion.

    Built parcels got their land early enough to be finished by ``AS_OF``; vacant ones may be recent.
    """
    n = len(has_buildings)
    t0 = np.where(
        has_buildings,
        rng.integers(days("2004-01-01"), days("2019-06-30"), n),
        rng.integers(days("2006-01-01"), days("2023-12-31"), n),
    )
    asof = days(str(AS_OF))
    djsj = np.minimum(t0 + rng.integers(30, 180, n), asof - 1)
    start = t0 + rng.integers(200, 600, n)
    done = np.minimum(start + rng.integers(600, 1200, n), asof - 1)
    return {"t0": t0, "djsj": djsj, "start": start, "done": done}


def to_date(day_numbers: np.ndarray) -> np.ndarray:
    return (EPOCH + np.asarray(day_numbers, dtype="timedelta64[D]")).astype("datetime64[D]")


def building_attributes(
    yt: np.ndarray,
    footprint_area: np.ndarray,
    floors: np.ndarray,
    done_day: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray | list]:
    """Heights, areas, structure and use of each building, from its floors and its parcel's land use."""
    n = len(yt)
    lo = np.array([words.FLOORS[y][0] for y in yt])
    hi = np.array([words.FLOORS[y][1] for y in yt])
    dscs = np.clip(np.round(floors), lo, hi).astype(int)
    deep = np.isin(yt, ["0701", "0505", "0801", "0802"]) & (dscs >= 8)
    dxcs = np.where(deep, rng.integers(1, 4, n), np.where(rng.random(n) < 0.15, 1, 0))
    storey = np.where(np.isin(yt, ["0601", "0604"]), 6.0, np.where(yt == "0505", 4.2, 3.0))
    jzwgd = np.round(dscs * storey + rng.uniform(0.3, 2.5, n), 2)
    zzdmj = np.round(footprint_area, 2)
    scjzmj = np.round(footprint_area * (dscs + 0.85 * dxcs) * rng.uniform(0.92, 1.0, n), 2)
    ycjzmj = np.round(scjzmj * rng.uniform(0.98, 1.03, n), 2)
    ghyt = [words.GHYT[y][int(r * len(words.GHYT[y]))] for y, r in zip(yt, rng.random(n), strict=True)]
    fwjg = np.where(
        np.isin(yt, ["0601", "0604"]),
        np.where(rng.random(n) < 0.7, "1", "3"),
        np.where(
            yt == "0702",
            np.where(rng.random(n) < 0.7, "4", "5"),
            np.where(dscs >= 7, np.where((yt == "0505") & (rng.random(n) < 0.3), "2", "3"), "4"),
        ),
    )
    is_home = np.array([g == "10" for g in ghyt])
    zts = np.where(is_home, np.maximum(1, np.round(scjzmj / rng.uniform(85, 125, n))), 0).astype(np.int32)
    zts = np.where(yt == "0702", 1, zts).astype(np.int32)
    jgrq = to_date(done_day - rng.integers(0, 90, n))
    return {
        "JGRQ": jgrq,
        "JZWGD": jzwgd,
        "ZZDMJ": zzdmj,
        "SCJZMJ": scjzmj,
        "YCJZMJ": ycjzmj,
        "ZCS": (dscs + dxcs).astype(np.int32),
        "DSCS": dscs.astype(np.int32),
        "DXCS": dxcs.astype(np.int32),
        "GHYT": ghyt,
        "FWJG": list(fwjg),
        "ZTS": zts,
    }


PLANNED_FAR = {
    "0701": (1.8, 5.5),
    "0505": (3.0, 9.0),
    "0507": (1.2, 3.0),
    "0601": (0.8, 1.6),
    "0604": (0.6, 1.2),
    "0801": (1.5, 3.5),
    "0802": (2.0, 4.0),
    "0809": (0.3, 1.0),
    "0810": (0.05, 0.2),
    "0702": (0.6, 1.2),
}


def planned_far(yt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lo = np.array([PLANNED_FAR[y][0] for y in yt])
    hi = np.array([PLANNED_FAR[y][1] for y in yt])
    return np.round(rng.uniform(lo, hi), 2)


def declared_area(drawn: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ZDMJ as surveyed: mostly the drawn area to the cm², some with < 0.4 % survey noise."""
    noisy = rng.random(len(drawn)) < 0.3
    factor = np.where(noisy, 1.0 + rng.uniform(-0.004, 0.004, len(drawn)), 1.0)
    return np.round(drawn * factor, 2)
