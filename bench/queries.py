"""Query benchmark (issue 9): the saved example queries through the query engine against the same questions
as hand-written SQL, and query exports against ogr2ogr, each reference measured in the same run on the same
database.

Usage (from the repository root; uses the configured database, the embedded cluster by default)::

    .venv/bin/python bench/queries.py [--scale 10] [--repeat 5] [--export-rows N] [--yes]

Why: the engine compiles a JSON query model to SQL (every spatial condition an ``EXISTS``, the registry's
layer sources as subqueries, virtual fields as templates) and adds its own work around it (a read-only
transaction, a page of features and the total in one statement, decoded code lists, GeoJSON parsed into
dicts). The issue's targets, at demo scale 10 (~200,000 parcels): a saved query answers within 1.3× of the
SQL an expert would write for the same question, and an export writes at least 0.5× the features/s of
``ogr2ogr`` from PostGIS to GeoPackage. Absolute times depend on the shared machine, so each figure is a
ratio to a reference that shares its noise.

How: if the database holds fewer parcels than the demo at ``--scale`` has, the demo exports are generated
into ``var/bench-demo-<scale>`` and loaded through the ETL (``bench/tiles.py``'s ``ensure_demo``); the
consistency checks are not run (no query reads the findings). With ``DATABASE_URL`` set (not the embedded
cluster) loading needs ``--yes`` (or ``ONEMAP_BENCH_YES=1``), as ``bench/etl_load.py`` asks before writing
business data; better give the bench a database of its own::

    createdb -h 127.0.0.1 -p 5499 -U onemap onemap_bench_q
    psql -h 127.0.0.1 -p 5499 -U onemap -d onemap_bench_q -c 'CREATE EXTENSION postgis'
    export DATABASE_URL=postgres://onemap:PASSWORD@127.0.0.1:5499/onemap_bench_q
    .venv/bin/python manage.py migrate && .venv/bin/python bench/queries.py --yes

Then the tables are ANALYZEd (as autovacuum leaves them after a load) and, in one process:

1. Queries: the four saved examples (``analysis.0002``: 批而未供, 供而未用, 登记与规划用途不一致的宗地,
   分区县分年度供地统计) and a fifth, "buildings within 50 m of a permit red line they do not belong to"
   (``dwithin`` with ``exclude_intersecting``), each parsed from its stored JSON and run through
   ``analysis.engine.run_query`` as the run API does (features: the default page of 100 and the total;
   grouped: every group), against the hand-written SQL below: the plain tables, the same columns (the fields
   and the geometry as GeoJSON; not the decoded code-list labels, which the engine adds from one small
   query), the same order, the total as ``count(*) OVER ()``. Both run in the engine's own read-only
   transaction (``analysis.engine.read_only``: ``transaction_read_only``, ``jit = off``, the statement
   timeout; rolled back), and the reference's time includes fetching its rows. Before timing, each runs
   once (warm-up) and their answers are compared (the total and the page's ids in order; every group's
   key and count, the sums to 0.01): a mismatch stops the benchmark, so the comparison is between equal
   answers. Then ``--repeat`` rounds alternate the two (ABBA order). Reported: median and p95 of each, the
   ratio of the medians, PASS/MISS at ≤ 1.3×.

2. Exports: every parcel (or the ``--export-rows`` lowest ids, as an ``id`` range filter) as a GeoPackage in
   EPSG:4490 through ``analysis.exports.write_export`` (what the API and the export job call; the job's
   statement timeout, a no-op progress callback) against ``ogr2ogr -f GPKG out.gpkg PG:... -sql "SELECT
   ..."`` of the same columns (the code-list labels from joins, the area rounded to 0.01 m² as the engine
   writes it, MULTIPOLYGON, layer ``parcels``; ``PGOPTIONS`` sets the engine's session: ``jit=off``, read
   only), alternating, best of three rounds each; both files are read back (feature count, CRS, field
   names). Features/s, the ratio, PASS/MISS at ≥ 0.5×; CSV and XLSX throughput through ``write_export``
   once each, for information (XLSX is slow by nature: openpyxl's write-only cells).

It prints figures, not assertions: the exit status is 1 only when the two sides of a comparison answered
differently, 2 when it refused the database. Files go to a temporary folder, removed at the end; nothing is
written to the database but planner statistics (and the demo, when it loads it). ``--queries-only`` and
``--export-only`` run one section; profiling an export: ``.venv/bin/python -m cProfile -s tottime
bench/queries.py --export-only --export-rows 20000``; a query: ``EXPLAIN (ANALYZE, BUFFERS)`` of
``analysis.compiler.Compiler(query, today).page()`` (or ``.groups()``) next to the SQL here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "onemap.settings.dev")

from bench.etl_load import code_version, machine_load  # noqa: E402
from bench.tiles import ensure_demo, pct, setup_django  # noqa: E402

QUERY_TARGET = 1.3  # engine time / hand-written SQL time, at most
EXPORT_TARGET = 0.5  # engine features/s / ogr2ogr features/s, at least
EXPORT_ROUNDS = 3
TABLES = ("layers_parcel", "layers_building", "layers_planningpermit", "layers_landsupply")

# --- the questions ------------------------------------------------------------------------------------------

PERMIT_COLS = (
    "p.id, p.permit_no, p.kind, p.project_name, p.developer, p.land_use, p.land_area, p.floor_area, "
    "p.issued_on"
)
SUPPLY_COLS = (
    "s.id, s.contract_no, s.method, s.zddm, s.project_name, s.grantee, s.land_use, s.area, s.supplied_on, "
    "s.agreed_start_on, s.actual_start_on"
)
PARCEL_COLS = "z.id, z.zddm, z.bdcdyh, z.qxdm, z.zl, z.zdmj, z.yt, z.qllx, z.qlr, z.djsj, z.zt"
BUILDING_COLS = "b.id, b.bdcdyh, b.zrzh, b.zddm, b.xmmc, b.jzwmc, b.zcs, b.ghyt, b.jgrq"


def _page(cols: str, alias: str, where: str, order: str) -> str:
    return (
        f"SELECT count(*) OVER (), {cols}, ST_Area({alias}.geom::geography), "
        f"ST_AsGeoJSON({alias}.geom, 8, 0) {where} ORDER BY {order} LIMIT 100"
    )


@dataclass
class Case:
    title: str
    saved: str | None  # name of the saved example, or None for ``query``
    query: dict | None
    sql: str  # the expert's SQL; parameters: %(cutoff)s (today-1y)
    grouped: bool = False


CASES = [
    Case(
        "批而未供 (permits meeting no supply)",
        "批而未供",
        None,
        _page(
            PERMIT_COLS,
            "p",
            "FROM layers_planningpermit p WHERE NOT EXISTS "
            "(SELECT FROM layers_landsupply s WHERE ST_Intersects(s.geom, p.geom))",
            "p.issued_on, p.id",
        ),
    ),
    Case(
        "供而未用 (supplied, not started, no building)",
        "供而未用",
        None,
        _page(
            SUPPLY_COLS,
            "s",
            "FROM layers_landsupply s WHERE s.agreed_start_on <= %(cutoff)s AND s.actual_start_on IS NULL "
            "AND NOT EXISTS (SELECT FROM layers_building b WHERE ST_Intersects(b.geom, s.geom))",
            "s.agreed_start_on, s.id",
        ),
    ),
    Case(
        "登记与规划用途不一致的宗地 (parcel vs permit use)",
        "登记与规划用途不一致的宗地",
        None,
        _page(
            PARCEL_COLS,
            "z",
            "FROM layers_parcel z WHERE z.yt <> '' AND EXISTS (SELECT FROM layers_planningpermit p "
            "WHERE ST_Intersects(p.geom, z.geom) AND p.land_use <> '' "
            "AND left(p.land_use, 2) <> left(z.yt, 2))",
            "z.zddm, z.id",
        ),
    ),
    Case(
        "分区县分年度供地统计 (supply per county, year)",
        "分区县分年度供地统计",
        None,
        "SELECT c.code, extract(year FROM s.supplied_on)::int AS year, count(*), "
        "sum(ST_Area(s.geom::geography)), sum(s.area) FROM layers_landsupply s "
        "LEFT JOIN LATERAL (SELECT ad.code FROM layers_admindivision ad WHERE ad.valid_to IS NULL "
        "AND ST_Intersects(ad.geom, ST_PointOnSurface(s.geom)) ORDER BY ad.code LIMIT 1) c ON true "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        grouped=True,
    ),
    Case(
        "buildings ≤ 50 m of another red line",
        None,
        {
            "layer": "buildings",
            "spatial": [
                {"predicate": "dwithin", "layer": "permits", "distance": 50, "exclude_intersecting": True}
            ],
        },
        # 50 m is < 0.00046° of latitude and < 0.00054° of longitude up to Chongqing's northern edge (32.2°N):
        # a box the GiST index narrows, then the geodesic test
        _page(
            BUILDING_COLS,
            "b",
            "FROM layers_building b WHERE EXISTS (SELECT FROM layers_planningpermit p "
            "WHERE p.geom && ST_Expand(b.geom, 0.00054) "
            "AND ST_DWithin(p.geom::geography, b.geom::geography, 50) AND NOT ST_Intersects(p.geom, b.geom))",
            "b.id",
        ),
    ),
]

# --- data ---------------------------------------------------------------------------------------------------


def prepare_data(scale: float, yes: bool) -> int:
    """The demo at ``scale`` (bench/tiles.py's threshold and loader), then fresh planner statistics."""
    from django.db import connection

    from layers.models import Parcel

    wanted = int(20_000 * scale * 0.9)  # ensure_demo loads when fewer parcels than this are there
    if Parcel.objects.count() < wanted and os.environ.get("DATABASE_URL"):
        if not (yes or os.environ.get("ONEMAP_BENCH_YES") == "1"):
            s = connection.settings_dict
            print(
                f"Refusing to load the demo (ETL) into {s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']} "
                "(DATABASE_URL, not the embedded cluster): pass --yes (or set ONEMAP_BENCH_YES=1).",
                file=sys.stderr,
            )
            raise SystemExit(2)
    parcels = ensure_demo(scale)
    with connection.cursor() as cursor:
        for table in (*TABLES, "layers_admindivision"):
            cursor.execute(f"ANALYZE {table}")
    return parcels


def sizes() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        counts = []
        for table, label in zip(TABLES, ("parcels", "buildings", "permits", "supply records"), strict=True):
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts.append(f"{cursor.fetchone()[0]:,} {label}")
    return ", ".join(counts)


# --- section 1: queries -------------------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def parsed(case: Case):
    from analysis.models import SavedQuery
    from analysis.query import parse_query

    if case.saved is not None:
        return parse_query(SavedQuery.objects.get(is_example=True, name=case.saved).query)
    return parse_query(case.query)


def reference_runner(case: Case, cutoff) -> Callable[[], list]:
    from django.db import connection

    from analysis.engine import read_only, statement_timeout_ms

    def run() -> list:
        with read_only(statement_timeout_ms()), connection.cursor() as cursor:
            cursor.execute(case.sql, {"cutoff": cutoff})
            return cursor.fetchall()

    return run


def same_answer(case: Case, result: dict, rows: list) -> str | None:
    """None when the engine's result and the reference's rows answer alike, else what differs."""
    if case.grouped:
        names = [c["name"] for c in result["columns"]]
        key = [names.index("county"), names.index("year:supplied_on"), names.index("count")]
        sums = [names.index("sum_area_m2"), names.index("sum_area")]
        mine = [tuple(r[i] for i in key) for r in result["rows"]]
        theirs = [tuple(r[:3]) for r in rows]
        if mine != theirs:
            return f"groups differ: engine {mine[:3]}... ({len(mine)}), SQL {theirs[:3]}... ({len(theirs)})"
        for r, s in zip(result["rows"], rows, strict=True):
            for i, j in zip(sums, (3, 4), strict=True):
                if r[i] is None or s[j] is None:
                    if r[i] != s[j]:
                        return f"sums differ in group {r[:3]}"
                elif abs(r[i] - float(s[j])) > 0.011:
                    return f"sums differ in group {r[:3]}: {r[i]} vs {s[j]}"
        return None
    total = rows[0][0] if rows else 0
    if result["total"] != total:
        return f"totals differ: engine {result['total']}, SQL {total}"
    ids = [f["id"] for f in result["features"]["features"]]
    if ids != [r[1] for r in rows]:
        return "the pages' ids differ"
    return None


@dataclass
class QueryFigures:
    title: str
    answer: str
    engine: list[float]
    sql: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.engine) / statistics.median(self.sql)


