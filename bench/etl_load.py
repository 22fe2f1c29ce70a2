"""ETL load benchmark: OneMap's full ``etl_run`` against a bare ``ogr2ogr`` COPY load of the same file.

Usage (from the repository root)::

    .venv/bin/python bench/etl_load.py [--rows 200000] [--bad-fraction 0.01] [--keep] [--yes]

It writes a realistic registration export (``ZDJBXX.shp`` with N parcels + a tiny ``ZRZ.shp``; GBK without
``.cpg``, EPSG:4545, TD/T 1066 field names, valid codes) and a variant with bad rows, then times in the same
run and the same database:

1. ``ogr2ogr -f PostgreSQL ... --config PG_USE_COPY YES`` of each file (the reference; table dropped after);
2. ``manage.py etl_run registration DIR --json`` (every validation of the mapping on): first load of the
   clean file, re-run of the unchanged file, first load of the file with bad rows;
3. a dry run of an export of N/2 rows: the second point of the memory-flatness check.

Each step runs in a child process forked from a tiny launcher; its peak RSS comes from ``os.wait4`` (that
command alone: the database server's memory is not counted). It prints a table (rows, seconds, features/s,
ratio to ogr2ogr, peak RSS), the ``--json`` counts of every run, and PASS/FAIL per target (figures, not
assertions). The exit status is about correctness only: 1 when the first load did not add N parcels, the
re-run did not find N unchanged or the bad file's rejections are not the planted ones; 2 when a step failed.

Before each first load the unified tables are emptied of registration rows (TRUNCATE when they hold nothing
else, DELETE otherwise). What the planner then believes about them decides the plan of the merge, so it is
fixed, not left to autovacuum's timing: ``--empty-tables analyzed`` (default) ANALYZEs them, statistics "0
rows", as autovacuum leaves a table within a minute of a mass delete and as ``vacuumdb --analyze`` leaves a
new database; ``--empty-tables fresh`` keeps them truncated and never analysed, as right after ``migrate``,
pausing autovacuum on the two tables until the load is done. Before the re-run the tables are ANALYZEd,
as autovacuum does within a minute of a large load.

THIS DELETES DATA: every ``registration`` row of ``layers_parcel`` and ``layers_building`` (and their
history) in the configured database, before each first load and at the end (unless ``--leave-data``), and
the benchmark's load runs. It needs ``--yes`` (or ``ONEMAP_BENCH_YES=1``) unless the database is the
embedded development cluster. Others use that one too: better give the bench a database of its own::

    psql ... -c 'CREATE DATABASE onemap_bench OWNER onemap'
    export DATABASE_URL=postgres://onemap:PASSWORD@127.0.0.1:5499/onemap_bench
    .venv/bin/python manage.py migrate && .venv/bin/python bench/etl_load.py --yes

Profiling a load: ``.venv/bin/python -m cProfile -o etl.prof manage.py etl_run registration DIR --json``
on an export kept with ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

MIB = 1024 * 1024
GIB_ROWS = 1_000_000  # the memory target is stated at 1M rows
MARKER = "onemap-etl-bench-"  # in the export folder name, so the bench's load runs can be found again
ORIGIN = (106.5700, 29.5600)  # 渝中区解放碑
PROBE_MIN_ROWS = 1_000  # the memory probe (a dry run of N/2 rows) is at least this big

# --- what a registration export contains -----------------------------------------------------------------

ROADS = (
    "民权路 民生路 中山一路 中山二路 中山三路 临江路 和平路 沧白路 新华路 解放东路 解放西路 较场口 "
    "七星岗 两路口 上清寺路 大坪正街 石油路 袁家岗 杨家坪正街 谢家湾正街 黄桷坪正街 南坪正街 江南大道 "
    "建新北路 建新南路 观音桥步行街 红旗河沟 龙头寺路 嘉陵路 渝澳大道 金开大道 金山大道 沙坪坝正街 "
    "小龙坎正街 天星桥正街 汉渝路 学府大道 科园一路 科园四路 华岩路 白市驿路 西永大道 大学城南路 "
    "龙湖大道 人和大道 鸳鸯路 礼嘉大道 悦来大道 松牌路 五里店路 海峡路 南城大道 长江一路 长江二路 "
    "渝州路 高新大道 二郎路 九龙大道 滨江路 北滨一路 北滨二路 南滨路 黄泥磅路 新牌坊路 龙溪路 加州路"
).split()
BRANDS = (
    "渝开发 龙湖 金科 华宇 融创 协信 隆鑫 鲁能 万科 新鸥鹏 渝富 长安 宗申 庆铃 力帆 华润 招商 保利".split()
)
TRADES = "置业 房地产开发 实业 投资 物业管理 商贸 建设 城市建设投资".split()
SURNAMES = "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 冉 谭 向 彭".split()
GIVEN = "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀英 华 平 刚 桂英 建国 志强 红梅 小红".split()
REGISTRARS = "张伟 王芳 李娜 刘洋 陈静 杨帆 赵磊 黄敏 周杰 吴婷".split()
REMARKS = ["已办理抵押登记", "分割自原宗地", "合并宗地", "补录", "更正登记"]
# GB/T 21010-2017 second-level classes of an urban district, with plausible shares
LAND_USES = {
    "0701": 45, "0601": 10, "0501": 6, "0505": 5, "0803": 4, "0604": 3, "0810": 3, "1004": 3,
    "0702": 3, "0504": 2, "0503": 2, "0805": 2, "0801": 2, "0809": 2, "1005": 2, "0502": 1,
    "0506": 1, "0507": 1, "0807": 1, "0808": 1, "0804": 1,
}  # fmt: skip
RJL_RANGE = {"07": (1.2, 4.5), "05": (1.5, 6.0), "06": (0.8, 2.0)}  # 容积率 by first-level class
# street grid: blocks of 8 x 2 back-to-back parcels, 24 m frontage, 32 m deep, 18 m streets
PARCEL_W, PARCEL_D, BLOCK_NX, BLOCK_NY, STREET = 24.0, 32.0, 8, 2, 18.0


def _hash01(ix: np.ndarray, iy: np.ndarray, salt: float) -> np.ndarray:
    """Deterministic pseudo-random in [0, 1) per grid node, so neighbours share jittered corners."""
    v = np.sin(ix * 12.9898 + iy * 78.233 + salt * 37.719) * 43758.5453
    return v - np.floor(v)


def _pick(rng: np.random.Generator, choices, n: int, weights=None) -> np.ndarray:
    choices = np.asarray(choices)
    p = None if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    return choices[rng.choice(len(choices), size=n, p=p)]


def _cat(*parts) -> np.ndarray:
    """Element-wise string concatenation of numpy string arrays / scalars."""
    out = np.asarray(parts[0], dtype=str)
    for part in parts[1:]:
        out = np.char.add(out, np.asarray(part, dtype=str))
    return out


def _zfill(values: np.ndarray, width: int) -> np.ndarray:
    return np.char.zfill(values.astype(str), width)


@dataclass
class Export:
    folder: Path
    rows: int
    buildings: int
    bad: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> row indexes (0-based)

    @property
    def expected_rejected(self) -> int:
        return len(self.bad.get("county", ())) + len(self.bad.get("land_use", ()))


def _counties():
    """(prepared MultiPolygons in EPSG:4490, codes, names) of the shipped county boundaries."""
    import shapely

    doc = json.loads((BASE_DIR / "layers/data/chongqing_counties_tianditu.geojson").read_text("utf-8"))
    geoms = np.array([shapely.from_geojson(json.dumps(f["geometry"])) for f in doc["features"]])
    shapely.prepare(geoms)
    codes = np.array([f["properties"]["adcode"] for f in doc["features"]])
    names = np.array([f["properties"]["name"] for f in doc["features"]])
    return geoms, codes, names


def build_parcels(n: int, seed: int) -> dict:
    """N parcels as columns + six-vertex quads (EPSG:4545 coordinates, shape (n, 6, 2)), all valid."""
    import shapely
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    to_gk = Transformer.from_crs(4490, 4545, always_xy=True)
    to_geo = Transformer.from_crs(4545, 4490, always_xy=True)
    ox, oy = to_gk.transform(*ORIGIN)
    per_block = BLOCK_NX * BLOCK_NY
    block_w = BLOCK_NX * PARCEL_W + STREET
    block_h = BLOCK_NY * PARCEL_D + STREET
    n_blocks = math.ceil(n / per_block)
    cols = max(1, math.ceil(math.sqrt(n_blocks * block_h / block_w)))
    rows_ = math.ceil(n_blocks / cols)
    i = np.arange(n)
    b, k = np.divmod(i, per_block)
    br, bc = np.divmod(b, cols)
    py, px = np.divmod(k, BLOCK_NX)
    # grid nodes: global column / row indexes of the four corners
    gx = bc * (BLOCK_NX + 1) + px
    gy = br * (BLOCK_NY + 1) + py
    x_left = ox - cols * block_w / 2 + bc * block_w + px * PARCEL_W
    y_low = oy - rows_ * block_h / 2 + br * block_h + py * PARCEL_D

    def corner(dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
        jx = (_hash01(gx + dx, gy + dy, 1.0) - 0.5) * 3.0  # ±1.5 m, shared by the neighbours
        jy = (_hash01(gx + dx, gy + dy, 2.0) - 0.5) * 3.0
        return x_left + dx * PARCEL_W + jx, y_low + dy * PARCEL_D + jy

    c00, c10, c11, c01 = corner(0, 0), corner(1, 0), corner(1, 1), corner(0, 1)
    # sixth vertex: a surveyed point on the street-facing edge (bottom row faces south, top row north)
    t = 0.35 + 0.3 * rng.random(n)
    front_south = py == 0
    mx = np.where(front_south, c00[0] + t * (c10[0] - c00[0]), c11[0] + t * (c01[0] - c11[0]))
    my = np.where(front_south, c00[1] + t * (c10[1] - c00[1]), c11[1] + t * (c01[1] - c11[1]))
    mx += (rng.random(n) - 0.5) * 0.4
    my += np.where(front_south, -1, 1) * rng.random(n) * 0.3  # bulges slightly towards the street
    coords = np.empty((n, 6, 2))
    south = [c00, (mx, my), c10, c11, c01, c00]
    north = [c00, c10, c11, (mx, my), c01, c00]
    for v in range(6):
        coords[:, v, 0] = np.where(front_south, south[v][0], north[v][0])
        coords[:, v, 1] = np.where(front_south, south[v][1], north[v][1])
    polygons = shapely.polygons(coords)
    area = shapely.area(polygons)

    # county of each parcel from the shipped boundaries (the jurisdiction check uses the same polygons)
    lon, lat = to_geo.transform(*shapely.get_coordinates(shapely.centroid(polygons)).T)
    points = shapely.points(lon, lat)
    county_geoms, county_codes, county_names = _counties()
    tree = shapely.STRtree(county_geoms)
    pt_idx, poly_idx = tree.query(points, predicate="within")
    which = np.full(n, -1)
    which[pt_idx] = poly_idx
    if (which < 0).any():
        raise SystemExit(f"{int((which < 0).sum())} parcels fall outside Chongqing: the grid is too large")
    qxdm = county_codes[which]

    # ZDDM: county + 地籍区 (1 km cells) + 地籍子区 (250 m cells) + G + B/S/X + sequence in the 子区
    cell = 1000.0
    sub = 250.0
    ex, ny = x_left - (ox - 30_000), y_low - (oy - 30_000)
    district = 1 + (np.floor(ex / cell) % 31 + 31 * (np.floor(ny / cell) % 31)).astype(int)
    subdistrict = 1 + (np.floor(ex % cell / sub) + 4 * np.floor(ny % cell / sub)).astype(int)
    group = (which.astype(np.int64) * 1000 + district) * 1000 + subdistrict
    order = np.lexsort((i, group))
    sorted_group = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    sequence = np.empty(n, dtype=np.int64)
    sequence[order] = np.arange(n) - run_start + 1
    if sequence.max() > 99999:
        raise SystemExit("more than 99,999 parcels in one 地籍子区: shrink the cells")
    qlsdfs = _pick(rng, ["1", "2", "3"], n, [95, 3, 2])
    right = np.select([qlsdfs == "2", qlsdfs == "3"], ["S", "X"], "B")
    zddm = _cat(qxdm, _zfill(district, 3), _zfill(subdistrict, 3), "G", right, _zfill(sequence, 5))
    bdcdyh = _cat(zddm, "W00000000")

    yt = _pick(rng, list(LAND_USES), n, list(LAND_USES.values()))
    first = np.char.ljust(yt.astype("<U4"), 4).astype("<U2")
    lo = np.full(n, 0.8)
    hi = np.full(n, 3.0)
    for cls, (a, z) in RJL_RANGE.items():
        lo[first == cls], hi[first == cls] = a, z
    rjl = np.round(lo + (hi - lo) * rng.random(n), 2)
    jzmd = np.round(20 + 25 * rng.random(n), 2)
    jzxg = np.round(np.clip(rjl / np.maximum(jzmd, 1) * 100 * 3.2, 12, 150), 2)
    zdmj = np.round(area * (1 + (rng.random(n) - 0.5) * 0.02), 2)  # declared within ±1 % of the drawing
    county_name = dict(zip(county_codes, county_names, strict=True))
    names = np.array([county_name[c] for c in county_codes])[np.searchsorted(county_codes, qxdm)]
    street = np.array(ROADS)[(br * 7 + bc // 9) % len(ROADS)]
    number = (bc % 9) * BLOCK_NX * 2 + px * 2 + np.where(py == 0, 1, 2)
    zl = _cat(names, street, number, "号")
    company = rng.random(n) < np.where(np.isin(first, ["07"]), 0.35, 0.9)
    qlr_company = _cat("重庆", _pick(rng, BRANDS, n), _pick(rng, TRADES, n), "有限公司")
    qlr_person = _cat(_pick(rng, SURNAMES, n), _pick(rng, GIVEN, n))
    qlr = np.where(company, qlr_company, qlr_person)
    days = (np.datetime64("2024-12-31") - np.datetime64("1998-01-01")).astype(int)
    djsj = np.datetime64("1998-01-01") + rng.integers(0, days, n).astype("timedelta64[D]")
    qllx = _pick(rng, ["3", "4"], n, [70, 30])
    qlxz = _pick(rng, ["102", "101", "104"], n, [75, 20, 5])
    bz = np.where(rng.random(n) < 0.08, _pick(rng, REMARKS, n), "")
    return {
        "coords": coords,
        "columns": {
            "BSM": np.arange(1, n + 1, dtype=np.int32),
            "ZDDM": zddm,
            "BDCDYH": bdcdyh,
            "QXDM": qxdm,
            "ZL": zl,
            "ZDMJ": zdmj,
            "YT": yt,
            "QLLX": qllx,
            "QLXZ": qlxz,
            "QLSDFS": qlsdfs,
            "RJL": rjl,
            "JZMD": jzmd,
            "JZXG": jzxg,
            "QLR": qlr,
            "DJSJ": djsj,
            "DBR": _pick(rng, REGISTRARS, n),
            "ZT": np.full(n, "1"),
            "BZ": bz,
        },
    }


def plant_bad_rows(parcels: dict, fraction: float) -> dict[str, np.ndarray]:
    """Spoil ``fraction`` of the rows, spread evenly over the file, in three ways (in place)."""
    cols, coords = parcels["columns"], parcels["coords"]
    n = len(cols["BSM"])
    m = round(n * fraction)
    if m == 0:
        return {}
    rows = np.unique(np.linspace(0, n - 1, m).round().astype(np.int64))
    kinds = {"county": rows[0::3], "land_use": rows[1::3], "self_intersection": rows[2::3]}
    zddm = cols["ZDDM"].copy()  # 500199 is no county of Chongqing: ZDDM and BDCDYH both fail
    zddm[kinds["county"]] = ["500199" + z[6:] for z in zddm[kinds["county"]]]
    cols["ZDDM"], cols["BDCDYH"] = zddm, np.char.add(zddm, "W00000000")
    yt = cols["YT"].copy()  # 0799 does not exist, 072 is a GB/T 21010-2007 code
    yt[kinds["land_use"]] = np.where(np.arange(len(kinds["land_use"])) % 2, "0799", "072")
    cols["YT"] = yt
    sel = kinds["self_intersection"]
    # swap the 3rd and 4th vertices: a bow-tie ring (repaired with a warning by the mapping's policy)
    coords[sel, 2], coords[sel, 3] = coords[sel, 3].copy(), coords[sel, 2].copy()
    return kinds


def _write_shapefile(path: Path, geoms_wkb: np.ndarray, columns: dict) -> None:
    import pyogrio

    # numpy str arrays (not object arrays): pyogrio then sizes each text field to its longest value in
    # GBK bytes (ZDDM C(19) ...), as the registration system writes them, instead of C(80)
    values = [np.asarray(v, dtype=str) if v.dtype.kind in "OUS" else v for v in columns.values()]
    pyogrio.raw.write(
        path, geoms_wkb, values, list(columns), crs="EPSG:4545", encoding="GBK", geometry_type="Polygon"
    )
    # GBK without a .cpg and with no language driver: the export as the registration system hands it over
    path.with_suffix(".cpg").unlink(missing_ok=True)
    with open(path.with_suffix(".dbf"), "r+b") as fh:
        fh.seek(29)
        fh.write(b"\x00")


def write_export(folder: Path, parcels: dict, buildings: int = 8) -> None:
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    polygons = shapely.polygons(parcels["coords"])
    _write_shapefile(folder / "ZDJBXX.shp", shapely.to_wkb(polygons), parcels["columns"])
    # a handful of buildings on the first parcels, so the mapping's second target finds its file
    pick = np.arange(min(buildings, len(polygons)))
    footprints = shapely.buffer(polygons[pick], -4.0, join_style="mitre")
    zddm = np.asarray(parcels["columns"]["ZDDM"])[pick].astype(str)
    m = len(pick)
    columns = {
        "BSM": np.arange(1, m + 1, dtype=np.int32),
        "BDCDYH": np.char.add(zddm, "F00010001"),
        "ZDDM": zddm,
        "ZRZH": np.full(m, "0001"),
        "XMMC": np.full(m, "解放碑商住楼"),
        "JZWMC": _cat(pick + 1, "号楼"),
        "JGRQ": np.full(m, np.datetime64("2012-06-30")),
        "JZWGD": np.full(m, 54.0),
        "ZZDMJ": np.round(shapely.area(footprints), 2),
        "SCJZMJ": np.round(shapely.area(footprints) * 18, 2),
        "YCJZMJ": np.round(shapely.area(footprints) * 18, 2),
        "ZCS": np.full(m, 18, dtype=np.int32),
        "DSCS": np.full(m, 18, dtype=np.int32),
        "DXCS": np.full(m, 1, dtype=np.int32),
        "GHYT": np.full(m, "11"),
        "FWJG": np.full(m, "3"),
        "ZTS": np.full(m, 144, dtype=np.int32),
    }
    _write_shapefile(folder / "ZRZ.shp", shapely.to_wkb(footprints), columns)


def make_exports(root: Path, n: int, bad_fraction: float, seed: int) -> tuple[Export, Export, Export]:
    parcels = build_parcels(n, seed)
    write_export(root / "clean", parcels)
    probe = build_parcels(max(n // 2, min(PROBE_MIN_ROWS, n)), seed + 1)
    write_export(root / "probe", probe)
    kinds = plant_bad_rows(parcels, bad_fraction)
    write_export(root / "bad", parcels)
    return (
        Export(root / "clean", n, 8),
        Export(root / "bad", n, 8, kinds),
        Export(root / "probe", len(probe["columns"]["BSM"]), 8),
    )


# --- running and measuring -------------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    rows: int
    seconds: float
    rss_mib: float
    reference: Step | None = None
    counts: dict | None = None
    parcels: dict | None = None
    run_id: int | None = None
    in_run_seconds: float | None = None
    cpu_seconds: float | None = None  # the command's CPU plus the database server's, when measurable

    @property
    def cpu_ratio(self) -> float | None:
        if not (self.reference and self.cpu_seconds and self.reference.cpu_seconds):
            return None
        return self.reference.cpu_seconds / self.cpu_seconds

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")

    @property
    def ratio(self) -> float | None:
        return self.rate / self.reference.rate if self.reference else None


# Linux carries the parent's peak RSS over fork+exec into the child's ru_maxrss, so a child forked from this
# (large) process would report at least our own size. Children are therefore forked from a tiny launcher.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


SERVER_PORT: int | None = None  # set by main(): the port of the database the bench uses


def server_cpu_seconds() -> float | None:
    """CPU used so far by the database server, when it is this checkout's embedded cluster: the postmaster's
    own time plus its children's, live (from /proc) and finished (accumulated in the postmaster)."""
    try:
        lines = (BASE_DIR / "var" / "pg" / "postmaster.pid").read_text().splitlines()
        postmaster, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if port != SERVER_PORT:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == postmaster:
            total += sum(int(f) for f in fields[11:15]) / ticks
        elif int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measured(cmd: list[str], env: dict | None = None) -> tuple[int, float, float, str, str, float | None]:
    """Run ``cmd``; (exit status, wall seconds, peak RSS of the command in MiB, stdout, stderr, CPU seconds
    of the command and the database server together, or None when the server's cannot be measured).

    On a machine shared with other work the wall clock of both the reference and OneMap suffers from the
    contention; CPU time much less, so the CPU ratio is printed beside the throughput ratio."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile() as rss,
    ):
        server_before = server_cpu_seconds()
        start = time.perf_counter()
        status = subprocess.run(
            [sys.executable, "-I", "-c", LAUNCHER, rss.name, *cmd],
            stdout=out,
            stderr=err,
            cwd=BASE_DIR,
            env=env,
        ).returncode
        seconds = time.perf_counter() - start
        server_after = server_cpu_seconds()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        maxrss_kib, client_cpu = (Path(rss.name).read_text() or "0 0").split()
    cpu = None
    if server_before is not None and server_after is not None:
        cpu = float(client_cpu) + server_after - server_before
    return status, seconds, int(maxrss_kib) / 1024, stdout, stderr, cpu


def fail(step: str, stdout: str, stderr: str) -> None:
    print(f"\n!! {step} failed", file=sys.stderr)
    print((stdout[-3000:] + "\n" + stderr[-3000:]).strip(), file=sys.stderr)
    raise SystemExit(2)


def ogr2ogr(export: Export, name: str, database: dict) -> Step:
    conn = " ".join(
        f"{k}={v}"
        for k, v in (
            ("host", database.get("HOST") or "localhost"),
            ("port", database.get("PORT") or 5432),
            ("dbname", database["NAME"]),
            ("user", database.get("USER") or ""),
            ("sslmode", (database.get("OPTIONS") or {}).get("sslmode", "")),
        )
        if v
    )
    env = {**os.environ, "PGPASSWORD": str(database.get("PASSWORD") or "")}  # not on the command line
    cmd = [
        "ogr2ogr", "-f", "PostgreSQL", f"PG:{conn}", str(export.folder / "ZDJBXX.shp"),
        "-nln", "bench_ogr", "-t_srs", "EPSG:4490", "-nlt", "MULTIPOLYGON",
        "-lco", "GEOMETRY_NAME=geom", "-lco", "FID=id", "-oo", "ENCODING=CP936",
        "--config", "PG_USE_COPY", "YES", "-overwrite",
    ]  # fmt: skip
    try:
        status, seconds, rss, stdout, stderr, cpu = measured(cmd, env)
        if status:
            fail(name, stdout, stderr)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_ogr")
            loaded = cursor.fetchone()[0]
        if loaded != export.rows:
            print(f"!! ogr2ogr loaded {loaded} rows, not {export.rows}", file=sys.stderr)
            raise SystemExit(2)
    finally:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_ogr")
    return Step(name, export.rows, seconds, rss, cpu_seconds=cpu)


def best_of(n: int, step, before=None, first_before: bool = False) -> Step:
    """Run ``step`` n times (``before`` ahead of every repetition but the first, unless ``first_before``):
    the fastest run, with the highest peak RSS of all (a noisy machine slows runs down, never speeds them
    up)."""
    runs = []
    for i in range(n):
        if before is not None and (i or first_before):
            before()
        runs.append(step())
    best = min(runs, key=lambda r: r.seconds)
    best.rss_mib = max(r.rss_mib for r in runs)
    return best


def etl_run(export: Export, name: str, reference: Step | None, dry_run: bool = False) -> Step:
    from etl.models import LoadRun

    cmd = [sys.executable, "manage.py", "etl_run", "registration", str(export.folder), "--json"]
    if dry_run:
        cmd.append("--dry-run")
    status, seconds, rss, stdout, stderr, cpu = measured(cmd, {**os.environ})
    if status:
        fail(name, stdout, stderr)
    summary = json.loads([line for line in stdout.splitlines() if line.strip()][-1])
    run = LoadRun.objects.get(pk=summary["run"])
    in_run = (run.finished_at - run.started_at).total_seconds()
    return Step(
        name,
        export.rows,
        seconds,
        rss,
        reference,
        summary["counts"],
        run.per_target.get("parcels", {}),
        run.pk,
        in_run,
        cpu,
    )


# --- the database ----------------------------------------------------------------------------------------

UNIFIED = ("layers_parcel", "layers_building")


def clear_registration(mode: str | None = None) -> list[str]:
    """Delete every registration row of the tables the bench writes, their history and the bench's runs;
    ``mode`` 'analyzed' ANALYZEs the emptied tables, 'fresh' leaves them truncated (see the module doc).
    Returns what was done."""
    from django.db import DatabaseError, connection, transaction

    done = []
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            with transaction.atomic():  # savepoint: fall back to a plain (slower) delete without superuser
                cursor.execute("SET LOCAL session_replication_role = replica")  # no history triggers
        except DatabaseError:
            pass
        for table in UNIFIED:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE src_system <> 'registration')")
            if cursor.fetchone()[0]:
                cursor.execute(f"DELETE FROM {table} WHERE src_system = 'registration'")
                done.append(f"{table}: {cursor.rowcount} rows deleted (it holds other systems' rows too)")
            else:
                cursor.execute(f"TRUNCATE {table}")
                done.append(f"{table}: truncated")
            cursor.execute(f"DELETE FROM {table}_history WHERE data->>'src_system' = 'registration'")
        cursor.execute("SELECT id FROM etl_loadrun WHERE source_path LIKE %s", [f"%{MARKER}%"])
        runs = [r for (r,) in cursor.fetchall()]
        cursor.execute("UPDATE etl_problem SET resolved_by_id = NULL WHERE resolved_by_id = ANY(%s)", [runs])
        cursor.execute(
            "UPDATE etl_loadrun SET only_rejected_of_id = NULL WHERE only_rejected_of_id = ANY(%s)", [runs]
        )
        cursor.execute("DELETE FROM etl_problem WHERE run_id = ANY(%s)", [runs])
        cursor.execute("DELETE FROM etl_loadrun WHERE id = ANY(%s)", [runs])
    if mode == "analyzed":
        with connection.cursor() as cursor:
            for table in UNIFIED:
                cursor.execute(f"VACUUM ANALYZE {table}")
        done.append("analysed (statistics: 0 rows)")
    elif mode == "fresh":
        done.append("never analysed since (autovacuum paused on them)")
    return done


def pause_autovacuum(pause: bool) -> None:
    """Pause (or resume) autovacuum on the unified tables, unless it was switched off already."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in UNIFIED:
            cursor.execute(
                "SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = %s::regclass", [table]
            )
            options = cursor.fetchone()[0]
            if pause and "autovacuum_enabled=false" not in options:
                cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
                PAUSED.append(table)
            elif not pause and table in PAUSED:
                cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
                PAUSED.remove(table)


