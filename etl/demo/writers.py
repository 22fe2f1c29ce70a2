"""Write the exports exactly the way the business systems hand them over.

Real registration shapefiles come GBK-encoded with *no* ``.cpg`` and a zero DBF language-driver byte,
so a reader that trusts the file gets mojibake; the ETL must be told the encoding. GDAL writes the
geometry (.shp/.shx/.prj); the attribute table is written by :mod:`.dbf` (faster, and without the
``.cpg`` and today's date GDAL would add, so a seed's files are byte-identical). The GeoPackage's
timestamp is fixed for the same reason.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import numpy as np
import pyogrio
import shapely

from .dbf import write_dbf
from .tables import Table

INT, FLOAT, DATE, STR = "int", "float", "date", "str"
ZDJBXX_TYPES = {"BSM": INT, "ZDMJ": FLOAT, "RJL": FLOAT, "JZMD": FLOAT, "JZXG": FLOAT, "DJSJ": DATE}
ZRZ_TYPES = {
    "BSM": INT,
    "JGRQ": DATE,
    "JZWGD": FLOAT,
    "ZZDMJ": FLOAT,
    "SCJZMJ": FLOAT,
    "YCJZMJ": FLOAT,
    "ZCS": INT,
    "DSCS": INT,
    "DXCS": INT,
    "ZTS": INT,
}
PERMIT_TYPES = {"用地面积": FLOAT, "建筑面积": FLOAT, "发证日期": DATE}
FIXED_DBF_DATE = (124, 6, 30)  # 2024-06-30, years since 1900
FIXED_GPKG_TIMESTAMP = "2024-06-30T00:00:00.000Z"


def column(values: list, kind: str) -> np.ndarray:
    """A table column as the numpy dtype of its field type."""
    if kind == INT:
        return np.asarray(values, dtype=np.int32)
    if kind == FLOAT:
        return np.asarray(values, dtype=np.float64)
    if kind == DATE:
        return np.array(
            [np.datetime64("NaT") if v is None else np.datetime64(v, "D") for v in values], "datetime64[D]"
        )
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def field_arrays(table: Table, order: np.ndarray, types: dict[str, str]) -> list[np.ndarray]:
    out = []
    for f in table.fields:
        values = np.empty(len(table.cols[f]), dtype=object)
        values[:] = table.cols[f]
        out.append(column(list(values[order]), types.get(f, STR)))
    return out


def to_wkb(geoms: list) -> np.ndarray:
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    return shapely.to_wkb(arr)


def write_shapefile(path: Path, table: Table, order: np.ndarray, geoms: list, types: dict[str, str]) -> None:
    """ESRI Shapefile in EPSG:4545: geometry by pyogrio/GDAL, the GBK attribute table by :mod:`.dbf`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(order)
    pyogrio.raw.write(
        path,
        to_wkb([geoms[i] for i in order]),
        [np.zeros(n, dtype=np.int32)],
        ["BSM"],
        driver="ESRI Shapefile",
        geometry_type="Polygon",
        crs="EPSG:4545",
    )
    path.with_suffix(".cpg").unlink(missing_ok=True)
    write_dbf(
        path.with_suffix(".dbf"),
        table.fields,
        field_arrays(table, order, types),
        [types.get(f, STR) for f in table.fields],
        encoding="gbk",
        date=FIXED_DBF_DATE,
    )


def write_geopackage(path: Path, table: Table, order: np.ndarray, geoms: list) -> None:
    """GeoPackage 1.2, layer ``ghxk``, EPSG:4524 MultiPolygons (some deliberately wrong), Chinese fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    ordered = [geoms[i] for i in order]
    multi = [
        None if g is None else (g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]))
        for g in ordered
    ]
    pyogrio.raw.write(
        path,
        to_wkb(multi),
        field_arrays(table, order, PERMIT_TYPES),
        table.fields,
        layer="ghxk",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs="EPSG:4524",
        dataset_options={"VERSION": "1.2"},
    )
    with sqlite3.connect(path) as con:  # reproducible: GDAL stamps the current time
        con.execute("UPDATE gpkg_contents SET last_change = ?", (FIXED_GPKG_TIMESTAMP,))
    con.close()


def write_csv(path: Path, table: Table, order: np.ndarray, geoms: list) -> None:
    """GBK CSV with CRLF lines; centre X/Y and the WKT come from the EPSG:2381 polygons."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = [geoms[i] for i in order]
    cen = shapely.get_coordinates(shapely.centroid(np.array(ordered, dtype=object)))
    wkt = shapely.to_wkt(np.array(ordered, dtype=object), rounding_precision=3, trim=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(table.fields)
    for row, i in enumerate(order):
        values = table.row(int(i))
        values["中心X"] = f"{cen[row, 0]:.2f}"
        values["中心Y"] = f"{cen[row, 1]:.2f}"
        values["范围WKT"] = wkt[row]
        writer.writerow([values[f] for f in table.fields])
    path.write_bytes(buf.getvalue().encode("gbk"))


def write_counties(path: Path, codes: tuple[str, ...], names: tuple[str, ...], geoms: np.ndarray) -> None:
    """The 38 county polygons (EPSG:4490, lon/lat order as GeoJSON requires) with adcode and name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    pyogrio.raw.write(
        path,
        shapely.to_wkb(geoms),
        [np.array(codes, dtype=object), np.array(names, dtype=object)],
        ["adcode", "name"],
        driver="GeoJSON",
        geometry_type="MultiPolygon",
        crs="EPSG:4490",
        layer_options={"WRITE_NAME": "NO"},
    )
