"""After a committed load: move the changed layers' data versions on at once (so no vector-tile ETag can
revalidate to old data, even before the worker runs) and queue the raster re-seed of the changed extent."""

from __future__ import annotations

import logging

from tiles.services import layers_bump, layers_changed_by_run, run_extent

logger = logging.getLogger(__name__)


def on_load_completed(sender, run, **kwargs) -> None:
    layers = layers_changed_by_run(run)
    extent = run_extent(run.pk)
    if not layers or extent is None:
        return
    wkt = run.changed_extent.wkt if run.changed_extent else None
    layers_bump(names=[layer.name for layer in layers], extent_wkt=wkt, run_id=run.pk)
    from tiles.tasks import reseed_changed_extent

    reseed_changed_extent.defer(run_id=run.pk, layers=[layer.name for layer in layers])
    logger.info("load #%s: re-seed of %s queued", run.pk, ", ".join(layer.name for layer in layers))
