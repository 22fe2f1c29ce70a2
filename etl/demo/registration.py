"""The registration system's records: 宗地 parcels (ZDJBXX) and 自然幢 buildings (ZRZ), clean.

Why here and not in the writers: ZDDM/BDCDYH composition (GB/T 37346) and the parcel↔building
relationship are the heart of every later cross-check, so they are built once, from the lattice, in one
place; the defects module then edits individual records of these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from . import attributes as attrs
from . import words
from .grid import Lattice, build_lattice, building_footprints, feasible_layout
from .plan import Plan
from .refdata import RefData
from .tables import Table

ZDJBXX_FIELDS = [
    "BSM",
    "YSDM",
    "ZDDM",
    "BDCDYH",
    "ZDTZM",
    "ZL",
    "ZDMJ",
    "MJDW",
    "YT",
    "QLLX",
    "QLXZ",
    "QLSDFS",
    "RJL",
    "JZMD",
    "JZXG",
    "QXDM",
    "QLR",
    "DJSJ",
    "DBR",
    "ZT",
    "BZ",
]
ZRZ_FIELDS = [
    "BSM",
    "YSDM",
    "BDCDYH",
    "ZDDM",
    "ZRZH",
    "XMMC",
    "JZWMC",
    "JGRQ",
    "JZWGD",
    "ZZDMJ",
    "SCJZMJ",
    "YCJZMJ",
    "ZCS",
    "DSCS",
    "DXCS",
    "GHYT",
    "FWJG",
    "ZTS",
    "ZT",
]
PARCEL_META = ["block", "seq", "county", "kind", "t0", "start", "done", "xmmc", "vacant", "no_supply"]
BUILDING_META = ["parcel", "zrzh"]
YSDM_ZD, YSDM_ZRZ = "6001010000", "6001030100"  # constant per layer in the vendor export

# wanted buildings per parcel (0..4) by land use
_COUNT_WEIGHTS = {
    "default": (0.05, 0.15, 0.31, 0.23, 0.26),
    "0601": (0.06, 0.24, 0.36, 0.18, 0.16),
    "0604": (0.06, 0.24, 0.36, 0.18, 0.16),
    "0809": (0.20, 0.50, 0.30, 0.0, 0.0),
    "0810": (0.50, 0.40, 0.10, 0.0, 0.0),
    "0702": (0.10, 0.30, 0.30, 0.20, 0.10),
}
_VACANT_KINDS = {"zddm_invalid", "zddm_missing", "landuse_unknown", "geometry_invalid"}
_BUILT_KINDS = {
    "bdcdyh_invalid",
    "building_outside_parcel",
    "building_zddm_unknown",
    "bdcdyh_parcel_mismatch",
}


@dataclass
class Registration:
    lattice: Lattice
    first: np.ndarray  # per block: index of its first parcel, -1 for empty blocks
    qu: np.ndarray  # 地籍区 per block
    ziqu: np.ndarray  # 地籍子区 per block
    parcels: Table
    buildings: Table
    _by_parcel: dict[int, list[int]] | None = None
    _by_parcel_n: int = -1

    def buildings_of(self, p: int) -> list[int]:
        """Indices of parcel ``p``'s buildings (index rebuilt after buildings were added)."""
        if self._by_parcel is None or self._by_parcel_n != len(self.buildings):
            by: dict[int, list[int]] = {}
            for i, q in enumerate(self.buildings.meta["parcel"]):
                by.setdefault(int(q), []).append(i)
            self._by_parcel, self._by_parcel_n = by, len(self.buildings)
        return self._by_parcel.get(int(p), [])

    def index_building(self, p: int, i: int) -> None:
        """Record building ``i`` (just appended) as parcel ``p``'s, without rebuilding the index."""
        if self._by_parcel is None or self._by_parcel_n != len(self.buildings) - 1:
            self._by_parcel = None  # out of step: rebuilt on the next lookup
            return
        self._by_parcel.setdefault(int(p), []).append(i)
        self._by_parcel_n = len(self.buildings)


