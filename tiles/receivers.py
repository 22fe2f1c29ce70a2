"""After a committed change of a layer's data: move its data version on at once (so no vector-tile ETag can
revalidate to old data, even before the worker runs) and queue the raster re-seed of the changed extent.
Two senders: an ETL load (``etl.signals.load_completed``) and the owner of a layer the ETL does not feed,
such as the open findings (``layers.signals.layer_data_changed``)."""

from __future__ import annotations

import logging

from layers import registry
from tiles.services import extent_wkt, layers_bump, layers_changed_by_run, run_extent

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


def on_layer_data_changed(sender, layers, extent, **kwargs) -> None:
    names = [name for name in layers if registry.get(name) is not None]
    if not names or extent is None:
        return
    layers_bump(names=names, extent_wkt=extent_wkt(extent))
    from tiles.tasks import reseed_changed_extent

    reseed_changed_extent.defer(layers=names, extent=[float(v) for v in extent])
    logger.info("%s changed over %s: re-seed queued", ", ".join(names), extent)
