"""File order, natural keys and file-CRS geometries.

Why last: permit numbers and contract numbers run in issue order per county and year, like the real
registers, so they can only be assigned once every permit and contract (clean or defective) exists.
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer

from . import attributes as attrs
from .grid import Frame
from .records import PERMIT_PREFIX
from .refdata import RefData
from .tables import Table

GK_TO_2381 = Transformer.from_crs(4545, 2381, always_xy=True)
ZONE36_OFFSET = 36_000_000.0  # EPSG:4524 easting = EPSG:4545 easting + 36 000 000 (same CM 108°E)


def _years(day_numbers: list) -> list[int]:
    dates = attrs.to_date(np.asarray(day_numbers, dtype=np.int64))
    return dates.astype("datetime64[Y]").astype(int) + 1970


def county_short(name: str) -> str:
    """渝中区 → 渝中, 石柱土家族自治县 → 石柱: as contract numbers abbreviate counties."""
    if name.endswith("自治县"):
        return name[:2]
    return name[:-1] if len(name) > 2 else name


def parcel_order(parcels: Table) -> np.ndarray:
    return np.lexsort((np.asarray(parcels.meta["seq"]), np.asarray(parcels.meta["block"])))


def building_order(buildings: Table, parcel_row: np.ndarray) -> np.ndarray:
    return np.lexsort((np.asarray(buildings.meta["zrzh"]), parcel_row[np.asarray(buildings.meta["parcel"])]))


def date_order(table: Table) -> np.ndarray:
    return np.lexsort((np.arange(len(table)), np.asarray(table.meta["day"])))


def number_permits(permits: Table, order: np.ndarray, rng: np.random.Generator) -> None:
    """地字第/建字第 + county + year + serial: serials rise with the issue date, with small gaps."""
    years = _years(permits.meta["day"])
    counters: dict[tuple, int] = {}
    for i in order:
        m = permits.meta
        key = (m["ptype"][i], m["county"][i], years[i])
        counters[key] = (
            counters[key] + int(rng.integers(1, 4)) if key in counters else int(rng.integers(100, 400))
        )
        permits.cols["许可证号"][i] = (
            f"{PERMIT_PREFIX[m['ptype'][i]]}{m['county'][i]}{years[i]}{counters[key]:05d}号"
        )


def number_supply(supply: Table, order: np.ndarray, ref: RefData, rng: np.random.Generator) -> None:
    """序号 in file order; 合同编号 per supply mode, county and year (划拨: allocation decisions)."""
    years = _years(supply.meta["day"])
    counters: dict[tuple, int] = {}
    words = {"出让": "合字", "划拨": "划拨决字", "租赁": "租字"}
    for row, i in enumerate(order, 1):
        m = supply.meta
        supply.cols["序号"][i] = row
        key = (m["mode"][i], m["county"][i], years[i])
        counters[key] = (
            counters[key] + int(rng.integers(1, 3)) if key in counters else int(rng.integers(1, 60))
        )
        short = county_short(ref.county_name_by_code[m["county"][i]])
        supply.cols["合同编号"][i] = f"渝地({years[i]}){words[m['mode'][i]]}({short})第{counters[key]}号"


def to_gk(frame: Frame, geoms: list) -> list:
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    return list(frame.geoms_to_gk(arr))


def permits_to_4524(gk: list) -> list:
    arr = np.empty(len(gk), dtype=object)
    arr[:] = gk
    return list(shapely.transform(arr, lambda xy: xy + np.array([ZONE36_OFFSET, 0.0])))


def supply_to_2381(gk: list) -> list:
    """CGCS2000 GK → Xian 1980 GK CM 108°E with PROJ's ballpark datum step (no shift parameters)."""
    arr = np.empty(len(gk), dtype=object)
    arr[:] = gk

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = GK_TO_2381.transform(xy[:, 0], xy[:, 1])
        return np.round(np.stack([x, y], -1), 3)

    return list(shapely.transform(arr, fn))
