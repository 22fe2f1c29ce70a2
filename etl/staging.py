"""Staging and applying: COPY accepted rows into a temporary table, then merge set-based by natural key.

Runs inside the run's transaction (see :func:`etl.runner._execute`); the staging table is dropped at commit
or rollback. Rows whose content hash did not change are left alone (no history, no lineage churn), so
re-loading an unchanged export writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from psycopg import sql as psycopg_sql

from etl.errors import EtlError
from etl.models import Problem
from etl.transforms import FieldProblem, factorize
from layers.geodesy import gcj02_to_wgs84
from layers.models import LINEAGE_FIELDS

if TYPE_CHECKING:
    from etl.mapping import Mapping, TargetSpec
    from etl.models import LoadRun
    from etl.runner import TargetResult
    from etl.sources import SourceTable

# written by the load for every staged row; `version` is left to the insert (1) and the history trigger
LINEAGE_COLUMNS = [name for name in LINEAGE_FIELDS if name != "version"]
MASS_DELETE_FRACTION = 0.5
# a first load into an empty table builds its secondary indexes after the last row (see
# Stager._defer_indexes) if it has at least this many features and the table is free within the timeout
DEFER_MIN_ROWS = 10_000
DEFER_LOCK_TIMEOUT = "500ms"
INDEX_BUILD_MEMORY = "512MB"  # maintenance_work_mem for those builds, if the server's is lower
LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED = "55P03", "40P01"
MASS_DELETE_MIN_ROWS = 20
GCJ_IOU_RESTORED = 0.8  # after undoing a GCJ-02 offset the geometry coincides with a registered parcel ...
GCJ_IOU_GAIN = 0.3  # ... much better than as delivered (in a dense grid it may half-cover another parcel)


def to_django(geom) -> GEOSGeometry:
    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=4490)


def _ewkb_hex(geoms: np.ndarray, srid: int = 4490) -> np.ndarray:
    """Hex EWKB with ``srid`` (as PostGIS reads it in COPY text) of non-missing 2D geometries.

    GEOS writes binary WKB several times faster than hex, and setting the SRID on every geometry copies it:
    the little-endian WKB is written as is and its header (byte order, type) rewritten once per geometry
    type with the EWKB SRID flag and the SRID, the rest hex-encoded by ``bytes.hex`` (C)."""
    wkb = shapely.to_wkb(geoms, byte_order=1, include_srid=False)
    out = np.empty(len(wkb), dtype=object)
    if not len(wkb):
        return out
    types = shapely.get_type_id(geoms)
    for type_id in np.unique(types):
        sel = np.flatnonzero(types == type_id)
        wkb_type = int.from_bytes(wkb[sel[0]][1:5], "little")
        header = "01" + (wkb_type | 0x20000000).to_bytes(4, "little").hex() + srid.to_bytes(4, "little").hex()
        out[sel] = [header + w[5:].hex() for w in wkb[sel]]
    return out


COPY_BLOCK = 20_000  # rows per COPY write: bounded memory, few calls
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(value: object, blank_null: bool = False) -> str:
    """One value in PostgreSQL's COPY text format (``\\N`` is NULL; ``''`` for NOT NULL text columns)."""
    if value is None:
        return "" if blank_null else "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def copy_text(values: np.ndarray, blank_null: bool = False) -> np.ndarray:
    """A column as COPY text, formatted once per distinct value."""
    codes, distinct = factorize(values)
    if pd.api.types.infer_dtype(distinct, skipna=True) == "string":
        nulls = pd.isna(distinct)
        joined = "".join(distinct[~nulls])
        if not any(c in joined for c in "\\\t\n\r"):  # nothing to escape: the text is the value
            text = distinct.copy()
            text[nulls] = copy_value(None, blank_null)
            return text[codes]
    text = np.empty(len(distinct), dtype=object)
    for j, value in enumerate(distinct):
        text[j] = copy_value(value, blank_null)
    return text[codes]


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# one row of ``COPY (SELECT content_hash::char(32), id) TO STDOUT (FORMAT BINARY)``
_KNOWN_ROW = np.dtype(
    [("fields", ">i2"), ("hash_len", ">i4"), ("hash", "S32"), ("id_len", ">i4"), ("id", ">i8")]
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
KeysOf = Callable[["SourceTable", np.ndarray], "list[str] | np.ndarray"]


def _binary_copy_rows(buffer: bytes | bytearray, dtype: np.dtype) -> np.ndarray:
    """The rows of a binary COPY whose rows all have the fixed layout ``dtype`` (a view, no copy)."""
    if not buffer.startswith(_COPY_SIGNATURE):
        raise EtlError("unexpected binary COPY data")
    start = 19 + int.from_bytes(buffer[15:19], "big")  # signature, flags, header extension
    body = len(buffer) - start - 2  # the trailer: -1 as int16
    if body % dtype.itemsize or buffer[-2:] != b"\xff\xff":
        raise EtlError("unexpected binary COPY row layout")
    return np.frombuffer(buffer, dtype, body // dtype.itemsize, start)


def _mask(n: int, positions: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[positions] = True
    return mask


def row_hashes(columns: list[np.ndarray], n: int, salt: bytes) -> np.ndarray:
    """A 128-bit digest per row (32 hex characters) of its raw values, vectorised.

    Each column is hashed in C (pandas' keyed SipHash) and folded into two 64-bit lanes keyed by ``salt``
    (mapping version and code lists): changing any one value changes the digest, and a new mapping or code
    list changes every digest. Digests are compared only with earlier loads of the same system; a pandas
    upgrade that hashed differently would re-validate everything once, never skip a changed row.
    """
    keys = hashlib.md5(salt, usedforsecurity=False).hexdigest()
    raw = np.empty((n, 16), dtype=np.uint8)
    for lane, key in enumerate((keys[:16], keys[16:])):
        h = np.zeros(n, dtype=np.uint64)
        for column in columns:
            h = (h ^ pd.util.hash_array(column, hash_key=key, categorize=False)) * np.uint64(0x100000001B3)
        raw[:, lane * 8 : lane * 8 + 8] = h.astype(">u8").view(np.uint8).reshape(n, 8)
    text = np.empty((n, 32), dtype=np.uint8)
    text[:, 0::2], text[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    return text.view("S32").ravel().astype("U32").astype(object)


def _insert_defaults(model, mapped: set[str]) -> dict[str, object]:
    """Model defaults of the NOT NULL fields a mapping does not fill (Django defaults are not DB defaults)."""
    skip = {"id", "geom", "version", *LINEAGE_COLUMNS}
    return {
        f.column: f.get_default()
        for f in model._meta.concrete_fields
        if f.name not in mapped and f.column not in skip and not f.null
    }


def _not_null_text(model, names: list[str]) -> list[bool]:
    """Which mapped fields are NOT NULL text columns (an empty source value is stored as '')."""
    return [
        not model._meta.get_field(n).null and model._meta.get_field(n).empty_strings_allowed for n in names
    ]


def _buffered_gist(definition: str) -> str:
    """A GiST index definition built by the buffering method instead of PostgreSQL 15's default sorted build.

    Why: the sorted build is fast (1M parcels: 1.3 s against 4.9 s) but its pages overlap more, and probing
    it with polygons is slower where it matters: the parcel self-join of the overlap check (ZD-001) took
    10.6 s on a sorted index against 6.0 s on a buffered one (7.0 s on one built row by row). A partial
    index, or one with storage parameters of its own, is left as it was defined.
    """
    if " USING gist " not in definition or " WHERE " in definition or " WITH (" in definition:
        return definition
    return definition + " WITH (buffering = on)"


class BackgroundCopy(threading.Thread):
    """COPYs on the load's own connection (same transaction), run one after the other by a thread.

    The database parses, inserts and indexes a chunk (and stores its problems) while this process reads
    and validates the next one (the thread only waits on the socket, without the GIL). psycopg serialises
    the connection: any other query of the load simply waits for the COPYs to end. :meth:`Stager.wait`
    joins it and re-raises.
    """

    def __init__(self, raw_connection, copies: list[tuple[str, list[bytes]]]):
        super().__init__(name="onemap-etl-copy", daemon=True)
        self.raw, self.copies = raw_connection, copies
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            with self.raw.cursor() as cursor:
                for statement, blocks in self.copies:
                    with cursor.copy(statement) as copy:
                        for block in blocks:
                            copy.write(block)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by result()
            self.error = exc
        finally:
            self.copies = []

    def result(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


class _NotEmpty(Exception):
    pass


class Stager:
    """Collects the accepted rows of one target chunk by chunk (COPY into a temporary table), stores the
    problems as they come, and merges everything into the unified table at :meth:`finish`."""

    def __init__(
        self,
        run: LoadRun,
        mapping: Mapping,
        target: TargetSpec,
        *,
        dry_run: bool,
        incremental: bool,
        allow_mass_delete: bool = False,
        salt: str = "",
    ):
        self.run, self.mapping, self.target = run, mapping, target
        self.dry_run, self.incremental, self.allow_mass_delete = dry_run, incremental, allow_mass_delete
        model = target.model_class
        self.table = model._meta.db_table
        self.names = [spec.target for spec in target.fields]
        self.columns = [model._meta.get_field(name).column for name in self.names]
        self.key_columns = [model._meta.get_field(k).column for k in target.key]
        self.all_columns = [*self.columns, "geom", *LINEAGE_COLUMNS]
        self.defaults = _insert_defaults(model, set(self.names))
        self.staged_columns = [*self.all_columns, *self.defaults]
        self.blank_text = _not_null_text(model, self.names)
        self.stg = f"stg_{self.table}"
        self.counts = {"read": 0, "rejected": 0, "warnings": 0}
        self.rejected_keys: list[str] = []
        self.transform: dict = {}
        self.now = timezone.now()
        self.kept = f"kept_{self.table}"
        self.rejected = f"rejected_{self.table}"
        self.unchanged_skipped = 0
        self._known: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.sources = sorted(
            {src for f in target.fields for src in f.sources} | set(target.geometry.sources)
        )
        self.salt = f"{mapping.version_tag}|{salt}|".encode()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.kept}")
            cursor.execute(f"CREATE TEMP TABLE {self.kept} (id bigint) ON COMMIT DROP")
            cursor.execute(f"DROP TABLE IF EXISTS {self.rejected}")
            cursor.execute(f"CREATE TEMP TABLE {self.rejected} (key text) ON COMMIT DROP")
            cursor.execute(f"DROP TABLE IF EXISTS {self.stg}")
            cursor.execute(
                f"CREATE TEMP TABLE {self.stg} ON COMMIT DROP AS "
                f"SELECT {', '.join(self.staged_columns)} FROM {self.table} WITH NO DATA"
            )
        # whether rows go straight into the (empty) unified table: decided with the first chunk in hand
        self.direct: bool | None = False if dry_run else None
        self.deferred_indexes: list[tuple[str, str]] = []
        self.copied = 0
        self.copying: BackgroundCopy | None = None

    def _choose_path(self, first_chunk_rows: int) -> None:
        """Decide, once, whether this load writes straight into an empty unified table."""
        if self.direct is None:
            with connection.cursor() as cursor:
                self.direct = self._empty_and_locked(cursor, first_chunk_rows)

    def _empty_and_locked(self, cursor, first_chunk_rows: int) -> bool:
        """Whether the unified table is empty, and then locked against other writers until commit.

        Loading into an empty table (a system's first load) cannot conflict, update or delete anything, so
        rows are COPYed straight into it instead of being staged and merged: the same data, written once.
        If the table can be had exclusively at once, its secondary indexes are dropped and built again
        after the last row (:meth:`_defer_indexes`); otherwise readers are not blocked and the indexes are
        maintained row by row. Another load into this table waits for the commit either way.
        """
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table})")
        if cursor.fetchone()[0]:
            return False
        if first_chunk_rows >= DEFER_MIN_ROWS and self._defer_indexes(cursor):
            return True
        cursor.execute(f"LOCK TABLE {self.table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table})")  # a writer may have won the race
        return not cursor.fetchone()[0]

    def _defer_indexes(self, cursor) -> bool:
        """Lock the (empty) table exclusively and drop its plain secondary indexes; they are built again
        from their definitions by :meth:`_build_deferred_indexes` once every row is in, in the same
        transaction (a rollback brings them back untouched).

        Maintaining them row by row (GiST, pg_trgm GIN, the search btrees on ``upper()``) costs the server
        about twice what building them once does. The price: until the commit, readers of this table wait
        (they would see it empty anyway). So the lock is only taken if it is free within
        ``DEFER_LOCK_TIMEOUT``: a reader or writer holding the table makes the load keep the indexes and
        block nobody, as before. Unique, constraint, invalid, clustered, commented or specially placed
        indexes are left alone (``pg_get_indexdef`` is not all of their definition)."""
        try:
            with transaction.atomic():  # a savepoint: a timeout or a filled table releases the lock again
                cursor.execute("SELECT current_setting('lock_timeout')")
                (previous,) = cursor.fetchone()
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [DEFER_LOCK_TIMEOUT])
                cursor.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table})")
                if cursor.fetchone()[0]:
                    raise _NotEmpty
                cursor.execute(
                    """
                    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                    WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary
                      AND NOT i.indisexclusion AND NOT i.indisclustered AND NOT i.indisreplident
                      AND i.indisvalid AND i.indisready AND c.reltablespace = 0
                      AND obj_description(i.indexrelid, 'pg_class') IS NULL
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
                      AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid
                                      AND a.attstattarget > 0)
                    ORDER BY i.indexrelid
                    """,
                    [self.table],
                )
                self.deferred_indexes = cursor.fetchall()
                for name, _definition in self.deferred_indexes:
                    cursor.execute(f"DROP INDEX {name}")
        except _NotEmpty:
            return False
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) not in (LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED):
                raise
            return False
        return True

    def _build_deferred_indexes(self, cursor, progress=None) -> None:
        """Build the indexes :meth:`_defer_indexes` dropped, with the memory a bulk build wants."""
        if not self.deferred_indexes:
            return
        if progress:
            progress(f"{self.target.name}: indexes", 0, len(self.deferred_indexes))
        cursor.execute(
            "SELECT set_config('maintenance_work_mem', %s, true) "
            "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes(%s)",
            [INDEX_BUILD_MEMORY, INDEX_BUILD_MEMORY],
        )
        for _name, definition in self.deferred_indexes:
            cursor.execute(_buffered_gist(definition))
        self.deferred_indexes = []

    def key_expr(self, alias: str = "t") -> str:
        """The natural key of row ``alias`` as one text ('/'-joined for compound keys)."""
        return "concat_ws('/', " + ", ".join(f"{alias}.{c}::text" for c in self.key_columns) + ")"

    def skip_unchanged(
        self, table: SourceTable, seen_keys: dict[str, int], keys_of: KeysOf | None = None
    ) -> SourceTable:
        """Hash every raw row and drop those already loaded with the same content, mapping and code lists.

        They need no transformation, validation or staging: this is what makes re-loading an unchanged
        export cheap. Their ids are kept (so a full load does not delete them) and their natural keys are
        marked as seen (so a changed duplicate later in the file is still caught). A row repeated verbatim
        in the file is only skipped once.

        The system's digests are fetched once per load (:meth:`_known_digests`) and looked up in memory;
        ``keys_of`` gives the natural keys of rows of a table (the same key the earlier load stored, since
        the digest covers the raw values, the mapping version and the code lists).
        """
        columns = [table.data[c] for c in self.sources if c in table.data]
        if table.geometry_wkb is not None:
            columns.append(table.geometry_wkb)
        hashes = row_hashes(columns, len(table), self.salt)
        table.row_hashes = hashes
        self._choose_path(len(table))
        if self.direct:  # the table was empty: whatever it holds now is this run's own earlier chunks
            return table
        known, ids, used = self._known_digests()
        if not len(known) or not len(table):
            return table
        digests = hashes.astype("S32")
        at = np.minimum(np.searchsorted(known, digests), len(known) - 1)
        hits = np.flatnonzero(known[at] == digests)
        if not len(hits):
            return table
        keys = (keys_of or self._stored_keys)(table.subset(_mask(len(table), hits)), ids[at[hits]])
        skip = np.zeros(len(table), dtype=bool)
        kept_ids = []
        rows = table.rows[hits].tolist()
        for j, (i, k) in enumerate(zip(hits.tolist(), at[hits].tolist(), strict=True)):
            if used[k]:
                continue  # a verbatim repeat of a row skipped already: processed (and reported) normally
            key = keys[j]
            if not key or key in seen_keys:
                continue  # an earlier row of the file now holds this key: process normally
            skip[i] = used[k] = True
            kept_ids.append(ids[k])
            seen_keys[key] = rows[j]
        if kept_ids:
            self.wait()
            with connection.cursor() as cursor, cursor.copy(f"COPY {self.kept} (id) FROM STDIN") as copy:
                copy.write("\n".join(map(str, kept_ids)) + "\n")
        skipped = int(skip.sum())
        self.unchanged_skipped += skipped
        self.counts["read"] += skipped
        return table.subset(~skip) if skipped else table

    def _known_digests(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sorted digests, their row ids, skipped-already flags) of the rows this system has loaded.

        Fetched once per load as fixed-width binary COPY (50 bytes a row, read by numpy without a Python
        object per row): a look-up per chunk would scan the unified table once per chunk, and a million
        digests as Python strings would cost ~100 MB."""
        if self._known is None:
            self.wait()
            buffer = bytearray()
            connection.ensure_connection()
            system = psycopg_sql.Literal(self.mapping.system).as_string(connection.connection)
            statement = (  # no parameters: Django's debug cursor passes none to COPY
                f"COPY (SELECT content_hash::char(32), id FROM {self.table} WHERE src_system = {system}) "
                "TO STDOUT (FORMAT BINARY)"
            )
            with connection.cursor() as cursor, cursor.copy(statement) as copy:
                for block in copy:
                    buffer += block
            rows = _binary_copy_rows(buffer, _KNOWN_ROW)
            del buffer
            if not ((rows["fields"] == 2) & (rows["hash_len"] == 32) & (rows["id_len"] == 8)).all():
                raise EtlError(
                    f"{self.table}: unexpected content_hash values; cannot recognise unchanged rows"
                )
            order = np.argsort(rows["hash"], kind="stable")
            self._known = (rows["hash"][order], rows["id"][order].astype(np.int64), np.zeros(len(rows), bool))
        return self._known

    def _stored_keys(self, table: SourceTable, ids: np.ndarray) -> list[str]:
        """The natural keys stored with the rows ``ids`` (when no ``keys_of`` is given)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT t.id, {self.key_expr()} FROM {self.table} t "
                "WHERE t.id = ANY(string_to_array(%s, ',')::bigint[])",
                [",".join(map(str, ids.tolist()))],
            )
            by_id = dict(cursor.fetchall())
        return [by_id.get(i, "") for i in ids.tolist()]

    def wait(self) -> None:
        """Let the chunk being COPYed in the background finish; raises what made it fail."""
        if self.copying is not None:
            copying, self.copying = self.copying, None
            copying.result()

    def add(self, result: TargetResult) -> None:
        """COPY the accepted rows of a chunk into the staging table and store its problems.

        The COPY text is built column by column (each distinct value formatted once) and the lineage that is
        the same for every row of the load is one pre-formatted suffix: no per-row Python formatting.
        """
        idx = np.flatnonzero(result.accepted)
        run, mapping, table = self.run, self.mapping, result.table
        constants = {
            "src_system": mapping.system,
            "src_file": table.display_name,
            "src_checksum": run.checksum,
            "src_layer": table.layer or "",
            "load_run": run.pk,
            "mapping_version": mapping.version_tag,
            "loaded_at": self.now,
            **self.defaults,
            **({"version": 1} if self.direct else {}),
        }
        varying = [
            copy_text(result.columns[name][idx], blank)
            for name, blank in zip(self.names, self.blank_text, strict=True)
        ]
        varying.append(_ewkb_hex(result.geoms[idx]))
        varying.append(table.rows[idx].astype(str))
        varying.append(table.row_hashes[idx])
        columns = [*self.columns, "geom", "src_row", "content_hash", *constants]
        suffix = "\t".join(copy_value(v) for v in constants.values())
        blocks = []
        for start in range(0, len(idx), COPY_BLOCK):
            block = [column[start : start + COPY_BLOCK] for column in varying]
            lines = map("\t".join, zip(*block, repeat(suffix, len(block[0])), strict=True))
            blocks.append("\n".join(lines).encode() + b"\n")
        del varying
        copies = [
            (f"COPY {self.table if self.direct else self.stg} ({', '.join(columns)}) FROM STDIN", blocks)
        ]
        problems = problem_rows(run, result)
        if problems:
            copies.append(
                (f"COPY etl_problem ({', '.join(PROBLEM_COLUMNS)}) FROM STDIN", [problem_copy(problems)])
            )
        self.wait()
        connection.ensure_connection()
        self.copying = BackgroundCopy(connection.connection, copies)
        self.copied += len(idx)
        self.counts["read"] += len(table)
        self.counts["rejected"] += int((~result.accepted).sum())
        self.counts["warnings"] += sum(1 for p in result.problems if p.severity == "warning") + len(
            table.skipped_rows
        )
        self.rejected_keys.extend(result.keys[~result.accepted & (result.keys != "")].tolist())
        self.transform = result.counts.get("transform", self.transform)

    def finish(self, progress=None) -> dict:
        """Merge into the unified table (or only count, for a dry run); returns the target's counts."""
        stg, table, system = self.stg, self.table, self.mapping.system
        join = " AND ".join(f"t.{c} = s.{c}" for c in self.key_columns)
        key_expr = self.key_expr()
        delete_where = (
            f"t.src_system = %s AND NOT EXISTS (SELECT 1 FROM {stg} s WHERE {join}) "
            f"AND NOT EXISTS (SELECT 1 FROM {self.kept} k WHERE k.id = t.id) "
            f"AND NOT EXISTS (SELECT 1 FROM {self.rejected} r WHERE r.key = {key_expr})"
        )
        do_delete = self.target.mode == "full" and not self.incremental
        counts = dict(self.counts)
        self.wait()
        self._choose_path(0)  # an export without a single chunk
        if self.direct:
            return self._finish_direct(counts, progress)
        with connection.cursor() as cursor:
            # every helper table gets an index and statistics: with "empty" statistics the planner would
            # rescan them for every row (quadratic at a million rows)
            cursor.execute(f"CREATE INDEX ON {stg} ({', '.join(self.key_columns)})")
            # statistics of the key only: sampling the geometries would cost seconds and decide no plan
            cursor.execute(f"ANALYZE {stg} ({', '.join(self.key_columns)})")
            with cursor.copy(f"COPY {self.rejected} (key) FROM STDIN") as copy:
                for key in set(self.rejected_keys):
                    copy.write_row((key,))
            cursor.execute(f"CREATE INDEX ON {self.rejected} (key)")
            cursor.execute(f"CREATE INDEX ON {self.kept} (id)")
            cursor.execute(f"ANALYZE {self.rejected}")
            cursor.execute(f"ANALYZE {self.kept}")
            cursor.execute(f"SELECT count(*) FROM {stg}")
            staged = cursor.fetchone()[0]
            if self.dry_run:
                cursor.execute(
                    "SELECT count(*) FILTER (WHERE t.id IS NULL), count(*) FILTER (WHERE t.id IS NOT NULL "
                    "AND t.content_hash IS DISTINCT FROM s.content_hash) "
                    f"FROM {stg} s LEFT JOIN {table} t ON {join}"
                )
                counts["added"], counts["updated"] = cursor.fetchone()
                counts["deleted"] = 0
                if do_delete:
                    cursor.execute(f"SELECT count(*) FROM {table} t WHERE {delete_where}", [system])
                    counts["deleted"] = cursor.fetchone()[0]
            else:
                set_list = ", ".join(self.all_columns)
                source_list = ", ".join(f"s.{c}" for c in self.all_columns)
                values_t = ", ".join(f"t.{c}" for c in [*self.columns, "geom"])
                values_s = ", ".join(f"s.{c}" for c in [*self.columns, "geom"])
                counts["updated"] = self._record_changes(
                    cursor,
                    "U",
                    f"UPDATE {table} t SET ({set_list}) = ({source_list}) FROM {stg} s "
                    f"WHERE {join} AND t.content_hash IS DISTINCT FROM s.content_hash "
                    f"AND ({values_t}) IS DISTINCT FROM ({values_s})",
                )
                # same values under a new mapping version or new code lists: only the hash and mapping
                # version move on; the row keeps the run that last changed it (no version, no history)
                cursor.execute(
                    f"UPDATE {table} t SET content_hash = s.content_hash, "
                    f"mapping_version = s.mapping_version FROM {stg} s "
                    f"WHERE {join} AND t.content_hash IS DISTINCT FROM s.content_hash"
                )
                counts["added"] = self._record_changes(
                    cursor,
                    "I",
                    f"INSERT INTO {table} AS t ({', '.join(self.staged_columns)}, version) "
                    f"SELECT {', '.join(f's.{c}' for c in self.staged_columns)}, 1 FROM {stg} s "
                    f"ON CONFLICT ({', '.join(self.key_columns)}) DO NOTHING",
                )
                counts["deleted"] = 0
                if do_delete:
                    self._guard_mass_delete(cursor, delete_where)
                    counts["deleted"] = self._record_changes(
                        cursor, "D", f"DELETE FROM {table} t WHERE {delete_where}", [system]
                    )
                self._resolve_problems(cursor)
            counts["unchanged"] = staged - counts["added"] - counts["updated"] + self.unchanged_skipped
            cursor.execute(f"DROP TABLE {stg}")
        if progress:
            progress(f"{self.target.name}: applied", staged, staged)
        return counts

    def _finish_direct(self, counts: dict, progress) -> dict:
        """The table was empty: every row in it is this run's, added."""
        with connection.cursor() as cursor:
            self._build_deferred_indexes(cursor, progress)
            cursor.execute(
                "INSERT INTO etl_changedkey (run_id, target, key, op, record_id) "
                f"SELECT %s, %s, {self.key_expr()}, 'I', t.id FROM {self.table} t",
                [self.run.pk, self.target.model],
            )
            counts.update(added=cursor.rowcount, updated=0, deleted=0, unchanged=self.unchanged_skipped)
            self._resolve_problems(cursor, accepted=self.table)
            cursor.execute(f"DROP TABLE {self.stg}")
        if progress:
            progress(f"{self.target.name}: applied", self.copied, self.copied)
        return counts

    def _record_changes(self, cursor, op: str, statement: str, params: list | None = None) -> int:
        """Run one merge statement and keep the keys it touched (``etl_changedkey``): re-checks and tile
        re-seeding start from them. Returns the number of rows changed."""
        key_expr = self.key_expr()
        cursor.execute(
            f"WITH changed AS ({statement} RETURNING t.id, {key_expr} AS key) "
            "INSERT INTO etl_changedkey (run_id, target, key, op, record_id) "
            "SELECT %s, %s, key, %s, id FROM changed",
            [*(params or []), self.run.pk, self.target.model, op],
        )
        return cursor.rowcount

    def _guard_mass_delete(self, cursor, delete_where: str) -> None:
        """Refuse a full load that would delete most of a system's rows (an empty or cut-off export looks
        exactly like "everything was deleted"), unless the operator allowed it explicitly."""
        if self.allow_mass_delete:
            return
        system = self.mapping.system
        cursor.execute(f"SELECT count(*) FROM {self.table} t WHERE t.src_system = %s", [system])
        existing = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {self.table} t WHERE {delete_where}", [system])
        doomed = cursor.fetchone()[0]
        if existing >= MASS_DELETE_MIN_ROWS and doomed > MASS_DELETE_FRACTION * existing:
            raise EtlError(
                f"target '{self.target.name}': this export would delete {doomed} of the {existing} rows "
                f"loaded from '{system}' (more than {MASS_DELETE_FRACTION:.0%}); nothing was changed. "
                "If the export is really complete, run again with --allow-mass-delete."
            )

    def _resolve_problems(self, cursor, accepted: str | None = None) -> None:
        """Mark earlier rejections resolved when this run accepted the same record (by natural key, or by
        row number for a re-run of rejected rows). ``accepted``: the table holding the accepted rows."""
        run = self.run
        accepted = accepted or self.stg
        cursor.execute(
            f"""
            UPDATE etl_problem p SET resolved_by_id = %s FROM etl_loadrun r
            WHERE p.run_id = r.id AND r.system = %s AND r.id <> %s AND NOT r.dry_run
              AND p.severity = 'error' AND p.resolved_by_id IS NULL AND p.target = %s
              AND p.source_id IN (SELECT {self.key_expr("s")} FROM {accepted} s)
            """,
            [run.pk, run.system, run.pk, self.target.name],
        )
        if run.only_rejected_of_id:
            cursor.execute(
                "UPDATE etl_problem SET resolved_by_id = %s WHERE run_id = %s AND target = %s "
                "AND severity = 'error' AND resolved_by_id IS NULL "
                f"AND row IN (SELECT src_row FROM {accepted})",
                [run.pk, run.only_rejected_of_id, self.target.name],
            )


