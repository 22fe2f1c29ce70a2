"""A load run: read → check the schema → transform and validate → stage → apply in one transaction.

The same function serves ``manage.py etl_run``, the background job and the tests. Reading and validation
are vectorised (:mod:`etl.transforms`, :mod:`etl.geometry`); accepted rows are COPYed into a temporary
staging table and merged into the unified table set-based: added / updated / unchanged / deleted per natural
key, in one transaction with the problems and the run's counts, so a failure at any point (bad file, killed
process, database gone) leaves the unified tables exactly as before. Rows that fail a rule are not lost:
they are stored as problems with their raw values and geometry.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from etl import staging
from etl.errors import EtlError, SchemaMismatchError, SourceError
from etl.geometry import area_problems, gk_area_m2, parse_geometries, process_geometries
from etl.mapping import Mapping, TargetSpec, load_mapping
from etl.models import LoadRun
from etl.safezip import unpack
from etl.signals import load_completed
from etl.sources import SourceTable, iter_source, sha256_of
from etl.transforms import FieldProblem, Lookups, transform_field
from layers.codes import validate_bdcdyh, validate_zddm
from layers.selectors import county_table, jurisdiction_geometry

logger = logging.getLogger(__name__)

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass
class TargetResult:
    """Everything a target produced before it is applied."""

    target: TargetSpec
    table: SourceTable
    columns: dict[str, np.ndarray]
    geoms: np.ndarray
    problems: list[FieldProblem]
    accepted: np.ndarray  # bool per table row
    keys: np.ndarray  # natural key text per row ('' when unknown)
    counts: dict = field(default_factory=dict)


class LoadCancelled(EtlError):
    """Raised by a progress callback to stop a load; the run ends ``cancelled`` and nothing is applied."""


def _noop(stage: str, done: int, total: int) -> None:
    pass


def natural_keys(columns: dict[str, np.ndarray], key: tuple[str, ...], n: int) -> np.ndarray:
    """The natural key of every row as text ('/'-joined parts; '' when a part is missing)."""
    keys = np.full(n, "", dtype=object)
    parts = []
    missing = np.zeros(n, dtype=bool)
    for name in key:
        column = np.asarray(columns[name], dtype=object)
        missing |= np.array([v is None for v in column], dtype=bool)
        if pd.api.types.infer_dtype(column, skipna=True) == "string":  # text already (the common case)
            parts.append(column)
        else:
            parts.append(np.array([str(v) for v in column], dtype=object))
    present = np.flatnonzero(~missing)
    if len(parts) == 1:
        keys[present] = parts[0][present]
    else:
        keys[present] = ["/".join(t) for t in zip(*(p[present] for p in parts), strict=True)]
    return keys


COUNT_KEYS = ("read", "added", "updated", "unchanged", "deleted", "rejected", "warnings")


def prepare_export(path: Path, run_dir: Path) -> Path:
    """A folder to read from: the export itself, or a zip unpacked safely into ``run_dir``."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".zip":
        return unpack(path, run_dir)
    return path


def check_schema(target: TargetSpec, table: SourceTable) -> tuple[list[str], list[str]]:
    """(missing source fields, extra source fields) of a target against what the file has."""
    wanted: list[str] = []
    for f in target.fields:
        wanted.extend(f.sources)
    wanted.extend(target.geometry.sources)
    have = set(table.columns)
    missing = sorted({w for w in wanted if w not in have})
    extra = sorted(have - set(wanted))
    return missing, extra


def make_validators() -> dict:
    counties = county_table()
    cache: dict = {}  # parcel-code prefixes already checked, shared by both validators (same counties)
    return {
        "zddm": lambda v: validate_zddm(v, counties=counties, cache=cache),
        "bdcdyh": lambda v: validate_bdcdyh(v, counties=counties, cache=cache),
    }


def key_function(target: TargetSpec, lookups: Lookups, validators: dict):
    """``keys_of(table, ids)``: the natural keys of a table's rows by the mapping's transformation of the
    key fields alone. For rows recognised as unchanged: they were valid when loaded (validators only
    report, they never change a value), so the checks are left out."""
    specs = [dataclasses.replace(f, validate=None) for f in target.fields if f.target in target.key]

    def keys_of(table: SourceTable, ids=None) -> np.ndarray:
        n = len(table)
        columns = {
            spec.target: transform_field(spec, table.data, n, lookups, validators)[0] for spec in specs
        }
        return natural_keys(columns, target.key, n)

    return keys_of


