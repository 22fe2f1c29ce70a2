"""Background jobs of the tiles app (queue ``tiles``): re-seed what a load changed."""

from __future__ import annotations

from procrastinate.contrib.django import app


@app.task(queue="tiles", name="tiles.reseed_changed_extent")
def reseed_changed_extent(run_id: int, layers: list[str]) -> int:
    """Clean up and re-seed the raster caches of ``layers`` over the run's changed extent (old and new
    geometries, see ``etl.staging.changed_extent``); returns the number of tiles seeded. MapProxy has no
    per-feature invalidation, so the extent is the unit."""
    from tiles import seeding
    from tiles.services import run_extent

    extent = run_extent(run_id)
    if extent is None:
        return 0
    return seeding.reseed_extent(layers, extent)
