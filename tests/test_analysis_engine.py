"""The query engine against hand-computed answers on a tiny world (tests/analysis_world.py): every filter
operator, every spatial predicate (disjoint and dwithin at 40 m vs 60 m included), buffers, geodesic
areas, grouping with sums and labels, the read-only transaction and the statement timeout."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from analysis.engine import QueryTimeout, read_only, run_query
from analysis.query import RelativeDate, parse_query
from layers.models import Parcel
from tests.analysis_world import add_many_buildings, box, build_world, geodesic_area

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def ids(result: dict) -> list[int]:
    return [f["id"] for f in result["features"]["features"]]


def names(world: dict, result: dict) -> set[str]:
    by_pk = {(type(v).__name__, v.pk): k for k, v in world.items()}
    model = {
        "parcels": "Parcel",
        "buildings": "Building",
        "permits": "PlanningPermit",
        "landsupply": "LandSupply",
    }[result["layer"]]
    return {by_pk[(model, pk)] for pk in ids(result)}


def run(query: dict) -> dict:
    return run_query(parse_query(query))


def found(world, layer: str, *, filters=(), spatial=(), **extra) -> set[str]:
    result = run({"layer": layer, "filters": list(filters), "spatial": list(spatial), **extra})
    assert result["total"] == len(result["features"]["features"])
    return names(world, result)


@pytest.mark.parametrize(
    "flt, expected",
    [
        ({"field": "yt", "op": "eq", "value": "0701"}, {"P1"}),
        ({"field": "yt", "op": "ne", "value": "0701"}, {"P2", "P3", "P4"}),
        ({"field": "yt", "op": "in", "value": ["0505", "0601"]}, {"P2", "P3"}),
        ({"field": "zdmj", "op": "range", "value": [4000, None]}, {"P1", "P2", "P4"}),
        ({"field": "zdmj", "op": "range", "value": [None, 5000]}, {"P2", "P3"}),
        ({"field": "djsj", "op": "range", "value": ["2017-01-01", "2019-12-31"]}, {"P2"}),
        ({"field": "year:djsj", "op": "range", "value": [2016, 2016]}, {"P1"}),
        ({"field": "zl", "op": "contains", "value": "民权路"}, {"P1", "P2"}),
        ({"field": "qlr", "op": "contains", "value": "100%_"}, {"P3"}),  # wildcards taken literally
        ({"field": "qlr", "op": "contains", "value": "%"}, {"P3"}),
        ({"field": "djsj", "op": "null"}, {"P3"}),
        ({"field": "djsj", "op": "notnull"}, {"P1", "P2", "P4"}),
        ({"field": "zl", "op": "null"}, {"P3"}),  # an empty text is no value
        ({"field": "zl", "op": "notnull"}, {"P1", "P2", "P4"}),
        ({"field": "area_m2", "op": "range", "value": [9000, None]}, {"P1"}),
        ({"field": "county", "op": "eq", "value": "500105"}, {"P4"}),
        ({"field": "county", "op": "in", "value": [500103]}, {"P1", "P2", "P3"}),
        ({"field": "class1:yt", "op": "eq", "value": "07"}, {"P1", "P4"}),
    ],
)
def test_each_filter_operator(world, flt, expected):
    assert found(world, "parcels", filters=[flt]) == expected


def test_filters_combine_with_and(world):
    filters = [
        {"field": "class1:yt", "op": "eq", "value": "07"},
        {"field": "county", "op": "eq", "value": "500103"},
    ]
    assert found(world, "parcels", filters=filters) == {"P1"}


def test_relative_dates_resolve_on_the_day_the_query_runs(world):
    # S4's agreed start was 100 days ago: "more than a year ago" excludes it, "more than 90 days" not
    flt = [{"field": "actual_start_on", "op": "null"}]
    year = [{"field": "agreed_start_on", "op": "range", "value": [None, "today-1y"]}]
    days = [{"field": "agreed_start_on", "op": "range", "value": [None, "today-90d"]}]
    assert found(world, "landsupply", filters=flt + year) == {"S1", "S2"}
    assert found(world, "landsupply", filters=flt + days) == {"S1", "S2", "S4"}
    today = dt.date(2024, 2, 29)
    assert RelativeDate("today-1y", -1, 1, "y").resolve(today) == dt.date(2023, 2, 28)
    assert RelativeDate("today+1m", 1, 1, "m").resolve(dt.date(2024, 1, 31)) == dt.date(2024, 2, 29)
    assert RelativeDate("today-2w", -1, 2, "w").resolve(today) == dt.date(2024, 2, 15)
    assert RelativeDate("today").resolve(today) == today


def test_intersects_within_contains(world):
    permits = {"predicate": "intersects", "layer": "permits"}
    assert found(world, "parcels", spatial=[permits]) == {"P1", "P2"}
    assert found(world, "buildings", spatial=[{"predicate": "within", "layer": "parcels"}]) == {"B1", "B2"}
    assert found(world, "parcels", spatial=[{"predicate": "contains", "layer": "buildings"}]) == {"P1", "P2"}
    # a filter on the other layer: only parcels under a permit for 05xx land
    on_other = {**permits, "filters": [{"field": "land_use", "op": "eq", "value": "0507"}]}
    assert found(world, "parcels", spatial=[on_other]) == {"P2"}


def test_disjoint_means_no_feature_of_the_other_layer_intersects(world):
    assert found(world, "permits", spatial=[{"predicate": "disjoint", "layer": "landsupply"}]) == {"G2", "G3"}
    assert found(world, "buildings", spatial=[{"predicate": "disjoint", "layer": "parcels"}]) == {"B3", "B4"}
    # with a filter on the other layer, only those features count
    s = {
        "predicate": "disjoint",
        "layer": "landsupply",
        "filters": [{"field": "area", "op": "range", "value": [20000, None]}],
    }
    assert found(world, "permits", spatial=[s]) == {"G1", "G2", "G3"}


def test_dwithin_in_metres_40_is_in_60_is_not(world):
    near = {"predicate": "dwithin", "layer": "permits", "distance": 50}
    assert found(world, "buildings", spatial=[near]) == {"B1", "B2", "B3"}  # B4 is 60 m from G3
    assert found(world, "buildings", spatial=[{**near, "distance": 39}]) == {"B1", "B2"}
    assert found(world, "buildings", spatial=[{**near, "distance": 61}]) == {"B1", "B2", "B3", "B4"}
    # "within 50 m of a red line they do not belong to": the near permit must not intersect the building
    assert found(world, "buildings", spatial=[{**near, "exclude_intersecting": True}]) == {"B3"}


def test_drawn_geometry_and_county(world):
    drawn = box(-10, -10, 150, 150)
    geometry = {"type": "Polygon", "coordinates": [list(map(list, drawn[0].exterior_ring.coords))]}
    assert found(world, "parcels", spatial=[{"predicate": "intersects", "geometry": geometry}]) == {"P1"}
    assert found(world, "parcels", spatial=[{"predicate": "within", "geometry": geometry}]) == {"P1"}
    assert found(world, "parcels", spatial=[{"predicate": "disjoint", "geometry": geometry}]) == {
        "P2",
        "P3",
        "P4",
    }
    point = {"type": "Point", "coordinates": list(drawn.centroid.coords)}
    assert found(world, "parcels", spatial=[{"predicate": "contains", "geometry": point}]) == {"P1"}
    # the point (70, 70) is 130 m west of P2 (x 200) and 330 m of P3
    assert found(
        world, "parcels", spatial=[{"predicate": "dwithin", "geometry": point, "distance": 150}]
    ) == {
        "P1",
        "P2",
    }
    assert found(world, "parcels", spatial=[{"predicate": "within", "county": "500105"}]) == {"P4"}
    assert found(world, "parcels", spatial=[{"predicate": "intersects", "county": 500103}]) == {
        "P1",
        "P2",
        "P3",
    }


def test_buffer_grows_the_target_before_the_predicates(world):
    g3 = [{"field": "permit_no", "op": "eq", "value": "地字第500103201600003号"}]
    touches = [{"predicate": "intersects", "layer": "buildings"}]
    assert found(world, "permits", filters=g3, spatial=touches, buffer=45) == {"G3"}  # B3 is 40 m away
    assert found(world, "permits", filters=g3, spatial=touches, buffer=35) == set()
    point = {"type": "Point", "coordinates": list(box(750, 50, 750.1, 50.1).centroid.coords)}
    near = [{"predicate": "intersects", "geometry": point}]
    assert found(world, "permits", filters=g3, spatial=near, buffer=45) == set()  # the point is 50 m away
    assert found(world, "permits", filters=g3, spatial=near, buffer=55) == {"G3"}


def test_compare_fields_of_the_target_and_the_other_layer(world):
    differs = {
        "predicate": "intersects",
        "layer": "permits",
        "compare": [{"field": "class1:yt", "op": "ne", "other": "class1:land_use"}],
    }
    assert found(world, "parcels", spatial=[differs]) == {"P1"}  # 07 vs 05; P2 is 05 vs 05
    same = {**differs, "compare": [{"field": "class1:yt", "op": "eq", "other": "class1:land_use"}]}
    assert found(world, "parcels", spatial=[same]) == {"P2"}


def test_areas_are_geodesic_square_metres(world):
    result = run(
        {
            "layer": "parcels",
            "order_by": "-area_m2",
            "filters": [{"field": "county", "op": "eq", "value": "500103"}],
        }
    )
    assert names(world, result) == {"P1", "P2", "P3"} and ids(result)[0] == world["P1"].pk
    for feature in result["features"]["features"]:
        parcel = Parcel.objects.get(pk=feature["id"])
        area = feature["properties"]["area_m2"]
        assert area == pytest.approx(geodesic_area(parcel.geom), rel=1e-5)
        # within 0.1 % of the planar area in the Gauss-Krüger zone the square was drawn in
        assert area == pytest.approx(float(parcel.declared_area), rel=0.001)
    assert [c["name"] for c in result["columns"]][:3] == ["id", "zddm", "bdcdyh"]
    assert result["columns"][-1] == {
        "name": "area_m2",
        "title_zh": "图形面积(m²)",
        "title_en": "Area (m², geodesic)",
        "type": "number",
        "codelist": None,
    }
    props = result["features"]["features"][0]["properties"]
    assert props["yt"] == "0701" and props["yt_label"] == "城镇住宅用地" and props["qxdm_label"] == "渝中区"
    assert props["djsj"] == "2016-03-01" and props["zdmj"] == 10000.0


def test_grouping_by_county_and_year_with_sums(world):
    result = run(
        {
            "layer": "landsupply",
            "group_by": ["county", "year:supplied_on"],
            "aggregates": [
                {"fn": "count"},
                {"fn": "sum", "field": "area_m2"},
                {"fn": "sum", "field": "area"},
            ],
        }
    )
    assert result["kind"] == "groups" and result["total_groups"] == 4
    assert [c["name"] for c in result["columns"]] == [
        "county",
        "county_label",
        "year:supplied_on",
        "count",
        "sum_area_m2",
        "sum_area",
    ]
    rows = {(r[0], r[2]): r for r in result["rows"]}
    assert [r[:4] for r in result["rows"]] == [
        ["500103", "渝中区", 2014, 1],
        ["500103", "渝中区", 2016, 1],
        ["500103", "渝中区", 2020, 1],
        ["500105", "江北区", 2016, 1],
    ]
    for (county, year), name in {
        ("500103", 2014): "S2",
        ("500103", 2016): "S1",
        ("500105", 2016): "S4",
    }.items():
        expected = geodesic_area(world[name].geom)
        assert rows[(county, year)][4] == pytest.approx(expected, rel=1e-5)
        assert rows[(county, year)][5] == float(world[name].area)


def test_grouping_by_land_use_class_with_labels_mean_and_order(world):
    result = run(
        {
            "layer": "parcels",
            "group_by": ["class1:yt"],
            "aggregates": [{"fn": "count"}, {"fn": "avg", "field": "zdmj"}],
            "order_by": "-count",
        }
    )
    assert result["rows"] == [
        ["07", "住宅用地", 2, 8200.0],
        ["05", "商服用地", 1, 5000.0],
        ["06", "工矿仓储用地", 1, 3600.0],
    ]
    paged = run(
        {"layer": "parcels", "group_by": ["class1:yt"], "order_by": "-count", "limit": 1, "offset": 1}
    )
    assert paged["rows"] == [["05", "商服用地", 1]] and paged["total_groups"] == 3
    beyond = run({"layer": "parcels", "group_by": ["class1:yt"], "offset": 10})
    assert beyond["rows"] == [] and beyond["total_groups"] == 3


def test_the_issues_questions(world):
    # which residential parcels supplied since 2015 have no building registered
    residential = [
        {"field": "class1:land_use", "op": "eq", "value": "07"},
        {"field": "supplied_on", "op": "range", "value": ["2015-01-01", None]},
    ]
    unbuilt = [{"predicate": "disjoint", "layer": "buildings"}]
    assert found(world, "landsupply", filters=residential, spatial=unbuilt) == {"S3", "S4"}
    # floor area permitted per county and year
    result = run(
        {
            "layer": "permits",
            "group_by": ["county", "year:issued_on"],
            "aggregates": [{"fn": "sum", "field": "floor_area"}],
        }
    )
    assert result["rows"] == [["500103", "渝中区", 2016, 25000.0], ["500103", "渝中区", 2017, 15000.0]]


def test_pages_order_and_output_crs(world):
    first = run({"layer": "parcels", "order_by": "-zdmj", "limit": 2})
    assert names(world, first) == {"P1", "P4"} and first["total"] == 4
    second = run({"layer": "parcels", "order_by": "-zdmj", "limit": 2, "offset": 2})
    assert ids(second) == [world["P2"].pk, world["P3"].pk]
    beyond = run({"layer": "parcels", "offset": 10})
    assert beyond["total"] == 4 and ids(beyond) == []
    gk = run(
        {
            "layer": "parcels",
            "filters": [{"field": "zddm", "op": "eq", "value": "500103001001GB00001"}],
            "crs": 4545,
        }
    )
    ring = gk["features"]["features"][0]["geometry"]["coordinates"][0][0]
    polygon = shapely.Polygon(ring)
    assert polygon.area == pytest.approx(10000, rel=1e-6)  # the square as drawn in EPSG:4545
    assert 300_000 < ring[0][0] < 700_000 and 3_200_000 < ring[0][1] < 3_400_000


def test_the_transaction_is_read_only_and_nothing_leaks(world):
    with read_only(1234), connection.cursor() as cursor:
        cursor.execute("SHOW transaction_read_only")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "1234ms"
    run({"layer": "parcels"})
    with connection.cursor() as cursor:
        cursor.execute("SHOW transaction_read_only")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] != "1234ms"
    Parcel.objects.filter(pk=world["P1"].pk).update(address="写入仍然可以")  # the caller may still write


def test_a_write_inside_the_engine_transaction_is_refused(world):
    from django.db import InternalError

    with pytest.raises(InternalError, match="read-only"), read_only(5000), connection.cursor() as cursor:
        cursor.execute("UPDATE layers_parcel SET zl = 'x'")
    assert Parcel.objects.filter(address="x").count() == 0


def test_the_statement_timeout_stops_a_slow_query(world):
    add_many_buildings(3000)  # buffering each of them on the ellipsoid takes a while
    slow = {
        "layer": "buildings",
        "buffer": 5000,
        "spatial": [{"predicate": "intersects", "layer": "parcels"}],
    }
    with override_settings(ANALYSIS_STATEMENT_TIMEOUT_MS=50), pytest.raises(QueryTimeout) as caught:
        run(slow)
    assert caught.value.timeout_ms == 50
    assert "0.05 s" in caught.value.payload()["error"]["message_en"]
    assert Parcel.objects.count() == 4  # the connection and the caller's transaction still work
    with override_settings(ANALYSIS_STATEMENT_TIMEOUT_MS=1), pytest.raises(QueryTimeout):
        run({"layer": "buildings", "group_by": ["county"]})


def test_sql_is_parameterised_and_names_come_from_the_registry(world):
    from analysis.compiler import Compiler

    evil = "'); DROP TABLE layers_parcel; --"
    query = parse_query(
        {
            "layer": "parcels",
            "filters": [
                {"field": "zl", "op": "eq", "value": evil},
                {"field": "zl", "op": "contains", "value": evil},
                {"field": "qlr", "op": "in", "value": [evil]},
            ],
        }
    )
    compiled = Compiler(query, timezone.localdate()).features()
    assert "DROP" not in compiled.sql and evil in compiled.params.values()
    assert run(query.raw)["total"] == 0 and Parcel.objects.count() == 4
