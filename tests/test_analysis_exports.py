"""Exports of query results, read back with csv, openpyxl, pyogrio and json and compared with the database:
CSV (UTF-8 with BOM, Chinese header), XLSX (bold header), GeoPackage and GeoJSON in EPSG:4490 and a
Gauss-Krüger zone; grouped tables; limits and roles; large exports as a job run by a real worker."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from django.db import connection
from django.test import override_settings

from analysis.jobs import export_dir, run_export_job
from analysis.models import ExportJob
from layers.models import Parcel
from tests.analysis_world import build_world
from tests.serving import run_worker_once

pytestmark = pytest.mark.django_db
EXPORT = "/api/queries/export/"
PARCELS = {"layer": "parcels", "order_by": "zddm"}


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def analyst(client, role_user):
    client.force_login(role_user("analyst-x", "analyst"))
    return client


def post(client, body):
    return client.post(EXPORT, json.dumps(body), content_type="application/json")


def content(response) -> bytes:
    return b"".join(response.streaming_content)


def db_parcels(srid: int) -> dict[str, dict]:
    """The parcels as the database has them: attributes, geodesic area, geometry and point on surface in
    ``srid`` (computed by PostGIS here, independently of the export's SQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT zddm, yt, zdmj, djsj, ST_Area(geom::geography), ST_AsBinary(ST_Transform(geom, %s)), "
            "ST_AsBinary(ST_Transform(ST_PointOnSurface(geom), %s)) FROM layers_parcel ORDER BY zddm",
            [srid, srid],
        )
        return {
            r[0]: {
                "yt": r[1],
                "zdmj": r[2],
                "djsj": r[3],
                "area": r[4],
                "geom": shapely.from_wkb(bytes(r[5])),
                "point": shapely.from_wkb(bytes(r[6])),
            }
            for r in cursor.fetchall()
        }


def test_csv_is_utf8_with_bom_chinese_header_and_gk_coordinates(world, analyst):
    response = post(analyst, {"query": PARCELS, "format": "csv", "crs": 4524})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="parcels-')
    raw = content(response)
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, rows = table[0], table[1:]
    assert header[:4] == ["编号", "宗地代码", "不动产单元号", "区县代码"]
    assert "用途（名称）" in header and header[-4:] == ["图形面积(m²)", "内点X", "内点Y", "几何(WKT)"]
    db = db_parcels(4524)
    assert [r[header.index("宗地代码")] for r in rows] == list(db)
    for row in rows:
        want = db[row[header.index("宗地代码")]]
        assert row[header.index("用途")] == want["yt"]
        assert float(row[header.index("图形面积(m²)")]) == pytest.approx(want["area"], abs=0.006)
        assert row[header.index("登记时间")] == (want["djsj"].isoformat() if want["djsj"] else "")
        # GK zone 36 with its zone prefix: eastings of 8 digits starting with 36
        x, y = float(row[-3]), float(row[-2])
        assert 36_000_000 < x < 37_000_000 and (x, y) == pytest.approx(
            (want["point"].x, want["point"].y), abs=0.002
        )
        assert shapely.from_wkt(row[-1]).equals_exact(want["geom"], tolerance=0.002)
    labels = dict(
        zip(
            [r[header.index("用途")] for r in rows],
            [r[header.index("用途（名称）")] for r in rows],
            strict=True,
        )
    )
    assert labels["0701"] == "城镇住宅用地"


