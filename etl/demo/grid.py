"""Street grid, block selection, parcel lattices and building footprints (geometry only).

Why a lattice: every clean parcel is a cell of its block's (nx+1)×(ny+1) vertex lattice, so neighbouring
parcels share their edges exactly (they touch, never overlap) and every clean building, an inset sub-cell,
is provably ≥ 5 m inside its own parcel. Planted defects are then the only places where the geometry
rules can fire.

Everything is built in a *local* metric frame aligned with the streets (x along the columns, y along the
rows, origin at the centre point) and moved to CGCS2000 GK CM 108°E (EPSG:4545) at the end by
:meth:`Frame.to_gk` (a rotation and a translation, so lengths and areas are unchanged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer

from .refdata import RefData

CENTRE_LON, CENTRE_LAT = 106.57, 29.56  # 渝中区, 解放碑 area
KMAX = 1200  # street-grid half-size in blocks (±190 km): far beyond any scale we generate
BLOCK_W = (120.0, 160.0)
BLOCK_H = (100.0, 140.0)
STREET = (18.0, 24.0)
COUNTY_MARGIN = 2.0  # a block must lie in one county even when grown by this many metres
MIN_PIECE = 22.0  # minimum size of a building's sub-cell before its ≥ 5 m inset

_TO_GK = Transformer.from_crs(4490, 4545, always_xy=True)
_TO_LL = Transformer.from_crs(4545, 4490, always_xy=True)


@dataclass(frozen=True)
class Frame:
    """Local street-aligned metres → EPSG:4545 (rotation ``theta`` about the centre point).

    Not rounded: a shared vertex maps to the same floats in both parcels, and declared areas computed in
    the local frame stay equal to the areas of the written geometries.
    """

    e0: float
    n0: float
    theta: float

    def to_gk(self, xy: np.ndarray) -> np.ndarray:
        c, s = math.cos(self.theta), math.sin(self.theta)
        x, y = xy[..., 0], xy[..., 1]
        out = np.empty_like(xy, dtype=float)
        out[..., 0] = self.e0 + x * c - y * s
        out[..., 1] = self.n0 + x * s + y * c
        return out

    def geoms_to_gk(self, geoms: np.ndarray) -> np.ndarray:
        return shapely.transform(geoms, self.to_gk)

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        gk = self.to_gk(xy)
        lon, lat = _TO_LL.transform(gk[..., 0], gk[..., 1])
        return np.stack([lon, lat], axis=-1)


def make_frame(rng: np.random.Generator) -> Frame:
    e0, n0 = _TO_GK.transform(CENTRE_LON, CENTRE_LAT)
    return Frame(float(e0), float(n0), math.radians(float(rng.uniform(-25.0, 25.0))))


@dataclass(frozen=True)
class StreetGrid:
    """Column/row positions of the whole (2·KMAX+1)² grid; index ``k + KMAX`` for grid index k."""

    col_left: np.ndarray
    col_width: np.ndarray
    row_bottom: np.ndarray
    row_height: np.ndarray


def _positions(widths: np.ndarray, streets: np.ndarray) -> np.ndarray:
    """Left edges of consecutive cells centred on the middle one."""
    pitch = widths[:-1] + streets  # distance from left edge k to left edge k+1
    left = np.concatenate([[0.0], np.cumsum(pitch)])
    return left - left[KMAX] - widths[KMAX] / 2.0


def make_street_grid(rng: np.random.Generator) -> StreetGrid:
    """Drawn for the full grid at once, so a block's shape does not depend on the scale."""
    n = 2 * KMAX + 1
    cw = rng.uniform(*BLOCK_W, n)
    rh = rng.uniform(*BLOCK_H, n)
    cs = rng.uniform(*STREET, n - 1)
    rs = rng.uniform(*STREET, n - 1)
    return StreetGrid(_positions(cw, cs), cw, _positions(rh, rs), rh)


