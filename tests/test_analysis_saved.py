"""Saved queries: create, list (own + shared + examples), change and delete (owner or admin only), share,
re-run on today's data with ``{"saved": id}``; the four examples are there, read-only."""

from __future__ import annotations

import json

import pytest

from analysis.models import SavedQuery
from tests.analysis_world import box, build_world

pytestmark = pytest.mark.django_db
EXAMPLES = {"批而未供", "供而未用", "登记与规划用途不一致的宗地", "分区县分年度供地统计"}
MINE = {"layer": "parcels", "filters": [{"field": "class1:yt", "op": "eq", "value": "07"}]}


@pytest.fixture
def users(role_user):
    return {
        "a": role_user("analyst-a", "analyst"),
        "b": role_user("analyst-b", "analyst"),
        "sup": role_user("supervisor-1", "supervisor"),
        "admin": role_user("admin-1", "admin"),
        "op": role_user("operator-1", "etl_operator"),
    }


@pytest.fixture
def act(client, users):
    def call(who: str, method: str, url: str, data=None):
        client.force_login(users[who])
        kwargs = {"content_type": "application/json"}
        if data is not None:
            kwargs["data"] = json.dumps(data)
        return getattr(client, method)(url, **kwargs)

    return call


def names(response) -> set[str]:
    return {q["name"] for q in response.json()["results"]}


def test_the_four_examples_are_there_for_every_query_role(act):
    for who in ("a", "sup", "admin"):
        response = act(who, "get", "/api/queries/")
        assert response.status_code == 200
        examples = [q for q in response.json()["results"] if q["is_example"]]
        assert {q["name"] for q in examples} == EXAMPLES
        assert all(
            q["owner"] is None and q["shared"] and not q["editable"] and q["description"] for q in examples
        )
    assert act("op", "get", "/api/queries/").status_code == 403


def test_examples_are_read_only_even_for_admins(act):
    example = SavedQuery.objects.get(name="批而未供")
    for who in ("a", "admin"):
        assert act(who, "put", f"/api/queries/{example.pk}/", {"name": "改名"}).status_code == 403
        assert act(who, "delete", f"/api/queries/{example.pk}/").status_code == 403
    assert SavedQuery.objects.get(pk=example.pk).name == "批而未供"


def test_save_list_share_change_and_delete(act):
    created = act(
        "a", "post", "/api/queries/", {"name": " 住宅宗地 ", "description": "一级类 07", "query": MINE}
    )
    assert created.status_code == 201
    saved = created.json()
    assert saved["name"] == "住宅宗地" and saved["owner"] == "analyst-a" and saved["editable"]
    assert not saved["shared"] and saved["query"] == MINE and saved["layer"] == "parcels"
    url = f"/api/queries/{saved['id']}/"
    # private: the other analyst neither lists nor opens nor changes it
    assert "住宅宗地" in names(act("a", "get", "/api/queries/"))
    assert "住宅宗地" not in names(act("b", "get", "/api/queries/"))
    assert act("b", "get", url).status_code == 404
    assert act("b", "put", url, {"name": "x"}).status_code == 404
    assert act("b", "post", "/api/queries/run/", {"saved": saved["id"]}).status_code == 404
    # shared: listed and runnable for the others, still changed by the owner only
    changed = act("a", "put", url, {"shared": True})
    assert changed.status_code == 200 and changed.json()["shared"] and changed.json()["name"] == "住宅宗地"
    assert "住宅宗地" in names(act("b", "get", "/api/queries/"))
    seen = act("b", "get", url).json()
    assert seen["editable"] is False and seen["owner"] == "analyst-a"
    assert act("b", "put", url, {"name": "x"}).status_code == 403
    assert act("b", "delete", url).status_code == 403
    assert act("b", "post", "/api/queries/run/", {"saved": saved["id"]}).status_code == 200
    # the owner changes the query itself (validated), an admin may change and delete it
    renamed = act("a", "patch", url, {"query": {**MINE, "order_by": "-area_m2"}})
    assert renamed.status_code == 200 and renamed.json()["query"]["order_by"] == "-area_m2"
    assert act("admin", "put", url, {"description": "管理员改过"}).json()["description"] == "管理员改过"
    assert act("admin", "delete", url).status_code == 204
    assert not SavedQuery.objects.filter(pk=saved["id"]).exists()


