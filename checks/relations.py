"""Relations several rules read, computed once per run and scope (UNLOGGED tables in ``checks_work``).

Why: the building rules all start from the same building × surface-parcel join, the most expensive step of
the suite, and the permit rules from the parcels that cover a red line. Computing each once (and the
expensive overlay only for buildings that are not simply covered by one parcel) keeps the full suite within
a small multiple of a bare ``ST_Intersects`` join.

Each relation is a list of SQL statements; ``IN_SCOPE(alias)`` works as in the rules (the relation's scope
is the subject scope of the rule that asks for it). The tables are ordinary unlogged tables, not temporary
ones, so that the rules joining them run in parallel (PostgreSQL never lets a parallel worker read a
temporary table): one engine run at a time owns them (its advisory lock) and drops them when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Relation:
    name: str
    subject: str  # target whose scope the relation follows ("" = not scoped)
    statements: tuple[str, ...]
    tables: tuple[str, ...]  # the working tables it creates (dropped before a rebuild)


BUILDING_PARCELS = Relation(
    name="building_parcels",
    subject="building",
    tables=(
        "checks_work.building_parcel",
        "checks_work.building_complex",
        "checks_work.building_overlap",
        "checks_work.building_host",
    ),
    statements=(
        # every surface parcel whose box meets a building in scope (layered rights, QLSDFS <> '1', never) and
        # how: 2 = covers it, 1 = intersects it, 0 = boxes only (or no parcel at all: the left join's row).
        # One predicate per candidate pair (a CASE is lazy): "covered" only where the parcel's box contains
        # the building's (the usual host), and then without a relate unless the building meets the parcel's
        # edges (onemap_covered_by, migration 0006). Written as one select-list expression so the join stays
        # a plain, parallel box join (an OR or a lateral here turns into bitmap-OR index scans or a serial
        # plan).
        # prefix_ok (ZRZ-003: the building's BDCDYH starts with the parcel's ZDDM) is read while both rows are
        # at hand: joining every building with its host afterwards cost a second of the suite at 1M buildings
        """
        CREATE UNLOGGED TABLE checks_work.building_parcel AS
        SELECT b.id AS building_id, p.id AS parcel_id,
               CASE WHEN b.geom @ p.geom AND onemap_covered_by(b.geom, p.geom) THEN 2
                    WHEN ST_Intersects(b.geom, p.geom) THEN 1 ELSE 0 END AS rel,
               left(b.bdcdyh, 19) = p.zddm AS prefix_ok
        FROM layers_building b LEFT JOIN layers_parcel p ON b.geom && p.geom AND p.qlsdfs = '1'
        WHERE IN_SCOPE(b)
        """,
        "CREATE INDEX ON checks_work.building_parcel (building_id)",
        "ANALYZE checks_work.building_parcel",  # no statistics until analysed: bad plans follow
        # the buildings that are not simply covered by exactly one parcel (the usual case): only they need
        # overlap areas and the part outside. A table of its own, analysed: as a subquery its size was
        # guessed at two thirds of the buildings, and the joins below became hash joins over every building
        """
        CREATE UNLOGGED TABLE checks_work.building_complex AS
        SELECT building_id FROM checks_work.building_parcel
        GROUP BY building_id HAVING count(*) FILTER (WHERE rel > 0) <> 1 OR bool_or(rel = 1)
        """,
        "ANALYZE checks_work.building_complex",
        """
        CREATE UNLOGGED TABLE checks_work.building_overlap AS
        SELECT r.building_id, r.parcel_id,
               onemap_gk_area(ST_Intersection(b.geom, p.geom), b.geom) AS overlap_m2
        FROM checks_work.building_complex c JOIN checks_work.building_parcel r USING (building_id)
        JOIN layers_building b ON b.id = r.building_id JOIN layers_parcel p ON p.id = r.parcel_id
        WHERE r.rel > 0
        """,
        "CREATE INDEX ON checks_work.building_overlap (building_id)",
        "ANALYZE checks_work.building_overlap",
        # per such building: its host (the surface parcel it overlaps most; none when it overlaps none) and
        # the part outside every one. Every other building in scope has one building_parcel row with rel > 0:
        # its host, covering it
        """
        CREATE UNLOGGED TABLE checks_work.building_host AS
        SELECT b.id AS building_id, host.parcel_id AS host_id, onemap_gk_area(o.geom, b.geom) AS outside_m2,
               o.geom AS outside_geom
        FROM checks_work.building_complex c JOIN layers_building b ON b.id = c.building_id
        LEFT JOIN LATERAL (
            SELECT parcel_id FROM checks_work.building_overlap v WHERE v.building_id = b.id
            ORDER BY overlap_m2 DESC, parcel_id LIMIT 1
        ) host ON true
        CROSS JOIN LATERAL (
            SELECT coalesce(ST_Difference(b.geom, ST_Union(p.geom)), b.geom) AS geom
            FROM checks_work.building_parcel r JOIN layers_parcel p ON p.id = r.parcel_id
            WHERE r.building_id = b.id AND r.rel > 0
        ) o
        """,
        "CREATE INDEX ON checks_work.building_host (building_id)",
        "ANALYZE checks_work.building_host",
    ),
)

PERMIT_COVERS = Relation(
    name="permit_covers",
    subject="permit",
    tables=("checks_work.permit_cover",),
    statements=(
        # the surface parcels that cover a permit's red line whole (the usual case: GH-001 and GH-003 need no
        # overlay for it), with their first-level land-use class. Driven from the permits, in parallel: the
        # box test names the permit's envelope and the cover test sits in a CASE, so no index condition on
        # the permits is derived (every parcel probing the permits' index is ≈ 4× slower)
        """
        CREATE UNLOGGED TABLE checks_work.permit_cover AS
        SELECT g.id AS permit_id, p.id AS parcel_id, left(p.yt, 2) AS yt_class
        FROM layers_planningpermit g JOIN layers_parcel p ON p.geom ~ ST_Envelope(g.geom)
        WHERE p.qlsdfs = '1' AND IN_SCOPE(g)
          AND CASE WHEN p.geom ~ g.geom THEN onemap_covered_by(g.geom, p.geom) ELSE false END
        """,
        "CREATE INDEX ON checks_work.permit_cover (permit_id)",
        "ANALYZE checks_work.permit_cover",
    ),
)

COUNTY_PIECES = Relation(
    name="county_pieces",
    subject="",
    tables=("checks_work.county_piece",),
    statements=(
        # small pieces make point-in-county tests cheap whatever the size of a county polygon, and their boxes
        # tight: ZD-003 tests the point on surface of every parcel whose box meets a piece of another county
        # (bench/checks.py, 100k parcels: 16 vertices 0.16 s, 64 vertices 0.47 s, same answers). A few hundred
        # rows, too few for the planner to scan them in parallel unless told: ZD-003, driven from the pieces,
        # then runs on every core (1M parcels: 1.0 -> 0.65 s)
        """
        CREATE UNLOGGED TABLE checks_work.county_piece WITH (parallel_workers = 4) AS
        SELECT code, ST_Subdivide(geom, 16) AS geom FROM layers_admindivision WHERE valid_to IS NULL
        """,
        "CREATE INDEX ON checks_work.county_piece USING gist (geom)",
        "ANALYZE checks_work.county_piece",
    ),
)

RELATIONS = {r.name: r for r in (BUILDING_PARCELS, PERMIT_COVERS, COUNTY_PIECES)}