@dataclass
class Blocks:
    """Blocks that lie entirely in one county, nearest the centre first (all arrays share one index)."""

    ci: np.ndarray
    cj: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    county: np.ndarray  # index into RefData.county_codes
    dist: np.ndarray

    def __len__(self) -> int:
        return len(self.ci)

    def take(self, idx: np.ndarray) -> Blocks:
        return Blocks(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def rect(self, b: int, inset: float = 0.0) -> shapely.Polygon:
        return shapely.box(self.x0[b] + inset, self.y0[b] + inset, self.x1[b] - inset, self.y1[b] - inset)


def select_blocks(grid: StreetGrid, frame: Frame, ref: RefData, want: int) -> Blocks:
    """The ``want`` nearest blocks (or all in the grid) that fit, with a margin, inside one county.

    The test runs in EPSG:4490 lon/lat against the county polygons, with every block grown by
    ``COUNTY_MARGIN`` so that straight GK edges, slightly curved in lon/lat, cannot cross a boundary.
    """
    pitch_area = (np.mean(BLOCK_W) + np.mean(STREET)) * (np.mean(BLOCK_H) + np.mean(STREET))
    radius = math.sqrt(max(want, 1) / 0.6 * pitch_area / math.pi)
    tree = shapely.STRtree(ref.county_geoms)
    while True:
        k = min(KMAX, int(radius / (BLOCK_H[0] + STREET[0])) + 3)
        ci, cj = np.meshgrid(np.arange(-k, k + 1), np.arange(-k, k + 1), indexing="xy")
        ci, cj = ci.ravel(), cj.ravel()
        x0 = grid.col_left[ci + KMAX]
        x1 = x0 + grid.col_width[ci + KMAX]
        y0 = grid.row_bottom[cj + KMAX]
        y1 = y0 + grid.row_height[cj + KMAX]
        dist = np.hypot((x0 + x1) / 2.0, (y0 + y1) / 2.0)
        # every block outside the window is farther than this, so the order below is final
        inscribed = min(
            -grid.col_left[KMAX - k],
            grid.col_left[KMAX + k],
            -grid.row_bottom[KMAX - k],
            grid.row_bottom[KMAX + k],
        )
        order = np.lexsort((ci, cj, dist))
        order = order[dist[order] <= inscribed]
        m = COUNTY_MARGIN
        corners = np.stack(
            [
                np.stack([x0 - m, y0 - m], -1),
                np.stack([x1 + m, y0 - m], -1),
                np.stack([x1 + m, y1 + m], -1),
                np.stack([x0 - m, y1 + m], -1),
            ],
            axis=1,
        )[order]
        polys = shapely.polygons(frame.to_lonlat(corners))
        pairs = tree.query(polys, predicate="within")
        county = np.full(len(order), -1)
        county[pairs[0]] = pairs[1]
        keep = county >= 0
        if keep.sum() >= want or k >= KMAX:
            sel = order[keep][:want]
            blocks = Blocks(
                ci[sel], cj[sel], x0[sel], y0[sel], x1[sel], y1[sel], county[keep][:want], dist[sel]
            )
            return blocks
        radius *= 1.5


@dataclass
class Lattice:
    """Parcel cells of the non-empty blocks, ordered by block then sequence."""

    block: np.ndarray  # index into Blocks
    li: np.ndarray
    lj: np.ndarray
    seq: np.ndarray  # 1-based within the block
    corners: np.ndarray  # (N, 4, 2) local coordinates, counter-clockwise from the lower-left

    def __len__(self) -> int:
        return len(self.block)


def build_lattice(
    blocks: Blocks, block_ids: np.ndarray, nx: np.ndarray, ny: np.ndarray, rng: np.random.Generator
) -> Lattice:
    """Split each listed block into nx×ny convex quads sharing their edges exactly.

    Interior lattice lines are moved a little (uneven parcel widths) and interior vertices jittered by
    ≤ 2.5 m, which keeps every quad convex; vertices on the block boundary stay on it, so a block's
    parcels exactly tile its rectangle.
    """
    parts = []
    for gx in (2, 3):
        for gy in (2, 3):
            sel = block_ids[(nx[block_ids] == gx) & (ny[block_ids] == gy)]
            if not len(sel):
                continue
            nb = len(sel)
            fx = np.concatenate(
                [
                    np.zeros((nb, 1)),
                    np.arange(1, gx) / gx + rng.uniform(-0.06, 0.06, (nb, gx - 1)),
                    np.ones((nb, 1)),
                ],
                axis=1,
            )
            fy = np.concatenate(
                [
                    np.zeros((nb, 1)),
                    np.arange(1, gy) / gy + rng.uniform(-0.06, 0.06, (nb, gy - 1)),
                    np.ones((nb, 1)),
                ],
                axis=1,
            )
            xs = blocks.x0[sel, None] + (blocks.x1 - blocks.x0)[sel, None] * fx  # (nb, gx+1)
            ys = blocks.y0[sel, None] + (blocks.y1 - blocks.y0)[sel, None] * fy
            v = np.empty((nb, gx + 1, gy + 1, 2))
            v[..., 0] = xs[:, :, None]
            v[..., 1] = ys[:, None, :]
            v[:, 1:gx, 1:gy, :] += rng.uniform(-2.5, 2.5, (nb, gx - 1, gy - 1, 2))
            for j in range(gy):
                for i in range(gx):
                    quad = np.stack([v[:, i, j], v[:, i + 1, j], v[:, i + 1, j + 1], v[:, i, j + 1]], axis=1)
                    parts.append((sel, np.full(nb, i), np.full(nb, j), np.full(nb, j * gx + i + 1), quad))
    block = np.concatenate([p[0] for p in parts])
    seq = np.concatenate([p[3] for p in parts])
    order = np.lexsort((seq, block))
    return Lattice(
        block=block[order],
        li=np.concatenate([p[1] for p in parts])[order],
        lj=np.concatenate([p[2] for p in parts])[order],
        seq=seq[order],
        corners=np.concatenate([p[4] for p in parts])[order],
    )


# Piece templates per layout, in (long, short) unit coordinates: (u0, u1, v0, v1).
_LAYOUTS = {
    1: [(0.0, 1.0, 0.0, 1.0)],
    2: [(0.0, 0.5, 0.0, 1.0), (0.5, 1.0, 0.0, 1.0)],
    3: [(0.0, 1 / 3, 0.0, 1.0), (1 / 3, 2 / 3, 0.0, 1.0), (2 / 3, 1.0, 0.0, 1.0)],
    -3: [(0.0, 0.5, 0.0, 0.5), (0.5, 1.0, 0.0, 0.5), (0.0, 0.5, 0.5, 1.0)],  # 2×2 with one corner open
    4: [(0.0, 0.5, 0.0, 0.5), (0.5, 1.0, 0.0, 0.5), (0.0, 0.5, 0.5, 1.0), (0.5, 1.0, 0.5, 1.0)],
}
_LAYOUT_SHAPE = {1: (1, 1), 2: (2, 1), 3: (3, 1), -3: (2, 2), 4: (2, 2)}


def bilinear(corners: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Point (s, t) ∈ [0,1]² of each convex quad; iso-s and iso-t lines are straight, so sub-cells tile."""
    c0, c1, c2, c3 = (corners[:, k] for k in range(4))
    s, t = s[:, None], t[:, None]
    return (1 - s) * (1 - t) * c0 + s * (1 - t) * c1 + s * t * c2 + (1 - s) * t * c3


def quad_dims(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean lengths of each quad along its s (c0→c1) and t (c0→c3) directions."""
    ls = (
        np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1)
        + np.linalg.norm(corners[:, 2] - corners[:, 3], axis=1)
    ) / 2
    lt = (
        np.linalg.norm(corners[:, 3] - corners[:, 0], axis=1)
        + np.linalg.norm(corners[:, 2] - corners[:, 1], axis=1)
    ) / 2
    return ls, lt


def feasible_layout(corners: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Largest layout ≤ ``wanted`` buildings whose sub-cells are all ≥ MIN_PIECE in both directions."""
    ls, lt = quad_dims(corners)
    long, short = np.maximum(ls, lt), np.minimum(ls, lt)
    layout = np.zeros(len(corners), dtype=int)
    done = wanted <= 0
    for k in (4, 3, -3, 2, 1):  # most buildings first; a row of three before 2×2-minus-one
        a, b = _LAYOUT_SHAPE[k]
        ok = ~done & (abs(k) <= wanted) & (long / a >= MIN_PIECE) & (short / b >= MIN_PIECE)
        layout[ok] = k
        done |= ok
    return layout


def building_footprints(
    corners: np.ndarray, layout: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Footprints (local frame) for each parcel's layout: ``(parcel_index, polygons)`` in parcel order.

    Each sub-cell is inset by 5–6.5 m (mitre buffer; for a convex quad that is exactly "all points ≥ d
    from its edges") and then shrunk by up to 20 % about its centroid, so every footprint is ≥ 5 m from
    every edge of its parcel and ≥ 10 m from its siblings.
    """
    ls, lt = quad_dims(corners)
    s_is_long = ls >= lt
    pidx, s0, s1, t0, t1, slot = [], [], [], [], [], []
    for k, pieces in _LAYOUTS.items():
        sel = np.nonzero(layout == k)[0]
        for n, (u0, u1, v0, v1) in enumerate(pieces):
            pidx.append(sel)
            sl = s_is_long[sel]
            s0.append(np.where(sl, u0, v0))
            s1.append(np.where(sl, u1, v1))
            t0.append(np.where(sl, v0, u0))
            t1.append(np.where(sl, v1, u1))
            slot.append(np.full(len(sel), n))
    pidx_a = np.concatenate(pidx)
    order = np.lexsort((np.concatenate(slot), pidx_a))
    pidx_a = pidx_a[order]
    s0a, s1a, t0a, t1a = (np.concatenate(a)[order] for a in (s0, s1, t0, t1))
    c = corners[pidx_a]
    quad = np.stack(
        [bilinear(c, s0a, t0a), bilinear(c, s1a, t0a), bilinear(c, s1a, t1a), bilinear(c, s0a, t1a)], 1
    )
    pieces = shapely.polygons(quad)
    inset = rng.uniform(5.0, 6.5, len(pieces))
    fp = shapely.buffer(pieces, -inset, join_style="mitre")
    shrink = rng.uniform(0.8, 1.0, len(fp))
    fp = scale_about_centroid(fp, shrink)
    ok = ~shapely.is_empty(fp) & (shapely.area(fp) >= 40.0)
    return pidx_a[ok], fp[ok]


def scale_about_centroid(geoms: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Vectorised uniform scaling of each geometry about its own centroid."""
    cen = shapely.get_coordinates(shapely.centroid(geoms))
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    coords = cen[idx] + factor[idx, None] * (coords - cen[idx])
    return shapely.set_coordinates(geoms.copy(), coords)
