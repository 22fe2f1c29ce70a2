"""``manage.py tiles_seed [--layer L ...] [--levels A-B] [--bbox minx,miny,maxx,maxy]``: fill the raster
caches ahead of users, with a progress bar. Without ``--bbox`` each layer's data extent is seeded."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from layers import registry
from layers.features import QueryError, layer_extent, parse_bbox
from tiles import seeding


def parse_levels(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        levels = (int(low), int(high if sep else low))
    except ValueError as exc:
        raise CommandError(f"--levels {text!r}: expected A-B, e.g. 10-14") from exc
    if not 0 <= levels[0] <= levels[1] <= 20:
        raise CommandError(f"--levels {text!r}: need 0 <= A <= B <= 20")
    return levels


class Command(BaseCommand):
    help = "预生成栅格瓦片 Seed the raster caches (both grids) for layers, levels and a bbox (EPSG:4490)."

    def add_arguments(self, parser):
        parser.add_argument("--layer", action="append", help="registry layer name (repeatable; default all)")
        parser.add_argument(
            "--levels", help="A-B, e.g. 10-14 (default: layer's min zoom to TILES_SEED_MAX_ZOOM)"
        )
        parser.add_argument(
            "--bbox", help="minx,miny,maxx,maxy in CGCS2000 lon/lat (default: the data extent)"
        )

    def handle(self, *args, **options):
        names = options["layer"] or [layer.name for layer in registry.all_layers()]
        unknown = [n for n in names if registry.get(n) is None]
        if unknown:
            known = ", ".join(layer.name for layer in registry.all_layers())
            raise CommandError(f"unknown layer(s) {', '.join(unknown)}; known: {known}")
        levels = parse_levels(options["levels"]) if options["levels"] else None
        try:
            bbox = parse_bbox(options["bbox"], "--bbox") if options["bbox"] else None
        except QueryError as exc:
            raise CommandError(str(exc)) from exc
        total_tiles, total_seconds = 0, 0.0
        for name in names:
            extent = bbox or layer_extent(registry.get(name))
            if extent is None:
                self.stdout.write(f"{name}: no data, nothing to seed")
                continue
            bar = tqdm(desc=name, unit="tile", file=self.stderr._out, leave=True)

            def progress(done, total, bar=bar):
                bar.total = total
                bar.n = done
                if done == total or done % 10 == 0:
                    bar.refresh()

            result = seeding.seed([name], extent, levels, progress)
            bar.close()
            total_tiles += result.tiles
            total_seconds += result.seconds
        rate = total_tiles / total_seconds if total_seconds else 0.0
        self.stdout.write(f"seeded {total_tiles} tiles in {total_seconds:.1f} s ({rate:.1f} tiles/s)")
