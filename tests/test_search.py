"""Search suggestions /api/search/: business codes by case-insensitive prefix, addresses and project names by
substring, exact matches first, only the layers of the user's roles, LIKE wildcards taken literally, and
every piece of the query served by its index."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from layers import registry
from tests.serving import load_served, unload_served

pytestmark = [pytest.mark.django_db]
URL = "/api/search/"


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        data = load_served("search", tmp_path_factory.mktemp("search"))
        yield data
        unload_served(data)


def search(client, served, role="analyst", **params):
    response = client.get(URL, params, **served.basic(role))
    assert response.status_code == 200, response.content
    return response.json()


def one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def box(table: str, pk: int) -> list[float]:
    return list(
        one(
            f"SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT Box2D(geom) b FROM {table} "
            "WHERE id = %s) x",
            [pk],
        )
    )


def test_an_exact_zddm_comes_first_with_its_label_and_bbox_then_the_same_code_in_other_layers(client, served):
    data = search(client, served, q="500103001001GB00002")
    assert data["q"] == "500103001001GB00002"
    first = data["results"][0]
    (parcel_id,) = one("SELECT id FROM layers_parcel WHERE zddm = %s", ["500103001001GB00002"])
    assert first == {
        "kind": "zddm",
        "layer": "parcels",
        "title_zh": "宗地",
        "title_en": "Parcels",
        "id": parcel_id,
        "value": "500103001001GB00002",
        "label": "500103001001GB00002 · 渝中区民权路2号",
        "bbox": pytest.approx(box("layers_parcel", parcel_id)),
    }
    assert 106.5 < first["bbox"][0] < first["bbox"][2] < 106.7 and 29.5 < first["bbox"][1] < 29.6
    # the building and the supply contract naming the parcel; the parcel's and the building's BDCDYH (which
    # start with the code) are the same records, so they are not repeated
    assert [(r["layer"], r["kind"]) for r in data["results"]] == [
        ("parcels", "zddm"),
        ("buildings", "zddm"),
        ("landsupply", "zddm"),
    ]
    assert data["results"][1]["label"] == "500103001001GB00002 · 1号楼"


def test_codes_match_by_case_insensitive_prefix_in_code_order_up_to_the_limit(client, served):
    results = search(client, served, q="500103001001gb0000", limit=50)["results"]
    assert len(results) == 5 + 5 + 3  # every parcel, building and supply record, each once
    assert [r["value"].upper() for r in results] == sorted(r["value"].upper() for r in results)
    assert {r["kind"] for r in results} == {"zddm"}
    limited = search(client, served, q="500103001001GB0000", limit=2)["results"]
    assert [(r["layer"], r["value"]) for r in limited] == [
        ("parcels", "500103001001GB00001"),
        ("buildings", "500103001001GB00001"),
    ]
    bdcdyh = search(client, served, q="500103001001GB00004F")["results"]
    assert [(r["kind"], r["layer"], r["value"]) for r in bdcdyh] == [
        ("bdcdyh", "buildings", "500103001001GB00004F00010000")
    ]
    assert search(client, served, q="001001GB")["results"] == []  # a prefix, not a substring


def test_permit_and_contract_numbers_by_prefix(client, served):
    permits = search(client, served, q="地字第5001032016")["results"]
    assert len(permits) == 3 and {r["kind"] for r in permits} == {"permit"}
    assert permits[0]["label"] == "地字第500103201600000号 · 测试项目0"
    contracts = search(client, served, q="渝地(2016)合字(渝中)第3")["results"]
    assert [(r["kind"], r["layer"], r["label"]) for r in contracts] == [
        ("contract", "landsupply", "渝地(2016)合字(渝中)第3号 · 测试项目2")
    ]


def test_addresses_and_project_names_match_anywhere_exact_ones_first(client, served):
    address = search(client, served, q="民权路3")["results"]
    assert [(r["kind"], r["layer"], r["value"], r["label"]) for r in address] == [
        ("address", "parcels", "渝中区民权路3号", "渝中区民权路3号 · 500103001001GB00003")
    ]
    projects = search(client, served, q="测试项目1")["results"]
    assert [(r["layer"], r["value"]) for r in projects] == [
        ("permits", "测试项目1"),
        ("landsupply", "测试项目1"),
    ]
    assert projects[1]["label"] == "测试项目1 · 渝地(2016)合字(渝中)第2号"
    everything = search(client, served, q="测试项目", limit=50)["results"]
    assert len(everything) == 6 and {r["kind"] for r in everything} == {"address"}
    assert len(search(client, served, q="渝中区", limit=3)["results"]) == 3


def test_exact_matches_come_before_codes_and_codes_before_addresses(client, served):
    from layers.search import search as run_search

    # a parcel whose address is exactly a permit number's prefix: the exact address wins, then the code
    with connection.cursor() as cursor:  # rolled back with the test
        cursor.execute("UPDATE layers_parcel SET zl = '地字第5001' WHERE zddm = '500103001001GB00005'")
    layers = registry.for_user(_user("analyst", served))
    results = run_search("地字第5001", layers, 10)
    assert [r["kind"] for r in results] == ["address", "permit", "permit", "permit"]
    results = run_search("地字第500", layers, 10)
    assert [r["kind"] for r in results] == ["permit", "permit", "permit", "address"]


def _user(role, served):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=served.user(role))


@pytest.mark.parametrize(
    "q", ["5_0103", "%%", "渝中区民权路_号", "民权路\\", "'; DROP TABLE layers_parcel; --"]
)
def test_wildcards_and_quotes_in_the_text_are_only_ever_literal(client, served, q):
    assert search(client, served, q=q)["results"] == []
    assert one("SELECT count(*) FROM layers_parcel")[0] == 5


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "q"),
        ({"q": "5"}, "q"),
        ({"q": " 5 "}, "q"),
        ({"q": "50", "limit": "0"}, "limit"),
        ({"q": "50", "limit": "51"}, "limit"),
        ({"q": "50", "limit": "ten"}, "limit"),
        ({"q": "5" * 101}, "q"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(client, served, params, param):
    response = client.get(URL, params, **served.basic("analyst"))
    assert response.status_code == 400
    assert response.json()["param"] == param and response.json()["detail"]


def test_only_layers_the_user_may_see_are_searched(client, served):
    parcels = registry.get("parcels")
    secret = dataclasses.replace(parcels, name="secret_parcels", title_zh="机密宗地", roles=("etl_operator",))
    registry.register(secret)
    try:
        as_operator = search(client, served, "operator", q="500103001001GB00003")["results"]
        as_analyst = search(client, served, "analyst", q="500103001001GB00003")["results"]
        assert "secret_parcels" in {r["layer"] for r in as_operator}
        assert "secret_parcels" not in {r["layer"] for r in as_analyst}
    finally:
        registry.unregister("secret_parcels")
    assert client.get(URL, {"q": "5001"}).status_code == 401


def test_every_piece_of_the_search_is_served_by_its_index(client, served):
    """With 5 rows the planner reads the table; forbidding that proves each expression matches an index."""
    with CaptureQueriesContext(connection) as captured:
        search(client, served, q="500103001001Gb")
    (sql,) = [q["sql"] for q in captured.captured_queries if "UNION ALL" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in (
        "parcel_zddm_search",
        "parcel_bdcdyh_search",
        "parcel_zl_search",
        "building_bdcdyh_search",
        "building_zddm_search",
        "permit_no_search",
        "permit_project_search",
        "landsupply_contract_search",
        "landsupply_zddm_search",
        "landsupply_project_search",
    ):
        assert index in plan, f"{index} not used:\n{plan}"


def test_the_schema_documents_search_and_loads(client, served):
    schema = client.get("/api/schema/", {"format": "json"}, **served.basic("analyst")).json()
    assert {"/api/search/", "/api/loads/"} <= set(schema["paths"])
    search_params = {p["name"] for p in schema["paths"]["/api/search/"]["get"]["parameters"]}
    assert {"q", "limit"} <= search_params
