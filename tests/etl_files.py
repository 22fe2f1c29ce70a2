"""Tiny real exports written by the tests (shapefile, GeoPackage, CSV, XLSX), in the systems' own shapes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyproj import Transformer

TO_4545 = Transformer.from_crs(4490, 4545, always_xy=True)
TO_4524 = Transformer.from_crs(4490, 4524, always_xy=True)
TO_2381 = Transformer.from_crs(4490, 2381, always_xy=True)
ORIGIN = (106.5700, 29.5600)  # 渝中区


def gk_square(i: int, size: float = 50.0, transformer=TO_4545, dx: float = 0.0) -> shapely.Polygon:
    """A square parcel ``i`` on a row east of the origin, in the transformer's CRS."""
    x0, y0 = transformer.transform(*ORIGIN)
    x = x0 + i * (size + 20) + dx
    return shapely.box(x, y0, x + size, y0 + size)


def parcel_rows(n: int = 5) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "BSM": i + 1,
                "ZDDM": f"500103001001GB{i + 1:05d}",
                "BDCDYH": f"500103001001GB{i + 1:05d}W00000000",
                "QXDM": "500103",
                "ZL": f"渝中区民权路{i + 1}号",
                "ZDMJ": 2500.0,
                "YT": "0701",
                "QLLX": "3",
                "QLXZ": "102",
                "QLSDFS": "1",
                "RJL": 2.5,
                "JZMD": 30.0,
                "JZXG": 80.0,
                "QLR": "重庆测试置业有限公司",
                "DJSJ": "2016-03-01",
                "DBR": "张三",
                "ZT": "1",
                "BZ": "",
                "geometry": gk_square(i),
            }
        )
    return rows


def building_rows(parcels: list[dict]) -> list[dict]:
    rows = []
    for i, parcel in enumerate(parcels):
        footprint = parcel["geometry"].buffer(-10, join_style="mitre")
        rows.append(
            {
                "BSM": i + 1,
                "BDCDYH": parcel["ZDDM"] + "F00010000",
                "ZDDM": parcel["ZDDM"],
                "ZRZH": "0001",
                "XMMC": "测试花园",
                "JZWMC": "1号楼",
                "JGRQ": "2018-06-30",
                "JZWGD": 60.0,
                "ZZDMJ": 900.0,
                "SCJZMJ": 18000.0,
                "YCJZMJ": 18000.0,
                "ZCS": 20,
                "DSCS": 20,
                "DXCS": 1,
                "GHYT": "10",
                "FWJG": "3",
                "ZTS": 160,
                "geometry": footprint,
            }
        )
    return rows


def write_layer(
    path: Path,
    rows: list[dict],
    *,
    crs: str,
    encoding: str | None = None,
    layer: str | None = None,
    driver: str | None = None,
    strip_cpg: bool = False,
    geometry_type: str = "Polygon",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [k for k in rows[0] if k != "geometry"]
    values = []
    for name in names:
        column = [r.get(name) for r in rows]
        if (
            all(isinstance(v, int) and not isinstance(v, bool) for v in column if v is not None)
            and None not in column
        ):
            values.append(np.array(column, dtype=np.int64))
        elif all(isinstance(v, float | int) for v in column if v is not None) and None not in column:
            values.append(np.array(column, dtype=np.float64))
        else:
            values.append(np.array(["" if v is None else str(v) for v in column], dtype=object))
    geoms = np.array(
        [None if r["geometry"] is None else shapely.to_wkb(r["geometry"]) for r in rows], dtype=object
    )
    pyogrio.raw.write(
        path,
        geoms,
        values,
        names,
        crs=crs,
        encoding=encoding,
        layer=layer,
        driver=driver,
        geometry_type=geometry_type,
    )
    if strip_cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
        dbf = path.with_suffix(".dbf")
        data = bytearray(dbf.read_bytes())
        data[29] = 0
        dbf.write_bytes(bytes(data))
    return path


def write_registration(folder: Path, parcels: list[dict], buildings: list[dict]) -> Path:
    write_layer(folder / "ZDJBXX.shp", parcels, crs="EPSG:4545", encoding="GBK", strip_cpg=True)
    write_layer(folder / "ZRZ.shp", buildings, crs="EPSG:4545", encoding="GBK", strip_cpg=True)
    return folder


def permit_rows(n: int = 3) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "许可证号": f"地字第50010320160{i:04d}号",
                "证件类型": "建设用地规划许可证",
                "项目名称": f"测试项目{i}",
                "建设单位": "重庆测试置业有限公司",
                "用地性质": "071",
                "用地面积": 2500.0,
                "建筑面积": 6250.0,
                "发证日期": "2016-05-01",
                "geometry": gk_square(i, transformer=TO_4524).buffer(-0.5, join_style="mitre"),
            }
        )
    return rows


def write_planning(folder: Path, rows: list[dict]) -> Path:
    return write_layer(folder / "permits.gpkg", rows, crs="EPSG:4524", layer="ghxk", driver="GPKG")


SUPPLY_HEADER = [
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


def supply_rows(n: int = 3) -> list[list]:
    rows = []
    for i in range(n):
        polygon = gk_square(i, transformer=TO_2381)
        area_mu = polygon.area / (10000 / 15)
        centre = polygon.centroid
        rows.append(
            [
                i + 1,
                f"渝地(2016)合字(渝中)第{i + 1}号",
                f"500103001001GB{i + 1:05d}",
                f"测试项目{i}",
                "重庆测试置业有限公司",
                f"渝中区民权路{i + 1}号",
                "渝中区",
                "出让",
                "城镇住宅用地",
                f"{area_mu:.4f}",
                "1200",
                ["2016-3-1", "2016年3月1日", "20160301"][i % 3],
                "2016/09/01",
                "2019-09-01",
                "",
                "",
                "50000",
                "0",
                f"{centre.x:.2f}",
                f"{centre.y:.2f}",
                polygon.wkt,
            ]
        )
    return rows


def write_supply_csv(folder: Path, rows: list[list], encoding: str = "gbk") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "supply.csv"
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(SUPPLY_HEADER)
        writer.writerows(rows)
    return path
