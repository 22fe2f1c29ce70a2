"""``POST /api/queries/run/``: roles and layer permissions, errors that name the JSON path in Chinese and
English, injection attempts in every parameter refused or harmless, the OpenAPI schema."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import override_settings

from layers.models import Building, LandSupply, Parcel, PlanningPermit
from tests.analysis_world import add_many_buildings, build_world

pytestmark = pytest.mark.django_db
RUN = "/api/queries/run/"


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def as_role(client, role_user):
    def login(*roles: str):
        client.force_login(role_user("-".join(roles) or "nobody", *roles))
        return client

    return login


def post(client, body, url=RUN):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def test_features_and_groups_through_the_api(world, as_role):
    client = as_role("analyst")
    response = post(
        client, {"layer": "permits", "spatial": [{"predicate": "disjoint", "layer": "landsupply"}]}
    )
    assert response.status_code == 200
    result = response.json()
    assert result["kind"] == "features" and result["total"] == 2 and result["limit"] == 100
    assert result["features"]["type"] == "FeatureCollection"
    assert {f["properties"]["permit_no"] for f in result["features"]["features"]} == {
        "地字第500103201600002号",
        "地字第500103201600003号",
    }
    assert isinstance(result["sql_ms"], float)
    columns = [c["name"] for c in result["columns"]]
    assert columns[0] == "id" and columns[-1] == "area_m2" and "kind_label" in columns
    assert all(set(f["properties"]) == set(columns) for f in result["features"]["features"])
    grouped = post(client, {"layer": "landsupply", "group_by": ["county"]}).json()
    assert grouped["kind"] == "groups" and grouped["rows"] == [
        ["500103", "渝中区", 3],
        ["500105", "江北区", 1],
    ]
    assert grouped["total_groups"] == 2 and [c["name"] for c in grouped["columns"]] == [
        "county",
        "county_label",
        "count",
    ]


@pytest.mark.parametrize("roles, status", [(("analyst",), 200), (("supervisor",), 200), (("admin",), 200)])
def test_query_roles_may_run(world, as_role, roles, status):
    assert post(as_role(*roles), {"layer": "parcels"}).status_code == status


def test_other_roles_get_403(world, as_role, client):
    response = post(as_role("etl_operator"), {"layer": "parcels"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["message_zh"] and error["message_en"] and "path" in error
    client.logout()
    assert post(client, {"layer": "parcels"}).status_code in (401, 403)


def test_a_layer_only_supervisors_see_is_403_for_analysts(world, as_role):
    analyst = as_role("analyst")
    quarantine = {"layer": "etl_quarantine"}
    response = post(analyst, quarantine)
    assert response.status_code == 403 and response.json()["error"]["path"] == "layer"
    # its fields are not even validated: a bad field is still 403, not a 400 listing them
    assert post(analyst, {**quarantine, "filters": [{"field": "nope", "op": "null"}]}).status_code == 403
    other = {"layer": "parcels", "spatial": [{"predicate": "intersects", "layer": "etl_quarantine"}]}
    response = post(analyst, other)
    assert response.status_code == 403 and response.json()["error"]["path"] == "spatial[0].layer"
    supervisor = as_role("supervisor")
    assert post(supervisor, quarantine).status_code == 200 and post(supervisor, other).status_code == 200


@pytest.mark.parametrize(
    "body, path",
    [
        ({"layer": "nope"}, "layer"),
        ({}, "layer"),
        ({"layer": "parcels", "colour": 1}, "colour"),
        (
            {
                "layer": "parcels",
                "filters": [
                    {"field": "yt", "op": "eq", "value": "0701"},
                    {"field": "zdmj", "op": "eq", "value": "much"},
                ],
            },
            "filters[1].value",
        ),
        ({"layer": "parcels", "filters": [{"field": "yt", "op": "like", "value": "07%"}]}, "filters[0].op"),
        (
            {"layer": "parcels", "filters": [{"field": "yt", "op": "range", "value": ["01", "09"]}]},
            "filters[0].op",
        ),
        (
            {"layer": "parcels", "filters": [{"field": "zdmj", "op": "range", "value": [5, 1]}]},
            "filters[0].value",
        ),
        (
            {"layer": "parcels", "filters": [{"field": "djsj", "op": "eq", "value": "2016-02-30"}]},
            "filters[0].value",
        ),
        ({"layer": "parcels", "filters": [{"field": "yt", "op": "in", "value": []}]}, "filters[0].value"),
        ({"layer": "parcels", "filters": [{"field": "yt", "op": "null", "value": "x"}]}, "filters[0].value"),
        (
            {"layer": "parcels", "filters": [{"field": "zdmj", "op": "contains", "value": "1"}]},
            "filters[0].op",
        ),
        (
            {"layer": "parcels", "filters": [{"field": "year:zl", "op": "eq", "value": 2016}]},
            "filters[0].field",
        ),
        (
            {"layer": "parcels", "filters": [{"field": "class1:qllx", "op": "eq", "value": "07"}]},
            "filters[0].field",
        ),
        (
            {"layer": "parcels", "spatial": [{"predicate": "near", "layer": "permits"}]},
            "spatial[0].predicate",
        ),
        (
            {"layer": "parcels", "spatial": [{"predicate": "dwithin", "layer": "permits"}]},
            "spatial[0].distance",
        ),
        (
            {"layer": "parcels", "spatial": [{"predicate": "dwithin", "layer": "permits", "distance": -1}]},
            "spatial[0].distance",
        ),
        (
            {"layer": "parcels", "spatial": [{"predicate": "intersects", "layer": "permits", "distance": 5}]},
            "spatial[0].distance",
        ),
        ({"layer": "parcels", "spatial": [{"predicate": "intersects"}]}, "spatial[0]"),
        (
            {
                "layer": "parcels",
                "spatial": [{"predicate": "intersects", "layer": "permits", "county": "500103"}],
            },
            "spatial[0]",
        ),
        (
            {"layer": "parcels", "spatial": [{"predicate": "intersects", "county": "500199"}]},
            "spatial[0].county",
        ),
        (
            {
                "layer": "parcels",
                "spatial": [
                    {
                        "predicate": "intersects",
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                        },
                    }
                ],
            },
            "spatial[0].geometry",
        ),
        (
            {
                "layer": "parcels",
                "spatial": [
                    {
                        "predicate": "intersects",
                        "geometry": {"type": "Point", "coordinates": [36500000, 3270000]},
                    }
                ],
            },
            "spatial[0].geometry",
        ),
        (
            {
                "layer": "parcels",
                "spatial": [
                    {
                        "predicate": "intersects",
                        "layer": "permits",
                        "filters": [{"field": "yt", "op": "null"}],
                    }
                ],
            },
            "spatial[0].filters[0].field",
        ),
        (
            {
                "layer": "parcels",
                "spatial": [
                    {
                        "predicate": "intersects",
                        "layer": "permits",
                        "compare": [{"field": "yt", "op": "ne", "other": "land_area"}],
                    }
                ],
            },
            "spatial[0].compare[0].other",
        ),
        ({"layer": "parcels", "buffer": 100000}, "buffer"),
        ({"layer": "parcels", "group_by": ["zdmj"]}, "group_by[0]"),
        ({"layer": "parcels", "aggregates": [{"fn": "count"}]}, "aggregates"),
        (
            {"layer": "parcels", "group_by": ["yt"], "aggregates": [{"fn": "sum", "field": "zl"}]},
            "aggregates[0].field",
        ),
        (
            {"layer": "parcels", "group_by": ["yt"], "aggregates": [{"fn": "median", "field": "zdmj"}]},
            "aggregates[0].fn",
        ),
        ({"layer": "parcels", "group_by": ["yt"], "order_by": "-zdmj"}, "order_by"),
        ({"layer": "parcels", "limit": 0}, "limit"),
        ({"layer": "parcels", "limit": 10001}, "limit"),
        ({"layer": "parcels", "offset": -1}, "offset"),
        ({"layer": "parcels", "crs": 4214}, "crs"),
    ],
)
def test_errors_name_the_json_path_in_chinese_and_english(world, as_role, body, path):
    response = post(as_role("analyst"), body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["path"] == path, error
    assert error["message_zh"] and error["message_en"] and error["message_zh"] != error["message_en"]


def test_a_body_that_is_not_a_json_object_is_400(world, as_role):
    client = as_role("analyst")
    for raw in ("{not json", "[1, 2]", '"parcels"'):
        response = post(client, raw)
        assert response.status_code == 400 and response.json()["error"]["path"] == ""


def test_the_row_limit_follows_the_setting(world, as_role):
    client = as_role("analyst")
    with override_settings(ANALYSIS_MAX_ROWS=3):
        assert post(client, {"layer": "parcels", "limit": 4}).status_code == 400
        grouped = post(client, {"layer": "parcels", "group_by": ["yt"]}).json()
        assert len(grouped["rows"]) == 3 and grouped["total_groups"] == 4


def test_a_timeout_is_a_clear_400(world, as_role):
    add_many_buildings(3000)
    with override_settings(ANALYSIS_STATEMENT_TIMEOUT_MS=1):
        response = post(as_role("analyst"), {"layer": "buildings", "buffer": 9000, "group_by": ["county"]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "timeout" and "超" in error["message_zh"] and "stopped" in error["message_en"]


EVIL = "'; DROP TABLE layers_parcel; --"
INJECTIONS = [
    {"layer": "parcels; DROP TABLE layers_parcel"},
    {"layer": "parcels", "filters": [{"field": "zl; DROP TABLE layers_parcel", "op": "null"}]},
    {"layer": "parcels", "filters": [{"field": "zl) OR (1=1", "op": "null"}]},
    {"layer": "parcels", "filters": [{"field": "year:djsj) --", "op": "eq", "value": 1}]},
    {"layer": "parcels", "filters": [{"field": "class1:yt, 1", "op": "eq", "value": "07"}]},
    {"layer": "parcels", "filters": [{"field": "zl", "op": "eq; DROP TABLE layers_parcel", "value": "x"}]},
    {"layer": "parcels", "filters": [{"field": "zl", "op": "= '' OR 1=1 --", "value": "x"}]},
    {"layer": "parcels", "order_by": "zl; DROP TABLE layers_parcel"},
    {"layer": "parcels", "order_by": "id DESC, (SELECT 1)"},
    {"layer": "parcels", "order_by": ["-zl", "zl --"]},
    {"layer": "parcels", "group_by": ["county, (SELECT pg_sleep(1))"]},
    {"layer": "parcels", "group_by": ["yt"], "aggregates": [{"fn": "sum", "field": "zdmj) FROM x --"}]},
    {"layer": "parcels", "group_by": ["yt"], "aggregates": [{"fn": "sum(1); --", "field": "zdmj"}]},
    {"layer": "parcels", "spatial": [{"predicate": "intersects", "layer": "permits) AS x --"}]},
    {"layer": "parcels", "spatial": [{"predicate": "ST_Intersects", "layer": "permits"}]},
    {"layer": "parcels", "spatial": [{"predicate": "dwithin", "layer": "permits", "distance": "50); --"}]},
    {"layer": "parcels", "spatial": [{"predicate": "intersects", "county": "500103' OR '1'='1"}]},
    {
        "layer": "parcels",
        "spatial": [{"predicate": "intersects", "geometry": {"type": "Point", "coordinates": ["1); --", 2]}}],
    },
    {
        "layer": "parcels",
        "spatial": [{"predicate": "intersects", "geometry": "POINT(1 2)'); DROP TABLE x; --"}],
    },
    {
        "layer": "parcels",
        "spatial": [
            {
                "predicate": "intersects",
                "layer": "permits",
                "compare": [{"field": "yt", "op": "ne", "other": "land_use); --"}],
            }
        ],
    },
    {
        "layer": "parcels",
        "spatial": [
            {
                "predicate": "intersects",
                "layer": "permits",
                "compare": [{"field": "yt", "op": "<> ''; --", "other": "land_use"}],
            }
        ],
    },
    {"layer": "parcels", "crs": "4490; DROP TABLE layers_parcel"},
    {"layer": "parcels", "crs": "EPSG:4490'"},
    {"layer": "parcels", "limit": "10; DROP TABLE layers_parcel"},
    {"layer": "parcels", "offset": "0 --"},
    {"layer": "parcels", "buffer": "1); DROP TABLE layers_parcel; --"},
    {"layer": "parcels", "filters": [{"field": "zdmj", "op": "range", "value": ["1); --", None]}]},
    {"layer": "parcels", "filters": [{"field": "djsj", "op": "eq", "value": "today'; --"}]},
]
HARMLESS = [  # values are data: (query, how many parcels it finds)
    ({"layer": "parcels", "filters": [{"field": "zl", "op": "eq", "value": EVIL}]}, 0),
    ({"layer": "parcels", "filters": [{"field": "zl", "op": "ne", "value": EVIL}]}, 4),
    ({"layer": "parcels", "filters": [{"field": "zl", "op": "contains", "value": EVIL}]}, 0),
    ({"layer": "parcels", "filters": [{"field": "qlr", "op": "in", "value": [EVIL, "' OR '1'='1"]}]}, 0),
    ({"layer": "parcels", "filters": [{"field": "county", "op": "eq", "value": "500103' OR '1'='1"}]}, 0),
    (
        {
            "layer": "parcels",
            "spatial": [
                {
                    "predicate": "intersects",
                    "layer": "permits",
                    "filters": [{"field": "project_name", "op": "eq", "value": EVIL}],
                }
            ],
        },
        0,
    ),
]


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Parcel, Building, PlanningPermit, LandSupply))


def test_injection_attempts_are_refused_or_harmless(world, as_role):
    client = as_role("analyst")
    before = counts()
    for body in INJECTIONS:
        response = post(client, body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]["path"], body
    for body, expected in HARMLESS:
        response = post(client, body)
        assert response.status_code == 200, (body, response.content)
        assert response.json()["total"] == expected, body
    assert counts() == before
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('layers_parcel') IS NOT NULL")
        assert cursor.fetchone()[0]


def test_the_schema_documents_the_run_endpoint_and_still_validates(world, as_role):
    from openapi_spec_validator import validate

    client = as_role("analyst")
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate(schema)
    paths = schema["paths"]
    for path in ("/api/queries/", "/api/queries/{id}/", "/api/queries/export/", "/api/queries/exports/{id}/"):
        assert path in paths, path
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/queries/{id}/"])
    assert (
        "/api/queries/exports/{id}/download/" in paths
        and "202" in paths["/api/queries/export/"]["post"]["responses"]
    )
    run = paths["/api/queries/run/"]["post"]
    assert "requestBody" in run and "200" in run["responses"] and "403" in run["responses"]
    components = schema["components"]["schemas"]
    query = components["Query"]["properties"]
    assert {
        "layer",
        "filters",
        "spatial",
        "buffer",
        "group_by",
        "aggregates",
        "order_by",
        "limit",
        "offset",
        "crs",
    } <= set(query)
    op = components["Filter"]["properties"]["op"]
    if "$ref" in op:
        op = components[op["$ref"].rsplit("/", 1)[1]]
    assert set(op["enum"]) == {"eq", "ne", "in", "range", "contains", "null", "notnull"}