def evaluate_chunk(
    mapping: Mapping,
    target: TargetSpec,
    table: SourceTable,
    lookups: Lookups,
    chongqing,
    validators: dict,
    seen_keys: dict[str, int],
    progress: Progress = _noop,
) -> TargetResult:
    """Transform and validate one chunk of a target's rows; ``seen_keys`` carries the natural keys (and
    their row numbers) of earlier chunks so duplicates are found across the whole file."""
    n = len(table)
    missing, _extra = check_schema(target, table)
    if missing:
        raise SchemaMismatchError(
            f"{table.display_name}: source field(s) {', '.join(missing)} missing for target '{target.name}' "
            f"(the file has: {', '.join(table.columns)}). Fix the mapping etl/mappings/{mapping.system}.yaml "
            "or ask the system for a complete export."
        )
    problems: list[FieldProblem] = []
    columns: dict[str, np.ndarray] = {}
    for spec in target.fields:
        values, field_problems = transform_field(spec, table.data, n, lookups, validators)
        columns[spec.target] = values
        problems.extend(field_problems)
    progress(f"{target.name}: fields", n, n)

    geoms, parse_problems = parse_geometries(target.geometry, table.geometry_wkb, table.data, n)
    result = process_geometries(target.geometry, geoms, chongqing)
    problems.extend(parse_problems)
    problems.extend(result.problems)
    geoms = result.geoms
    if target.geometry.area_field:
        computed = gk_area_m2(geoms, known=result)
        label = next(
            ("+".join(f.sources) for f in target.fields if f.target == target.geometry.area_field), ""
        )
        problems.extend(area_problems(columns[target.geometry.area_field], computed, target.geometry, label))
    progress(f"{target.name}: geometry", n, n)

    keys = natural_keys(columns, target.key, n)
    errored = np.zeros(n, dtype=bool)
    for p in problems:
        if p.severity == "error":
            errored[p.index] = True
    # duplicates of a key seen in an earlier chunk or earlier in this one: the first row wins
    candidates = np.flatnonzero((keys != "") & ~errored)
    candidate_keys = keys[candidates].tolist()
    candidate_rows = table.rows[candidates].tolist()
    earlier = [seen_keys.get(k) for k in candidate_keys]
    repeated = pd.Index(candidate_keys).duplicated(keep="first")
    first_here: dict[str, int] = {}  # row of the first occurrence in this chunk of a key repeated in it
    if repeated.any():
        for k, r in zip(candidate_keys, candidate_rows, strict=True):
            first_here.setdefault(k, r)
    for j in np.flatnonzero(repeated | np.array([r is not None for r in earlier], dtype=bool)):
        key = candidate_keys[j]
        first_row = earlier[j] if earlier[j] is not None else first_here[key]
        i = int(candidates[j])
        problems.append(
            FieldProblem(
                i,
                "key_duplicate",
                "+".join(target.key),
                f"自然键「{key}」与第{first_row}行重复，本行未加载",
                f"natural key '{key}' repeats row {first_row}; this row was not loaded",
                expected="unique",
                actual=key,
            )
        )
        errored[i] = True
    seen_keys.update(
        (k, r)
        for k, r, e, d in zip(candidate_keys, candidate_rows, earlier, repeated, strict=True)
        if e is None and not d
    )
    accepted = ~errored & ~shapely.is_missing(geoms)
    result_obj = TargetResult(target, table, columns, geoms, problems, accepted, keys)
    result_obj.counts = {"read": n, "transform": result.transform}
    return result_obj


def _stream_target(
    stager: staging.Stager,
    mapping: Mapping,
    target: TargetSpec,
    root: Path,
    only: dict[str, set[int]],
    lookups: Lookups,
    chongqing,
    validators: dict,
    progress: Progress,
) -> tuple[dict, dict]:
    """Read, validate and stage one target chunk by chunk, then apply it; (counts, what was learnt of the
    source file)."""
    expected = {src for f in target.fields for src in f.sources} | set(target.geometry.sources)
    seen_keys: dict[str, int] = {}
    keys_of = key_function(target, lookups, validators)
    source_info = {"file": "", "encoding": None, "encoding_source": ""}
    for table in iter_source(root, target.source, expected):
        if target.name in only:
            table = table.subset(np.isin(table.rows, np.fromiter(only[target.name], dtype=np.int64)))
        if not source_info["file"]:  # what was learnt while reading (not the rows: memory stays flat)
            source_info = {
                "file": table.display_name,
                "encoding": table.encoding,
                "encoding_source": table.encoding_source,
            }
        progress(f"{target.name}: read", stager.counts["read"] + len(table), 0)
        table = stager.skip_unchanged(table, seen_keys, keys_of)
        if not len(table):
            continue
        result = evaluate_chunk(mapping, target, table, lookups, chongqing, validators, seen_keys, progress)
        staging.flag_gcj02_shifts(result)
        stager.add(result)
    return stager.finish(progress), source_info


def _lock_key(system: str) -> int:
    return zlib.crc32(f"onemap.etl.{system}".encode()) & 0x7FFFFFFF


