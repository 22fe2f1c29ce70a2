"""Seeding and targeted clean-up of the raster caches, through MapProxy's own tile managers.

Why not per feature: MapProxy has no per-feature invalidation (upstream #81). After a load, the changed
extent (old and new geometries) is the unit: every cached tile over it is removed at every level, and the
levels up to ``TILES_SEED_MAX_ZOOM`` are rendered again at once; deeper levels render on the next request.
Where a level has too many tiles over the extent to remove one by one (a whole-city load), the level's
folder is removed instead.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings

from layers import registry
from tiles import mapproxy

logger = logging.getLogger(__name__)
CLEAN_ONE_BY_ONE = 20_000  # tiles per level above which the whole level is dropped instead
RESEED_MAX_PER_LEVEL = 256  # after a load, levels with more tiles over the extent render on demand
BUFFER_DEG = 0.0005  # ≈ 50 m: strokes and labels of a changed parcel reach into neighbouring tiles
Progress = Callable[[int, int], None]


@dataclass
class SeedResult:
    tiles: int
    seconds: float
    removed: int = 0


def _managers(layer_names: Iterable[str]):
    """(layer, grid, tile manager) for each layer and grid from the generated configuration."""
    conf = mapproxy.load_seed_configuration()
    for name in layer_names:
        layer = registry.get(name)
        if layer is None:
            raise ValueError(
                f"unknown layer {name!r}; known: {', '.join(x.name for x in registry.all_layers())}"
            )
        for grid, _extent, manager in conf.caches[mapproxy.cache_name(layer)].caches():
            yield layer, grid, manager


def _grid_bbox(grid, bbox_4490):
    from mapproxy.srs import SRS

    return SRS(4490).transform_bbox_to(grid.srs, bbox_4490)


def _levels(layer, levels: tuple[int, int] | None, grid) -> range:
    low, high = levels if levels else (layer.min_zoom, min(layer.max_zoom, settings.TILES_SEED_MAX_ZOOM))
    return range(max(low, 0), min(high, grid.levels - 1) + 1)


def plan(layer_names, bbox_4490, levels=None, max_per_level: int | None = None) -> list[tuple]:
    """Every (manager, coords) to render, so a progress bar knows the total before the first tile.
    ``max_per_level``: skip levels with more tiles than that (they render on demand instead)."""
    work = []
    for layer, grid, manager in _managers(layer_names):
        bbox = _grid_bbox(grid, bbox_4490)
        for level in _levels(layer, levels, grid):
            _, (nx, ny), coords = grid.get_affected_level_tiles(bbox, level)
            if max_per_level is not None and nx * ny > max_per_level:
                continue
            work.append((manager, [c for c in coords if c is not None]))
    return work


def seed(
    layer_names, bbox_4490, levels=None, progress: Progress | None = None, max_per_level: int | None = None
) -> SeedResult:
    """Render (or keep, when cached) every tile of ``layer_names`` over ``bbox_4490`` at ``levels``."""
    work = plan(layer_names, bbox_4490, levels, max_per_level)
    total = sum(len(coords) for _, coords in work)
    done, started = 0, time.monotonic()
    for manager, coords in work:
        for coord in coords:
            manager.load_tile_coord(coord)
            done += 1
            if progress:
                progress(done, total)
        manager.cleanup()
    return SeedResult(done, time.monotonic() - started)


def clean(layer_names, bbox_4490) -> int:
    """Remove every cached tile of ``layer_names`` over ``bbox_4490`` at every level."""
    removed = 0
    for _layer, grid, manager in _managers(layer_names):
        bbox = _grid_bbox(grid, bbox_4490)
        for level in range(grid.levels):
            _, (nx, ny), coords = grid.get_affected_level_tiles(bbox, level)
            if nx * ny > CLEAN_ONE_BY_ONE:
                shutil.rmtree(manager.cache.level_location(level), ignore_errors=True)
                continue
            coords = [c for c in coords if c is not None]
            manager.remove_tile_coords(coords)
            removed += len(coords)
    return removed


def reseed_extent(layer_names, extent_4490, progress: Progress | None = None) -> int:
    """After a load: clean the changed extent (buffered) on every level, then seed the upper levels."""
    minx, miny, maxx, maxy = extent_4490
    bbox = (minx - BUFFER_DEG, miny - BUFFER_DEG, maxx + BUFFER_DEG, maxy + BUFFER_DEG)
    removed = clean(layer_names, bbox)
    result = seed(layer_names, bbox, progress=progress, max_per_level=RESEED_MAX_PER_LEVEL)
    logger.info(
        "re-seeded %s over %s: %d tiles removed, %d seeded in %.1f s",
        ", ".join(layer_names),
        bbox,
        removed,
        result.tiles,
        result.seconds,
    )
    return result.tiles
