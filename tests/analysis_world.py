"""A tiny world with hand-computable answers for the analysts' query engine (tests/test_analysis_*.py).

Drawn in metres in CGCS2000 GK CM 108°E (EPSG:4545) east and north of a point in 渝中区, stored in
EPSG:4490 like every unified row (one parcel and one supply record in 江北区). Every distance and area
below is exact in that plane (the geodesic values differ by < 0.05 %)::

    y
    180                              B4 (60 m north of G3)
    100 P1=G1=S1     P2=G2 (to 50)  P3=S2 (to 60)   G3 (600..700)  B3 (40 m east)   S3 (900..1000)
      0 B1 (10..40)  B2 (210..230)  400..460                        740..760
        0..100       200..300
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyproj
import shapely
import shapely.affinity
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.utils import timezone

from layers.models import Building, LandSupply, Parcel, PlanningPermit

ORIGIN = (106.5700, 29.5600)  # 渝中区
JIANGBEI = (106.7400, 29.6200)  # 江北区 (500105)
GEOD = pyproj.Geod(ellps="GRS80")
LINEAGE = {"src_system": "test", "src_file": "world", "load_run": 1}


def to_4490(polygon: shapely.Polygon, origin=ORIGIN, epsg: int = 4545) -> MultiPolygon:
    """A polygon drawn in metres relative to ``origin`` (in the GK plane ``epsg``) as EPSG:4490."""
    forward = pyproj.Transformer.from_crs(4490, epsg, always_xy=True)
    back = pyproj.Transformer.from_crs(epsg, 4490, always_xy=True)
    x0, y0 = forward.transform(*origin)
    moved = shapely.affinity.translate(polygon, x0, y0)
    lonlat = shapely.transform(moved, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))
    return MultiPolygon(GEOSGeometry(lonlat.wkt, srid=4490), srid=4490)


def box(x0: float, y0: float, x1: float, y1: float, origin=ORIGIN) -> MultiPolygon:
    return to_4490(shapely.box(x0, y0, x1, y1), origin)


def geodesic_area(geom: MultiPolygon) -> float:
    """The hand-computed area: Karney's geodesic area on GRS80 (CGCS2000's ellipsoid to 0.1 mm)."""
    return abs(GEOD.geometry_area_perimeter(shapely.from_wkt(geom.wkt))[0])


def build_world() -> dict[str, object]:
    """Create the world; returns the records by name (P1 … S4)."""
    today = timezone.localdate()
    w: dict[str, object] = {}

    def parcel(name, geom, **kw):
        w[name] = Parcel.objects.create(geom=geom, county_code=kw.pop("county", "500103"), **LINEAGE, **kw)

    parcel(
        "P1",
        box(0, 0, 100, 100),
        zddm="500103001001GB00001",
        land_use="0701",
        declared_area=10000,
        address="渝中区民权路1号",
        holder="重庆甲置业有限公司",
        registered_on=dt.date(2016, 3, 1),
    )
    parcel(
        "P2",
        box(200, 0, 300, 50),
        zddm="500103001001GB00002",
        land_use="0505",
        declared_area=5000,
        address="渝中区民权路2号",
        holder="重庆乙商贸有限公司",
        registered_on=dt.date(2018, 6, 1),
    )
    parcel(
        "P3",
        box(400, 0, 460, 60),
        zddm="500103001001GB00003",
        land_use="0601",
        declared_area=3600,
        address="",
        holder="重庆丙工业100%_有限公司",
        registered_on=None,
    )
    parcel(
        "P4",
        box(0, 0, 80, 80, origin=JIANGBEI),
        zddm="500105001001JC00001",
        land_use="0702",
        declared_area=6400,
        address="江北区五里店1号",
        holder="张三",
        registered_on=dt.date(2020, 1, 1),
        county="500105",
    )

    def building(name, geom, **kw):
        w[name] = Building.objects.create(geom=geom, **LINEAGE, **kw)

    building("B1", box(10, 10, 40, 40), bdcdyh="500103001001GB00001F00010000", zrzh="0001", floors=6)
    building("B2", box(210, 10, 230, 30), bdcdyh="500103001001GB00002F00010000", zrzh="0001", floors=3)
    building("B3", box(740, 40, 760, 60), bdcdyh="500103001001GB00009F00010000", zrzh="0001", floors=2)
    building("B4", box(640, 160, 660, 180), bdcdyh="500103001001GB00009F00020000", zrzh="0002", floors=2)

    def permit(name, geom, **kw):
        w[name] = PlanningPermit.objects.create(geom=geom, kind="land", **LINEAGE, **kw)

    permit(
        "G1",
        box(0.5, 0.5, 99.5, 99.5),
        permit_no="地字第500103201600001号",
        land_use="0505",
        floor_area=25000,
        issued_on=dt.date(2016, 5, 1),
    )
    permit(
        "G2",
        box(200.5, 0.5, 299.5, 49.5),
        permit_no="地字第500103201600002号",
        land_use="0507",
        floor_area=10000,
        issued_on=dt.date(2017, 3, 1),
    )
    permit(
        "G3",
        box(600, 0, 700, 100),
        permit_no="地字第500103201600003号",
        land_use="0701",
        floor_area=5000,
        issued_on=dt.date(2017, 8, 1),
    )

    def supply(name, geom, **kw):
        kw.setdefault("method", "transfer")
        w[name] = LandSupply.objects.create(geom=geom, **LINEAGE, **kw)

    supply(
        "S1",
        box(0, 0, 100, 100),
        contract_no="渝地(2016)合字(渝中)第1号",
        land_use="0701",
        area=10000,
        supplied_on=dt.date(2016, 3, 1),
        agreed_start_on=dt.date(2016, 9, 1),
    )
    supply(
        "S2",
        box(400, 0, 460, 60),
        contract_no="渝地(2014)合字(渝中)第1号",
        land_use="0601",
        area=3600,
        supplied_on=dt.date(2014, 5, 1),
        agreed_start_on=dt.date(2014, 12, 1),
    )
    supply(
        "S3",
        box(900, 0, 1000, 100),
        contract_no="渝地(2020)合字(渝中)第1号",
        land_use="0701",
        area=10000,
        supplied_on=dt.date(2020, 1, 10),
        agreed_start_on=dt.date(2020, 7, 1),
        actual_start_on=dt.date(2020, 8, 1),
    )
    supply(
        "S4",
        box(0, 0, 80, 80, origin=JIANGBEI),
        contract_no="渝地(2016)合字(江北)第1号",
        land_use="0702",
        method="allocation",
        area=6400,
        supplied_on=dt.date(2016, 7, 1),
        agreed_start_on=today - dt.timedelta(days=100),
    )
    return w


def add_many_buildings(n: int = 3000) -> None:
    """``n`` small generated buildings south of the world: enough rows for a statement to take a while."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO layers_building (src_system, src_file, src_checksum, src_layer, mapping_version, "
            "loaded_at, version, content_hash, bdcdyh, zddm, zrzh, xmmc, jzwmc, ghyt, fwjg, geom) "
            "SELECT 'test', '', '', '', '', now(), 1, '', 'X' || i, '', '0001', '', '', '', '', "
            "ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(106.57 + i * 1e-4, 29.5), 4490), 5e-5, 16)) "
            "FROM generate_series(1, %s) i",
            [n],
        )
