"""``manage.py checks_run [--rule CODE ...] [--full] [--json]``: run the consistency rules."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from checks.engine import run_checks
from checks.rules import UnknownRuleError, get_rule


class Command(BaseCommand):
    help = (
        "运行一致性检查规则 Run the consistency rules (incremental from the ETL change records, or --full)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rule", action="append", metavar="CODE", help="only this rule (repeatable)")
        parser.add_argument(
            "--full", action="store_true", help="re-evaluate everything, not only what changed"
        )
        parser.add_argument("--json", action="store_true", help="last line: the run's counts as JSON")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **opts):
        try:
            codes = [get_rule(c).code for c in opts["rule"]] if opts["rule"] else None
        except UnknownRuleError as exc:
            raise CommandError(exc.args[0]) from exc
        bar = None if opts["no_progress"] else tqdm(total=1, unit="rule", desc="检查 checks")

        def progress(stage: str, done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.n = done
                bar.set_postfix_str(stage)
                bar.refresh()

        try:
            run = run_checks(rules=codes, full=opts["full"], trigger="cli", progress=progress)
        finally:
            if bar is not None:
                bar.close()
        summary = {
            code: {k: c[k] for k in ("open", "new", "fixed", "reopened")} for code, c in run.counts.items()
        }
        if not opts["json"]:
            for code, c in run.counts.items():
                self.stdout.write(
                    f"{code:8} {c['mode']:11} open {c['open']:6} new {c['new']:6} fixed {c['fixed']:6} "
                    f"reopened {c['reopened']:6} ({run.timings[code]:.2f} s)"
                )
            self.stdout.write(f"检查批次 check run #{run.pk}: {run.status}")
        else:
            self.stdout.write(json.dumps({"run": run.pk, "findings": summary}, ensure_ascii=False))