PAUSED: list[str] = []


def analyze_unified() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in UNIFIED:
            cursor.execute(f"ANALYZE {table}")


def confirm_database(yes: bool) -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    embedded = not os.environ.get("DATABASE_URL")
    where = f"{db.get('USER')}@{db.get('HOST')}:{db.get('PORT')}/{db.get('NAME')}"
    print("=" * 100)
    kind = "the embedded development cluster" if embedded else "DATABASE_URL: NOT the embedded cluster"
    print("WARNING: this benchmark DELETES every 'registration' parcel and building, their history and")
    print(f"         the benchmark's load runs in the database {where}")
    print(f"         ({kind}).")
    print("=" * 100)
    if not embedded and not (yes or os.environ.get("ONEMAP_BENCH_YES") == "1"):
        print("Refusing: pass --yes (or set ONEMAP_BENCH_YES=1) to use this database.", file=sys.stderr)
        raise SystemExit(2)
    return db


# --- report ----------------------------------------------------------------------------------------------


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _cpu(step: Step) -> str:
    return "" if step.cpu_ratio is None else f" (per CPU second: {step.cpu_ratio:.2f}x)"


def report(steps: list[Step], rows: int, probe: Step, checks_ok: list[str]) -> bool:
    print()
    header = f"{'step':34} {'rows':>9} {'seconds':>9} {'in-run s':>9} {'features/s':>11} {'vs ogr2ogr':>10} "
    print(header + f"{'CPU s':>7} {'CPU vs ogr':>10} {'peak RSS MiB':>13}")
    print("-" * (len(header) + 32))
    for s in steps:
        in_run = "" if s.in_run_seconds is None else f"{s.in_run_seconds:.2f}"
        cpu = "" if s.cpu_seconds is None else f"{s.cpu_seconds:.1f}"
        print(
            f"{s.name:34} {s.rows:>9,} {s.seconds:>9.2f} {in_run:>9} {s.rate:>11,.0f} "
            f"{_fmt_ratio(s.ratio):>10} {cpu:>7} {_fmt_ratio(s.cpu_ratio):>10} {s.rss_mib:>13.0f}"
        )
    print(
        "seconds: wall clock of the child process (etl_run includes Django start-up); in-run: the LoadRun's "
        "own duration; CPU: the child's and the database server's (embedded cluster only), less sensitive "
        "than the wall clock to other work on the machine"
    )
    print()
    for s in steps:
        if s.counts is not None:
            print(f"{s.name:34} run #{s.run_id}: counts {json.dumps(s.counts)}")
            parcels = {k: s.parcels.get(k) for k in ("added", "updated", "unchanged", "deleted", "rejected")}
            print(f"{'':34} parcels {json.dumps(parcels)}")
    by = {s.name: s for s in steps}
    first, rerun, bad = (
        by["OneMap first load"],
        by["OneMap re-run (unchanged)"],
        by["OneMap first load (bad rows)"],
    )
    peak = max(s.rss_mib for s in (first, rerun, bad))
    slope = max(first.rss_mib - probe.rss_mib, 0.0) / max(first.rows - probe.rows, 1)  # MiB per row
    projected = peak + slope * max(GIB_ROWS - rows, 0)
    memory_basis = (
        f"measured {peak:.0f} MiB at {rows:,} rows"
        if rows >= GIB_ROWS
        else f"projected {projected:.0f} MiB at 1M rows: {probe.rss_mib:.0f} MiB at {probe.rows:,} rows (dry "
        f"run), {first.rss_mib:.0f} MiB at {first.rows:,} ({slope * 1024 * 1000:+.0f} KiB per 1,000 rows)"
    )
    try:
        from etl.sources import CHUNK_ROWS
    except ImportError:
        CHUNK_ROWS = None
    if rows < GIB_ROWS and CHUNK_ROWS and probe.rows < 2 * CHUNK_ROWS:
        memory_basis += (
            f"; inconclusive: the ETL reads {CHUNK_ROWS:,}-row chunks and the probe has fewer than two "
            "(run --rows 1000000)"
        )
    memory_value = peak if rows >= GIB_ROWS else projected
    targets = [
        ("first load >= 0.50x ogr2ogr features/s", first.ratio >= 0.5, f"{first.ratio:.2f}x{_cpu(first)}"),
        ("load with bad rows >= 0.45x ogr2ogr features/s", bad.ratio >= 0.45, f"{bad.ratio:.2f}x{_cpu(bad)}"),
        (
            "re-run of an unchanged file >= 2x faster than the first load",
            first.seconds / rerun.seconds >= 2,
            f"{first.seconds / rerun.seconds:.2f}x faster",
        ),
        ("peak RSS < 1 GiB at 1M rows (flat in N)", memory_value < 1024, memory_basis),
    ]
    print()
    print("Targets")
    for label, ok, detail in targets:
        print(f"  {'PASS' if ok else 'FAIL'}  {label:62} {detail}")
    print()
    print("Correctness")
    for line in checks_ok:
        print(f"  {line}")
    return all(line.startswith("OK") for line in checks_ok)


