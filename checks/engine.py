"""The engine: run rules fully or incrementally and reconcile their results with the stored findings.

Everything is set-based SQL: a rule's query fills ``_chk_hits``; the engine turns the row references into
business keys, row versions and fingerprints (``_chk_res``) and reconciles them with ``checks_finding`` in a
handful of statements, each writing its audit events in the same statement. Incremental runs start from
``etl_changedkey`` (see :mod:`checks.scope`); a rule's watermark only moves when its run covered every load
that was dirty for it.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from checks import scope as scoping
from checks.layer import announce
from checks.models import LIVE_STATUSES, OPEN_STATUSES, CheckRun, RuleState, Status
from checks.relations import RELATIONS
from checks.rules import all_rules, get_rule
from checks.rules.base import KEY_SQL, TABLES, Rule

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
LOCK_KEY = zlib.crc32(b"onemap.checks.engine") & 0x7FFFFFFF
IN_SCOPE = re.compile(r"IN_SCOPE\((\w+)\)")


class ChecksError(Exception):
    """A check run could not be carried out (bad rule code, database failure): the message says why."""


@dataclass
class RuleOutcome:
    mode: str
    load_runs: list[int] = field(default_factory=list)
    dirty: int | None = None  # subjects re-evaluated (None = all)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # where open findings kept their status but moved or changed county (the findings layer redraws there)
    moved: tuple[float, float, float, float] | None = None


def _noop(stage: str, done: int, total: int) -> None:
    pass


def render(sql: str, scoped: bool) -> str:
    """Replace ``IN_SCOPE(alias)`` with the full-run or the scoped predicate."""
    if not scoped:
        return IN_SCOPE.sub("TRUE", sql)
    return IN_SCOPE.sub(r"(\1.id IN (SELECT id FROM _chk_scope))", sql)


def _exec(cursor, sql: str, params=None) -> None:
    cursor.execute(sql, params or None)


class RelationCache:
    """Relations built in this run, by name and scope, so rules sharing one build it once."""

    def __init__(self) -> None:
        self.built: dict[str, object] = {}

    def ensure(self, cursor, name: str, scope_token: object) -> None:
        relation = RELATIONS[name]
        token = scope_token if relation.subject else "all"
        if self.built.get(name) == token:
            return
        for table in relation.tables:
            _exec(cursor, f"DROP TABLE IF EXISTS {table}")
        for statement in relation.statements:
            _exec(cursor, render(statement, token != "full" and token != "all"))
        self.built[name] = token

    def drop_all(self, cursor) -> None:
        for name in self.built:
            for table in RELATIONS[name].tables:
                _exec(cursor, f"DROP TABLE IF EXISTS {table}")
        self.built.clear()


def load_ceiling() -> int:
    """The highest load run id below which every load has finished (a still running load keeps the
    watermark below itself, so its changes are not skipped when it commits after later loads)."""
    from etl.models import LoadRun

    running = LoadRun.objects.filter(status=LoadRun.Status.RUNNING, dry_run=False).order_by("id").first()
    if running is not None:
        return running.pk - 1
    last = LoadRun.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def run_checks(
    *,
    rules: list[str] | None = None,
    full: bool = False,
    trigger: str = "cli",
    user=None,
    params: dict[str, dict[str, float]] | None = None,
    progress: Progress = _noop,
) -> CheckRun:
    """Run the given rules (all by default). Without ``full``, each rule re-evaluates only what the loads
    since its watermark made dirty (a rule never run, or whose major version changed, runs fully)."""
    selected = [get_rule(code) for code in rules] if rules else all_rules()
    run = CheckRun.objects.create(
        mode=CheckRun.Mode.FULL if full else CheckRun.Mode.INCREMENTAL,
        rules=[r.code for r in selected],
        trigger=trigger,
        user=user,
    )
    cache = RelationCache()
    counts, timings, covered, moved = {}, {}, set(), []
    with connection.cursor() as cursor:
        _exec(cursor, "SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        # PostGIS predicates gain nothing from JIT; its compile time (≈ 1 s per statement) would dominate
        # incremental runs
        _exec(cursor, "SET jit = off")
        try:
            ceiling = load_ceiling()
            for i, rule in enumerate(selected):
                progress(rule.code, i, len(selected))
                started = time.perf_counter()
                with transaction.atomic():
                    outcome = run_rule(cursor, run, rule, full, ceiling, cache, (params or {}).get(rule.code))
                outcome.seconds = round(time.perf_counter() - started, 3)
                counts[rule.code] = {**outcome.counts, "mode": outcome.mode, "dirty": outcome.dirty}
                if outcome.moved:
                    moved.append(outcome.moved)
                timings[rule.code] = outcome.seconds
                covered.update(outcome.load_runs)
            progress("done", len(selected), len(selected))
            run.counts, run.timings, run.load_runs = counts, timings, sorted(covered)
            run.status, run.finished_at = CheckRun.Status.COMPLETED, timezone.now()
            run.save()
        except Exception as exc:
            run.status, run.finished_at, run.error = CheckRun.Status.FAILED, timezone.now(), str(exc)
            run.save()
            try:  # the rules before the failure committed their findings: their tiles must follow
                announce(changed_extent(cursor, run, moved))
            except Exception:  # noqa: BLE001 - the run's own failure is the one to report
                log.exception("check run #%s: the findings layer could not be refreshed", run.pk)
            raise
        finally:
            cache.drop_all(cursor)
            scoping.drop(cursor)
            _exec(cursor, "RESET jit")
            _exec(cursor, "SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        announce(changed_extent(cursor, run, moved))  # the findings layer's tiles (checks.layer)
    return run


def run_rule(cursor, run: CheckRun, rule: Rule, full: bool, ceiling: int, cache: RelationCache, params=None):
    state = RuleState.objects.filter(rule=rule.code).first()
    digest = scoping.counties_digest(cursor) if rule.reads_counties else ""
    needs_full = (
        full
        or state is None
        or state.watermark is None
        or state.version.split(".")[0] != rule.major
        or state.counties_digest != digest
    )
    values = {**rule.defaults(), **(params or {})}
    if needs_full:
        outcome = RuleOutcome(mode="full")
        scope_token: object = "full"
        scoping.drop(cursor)
    else:
        load_runs = scoping.pending_load_runs(state.watermark)
        outcome = RuleOutcome(mode="incremental", load_runs=load_runs)
        outcome.dirty = scoping.build(cursor, rule, load_runs) if load_runs else 0
        # rules share a relation built on a scope only when their scopes are built alike
        scope_token = ("scope", scoping.signature(rule), tuple(load_runs))
    evaluate = needs_full or outcome.dirty
    if evaluate:
        for name in ("county_pieces", *rule.uses):  # county pieces: every finding is placed in a county
            cache.ensure(cursor, name, scope_token)
        _exec(cursor, "DROP TABLE IF EXISTS _chk_hits")
        _exec(
            cursor,
            "CREATE TEMP TABLE _chk_hits AS SELECT row_number() OVER () AS hid, q.refs, q.geom, q.vals "
            f"FROM ({render(rule.sql, not needs_full)}) q",
            values,
        )
        resolve(cursor, rule)
        outcome.moved = moved_extent(cursor, rule)
        outcome.counts = reconcile(cursor, run, rule, scoped=not needs_full)
    else:
        outcome.counts = reconcile_idle(cursor, run, rule)
    RuleState.objects.update_or_create(
        rule=rule.code,
        defaults={
            "version": rule.version,
            "watermark": ceiling if needs_full else max(ceiling, state.watermark),
            "last_run": run,
            "counties_digest": digest,
            **({"last_full_run": run} if needs_full else {}),
        },
    )
    return outcome


def resolve(cursor, rule: Rule) -> None:
    """Hits → business keys, row versions, material-field hash, fingerprint and county (``_chk_res``)."""
    for table in ("_chk_refs", "_chk_keys", "_chk_res"):
        _exec(cursor, f"DROP TABLE IF EXISTS {table}")
    _exec(
        cursor,
        """
        CREATE TEMP TABLE _chk_refs AS
        SELECT h.hid, split_part(r, ':', 1) AS target, split_part(r, ':', 2)::bigint AS rid
        FROM _chk_hits h CROSS JOIN LATERAL unnest(h.refs) r
        WHERE r IS NOT NULL AND split_part(r, ':', 2) <> ''
        """,
    )
    _exec(
        cursor,
        "CREATE TEMP TABLE _chk_keys (hid bigint, target text, system text, key text, rid bigint, "
        "version int, mat text)",
    )
    for target, table in TABLES.items():
        if target not in rule.reads:
            continue
        material = rule.material.get(target, ())
        mat_sql = (
            "md5(concat_ws('|', " + ", ".join(f"t.{c}::text" for c in material) + "))" if material else "''"
        )
        _exec(
            cursor,
            f"""
            INSERT INTO _chk_keys
            SELECT DISTINCT r.hid, %(target)s, t.src_system, {KEY_SQL[target]}, t.id, t.version, {mat_sql}
            FROM _chk_refs r JOIN {table} t ON t.id = r.rid WHERE r.target = %(target)s
            """,
            {"target": target},
        )
    _exec(
        cursor,
        """
        CREATE TEMP TABLE _chk_res AS
        SELECT DISTINCT ON (fp) * FROM (
            SELECT k.hid,
                   encode(sha256(convert_to(%(code)s || '|' || %(major)s || chr(10) || string_agg(
                       k.system || '|' || k.target || '|' || k.key, chr(10) ORDER BY k.system, k.target, k.key
                   ), 'UTF8')), 'hex') AS fp,
                   jsonb_agg(jsonb_build_object('system', k.system, 'target', k.target, 'key', k.key)
                             ORDER BY k.system, k.target, k.key) AS keys,
                   coalesce(jsonb_agg(k.key ORDER BY k.key) FILTER (WHERE k.target = %(subject)s), '[]')
                       AS subject_keys,
                   jsonb_object_agg(k.target || ':' || k.key,
                                    jsonb_build_object('id', k.rid, 'version', k.version)) AS versions,
                   md5(string_agg(k.target || ':' || k.key || '=' || k.mat, '|'
                                  ORDER BY k.system, k.target, k.key)) AS mat
            FROM _chk_keys k GROUP BY k.hid
        ) x ORDER BY fp, hid
        """,
        {"code": rule.code, "major": rule.major, "subject": rule.subject},
    )
    _exec(
        cursor,
        """
        ALTER TABLE _chk_res ADD COLUMN geom geometry, ADD COLUMN vals jsonb, ADD COLUMN county text;
        UPDATE _chk_res r SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(h.geom)))::geometry,
                              vals = h.vals
        FROM _chk_hits h WHERE h.hid = r.hid;
        CREATE UNIQUE INDEX ON _chk_res (fp);
        ANALYZE _chk_res;
        """,
    )
    # the county of the problem: where it lies (a point on its surface, against the subdivided counties)
    _exec(
        cursor,
        """
        UPDATE _chk_res r SET county = (
            SELECT c.code FROM checks_work.county_piece c
            WHERE r.geom IS NOT NULL AND NOT ST_IsEmpty(r.geom)
              AND ST_Intersects(c.geom, ST_PointOnSurface(r.geom))
            ORDER BY c.code LIMIT 1
        )
        """,
    )


def _box(row) -> tuple[float, float, float, float] | None:
    return None if row is None or row[0] is None else tuple(row)


def moved_extent(cursor, rule: Rule) -> tuple[float, float, float, float] | None:
    """Old and new geometries of the rule's open findings that this run reproduces with another geometry
    or county (before reconciliation refreshes them): status changes are found from the events."""
    _exec(
        cursor,
        """
        WITH m AS (
            SELECT f.geom AS old, r.geom AS new FROM checks_finding f JOIN _chk_res r ON r.fp = f.fingerprint
            WHERE f.rule = %(rule)s AND f.status = ANY(%(open)s)
              AND (f.geom IS DISTINCT FROM r.geom OR f.county <> coalesce(r.county, f.county))
        )
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ST_Extent(g) e FROM (SELECT old g FROM m UNION ALL SELECT new FROM m) x) y
        """,
        {"rule": rule.code, "open": [str(s) for s in OPEN_STATUSES]},
    )
    return _box(cursor.fetchone())


def changed_extent(cursor, run: CheckRun, moved: list[tuple]) -> tuple[float, float, float, float] | None:
    """Where the open findings changed in this run: every finding whose status it changed (opened, fixed,
    re-opened) and the moved ones; None when the map of findings is as it was."""
    _exec(
        cursor,
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(f.geom) e "
        "FROM checks_findingevent ev JOIN checks_finding f ON f.id = ev.finding_id WHERE ev.run_id = %s) x",
        [run.pk],
    )
    boxes = [b for b in (_box(cursor.fetchone()), *moved) if b is not None]
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _set_status(cursor, run: CheckRun, where: str, to: str, reason: str, params: dict, extra_set: str = ""):
    """Move the findings matching ``where`` to ``to`` and record one engine event each; returns how many."""
    _exec(
        cursor,
        f"""
        WITH old AS (
            SELECT f.id, f.status FROM checks_finding f WHERE {where} FOR UPDATE
        ), upd AS (
            UPDATE checks_finding f SET status = %(to)s, status_changed_at = clock_timestamp() {extra_set}
            FROM old WHERE f.id = old.id RETURNING f.id, old.status AS old_status
        )
        INSERT INTO checks_findingevent (finding_id, at, run_id, from_status, to_status, reason, data)
        SELECT id, clock_timestamp(), %(run)s, old_status, %(to)s, %(reason)s, '{{}}'::jsonb FROM upd
        """,
        {**params, "to": to, "run": run.pk, "reason": reason},
    )
    return cursor.rowcount


def reconcile(cursor, run: CheckRun, rule: Rule, *, scoped: bool) -> dict[str, int]:
    """Compare this run's results (``_chk_res``) with the stored findings of the rule, within the scope."""
    p = {"rule": rule.code, "major": rule.major, "version": rule.version, "run": run.pk}
    mine = "f.rule = %(rule)s AND split_part(f.rule_version, '.', 1) = %(major)s"
    in_scope = (
        "EXISTS (SELECT 1 FROM jsonb_array_elements_text(f.subject_keys) k JOIN _chk_dirty d ON d.key = k)"
        if scoped
        else "TRUE"
    )
    reproduced = "EXISTS (SELECT 1 FROM _chk_res r WHERE r.fp = f.fingerprint)"
    # 1. new fingerprints
    _exec(
        cursor,
        """
        WITH ins AS (
            INSERT INTO checks_finding (fingerprint, rule, rule_version, status, keys, subject_keys, county,
                geom, values, versions, material_hash, first_run_id, last_seen_run_id, opened_at,
                status_changed_at, exception_reason, exception_material_hash)
            SELECT r.fp, %(rule)s, %(version)s, 'new', r.keys, r.subject_keys, coalesce(r.county, ''), r.geom,
                   r.vals, r.versions, r.mat, %(run)s, %(run)s, clock_timestamp(), clock_timestamp(), '', ''
            FROM _chk_res r WHERE NOT EXISTS (SELECT 1 FROM checks_finding f WHERE f.fingerprint = r.fp)
            RETURNING id
        )
        INSERT INTO checks_findingevent (finding_id, at, run_id, from_status, to_status, reason, data)
        SELECT id, clock_timestamp(), %(run)s, '', 'new', '引擎发现 found by the engine', '{}'::jsonb FROM ins
        """,
        p,
    )
    new = cursor.rowcount
    # 2. a fixed (or verified) finding that is reproduced again re-opens by itself
    reopened = _set_status(
        cursor,
        run,
        f"{mine} AND f.status IN ('fixed', 'verified') AND {reproduced}",
        Status.REOPENED,
        "整改后再次出现 reappeared after the fix",
        p,
        ", fixed_by_run_id = NULL, fixed_at = NULL",
    )
    # 3. a 误报 whose rows changed in a material field re-opens
    reopened += _set_status(
        cursor,
        run,
        f"{mine} AND f.status = 'exception' AND EXISTS (SELECT 1 FROM _chk_res r WHERE r.fp = f.fingerprint "
        "AND r.mat <> f.exception_material_hash)",
        Status.REOPENED,
        "涉及要素的关键字段已变更 a material field of an involved row changed",
        p,
    )
    # 4. live findings in scope that this run no longer reproduces are fixed: the run is the evidence
    fixed = _set_status(
        cursor,
        run,
        f"{mine} AND f.status IN {tuple(str(s) for s in LIVE_STATUSES)} AND {in_scope} AND NOT {reproduced}",
        Status.FIXED,
        "检查批次未再复现 not reproduced by the run",
        p,
        ", fixed_by_run_id = %(run)s, fixed_at = clock_timestamp()",
    )
    reopened += _expire_exceptions(cursor, run, rule)
    # 5. what is reproduced is refreshed: geometry, values and the row versions it was computed on
    _exec(
        cursor,
        """
        UPDATE checks_finding f SET last_seen_run_id = %(run)s, geom = r.geom, values = r.vals,
               versions = r.versions, material_hash = r.mat, keys = r.keys, subject_keys = r.subject_keys,
               county = coalesce(r.county, f.county)
        FROM _chk_res r WHERE r.fp = f.fingerprint
        """,
        p,
    )
    return {**_open_count(cursor, rule), "new": new, "fixed": fixed, "reopened": reopened}


def reconcile_idle(cursor, run: CheckRun, rule: Rule) -> dict[str, int]:
    """Nothing was dirty for the rule: only exceptions can change (by expiring)."""
    reopened = _expire_exceptions(cursor, run, rule)
    return {**_open_count(cursor, rule), "new": 0, "fixed": 0, "reopened": reopened}


def _expire_exceptions(cursor, run: CheckRun, rule: Rule) -> int:
    return _set_status(
        cursor,
        run,
        "f.rule = %(rule)s AND f.status = 'exception' AND f.exception_expires <= clock_timestamp()",
        Status.REOPENED,
        "误报有效期已过 the exception expired",
        {"rule": rule.code},
    )


def _open_count(cursor, rule: Rule) -> dict[str, int]:
    _exec(
        cursor,
        "SELECT count(*) FROM checks_finding WHERE rule = %s AND status = ANY(%s)",
        [rule.code, [str(s) for s in OPEN_STATUSES]],
    )
    return {"open": cursor.fetchone()[0]}
