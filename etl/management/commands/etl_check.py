"""Validate mappings without side effects: ``etl_check [SYSTEM ...] [--file PATH ...]``.

Prints ``OK`` per mapping, or every problem with its path in the file
(``targets[0].fields.land_use.codelist``); exits 1 if any mapping is invalid. Beyond what parsing checks
(YAML syntax, structure, model fields, CRS, encodings), it checks the references against the database,
read-only: every ``codelist:`` is a ``layers.models.CodeList`` with codes, every ``crosswalk:`` has current
``CrosswalkEntry`` rows, fixed values (``values:``, ``unmapped: {value: X}``) are among the target field's
choices or in the code list, and a shipped file's ``system`` is its file name (``etl_run SYSTEM`` finds it
by that name).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from etl.errors import MappingError
from etl.mapping import MAPPINGS_DIR, MODELS, known_systems, parse_mapping


def _references() -> dict:
    """What the database holds, read once: code lists with their codes, crosswalks with current entries."""
    from layers.models import Code, CodeList, CrosswalkEntry

    codes: dict[str, set[str]] = {key: set() for key in CodeList.objects.values_list("key", flat=True)}
    for key, code in Code.objects.values_list("codelist__key", "code"):
        codes[key].add(code)
    crosswalks: dict[str, int] = {}
    for key, superseded in CrosswalkEntry.objects.values_list("crosswalk", "superseded_by"):
        crosswalks[key] = crosswalks.get(key, 0) + (superseded is None)
    return {"codes": codes, "crosswalks": crosswalks}


def _known(names) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "(none)"


def reference_problems(doc, refs: dict, *, expected_system: str | None = None) -> list[tuple[str, str]]:
    """Problems of the references a (raw, possibly malformed) mapping document makes to the database."""
    problems: list[tuple[str, str]] = []
    if not isinstance(doc, dict):
        return problems
    if expected_system is not None and doc.get("system") != expected_system:
        problems.append(
            (
                "system",
                f"'{doc.get('system')}' differs from the file name {expected_system}.yaml "
                f"(etl_run {expected_system} reads this file)",
            )
        )
    codes, crosswalks = refs["codes"], refs["crosswalks"]
    targets = doc.get("targets")
    for i, target in enumerate(targets if isinstance(targets, list) else []):
        if not isinstance(target, dict) or not isinstance(target.get("fields"), dict):
            continue
        model = MODELS.get(target.get("model"))
        for name, node in target["fields"].items():
            if not isinstance(node, dict):
                continue
            where = f"targets[{i}].fields.{name}"
            codelist, crosswalk = node.get("codelist"), node.get("crosswalk")
            if codelist is not None:
                if not isinstance(codelist, str) or codelist not in codes:
                    problems.append(
                        (
                            f"{where}.codelist",
                            f"code list '{codelist}' is not in the database (layers.models.CodeList); "
                            f"known: {_known(codes)}",
                        )
                    )
                elif not codes[codelist]:
                    problems.append((f"{where}.codelist", f"code list '{codelist}' has no codes"))
            if crosswalk is not None:
                if not isinstance(crosswalk, str) or crosswalk not in crosswalks:
                    problems.append(
                        (
                            f"{where}.crosswalk",
                            f"crosswalk '{crosswalk}' is not in the database (layers.models.CrosswalkEntry); "
                            f"known: {_known(crosswalks)}",
                        )
                    )
                elif not crosswalks[crosswalk]:
                    problems.append(
                        (f"{where}.crosswalk", f"crosswalk '{crosswalk}' has only superseded entries")
                    )
            choices = _choices(model, name)
            values = node.get("values")
            if choices and isinstance(values, dict):
                for source, value in values.items():
                    if str(value) not in choices:
                        problems.append(
                            (
                                f"{where}.values.{source}",
                                f"'{value}' is not a value of {model.__name__}.{name}: {_known(choices)}",
                            )
                        )
            unmapped = node.get("unmapped")
            if isinstance(unmapped, dict) and "value" in unmapped:
                fixed = str(unmapped["value"])
                if choices and fixed not in choices:
                    problems.append(
                        (
                            f"{where}.unmapped",
                            f"'{fixed}' is not a value of {model.__name__}.{name}: {_known(choices)}",
                        )
                    )
                if isinstance(codelist, str) and codes.get(codelist) and fixed not in codes[codelist]:
                    problems.append((f"{where}.unmapped", f"'{fixed}' is not a code of {codelist}"))
    return problems


def _choices(model, name) -> set[str]:
    if model is None:
        return set()
    try:
        field = model._meta.get_field(str(name))
    except Exception:  # noqa: BLE001 - an unknown field is reported by the parser
        return set()
    return {str(value) for value, _label in field.flatchoices} if field.choices else set()


def check_mapping_text(text: str, path: str, refs: dict, *, expected_system: str | None = None) -> list:
    """Every problem of one mapping file (parser's and database references'), each as (path, message)."""
    problems: list[tuple[str, str]] = []
    try:
        parse_mapping(text, path)
    except MappingError as exc:
        problems.extend(exc.problems)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None  # already reported by the parser
    for problem in reference_problems(doc, refs, expected_system=expected_system):
        if problem not in problems:
            problems.append(problem)
    return problems


class Command(BaseCommand):
    help = "Validate mappings (structure, model fields, CRS, code lists and crosswalks in the database)."

    def add_arguments(self, parser):
        parser.add_argument("systems", nargs="*", metavar="SYSTEM", help=f"of: {', '.join(known_systems())}")
        parser.add_argument(
            "--file",
            action="append",
            default=[],
            metavar="PATH",
            help="check this mapping file (e.g. an edited copy) instead of / besides the shipped ones",
        )

    def handle(self, *args, systems: list[str], file: list[str], **options):
        refs = _references()
        items: list[tuple[Path, str | None]] = []
        for system in systems or ([] if file else known_systems()):
            items.append((MAPPINGS_DIR / f"{system}.yaml", system))
        items.extend((Path(path), None) for path in file)
        invalid = 0
        for path, system in items:
            shown = _display(path)
            head = f"{system}: {shown}" if system else shown
            if not path.is_file():
                known = _known(known_systems())
                self.stdout.write(
                    f"{head}: no mapping for system '{system}'; known: {known}"
                    if system
                    else f"{head}: no such file"
                )
                invalid += 1
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.stdout.write(f"{head}: cannot be read ({exc})")
                invalid += 1
                continue
            problems = check_mapping_text(text, shown, refs, expected_system=system)
            if not problems:
                self.stdout.write(f"{head}: OK")
                continue
            invalid += 1
            self.stdout.write(f"{head}: {len(problems)} problem(s)")
            for where, what in problems:
                self.stdout.write(f"  {where}: {what}")
        if invalid:
            raise CommandError(f"{invalid} of {len(items)} mapping(s) invalid", returncode=1)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(MAPPINGS_DIR.parent.parent))
    except ValueError:
        return str(path)
