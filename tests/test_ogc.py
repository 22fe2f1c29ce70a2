"""OGC API - Features at /ogc/: landing, conformance, collections, items (bbox, limit, offset, next links),
single items, Part 2 CRS, roles; and GDAL's OAPIF driver reading a live server."""

from __future__ import annotations

import json
import subprocess

import pytest
from django.db import connection

from tests.serving import PASSWORD, Server, load_served, unload_served

pytestmark = [pytest.mark.django_db]
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        data = load_served("ogc", tmp_path_factory.mktemp("ogc"))
        yield data
        unload_served(data)


def get(client, served, url, role="analyst", **params):
    return client.get(url, params, **served.basic(role))


def rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_landing_conformance_and_collections(client, served):
    landing = get(client, served, "/ogc/").json()
    assert {link["rel"] for link in landing["links"]} >= {"self", "conformance", "data", "service-desc"}
    conformance = get(client, served, "/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance
    collections = get(client, served, "/ogc/collections").json()["collections"]
    assert [c["id"] for c in collections] == [
        "parcels",
        "buildings",
        "permits",
        "landsupply",
        "counties",
        "findings",
    ]
    parcels = collections[0]
    assert parcels["title"] == "宗地" and parcels["storageCrs"] == EPSG.format(4490)
    assert EPSG.format(3857) in parcels["crs"]
    minx, miny, maxx, maxy = parcels["extent"]["spatial"]["bbox"][0]
    assert 106.56 < minx < maxx < 106.58 and 29.55 < miny < maxy < 29.57


def test_items_pages_with_next_links_until_all_are_read(client, served):
    url, seen = "/ogc/collections/parcels/items?limit=2", []
    while url:
        page = client.get(url, **served.basic("analyst")).json()
        assert page["numberMatched"] == 5 and page["numberReturned"] == len(page["features"])
        seen += [f["properties"]["zddm"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert seen == [r[0] for r in rows("SELECT zddm FROM layers_parcel ORDER BY id")]


def test_part2_crs_and_bbox_crs_follow_the_crs_axis_order(client, served):
    (pk, lon, lat, x, y) = rows(
        "SELECT id, ST_X(p), ST_Y(p), ST_X(ST_Transform(p, 3857)), ST_Y(ST_Transform(p, 3857)) FROM "
        "(SELECT id, ST_StartPoint(ST_ExteriorRing(ST_GeometryN(geom, 1))) p FROM layers_parcel "
        "ORDER BY id LIMIT 1) s"
    )[0]
    url = f"/ogc/collections/parcels/items/{pk}"
    default = get(client, served, url)
    assert default["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    assert default.json()["geometry"]["coordinates"][0][0][0] == pytest.approx([lon, lat], abs=1e-7)
    cgcs = get(client, served, url, crs=EPSG.format(4490))
    assert cgcs["Content-Crs"] == f"<{EPSG.format(4490)}>"
    assert cgcs.json()["geometry"]["coordinates"][0][0][0] == pytest.approx([lat, lon], abs=1e-7)
    mercator = get(client, served, url, crs=EPSG.format(3857)).json()
    assert mercator["geometry"]["coordinates"][0][0][0] == pytest.approx([x, y], abs=1e-2)
    box_latlon = f"{lat - 1e-5},{lon - 1e-5},{lat + 1e-5},{lon + 1e-5}"
    found = get(
        client, served, "/ogc/collections/parcels/items", bbox=box_latlon, **{"bbox-crs": EPSG.format(4490)}
    )
    assert [f["id"] for f in found.json()["features"]] == [pk]
    box_xy = f"{x - 1},{y - 1},{x + 1},{y + 1}"
    found = get(
        client, served, "/ogc/collections/parcels/items", bbox=box_xy, **{"bbox-crs": EPSG.format(3857)}
    )
    assert [f["id"] for f in found.json()["features"]] == [pk]
    bad = get(client, served, "/ogc/collections/parcels/items", crs=EPSG.format(2000))
    assert bad.status_code == 400 and bad.json()["param"] == "crs"


@pytest.mark.parametrize(
    "url",
    [
        "/ogc/collections/etl_quarantine",
        "/ogc/collections/etl_quarantine/items",
        "/ogc/collections/etl_quarantine/items/1",
    ],
)
def test_other_roles_layers_are_403_and_anonymous_requests_401(client, served, url):
    assert get(client, served, url).status_code == 403
    assert get(client, served, url, "operator").status_code in (200, 404)
    assert client.get(url).status_code == 401
    assert client.get("/ogc/collections").status_code == 401
    listing = get(client, served, "/ogc/collections", "operator").json()["collections"]
    assert "etl_quarantine" in [c["id"] for c in listing]


@pytest.fixture(scope="module")
def server(served):
    process = Server()
    yield process
    process.stop()


@pytest.mark.slow
def test_gdal_oapif_reads_every_visible_layer_and_its_features_match_the_database(served, server, tmp_path):
    auth = [
        "--config",
        "GDAL_HTTP_AUTH",
        "BASIC",
        "--config",
        "GDAL_HTTP_USERPWD",
        f"{served.user('analyst')}:{PASSWORD}",
    ]
    listing = subprocess.run(
        ["ogrinfo", "-ro", "-q", f"OAPIF:{server.url}/ogc", *auth], capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    assert (
        "parcels" in listing.stdout
        and "landsupply" in listing.stdout
        and "etl_quarantine" not in listing.stdout
    )
    out = tmp_path / "parcels.geojson"
    result = subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "GeoJSON",
            str(out),
            f"OAPIF:{server.url}/ogc",
            "parcels",
            *auth,
            "-oo",
            "PAGE_SIZE=2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(out.read_text())["features"]
    expected = rows("SELECT zddm, zl, ST_AsText(ST_SnapToGrid(geom, 1e-7)) FROM layers_parcel ORDER BY zddm")
    from shapely import wkt
    from shapely.geometry import shape

    assert sorted((f["properties"]["zddm"], f["properties"]["zl"]) for f in got) == [
        (z, zl) for z, zl, _ in expected
    ]
    by_key = {f["properties"]["zddm"]: shape(f["geometry"]) for f in got}
    for zddm, _, geometry in expected:
        assert by_key[zddm].equals_exact(wkt.loads(geometry), 1e-6)
    denied = subprocess.run(
        ["ogrinfo", "-ro", "-q", f"OAPIF:{server.url}/ogc", "etl_quarantine", *auth],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert denied.returncode != 0
