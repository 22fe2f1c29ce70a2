"""What goes where: targets, defect counts, block roles (empty, collective, one block per defect).

Why plan first: a planted defect must trigger exactly its own rule. The simplest way to guarantee that is
to give every defect (and every control) a block of its own, with no clean permits or supply records in
it, and to decide *before* generating buildings which parcels must stay vacant (ETL-stage parcel defects
are put on parcels nothing else refers to) or must have a building (building defects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .grid import Blocks, Frame, StreetGrid, select_blocks
from .refdata import RefData

PARCELS_PER_SCALE = 20_000
PERMITS_PER_SCALE = 3_000
SUPPLY_PER_SCALE = 1_500
EMPTY_SHARE = 0.03

SYSTEM_FILES = {
    "parcels": ("registration", "registration/ZDJBXX.shp", "ZDJBXX"),
    "buildings": ("registration", "registration/ZRZ.shp", "ZRZ"),
    "permits": ("planning", "planning/permits.gpkg", "ghxk"),
    "supply": ("landsupply", "landsupply/supply.csv", "supply"),
}


@dataclass(frozen=True)
class Spec:
    """One defect kind in one table; ``rate`` is relative to that table's target row count."""

    kind: str
    stage: str
    table: str
    rate: float
    variants: tuple[str, ...] = ()
    block: str = "own"  # own: an exclusive non-empty block; empty: an empty block; none: no block
    pair: bool = False  # needs two parcels sharing a long edge (block must not be 3×3)

    @property
    def minimum(self) -> int:
        return max(2, len(self.variants))


SPECS: tuple[Spec, ...] = (
    Spec(
        "zddm_invalid",
        "etl",
        "parcels",
        0.0015,
        ("county_unknown", "sequence_zero", "right_type_mismatch", "bad_length", "bad_char"),
    ),
    Spec("zddm_duplicate", "etl", "parcels", 0.001),
    Spec("zddm_missing", "etl", "parcels", 0.001),
    Spec("landuse_unknown", "etl", "parcels", 0.001, ("0799", "0A01")),
    Spec("geometry_invalid", "etl", "parcels", 0.001),
    Spec(
        "bdcdyh_invalid",
        "etl",
        "buildings",
        0.001,
        ("fixture_type", "w_unit_nonzero", "f_building_zero", "length_27"),
    ),
    Spec("landuse_unknown", "etl", "permits", 0.002, ("079", "0A1")),
    Spec("landuse_ambiguous", "etl", "permits", 0.002, ("051", "083")),
    Spec("axes_swapped", "etl", "permits", 0.002),
    Spec("zone_prefix_missing", "etl", "permits", 0.002),
    Spec("gcj02_shift", "etl", "permits", 0.002),
    Spec("geometry_null", "etl", "permits", 0.002),
    Spec("outside_jurisdiction", "etl", "permits", 0.002, block="none"),
    Spec("landuse_unknown", "etl", "supply", 0.002, ("商住混合用地", "综合用地")),
    Spec("gcj02_shift", "etl", "supply", 0.002),
    Spec("date_invalid", "etl", "supply", 0.002, ("month_out_of_range", "day_out_of_range")),
    Spec("area_unit_mismatch", "etl", "supply", 0.002, ("square_metres", "hectares")),
    Spec("building_outside_parcel", "check", "buildings", 0.001),
    Spec("building_across_parcels", "check", "buildings", 0.001, pair=True),
    Spec("bdcdyh_parcel_mismatch", "check", "buildings", 0.001),
    Spec("building_zddm_unknown", "check", "buildings", 0.001),
    Spec("parcel_overlap", "check", "parcels", 0.001, pair=True),
    Spec("parcel_area_mismatch", "check", "parcels", 0.001, ("larger", "smaller")),
    Spec("zddm_county_mismatch", "check", "parcels", 0.001),
    Spec("permit_without_parcel", "check", "permits", 0.002, block="empty"),
    Spec("permit_holder_conflict", "check", "permits", 0.002, pair=True),
    Spec("permit_landuse_conflict", "check", "permits", 0.002),
    Spec("supply_without_parcel", "check", "supply", 0.002, block="empty"),
    Spec("supply_zddm_mismatch", "check", "supply", 0.002),
)

CONTROL_SPECS: tuple[Spec, ...] = (
    Spec("layered_rights", "check", "parcels", 0.001),
    Spec("permit_multi_parcel", "check", "permits", 0.002, pair=True),
)

# Land use per block: (2017 code, weight near the centre, weight at 5 km and beyond)
BLOCK_LANDUSE = (
    ("0701", 0.50, 0.62),
    ("0505", 0.20, 0.05),
    ("0507", 0.06, 0.03),
    ("0601", 0.00, 0.09),
    ("0604", 0.01, 0.06),
    ("0801", 0.08, 0.04),
    ("0802", 0.03, 0.01),
    ("0809", 0.04, 0.04),
    ("0810", 0.08, 0.06),
)


@dataclass
class Slot:
    """One planted defect or control: its kind, variant and (once chosen) block and parcels."""

    spec: Spec
    variant: str
    control: bool = False
    block: int = -1
    parcels: dict[str, int] = field(default_factory=dict)


