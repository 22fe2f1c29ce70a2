"""The mismatch report of a run as JSON, XLSX and GeoPackage, re-read with the tools operators use."""

from __future__ import annotations

import json

import pyogrio
import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from etl.runner import run_load
from tests.etl_files import building_rows, parcel_rows, write_registration

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(tmp_path):
    parcels = parcel_rows(4)
    parcels[1]["YT"] = "0799"
    parcels[2]["ZDDM"] = "500103001001GB00000"
    return run_load(
        "registration", write_registration(tmp_path / "r", parcels, building_rows(parcel_rows(4)))
    )


def test_json_report(run, capsys):
    call_command("etl_report", str(run.pk), "--format", "json")
    report = json.loads(capsys.readouterr().out)
    assert report["run"] == run.pk and report["system"] == "registration" and report["status"] == "completed"
    assert report["counts"]["rejected"] == 2 and report["counts"]["read"] == 8
    rows = {(p["row"], p["rule"]) for p in report["problems"]}
    assert rows == {(2, "code_unknown"), (3, "zddm_sequence_zero")}
    problem = next(p for p in report["problems"] if p["rule"] == "code_unknown")
    assert problem["field"] == "YT" and problem["raw"]["YT"] == "0799" and problem["severity"] == "error"
    assert problem["source_id"] == "500103001001GB00002" and problem["file"] == "ZDJBXX.shp"
    assert {"rule": "code_unknown", "severity": "error", "count": 1} in report["summary"]["by_rule"]
    assert report["targets"]["parcels"]["transform"]["source_crs"] == "EPSG:4545"


def test_xlsx_report_has_summary_chart_and_details(run, tmp_path):
    out = tmp_path / "report.xlsx"
    call_command("etl_report", str(run.pk), "--format", "xlsx", "--out", str(out))
    workbook = load_workbook(out)
    summary, detail = workbook.worksheets
    assert len(summary._charts) == 1
    header = [c.value for c in detail[1]]
    assert header[:7] == ["target", "file", "row", "source_id", "rule", "field", "severity"]
    values = [[c.value for c in row] for row in detail.iter_rows(min_row=2)]
    assert sorted((v[2], v[4]) for v in values) == [(2, "code_unknown"), (3, "zddm_sequence_zero")]
    assert "原始:YT" in header


def test_gpkg_report_has_the_rejected_geometries(run, tmp_path):
    out = tmp_path / "report.gpkg"
    call_command("etl_report", str(run.pk), "--format", "gpkg", "--out", str(out))
    meta, _, geometry, fields = pyogrio.raw.read(out)
    assert meta["crs"] == "EPSG:4490" and len(geometry) == 2 and all(g is not None for g in geometry)
    rules = fields[list(meta["fields"]).index("rule")]
    assert sorted(rules) == ["code_unknown", "zddm_sequence_zero"]
