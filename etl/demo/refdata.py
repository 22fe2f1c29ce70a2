"""Reference data the generator needs: counties, land-use classes and the 2007→2017 crosswalk.

Why from ``layers/data``: the same versioned files feed the code lists in the database, so a demo export
can never use a code the ETL does not know about (or, for planted defects, accidentally one it does).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import shapely

DATA_DIR = Path(__file__).resolve().parents[2] / "layers" / "data"
COUNTIES_FILE = DATA_DIR / "chongqing_counties_tianditu.geojson"


@dataclass(frozen=True, eq=False)
class RefData:
    """Everything read from ``layers/data``, loaded once per process."""

    county_codes: tuple[str, ...]  # adcode per county polygon, in file order
    county_names: tuple[str, ...]
    county_geoms: np.ndarray  # shapely MultiPolygons, EPSG:4490 lon/lat
    county_name_by_code: dict[str, str]
    all_county_codes: frozenset[str]  # current and former GB/T 2260 codes of Chongqing
    landuse_2017: dict[str, str]  # second-level code -> name
    landuse_2017_all: dict[str, str]  # first and second level
    crosswalk: dict[str, tuple[str, ...]]  # 2007 code -> 2017 codes
    one_to_one_2017_to_2007: dict[str, str]  # 2017 code -> its unique 2007 code


@functools.cache
def load() -> RefData:
    """Read and index the reference files (cached: they never change during a run)."""
    _meta, _fids, wkb, fields = pyogrio.raw.read(COUNTIES_FILE)
    names = {f: i for i, f in enumerate(_meta["fields"])}
    codes = tuple(str(v) for v in fields[names["adcode"]])
    cnames = tuple(str(v) for v in fields[names["name"]])
    geoms = shapely.from_wkb(wkb)
    shapely.prepare(geoms)

    with open(DATA_DIR / "gbt2260_chongqing.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    all_codes = {r["code"] for r in rows}
    for r in rows:
        for pred in filter(None, (p.strip() for p in r["predecessors"].split(";"))):
            all_codes.add(pred.split(" ")[0])

    with open(DATA_DIR / "gbt21010_2017.csv", encoding="utf-8") as fh:
        classes = list(csv.DictReader(fh))
    lu_all = {r["code"]: r["name"] for r in classes}
    lu2 = {r["code"]: r["name"] for r in classes if r["level"] == "2"}

    crosswalk: dict[str, list[str]] = {}
    cardinality: dict[str, str] = {}
    with open(DATA_DIR / "gbt21010_2007_to_2017.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            crosswalk.setdefault(r["code_2007"], []).append(r["code_2017"])
            cardinality[r["code_2007"]] = r["cardinality"]
    one_to_one = {
        targets[0]: code
        for code, targets in crosswalk.items()
        if cardinality[code] == "one-to-one" and len(targets) == 1
    }
    return RefData(
        county_codes=codes,
        county_names=cnames,
        county_geoms=geoms,
        county_name_by_code=dict(zip(codes, cnames, strict=True)),
        all_county_codes=frozenset(all_codes),
        landuse_2017=lu2,
        landuse_2017_all=lu_all,
        crosswalk={k: tuple(v) for k, v in crosswalk.items()},
        one_to_one_2017_to_2007=one_to_one,
    )