# the columns of etl_problem a load writes (its id is the table's own)
PROBLEM_COLUMNS = [f.column for f in Problem._meta.concrete_fields if f.column != "id"]


def problem_copy(problems: list[Problem]) -> bytes:
    """Problems as COPY text for :data:`PROBLEM_COLUMNS`, each value as the model field prepares it
    (JSON text, EWKB of the geometry): the same rows ``bulk_create`` would insert, without an INSERT
    statement to build per batch, and stored by the COPY thread while the next chunk is validated."""
    fields = [f for f in Problem._meta.concrete_fields if f.column != "id"]
    lines = []
    for problem in problems:
        values = []
        for f in fields:
            value = getattr(problem, f.attname)
            if value is None:
                values.append(copy_value(None))
            elif f.name == "geom":
                values.append(value.hexewkb.decode())
            elif f.name == "raw":
                values.append(copy_value(json.dumps(value, cls=f.encoder)))
            else:
                values.append(copy_value(value))
        lines.append("\t".join(values))
    return ("\n".join(lines) + "\n").encode()


def problem_rows(run: LoadRun, result: TargetResult) -> list[Problem]:
    """Problem records for a chunk, with raw values and the geometry as read (for the map)."""
    table = result.table
    out = []
    raw_cache: dict[int, dict] = {}
    common = {"run": run, "target": result.target.name, "source_file": table.display_name}
    for p in result.problems:
        i = p.index
        if i not in raw_cache:
            raw_cache[i] = {c: _jsonable(table.data[c][i]) for c in table.columns}
        geom = result.geoms[i]
        out.append(
            Problem(
                **common,
                row=int(table.rows[i]),
                source_id=result.keys[i] or _fallback_id(result, i),
                rule=p.rule,
                field=p.field,
                severity=p.severity,
                message_zh=p.message_zh,
                message_en=p.message_en,
                expected=str(p.expected)[:500],
                actual=str(p.actual)[:500],
                raw=raw_cache[i],
                geom=None if geom is None else to_django(geom),
            )
        )
    for row, reason, raw in table.skipped_rows:
        out.append(
            Problem(
                **common,
                row=row,
                rule=reason,
                severity="warning",
                message_zh="合计行，未作为数据加载",
                message_en="totals row skipped (not data)",
                raw={k: _jsonable(v) for k, v in raw.items()},
            )
        )
    for rule, zh, en in table.notes:
        out.append(Problem(**common, rule=rule, severity="warning", message_zh=zh, message_en=en))
    return out