def bench_query(case: Case, repeat: int) -> QueryFigures:
    from django.utils import timezone

    from analysis.engine import run_query
    from analysis.values import RelativeDate

    query = parsed(case)
    cutoff = RelativeDate("today-1y", -1, 1, "y").resolve(timezone.localdate())
    engine = lambda: run_query(query)  # noqa: E731
    reference = reference_runner(case, cutoff)
    result, rows = engine(), reference()  # warm-up, and the answers compared
    problem = same_answer(case, result, rows)
    if problem:
        print(f"{case.title}: the engine and the SQL answer differently: {problem}", file=sys.stderr)
        raise SystemExit(1)
    if case.grouped:
        answer = f"{result['total_groups']} groups"
    else:
        answer = f"{result['total']:,} features"
    times: dict[str, list[float]] = {"engine": [], "sql": []}
    for i in range(repeat):
        pair = [("engine", engine), ("sql", reference)]
        for name, fn in pair if i % 2 == 0 else reversed(pair):
            times[name].append(timed(fn)[0])
    return QueryFigures(case.title, answer, times["engine"], times["sql"])


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report_queries(figures: list[QueryFigures], repeat: int) -> None:
    print(
        f"\n1. Queries: engine (analysis.engine.run_query) vs hand-written SQL, {repeat} alternating rounds"
    )
    print("   both in analysis.engine.read_only: read-only transaction, jit = off, statement timeout")
    head = (
        f"   {'query':48} {'answer':>17} {'engine p50':>10} {'p95':>8} {'SQL p50':>9} {'p95':>8} "
        f"{'ratio':>6}  target ≤ {QUERY_TARGET}×"
    )
    print(head)
    print("   " + "-" * (len(head) - 3))
    for f in figures:
        print(
            f"   {pad(f.title, 48)} {f.answer:>17} {1000 * statistics.median(f.engine):8.1f}ms "
            f"{1000 * pct(f.engine, 95):6.1f}ms {1000 * statistics.median(f.sql):7.1f}ms "
            f"{1000 * pct(f.sql, 95):6.1f}ms {f.ratio:5.2f}×  {verdict(f.ratio <= QUERY_TARGET)}"
        )


