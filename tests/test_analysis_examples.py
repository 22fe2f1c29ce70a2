"""The four ready-made example queries on the demo data: what they find is what the demo's answer key
(manifest.json) planted, and equals an independent computation in Python (shapely, pyproj) from the rows."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import numpy as np
import pyproj
import pytest
import shapely
from django.db import connection
from django.utils import timezone

from analysis.models import SavedQuery
from etl.demo import generate
from etl.runner import run_load
from tests.serving import TABLES

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
GEOD = pyproj.Geod(ellps="GRS80")


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo (scale 0.02) loaded and committed for the module, removed afterwards."""
    from tests.conftest import restore_baseline

    folder = tmp_path_factory.mktemp("demo")
    manifest = generate(folder, scale=0.02, seed=5)
    with django_db_blocker.unblock():
        restore_baseline()
        for system in ("registration", "planning", "landsupply"):
            assert run_load(system, folder / system).status == "completed"
        yield manifest
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLES} CASCADE")
            cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name IN ('tiles', 'checks')")


@pytest.fixture
def analyst(client, role_user):
    client.force_login(role_user("analyst-demo", "analyst"))
    return client


def run_example(client, name: str) -> dict:
    saved = SavedQuery.objects.get(name=name, is_example=True)
    response = client.post(
        "/api/queries/run/", json.dumps({"saved": saved.pk, "limit": 10000}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def geoms(sql: str) -> tuple[list[tuple], np.ndarray]:
    """Rows of ``sql`` whose last column is WKB, and their geometries (shapely)."""
    found = rows(sql)
    return [r[:-1] for r in found], shapely.from_wkb([bytes(r[-1]) for r in found])


def properties(result: dict, key: str) -> list:
    return [f["properties"][key] for f in result["features"]["features"]]


def defects(manifest: dict, kind: str) -> list[dict]:
    return [d for d in manifest["defects"] if d["kind"] == kind]


def test_approved_not_supplied_finds_every_permit_without_supply(demo, analyst):
    result = run_example(analyst, "批而未供")
    found = set(properties(result, "permit_no"))
    permits, red_lines = geoms("SELECT permit_no, ST_AsBinary(geom) FROM layers_planningpermit")
    _, supply = geoms("SELECT id, ST_AsBinary(geom) FROM layers_landsupply")
    tree = shapely.STRtree(supply)
    expected = {p for (p,), g in zip(permits, red_lines, strict=True) if not len(tree.query(g, "intersects"))}
    assert found == expected and result["total"] == len(expected)
    planted = {d["source_id"] for d in defects(demo, "permit_without_parcel")}
    assert planted and planted <= found  # red lines over empty blocks: no supply there
    supplied = {p for (p,), g in zip(permits, red_lines, strict=True) if len(tree.query(g, "intersects"))}
    assert supplied and not supplied & found


def test_supplied_not_used_finds_old_agreed_starts_without_start_or_building(demo, analyst):
    result = run_example(analyst, "供而未用")
    found = properties(result, "contract_no")
    today = timezone.localdate()
    year_ago = (
        today.replace(year=today.year - 1)
        if (today.month, today.day) != (2, 29)
        else today - dt.timedelta(366)
    )
    records, polygons = geoms(
        "SELECT contract_no, agreed_start_on, actual_start_on, ST_AsBinary(geom) FROM layers_landsupply"
    )
    _, footprints = geoms("SELECT id, ST_AsBinary(geom) FROM layers_building")
    tree = shapely.STRtree(footprints)
    expected = {
        contract
        for (contract, agreed, actual), g in zip(records, polygons, strict=True)
        if agreed is not None
        and agreed <= year_ago
        and actual is None
        and not len(tree.query(g, "intersects"))
    }
    assert expected and set(found) == expected and len(found) == len(expected)
    started = {c for (c, _a, actual), _g in zip(records, polygons, strict=True) if actual is not None}
    assert not started & set(found)
    agreed = [f["properties"]["agreed_start_on"] for f in result["features"]["features"]]
    assert agreed == sorted(agreed)  # ordered by the agreed start


def test_land_use_mismatch_finds_exactly_the_planted_permit_conflicts(demo, analyst):
    result = run_example(analyst, "登记与规划用途不一致的宗地")
    found = set(properties(result, "zddm"))
    planted = {d["detail"]["parcel_zddm"] for d in defects(demo, "permit_landuse_conflict")}
    assert planted and found == planted
    # the same by hand: parcels meeting a permit whose use has another first-level class
    parcels, parcel_geoms = geoms("SELECT zddm, yt, ST_AsBinary(geom) FROM layers_parcel")
    permits, red_lines = geoms("SELECT land_use, ST_AsBinary(geom) FROM layers_planningpermit")
    tree = shapely.STRtree(red_lines)
    by_hand = set()
    for (zddm, yt), g in zip(parcels, parcel_geoms, strict=True):
        for i in tree.query(g, "intersects"):
            use = permits[i][0]
            if yt and use and yt[:2] != use[:2]:
                by_hand.add(zddm)
    assert by_hand == found


def test_supply_per_county_and_year_sums_geodesic_areas(demo, analyst):
    result = run_example(analyst, "分区县分年度供地统计")
    names = [c["name"] for c in result["columns"]]
    assert names == ["county", "county_label", "year:supplied_on", "count", "sum_area_m2", "sum_area"]
    counties, county_geoms = geoms(
        "SELECT code, ST_AsBinary(geom) FROM layers_admindivision WHERE valid_to IS NULL"
    )
    records, polygons = geoms("SELECT supplied_on, area, ST_AsBinary(geom) FROM layers_landsupply")
    tree = shapely.STRtree(county_geoms)
    expected: dict[tuple, list] = defaultdict(lambda: [0, 0.0, 0.0])
    for (supplied_on, area), g in zip(records, polygons, strict=True):
        hits = sorted(counties[i][0] for i in tree.query(shapely.point_on_surface(g), "intersects"))
        key = (hits[0] if hits else None, supplied_on.year if supplied_on else None)
        expected[key][0] += 1
        expected[key][1] += abs(GEOD.geometry_area_perimeter(g)[0])
        expected[key][2] += float(area or 0)
    assert result["total_groups"] == len(expected) > 1
    labels = dict(rows("SELECT code, name FROM layers_admindivision WHERE valid_to IS NULL"))
    for county, label, year, count, area_m2, area in result["rows"]:
        want = expected[(county, year)]
        assert label == labels.get(county) and count == want[0]
        assert area_m2 == pytest.approx(want[1], rel=1e-5)  # the same geodesic area, to rounding
        assert area == pytest.approx(want[2], abs=0.01 * count)
    assert sum(r[3] for r in result["rows"]) == len(records)
