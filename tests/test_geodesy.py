"""layers.geodesy: GK zones of Chongqing and the GCJ-02 ('Mars') formula and its inverse."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import CRS, Transformer

from layers.geodesy import (
    gcj02_to_wgs84,
    gk_zone_for_lon,
    out_of_china,
    wgs84_to_gcj02,
    zone_from_prefixed_easting,
)

# Published test vectors of the widely used implementation (wgs lat, wgs lon, gcj lat, gcj lon).
VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.mark.parametrize(
    ("lon", "expected"),
    [
        (106.57, (108, 4545, 4524)),
        (105.3, (105, 4544, 4523)),
        (106.4999, (105, 4544, 4523)),
        (106.5, (108, 4545, 4524)),
        (110.1, (111, 4546, 4525)),
        (75.0, (75, 4534, 4513)),
    ],
)
def test_gk_zone_for_lon(lon, expected):
    assert gk_zone_for_lon(lon) == expected
    cm, epsg_cm, epsg_zone = expected
    # the EPSG codes really are those CRSs
    assert f"CM {cm}E" in CRS.from_epsg(epsg_cm).name
    assert f"zone {cm // 3}" in CRS.from_epsg(epsg_zone).name


@pytest.mark.parametrize("lon", [10.0, 140.0, float("nan")])
def test_gk_zone_for_lon_rejects_outside(lon):
    with pytest.raises(ValueError):
        gk_zone_for_lon(lon)


def test_zone_from_prefixed_easting():
    assert zone_from_prefixed_easting(36_361_412.58) == 36
    assert zone_from_prefixed_easting(35_612_000.0) == 35
    assert zone_from_prefixed_easting(361_412.58) is None  # prefix missing
    assert zone_from_prefixed_easting(3_272_193.0) is None  # a northing (axes swapped)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), VECTORS)
def test_forward_matches_published_vectors(wlat, wlon, glat, glon):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert isinstance(lon, float)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), VECTORS)
def test_inverse_recovers_wgs84(wlat, wlon, glat, glon):
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert lon == pytest.approx(wlon, abs=1e-9)
    assert lat == pytest.approx(wlat, abs=1e-9)


def test_shift_in_chongqing_is_about_half_a_km_east_south_east():
    lon = np.linspace(105.5, 110.0, 10)
    lat = np.linspace(28.5, 32.0, 10)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon.shape == lon.shape
    to_gk = Transformer.from_crs(4490, 4545, always_xy=True)
    x0, y0 = to_gk.transform(lon, lat)
    x1, y1 = to_gk.transform(glon, glat)
    dist = np.hypot(x1 - x0, y1 - y0)
    assert ((dist > 300) & (dist < 700)).all()
    assert (x1 > x0).all() and (y1 < y0).all()  # east and south
    assert abs(dist[0] - dist[-1]) > 1  # not a constant offset


def test_vectorised_round_trip_to_millimetres():
    rng = np.random.default_rng(0)
    lon = rng.uniform(105.3, 110.2, 1000)
    lat = rng.uniform(28.2, 32.2, 1000)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.abs(back_lon - lon).max() < 1e-8  # ≈ 1 mm
    assert np.abs(back_lat - lat).max() < 1e-8


def test_outside_china_unchanged():
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)
    assert out_of_china(np.array([2.35, 106.5]), np.array([48.85, 29.5])).tolist() == [True, False]


def test_zone_epsg_for_many_longitudes_matches_the_scalar_rule():
    from layers.geodesy import gk_cm_epsg_for_lons, gk_zone_for_lon

    lons = np.array([106.57, 106.5, 106.49999, 105.0, 109.9, 75.0, 135.0])
    assert gk_cm_epsg_for_lons(lons).tolist() == [gk_zone_for_lon(lon)[1] for lon in lons]
    assert gk_cm_epsg_for_lons(np.array([np.nan, 10.0, 170.0])).tolist() == [0, 0, 0]