# --- section 2: exports -------------------------------------------------------------------------------------

BOOK_SQL = (
    "(SELECT DISTINCT ON (c.code) c.code, c.name FROM layers_code c JOIN layers_codelist l "
    "ON l.id = c.codelist_id WHERE l.key = '{key}' "
    "ORDER BY c.code, c.valid_to DESC NULLS FIRST, c.valid_from DESC NULLS LAST)"
)  # a code's current name, else its latest (analysis.engine.codebook)
OGR_SQL = (
    "SELECT z.id, z.zddm, z.bdcdyh, z.qxdm, q.name AS qxdm_label, z.zl, z.zdmj, z.yt, y.name AS yt_label, "
    "z.qllx, r.name AS qllx_label, z.qlr, z.djsj, z.zt, "
    "round(ST_Area(z.geom::geography)::numeric, 2)::float8 AS area_m2, z.geom FROM layers_parcel z "
    f"LEFT JOIN {BOOK_SQL.format(key='gbt2260_chongqing')} q ON q.code = z.qxdm "
    f"LEFT JOIN {BOOK_SQL.format(key='gbt21010_2017')} y ON y.code = z.yt "
    f"LEFT JOIN {BOOK_SQL.format(key='qllx')} r ON r.code = z.qllx "
    "WHERE z.id <= %(max_id)d ORDER BY z.id"
)


