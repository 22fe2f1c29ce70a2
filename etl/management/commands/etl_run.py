"""Load a business system's export through its mapping: ``etl_run SYSTEM PATH [--dry-run] [--json]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from etl.errors import EtlError
from etl.mapping import known_systems
from etl.models import LoadRun
from etl.runner import run_load


class Command(BaseCommand):
    help = "Load an export (folder, zip or file) of SYSTEM into the unified schema; report every mismatch."

    def add_arguments(self, parser):
        parser.add_argument("system", help=f"business system: {', '.join(known_systems())}")
        parser.add_argument("path", nargs="?", help="the export: a folder, a zip or a single file")
        parser.add_argument(
            "--dry-run", action="store_true", help="read and validate everything, move nothing"
        )
        parser.add_argument(
            "--json", action="store_true", help="print the run summary as JSON on the last line"
        )
        parser.add_argument(
            "--allow-mass-delete",
            action="store_true",
            help="allow a full export to delete more than half of the system's rows",
        )
        parser.add_argument(
            "--only-rejected",
            type=int,
            metavar="RUN",
            help="re-run only the rows rejected by run RUN (after a mapping or code-list fix)",
        )

    def handle(
        self,
        *args,
        system: str,
        path: str | None,
        dry_run: bool,
        json: bool,
        only_rejected: int | None,
        allow_mass_delete: bool = False,
        **options,
    ):
        earlier = None
        if only_rejected is not None:
            try:
                earlier = LoadRun.objects.get(pk=only_rejected, system=system)
            except LoadRun.DoesNotExist as exc:
                raise CommandError(f"no load run {only_rejected} of system '{system}'") from exc
            path = path or earlier.source_path
        if not path:
            raise CommandError("PATH is required (the export folder, zip or file)")
        bar = tqdm(total=1, unit="row", disable=json or not sys.stderr.isatty(), file=sys.stderr, leave=False)

        def progress(stage: str, done: int, total: int) -> None:
            if bar.disable:
                if not json and options["verbosity"] > 1:
                    self.stderr.write(f"{stage}: {done}/{total}")
                return
            bar.set_description(stage)
            bar.total = max(total, 1)
            bar.n = done
            bar.refresh()

        try:
            run = run_load(
                system,
                Path(path),
                dry_run=dry_run,
                only_rejected_of=earlier,
                progress=progress,
                allow_mass_delete=allow_mass_delete,
            )
        except EtlError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        summary = {"run": run.pk, "system": system, "counts": run.counts}
        if json:
            self.stdout.write(_dumps(summary))
            return
        c = run.counts
        kind = "Dry run" if dry_run else "Load"
        self.stdout.write(
            f"{kind} #{run.pk} of {system} completed: read {c['read']}, added {c['added']}, "
            f"updated {c['updated']}, unchanged {c['unchanged']}, deleted {c['deleted']}, "
            f"rejected {c['rejected']}, warnings {c['warnings']} "
            f"({(run.finished_at - run.started_at).total_seconds():.1f} s)"
        )
        rules = run.problems.values_list("rule", "severity")
        tally: dict[tuple[str, str], int] = {}
        for rule, severity in rules:
            tally[(rule, severity)] = tally.get((rule, severity), 0) + 1
        for (rule, severity), count in sorted(tally.items(), key=lambda kv: -kv[1]):
            self.stdout.write(f"  {severity:7} {rule:28} {count}")
        if tally:
            self.stdout.write(f"Report: python manage.py etl_report {run.pk} --format json|xlsx|gpkg")


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