def check_counts(first: Step, rerun: Step, bad: Step, clean: Export, bad_export: Export) -> list[str]:
    lines = []

    def expect(label: str, got, want) -> None:
        lines.append(f"{'OK  ' if got == want else 'FAIL'} {label}: {got} (expected {want})")

    expect("first load: parcels added", first.parcels.get("added"), clean.rows)
    expect(
        "first load: added in total (parcels + buildings)",
        first.counts["added"],
        clean.rows + clean.buildings,
    )
    expect("first load: rejected", first.counts["rejected"], 0)
    expect("re-run: parcels unchanged", rerun.parcels.get("unchanged"), clean.rows)
    expect("re-run: unchanged in total", rerun.counts["unchanged"], clean.rows + clean.buildings)
    expect(
        "re-run: added + updated + deleted",
        rerun.counts["added"] + rerun.counts["updated"] + rerun.counts["deleted"],
        0,
    )
    expect(
        "bad rows: parcels rejected (county + land use)",
        bad.parcels.get("rejected"),
        bad_export.expected_rejected,
    )
    expect(
        "bad rows: parcels added", bad.parcels.get("added"), bad_export.rows - bad_export.expected_rejected
    )
    return lines


def code_version(folders: tuple[str, ...] = ("etl", "layers")) -> str:
    """The commit measured, and whether ``folders`` have uncommitted changes (the figures depend on them).
    Shared by the other benchmarks (``bench/queries.py``)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BASE_DIR, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *folders],
            capture_output=True,
            text=True,
            cwd=BASE_DIR,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="parcels in the export (default 200,000)")
    parser.add_argument("--bad-fraction", type=float, default=0.01, help="share of bad rows (default 0.01)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="time each step this many times and keep the fastest"
    )
    parser.add_argument("--keep", action="store_true", help="keep the export folders (path printed)")
    parser.add_argument("--yes", action="store_true", help="allow deleting registration data (not embedded)")
    parser.add_argument(
        "--empty-tables",
        choices=["analyzed", "fresh"],
        default="analyzed",
        help="state of the emptied tables before a first load: analysed (statistics 0 rows, as after "
        "autovacuum; default) or fresh (truncated, never analysed, autovacuum paused meanwhile)",
    )
    parser.add_argument(
        "--leave-data", action="store_true", help="leave the last load's rows and runs in the database"
    )
    args = parser.parse_args(argv)
    if args.rows < 10 or not 0 <= args.bad_fraction < 1:
        parser.error("--rows must be >= 10 and --bad-fraction in [0, 1)")
    if shutil.which("ogr2ogr") is None:
        parser.error("ogr2ogr (GDAL) is not installed")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "onemap.settings.dev")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up (finally) when killed
    from onemap.bootstrap import ensure_database

    ensure_database()
    import django

    django.setup()
    database = confirm_database(args.yes)
    global SERVER_PORT
    SERVER_PORT = (
        int(database.get("PORT") or 5432) if database.get("HOST") in ("127.0.0.1", "localhost") else None
    )

    root = Path(tempfile.mkdtemp(prefix=MARKER))
    try:
        t0 = time.perf_counter()
        clean, bad_export, probe_export = make_exports(root, args.rows, args.bad_fraction, args.seed)
        size = sum(p.stat().st_size for p in (root / "clean").iterdir()) / MIB
        bad_summary = ", ".join(f"{len(v)} {k}" for k, v in bad_export.bad.items())
        print(
            f"exports written in {time.perf_counter() - t0:.1f} s: {args.rows:,} parcels "
            f"({size:.0f} MiB) + {clean.buildings} buildings; bad variant: {bad_summary or 'none'}"
        )
        print(f"export folder: {root}")
        print(f"code: {code_version()} in {BASE_DIR}; {machine_load()}")

        n = args.repeat
        times = f" (best of {n})" if n > 1 else ""
        print(f"ogr2ogr (clean){times} ...", flush=True)
        ogr_clean = best_of(n, lambda: ogr2ogr(clean, "ogr2ogr", database))
        if args.empty_tables == "fresh":
            pause_autovacuum(True)
        print(f"emptying the tables: {'; '.join(clear_registration(args.empty_tables))}", flush=True)
        print(f"OneMap dry run of {probe_export.rows:,} rows (memory probe; tables empty) ...", flush=True)
        probe = etl_run(probe_export, "OneMap dry run (N/2, memory)", None, dry_run=True)
        print(f"OneMap first load{times} ...", flush=True)
        first = best_of(
            n,
            lambda: etl_run(clean, "OneMap first load", ogr_clean),
            before=lambda: clear_registration(args.empty_tables),
        )
        analyze_unified()  # a re-run comes long after the load: autovacuum has analysed the tables by then
        print(f"OneMap re-run of the unchanged file{times} (tables analysed) ...", flush=True)
        rerun = best_of(n, lambda: etl_run(clean, "OneMap re-run (unchanged)", ogr_clean))
        print(f"ogr2ogr (bad rows){times} ...", flush=True)
        ogr_bad = best_of(n, lambda: ogr2ogr(bad_export, "ogr2ogr (bad rows)", database))
        print(f"OneMap first load of the file with bad rows{times} ...", flush=True)
        bad = best_of(
            n,
            lambda: etl_run(bad_export, "OneMap first load (bad rows)", ogr_bad),
            before=lambda: clear_registration(args.empty_tables),
            first_before=True,
        )
        steps = [ogr_clean, first, rerun, ogr_bad, bad, probe]
        checks = check_counts(first, rerun, bad, clean, bad_export)
        ok = report(steps, args.rows, probe, checks)
        onemap_peak = max(s.rss_mib for s in (first, rerun, bad))
        print(
            f"\npeak RSS: ogr2ogr {ogr_clean.rss_mib:.0f} MiB, OneMap {onemap_peak:.0f} MiB (child processes "
            "only; the PostgreSQL server is not counted)"
        )
        print(f"after the run: {machine_load()} (concurrent load makes the timings noisy)")
        return 0 if ok else 1
    finally:
        pause_autovacuum(False)
        if not args.leave_data:
            clear_registration()
        if args.keep:
            print(f"exports kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