def export_query(rows: int | None):
    """All parcels, or the ``rows`` lowest ids; returns the parsed query, the highest id and the count."""
    from django.db import connection

    from analysis.query import parse_query

    with connection.cursor() as cursor:
        if rows is None:
            cursor.execute("SELECT max(id), count(*) FROM layers_parcel")
        else:
            cursor.execute(
                "SELECT max(id), count(*) FROM (SELECT id FROM layers_parcel ORDER BY id LIMIT %s) x", [rows]
            )
        max_id, count = cursor.fetchone()
    query = {"layer": "parcels"}
    if rows is not None:
        query["filters"] = [{"field": "id", "op": "range", "value": [None, max_id]}]
    return parse_query(query), max_id, count


def ogr2ogr(path: Path, max_id: int) -> None:
    from django.db import connection

    s = connection.settings_dict
    dsn = f"PG:host={s['HOST']} port={s['PORT']} dbname={s['NAME']} user={s['USER']}"
    # the password not on the command line; the engine's session settings (analysis.engine.read_only)
    env = {
        **os.environ,
        "PGPASSWORD": str(s.get("PASSWORD") or ""),
        "PGOPTIONS": "-c jit=off -c default_transaction_read_only=on",
    }
    path.unlink(missing_ok=True)
    subprocess.run(
        [
            "ogr2ogr", "-f", "GPKG", str(path), dsn, "-sql", OGR_SQL % {"max_id": int(max_id)},
            "-nln", "parcels", "-nlt", "MULTIPOLYGON",
        ],
        env=env,
        check=True,
    )  # fmt: skip


