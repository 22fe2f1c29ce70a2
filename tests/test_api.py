"""The REST API under /api/: layers, GeoJSON features (bbox, filters, ordering, pages, CRS), identify,
lookups, the OpenAPI schema and its docs page; authentication and per-layer roles on every endpoint."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from tests.serving import load_served, unload_served

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        data = load_served("api", tmp_path_factory.mktemp("api"))
        yield data
        unload_served(data)


def get(client, served, url, role="analyst", **params):
    return client.get(url, params, **served.basic(role))


def one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def parcel_centre(zddm: str = "500103001001GB00001") -> tuple[float, float]:
    return one(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM layers_parcel WHERE zddm=%s) x",
        [zddm],
    )[0]


def test_layer_list_shows_only_the_layers_of_the_users_roles(client, served):
    analyst = [layer["name"] for layer in get(client, served, "/api/layers/").json()]
    operator = [layer["name"] for layer in get(client, served, "/api/layers/", "operator").json()]
    shared = ["parcels", "buildings", "permits", "landsupply", "counties"]
    assert analyst == [*shared, "findings"]  # the open findings: supervisors and analysts
    assert operator == [*shared, "etl_quarantine"]
    parcels = get(client, served, "/api/layers/parcels/").json()
    assert parcels["title_zh"] == "宗地" and parcels["style"]["label"] == "zl"
    assert parcels["links"]["features"].endswith("/api/layers/parcels/features/")
    assert {
        "name": "zl",
        "title_zh": "坐落",
        "title_en": "Address",
        "type": "string",
        "min_zoom": 15,
        "codelist": None,
    } in parcels["attributes"]


def test_features_in_a_bbox_match_the_database(client, served):
    bbox = (106.5695, 29.5595, 106.5725, 29.5610)
    response = get(client, served, "/api/layers/parcels/features/", bbox=",".join(map(str, bbox)))
    assert response.status_code == 200 and response["Content-Type"] == "application/geo+json"
    data = response.json()
    expected = one(
        "SELECT id, zddm, zl FROM layers_parcel "
        "WHERE ST_Intersects(geom, ST_MakeEnvelope(%s,%s,%s,%s,4490)) ORDER BY id",
        bbox,
    )
    assert 0 < len(expected) < 5
    assert [(f["id"], f["properties"]["zddm"], f["properties"]["zl"]) for f in data["features"]] == expected
    assert data["count"] == len(expected) and data["next"] is None and data["crs"] == "EPSG:4490"
    assert data["features"][0]["geometry"]["type"] == "MultiPolygon"


def test_filters_ordering_and_pages(client, served):
    url = "/api/layers/parcels/features/"
    page = get(client, served, url, ordering="-zddm", limit=2, zdmj__gte="2500").json()
    assert page["count"] == 5 and [f["properties"]["zddm"][-1] for f in page["features"]] == ["5", "4"]
    following = client.get(page["next"], **served.basic("analyst")).json()
    assert [f["properties"]["zddm"][-1] for f in following["features"]] == ["3", "2"]
    assert following["previous"] and "offset=0" in following["previous"]
    assert get(client, served, url, zddm="500103001001GB00003").json()["count"] == 1
    assert get(client, served, url, zl__contains="民权路4").json()["count"] == 1
    assert get(client, served, url, djsj__lt="2016-01-01").json()["count"] == 0
    assert get(client, served, url, zdmj__gt="2500").json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"crs": "9999"}, "crs"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "3,2,1,4"}, "bbox"),
        ({"nosuch": "1"}, "nosuch"),
        ({"zdmj__gte": "many"}, "zdmj__gte"),
        ({"zl__gte": "x"}, "zl__gte"),
        ({"ordering": "geom"}, "ordering"),
        ({"limit": "0"}, "limit"),
        ({"limit": "20000"}, "limit"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(client, served, params, param):
    response = get(client, served, "/api/layers/parcels/features/", **params)
    assert response.status_code == 400 and response.json()["param"] == param


@pytest.mark.parametrize("srid", [3857, 4545, 4326])
def test_output_crs(client, served, srid):
    feature = get(client, served, "/api/layers/parcels/features/", crs=srid, limit=1).json()["features"][0]
    (expected,) = one(
        "SELECT ST_AsGeoJSON(ST_Transform(geom, %s), 3)::json FROM layers_parcel WHERE id=%s",
        [srid, feature["id"]],
    )[0]
    got = feature["geometry"]["coordinates"][0][0][0]
    want = expected["coordinates"][0][0][0]
    assert got == pytest.approx(want, abs=1e-3)
    if srid == 4545:  # CGCS2000 GK CM 108E: metres, easting about 350 km
        assert 300_000 < got[0] < 500_000 and 3_200_000 < got[1] < 3_400_000


def test_bbox_in_another_crs(client, served):
    (bbox,) = one(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
        "FROM (SELECT ST_Transform(geom, 3857) e FROM layers_parcel "
        "WHERE zddm='500103001001GB00002') x"
    )
    data = get(
        client, served, "/api/layers/parcels/features/", bbox=",".join(map(str, bbox)), bbox_crs=3857
    ).json()
    assert "500103001001GB00002" in {f["properties"]["zddm"] for f in data["features"]}
    assert data["count"] <= 3


def test_single_feature(client, served):
    (pk,) = one("SELECT id FROM layers_planningpermit ORDER BY id LIMIT 1")[0]
    feature = get(client, served, f"/api/layers/permits/features/{pk}/").json()
    assert feature["id"] == pk and feature["properties"]["permit_no"].startswith("地字第")
    assert get(client, served, "/api/layers/permits/features/999999/").status_code == 404


def test_identify_groups_every_layers_records_by_system_with_lineage(client, served):
    lon, lat = parcel_centre()
    data = get(client, served, "/api/identify/", lon=lon, lat=lat).json()
    assert set(data["systems"]) == {"registration", "planning", "landsupply", "reference"}
    registration = {r["layer"]: r for r in data["systems"]["registration"]}
    assert registration["parcels"]["properties"]["zddm"] == "500103001001GB00001"
    lineage = registration["parcels"]["lineage"]
    assert lineage["src_file"].endswith("ZDJBXX.shp") and lineage["src_row"] == 1 and lineage["load_run"]
    assert {r["layer"] for r in data["systems"]["planning"]} == {"permits"}
    assert data["systems"]["reference"][0]["properties"]["name"] == "渝中区"


def test_identify_shows_quarantined_rows_only_to_roles_that_may_see_them(client, served):
    (lon, lat) = one(
        "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
        "FROM etl_problem WHERE geom IS NOT NULL LIMIT 1"
    )[0]
    as_operator = get(client, served, "/api/identify/", "operator", lon=lon, lat=lat).json()
    as_analyst = get(client, served, "/api/identify/", lon=lon, lat=lat).json()
    layers = {r["layer"] for records in as_operator["systems"].values() for r in records}
    assert "etl_quarantine" in layers
    assert "etl_quarantine" not in {r["layer"] for records in as_analyst["systems"].values() for r in records}
    assert get(client, served, "/api/identify/", lon="x", lat=1).status_code == 400
    assert get(client, served, "/api/identify/", lon=1).json()["param"] == "lat"


def test_lookups_by_business_key(client, served):
    zddm = get(client, served, "/api/lookup/zddm/500103001001GB00002/").json()
    assert sorted(r["layer"] for r in zddm["results"]) == ["buildings", "landsupply", "parcels"]
    contract = get(client, served, "/api/lookup/contract/渝地(2016)合字(渝中)第1号/").json()
    assert contract["count"] == 1 and contract["results"][0]["properties"]["zddm"] == "500103001001GB00001"
    (permit_no,) = one("SELECT permit_no FROM layers_planningpermit LIMIT 1")[0]
    assert get(client, served, f"/api/lookup/permit/{permit_no}/").json()["count"] == 1
    bdcdyh = get(client, served, "/api/lookup/bdcdyh/500103001001GB00001F00010000/").json()
    assert [r["layer"] for r in bdcdyh["results"]] == ["buildings"]
    assert get(client, served, "/api/lookup/colour/x/").status_code == 404


def test_schema_is_valid_openapi_3_and_the_docs_page_uses_local_assets(client, served):
    from openapi_spec_validator import validate

    response = get(client, served, "/api/schema/", format="json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate(schema)
    assert schema["openapi"].startswith("3.") and "/api/identify/" in schema["paths"]
    assert "/api/layers/{layer}/features/" in schema["paths"]
    client.login(username=served.user("analyst"), password="pw-for-serving-1")
    page = client.get("/api/docs/").content.decode()
    assert (
        "swagger-ui" in page
        and "http://" not in page.replace("http://testserver", "")
        and "https://" not in page
    )
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page


API_URLS = [
    "/api/layers/",
    "/api/layers/parcels/",
    "/api/layers/parcels/features/",
    "/api/identify/?lon=106.57&lat=29.56",
    "/api/lookup/zddm/500103001001GB00001/",
    "/api/schema/",
]


@pytest.mark.parametrize("url", API_URLS)
def test_every_endpoint_refuses_anonymous_requests_with_a_basic_challenge(client, served, url):
    response = client.get(url)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Basic")
    assert client.get(url, HTTP_AUTHORIZATION="Basic eDp5").status_code == 401  # x:y


@pytest.mark.parametrize(
    "url",
    [
        "/api/layers/etl_quarantine/",
        "/api/layers/etl_quarantine/features/",
        "/api/layers/etl_quarantine/features/1/",
    ],
)
def test_a_layer_of_another_role_is_403_in_every_endpoint(client, served, url):
    assert get(client, served, url, "analyst").status_code == 403
    assert get(client, served, url, "operator").status_code in (200, 404)
    assert get(client, served, url, "admin").status_code in (200, 404)


def test_token_and_session_authentication(client, served):
    response = client.post(
        "/api/token/", {"username": served.user("analyst"), "password": "pw-for-serving-1"}
    )
    token = response.json()["token"]
    assert client.get("/api/layers/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    client.login(username=served.user("supervisor"), password="pw-for-serving-1")
    assert "etl_quarantine" in {layer["name"] for layer in client.get("/api/layers/").json()}


def test_basic_auth_is_remembered_but_a_deactivated_user_or_wrong_password_is_refused(client, served):
    from django.contrib.auth import get_user_model

    assert get(client, served, "/api/layers/", "admin").status_code == 200  # now cached
    wrong = "Basic " + __import__("base64").b64encode(f"{served.user('admin')}:nope".encode()).decode()
    assert client.get("/api/layers/", HTTP_AUTHORIZATION=wrong).status_code == 401
    get_user_model().objects.filter(username=served.user("admin")).update(is_active=False)
    assert get(client, served, "/api/layers/", "admin").status_code == 401
