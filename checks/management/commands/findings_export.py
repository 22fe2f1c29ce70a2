"""``manage.py findings_export --format json|xlsx|gpkg [--rule CODE] [--status S] [--out FILE]``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from checks.export import FORMATS, export_findings, export_json
from checks.selectors import FilterError, findings_filtered


class Command(BaseCommand):
    help = "导出检查发现 Export findings (GeoJSON, XLSX with the summary chart, GeoPackage)."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, default="json")
        parser.add_argument("--rule", help="only this rule (e.g. ZRZ-001)")
        parser.add_argument("--status", help="only these statuses, comma-separated (new,confirmed,…)")
        parser.add_argument("--county", help="only this county (6-digit code)")
        parser.add_argument("--out", help="output file (JSON goes to stdout without it)")

    def handle(self, *args, **opts):
        try:
            qs = findings_filtered(rule=opts["rule"], status=opts["status"], county=opts["county"])
        except FilterError as exc:
            raise CommandError(f"--{exc.param}: {exc}") from exc
        fmt = opts["format"]
        if not opts["out"]:
            if fmt != "json":
                raise CommandError(f"--out FILE is required for --format {fmt}")
            self.stdout.write(export_json(qs).decode("utf-8"))
            return
        out = Path(opts["out"])
        if not out.parent.is_dir():
            raise CommandError(f"--out: folder {out.parent} does not exist")
        export_findings(qs, fmt, out)
        self.stderr.write(f"{qs.count()} 条 findings → {out}")
