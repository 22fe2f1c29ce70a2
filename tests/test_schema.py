"""The unified schema in PostGIS: CGCS2000 geometry, natural keys, lineage and history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import IntegrityError, connection, transaction

from layers.models import (
    Building,
    BuildingHistory,
    LandSupply,
    Parcel,
    ParcelHistory,
    PlanningPermit,
)

pytestmark = pytest.mark.django_db

LINEAGE = {
    "src_system": "registration",
    "src_file": "registration/ZDJBXX.shp",
    "src_checksum": "ab" * 32,
    "src_layer": "ZDJBXX",
    "mapping_version": "registration@1",
}


def square(lon: float, lat: float, size: float = 0.001) -> MultiPolygon:
    ring = ((lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size), (lon, lat))
    return MultiPolygon(Polygon(ring), srid=4490)


def make_parcel(zddm: str = "500103001002GB00011", **extra) -> Parcel:
    fields = {
        "county_code": zddm[:6],
        "land_use": "0701",
        "geom": square(106.57, 29.56),
        "src_row": 1,
        **extra,
    }
    return Parcel.objects.create(zddm=zddm, load_run=1, **LINEAGE, **fields)


def column_info(table: str) -> dict[str, tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT f_geometry_column, type, srid FROM geometry_columns WHERE f_table_name = %s", [table]
        )
        return {name: (gtype, srid) for name, gtype, srid in cursor.fetchall()}


@pytest.mark.parametrize(
    "table",
    [
        "layers_parcel",
        "layers_building",
        "layers_planningpermit",
        "layers_landsupply",
        "layers_admindivision",
    ],
)
def test_geometry_is_cgcs2000_multipolygon(table):
    assert column_info(table)["geom"] == ("MULTIPOLYGON", 4490)


def test_tdt1066_field_codes_are_the_column_names():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'layers_parcel'"
        )
        columns = {row[0] for row in cursor.fetchall()}
    expected = {"bsm", "zddm", "bdcdyh", "qxdm", "zl", "zdmj", "yt", "qllx", "qlxz", "qlsdfs", "rjl", "jzmd"}
    assert expected | {"djsj", "zt", "qlr", "geom"} <= columns
    assert {"src_system", "src_file", "src_checksum", "src_layer", "src_row", "load_run"} <= columns
    assert {"mapping_version", "loaded_at", "version"} <= columns


def test_parcel_code_is_unique():
    make_parcel()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_parcel()


def test_building_natural_key_is_unit_number_plus_building_number():
    common = {"zddm": "500103001002GB00011", "geom": square(106.57, 29.56, 0.0002), **LINEAGE}
    Building.objects.create(bdcdyh="500103001002GB00011F00010000", zrzh="0001", **common)
    Building.objects.create(bdcdyh="500103001002GB00011F00010000", zrzh="0002", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Building.objects.create(bdcdyh="500103001002GB00011F00010000", zrzh="0001", **common)


def test_permit_and_contract_numbers_are_unique():
    PlanningPermit.objects.create(permit_no="地字第1号", kind="land", geom=square(106.5, 29.5), **LINEAGE)
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanningPermit.objects.create(
            permit_no="地字第1号", kind="works", geom=square(106.5, 29.5), **LINEAGE
        )
    LandSupply.objects.create(
        contract_no="渝地合字1号", method="transfer", geom=square(106.5, 29.5), **LINEAGE
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        LandSupply.objects.create(
            contract_no="渝地合字1号", method="lease", geom=square(106.5, 29.5), **LINEAGE
        )


def test_negative_declared_area_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_parcel(declared_area=-1)


def test_every_row_carries_its_lineage():
    parcel = make_parcel()
    parcel.refresh_from_db()
    assert (parcel.src_system, parcel.src_layer, parcel.src_row, parcel.load_run) == (
        "registration",
        "ZDJBXX",
        1,
        1,
    )
    assert parcel.src_checksum == "ab" * 32 and parcel.mapping_version == "registration@1"
    assert parcel.loaded_at is not None and parcel.version == 1


def test_update_keeps_the_old_version_in_history():
    parcel = make_parcel(address="渝中区民权路1号", declared_area=100)
    old_geom = parcel.geom
    Parcel.objects.filter(pk=parcel.pk).update(
        address="渝中区民权路2号", declared_area=120, geom=square(106.58, 29.57), load_run=2
    )
    parcel.refresh_from_db()
    assert parcel.version == 2 and parcel.address == "渝中区民权路2号"
    (history,) = ParcelHistory.objects.filter(record_id=parcel.pk)
    assert history.op == "U" and history.version == 1 and history.changed_by_run == 2
    assert history.data["zl"] == "渝中区民权路1号" and float(history.data["zdmj"]) == 100
    assert history.data["load_run"] == 1 and "geom" not in history.data
    assert history.geom.equals_exact(old_geom, 1e-9)


def test_update_without_change_writes_no_history():
    parcel = make_parcel(address="渝中区民权路1号")
    Parcel.objects.filter(pk=parcel.pk).update(address="渝中区民权路1号")
    parcel.refresh_from_db()
    assert parcel.version == 1
    assert not ParcelHistory.objects.filter(record_id=parcel.pk).exists()


def test_bulk_sql_updates_and_deletes_are_traced_with_the_run():
    parcels = [make_parcel(f"500103001002GB{i:05d}") for i in range(1, 4)]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE layers_parcel SET yt = '0505', load_run = 7")
        cursor.execute("SELECT set_config('onemap.load_run', '8', true)")
        cursor.execute("DELETE FROM layers_parcel WHERE zddm = %s", [parcels[0].zddm])
    updates = ParcelHistory.objects.filter(op="U")
    assert updates.count() == 3 and set(updates.values_list("changed_by_run", flat=True)) == {7}
    (deleted,) = ParcelHistory.objects.filter(op="D")
    assert deleted.record_id == parcels[0].pk and deleted.changed_by_run == 8
    assert deleted.version == 2 and deleted.data["yt"] == "0505"


def test_building_history_uses_its_own_table():
    building = Building.objects.create(
        bdcdyh="500103001002GB00011F00010000",
        zrzh="0001",
        floors=6,
        completed_on=dt.date(2010, 5, 1),
        geom=square(106.57, 29.56, 0.0002),
        **LINEAGE,
    )
    Building.objects.filter(pk=building.pk).update(floors=7)
    assert BuildingHistory.objects.get(record_id=building.pk).data["zcs"] == 6
    assert not ParcelHistory.objects.exists()