def _fallback_id(result: TargetResult, i: int) -> str:
    """What identifies a row whose natural key could not be built: the raw key values as in the file."""
    key_sources = [f.sources[0] for f in result.target.fields if f.target in result.target.key and f.sources]
    values = [str(result.table.data[s][i]) for s in key_sources if result.table.data[s][i] not in (None, "")]
    return "/".join(values)


def _jsonable(value):
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return None if np.isnan(value) else value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def flag_gcj02_shifts(result: TargetResult) -> None:
    """Reject (or warn about) rows that sit ~0.5 km off the registered parcels in a GCJ-02 way.

    A row is flagged when, after undoing a GCJ-02 offset, its geometry coincides with a registered parcel
    (intersection over union >= 0.8) far better than as delivered. Parcels themselves are the reference,
    so the check applies to the other targets that ask for it, and only once parcels are loaded.
    """
    policy = result.target.geometry.gcj02
    if policy == "ignore" or result.target.model == "parcel":
        return
    idx = np.flatnonzero(result.accepted)
    if not len(idx):
        return
    geoms = result.geoms[idx]
    restored = shapely.transform(geoms, lambda x, y: gcj02_to_wgs84(x, y), interleaved=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM layers_parcel)")
        if not cursor.fetchone()[0]:
            return
        cursor.execute(
            """
            WITH s AS (
                SELECT ord AS i, ST_GeomFromWKB(g, 4490) AS g, ST_GeomFromWKB(c, 4490) AS c
                FROM unnest(%s::bytea[], %s::bytea[]) WITH ORDINALITY AS u(g, c, ord)
            )
            SELECT s.i,
                (SELECT max(ST_Area(ST_Intersection(s.g, p.geom))
                            / NULLIF(ST_Area(ST_Union(s.g, p.geom)), 0))
                   FROM layers_parcel p WHERE p.geom && s.g),
                (SELECT max(ST_Area(ST_Intersection(s.c, p.geom))
                            / NULLIF(ST_Area(ST_Union(s.c, p.geom)), 0))
                   FROM layers_parcel p WHERE p.geom && s.c)
            FROM s
            """,
            [list(shapely.to_wkb(geoms)), list(shapely.to_wkb(restored))],
        )
        rows = cursor.fetchall()
    for ordinal, iou, iou_restored in rows:
        if (iou_restored or 0) >= GCJ_IOU_RESTORED and (iou_restored or 0) - (iou or 0) >= GCJ_IOU_GAIN:
            i = int(idx[ordinal - 1])
            result.problems.append(
                FieldProblem(
                    i,
                    "gcj02_shift",
                    "geometry",
                    f"图形疑似GCJ-02（火星坐标）偏移：与登记宗地重合度{(iou or 0):.0%}，"
                    f"反偏移后为{iou_restored:.0%}；请向来源系统索取CGCS2000坐标",
                    f"geometry looks GCJ-02 shifted: overlap with registered parcels {(iou or 0):.0%}, "
                    f"{iou_restored:.0%} after undoing the offset; "
                    "ask the source for CGCS2000 coordinates",
                    expected="CGCS2000",
                    actual="GCJ-02",
                    severity="error" if policy == "reject" else "warning",
                )
            )
            if policy == "reject":
                result.accepted[i] = False


def changed_extent(run: LoadRun):
    """Bounding box of everything this run added, changed or deleted (old and new geometries)."""
    parts = []
    for table in ("layers_parcel", "layers_building", "layers_planningpermit", "layers_landsupply"):
        parts.append(f"SELECT geom FROM {table} WHERE load_run = %(run)s")
        parts.append(f"SELECT geom FROM {table}_history WHERE changed_by_run = %(run)s")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsBinary(ST_Envelope(ST_Extent(geom)::geometry)) "
            f"FROM ({' UNION ALL '.join(parts)}) x",
            {"run": run.pk},
        )
        (wkb,) = cursor.fetchone()
    if wkb is None:
        return None
    geom = GEOSGeometry(memoryview(bytes(wkb)), srid=4490)
    if geom.geom_type != "Polygon":
        geom = geom.buffer(1e-6).envelope
    return geom