def test_xlsx_has_a_bold_chinese_header_and_the_database_values(world, analyst):
    response = post(analyst, {"query": PARCELS, "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(content(response)))
    sheet = book.worksheets[0]
    assert sheet.title == "宗地"
    header = [c.value for c in sheet[1]]
    assert (
        all(c.font.bold for c in sheet[1]) and header[1] == "宗地代码" and header[-2:] == ["内点X", "内点Y"]
    )
    db = db_parcels(4490)
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(values) == len(db) == 4
    for row in values:
        want = db[row[1]]
        assert row[header.index("宗地面积(m²)")] == float(want["zdmj"])
        assert row[header.index("图形面积(m²)")] == pytest.approx(want["area"], abs=0.006)
        registered = row[header.index("登记时间")]
        assert (registered.date() if registered else None) == want["djsj"]
        assert (row[-2], row[-1]) == pytest.approx((want["point"].x, want["point"].y), abs=1e-8)


def test_geopackage_in_a_gk_zone_matches_the_database(world, analyst, tmp_path):
    response = post(analyst, {"query": PARCELS, "format": "gpkg", "crs": 4545})
    assert response.status_code == 200 and response["Content-Type"] == "application/geopackage+sqlite3"
    path = tmp_path / "parcels.gpkg"
    path.write_bytes(content(response))
    info = pyogrio.read_info(path)
    assert info["crs"] == "EPSG:4545" and info["layer_name"] == "parcels" and info["features"] == 4
    assert info["geometry_type"] == "MultiPolygon"
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert types["id"] == "OFTInteger64" and types["djsj"] == "OFTDate" and types["area_m2"] == "OFTReal"
    meta, _fids, geometry, fields = pyogrio.raw.read(path)
    columns = dict(zip(meta["fields"], fields, strict=True))
    db = db_parcels(4545)
    for i, zddm in enumerate(columns["zddm"]):
        want = db[zddm]
        assert columns["yt"][i] == want["yt"] and columns["area_m2"][i] == pytest.approx(
            want["area"], abs=0.006
        )
        drawn = shapely.from_wkb(geometry[i])
        assert drawn.equals_exact(want["geom"], tolerance=0.002)
        assert drawn.area == pytest.approx(float(want["zdmj"]), rel=1e-6)  # drawn in EPSG:4545
    assert np.isnat(columns["djsj"][list(columns["zddm"]).index("500103001001GB00003")])


def test_geojson_streams_a_feature_collection_with_its_crs(world, analyst, tmp_path):
    response = post(analyst, {"query": {"layer": "permits"}, "format": "geojson", "crs": 4524})
    assert response.status_code == 200 and response["Content-Type"] == "application/geo+json"
    raw = content(response)
    data = json.loads(raw)
    assert data["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::4524"
    assert [f["properties"]["permit_no"][-6:] for f in data["features"]] == ["00001号", "00002号", "00003号"]
    assert all(f["id"] == f["properties"]["id"] for f in data["features"])
    ring = data["features"][2]["geometry"]["coordinates"][0][0]
    assert shapely.Polygon(ring).area == pytest.approx(10000, rel=1e-4)  # G3: 100 m × 100 m, zone 36
    path = tmp_path / "permits.geojson"
    path.write_bytes(raw)
    info = pyogrio.read_info(path)
    assert info["crs"] == "EPSG:4524" and info["features"] == 3


def test_grouped_queries_export_their_table(world, analyst):
    stats = {
        "layer": "landsupply",
        "group_by": ["county"],
        "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "area"}],
    }
    response = post(analyst, {"query": stats, "format": "csv"})
    table = list(csv.reader(io.StringIO(content(response).decode("utf-8-sig"))))
    assert table == [
        ["所在区县", "所在区县（名称）", "数量", "供地面积(m²)合计"],
        ["500103", "渝中区", "3", "23600.0"],
        ["500105", "江北区", "1", "6400.0"],
    ]
    book = openpyxl.load_workbook(io.BytesIO(content(post(analyst, {"query": stats, "format": "xlsx"}))))
    assert list(book.worksheets[0].iter_rows(values_only=True))[1] == ("500103", "渝中区", 3, 23600.0)
    refused = post(analyst, {"query": stats, "format": "gpkg"})
    assert refused.status_code == 400 and refused.json()["error"]["path"] == "format"


def test_text_that_looks_like_a_formula_stays_text(world, analyst):
    Parcel.objects.filter(pk=world["P1"].pk).update(address='=HYPERLINK("http://x","y")')
    one = {"layer": "parcels", "filters": [{"field": "zddm", "op": "eq", "value": "500103001001GB00001"}]}
    table = list(
        csv.reader(io.StringIO(content(post(analyst, {"query": one, "format": "csv"})).decode("utf-8-sig")))
    )
    assert table[1][table[0].index("坐落")] == '\'=HYPERLINK("http://x","y")'
    book = openpyxl.load_workbook(io.BytesIO(content(post(analyst, {"query": one, "format": "xlsx"}))))
    cell = book.worksheets[0].cell(row=2, column=table[0].index("坐落") + 1)
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize(
    "body, status, path",
    [
        ({"query": PARCELS, "format": "shp"}, 400, "format"),
        ({"query": PARCELS, "format": "csv", "crs": 4214}, 400, "crs"),
        ({"query": PARCELS, "format": "csv", "crs": "4490; DROP TABLE layers_parcel"}, 400, "crs"),
        ({"query": {"layer": "nope"}, "format": "csv"}, 400, "query.layer"),
        ({"query": PARCELS, "saved": 1, "format": "csv"}, 400, ""),
        ({"query": PARCELS, "format": "csv", "colour": "red"}, 400, "colour"),
        ({"query": {"layer": "etl_quarantine"}, "format": "csv"}, 403, "query.layer"),
        ({"saved": 999999, "format": "csv"}, 404, "saved"),
    ],
)
def test_bad_export_requests(world, analyst, body, status, path):
    response = post(analyst, body)
    assert response.status_code == status and response.json()["error"]["path"] == path


def test_roles_and_the_export_limit(world, analyst, client, role_user):
    with override_settings(ANALYSIS_MAX_EXPORT_ROWS=3):
        response = post(analyst, {"query": PARCELS, "format": "csv"})
        assert response.status_code == 400 and "4" in response.json()["error"]["message_en"]
    client.force_login(role_user("operator-x", "etl_operator"))
    assert post(client, {"query": PARCELS, "format": "csv"}).status_code == 403


def test_an_export_job_in_process_and_its_failure_recorded(world, role_user):
    analyst = role_user("analyst-job", "analyst")
    job = ExportJob.objects.create(owner=analyst, query=PARCELS, format="gpkg", srid=4490, total=4)
    try:
        assert run_export_job(job.pk) == 4
        job.refresh_from_db()
        assert (job.status, job.percent, job.rows) == ("done", 100, 4) and job.filename.endswith(".gpkg")
        assert pyogrio.read_info(export_dir() / job.file)["features"] == 4
    finally:
        shutil.rmtree((export_dir() / job.file).parent, ignore_errors=True)
    analyst.groups.clear()  # the owner lost the role since queueing: the job fails, with the reason
    failed = ExportJob.objects.create(owner=analyst, query=PARCELS, format="csv", srid=4490, total=4)
    assert run_export_job(failed.pk) == 0
    failed.refresh_from_db()
    assert failed.status == "failed" and "角色" in failed.error and not failed.file


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_large_export_runs_as_a_job_in_a_worker_with_a_download_for_its_owner(client, role_user):
    build_world()
    owner, other = role_user("analyst-owner", "analyst"), role_user("analyst-other", "analyst")
    client.force_login(owner)
    with override_settings(ANALYSIS_EXPORT_DIRECT_ROWS=2):
        response = post(client, {"query": PARCELS, "format": "gpkg", "crs": 4523})
    assert response.status_code == 202
    queued = response.json()
    assert queued["status"] == "queued" and queued["status_url"] == f"/api/queries/exports/{queued['job']}/"
    status = client.get(queued["status_url"]).json()
    assert (status["status"], status["percent"], status["download_url"]) == ("queued", 0, None)
    result = run_worker_once("analysis", timeout=120)
    assert result.returncode == 0, result.stderr
    job = ExportJob.objects.get(pk=queued["job"])
    try:
        status = client.get(queued["status_url"]).json()
        assert status["status"] == "done", status
        assert status["percent"] == 100 and status["rows"] == 4 and status["crs"] == 4523
        download = client.get(status["download_url"])
        assert download.status_code == 200 and download["Content-Type"] == "application/geopackage+sqlite3"
        path = export_dir() / "read-back.gpkg"
        path.write_bytes(content(download))
        assert pyogrio.read_info(path)["crs"] == "EPSG:4523"
        meta, _fids, geometry, fields = pyogrio.raw.read(path)
        db = db_parcels(4523)
        for zddm, wkb in zip(fields[list(meta["fields"]).index("zddm")], geometry, strict=True):
            assert shapely.from_wkb(wkb).equals_exact(db[zddm]["geom"], tolerance=0.002)
        path.unlink()
        # the file is its owner's alone
        client.force_login(other)
        assert client.get(queued["status_url"]).status_code == 404
        assert client.get(status["download_url"]).status_code == 404
    finally:
        shutil.rmtree((export_dir() / job.file).parent, ignore_errors=True)
