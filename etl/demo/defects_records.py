"""Planted defects and controls in the planning permits and the land-supply records.

Two passes. ``apply_local`` works in the local street frame (red lines reaching into a neighbour, permits
and supply polygons on empty blocks, wrong codes and dates). ``apply_crs`` runs after the geometries have
been moved to their file CRS and plants the coordinate-system defects, which only exist there: swapped
axes, a missing zone prefix, a GCJ-02 shift, a null geometry and a permit just outside Chongqing.
"""

from __future__ import annotations

import functools

import numpy as np
import shapely
from pyproj import Transformer

from layers.geodesy import wgs84_to_gcj02

from . import attributes as attrs
from . import records as rec
from . import words
from .defects_registration import shared_edge
from .entries import Entry
from .plan import Plan, Slot
from .refdata import RefData
from .registration import Registration
from .tables import Table

GK_TO_LL = Transformer.from_crs(4545, 4490, always_xy=True)
LL_TO_4524 = Transformer.from_crs(4490, 4524, always_xy=True)
LL_TO_2381 = Transformer.from_crs(4490, 2381, always_xy=True)
GUANG_AN_BOX = (106.45, 30.0, 107.05, 30.5)  # Chongqing's northern border with 四川 广安


class RecordDefects:
    def __init__(self, plan: Plan, reg: Registration, permits: Table, supply: Table, ref: RefData, rng):
        self.plan, self.reg, self.ref, self.rng = plan, reg, ref, rng
        self.permits, self.supply = permits, supply
        self.namer = attrs.Namer(rng)
        self.crs_jobs: list[tuple[Entry, str]] = []

    def zddm(self, p: int) -> str:
        return self.reg.parcels.cols["ZDDM"][p]

    def base_permit(self, t: int, red_line=None) -> int:
        ptype = "land" if self.rng.random() < 0.5 else "works"
        return rec.add_permit(self.permits, self.reg, self.ref, t, ptype, self.rng, red_line)

    def orphan_permit(self, county: str, yt: str, red_line) -> int:
        """A permit that names no registered parcel (reserve land, or land outside Chongqing)."""
        area = 0.0 if red_line is None else float(shapely.area(red_line))
        day = int(self.rng.integers(attrs.days("2012-01-01"), attrs.days("2024-03-31")))
        values = {
            "许可证号": "",
            "证件类型": rec.PERMIT_TYPES["land"],
            "项目名称": self.namer.project(yt),
            "建设单位": self.namer.company(yt),
            "用地性质": rec.landuse_2007(self.ref, yt),
            "用地面积": round(area, 2),
            "建筑面积": round(area * float(self.rng.uniform(*attrs.PLANNED_FAR[yt])), 2),
            "发证日期": attrs.to_date(np.array([day]))[0],
        }
        return self.permits.add(
            red_line, values, {"parcel": -1, "ptype": "land", "day": day, "county": county}
        )

    # --- permits, local --------------------------------------------------------------------------------
    def landuse_unknown__permits(self, slot: Slot, t: int) -> Entry:
        i = self.base_permit(t)
        old = self.permits.cols["用地性质"][i]
        self.permits.cols["用地性质"][i] = slot.variant
        return Entry(
            slot, "permits", i, "用地性质", {"value": slot.variant, "expected": old}, [("parcels", t)]
        )

    def landuse_ambiguous(self, slot: Slot, t: int) -> Entry:
        i = self.base_permit(t)
        self.permits.cols["用地性质"][i] = slot.variant
        detail = {
            "value": slot.variant,
            "candidates_2017": list(self.ref.crosswalk[slot.variant]),
            "parcel_zddm": self.zddm(t),
            "parcel_yt": self.reg.parcels.cols["YT"][t],
        }
        return Entry(slot, "permits", i, "用地性质", detail, [("parcels", t)])

    def _crs_job(self, slot: Slot, t: int) -> Entry:
        i = self.base_permit(t)
        entry = Entry(slot, "permits", i, None, {"parcel_zddm": self.zddm(t)}, [("parcels", t)])
        self.crs_jobs.append((entry, "permits"))
        return entry

    axes_swapped = zone_prefix_missing = gcj02_shift__permits = geometry_null = _crs_job

    def outside_jurisdiction(self, slot: Slot, t: int) -> Entry:
        i = self.orphan_permit("", "0701", None)
        entry = Entry(slot, "permits", i, None, {})
        self.crs_jobs.append((entry, "permits"))
        return entry

    def permit_without_parcel(self, slot: Slot, t: int) -> Entry:
        b = slot.block
        red = self.plan.blocks.rect(b, float(self.rng.uniform(3.0, 8.0)))
        county = self.ref.county_codes[int(self.plan.blocks.county[b])]
        i = self.orphan_permit(county, str(self.plan.landuse[b]), red)
        return Entry(slot, "permits", i, None, {"area_m2": round(red.area, 2), "empty_block": True})

    def permit_holder_conflict(self, slot: Slot, t: int) -> Entry:
        """The red line takes a 12–15 m deep strip of the neighbour (another holder, same land use)."""
        o = slot.parcels["other"]
        a, b, e, n, length = shared_edge(self.reg, t, o)
        depth, d = float(self.rng.uniform(12.0, 15.0)), 5.0
        strip = shapely.Polygon([a + d * e - n, b - d * e - n, b - d * e + depth * n, a + d * e + depth * n])
        red = shapely.union(shapely.buffer(self.reg.parcels.geom[t], -0.5, join_style="mitre"), strip)
        assert red.geom_type == "Polygon"
        i = self.base_permit(t, red)
        pc = self.reg.parcels.cols
        detail = {
            "parcel_zddm": self.zddm(t),
            "other_zddm": self.zddm(o),
            "other_holder": pc["QLR"][o],
            "depth_m": round(depth, 2),
            "overlap_m2": round(float(shapely.intersection(red, self.reg.parcels.geom[o]).area), 2),
        }
        return Entry(slot, "permits", i, None, detail, [("parcels", t), ("parcels", o)])

    def permit_landuse_conflict(self, slot: Slot, t: int) -> Entry:
        i = self.base_permit(t)
        yt = self.reg.parcels.cols["YT"][t]
        value = "061" if yt[:2] == "07" else "071"
        self.permits.cols["用地性质"][i] = value
        detail = {
            "value": value,
            "mapped_2017": list(self.ref.crosswalk[value]),
            "parcel_zddm": self.zddm(t),
            "parcel_yt": yt,
        }
        return Entry(slot, "permits", i, "用地性质", detail, [("parcels", t)])

    def permit_multi_parcel(self, slot: Slot, t: int) -> Entry:
        """Control: one permit over two adjacent parcels of the same holder and land use."""
        o = slot.parcels["other"]
        both = shapely.union(self.reg.parcels.geom[t], self.reg.parcels.geom[o])
        red = shapely.buffer(both, -0.5, join_style="mitre")
        assert red.geom_type == "Polygon"
        i = rec.add_permit(self.permits, self.reg, self.ref, t, "land", self.rng, red)
        detail = {"holder": self.reg.parcels.cols["QLR"][t], "parcels": [self.zddm(t), self.zddm(o)]}
        return Entry(slot, "permits", i, None, detail, [("parcels", t), ("parcels", o)])

    # --- supply, local ---------------------------------------------------------------------------------
    def landuse_unknown__supply(self, slot: Slot, t: int) -> Entry:
        i = rec.add_supply(self.supply, self.reg, self.ref, t, self.rng)
        old = self.supply.cols["土地用途"][i]
        self.supply.cols["土地用途"][i] = slot.variant
        return Entry(
            slot, "supply", i, "土地用途", {"value": slot.variant, "expected": old}, [("parcels", t)]
        )

    def gcj02_shift__supply(self, slot: Slot, t: int) -> Entry:
        i = rec.add_supply(self.supply, self.reg, self.ref, t, self.rng)
        entry = Entry(slot, "supply", i, None, {"parcel_zddm": self.zddm(t)}, [("parcels", t)])
        self.crs_jobs.append((entry, "supply"))
        return entry

    def date_invalid(self, slot: Slot, t: int) -> Entry:
        i = rec.add_supply(self.supply, self.reg, self.ref, t, self.rng)
        field = ("签订日期", "约定开工日期", "约定竣工日期")[int(self.rng.integers(3))]
        old = self.supply.cols[field][i]
        fmt = self.supply.meta["datefmt"][i]
        year = int(str(attrs.to_date(np.array([self.supply.meta["day"][i]]))[0])[:4])
        if slot.variant == "month_out_of_range":
            value = rec.format_date(0, fmt, y=year, m=13, d=int(self.rng.integers(1, 29)))
        else:
            value = rec.format_date(0, fmt, y=year, m=2, d=30)
        self.supply.cols[field][i] = value
        return Entry(slot, "supply", i, field, {"reason": slot.variant, "value": value, "expected": old})

    def area_unit_mismatch(self, slot: Slot, t: int) -> Entry:
        i = rec.add_supply(self.supply, self.reg, self.ref, t, self.rng)
        area = float(self.reg.parcels.geom[t].area)
        value = f"{area:.2f}" if slot.variant == "square_metres" else f"{area / 10000:.4f}"
        expected = self.supply.cols["面积（亩）"][i]
        self.supply.cols["面积（亩）"][i] = value
        detail = {
            "reason": slot.variant,
            "value": value,
            "expected_mu": expected,
            "polygon_area_m2": round(area, 2),
        }
        return Entry(slot, "supply", i, "面积（亩）", detail, [("parcels", t)])

    def supply_without_parcel(self, slot: Slot, t: int) -> Entry:
        """Reserve land supplied before any parcel was registered: no 宗地代码, no parcel, no permit."""
        b = slot.block
        poly = self.plan.blocks.rect(b, float(self.rng.uniform(2.0, 5.0)))
        county = self.plan.blocks.county[b]
        p0 = next(
            (p for p in range(len(self.reg.lattice)) if self.reg.parcels.meta["county"][p] == county), 0
        )
        i = rec.add_supply(self.supply, self.reg, self.ref, p0, self.rng, poly)
        yt = str(self.plan.landuse[b])
        cname = self.ref.county_names[int(county)]
        sc = self.supply.cols
        for k, v in {
            "宗地代码": "",
            "项目名称": self.namer.project(yt),
            "受让人": self.namer.company(yt),
            "坐落": f"{cname}{self.namer.pick(words.ROADS)}储备地块",
            "行政区": cname,
            "土地用途": self.ref.landuse_2017[yt],
            "供地方式": "出让",
            "实际开工日期": "",
            "实际竣工日期": "",
            "已完成投资（万元）": "0.00",
        }.items():
            sc[k][i] = v
        self.supply.meta["county"][i] = self.ref.county_codes[int(county)]
        self.supply.meta["mode"][i] = "出让"
        self.supply.meta["parcel"][i] = -1
        return Entry(slot, "supply", i, None, {"area_m2": round(poly.area, 2), "empty_block": True})

    def supply_zddm_mismatch(self, slot: Slot, t: int) -> Entry:
        o = slot.parcels["other"]
        i = rec.add_supply(self.supply, self.reg, self.ref, t, self.rng)
        self.supply.cols["宗地代码"][i] = self.zddm(o)
        detail = {"value": self.zddm(o), "located_parcel_zddm": self.zddm(t)}
        return Entry(slot, "supply", i, "宗地代码", detail, [("parcels", t), ("parcels", o)])

    # --- CRS stage ------------------------------------------------------------------------------------
    def apply_crs(self, permit_final: list, supply_final: list, permit_gk: list, supply_gk: list) -> None:
        """Edit the file-CRS geometries (EPSG:4524 permits, EPSG:2381 supply) of the queued entries."""
        for entry, table in self.crs_jobs:
            i, kind = entry.index, entry.kind
            if kind == "geometry_null":
                permit_final[i] = None
            elif kind == "axes_swapped":
                permit_final[i] = shapely.transform(permit_final[i], lambda xy: xy[:, ::-1].copy())
                entry.detail["first_vertex_as_written"] = _first_vertex(permit_final[i])
            elif kind == "zone_prefix_missing":
                permit_final[i] = permit_gk[i]
                entry.detail["first_vertex_as_written"] = _first_vertex(permit_final[i])
            elif kind == "gcj02_shift":
                gk = permit_gk[i] if table == "permits" else supply_gk[i]
                target = LL_TO_4524 if table == "permits" else LL_TO_2381
                shifted = shapely.transform(gk, lambda xy, t=target: _gcj_project(xy, t))
                back = shapely.transform(shifted, lambda xy, t=target: _project(xy, t, inverse=True))
                entry.detail["shift_m"] = round(float(shapely.distance(back.centroid, gk.centroid)), 1)
                (permit_final if table == "permits" else supply_final)[i] = shifted
            elif kind == "outside_jurisdiction":
                self._outside(entry, permit_final)

    def _outside(self, entry: Entry, permit_final: list) -> None:
        """A red line 1.5–6 km beyond Chongqing's northern border, on the 广安 side."""
        union, cand = _border_points(self.ref)
        while True:
            base = cand[int(self.rng.integers(len(cand)))]
            ang = float(self.rng.uniform(0, 2 * np.pi))
            step = float(self.rng.uniform(0.02, 0.05))
            lon, lat = base[0] + step * np.cos(ang), base[1] + step * np.sin(ang)
            e, n = LL_TO_4524.transform(lon, lat)
            red = shapely.box(e - 45.0, n - 35.0, e + 45.0, n + 35.0)
            ll = shapely.transform(red, lambda c: np.stack(GK_TO_LL_4524.transform(c[:, 0], c[:, 1]), -1))
            if shapely.intersects(union, ll.buffer(0.01)):
                continue  # inside, or closer than ~1 km to the border
            near = shapely.Point(
                shapely.get_coordinates(shapely.shortest_line(union, shapely.Point(lon, lat)))[0]
            )
            ne, nn = LL_TO_4524.transform(near.x, near.y)
            break
        i = entry.index
        permit_final[i] = red
        county = self.ref.county_codes[int(np.argmin(shapely.distance(self.ref.county_geoms, near)))]
        self.permits.meta["county"][i] = county
        self.permits.cols["用地面积"][i] = round(red.area, 2)
        self.permits.cols["建筑面积"][i] = round(red.area * 2.5, 2)
        entry.detail.update(
            lon=round(lon, 6),
            lat=round(lat, 6),
            outside_by_km=round(float(np.hypot(e - ne, n - nn)) / 1000.0, 2),
            region="四川省广安市（重庆市界外）",
        )


