"""The map's time filter: /api/loads/ lists committed loads newest first (no dry runs, no failures), and the
features API filters layers with lineage by load time and load run."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import connection

from etl.models import LoadRun
from tests.serving import load_served, unload_served

pytestmark = [pytest.mark.django_db]
FEATURES = "/api/layers/parcels/features/"


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    from etl.runner import run_load

    with django_db_blocker.unblock():
        data = load_served("loads", tmp_path_factory.mktemp("loads"))
        dry = run_load("planning", data.folder / "planning", dry_run=True)
        assert dry.status == "completed" and dry.dry_run
        LoadRun.objects.create(system="planning", source_path="x", status=LoadRun.Status.FAILED)
        yield data
        unload_served(data)


def get(client, served, url, role="analyst", **params):
    return client.get(url, params, **served.basic(role))


def test_completed_loads_newest_first_with_counts_and_extent(client, served):
    data = get(client, served, "/api/loads/").json()
    runs = LoadRun.objects.filter(status="completed", dry_run=False).order_by("-finished_at")
    assert [r["id"] for r in data["results"]] == [r.pk for r in runs]
    assert [r["system"] for r in data["results"]] == ["landsupply", "planning", "registration"]
    registration = data["results"][2]
    run = runs.get(system="registration")
    assert set(registration) == {"id", "system", "finished_at", "counts", "extent"}
    assert registration["counts"] == run.counts and registration["counts"]["added"] > 0
    assert datetime.fromisoformat(registration["finished_at"]) == run.finished_at
    minx, miny, maxx, maxy = registration["extent"]
    assert (minx, miny, maxx, maxy) == pytest.approx(run.changed_extent.extent)
    assert 106.5 < minx < maxx < 106.7 and 29.5 < miny < maxy < 29.6


def test_loads_filtered_by_system_and_limited(client, served):
    planning = get(client, served, "/api/loads/", system="planning").json()["results"]
    assert len(planning) == 1 and planning[0]["system"] == "planning"  # not the dry run nor the failure
    assert get(client, served, "/api/loads/", system="nosuch").json() == {"results": []}
    limited = get(client, served, "/api/loads/", limit=1).json()["results"]
    assert [r["system"] for r in limited] == ["landsupply"]
    for bad in ("0", "501", "x"):
        response = get(client, served, "/api/loads/", limit=bad)
        assert response.status_code == 400 and response.json()["param"] == "limit"


def test_a_load_without_a_changed_extent_has_a_null_extent(client, served):
    LoadRun.objects.filter(system="landsupply", dry_run=False).update(changed_extent=None)  # rolled back
    assert get(client, served, "/api/loads/", system="landsupply").json()["results"][0]["extent"] is None


@pytest.mark.parametrize("role", ["analyst", "supervisor", "operator", "admin"])
def test_every_map_role_sees_the_loads(client, served, role):
    assert get(client, served, "/api/loads/", role).status_code == 200


def test_loads_need_a_login_and_a_map_role(client, served, role_user):
    assert client.get("/api/loads/").status_code == 401
    role_user("loads-nobody")
    client.login(username="loads-nobody", password="pw-for-tests-1")
    assert client.get("/api/loads/").status_code == 403


def ids(client, served, **params) -> set[int]:
    response = get(client, served, FEATURES, limit=100, **params)
    assert response.status_code == 200, response.content
    return {f["id"] for f in response.json()["features"]}


def test_features_of_one_load_run(client, served):
    registration = LoadRun.objects.get(system="registration", status="completed")
    planning = LoadRun.objects.get(system="planning", status="completed", dry_run=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM layers_parcel")
        every = {row[0] for row in cursor.fetchall()}
    assert len(every) == 5 and ids(client, served, load_run=registration.pk) == every
    assert ids(client, served, load_run=planning.pk) == set()
    permits = get(client, served, "/api/layers/permits/features/", load_run=planning.pk).json()
    assert permits["count"] == 3


def test_features_loaded_within_a_time_range(client, served):
    with connection.cursor() as cursor:  # two parcels loaded earlier; rolled back with the test
        cursor.execute(
            "UPDATE layers_parcel SET loaded_at = '2024-05-01 15:00+08' WHERE zddm = '500103001001GB00001'"
        )
        cursor.execute(
            "UPDATE layers_parcel SET loaded_at = '2024-05-03 09:00+08' WHERE zddm = '500103001001GB00002'"
        )
        cursor.execute("SELECT zddm, id FROM layers_parcel")
        pk = dict(cursor.fetchall())
    first, second = pk["500103001001GB00001"], pk["500103001001GB00002"]
    assert ids(client, served, loaded_at__lte="2024-05-01") == {first}  # a bare date: the whole day
    assert ids(client, served, loaded_at__gte="2024-05-01", loaded_at__lte="2024-05-03") == {first, second}
    assert ids(client, served, loaded_at__gte="2024-05-02", loaded_at__lte="2024-12-31") == {second}
    assert ids(client, served, loaded_at__lte="2024-05-01T14:59:59+08:00") == set()
    assert ids(client, served, loaded_at__lte="2024-05-01T07:00:00Z") == {first}  # 15:00 in Beijing
    assert ids(client, served, loaded_at__lte="2024-05-01 15:00") == {first}  # naive: Asia/Shanghai
    assert len(ids(client, served, loaded_at__gte="2024-05-04")) == 3
    # "+08:00" written unencoded in a URL arrives as " 08:00"
    raw = client.get(FEATURES + "?loaded_at__lte=2024-05-01T15:00:00+08:00", **served.basic("analyst"))
    assert {f["id"] for f in raw.json()["features"]} == {first}


@pytest.mark.parametrize(
    ("url", "params", "param"),
    [
        (FEATURES, {"loaded_at__gte": "yesterday"}, "loaded_at__gte"),
        (FEATURES, {"loaded_at__lte": "2024-13-01"}, "loaded_at__lte"),
        (FEATURES, {"load_run": "first"}, "load_run"),
        (FEATURES, {"load_run__gte": "1"}, "load_run__gte"),
        (FEATURES, {"loaded_at": "2024-05-01"}, "loaded_at"),
        (FEATURES, {"loaded_at__contains": "2024"}, "loaded_at__contains"),
        ("/api/layers/counties/features/", {"loaded_at__gte": "2024-05-01"}, "loaded_at__gte"),
        ("/api/layers/counties/features/", {"load_run": "1"}, "load_run"),
    ],
)
def test_bad_lineage_filters_and_layers_without_lineage_are_400(client, served, url, params, param):
    response = get(client, served, url, **params)
    assert response.status_code == 400
    assert response.json()["param"] == param and response.json()["detail"]
