"""Planted defects and controls in the registration system (ZDJBXX parcels, ZRZ buildings).

Why each edit is so narrow: a defect must trigger exactly its own rule. Every slot owns a block (see
``plan``), ETL-stage parcel defects sit on parcels nothing refers to, and geometric edits keep clear of
everything else (an overlap strip stays 1 m short of the neighbour's buildings, a stretched building
only reaches into the street). All geometry here is in the local street frame.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import shapely

from . import attributes as attrs
from .entries import Entry
from .plan import Plan, Slot, Spec
from .refdata import RefData
from .registration import Registration, zddm

COLLECTIVE = Spec("collective_parcel", "etl", "parcels", 0.0)
UNDETERMINED = Spec("undetermined_parcel", "etl", "parcels", 0.0)


def shared_edge(
    reg: Registration, t: int, o: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Edge a→b shared by lattice parcels t and o, its unit direction e and unit normal n pointing into o."""
    c = reg.lattice.corners[t]
    a, b = (c[1], c[2]) if o == t + 1 else (c[3], c[2])
    length = float(np.linalg.norm(b - a))
    e = (b - a) / length
    n = np.array([-e[1], e[0]])
    if np.dot(n, c.mean(axis=0) - a) > 0:
        n = -n
    return a, b, e, n, length


def set_parcel_code(reg: Registration, p: int, code: str) -> None:
    c = reg.parcels.cols
    c["ZDDM"][p] = code
    c["BDCDYH"][p] = code + "W00000000" if code else ""
    c["ZDTZM"][p] = code[12:14] if len(code) >= 14 else ""


