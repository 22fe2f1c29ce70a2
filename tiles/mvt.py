"""Mapbox vector tiles straight from PostGIS (``ST_AsMVT``), on the Web Mercator tile grid.

Why in our own view: MapProxy cannot cache or proxy MVT, and PostGIS builds a tile of a few thousand
parcels in tens of milliseconds. Per zoom the tile carries only the attributes the registry lists for that
zoom, and geometries are simplified to ``simplify_px`` of a pixel below ``simplify_until``, so small-scale
tiles stay small.
"""

from __future__ import annotations

from django.db import connection

from layers.geodesy import NULL_DATUM_SRID
from layers.registry import SRID, Layer

EXTENT = 4096
BUFFER = 64
WORLD = 40075016.685578488  # Web Mercator world width in metres


def _value_sql(layer: Layer, column: str) -> str:
    kind = layer.attribute(column).type
    if kind == "number":
        return f"src.{column}::float8 AS {column}"
    if kind in ("date", "datetime"):
        return f"src.{column}::text AS {column}"
    return f"src.{column}"


def tile_sql(layer: Layer, z: int) -> str:
    """The tile query for zoom ``z``; parameters: z, x, y, z, x, y (envelope twice: clip and index)."""
    columns = "".join(f", {_value_sql(layer, a.column)}" for a in layer.attributes_at(z))
    # lon/lat projected as WGS 84: the same coordinates, a much cheaper PROJ path (layers.geodesy) — the
    # projection was the largest part of a dense tile's time
    geom = f"ST_Transform(ST_SetSRID(src.geom, {NULL_DATUM_SRID}), 3857)"
    if z < layer.simplify_until and layer.simplify_px > 0:
        tolerance = layer.simplify_px * WORLD / (2**z) / 256
        # plain Douglas-Peucker: ST_AsMVTGeom repairs what it breaks, and it is cheaper than the
        # topology-preserving variant on dense tiles
        geom = f"ST_Simplify({geom}, {tolerance:.6f}, true)"
    margin = BUFFER / EXTENT
    return (
        f"SELECT ST_AsMVT(t, '{layer.name}', {EXTENT}, 'geom', 'id') FROM ("
        f"SELECT src.id{columns}, "
        f"ST_AsMVTGeom({geom}, ST_TileEnvelope(%s, %s, %s), {EXTENT}, {BUFFER}, true) AS geom "
        f"FROM {layer.relation()} "
        f"WHERE src.geom && ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => {margin}), {SRID})"
        ") AS t WHERE t.geom IS NOT NULL"
    )


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= 22 and 0 <= x < 2**z and 0 <= y < 2**z


VERSION_SQL = "SELECT COALESCE((SELECT version FROM tiles_layerversion WHERE layer = %s), 0)"


def render_tile_with_version(layer: Layer, z: int, x: int, y: int) -> tuple[int, bytes]:
    """The layer's data version and the tile, read by one statement (one snapshot: the version is the
    one of the data the tile was built from, so its ETag can never label older or newer data)."""
    if not layer.min_zoom <= z <= layer.max_zoom:
        with connection.cursor() as cursor:
            cursor.execute(VERSION_SQL, [layer.name])
            return cursor.fetchone()[0], b""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ({VERSION_SQL}), ({tile_sql(layer, z)})", [layer.name, z, x, y, z, x, y])
        version, data = cursor.fetchone()
    return version, bytes(data or b"")


def render_tile(layer: Layer, z: int, x: int, y: int) -> bytes:
    """The tile's bytes (empty outside the layer's zoom range: nothing to draw there by design)."""
    if not layer.min_zoom <= z <= layer.max_zoom:
        return b""
    with connection.cursor() as cursor:
        cursor.execute(tile_sql(layer, z), [z, x, y, z, x, y])
        (data,) = cursor.fetchone()
    return bytes(data or b"")
