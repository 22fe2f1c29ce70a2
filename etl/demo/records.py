"""The planning system's permits (规划许可) and the land-supply office's records (土地供应), clean.

Why derived from the parcels: in reality a supply contract names the parcel (宗地代码), the buyer becomes
the registered holder and the planning permits go to the same developer for the same land. Building the
three systems from one parcel record keeps them consistent, so only planted defects disagree.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import shapely

from . import attributes as attrs
from .plan import Plan
from .refdata import RefData
from .registration import Registration
from .tables import Table

PERMIT_FIELDS = [
    "许可证号",
    "证件类型",
    "项目名称",
    "建设单位",
    "用地性质",
    "用地面积",
    "建筑面积",
    "发证日期",
]
PERMIT_META = ["parcel", "ptype", "day", "county"]
PERMIT_TYPES = {"land": "建设用地规划许可证", "works": "建设工程规划许可证"}
PERMIT_PREFIX = {"land": "地字第", "works": "建字第"}

SUPPLY_FIELDS = [
    "序号",
    "合同编号",
    "宗地代码",
    "项目名称",
    "受让人",
    "坐落",
    "行政区",
    "供地方式",
    "土地用途",
    "面积（亩）",
    "成交价款（万元）",
    "签订日期",
    "约定开工日期",
    "约定竣工日期",
    "实际开工日期",
    "实际竣工日期",
    "计划投资（万元）",
    "已完成投资（万元）",
    "中心X",
    "中心Y",
    "范围WKT",
]
SUPPLY_META = ["parcel", "day", "county", "mode", "datefmt"]
SUPPLY_DATE_FIELDS = ["签订日期", "约定开工日期", "约定竣工日期", "实际开工日期", "实际竣工日期"]
_EPOCH = dt.date(1970, 1, 1)
MU = 10000.0 / 15.0  # 1 亩 = 666.67 m²
SUPPLY_MODE = {"102": "出让", "101": "划拨", "104": "租赁"}
UNIT_PRICE = {
    "0701": (4000, 15000),
    "0505": (5000, 20000),
    "0507": (3000, 10000),
    "0601": (250, 600),
    "0604": (250, 500),
}


def format_date(
    day: int, fmt: int, *, y: int | None = None, m: int | None = None, d: int | None = None
) -> str:
    """One of the four styles clerks type: 2016-3-1, 2016年3月1日, 20160301, 2016/03/01."""
    if y is None:
        date = _EPOCH + dt.timedelta(days=int(day))
        y, m, d = date.year, date.month, date.day
    return (f"{y}-{m}-{d}", f"{y}年{m}月{d}日", f"{y:04d}{m:02d}{d:02d}", f"{y}/{m:02d}/{d:02d}")[fmt]


def landuse_2007(ref: RefData, yt: str) -> str:
    return ref.one_to_one_2017_to_2007[yt]


def permit_values(
    reg: Registration, ref: RefData, p: int, ptype: str, day: int, red_line
) -> tuple[dict, dict]:
    """Attributes of a permit for parcel ``p``: same developer, project and (2007-coded) land use."""
    pc = reg.parcels.cols
    area = float(shapely.area(red_line))
    if ptype == "works":
        floor = sum(reg.buildings.cols["YCJZMJ"][i] for i in reg.buildings_of(p)) or area * pc["RJL"][p]
    else:
        floor = area * pc["RJL"][p]
    values = {
        "许可证号": "",
        "证件类型": PERMIT_TYPES[ptype],
        "项目名称": reg.parcels.meta["xmmc"][p],
        "建设单位": pc["QLR"][p],
        "用地性质": landuse_2007(ref, pc["YT"][p]),
        "用地面积": round(area, 2),
        "建筑面积": round(float(floor), 2),
        "发证日期": attrs.to_date(np.array([day]))[0],
    }
    return values, {"parcel": p, "ptype": ptype, "day": int(day), "county": pc["QXDM"][p]}


def permit_days(reg: Registration, p: int, ptype: str, rng: np.random.Generator) -> int:
    t0 = int(reg.parcels.meta["t0"][p])
    lo, hi = (20, 120) if ptype == "land" else (120, 190)
    return min(t0 + int(rng.integers(lo, hi)), attrs.days(str(attrs.AS_OF)) - 1)


def add_permit(
    permits: Table, reg: Registration, ref: RefData, p: int, ptype: str, rng, red_line=None
) -> int:
    """One clean permit on parcel ``p`` (red line: the parcel shrunk by 0.5 m unless given)."""
    if red_line is None:
        red_line = shapely.buffer(reg.parcels.geom[p], -0.5, join_style="mitre")
    values, meta = permit_values(reg, ref, p, ptype, permit_days(reg, p, ptype, rng), red_line)
    return permits.add(red_line, values, meta)


def supply_values(
    reg: Registration, ref: RefData, p: int, polygon, rng: np.random.Generator
) -> tuple[dict, dict]:
    """A supply record for parcel ``p``: contract, buyer, dates, price and investment progress."""
    pc, pm = reg.parcels.cols, reg.parcels.meta
    yt, qlxz = pc["YT"][p], pc["QLXZ"][p]
    mode = SUPPLY_MODE.get(qlxz, "出让")
    area = float(shapely.area(polygon))
    fmt = int(rng.integers(0, 4))
    t0 = int(pm["t0"][p])
    agreed_start = t0 + int(rng.integers(180, 365))
    agreed_done = agreed_start + int(rng.integers(730, 1095))
    asof = attrs.days(str(attrs.AS_OF))
    plan_invest = area * max(pc["RJL"][p], 0.3) * rng.uniform(2500, 5000) / 1e4
    built = not pm["vacant"][p]
    if built:
        start, done = int(pm["start"][p]), int(pm["done"][p])
        done_s = format_date(done, fmt)
        invest = plan_invest * rng.uniform(0.95, 1.1)
    elif rng.random() < 0.3 and t0 + 400 < asof:  # started, little built, nothing registered yet
        start, done_s = t0 + int(rng.integers(300, 400)), ""
        invest = plan_invest * rng.uniform(0.05, 0.3)
    else:  # not started: the idle-land analysis will look at these
        start, done_s, invest = None, "", 0.0
    if mode == "出让":
        lo, hi = UNIT_PRICE.get(yt, (1000, 3000))
        price = area * rng.uniform(lo, hi) / 1e4
    elif mode == "划拨":
        price = area * rng.uniform(100, 400) / 1e4
    else:
        price = area * rng.uniform(20, 60) / 1e4
    values = {
        "序号": 0,
        "合同编号": "",
        "宗地代码": pc["ZDDM"][p],
        "项目名称": pm["xmmc"][p],
        "受让人": pc["QLR"][p],
        "坐落": pc["ZL"][p],
        "行政区": ref.county_names[int(pm["county"][p])],
        "供地方式": mode,
        "土地用途": ref.landuse_2017[yt],
        "面积（亩）": f"{area / MU:.2f}",
        "成交价款（万元）": f"{price:.2f}",
        "签订日期": format_date(t0, fmt),
        "约定开工日期": format_date(agreed_start, fmt),
        "约定竣工日期": format_date(agreed_done, fmt),
        "实际开工日期": "" if start is None else format_date(start, fmt),
        "实际竣工日期": done_s,
        "计划投资（万元）": f"{plan_invest:.2f}",
        "已完成投资（万元）": f"{invest:.2f}",
        "中心X": "",
        "中心Y": "",
        "范围WKT": "",
    }
    meta = {"parcel": p, "day": t0, "county": pc["QXDM"][p], "mode": mode, "datefmt": fmt}
    return values, meta


def add_supply(supply: Table, reg: Registration, ref: RefData, p: int, rng, polygon=None) -> int:
    polygon = reg.parcels.geom[p] if polygon is None else polygon
    values, meta = supply_values(reg, ref, p, polygon, rng)
    return supply.add(polygon, values, meta)


def build_clean(plan: Plan, reg: Registration, ref: RefData, rng: np.random.Generator) -> tuple[Table, Table]:
    """Clean permits and supply records on the normal (defect-free) blocks' state-owned parcels."""
    pm = reg.parcels.meta
    normal_block = (plan.owner_slot < 0) & (plan.collective == "") & ~plan.empty
    blocks = np.asarray(pm["block"])
    eligible = normal_block[blocks] & (np.asarray(pm["kind"]) == "normal")
    permits = Table(PERMIT_FIELDS, PERMIT_META)
    supply = Table(SUPPLY_FIELDS, SUPPLY_META)

    n_perm = plan.targets["permits"] - sum(s.spec.table == "permits" for s in plan.slots)
    n_both = max(0, round(n_perm / 3))
    n_single = max(0, n_perm - 2 * n_both)
    chosen = rng.permutation(np.nonzero(eligible)[0])[: n_both + n_single]
    both = set(chosen[:n_both].tolist())
    chosen = np.sort(chosen)
    geoms = np.empty(len(reg.parcels), dtype=object)
    geoms[:] = reg.parcels.geom
    red_lines = shapely.buffer(geoms[chosen], -0.5, join_style="mitre")  # one vectorised call
    for p, red in zip(chosen.tolist(), red_lines, strict=True):
        kinds = ("land", "works") if p in both else (("land",) if rng.random() < 0.5 else ("works",))
        for ptype in kinds:
            add_permit(permits, reg, ref, p, ptype, rng, red)

    n_sup = plan.targets["supply"] - sum(s.spec.table == "supply" for s in plan.slots)
    pool = np.nonzero(eligible & ~np.asarray(pm["no_supply"], dtype=bool))[0]
    for p in sorted(rng.permutation(pool)[: max(0, n_sup)].tolist()):
        add_supply(supply, reg, ref, p, rng)
    return permits, supply
