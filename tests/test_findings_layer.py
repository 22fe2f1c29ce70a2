"""The open findings as a registry layer (``findings``): listed, identified and tiled like any layer for
supervisors and analysts; its tiles follow every change of the findings (a person's decision, a check run)
at once in vector-tile ETags and, through the re-seed job, in the raster caches."""

from __future__ import annotations

import io
import json
import math

import pytest
from django.db import connection
from PIL import Image

from checks.engine import run_checks
from checks.models import Finding
from tests.serving import PASSWORD, load_served, run_worker_once, unload_served
from tiles import mapproxy

# No test transaction: decisions and check runs commit and announce themselves on commit, as in production.
pytestmark = [pytest.mark.slow]
# three parcels get a declared area far from their drawn one (ZD-002); each test works on its own finding.
# The decided one is the easternmost, 90 m from the others: its z19 raster tile shows no other finding.
SHOWN, FIXED, DECIDED = "500103001001GB00001", "500103001001GB00003", "500103001001GB00005"


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        mapproxy.reset_cache()
        data = load_served("findings", tmp_path_factory.mktemp("findings"))
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE layers_parcel SET zdmj = 4000 WHERE zddm = ANY(%s)", [[SHOWN, DECIDED, FIXED]]
            )
        run_checks(full=True, trigger="test")
        yield data
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE checks_findingevent, checks_finding, checks_rulestate, checks_checkrun CASCADE"
            )
            cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'tiles'")
        unload_served(data)


def finding(zddm: str) -> Finding:
    return Finding.objects.get(rule="ZD-002", subject_keys=[zddm])


def point_in(zddm: str) -> tuple[float, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM layers_parcel "
            "WHERE zddm = %s) x",
            [zddm],
        )
        return cursor.fetchone()


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def drawn(png: bytes) -> int:
    return sum(1 for a in Image.open(io.BytesIO(png)).convert("RGBA").getchannel("A").tobytes() if a)


def layer_version() -> int:
    from tiles.services import layer_version as version

    return version("findings")


def fingerprints(client, served, role="supervisor", **params) -> set[str]:
    response = client.get("/api/layers/findings/features/", params, **served.basic(role))
    assert response.status_code == 200, response.content
    return {f["properties"]["fingerprint"] for f in response.json()["features"]}


def set_status(client, served, fingerprint: str, **body) -> None:
    """A supervisor's decision through the web map's JSON API (session login, as in the browser)."""
    assert client.login(username=served.user("supervisor"), password=PASSWORD)
    response = client.post(
        f"/api/checks/findings/{fingerprint}/status", json.dumps(body), content_type="application/json"
    )
    client.logout()
    assert response.status_code == 200, response.content


def test_the_layer_is_listed_for_supervisors_and_analysts_only(client, served, django_db_blocker):
    with django_db_blocker.unblock():
        for role in ("supervisor", "analyst", "admin"):
            names = [layer["name"] for layer in client.get("/api/layers/", **served.basic(role)).json()]
            assert "findings" in names, role
        info = client.get("/api/layers/findings/", **served.basic("analyst")).json()
        assert info["title_zh"] == "检查结果" and info["title_en"] == "Check findings"
        assert [a["name"] for a in info["attributes"]] == [
            "fingerprint",
            "rule",
            "rule_title",
            "status",
            "severity",
            "county",
        ]
        assert info["style"]["fill"].startswith("#") and info["style"]["stroke"] == "#991b1b"
        assert client.get("/api/layers/findings/", **served.basic("operator")).status_code == 403
        collections = client.get("/ogc/collections", **served.basic("supervisor")).json()["collections"]
        assert "findings" in [c["id"] for c in collections]


def test_open_findings_are_features_with_their_rule_title_severity_and_county(
    client, served, django_db_blocker
):
    with django_db_blocker.unblock():
        shown = finding(SHOWN)
        response = client.get("/api/layers/findings/features/", {"rule": "ZD-002"}, **served.basic("analyst"))
        features = {f["properties"]["fingerprint"]: f for f in response.json()["features"]}
        feature = features[shown.fingerprint]
        assert feature["id"] == shown.pk
        assert feature["properties"] == {
            "fingerprint": shown.fingerprint,
            "rule": "ZD-002",
            "rule_title": "宗地面积与图形面积不符",
            "status": shown.status,
            "severity": "medium",
            "county": "500103",
        }
        assert shown.status in ("new", "confirmed", "reopened")
        assert feature["geometry"]["type"] == "MultiPolygon"


def test_identify_groups_open_findings_under_checks(client, served, django_db_blocker):
    with django_db_blocker.unblock():
        lon, lat = point_in(SHOWN)
        data = client.get("/api/identify/", {"lon": lon, "lat": lat}, **served.basic("supervisor")).json()
        checks = data["systems"]["checks"]
        record = next(r for r in checks if r["properties"]["fingerprint"] == finding(SHOWN).fingerprint)
        assert record["layer"] == "findings" and record["system"] == "checks" and record["lineage"] is None
        assert record["labels"] == {"county": "渝中区"} and len(record["bbox"]) == 4
        as_operator = client.get(
            "/api/identify/", {"lon": lon, "lat": lat}, **served.basic("operator")
        ).json()
        assert "checks" not in as_operator["systems"]