GK_TO_LL_4524 = Transformer.from_crs(4524, 4490, always_xy=True)


@functools.cache
def _border_points(ref: RefData) -> tuple[shapely.Geometry, np.ndarray]:
    """Chongqing's outline and its vertices on the border with 广安 (computed once per process)."""
    union = shapely.union_all(ref.county_geoms)
    xy = shapely.get_coordinates(union.boundary)
    x0, y0, x1, y1 = GUANG_AN_BOX
    return union, xy[(xy[:, 0] > x0) & (xy[:, 0] < x1) & (xy[:, 1] > y0) & (xy[:, 1] < y1)]


def _first_vertex(geom) -> list[float]:
    x, y = shapely.get_coordinates(geom)[0]
    return [round(float(x), 3), round(float(y), 3)]


def _project(xy: np.ndarray, target: Transformer, inverse: bool = False) -> np.ndarray:
    if inverse:
        lon, lat = target.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
        x, y = Transformer.from_crs(4490, 4545, always_xy=True).transform(lon, lat)
        return np.stack([x, y], -1)
    lon, lat = GK_TO_LL.transform(xy[:, 0], xy[:, 1])
    return np.stack(target.transform(lon, lat), -1)


def _gcj_project(xy: np.ndarray, target: Transformer) -> np.ndarray:
    lon, lat = GK_TO_LL.transform(xy[:, 0], xy[:, 1])
    glon, glat = wgs84_to_gcj02(lon, lat)
    x, y = target.transform(glon, glat)
    return np.round(np.stack([x, y], -1), 3)


def apply_local(
    plan: Plan, reg: Registration, permits: Table, supply: Table, ref: RefData, rng: np.random.Generator
) -> tuple[list[Entry], RecordDefects]:
    """Apply every permit and supply slot; returns the entries and the object holding the CRS jobs."""
    d = RecordDefects(plan, reg, permits, supply, ref, rng)
    entries = []
    for slot in plan.slots:
        if slot.spec.table not in ("permits", "supply"):
            continue
        name = slot.spec.kind
        if not hasattr(d, name):
            name = f"{slot.spec.kind}__{slot.spec.table}"
        entries.append(getattr(d, name)(slot, slot.parcels.get("target", -1)))
    return entries, d
