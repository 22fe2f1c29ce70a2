"""The SQL the rules lean on: the box bound that spares parcel pairs their exact overlap test never falls
below the real overlap, and a run leaves no working tables behind."""

from __future__ import annotations

import json
import math
import random

import pytest
from django.db import connection

from checks.engine import run_checks

pytestmark = pytest.mark.django_db


def polygon(cx: float, cy: float, rx: float, ry: float, rnd: random.Random) -> str:
    """A star-shaped polygon around (cx, cy) with radii up to rx, ry degrees (never a box: the bound must
    hold for any shape inside the boxes)."""
    points = []
    for i in range(9):
        angle = i / 9 * math.tau
        r = rnd.uniform(0.3, 1.0)
        points.append((cx + rx * r * math.cos(angle), cy + ry * r * math.sin(angle)))
    points.append(points[0])
    return "POLYGON((" + ", ".join(f"{x:.9f} {y:.9f}" for x, y in points) + "))"


def test_box_bound_is_never_below_the_gauss_kruger_overlap():
    rnd = random.Random(20261205)
    pairs = []
    for _ in range(400):
        lon, lat = rnd.uniform(74.0, 135.0), rnd.uniform(4.0, 53.0)  # China, south to north
        size = 10 ** rnd.uniform(-5, -2)  # 1 m to 1 km
        a = polygon(lon, lat, size, size * rnd.uniform(0.5, 2), rnd)
        b = polygon(lon + rnd.uniform(-size, size), lat + rnd.uniform(-size, size), size, size, rnd)
        pairs.append((a, b))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT onemap_box_overlap_m2(a, b), onemap_gk_area(ST_Intersection(a, b), a)
            FROM (SELECT ST_GeomFromText(x ->> 0, 4490) a, ST_GeomFromText(x ->> 1, 4490) b
                  FROM jsonb_array_elements(%s::jsonb) x) q
            WHERE a && b
            """,
            [json.dumps(pairs)],
        )
        rows = cursor.fetchall()
    assert len(rows) > 200
    overlapping = [(bound, exact) for bound, exact in rows if exact > 0]
    assert len(overlapping) > 100
    for bound, exact in rows:
        assert bound >= exact, (bound, exact)
    # and it is a useful bound, not a huge one: boxes of real overlaps are of the same order
    assert sorted(bound / exact for bound, exact in overlapping)[len(overlapping) // 2] < 10


def test_box_bound_is_infinite_outside_the_zones_zero_for_touching_boxes_below_any_tolerance_for_apart_ones():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT onemap_box_overlap_m2(ST_MakeEnvelope(10, 50, 10.01, 50.01, 4490), "
            "ST_MakeEnvelope(10.005, 50.005, 10.02, 50.02, 4490)), "
            "onemap_box_overlap_m2(ST_MakeEnvelope(106.5, 29.5, 106.6, 29.6, 4490), "
            "ST_MakeEnvelope(106.6, 29.5, 106.7, 29.6, 4490)), "
            "onemap_box_overlap_m2(ST_MakeEnvelope(106.5, 29.5, 106.6, 29.6, 4490), "
            "ST_MakeEnvelope(106.6000001, 29.5, 106.7, 29.6, 4490))"
        )
        outside, touching, apart = cursor.fetchone()
    assert outside == float("inf")
    assert touching == 0
    # the index's float boxes may meet where the exact ones are apart: such a pair must never pass a tolerance
    assert apart <= 0


def test_a_run_leaves_no_working_tables():
    run_checks(full=True, trigger="test")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'checks_work'")
        assert cursor.fetchone()[0] == 0


def test_area_estimate_is_within_the_margin_zd002_leaves_it():
    """ZD-002 trusts the estimate only 0.5 percentage points away from the tolerance: it must be far closer
    than that to the Gauss-Krüger area, from Hainan to Heilongjiang and across each zone."""
    rnd = random.Random(5)
    shapes = []
    for _ in range(300):
        lon, lat = rnd.uniform(74.0, 135.0), rnd.uniform(4.0, 53.0)
        size = 10 ** rnd.uniform(-4, -1.5)  # 10 m to 3 km
        shapes.append(polygon(lon, lat, size, size * rnd.uniform(0.5, 2), rnd))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT max(abs(onemap_approx_area_m2(g) / onemap_gk_area(g) - 1))
            FROM (SELECT ST_GeomFromText(x, 4490) g FROM jsonb_array_elements_text(%s::jsonb) x) q
            """,
            [json.dumps(shapes)],
        )
        worst = cursor.fetchone()[0]
    assert worst < 0.002
    with connection.cursor() as cursor:  # and no estimate where that does not hold
        cursor.execute(
            "SELECT onemap_approx_area_m2(ST_MakeEnvelope(106.5, 29, 106.6, 29.6, 4490)), "
            "onemap_approx_area_m2(ST_MakeEnvelope(10, 50, 10.01, 50.01, 4490))"
        )
        assert cursor.fetchone() == (None, None)