class RegistrationDefects:
    def __init__(self, plan: Plan, reg: Registration, ref: RefData, rng: np.random.Generator):
        self.plan, self.reg, self.ref, self.rng = plan, reg, ref, rng
        self.used = set(reg.parcels.cols["ZDDM"])
        self.seen: Counter[str] = Counter()

    # --- helpers --------------------------------------------------------------------------------------
    def first_building(self, p: int) -> int:
        return self.reg.buildings_of(p)[0]

    def code_parts(self, p: int) -> tuple[str, int, int]:
        b = int(self.reg.parcels.meta["block"][p])
        return self.reg.parcels.cols["QXDM"][p], int(self.reg.qu[b]), int(self.reg.ziqu[b])

    # --- ZDJBXX, ETL stage -----------------------------------------------------------------------------
    def zddm_invalid(self, slot: Slot, t: int) -> Entry:
        old = self.reg.parcels.cols["ZDDM"][t]
        k = self.seen[slot.variant]
        new = {
            "county_unknown": "500199" + old[6:],
            "sequence_zero": old[:14] + "00000",
            "right_type_mismatch": old[:12] + "G" + "AC"[k % 2] + old[14:],
            "bad_length": old[:18] if k % 2 == 0 else old + "1",
            "bad_char": old[:12] + old[12:14].lower() + old[14:] if k % 2 == 0 else old[:2] + "O" + old[3:],
        }[slot.variant]
        assert new[:6] not in self.ref.all_county_codes or slot.variant != "county_unknown"
        set_parcel_code(self.reg, t, new)
        return Entry(slot, "parcels", t, "ZDDM", {"reason": slot.variant, "value": new, "expected": old})

    def zddm_duplicate(self, slot: Slot, t: int) -> Entry:
        o = slot.parcels["other"]
        old, code = self.reg.parcels.cols["ZDDM"][t], self.reg.parcels.cols["ZDDM"][o]
        set_parcel_code(self.reg, t, code)
        return Entry(slot, "parcels", t, "ZDDM", {"value": code, "expected": old}, [("parcels", o)])

    def zddm_missing(self, slot: Slot, t: int) -> Entry:
        old = self.reg.parcels.cols["ZDDM"][t]
        set_parcel_code(self.reg, t, "")
        return Entry(slot, "parcels", t, "ZDDM", {"value": "", "expected": old})

    def landuse_unknown(self, slot: Slot, t: int) -> Entry:
        old = self.reg.parcels.cols["YT"][t]
        self.reg.parcels.cols["YT"][t] = slot.variant
        return Entry(slot, "parcels", t, "YT", {"value": slot.variant, "expected": str(old)})

    def geometry_invalid(self, slot: Slot, t: int) -> Entry:
        """A 2 m bow-tie loop at the block corner: edges c3→X and Y→c1 cross exactly at c0."""
        c = self.reg.lattice.corners[t]
        s = 2.0
        x = c[0] + s * (c[0] - c[3]) / np.linalg.norm(c[0] - c[3])
        y = c[0] + s * (c[0] - c[1]) / np.linalg.norm(c[0] - c[1])
        geom = shapely.Polygon([x, y, c[1], c[2], c[3]])
        assert not geom.is_valid
        self.reg.parcels.geom[t] = geom
        loop = float(shapely.Polygon([c[0], x, y]).area)
        return Entry(
            slot, "parcels", t, None, {"reason": "self_intersection", "loop_area_m2": round(loop, 2)}
        )

    # --- ZDJBXX, check stage ---------------------------------------------------------------------------
    def parcel_overlap(self, slot: Slot, t: int) -> Entry:
        o = slot.parcels["other"]
        a, b, e, n, length = shared_edge(self.reg, t, o)
        d = 4.0
        w = max(float(self.rng.uniform(3.0, 4.0)), 110.0 / (length - 2 * d))  # ≥ 110 m² of overlap
        assert w <= 4.0, "shared edge too short for a parcel_overlap defect"
        c = [tuple(v) for v in self.reg.lattice.corners[t]]
        out = [a + d * e, a + d * e + w * n, b - d * e + w * n, b - d * e]
        k = 1 if o == t + 1 else 2  # ring index after which the shared edge starts
        if k == 2:  # the ring runs c2→c3, i.e. b→a
            out = out[::-1]
        ring = c[: k + 1] + [tuple(v) for v in out] + c[k + 1 :]
        geom = shapely.Polygon(ring)
        assert geom.is_valid
        self.reg.parcels.geom[t] = geom
        self.reg.parcels.cols["ZDMJ"][t] = round(float(geom.area), 2)
        overlap = shapely.intersection(geom, self.reg.parcels.geom[o]).area
        near = [self.reg.buildings.geom[i] for i in self.reg.buildings_of(o)]
        assert overlap >= 100.0 and not any(shapely.intersects(geom, g) for g in near)
        detail = {
            "other_zddm": self.reg.parcels.cols["ZDDM"][o],
            "overlap_m2": round(overlap, 2),
            "depth_m": round(w, 2),
        }
        return Entry(slot, "parcels", t, None, detail, [("parcels", o)])

    def parcel_area_mismatch(self, slot: Slot, t: int) -> Entry:
        drawn = float(self.reg.parcels.geom[t].area)
        off = float(self.rng.uniform(0.12, 0.30))
        ratio = 1 + off if slot.variant == "larger" else 1 - off
        value = round(drawn * ratio, 2)
        self.reg.parcels.cols["ZDMJ"][t] = value
        return Entry(
            slot,
            "parcels",
            t,
            "ZDMJ",
            {"value": value, "drawn_area_m2": round(drawn, 2), "ratio": round(ratio, 4)},
        )

    def zddm_county_mismatch(self, slot: Slot, t: int) -> Entry:
        pc = self.reg.parcels.cols
        old = pc["ZDDM"][t]
        here = old[:6]
        others = [c for c in self.ref.county_codes if c != here]
        while True:
            new = others[int(self.rng.integers(len(others)))] + old[6:]
            if new not in self.used:
                break
        self.used.add(new)
        set_parcel_code(self.reg, t, new)
        pc["QXDM"][t] = new[:6]
        for i in self.reg.buildings_of(t):
            bc = self.reg.buildings.cols
            bc["ZDDM"][i] = new
            bc["BDCDYH"][i] = new + bc["BDCDYH"][i][19:]
        detail = {
            "value": new,
            "zddm_county": new[:6],
            "located_county": here,
            "located_county_name": self.ref.county_name_by_code[here],
        }
        return Entry(slot, "parcels", t, "ZDDM", detail)

    # --- ZRZ ------------------------------------------------------------------------------------------
    def bdcdyh_invalid(self, slot: Slot, t: int) -> Entry:
        i = self.first_building(t)
        bc = self.reg.buildings.cols
        old, code, zrzh = bc["BDCDYH"][i], bc["ZDDM"][i], bc["ZRZH"][i]
        new = {
            "fixture_type": f"{code}X{zrzh}0000",
            "w_unit_nonzero": f"{code}W{zrzh}0000",
            "f_building_zero": f"{code}F0000{zrzh}",
            "length_27": f"{code}F{zrzh}000",
        }[slot.variant]
        bc["BDCDYH"][i] = new
        return Entry(slot, "buildings", i, "BDCDYH", {"reason": slot.variant, "value": new, "expected": old})

    def building_outside_parcel(self, slot: Slot, t: int) -> Entry:
        """Stretch the building nearest the block's outer edge 6–8 m past it, into the street."""
        b = int(self.reg.parcels.meta["block"][t])
        x0, y0 = self.plan.blocks.x0[b], self.plan.blocks.y0[b]
        best = None
        for i in self.reg.buildings_of(t):
            minx, miny, _, _ = self.reg.buildings.geom[i].bounds
            for gap, axis in ((minx - x0, 0), (miny - y0, 1)):
                if best is None or gap < best[0]:
                    best = (gap, axis, i)
        gap, axis, i = best
        ext = float(self.rng.uniform(6.0, 8.0))
        shift = [0.0, 0.0]
        shift[axis] = -(gap + ext)
        old = self.reg.buildings.geom[i]
        moved = shapely.transform(old, lambda xy: xy + np.array(shift))
        geom = shapely.convex_hull(shapely.union(old, moved))
        neighbours = [self.reg.parcels.geom[q] for q in self._block_parcels(b) if q != t]
        assert not any(shapely.intersection(geom, g).area > 0 for g in neighbours)
        self._set_footprint(i, geom)
        outside = float(shapely.difference(geom, self.reg.parcels.geom[t]).area)
        detail = {
            "parcel_zddm": self.reg.parcels.cols["ZDDM"][t],
            "outside_area_m2": round(outside, 2),
            "depth_m": round(ext, 2),
        }
        return Entry(slot, "buildings", i, None, detail, [("parcels", t)])

    def building_across_parcels(self, slot: Slot, t: int) -> Entry:
        """A new building astride the shared edge: 10 m into its own parcel, 6 m into the neighbour."""
        o = slot.parcels["other"]
        a, b, e, n, length = shared_edge(self.reg, t, o)
        half = min(10.0, (length - 12.0) / 2)
        m = (a + b) / 2
        geom = shapely.Polygon(
            [m - half * e - 10 * n, m + half * e - 10 * n, m + half * e + 6 * n, m - half * e + 6 * n]
        )
        i = self._add_building(t, geom)
        other = float(shapely.intersection(geom, self.reg.parcels.geom[o]).area)
        detail = {
            "parcel_zddm": self.reg.parcels.cols["ZDDM"][t],
            "other_zddm": self.reg.parcels.cols["ZDDM"][o],
            "other_overlap_m2": round(other, 2),
        }
        return Entry(slot, "buildings", i, None, detail, [("parcels", t), ("parcels", o)])

    def bdcdyh_parcel_mismatch(self, slot: Slot, t: int) -> Entry:
        o = slot.parcels["other"]
        i = self.first_building(t)
        bc = self.reg.buildings.cols
        old = bc["BDCDYH"][i]
        new = self.reg.parcels.cols["ZDDM"][o] + old[19:]
        bc["BDCDYH"][i] = new
        detail = {"value": new, "prefix_parcel_zddm": new[:19], "expected": old}
        return Entry(slot, "buildings", i, "BDCDYH", detail, [("parcels", t), ("parcels", o)])

    def building_zddm_unknown(self, slot: Slot, t: int) -> Entry:
        i = self.first_building(t)
        county, qu, ziqu = self.code_parts(t)
        seq = 90
        while (new := zddm(county, qu, ziqu, "G", "B", seq)) in self.used:
            seq += 1
        self.used.add(new)
        old = self.reg.buildings.cols["ZDDM"][i]
        self.reg.buildings.cols["ZDDM"][i] = new
        return Entry(slot, "buildings", i, "ZDDM", {"value": new, "expected": old}, [("parcels", t)])

    # --- controls -------------------------------------------------------------------------------------
    def layered_rights(self, slot: Slot, t: int) -> Entry:
        """An underground (X, QLSDFS 3) parcel with exactly the surface parcel's footprint: legal."""
        pc, pm = self.reg.parcels.cols, self.reg.parcels.meta
        b = int(pm["block"][t])
        county, qu, ziqu = self.code_parts(t)
        seq = self._next_seq(b)
        code = zddm(county, qu, ziqu, "G", "X", seq)
        self.used.add(code)
        values = self.reg.parcels.row(t)
        values.update(
            ZDDM=code,
            BDCDYH=code + "W00000000",
            ZDTZM="GX",
            YT="0505",
            QLLX="3",
            QLXZ="102",
            QLSDFS="3",
            RJL=0.0,
            JZMD=0.0,
            QLR=_company(self.rng),
            ZDMJ=round(float(self.reg.parcels.geom[t].area), 2),
            BZ="地下空间（分层设权）",
        )
        meta = {k: pm[k][t] for k in self.reg.parcels.meta_fields}
        meta.update(seq=seq, kind="layered", vacant=True, no_supply=True)
        x = self.reg.parcels.add(shapely.Polygon(self.reg.parcels.geom[t]), values, meta)
        return Entry(
            slot, "parcels", x, None, {"surface_zddm": pc["ZDDM"][t], "QLSDFS": "3"}, [("parcels", t)]
        )

    # --- plumbing -------------------------------------------------------------------------------------
    def _block_parcels(self, b: int) -> range:
        f = int(self.reg.first[b])
        return range(f, f + int(self.plan.nx[b] * self.plan.ny[b]))

    def _next_seq(self, b: int) -> int:
        return int(self.plan.nx[b] * self.plan.ny[b]) + 1

    def _set_footprint(self, i: int, geom) -> None:
        bc = self.reg.buildings.cols
        ratio = geom.area / self.reg.buildings.geom[i].area
        self.reg.buildings.geom[i] = geom
        bc["ZZDMJ"][i] = round(float(geom.area), 2)
        bc["SCJZMJ"][i] = round(float(bc["SCJZMJ"][i] * ratio), 2)
        bc["YCJZMJ"][i] = round(float(bc["YCJZMJ"][i] * ratio), 2)

    def _add_building(self, p: int, geom) -> int:
        pc, pm = self.reg.parcels.cols, self.reg.parcels.meta
        zrzh = len(self.reg.buildings_of(p)) + 1
        yt = np.array([pc["YT"][p]])
        battr = attrs.building_attributes(
            yt, np.array([geom.area]), np.array([6.0]), np.array([pm["done"][p]]), self.rng
        )
        values = {k: v[0] for k, v in battr.items()}
        code = pc["ZDDM"][p]
        values.update(
            BSM=0,
            YSDM=self.reg.buildings.cols["YSDM"][0],
            BDCDYH=f"{code}F{zrzh:04d}0000",
            ZDDM=code,
            ZRZH=f"{zrzh:04d}",
            XMMC=pm["xmmc"][p],
            JZWMC=f"{zrzh}号楼",
            ZT="1",
        )
        pm["vacant"][p] = False
        i = self.reg.buildings.add(geom, values, {"parcel": p, "zrzh": zrzh})
        self.reg.index_building(p, i)
        return i


def _company(rng: np.random.Generator) -> str:
    namer = attrs.Namer(rng)
    return namer.company("0505").replace("置业", "地下空间开发")


def apply(plan: Plan, reg: Registration, ref: RefData, rng: np.random.Generator) -> list[Entry]:
    """Apply every registration slot (defects and layered-rights controls); return their entries."""
    d = RegistrationDefects(plan, reg, ref, rng)
    entries: list[Entry] = []
    for slot in plan.slots:
        if slot.spec.table not in ("parcels", "buildings"):
            continue
        entries.append(getattr(d, slot.spec.kind)(slot, slot.parcels["target"]))
        d.seen[slot.variant] += 1
    kinds = reg.parcels.meta["kind"]
    for p in range(len(reg.parcels)):
        if kinds[p] in ("collective", "undetermined"):
            spec = COLLECTIVE if kinds[p] == "collective" else UNDETERMINED
            code = reg.parcels.cols["ZDDM"][p]
            detail = {
                "value": code,
                "ownership": code[12],
                "right_type": code[13],
                "QLLX": reg.parcels.cols["QLLX"][p],
            }
            entries.append(Entry(Slot(spec, "", control=True), "parcels", p, "ZDDM", detail))
    return entries
