"""Small, pure geodesy helpers shared by the demo generator and the ETL.

Why these exist:

* Chongqing (≈105.3–110.2°E) spans three 3-degree Gauss-Krüger zones (CM 105°E, 108°E, 111°E). Areas and
  lengths must be computed in the zone of the feature, and a source's coordinates tell which CRS variant
  it uses: the "CM" variant (EPSG 4534–4554, false easting 500 000) or the zone-prefixed variant (EPSG
  4513–4533, easting 8 digits starting with the zone number). :func:`gk_zone_for_lon` and
  :func:`zone_from_prefixed_easting` turn those facts into EPSG codes without a lookup table per module.
* Web maps in China (高德/腾讯 and others) publish GCJ-02 ("Mars") coordinates: WGS84 with a deliberate,
  non-linear offset (≈460–575 m east-south-east in Chongqing). Business systems that digitised on such a
  map hand over shifted polygons. The ETL must recognise them (they sit ~0.5 km off the registered parcels)
  and may propose the inverse; it never stores them as CGCS2000. The obfuscation formula is public and
  widely reimplemented; it is written out here once, vectorised over numpy arrays, and its inverse is
  computed by fixed-point iteration (there is no closed form).

CGCS2000 and WGS84 differ by centimetres, far below GCJ-02's offset, so both are treated as equal here.
PROJ agrees (its CGCS2000 → WGS 84 operation is a null transformation) but takes a slower path for
EPSG:4490 → 3857 (about 2.7× per vertex, and ~100 ms to set up per database session): SQL that projects
lon/lat to Web Mercator or outputs WGS 84 relabels the geometry ``NULL_DATUM_SRID`` first (tests check the
coordinates stay identical).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

NULL_DATUM_SRID = 4326

__all__ = [
    "NULL_DATUM_SRID",
    "gk_zone_for_lon",
    "zone_from_prefixed_easting",
    "out_of_china",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
]

# CGCS2000 3-degree GK zones that EPSG defines: zone 25 (CM 75°E) … zone 45 (CM 135°E).
_FIRST_ZONE, _LAST_ZONE = 25, 45
_EPSG_CM_FIRST = 4534  # CGCS2000 / 3-degree Gauss-Kruger CM 75E
_EPSG_ZONE_FIRST = 4513  # CGCS2000 / 3-degree Gauss-Kruger zone 25

# Constants of the public GCJ-02 formula (Krasovsky 1940 ellipsoid).
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def gk_cm_epsg_for_lons(lons: np.ndarray) -> np.ndarray:
    """:func:`gk_zone_for_lon`'s ``epsg_cm`` for many longitudes at once; 0 where there is no zone."""
    lons = np.asarray(lons, dtype=float)
    with np.errstate(invalid="ignore"):
        zones = np.floor((lons + 1.5) / 3.0)
    inside = np.isfinite(zones) & (zones >= _FIRST_ZONE) & (zones <= _LAST_ZONE)
    return np.where(inside, _EPSG_CM_FIRST + np.where(inside, zones, _FIRST_ZONE) - _FIRST_ZONE, 0).astype(
        int
    )


def gk_zone_for_lon(lon: float) -> tuple[int, int, int]:
    """3-degree Gauss-Krüger zone of a longitude, as ``(central_meridian, epsg_cm, epsg_zone_prefixed)``.

    Zone *n* covers ``[3n - 1.5, 3n + 1.5)`` degrees, so 106.5°E (the edge between Chongqing's zones 35
    and 36) belongs to zone 36 (CM 108°E), as in the EPSG areas of use. Returns e.g.
    ``(108, 4545, 4524)`` for 渝中区 (106.57°E). Raises ``ValueError`` outside the CGCS2000 zones EPSG
    defines (75°E–135°E), i.e. anywhere a Chinese source cannot be.
    """
    lon = float(lon)
    if not np.isfinite(lon):
        raise ValueError(f"longitude {lon!r} is not a number")
    zone = int(np.floor((lon + 1.5) / 3.0))
    if not _FIRST_ZONE <= zone <= _LAST_ZONE:
        raise ValueError(f"longitude {lon} is outside the CGCS2000 3-degree zones 25-45 (73.5°E-136.5°E)")
    offset = zone - _FIRST_ZONE
    return 3 * zone, _EPSG_CM_FIRST + offset, _EPSG_ZONE_FIRST + offset


def zone_from_prefixed_easting(easting: float) -> int | None:
    """Zone number encoded in a zone-prefixed GK easting (e.g. 36 for 36 361 412.58), else ``None``.

    A CM-variant easting is 6 digits (≈ 200 000–800 000 m); a zone-prefixed one is ``zone * 1e6`` plus
    that. A value with no valid prefix (or a northing, ≈3.1–3.6 million in Chongqing) returns ``None``,
    which is how the ETL tells "prefix missing" and "axes swapped" apart.
    """
    easting = float(easting)
    if not np.isfinite(easting) or easting < 0:
        return None
    zone, rest = divmod(easting, 1_000_000.0)
    if _FIRST_ZONE <= zone <= _LAST_ZONE and 100_000.0 <= rest <= 900_000.0:
        return int(zone)
    return None


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """The public formula's own "outside China" box (no offset is applied there)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offset (dlon, dlat) in degrees that GCJ-02 adds to a WGS84 position (zero outside China)."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike):
    """WGS84 (≈ CGCS2000) lon/lat → GCJ-02 lon/lat, element-wise over scalars or numpy arrays.

    This is the forward "Mars" obfuscation: what a position looks like on 高德/腾讯 maps. Used by the demo
    generator to plant realistically shifted polygons and by tests/ETL to recognise them. Points outside
    the formula's China box are returned unchanged. Scalars in → floats out; arrays in → arrays out.
    """
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_delta(lon_a, lat_a)
    return _result(lon_a + dlon, lat_a + dlat, scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-10, max_iter: int = 30):
    """GCJ-02 lon/lat → WGS84 (≈ CGCS2000), by fixed-point iteration on the forward formula.

    The offset changes slowly (≈1e-5 of its size per metre), so ``w ← w − (f(w) − g)`` converges to
    ``tol`` degrees (1e-10° ≈ 0.01 mm) in a handful of steps; the one-step "subtract the offset at the
    GCJ point" shortcut many libraries use is only good to 1–2 m, too coarse to snap a polygon back onto
    a parcel boundary. Element-wise over scalars or numpy arrays.
    """
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    g_lon = np.asarray(lon, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iter):
        dlon, dlat = _gcj_delta(w_lon, w_lat)
        err_lon = w_lon + dlon - g_lon
        err_lat = w_lat + dlat - g_lat
        w_lon = w_lon - err_lon
        w_lat = w_lat - err_lat
        err = np.maximum(np.abs(err_lon), np.abs(err_lat))
        if not np.any(err > tol):  # NaN inputs stay NaN and do not loop forever
            break
    return _result(w_lon, w_lat, scalar)
