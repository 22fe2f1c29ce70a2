"""What an incremental run must re-evaluate, from the ETL's change records, across systems.

For a rule and a set of committed load runs, the *dirty subjects* are the rows of the rule's subject table
that any change could affect, following the rule's dependencies:

* a changed row of the subject table itself (inserted, updated or deleted: its key is dirty even when the
  row is gone, so its findings can close);
* ``spatial`` targets: every subject touched by the old (``<table>_history``, ``changed_by_run``) or the new
  geometry of a changed row of that target – a changed permit dirties the land-supply records under it, a
  changed parcel the buildings and permits on it;
* ``key_links``: subjects whose column equals the old or new value of the linked column of a changed row
  (a parcel registered under a code makes the buildings naming that code dirty).

Only changes to a target the rule reads count. ``_chk_dirty`` holds the dirty subject keys (findings are
scoped by them), ``_chk_scope`` the ids of the dirty subjects that still exist (the rule query runs on them).
"""

from __future__ import annotations

from checks.rules.base import KEY_SQL, TABLES, Rule


def pending_load_runs(watermark: int) -> list[int]:
    """Committed, non-dry load runs after the watermark (in id order)."""
    from etl.models import LoadRun

    return list(
        LoadRun.objects.filter(pk__gt=watermark, status=LoadRun.Status.COMPLETED, dry_run=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def counties_digest(cursor) -> str:
    """Digest of the current county polygons. They are not loaded by the ETL (no change records), so a rule
    reading them runs fully whenever the digest differs from the one its last full run saw."""
    cursor.execute(
        "SELECT md5(coalesce(string_agg(code || ':' || md5(ST_AsBinary(geom)), ',' ORDER BY code), '')) "
        "FROM layers_admindivision WHERE valid_to IS NULL"
    )
    return cursor.fetchone()[0]


def _spatial(rule: Rule) -> tuple[str, ...]:
    return tuple(t for t in rule.spatial if t in rule.reads)


def _key_links(rule: Rule) -> tuple[tuple[str, str, str], ...]:
    return tuple(k for k in rule.key_links if k[0] in rule.reads)


def signature(rule: Rule) -> tuple:
    """What :func:`build` makes a rule's scope from, besides the load runs: rules with equal signatures get
    equal scopes (and may share a relation built on one)."""
    return (rule.subject, rule.subject in rule.reads, _spatial(rule), _key_links(rule))


def drop(cursor) -> None:
    cursor.execute("DROP TABLE IF EXISTS _chk_dirty; DROP TABLE IF EXISTS _chk_scope")


def build(cursor, rule: Rule, load_runs: list[int]) -> int:
    """Fill ``_chk_dirty`` and ``_chk_scope`` for ``rule`` and the given load runs; returns the number of
    dirty subject keys."""
    drop(cursor)
    subject_table = TABLES[rule.subject]
    subject_key = KEY_SQL[rule.subject]
    cursor.execute("CREATE TEMP TABLE _chk_dirty (key text PRIMARY KEY, id bigint)")
    runs = {"runs": load_runs, "subject": rule.subject}
    if rule.subject in rule.reads:
        cursor.execute(
            """
            INSERT INTO _chk_dirty (key, id)
            SELECT DISTINCT ON (c.key) c.key, CASE WHEN c.op = 'D' THEN NULL ELSE c.record_id END
            FROM etl_changedkey c WHERE c.run_id = ANY(%(runs)s) AND c.target = %(subject)s
            ORDER BY c.key, c.id DESC
            ON CONFLICT (key) DO NOTHING
            """,
            runs,
        )
    for target in _spatial(rule):
        table = TABLES[target]
        cursor.execute(
            f"""
            WITH changed AS (
                SELECT t.geom FROM etl_changedkey c JOIN {table} t ON t.id = c.record_id
                WHERE c.run_id = ANY(%(runs)s) AND c.target = %(target)s AND c.op <> 'D'
                UNION ALL
                SELECT h.geom FROM {table}_history h
                WHERE h.changed_by_run = ANY(%(runs)s) AND h.geom IS NOT NULL
            )
            INSERT INTO _chk_dirty (key, id)
            SELECT DISTINCT {subject_key}, t.id
            FROM {subject_table} t JOIN changed g ON ST_Intersects(t.geom, g.geom)
            ON CONFLICT (key) DO NOTHING
            """,
            {**runs, "target": target},
        )
    for target, column, subject_column in _key_links(rule):
        table = TABLES[target]
        cursor.execute(
            f"""
            WITH vals AS (
                SELECT t.{column} AS v FROM etl_changedkey c JOIN {table} t ON t.id = c.record_id
                WHERE c.run_id = ANY(%(runs)s) AND c.target = %(target)s AND c.op <> 'D'
                UNION
                SELECT h.data ->> %(column)s FROM {table}_history h WHERE h.changed_by_run = ANY(%(runs)s)
            )
            INSERT INTO _chk_dirty (key, id)
            SELECT DISTINCT {subject_key}, t.id
            FROM {subject_table} t JOIN vals ON t.{subject_column} = vals.v
            ON CONFLICT (key) DO NOTHING
            """,
            {**runs, "target": target, "column": column},
        )
    cursor.execute(
        "CREATE TEMP TABLE _chk_scope AS SELECT DISTINCT id FROM _chk_dirty WHERE id IS NOT NULL; "
        "CREATE UNIQUE INDEX ON _chk_scope (id); ANALYZE _chk_scope; ANALYZE _chk_dirty"
    )
    cursor.execute("SELECT count(*) FROM _chk_dirty")
    return cursor.fetchone()[0]