def test_the_check_run_bumped_the_layer_and_queued_the_reseed_of_its_findings(served, django_db_blocker):
    with django_db_blocker.unblock():
        assert layer_version() >= 1
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT args FROM procrastinate_jobs WHERE task_name = 'tiles.reseed_changed_extent' "
                "AND args->'layers' = '[\"findings\"]'::jsonb ORDER BY id"
            )
            jobs = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in cursor.fetchall()]
        assert jobs, "no re-seed job for the findings layer"
        minx, miny, maxx, maxy = jobs[0]["extent"]
        lon, lat = point_in(SHOWN)
        assert minx <= lon <= maxx and miny <= lat <= maxy


def test_a_decision_moves_the_etag_and_a_closed_finding_leaves_every_service(
    client, served, django_db_blocker
):
    with django_db_blocker.unblock():
        decided_leaves_the_map(client, served)


def decided_leaves_the_map(client, served):
    decided = finding(DECIDED)
    lon, lat = point_in(DECIDED)
    x, y = tile_xy(lon, lat, 19)
    mvt = f"/tiles/findings/19/{x}/{y}.pbf"
    wmts = f"/mapproxy/wmts/findings/webmercator/19/{x}/{y}.png"
    first = client.get(mvt, **served.basic("supervisor"))
    assert first.status_code == 200 and decided.fingerprint.encode() in first.content
    etag = first["ETag"]
    assert client.get(mvt, HTTP_IF_NONE_MATCH=etag, **served.basic("supervisor")).status_code == 304
    assert drawn(client.get(wmts, **served.basic("supervisor")).content) > 1000  # rendered and now cached

    set_status(client, served, decided.fingerprint, status="confirmed")  # still open: drawn, status changed
    confirmed = client.get(mvt, HTTP_IF_NONE_MATCH=etag, **served.basic("supervisor"))
    assert confirmed.status_code == 200 and confirmed["ETag"] != etag and b"confirmed" in confirmed.content
    assert decided.fingerprint in fingerprints(client, served)

    set_status(client, served, decided.fingerprint, status="exception", reason="历史遗留，已备案")
    gone = client.get(mvt, HTTP_IF_NONE_MATCH=confirmed["ETag"], **served.basic("supervisor"))
    assert gone.status_code == 200 and gone["ETag"] not in (etag, confirmed["ETag"])
    assert decided.fingerprint.encode() not in gone.content
    assert decided.fingerprint not in fingerprints(client, served)
    assert decided.fingerprint not in fingerprints(
        client, served, bbox=f"{lon - 1e-4},{lat - 1e-4},{lon + 1e-4},{lat + 1e-4}"
    )
    data = client.get("/api/identify/", {"lon": lon, "lat": lat}, **served.basic("supervisor")).json()
    assert decided.fingerprint not in {
        r["properties"]["fingerprint"] for r in data["systems"].get("checks", [])
    }

    # the raster tile is stale until the queued job cleans and re-seeds the finding's extent
    assert drawn(client.get(wmts, **served.basic("supervisor")).content) > 1000
    result = run_worker_once("tiles")
    assert result.returncode == 0, result.stderr
    assert drawn(client.get(wmts, **served.basic("supervisor")).content) == 0


def test_a_check_run_that_fixes_a_finding_moves_the_etag_and_one_that_changes_nothing_does_not(
    client, served, django_db_blocker
):
    with django_db_blocker.unblock():
        fixed_by_the_engine(client, served)


def fixed_by_the_engine(client, served):
    fixed = finding(FIXED)
    lon, lat = point_in(FIXED)
    x, y = tile_xy(lon, lat, 16)
    mvt = f"/tiles/findings/16/{x}/{y}.pbf"
    etag = client.get(mvt, **served.basic("analyst"))["ETag"]
    with connection.cursor() as cursor:  # the parcel's area corrected (as a reload would)
        cursor.execute("UPDATE layers_parcel SET zdmj = 2500 WHERE zddm = %s", [FIXED])
    run_checks(rules=["ZD-002"], full=True, trigger="test")
    fixed.refresh_from_db()
    assert fixed.status == "fixed"
    after = client.get(mvt, HTTP_IF_NONE_MATCH=etag, **served.basic("analyst"))
    assert after.status_code == 200 and fixed.fingerprint.encode() not in after.content
    assert fixed.fingerprint not in fingerprints(client, served, role="analyst")

    version = layer_version()
    run_checks(rules=["ZD-002"], full=True, trigger="test")  # nothing changes: the tiles stay valid
    assert layer_version() == version
    assert client.get(mvt, HTTP_IF_NONE_MATCH=after["ETag"], **served.basic("analyst")).status_code == 304


def test_the_generated_mapserver_and_mapproxy_configuration_includes_the_layer():
    from django.core.management import call_command

    from tiles.management.commands.tiles_check import config_problems

    assert config_problems() == []
    text = (mapproxy.write_config().parent / "onemap.map").read_text()
    assert 'NAME "findings"' in text and "checks_finding" in text
    call_command("tiles_check")
