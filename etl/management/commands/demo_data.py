"""``manage.py demo_data --out DIR [--scale X] [--seed N]``: write the demo exports.

See docs/demo-exports.md for the files, the manifest and every planted defect.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from etl.demo import generate


class Command(BaseCommand):
    help = (
        "Write synthetic exports of Chongqing's registration, planning-permit and land-supply systems, "
        "with planted defects listed in manifest.json (scale 1 ≈ 20 000 parcels)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
        parser.add_argument("--scale", type=float, default=1.0, help="size factor; 1 ≈ 20 000 parcels")
        parser.add_argument(
            "--seed", type=int, default=1, help="random seed; same seed and scale → same data"
        )
        parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")

    def handle(self, *args, **options) -> None:
        scale = options["scale"]
        if not scale > 0:
            raise CommandError("--scale must be a positive number")
        if options["seed"] < 0:
            raise CommandError("--seed must be a non-negative integer")
        started = time.monotonic()
        manifest = generate(
            options["out"], scale=scale, seed=options["seed"], progress=not options["no_progress"]
        )
        elapsed = time.monotonic() - started
        out = options["out"]
        self.stdout.write(
            f"Demo exports written to {out} in {elapsed:.1f} s (seed {manifest['seed']}, scale {scale})."
        )
        for system in manifest["systems"].values():
            for f in system["files"]:
                self.stdout.write(f"  {f['path']:<32} {f['rows']:>8} rows  {f['crs']:<10} {f['encoding']}")
        counts = manifest["counts"]
        self.stdout.write(
            f"  planted defects: {counts['defects_total']}, controls: {counts['controls_total']}"
        )
        for kind, n in counts["defects"].items():
            self.stdout.write(f"    {kind:<26} {n:>5}")
        self.stdout.write(self.style.SUCCESS(f"manifest: {out / 'manifest.json'}"))