def engine_export(path: Path, query, fmt: str) -> int:
    from analysis.exports import write_export

    path.unlink(missing_ok=True)
    return write_export(query, fmt=fmt, srid=4490, path=path, progress=lambda rows: None)


def read_back(path: Path) -> tuple[int, list[str], str]:
    import pyogrio

    info = pyogrio.read_info(path)
    return int(info["features"]), list(info["fields"]), str(info["crs"])


def bench_exports(rows: int | None, folder: Path) -> bool:
    query, max_id, count = export_query(rows)
    print(f"\n2. Exports: {count:,} parcels (id ≤ {max_id}) in EPSG:4490")
    mine, theirs = folder / "engine.gpkg", folder / "ogr2ogr.gpkg"
    engine_s, ogr_s = [], []
    for i in range(EXPORT_ROUNDS):
        pair = [
            (engine_s, lambda: engine_export(mine, query, "gpkg")),
            (ogr_s, lambda: ogr2ogr(theirs, max_id)),
        ]
        for times, fn in pair if i % 2 == 0 else reversed(pair):
            times.append(timed(fn)[0])
    ok = True
    checks = {"engine": read_back(mine), "ogr2ogr": read_back(theirs)}
    for name, (n, _fields, crs) in checks.items():
        if n != count or crs != "EPSG:4490":
            print(f"   {name}: {n} features in {crs} in the GeoPackage, expected {count} in EPSG:4490")
            ok = False
    if checks["engine"][1] != checks["ogr2ogr"][1]:
        print(f"   fields differ: engine {checks['engine'][1]}, ogr2ogr {checks['ogr2ogr'][1]}")
        ok = False
    rate, ref = count / min(engine_s), count / min(ogr_s)
    ratio = rate / ref
    mib = mine.stat().st_size / 2**20, theirs.stat().st_size / 2**20
    print(
        f"   GeoPackage  write_export {min(engine_s):6.1f} s = {rate:9,.0f} features/s ({mib[0]:.0f} MiB)   "
        f"ogr2ogr {min(ogr_s):6.1f} s = {ref:9,.0f} features/s ({mib[1]:.0f} MiB)"
    )
    print(
        f"   ratio {ratio:.2f}× (target ≥ {EXPORT_TARGET}×: {verdict(ratio >= EXPORT_TARGET)}); "
        f"best of {EXPORT_ROUNDS} alternating rounds; rounds: write_export "
        f"{', '.join(f'{t:.1f}' for t in engine_s)} s, ogr2ogr {', '.join(f'{t:.1f}' for t in ogr_s)} s"
    )
    print(f"   read back: {checks['engine'][0]:,} features each, fields {', '.join(checks['engine'][1])}")
    for fmt in ("csv", "xlsx"):
        path = folder / f"engine.{fmt}"
        seconds, n = timed(lambda fmt=fmt, path=path: engine_export(path, query, fmt))
        print(
            f"   {fmt.upper():11} write_export {seconds:6.1f} s = {n / seconds:9,.0f} features/s "
            f"({path.stat().st_size / 2**20:.0f} MiB; for information)"
        )
    return ok


# --- main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=10.0, help="demo scale of the data (default 10)")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds of each query (default 5)")
    parser.add_argument(
        "--export-rows", type=int, default=None, help="parcels to export, lowest ids first (default: all)"
    )
    parser.add_argument("--export-only", action="store_true", help="skip the queries (section 1)")
    parser.add_argument("--queries-only", action="store_true", help="skip the exports (section 2)")
    parser.add_argument(
        "--yes", action="store_true", help="allow loading the demo into a DATABASE_URL database"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or (args.export_rows is not None and args.export_rows < 1):
        parser.error("--repeat and --export-rows must be >= 1")
    if shutil.which("ogr2ogr") is None and not args.queries_only:
        parser.error("ogr2ogr (GDAL) is not installed")
    setup_django()
    from django.db import connection

    parcels = prepare_data(args.scale, args.yes)
    s = connection.settings_dict
    print(f"\nOneMap query benchmark — demo scale {args.scale:g}: {sizes()}")
    print(f"database {s['NAME']}; code {code_version(('analysis',))}; {machine_load()}")
    ok = True
    if not args.export_only:
        figures = [bench_query(case, args.repeat) for case in CASES]
        report_queries(figures, args.repeat)
    if not args.queries_only:
        folder = Path(tempfile.mkdtemp(prefix="onemap-bench-queries-"))
        try:
            ok = bench_exports(args.export_rows, folder) and ok
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\nafter the run: {machine_load()} (concurrent load makes the timings noisy); {parcels:,} parcels")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