def test_covered_by_without_relate_agrees_with_st_coveredby():
    """onemap_covered_by decides "clear of the boundary" cases from one vertex, the rest by the relate: it
    must answer as ST_CoveredBy for shapes inside, outside, in holes and notches, touching and crossing
    edges, equal to the container, and for buildings of several parts."""
    rnd = random.Random(6)
    pairs = []
    for i in range(1500):
        cx, cy = 106.5 + rnd.uniform(-0.1, 0.1), 29.5 + rnd.uniform(-0.1, 0.1)
        container = polygon(cx, cy, 0.001, 0.001, rnd)  # concave: notches between the star's points
        if i % 3 == 0:  # a hole
            hole = f"ST_Buffer(ST_Point({cx}, {cy}, 4490), 0.0002)"
            container = f"ST_Difference(ST_GeomFromText('{container}', 4490), {hole})"
        elif i % 3 == 1:  # two parts
            other = polygon(cx + 0.0025, cy, 0.001, 0.001, rnd)
            container = f"ST_Collect(ST_GeomFromText('{container}', 4490), ST_GeomFromText('{other}', 4490))"
        else:
            container = f"ST_GeomFromText('{container}', 4490)"
        gx, gy = cx + rnd.uniform(-0.0012, 0.0012), cy + rnd.uniform(-0.0012, 0.0012)
        size = 10 ** rnd.uniform(-5.5, -3.3)
        shape = f"ST_GeomFromText('{polygon(gx, gy, size, size, rnd)}', 4490)"
        if i % 7 == 0:  # a building of two parts
            shape = f"ST_Collect({shape}, ST_Translate({shape}, {size * 3}, 0))"
        elif i % 11 == 0:  # the container's very polygon (a supply record drawn from its parcel)
            shape = container
        pairs.append(f"SELECT {i} AS i, {shape} AS g, {container} AS c")
    # on the boundary: touching an edge from inside, equal, sharing an edge from outside, crossing
    square = "ST_MakeEnvelope(0, 0, 10, 10, 4490)"
    pairs += [
        f"SELECT 10001, ST_MakeEnvelope(0, 2, 3, 4, 4490), {square}",
        f"SELECT 10002, {square}, {square}",
        f"SELECT 10003, ST_MakeEnvelope(-3, 2, 0, 4, 4490), {square}",
        f"SELECT 10004, ST_MakeEnvelope(-1, 2, 3, 4, 4490), {square}",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT onemap_covered_by(g, c), ST_CoveredBy(g, c),
                   ST_NumGeometries(g) = 1 AND ST_Distance(g, ST_Boundary(c)) > 0
            FROM ({" UNION ALL ".join(pairs)}) q ORDER BY i
            """
        )
        rows = cursor.fetchall()
    assert [fast == exact for fast, exact, _ in rows] == [True] * len(rows)
    clear = [exact for _, exact, is_clear in rows if is_clear]
    assert clear.count(True) > 100 and clear.count(False) > 100  # both answers by the vertex alone
    assert rows[-4][:2] == (True, True) and rows[-3][:2] == (True, True)
    assert rows[-2][:2] == (False, False) and rows[-1][:2] == (False, False)


def test_area_at_least_answers_as_the_projected_area():
    """GH-001 and GY-001 trust the estimate only 1 % above the threshold: near it, below it, and where there
    is no estimate (outside OneMap's zones) the projected area must decide."""
    rnd = random.Random(7)
    shapes = []
    for _ in range(200):
        lon, lat = rnd.uniform(74.0, 135.0), rnd.uniform(4.0, 53.0)
        size = 10 ** rnd.uniform(-4.5, -3)
        shapes.append(polygon(lon, lat, size, size, rnd))
    shapes.append("POLYGON((10 50, 10.0001 50, 10.0001 50.0001, 10 50))")  # no estimate there
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT onemap_area_at_least(g, t), onemap_gk_area(g) >= t
            FROM (SELECT ST_GeomFromText(x, 4490) g FROM jsonb_array_elements_text(%s::jsonb) x) q
            CROSS JOIN LATERAL (SELECT onemap_gk_area(g) * f AS t FROM unnest(ARRAY[
                0.5, 0.98, 0.995, 0.9999, 1.0001, 1.005, 1.02, 2.0]) f) t
            """,
            [json.dumps(shapes)],
        )
        rows = cursor.fetchall()
    assert len(rows) == 8 * 201
    assert [fast == exact for fast, exact in rows] == [True] * len(rows)
    assert sum(exact for _, exact in rows) == 4 * 201  # the thresholds at and below the area
