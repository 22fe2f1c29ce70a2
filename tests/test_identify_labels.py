"""Identify names coded values from the code lists (one query for all records) and gives each record its
bounding box; the layer descriptions say which code list an attribute's values belong to."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from layers import features, registry
from tests.serving import load_served, unload_served

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        data = load_served("labels", tmp_path_factory.mktemp("labels"))
        yield data
        unload_served(data)


def one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def centre(zddm: str = "500103001001GB00001") -> tuple[float, float]:
    return one(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM layers_parcel WHERE zddm=%s) x",
        [zddm],
    )


def identify(client, served, lon, lat, role="analyst") -> dict[str, dict]:
    response = client.get("/api/identify/", {"lon": lon, "lat": lat}, **served.basic(role))
    assert response.status_code == 200
    return {r["layer"]: r for records in response.json()["systems"].values() for r in records}


def test_identify_names_every_coded_value_of_every_system(client, served):
    records = identify(client, served, *centre())
    assert records["parcels"]["labels"] == {
        "qxdm": "渝中区",
        "yt": "城镇住宅用地",
        "qllx": "国有建设用地使用权",
    }
    assert records["parcels"]["properties"]["yt"] == "0701"  # the code itself stays where it was
    assert records["buildings"]["labels"] == {"ghyt": "住宅"}  # GB/T 17986 房屋用途 10
    # the planning system's 2007 code 071 was crosswalked to 0701 on load; 证件类型 is the ghxk list
    assert records["permits"]["labels"] == {"kind": "建设用地规划许可证", "land_use": "城镇住宅用地"}
    assert records["landsupply"]["labels"] == {"method": "出让", "land_use": "城镇住宅用地"}
    assert records["counties"]["labels"] == {}


def test_each_record_keeps_its_keys_and_gains_its_bbox(client, served):
    records = identify(client, served, *centre("500103001001GB00002"))
    parcel = records["parcels"]
    assert set(parcel) == {
        "layer",
        "title_zh",
        "title_en",
        "system",
        "id",
        "properties",
        "lineage",
        "labels",
        "bbox",
    }
    expected = one(
        "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT Box2D(geom) b FROM layers_parcel "
        "WHERE id = %s) x",
        [parcel["id"]],
    )
    assert parcel["bbox"] == pytest.approx(list(expected))
    minx, miny, maxx, maxy = parcel["bbox"]
    assert 106.5 < minx < maxx < 106.7 and 29.5 < miny < maxy < 29.6
    county = records["counties"]["bbox"]
    assert county[0] < minx and county[2] > maxx  # the whole county around the parcel


def test_a_value_outside_its_code_list_gets_no_label(client, served):
    with connection.cursor() as cursor:  # kept as loaded (unmapped: keep); rolled back with the test
        cursor.execute("UPDATE layers_parcel SET qllx = '99', yt = '' WHERE zddm = '500103001001GB00003'")
    labels = identify(client, served, *centre("500103001001GB00003"))["parcels"]["labels"]
    assert labels == {"qxdm": "渝中区"}


def test_a_code_with_several_periods_is_named_by_its_current_entry(client, served):
    from layers.models import Code, CodeList

    qllx = CodeList.objects.get(key="qllx")
    Code.objects.create(
        codelist=qllx, code="3", name="旧名称", valid_from=dt.date(1990, 1, 1), valid_to=dt.date(2000, 1, 1)
    )
    assert features.code_names({("qllx", "3"), ("gdfs", "lease")}) == {
        ("qllx", "3"): "国有建设用地使用权",
        ("gdfs", "lease"): "租赁",
    }


def test_labels_are_read_in_one_query_for_all_records(client, served):
    lon, lat = centre()
    layers = registry.all_layers()
    with CaptureQueriesContext(connection) as captured:
        records = features.records_at(lon, lat, layers)
    assert len({r["layer"] for r in records}) >= 5 and all(r["labels"] is not None for r in records)
    code_queries = [q for q in captured.captured_queries if "layers_code" in q["sql"]]
    assert len(code_queries) == 1
    assert len(captured.captured_queries) == len(layers) + 1


def test_layer_descriptions_name_the_code_list_of_each_attribute(client, served):
    def codelists(layer):
        response = client.get(f"/api/layers/{layer}/", **served.basic("analyst"))
        return {a["name"]: a["codelist"] for a in response.json()["attributes"]}

    parcels = codelists("parcels")
    assert (
        parcels["yt"] == "gbt21010_2017"
        and parcels["qllx"] == "qllx"
        and parcels["qxdm"] == "gbt2260_chongqing"
    )
    assert parcels["zddm"] is None and parcels["zl"] is None
    assert codelists("buildings")["ghyt"] == "fwyt"
    assert codelists("permits")["land_use"] == "gbt21010_2017" and codelists("permits")["kind"] == "ghxk"
    supply = codelists("landsupply")
    assert supply["method"] == "gdfs" and supply["land_use"] == "gbt21010_2017"
    # every declared code list exists in the database
    from layers.models import CodeList

    declared = {a.codelist for layer in registry.all_layers() for a in layer.attributes if a.codelist}
    assert declared <= set(CodeList.objects.values_list("key", flat=True))


def test_a_layer_may_name_its_system_as_a_quoted_word(client, served):
    import dataclasses

    from layers.registry import RegistryError

    parcels = registry.get("parcels")
    word = dataclasses.replace(parcels, name="parcels_copy", system="'archive'")
    registry.register(word)
    try:
        records = features.records_at(*centre(), [word])
        assert [(r["layer"], r["system"]) for r in records] == [("parcels_copy", "archive")]
    finally:
        registry.unregister("parcels_copy")
    for bad in ("'Archive'", "src_system; SELECT 1", "'a' || 'b'"):
        with pytest.raises(RegistryError, match="system"):
            registry.register(dataclasses.replace(parcels, name="parcels_bad", system=bad))
