"""Background jobs of the tiles app (queue ``tiles``): re-seed what a load changed."""

from __future__ import annotations

from procrastinate.contrib.django import app


@app.task(queue="tiles", name="tiles.reseed_changed_extent")
def reseed_changed_extent(
    layers: list[str], run_id: int | None = None, extent: list[float] | None = None
) -> int:
    """Clean up and re-seed the raster caches of ``layers`` over what changed: a load run's changed extent
    (old and new geometries, see ``etl.staging.changed_extent``, and its problems), or ``extent`` (minx,
    miny, maxx, maxy in 4490) from the owner of a layer the ETL does not feed; returns the number of tiles
    seeded. MapProxy has no per-feature invalidation, so the extent is the unit."""
    from tiles import seeding
    from tiles.services import run_extent

    box = tuple(extent) if extent is not None else run_extent(run_id) if run_id is not None else None
    if box is None:
        return 0
    return seeding.reseed_extent(layers, box)
