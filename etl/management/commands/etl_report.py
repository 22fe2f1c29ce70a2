"""Export the schema-mismatch report of a run: ``etl_report RUN --format json|xlsx|gpkg [--out FILE]``."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from etl.models import LoadRun
from etl.report import report_data, write_gpkg, write_xlsx


class Command(BaseCommand):
    help = "Write the mismatch report of a load run (every rejection and warning, with counts)."

    def add_arguments(self, parser):
        parser.add_argument("run", type=int)
        parser.add_argument("--format", choices=["json", "xlsx", "gpkg"], default="json")
        parser.add_argument("--out", help="output file (JSON goes to stdout without it)")

    def handle(self, *args, run: int, format: str, out: str | None, **options):
        try:
            load_run = LoadRun.objects.get(pk=run)
        except LoadRun.DoesNotExist as exc:
            raise CommandError(f"no load run {run}") from exc
        if format == "json":
            text = json.dumps(report_data(load_run), ensure_ascii=False, indent=2)
            if out:
                Path(out).write_text(text, encoding="utf-8")
            else:
                self.stdout.write(text)
            return
        if not out:
            raise CommandError(f"--out FILE is required for --format {format}")
        writer = write_xlsx if format == "xlsx" else write_gpkg
        path = writer(load_run, Path(out))
        self.stdout.write(f"wrote {path}")
