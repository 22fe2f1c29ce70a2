"""The geometry step: parse, sanity-check coordinates, transform to CGCS2000, repair, measure, locate.

All of it is vectorised with shapely 2 and pyproj over the whole layer. Coordinate sanity (DOMAIN.md §5) is
a reported step: swapped axes and missing zone prefixes are recognised from the expected coordinate ranges
of Chongqing in the source CRS, and fixed only when the mapping says so. Areas are computed in the
Gauss-Krüger zone of each feature, never in degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Transformer

from etl.mapping import GeometrySpec
from etl.transforms import FieldProblem
from layers.geodesy import gk_cm_epsg_for_lons, gk_zone_for_lon

TARGET_SRID = 4490
# Chongqing's extent in lon/lat with a margin: what a correct coordinate of ours can be.
CQ_LON = (104.8, 110.7)
CQ_LAT = (27.7, 32.7)


@dataclass
class GeometryResult:
    geoms: np.ndarray  # shapely MultiPolygons in EPSG:4490 (None where rejected)
    problems: list[FieldProblem]
    transform: dict = field(default_factory=dict)
    source_geoms: np.ndarray | None = None  # as read (for the quarantine map), in 4490 where possible
    # when the source CRS is a 3-degree Gauss-Krüger zone: its EPSG ("CM" variant) and each geometry's planar
    # area in it (NaN where unknown or repaired): the area :func:`gk_area_m2` would compute for a feature of
    # that zone, without projecting it back
    source_zone_epsg: int = 0
    source_area: np.ndarray | None = None


def _problem(i, rule, zh, en, severity="error", actual="", expected=""):
    return FieldProblem(i, rule, "geometry", zh, en, expected=expected, actual=actual, severity=severity)


def parse_geometries(
    spec: GeometrySpec, wkb: np.ndarray | None, data: dict, n: int
) -> tuple[np.ndarray, list]:
    problems: list[FieldProblem] = []
    if spec.kind == "layer":
        if wkb is None:
            return np.full(n, None, dtype=object), [
                _problem(i, "geometry_null", "该行没有几何图形", "the row has no geometry") for i in range(n)
            ]
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    elif spec.kind == "wkt":
        texts = np.array(
            [None if v in (None, "") else str(v).strip() for v in data[spec.sources[0]]], dtype=object
        )
        geoms = shapely.from_wkt(texts, on_invalid="ignore")
        for i in np.flatnonzero(
            shapely.is_missing(geoms) & np.array([t is not None for t in texts], dtype=bool)
        ):
            problems.append(
                _problem(
                    int(i),
                    "geometry_unreadable",
                    f"「{spec.sources[0]}」不是有效的WKT",
                    f"'{spec.sources[0]}' is not valid WKT",
                    actual=str(texts[i])[:80],
                )
            )
    else:  # xy
        x = np.array([_float(v) for v in data[spec.sources[0]]], dtype=float)
        y = np.array([_float(v) for v in data[spec.sources[1]]], dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        geoms = np.full(n, None, dtype=object)
        geoms[ok] = shapely.points(x[ok], y[ok])
    return np.asarray(geoms, dtype=object), problems


def _float(value) -> float:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return float("nan")


# EPSG of each CGCS2000 3-degree Gauss-Krüger CRS (CM and zone-prefixed variants) -> its CM variant
_GK_ZONE_EPSG = {
    code: cm
    for _, cm, prefixed in (gk_zone_for_lon(3.0 * zone) for zone in range(25, 46))
    for code in (cm, prefixed)
}


def _gk_zone_epsg(crs: CRS) -> int:
    """CM-variant EPSG of the Gauss-Krüger zone ``crs`` is (either variant: same areas), else 0."""
    code = crs.to_epsg(min_confidence=100)
    return _GK_ZONE_EPSG.get(code, 0) if code else 0


def _expected_box(crs: CRS) -> tuple[float, float, float, float]:
    """Chongqing's bounding box in ``crs`` (x = easting/lon, y = northing/lat)."""
    to_src = Transformer.from_crs(4490, crs, always_xy=True)
    lons = np.linspace(*CQ_LON, 12)
    lats = np.linspace(*CQ_LAT, 12)
    lon_grid, lat_grid = np.meshgrid(lons, lats)
    xs, ys = to_src.transform(lon_grid.ravel(), lat_grid.ravel())
    return float(np.nanmin(xs)), float(np.nanmin(ys)), float(np.nanmax(xs)), float(np.nanmax(ys))


