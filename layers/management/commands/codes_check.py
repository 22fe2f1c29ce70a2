"""Check 宗地代码 / 不动产单元号 values: one line per value, OK or every reason; exit 1 if any is invalid."""

from django.core.management.base import BaseCommand, CommandError

from layers.codes import errors, validate_bdcdyh, validate_zddm
from layers.selectors import county_table

VALIDATORS = {"zddm": validate_zddm, "bdcdyh": validate_bdcdyh}


class Command(BaseCommand):
    help = "Validate ZDDM (19) or BDCDYH (28) codes against GB/T 37346 and the GB/T 2260 county list."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(VALIDATORS), help="zddm or bdcdyh")
        parser.add_argument("values", nargs="+", metavar="VALUE")

    def handle(self, *args, kind: str, values: list[str], **options):
        validate = VALIDATORS[kind]
        counties = county_table()
        invalid = 0
        for value in values:
            problems = validate(value, counties=counties)
            if errors(problems):
                invalid += 1
                status = "INVALID"
            else:
                status = "OK"
            reasons = "; ".join(
                f"[{p.code}{'' if p.severity == 'error' else ' warning'}] {p.message}" for p in problems
            )
            self.stdout.write(f"{value}\t{status}" + (f"\t{reasons}" if reasons else ""))
        if invalid:
            raise CommandError(f"{invalid} of {len(values)} value(s) invalid", returncode=1)
