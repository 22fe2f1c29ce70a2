"""The code lists are complete and consistent, and loading them is idempotent."""

from __future__ import annotations

import pytest
from django.db import connection

from layers.codelists import sync_codelists
from layers.models import AdminDivision, Code, CodeList, CrosswalkEntry

pytestmark = pytest.mark.django_db


def codes_of(key: str, **filters) -> dict[str, Code]:
    return {c.code: c for c in Code.objects.filter(codelist__key=key, **filters)}


def test_gbt21010_2017_has_12_first_and_73_second_level_classes():
    classes = codes_of("gbt21010_2017")
    first = {k: v for k, v in classes.items() if v.level == 1}
    second = {k: v for k, v in classes.items() if v.level == 2}
    assert len(first) == 12 and len(second) == 73
    assert sorted(first) == [f"{i:02d}" for i in range(1, 13)]
    assert all(c.parent == code[:2] and c.parent in first for code, c in second.items())
    assert classes["0701"].name == "城镇住宅用地"
    assert classes["0601"].name == "工业用地"
    assert classes["1207"].name == "裸岩石砾地"
    assert classes["0303"].extra == {"wetland_appendix_b": True}


def test_crosswalk_2007_to_2017_targets_exist_and_one_to_one_is_unique():
    classes_2017 = codes_of("gbt21010_2017")
    classes_2007 = codes_of("gbt21010_2007")
    entries = list(CrosswalkEntry.objects.filter(crosswalk="gbt21010_2007_to_2017"))
    assert len(entries) == 76
    assert all(e.target_code in classes_2017 and e.source_code in classes_2007 for e in entries)
    by_source: dict[str, list[CrosswalkEntry]] = {}
    for e in entries:
        by_source.setdefault(e.source_code, []).append(e)
    for source, group in by_source.items():
        if len(group) == 1:
            assert group[0].cardinality == "one-to-one", source
        else:
            assert {e.cardinality for e in group} == {"one-to-many"}, source
    assert [e.target_code for e in by_source["071"]] == ["0701"]
    assert sorted(e.target_code for e in by_source["083"]) == ["0803", "0804"]


def test_gbt2260_has_all_38_current_counties_and_former_codes_with_dates():
    current = codes_of("gbt2260_chongqing", valid_to__isnull=True)
    assert len(current) == 38
    assert current["500103"].name == "渝中区"
    assert current["500154"].name == "开州区" and current["500154"].valid_from.year == 2016
    former = codes_of("gbt2260_chongqing", valid_to__isnull=False)
    assert former["500234"].name == "开县" and former["500234"].valid_to.year == 2016
    assert former["500234"].extra["successor"] == "500154"
    # reused code: 500110 was 万盛区 until 2011 and is 綦江区 since
    rows = Code.objects.filter(codelist__key="gbt2260_chongqing", code="500110").order_by("valid_to")
    assert [(r.name, r.valid_to and r.valid_to.year) for r in rows] == [("万盛区", 2011), ("綦江区", None)]


def test_registration_dictionaries_are_loaded():
    assert codes_of("qllx")["3"].name == "国有建设用地使用权"
    assert codes_of("qlsdfs").keys() == {"1", "2", "3"}
    assert codes_of("qlxz")["102"].name == "出让"
    assert codes_of("fwjg")["4"].name == "混合结构"
    assert set(codes_of("gdfs")) == {"transfer", "allocation", "lease"}


def test_county_polygons_are_valid_and_cover_chongqing():
    assert AdminDivision.objects.filter(valid_to__isnull=True).count() == 38
    assert set(AdminDivision.objects.values_list("code", flat=True)) == set(
        codes_of("gbt2260_chongqing", valid_to__isnull=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bool_and(ST_IsValid(geom)), sum(ST_Area(geom::geography)) / 1e6, "
            "max(ST_Area(geom::geography)) FILTER (WHERE code = '500103') / 1e6, min(ST_SRID(geom)) "
            "FROM layers_admindivision"
        )
        valid, total_km2, yuzhong_km2, srid = cursor.fetchone()
    assert valid and srid == 4490
    assert 82_000 < total_km2 < 82_800  # official figure about 82,400 km²
    assert 22 < yuzhong_km2 < 25  # 渝中区 23.4 km²


def test_sync_is_idempotent_and_keeps_operator_entries():
    CrosswalkEntry.objects.create(
        crosswalk="gbt21010_2007_to_2017", source_code="079", target_code="0701", cardinality="one-to-one"
    )
    before = (Code.objects.count(), CodeList.objects.count(), CrosswalkEntry.objects.count())
    counts = sync_codelists()
    assert counts["gbt2260_chongqing"] == 55 and counts["admin_divisions"] == 38
    assert (Code.objects.count(), CodeList.objects.count(), CrosswalkEntry.objects.count()) == before
    assert AdminDivision.objects.count() == 38
