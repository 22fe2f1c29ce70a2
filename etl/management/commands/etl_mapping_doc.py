"""Write the mapping documents: ``etl_mapping_doc [SYSTEM ...] [--file PATH ...] [--out DIR]``.

One self-contained HTML page per system (``DIR/<system>.html``, default ``var/docs/mappings``), written
from the YAML mapping and the code lists / crosswalks in the database (see :mod:`etl.mapping_doc`).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from etl.errors import MappingError
from etl.mapping import known_systems, load_mapping, parse_mapping
from etl.mapping_doc import render_mapping_html


class Command(BaseCommand):
    help = "Write an HTML page documenting each system's mapping (default: every shipped mapping)."

    def add_arguments(self, parser):
        parser.add_argument("systems", nargs="*", metavar="SYSTEM", help=f"of: {', '.join(known_systems())}")
        parser.add_argument(
            "--file",
            action="append",
            default=[],
            metavar="PATH",
            help="document this mapping file instead of / besides the shipped ones (repeatable)",
        )
        parser.add_argument(
            "--out",
            default=str(Path(settings.VAR_DIR) / "docs" / "mappings"),
            help="output folder (default var/docs/mappings)",
        )

    def handle(self, *args, systems: list[str], file: list[str], out: str, **options):
        mappings = []
        try:
            for system in systems or ([] if file else known_systems()):
                mappings.append(load_mapping(system))
            for path in file:
                try:
                    text = Path(path).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise CommandError(f"{path}: cannot be read: {exc}") from exc
                mappings.append(parse_mapping(text, str(path)))
        except MappingError as exc:
            raise CommandError(f"{exc}\nCheck it with: python manage.py etl_check") from exc
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        for mapping in mappings:
            target = out_dir / f"{mapping.system}.html"
            target.write_text(render_mapping_html(mapping), encoding="utf-8")
            self.stdout.write(f"wrote {target}")