def run_load(
    system: str,
    path: Path | str,
    *,
    dry_run: bool = False,
    only_rejected_of: LoadRun | None = None,
    user=None,
    progress: Progress = _noop,
    mapping: Mapping | None = None,
    allow_mass_delete: bool = False,
) -> LoadRun:
    """Load one export of ``system``. Returns the finished run; raises EtlError for a fatal problem (the
    run is then recorded as failed and the unified tables are untouched). ``mapping`` overrides the
    shipped mapping of the system (tests, previews of an edited mapping)."""
    mapping = mapping or load_mapping(system)
    path = Path(path)
    run = LoadRun.objects.create(
        system=system,
        source_path=str(path),
        mapping_version=mapping.version_tag,
        dry_run=dry_run,
        only_rejected_of=only_rejected_of,
        user=user,
    )
    work_dir = Path(settings.VAR_DIR) / "etl" / f"run-{run.pk}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(system)])
        if not cursor.fetchone()[0]:
            run.status, run.error = LoadRun.Status.FAILED, f"another load of '{system}' is running"
            run.finished_at = timezone.now()
            run.save()
            raise EtlError(f"another load of '{system}' is running; try again when it has finished")
    try:
        LoadRun.objects.filter(system=system, status=LoadRun.Status.RUNNING).exclude(pk=run.pk).update(
            status=LoadRun.Status.FAILED,
            error="interrupted (the process ended before the run finished)",
            finished_at=timezone.now(),
        )
        root = prepare_export(path, work_dir)
        run.checksum = sha256_of(path)
        run.save(update_fields=["checksum"])
        _execute(run, mapping, root, dry_run, only_rejected_of, progress, allow_mass_delete)
    except Exception as exc:
        run.refresh_from_db()
        run.status = LoadRun.Status.CANCELLED if isinstance(exc, LoadCancelled) else LoadRun.Status.FAILED
        run.error = str(exc) if isinstance(exc, EtlError) else f"{type(exc).__name__}: {exc}"
        run.finished_at = timezone.now()
        run.save()
        if isinstance(exc, EtlError):
            raise
        raise EtlError(f"load of {path} failed: {run.error}") from exc
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(system)])
    if not dry_run:
        transaction.on_commit(lambda: _announce(run))
    return run


def _announce(run: LoadRun) -> None:
    """Tell the other apps (re-checks, tile re-seeding) what this committed load changed. Their failure is
    logged, never turned into a failed load: the data is in. Sent on commit (at once outside a transaction),
    so a receiver never sees a load that could still roll back."""
    for receiver, result in load_completed.send_robust(sender=LoadRun, run=run):
        if isinstance(result, Exception):
            logger.error("after load #%s: %s failed: %s", run.pk, receiver, result, exc_info=result)


def _execute(
    run: LoadRun,
    mapping: Mapping,
    root: Path,
    dry_run: bool,
    only_rejected_of,
    progress,
    allow_mass_delete=False,
) -> None:
    lookups = Lookups()
    chongqing = jurisdiction_geometry()
    validators = make_validators()
    only: dict[str, set[int]] = {}
    if only_rejected_of is not None:
        rejected = only_rejected_of.problems.filter(severity="error", resolved_by=None).exclude(row=None)
        for target_name, row in rejected.values_list("target", "row"):
            only.setdefault(target_name, set()).add(row)
    totals: Counter = Counter()
    per_target = {}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('onemap.load_run', %s, true)", [str(run.pk)])
        for target in mapping.targets:
            if only_rejected_of is not None and target.name not in only:
                continue
            stager = staging.Stager(
                run,
                mapping,
                target,
                dry_run=dry_run,
                incremental=only_rejected_of is not None,
                allow_mass_delete=allow_mass_delete,
                salt=lookups.fingerprint(),
            )
            try:
                counts, source_info = _stream_target(
                    stager, mapping, target, root, only, lookups, chongqing, validators, progress
                )
            except Exception as exc:
                # a failed background COPY aborts the transaction: its error is the one that explains
                try:
                    stager.wait()
                except Exception as copy_error:
                    raise copy_error from exc
                raise
            per_target[target.name] = {
                **counts,
                **source_info,
                "transform": stager.transform,
            }
            for key in COUNT_KEYS:
                totals[key] += counts.get(key, 0)
        run.counts = {k: totals.get(k, 0) for k in COUNT_KEYS}
        run.per_target = per_target
        run.transforms = {
            name: t["transform"] | {"encoding": t["encoding"], "encoding_source": t["encoding_source"]}
            for name, t in per_target.items()
        }
        if not dry_run:
            run.changed_extent = staging.changed_extent(run)
        run.status = LoadRun.Status.COMPLETED
        run.finished_at = timezone.now()
        run.save()
    progress("done", 1, 1)