@pytest.mark.parametrize(
    "data, path",
    [
        ({"query": MINE}, "name"),
        ({"name": "", "query": MINE}, "name"),
        ({"name": "x"}, "query"),
        (
            {"name": "x", "query": {"layer": "parcels", "filters": [{"field": "nope", "op": "null"}]}},
            "query.filters[0].field",
        ),
        ({"name": "x", "query": MINE, "shared": "yes"}, "shared"),
        ({"name": "x", "query": MINE, "owner": "admin"}, "owner"),
    ],
)
def test_a_bad_save_is_400_naming_the_path(act, data, path):
    response = act("a", "post", "/api/queries/", data)
    assert response.status_code == 400 and response.json()["error"]["path"] == path


def test_a_query_on_a_layer_the_user_may_not_see_cannot_be_saved_or_run(act):
    hidden = {"layer": "etl_quarantine"}
    response = act("a", "post", "/api/queries/", {"name": "隔离", "query": hidden})
    assert response.status_code == 403 and response.json()["error"]["path"] == "query.layer"
    shared = act("sup", "post", "/api/queries/", {"name": "隔离", "query": hidden, "shared": True}).json()
    assert act("a", "post", "/api/queries/run/", {"saved": shared["id"]}).status_code == 403
    assert act("sup", "post", "/api/queries/run/", {"saved": shared["id"]}).status_code == 200


def test_a_saved_query_reruns_on_todays_data_with_page_overrides(act):
    world = build_world()
    saved = act("a", "post", "/api/queries/", {"name": "住宅", "query": MINE}).json()
    first = act("a", "post", "/api/queries/run/", {"saved": saved["id"]}).json()
    assert first["total"] == 2  # P1 (0701) and P4 (0702)
    world["P3"].land_use = "0701"
    world["P3"].save()
    from layers.models import Parcel

    Parcel.objects.create(
        zddm="500103001001GB00077",
        county_code="500103",
        land_use="0702",
        geom=box(0, 300, 50, 350),
        src_system="t",
    )
    again = act(
        "a", "post", "/api/queries/run/", {"saved": saved["id"], "limit": 1, "offset": 1, "crs": 4545}
    )
    assert again.status_code == 200
    result = again.json()
    assert result["total"] == 4 and len(result["features"]["features"]) == 1 and result["crs"] == 4545
    bad = act("a", "post", "/api/queries/run/", {"saved": saved["id"], "layer": "buildings"})
    assert bad.status_code == 400 and bad.json()["error"]["path"] == "layer"
    assert act("a", "post", "/api/queries/run/", {"saved": "1; --"}).status_code == 400
    assert act("a", "post", "/api/queries/run/", {"saved": 999999}).status_code == 404


def test_examples_run_through_the_api(act):
    build_world()
    results = {}
    for example in SavedQuery.objects.filter(is_example=True):
        response = act("a", "post", "/api/queries/run/", {"saved": example.pk})
        assert response.status_code == 200, (example.name, response.content)
        results[example.name] = response.json()
    assert {f["properties"]["permit_no"][-6:] for f in results["批而未供"]["features"]["features"]} == {
        "00002号",
        "00003号",
    }
    assert [f["properties"]["contract_no"] for f in results["供而未用"]["features"]["features"]] == [
        "渝地(2014)合字(渝中)第1号"
    ]  # S1 has a building, S3 started, S4's agreed start is 100 days ago
    assert [
        f["properties"]["zddm"] for f in results["登记与规划用途不一致的宗地"]["features"]["features"]
    ] == ["500103001001GB00001"]
    stats = results["分区县分年度供地统计"]
    assert [r[:4] for r in stats["rows"]] == [
        ["500103", "渝中区", 2014, 1],
        ["500103", "渝中区", 2016, 1],
        ["500103", "渝中区", 2020, 1],
        ["500105", "江北区", 2016, 1],
    ]