@dataclass
class Plan:
    targets: dict[str, int]
    blocks: Blocks
    nx: np.ndarray
    ny: np.ndarray
    empty: np.ndarray  # bool per block
    landuse: np.ndarray  # 2017 code per block (object)
    collective: np.ndarray  # '' | 'C' | 'B' per block: J blocks at the periphery
    owner_slot: np.ndarray  # index into slots, -1 for normal blocks
    slots: list[Slot]


def targets_for(scale: float) -> dict[str, int]:
    return {
        "parcels": max(1, round(PARCELS_PER_SCALE * scale)),
        "buildings": max(1, round(2 * PARCELS_PER_SCALE * scale)),
        "permits": max(1, round(PERMITS_PER_SCALE * scale)),
        "supply": max(1, round(SUPPLY_PER_SCALE * scale)),
    }


def make_slots(targets: dict[str, int]) -> list[Slot]:
    """Defect and control slots with their counts; variants are cycled so each appears."""
    slots: list[Slot] = []
    for specs, control in ((SPECS, False), (CONTROL_SPECS, True)):
        for spec in specs:
            n = max(spec.minimum, round(spec.rate * targets[spec.table]))
            variants = spec.variants or ("",)
            slots += [Slot(spec, variants[i % len(variants)], control) for i in range(n)]
    return slots


def make_plan(grid: StreetGrid, frame: Frame, ref: RefData, scale: float, rng: np.random.Generator) -> Plan:
    """Choose the blocks (nearest first), which of them stay empty, are collective or host a defect."""
    targets = targets_for(scale)
    slots = make_slots(targets)
    n_own = sum(s.spec.block == "own" for s in slots)
    n_empty_slots = sum(s.spec.block == "empty" for s in slots)
    n_collective = max(2, round(targets["parcels"] / 5000))
    min_nonempty = math.ceil(1.6 * (n_own + n_collective)) + 10
    want = int((max(targets["parcels"] / 5.0, min_nonempty) + n_empty_slots) * 1.15) + 20
    while True:
        blocks = select_blocks(grid, frame, ref, want)
        n = len(blocks)
        nx = np.where(rng.random(n) < 0.65, 2, 3)
        ny = np.where(rng.random(n) < 0.65, 2, 3)
        u_empty = rng.random(n)
        empty = u_empty < EMPTY_SHARE
        empty[0] = False
        prefix = None
        for _ in range(20):
            ne = ~empty
            cum_parcels = np.cumsum(np.where(ne, nx * ny, 0))
            ok = (cum_parcels >= targets["parcels"]) & (np.cumsum(ne) >= min_nonempty)
            if not ok.any():
                break
            prefix = int(np.argmax(ok)) + 1
            need_empty = max(n_empty_slots + 2, round(EMPTY_SHARE * prefix))
            missing = need_empty - int(empty[:prefix].sum())
            if missing <= 0:
                break
            cand = np.nonzero(ne[:prefix])[0][1:]
            empty[cand[np.argsort(u_empty[cand], kind="stable")[:missing]]] = True
            prefix = None
        if prefix is not None:
            break
        want = int(want * 1.5)
    blocks = blocks.take(np.arange(prefix))
    nx, ny, empty = nx[:prefix], ny[:prefix], empty[:prefix]

    # land use: residential everywhere, offices near the centre, industry towards the edge
    w = np.clip(blocks.dist / 5000.0, 0.0, 1.0)[:, None]
    weights = np.array([[c, f] for _, c, f in BLOCK_LANDUSE])
    p = (1 - w) * weights[None, :, 0] + w * weights[None, :, 1]
    p /= p.sum(axis=1, keepdims=True)
    choice = (rng.random(prefix)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    landuse = np.array([BLOCK_LANDUSE[min(c, len(BLOCK_LANDUSE) - 1)][0] for c in choice], dtype=object)

    nonempty = np.nonzero(~empty)[0]
    periphery = nonempty[-max(n_collective * 3, len(nonempty) // 12) :]
    collective = np.full(prefix, "", dtype=object)
    j_blocks = rng.choice(periphery, n_collective, replace=False)
    for k, b in enumerate(sorted(j_blocks)):
        collective[b] = "C" if k % 2 == 0 else "B"
        landuse[b] = "0702" if k % 2 == 0 else ("0601", "0604")[k // 2 % 2]

    owner_slot = np.full(prefix, -1)
    pool = [int(b) for b in rng.permutation(nonempty) if not collective[b]]
    queues = {False: pool, True: [b for b in pool if nx[b] == 2 or ny[b] == 2]}
    heads = {False: 0, True: 0}
    empties = [int(b) for b in rng.permutation(np.nonzero(empty)[0])]
    # pair slots first: they need blocks with a long shared edge (not 3×3)
    order = sorted(range(len(slots)), key=lambda i: (not slots[i].spec.pair, i))
    for i in order:
        slot = slots[i]
        if slot.spec.block == "none":
            continue
        if slot.spec.block == "empty":
            b = empties.pop()
        else:
            queue, h = queues[slot.spec.pair], heads[slot.spec.pair]
            while owner_slot[queue[h]] >= 0:
                h += 1
            b, heads[slot.spec.pair] = queue[h], h + 1
        owner_slot[b] = i
        slot.block = int(b)
        if slot.spec.kind == "landuse_ambiguous":
            landuse[b] = "0505" if slot.variant == "051" else "0801"
    return Plan(targets, blocks, nx, ny, empty, landuse, collective, owner_slot, slots)
