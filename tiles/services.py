"""Writes of the tiles app: layer data versions, and what a load means for the caches."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from layers import registry
from layers.registry import Layer


def layer_version(name: str) -> int:
    """The data version of a layer (0 before its first recorded change)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM tiles_layerversion WHERE layer = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else 0


def layers_bump(*, names: Iterable[str], extent_wkt: str | None = None, run_id: int | None = None) -> None:
    """Move the data version of ``names`` on (one statement per layer; creates the row on first use)."""
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(
                "INSERT INTO tiles_layerversion (layer, version, changed_at, changed_extent, changed_by_run) "
                "VALUES (%s, 1, now(), ST_GeomFromText(%s, 4490), %s) "
                "ON CONFLICT (layer) DO UPDATE SET version = tiles_layerversion.version + 1, "
                "changed_at = now(), changed_extent = EXCLUDED.changed_extent, "
                "changed_by_run = EXCLUDED.changed_by_run",
                [name, extent_wkt, run_id],
            )


def layers_changed_by_run(run) -> list[Layer]:
    """Registry layers a committed load changed: those fed by a target it touched, and the quarantine."""
    targets = set(run.changed_keys.values_list("target", flat=True).distinct())
    return registry.layers_for_targets(targets)