def _false_easting(crs: CRS) -> float:
    try:
        for param in crs.coordinate_operation.params:
            if param.name.lower() == "false easting":
                return float(param.value)
    except AttributeError:
        pass
    return 0.0


def _classify_positions(geoms: np.ndarray, box, prefix: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per geometry: inside the expected box, swapped-axes candidate, missing-prefix candidate."""
    bounds = shapely.bounds(geoms)
    x, y = bounds[:, 0], bounds[:, 1]
    minx, miny, maxx, maxy = box
    inside = (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
    swapped = ~inside & (y >= minx) & (y <= maxx) & (x >= miny) & (x <= maxy)
    if prefix >= 1_000_000:
        px = x + (prefix - 500_000.0)
        missing_prefix = ~inside & ~swapped & (px >= minx) & (px <= maxx) & (y >= miny) & (y <= maxy)
    else:
        missing_prefix = np.zeros(len(geoms), dtype=bool)
    return inside, swapped, missing_prefix


def process_geometries(spec: GeometrySpec, geoms: np.ndarray, chongqing) -> GeometryResult:
    """Everything after parsing; ``chongqing`` is a prepared (Multi)Polygon of the jurisdiction in 4490."""
    n = len(geoms)
    problems: list[FieldProblem] = []
    alive = ~shapely.is_missing(geoms)
    empty = alive & shapely.is_empty(np.where(alive, geoms, shapely.Point()))
    for i in np.flatnonzero(~alive | empty):
        problems.append(_problem(int(i), "geometry_null", "几何图形为空", "the geometry is empty or NULL"))
    alive &= ~empty

    idx = np.flatnonzero(alive)
    has_z = shapely.has_z(geoms[idx]) | shapely.has_m(geoms[idx])
    if has_z.any():
        for i in idx[has_z]:
            problems.append(
                _problem(
                    int(i),
                    "geometry_z_dropped",
                    "几何含Z/M值，已按二维处理",
                    "Z/M values dropped (2D data expected)",
                    severity="warning",
                )
            )
        geoms = geoms.copy()
        geoms[idx] = shapely.force_2d(geoms[idx])

    types = shapely.get_type_id(np.where(alive, geoms, shapely.Point()))
    polygonal = np.isin(types, (3, 6))  # Polygon, MultiPolygon
    collection = alive & (types == 7)
    if collection.any():
        for i in np.flatnonzero(collection):
            parts = [g for g in shapely.get_parts(geoms[i]) if shapely.get_type_id(g) in (3, 6)]
            if parts:
                geoms[i] = shapely.union_all(parts)
                polygonal[i] = True
    for i in np.flatnonzero(alive & ~polygonal):
        problems.append(
            _problem(
                int(i),
                "geometry_type",
                "几何类型应为面（Polygon/MultiPolygon）",
                "geometry must be a polygon or multipolygon",
                actual=str(geoms[i].geom_type),
                expected="Polygon",
            )
        )
    alive &= polygonal

    src_crs = CRS.from_user_input(spec.crs)
    info: dict = {"source_crs": spec.crs, "source_crs_name": src_crs.name}
    idx = np.flatnonzero(alive)
    if len(idx):
        box = _expected_box(src_crs)
        prefix = _false_easting(src_crs) if src_crs.is_projected else 0.0
        inside, swapped, missing = _classify_positions(geoms[idx], box, prefix)
        for name, mask, policy, zh, en in (
            (
                "axes_swapped",
                swapped,
                spec.swapped_axes,
                "坐标X/Y互换（北坐标与东坐标颠倒）",
                "X and Y are swapped (northing and easting exchanged)",
            ),
            (
                "zone_prefix_missing",
                missing,
                spec.zone_prefix,
                f"东坐标缺少带号前缀（应为{int(prefix // 1e6)}带）",
                f"easting lacks its zone prefix ({int(prefix // 1e6)})",
            ),
        ):
            hit = idx[mask]
            if not len(hit):
                continue
            action = {"fix": "已按映射修正", "warn": "未修正", "reject": "已拒绝"}[policy]
            for i in hit:
                problems.append(
                    _problem(
                        int(i),
                        name,
                        f"{zh}，{action}",
                        f"{en}; {policy}",
                        severity="error" if policy == "reject" else "warning",
                    )
                )
            if policy == "fix":
                if name == "axes_swapped":
                    geoms[hit] = shapely.transform(geoms[hit], lambda c: c[:, ::-1])
                else:
                    shift = prefix - 500_000.0
                    geoms[hit] = shapely.transform(geoms[hit], lambda c, s=shift: c + np.array([s, 0.0]))
            elif policy == "reject":
                alive[hit] = False
        outside_box = idx[~inside & ~swapped & ~missing]
        for i in outside_box:
            bx = shapely.bounds(geoms[i])
            problems.append(
                _problem(
                    int(i),
                    "coordinates_out_of_range",
                    f"坐标（{bx[0]:.1f}, {bx[1]:.1f}）不在{src_crs.name}下重庆市的范围内，请检查坐标系",
                    f"coordinates ({bx[0]:.1f}, {bx[1]:.1f}) are not in Chongqing in {src_crs.name}; "
                    "check the CRS",
                    actual=f"{bx[0]:.1f},{bx[1]:.1f}",
                )
            )
        alive[outside_box] = False

    # transform to CGCS2000 lon/lat (always_xy: GIS order in and out)
    transformer = Transformer.from_crs(src_crs, TARGET_SRID, always_xy=True)
    info.update(
        {
            "target_crs": "EPSG:4490",
            "pipeline": transformer.definition,
            "description": transformer.description,
            "accuracy_m": transformer.accuracy,
        }
    )
    out = np.full(n, None, dtype=object)
    idx = np.flatnonzero(alive)
    zone_epsg = _gk_zone_epsg(src_crs)
    source_area = None
    if zone_epsg and len(idx):
        source_area = np.full(n, np.nan)
        source_area[idx] = shapely.area(geoms[idx])
    if len(idx):
        if src_crs.equals(CRS.from_epsg(TARGET_SRID)):
            out[idx] = geoms[idx]
        else:
            out[idx] = shapely.transform(
                geoms[idx], lambda x, y: transformer.transform(x, y), interleaved=False
            )

    # validity and repair
    idx = np.flatnonzero(alive)
    if len(idx):
        valid = shapely.is_valid(out[idx])
        for i in idx[~valid]:
            reason = shapely.is_valid_reason(out[i])
            if spec.repair == "reject":
                problems.append(
                    _problem(
                        int(i),
                        "geometry_invalid",
                        f"几何图形无效：{reason}",
                        f"invalid geometry: {reason}",
                        actual=reason,
                    )
                )
                alive[i] = False
                continue
            repaired = shapely.make_valid(out[i])
            polys = [g for g in shapely.get_parts(repaired) if shapely.get_type_id(g) in (3, 6)]
            if not polys:
                problems.append(
                    _problem(
                        int(i),
                        "geometry_invalid",
                        f"几何图形无效且无法修复：{reason}",
                        f"invalid geometry that cannot be repaired: {reason}",
                        actual=reason,
                    )
                )
                alive[i] = False
                continue
            fixed = shapely.union_all(polys)
            if source_area is not None:
                source_area[i] = np.nan  # the repaired shape is not the one measured in the source CRS
            problems.append(
                _problem(
                    int(i),
                    "geometry_repaired",
                    f"几何图形无效（{reason}），已自动修复",
                    f"invalid geometry ({reason}) repaired",
                    severity="warning",
                    actual=reason,
                )
            )
            out[i] = fixed
    # to MultiPolygon
    idx = np.flatnonzero(alive)
    single = idx[shapely.get_type_id(out[idx]) == 3]
    if len(single):
        out[single] = shapely.multipolygons(out[single], indices=np.arange(len(single)))

    # jurisdiction: inside Chongqing
    idx = np.flatnonzero(alive)
    if len(idx) and chongqing is not None and spec.jurisdiction != "ignore":
        points = shapely.point_on_surface(out[idx])
        inside = shapely.contains(chongqing, points)
        for i in idx[~inside]:
            p = shapely.point_on_surface(out[i])
            problems.append(
                _problem(
                    int(i),
                    "outside_jurisdiction",
                    f"位置（{p.x:.5f}, {p.y:.5f}）不在重庆市辖区内",
                    f"location ({p.x:.5f}, {p.y:.5f}) is outside Chongqing",
                    severity="error" if spec.jurisdiction == "reject" else "warning",
                    actual=f"{p.x:.5f},{p.y:.5f}",
                )
            )
            if spec.jurisdiction == "reject":
                alive[i] = False
    out[~alive] = None
    return GeometryResult(out, problems, info, source_zone_epsg=zone_epsg, source_area=source_area)


def gk_area_m2(geoms: np.ndarray, known: GeometryResult | None = None) -> np.ndarray:
    """Planar area in the 3° Gauss-Krüger zone of each feature's centroid (m²); NaN where no geometry (or
    no zone: a centroid outside 73.5°E-136.5°E).

    ``known``: the geometry step's result; features of the zone the source was drawn in take their area in
    the source CRS (the same plane: projecting them back would only add rounding)."""
    areas = np.full(len(geoms), np.nan)
    alive = np.flatnonzero(~shapely.is_missing(geoms))
    if not len(alive):
        return areas
    centroids = shapely.centroid(geoms[alive])
    lons = shapely.get_x(centroids)
    epsgs = gk_cm_epsg_for_lons(lons)
    if known is not None and known.source_area is not None and known.source_zone_epsg:
        same = (epsgs == known.source_zone_epsg) & ~np.isnan(known.source_area[alive])
        areas[alive[same]] = known.source_area[alive[same]]
        epsgs = np.where(same, 0, epsgs)
    for epsg in np.unique(epsgs[epsgs > 0]):
        sel = alive[epsgs == epsg]
        transformer = Transformer.from_crs(TARGET_SRID, int(epsg), always_xy=True)
        projected = shapely.transform(
            geoms[sel], lambda x, y, t=transformer: t.transform(x, y), interleaved=False
        )
        areas[sel] = shapely.area(projected)
    return areas


def area_problems(
    declared: np.ndarray, computed: np.ndarray, spec: GeometrySpec, label: str
) -> list[FieldProblem]:
    problems = []
    present = np.array([d is not None for d in declared], dtype=bool)
    d_all = np.full(len(declared), np.nan)
    d_all[present] = [float(d) for d in declared[present]]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = (d_all - computed) / computed
        off = present & np.isfinite(computed) & (computed > 0) & (np.abs(ratios) > spec.area_tolerance)
    for i in np.flatnonzero(off):  # only the rows outside the tolerance, in row order
        d, c, ratio = declared[i], float(computed[i]), float(ratios[i])
        problems.append(
            FieldProblem(
                int(i),
                "area_mismatch",
                label,
                f"申报面积{float(d):.2f}m²与图形面积{c:.2f}m²相差{ratio:+.1%}（容差±{spec.area_tolerance:.0%}）",
                f"declared area {float(d):.2f} m² differs from the drawn {c:.2f} m² by {ratio:+.1%} "
                f"(tolerance ±{spec.area_tolerance:.0%})",
                expected=f"{c:.2f}",
                actual=f"{float(d):.2f}",
                severity=spec.area_severity,
            )
        )
    return problems