def cadastral_zones(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """地籍区 = rank of the block's 10×10-block cell within its county, 地籍子区 = position in that cell.

    So (county, 地籍区, 地籍子区) is unique per block and a ZDDM's sequence is the parcel number in it.
    """
    b = plan.blocks
    cx, cy = b.ci // 10, b.cj // 10
    keys = np.stack([b.county, cy, cx], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    rank = np.zeros(len(uniq), dtype=int)
    for c in np.unique(uniq[:, 0]):
        sel = np.nonzero(uniq[:, 0] == c)[0]
        rank[sel] = np.arange(1, len(sel) + 1)
    qu = rank[inv.ravel()]
    if qu.max() > 999:
        raise ValueError("more than 999 地籍区 in one county: scale too large for the grid")
    return qu, (b.cj % 10) * 10 + (b.ci % 10) + 1


def zddm(county: str, qu: int, ziqu: int, own: str, right: str, seq: int) -> str:
    return f"{county}{qu:03d}{ziqu:03d}{own}{right}{seq:05d}"


def longest_pair(lat: Lattice, first: int, nx: int, ny: int) -> tuple[int, int]:
    """The two parcels of a block sharing the longest edge (parcel (i,j) and its right/upper neighbour)."""
    best = (-1.0, 0, 0)
    for j in range(ny):
        for i in range(nx):
            p = first + j * nx + i
            c = lat.corners[p]
            if i + 1 < nx:
                best = max(best, (float(np.linalg.norm(c[2] - c[1])), p, p + 1))
            if j + 1 < ny:
                best = max(best, (float(np.linalg.norm(c[2] - c[3])), p, p + nx))
    return best[1], best[2]


def assign_roles(
    plan: Plan, lat: Lattice, first: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Parcels of each slot, and which parcels must stay vacant / must carry a building."""
    n = len(lat)
    vacant = np.zeros(n, bool)
    need_b = np.zeros(n, bool)
    no_supply = np.zeros(n, bool)
    normal_block = (plan.owner_slot < 0) & (plan.collective == "") & ~plan.empty
    normal = normal_block[lat.block]
    for slot in plan.slots:
        b = slot.block
        if b < 0 or plan.empty[b]:
            continue
        nx, ny, f = int(plan.nx[b]), int(plan.ny[b]), int(first[b])
        kind = slot.spec.kind
        if slot.spec.pair:
            p1, p2 = longest_pair(lat, f, nx, ny)
            slot.parcels = {"target": p1, "other": p2}
        elif kind == "zddm_duplicate":  # the later row repeats the earlier row's code
            slot.parcels = {"target": f + nx * ny - 1, "other": f}
        elif kind == "bdcdyh_parcel_mismatch":
            slot.parcels = {"target": f, "other": f + nx * ny - 1}
        else:
            slot.parcels = {"target": f}
        t = slot.parcels["target"]
        if slot.spec.table == "parcels" and kind in _VACANT_KINDS | {"zddm_duplicate"}:
            vacant[list(slot.parcels.values())] = True
        if kind == "building_across_parcels":
            vacant[[t, slot.parcels["other"]]] = True
        if kind in _BUILT_KINDS:
            need_b[t] = True
        if kind == "bdcdyh_parcel_mismatch":
            vacant[slot.parcels["other"]] = True
    county = plan.blocks.county[lat.block]
    z_pool = np.nonzero(normal)[0]
    z = rng.choice(z_pool, max(2, round(plan.targets["parcels"] * 0.0005)), replace=False)
    vacant[z] = True
    undetermined = np.zeros(n, bool)
    undetermined[z] = True
    for slot in plan.slots:
        if slot.spec.kind == "supply_zddm_mismatch":
            t = slot.parcels["target"]
            pool = np.nonzero(normal & ~undetermined & ~no_supply & (county == county[t]))[0]
            if not len(pool):
                pool = np.nonzero(normal & ~undetermined & ~no_supply)[0]
            o = int(rng.choice(pool))
            slot.parcels["other"] = o
            no_supply[o] = True
    return {"vacant": vacant, "need_b": need_b, "no_supply": no_supply, "undetermined": undetermined}


def build(plan: Plan, ref: RefData, rng: np.random.Generator, namer: attrs.Namer) -> Registration:
    """Parcels from the lattice of every non-empty block, their buildings and all their attributes."""
    blocks = plan.blocks
    lat = build_lattice(blocks, np.nonzero(~plan.empty)[0], plan.nx, plan.ny, rng)
    n = len(lat)
    first = np.full(len(blocks), -1)
    first[lat.block[::-1]] = np.arange(n)[::-1]
    roles = assign_roles(plan, lat, first, rng)
    qu, ziqu = cadastral_zones(plan)

    yt = plan.landuse[lat.block].astype(str)
    coll = plan.collective[lat.block].astype(str)
    wanted = np.empty(n, dtype=int)
    u = rng.random(n)
    for key, weights in _COUNT_WEIGHTS.items():
        sel = (yt == key) if key != "default" else ~np.isin(yt, list(_COUNT_WEIGHTS))
        wanted[sel] = (u[sel, None] > np.cumsum(weights)[None, :-1]).sum(axis=1)
    wanted = np.where(roles["vacant"], 0, np.where(roles["need_b"], np.maximum(wanted, 1), wanted))
    layout = feasible_layout(lat.corners, wanted)
    bp, bgeom = building_footprints(lat.corners, layout, rng)
    nb_per = np.bincount(bp, minlength=n)
    assert (nb_per[roles["need_b"]] > 0).all(), "a parcel that needs a building got none"

    pgeom = shapely.polygons(lat.corners)
    area = shapely.area(pgeom)
    tl = attrs.parcel_timeline(nb_per > 0, rng)

    # --- parcel attributes -------------------------------------------------------------------------
    county_idx = blocks.county[lat.block]
    ccode = [ref.county_codes[c] for c in county_idx]
    cname = [ref.county_names[c] for c in county_idx]
    own = np.where(coll != "", "J", np.where(roles["undetermined"], "Z", "G"))
    right = np.where(coll == "C", "C", np.where(roles["undetermined"], "W", "B"))
    codes = [
        zddm(ccode[p], qu[lat.block[p]], ziqu[lat.block[p]], own[p], right[p], lat.seq[p]) for p in range(n)
    ]
    road = [namer.pick(words.ROADS) for _ in range(len(blocks))]
    base_no = rng.integers(1, 80, len(blocks))
    single = rng.random(len(blocks)) < 0.35
    block_holder = {}
    holders, projects = [], []
    for p in range(n):
        b = lat.block[p]
        if single[b] and not coll[p]:
            if b not in block_holder:
                block_holder[b] = namer.holder(yt[p], cname[p], coll[p])
            holders.append(block_holder[b])
        else:
            holders.append(namer.holder(yt[p], cname[p], coll[p]))
        projects.append(namer.project(yt[p]))
    holders = np.array(holders, dtype=object)
    holders[roles["undetermined"]] = ""
    qlxz_market = np.where(rng.random(n) < 0.9, "102", np.where(rng.random(n) < 0.5, "101", "104"))
    public = np.isin(yt, ["0801", "0802", "0809", "0810"])
    qlxz = np.where(own != "G", "", np.where(public, "101", qlxz_market))
    qllx = np.where(own == "Z", "", np.where(right == "C", "5", np.where(own == "J", "7", "3")))

    # building attributes first: the parcel's RJL / JZMD / JZXG summarise them
    b_yt = yt[bp]
    far = attrs.planned_far(yt, rng)
    b_area = shapely.area(bgeom)
    sum_fp = np.bincount(bp, weights=b_area, minlength=n)
    floors = (far * area / np.maximum(sum_fp, 1.0))[bp] * rng.uniform(0.8, 1.2, len(bp))
    battr = attrs.building_attributes(b_yt, b_area, floors, tl["done"][bp], rng)
    sum_floor = np.bincount(bp, weights=battr["SCJZMJ"], minlength=n)
    max_h = np.zeros(n)
    np.maximum.at(max_h, bp, battr["JZWGD"])
    built = nb_per > 0
    rjl = np.where(built, np.round(sum_floor / area, 2), far)
    jzmd = np.where(built, np.round(100 * sum_fp / area, 2), np.round(rng.uniform(20, 35, n), 2))
    jzxg = np.where(built, np.ceil(max_h / 10.0) * 10 + 10, rng.choice([24.0, 50.0, 80.0, 100.0], n))
    djsj = attrs.to_date(tl["djsj"]).astype(object)
    djsj[roles["undetermined"]] = None
    bz = np.where(roles["undetermined"], "权属争议，待确权", "")
    parcels = Table(ZDJBXX_FIELDS, PARCEL_META)
    parcels.extend(
        list(pgeom),
        {
            "BSM": [0] * n,
            "YSDM": [YSDM_ZD] * n,
            "ZDDM": codes,
            "BDCDYH": [c + "W00000000" for c in codes],
            "ZDTZM": [c[12:14] for c in codes],
            "ZL": [
                f"{cname[p]}{road[lat.block[p]]}{base_no[lat.block[p]] + 2 * lat.seq[p]}号" for p in range(n)
            ],
            "ZDMJ": attrs.declared_area(area, rng),
            "MJDW": ["1"] * n,
            "YT": yt,
            "QLLX": qllx,
            "QLXZ": qlxz,
            "QLSDFS": ["1"] * n,
            "RJL": rjl,
            "JZMD": jzmd,
            "JZXG": jzxg,
            "QXDM": ccode,
            "QLR": holders,
            "DJSJ": djsj,
            "DBR": ["" if z else namer.person() for z in roles["undetermined"]],
            "ZT": ["1"] * n,
            "BZ": bz,
        },
        {
            "block": lat.block,
            "seq": lat.seq,
            "county": county_idx,
            "kind": np.where(
                roles["undetermined"], "undetermined", np.where(coll != "", "collective", "normal")
            ),
            "t0": tl["t0"],
            "start": tl["start"],
            "done": tl["done"],
            "xmmc": projects,
            "vacant": ~built,
            "no_supply": roles["no_supply"],
        },
    )
    # --- buildings ---------------------------------------------------------------------------------
    zrzh = np.empty(len(bp), dtype=int)
    starts = np.concatenate([[0], np.cumsum(nb_per)[:-1]])
    zrzh[:] = np.arange(len(bp)) - starts[bp] + 1
    industrial = np.isin(b_yt, ["0601", "0604"])
    buildings = Table(ZRZ_FIELDS, BUILDING_META)
    buildings.extend(
        list(bgeom),
        {
            "BSM": [0] * len(bp),
            "YSDM": [YSDM_ZRZ] * len(bp),
            "BDCDYH": [f"{codes[p]}F{z:04d}0000" for p, z in zip(bp, zrzh, strict=True)],
            "ZDDM": [codes[p] for p in bp],
            "ZRZH": [f"{z:04d}" for z in zrzh],
            "XMMC": [projects[p] for p in bp],
            "JZWMC": [f"{z}号{'厂房' if ind else '楼'}" for z, ind in zip(zrzh, industrial, strict=True)],
            **{k: battr[k] for k in ZRZ_FIELDS if k in battr},
            "ZT": ["1"] * len(bp),
        },
        {"parcel": bp, "zrzh": zrzh},
    )
    _apply_holder_constraints(plan, parcels, namer)
    return Registration(lat, first, qu, ziqu, parcels, buildings)


def _apply_holder_constraints(plan: Plan, parcels: Table, namer: attrs.Namer) -> None:
    """Multi-parcel permits need one holder on both parcels; holder conflicts need two holders."""
    qlr = parcels.cols["QLR"]
    for slot in plan.slots:
        if not slot.parcels or "other" not in slot.parcels:
            continue
        t, o = slot.parcels["target"], slot.parcels["other"]
        if slot.spec.kind == "permit_multi_parcel":
            qlr[o] = qlr[t]
        elif slot.spec.kind == "permit_holder_conflict":
            while qlr[o] == qlr[t]:
                qlr[o] = namer.company(parcels.cols["YT"][o])
