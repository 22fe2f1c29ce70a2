"""The checks API (roles on every endpoint, filters, GeoJSON, status changes), the exports read back from
the files, and the ``checks_run --json`` contract."""

from __future__ import annotations

import json
from io import BytesIO, StringIO

import pyogrio
import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from checks.engine import run_checks
from checks.models import Finding, Status
from etl.runner import run_load
from tests.etl_files import building_rows, parcel_rows, permit_rows, write_planning, write_registration

pytestmark = pytest.mark.django_db
HOLDER_B = "重庆另一家置业有限公司"


@pytest.fixture
def findings(tmp_path):
    """Two ZD-002 (area) findings and one GH-002 (permit over another holder's parcel)."""
    parcels = parcel_rows(4)
    parcels[0]["ZDMJ"], parcels[3]["ZDMJ"] = 3000.0, 2000.0
    parcels[1]["QLR"] = HOLDER_B
    write_registration(tmp_path / "registration", parcels, building_rows(parcels))
    write_planning(tmp_path / "planning", permit_rows(3))
    run_load("registration", tmp_path / "registration")
    run_load("planning", tmp_path / "planning")
    run_checks(trigger="test")
    assert sorted(Finding.objects.values_list("rule", flat=True)) == ["GH-002", "ZD-002", "ZD-002"]
    return Finding.objects.order_by("rule", "fingerprint")


ROLES = {"supervisor": 200, "analyst": 200, "admin": 200, "etl_operator": 403, "": 403}


def client_for(client, role_user, role: str):
    user = role_user(f"u-{role or 'none'}", *([role] if role else []))
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", list(ROLES))
def test_every_endpoint_checks_the_role(client, role_user, findings, role):
    fp = findings[0].fingerprint
    c = client_for(client, role_user, role)
    reads = [
        reverse("checks:rules"),
        reverse("checks:summary"),
        reverse("checks:findings"),
        reverse("checks:finding", args=[fp]),
        reverse("checks:export-xlsx"),
    ]
    for url in reads:
        assert c.get(url).status_code == ROLES[role], (role, url)
    writer = role in ("supervisor", "admin")
    response = c.post(
        reverse("checks:finding-status", args=[fp]),
        data=json.dumps({"status": "confirmed", "reason": "核实"}),
        content_type="application/json",
    )
    assert response.status_code == (200 if writer else 403), role
    assert Finding.objects.get(fingerprint=fp).status == ("confirmed" if writer else "new")


def test_anonymous_users_are_sent_to_login(client, findings):
    for url in (reverse("checks:summary"), reverse("checks:finding-status", args=[findings[0].fingerprint])):
        response = client.get(url) if url.endswith("summary") else client.post(url, {"status": "confirmed"})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_findings_geojson_filters_and_errors(client, role_user, findings):
    c = client_for(client, role_user, "analyst")
    data = c.get(reverse("checks:findings"), {"rule": "GH-002"}).json()
    assert data["total"] == 1
    feature = data["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    props = feature["properties"]
    assert props["permit_no"] == ["地字第500103201600001号"] and props["zddm"] == ["500103001001GB00002"]
    assert props["status_zh"] == "待核实" and props["county"] == "500103"
    assert props["values"]["parcel_holder"] == HOLDER_B
    assert c.get(reverse("checks:findings"), {"rule": "ZD-002", "limit": 1}).json()["total"] == 2
    assert len(c.get(reverse("checks:findings"), {"rule": "ZD-002", "limit": 1}).json()["features"]) == 1
    for params, param in (
        ({"rule": "NOPE"}, "rule"),
        ({"status": "done"}, "status"),
        ({"limit": "x"}, "limit"),
    ):
        response = c.get(reverse("checks:findings"), params)
        assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert c.get(reverse("checks:finding", args=["0" * 64])).status_code == 404


def test_status_changes_through_the_api(client, role_user, findings):
    c = client_for(client, role_user, "supervisor")
    fp = findings[1].fingerprint
    url = reverse("checks:finding-status", args=[fp])
    bad = c.post(url, json.dumps({"status": "fixed"}), content_type="application/json")
    assert bad.status_code == 400 and "引擎" in bad.json()["error"]["message_zh"]
    no_reason = c.post(url, json.dumps({"status": "exception"}), content_type="application/json")
    assert no_reason.status_code == 400
    ok = c.post(
        url,
        json.dumps({"status": "exception", "reason": "含代征道路", "expires": "2099-01-01T00:00:00Z"}),
        content_type="application/json",
    )
    assert ok.status_code == 200 and ok.json()["status"] == "exception"
    detail = c.get(reverse("checks:finding", args=[fp])).json()["properties"]
    assert detail["exception_reason"] == "含代征道路" and detail["exception_expires"].startswith("2099-01-01")
    assert [(e["from"], e["to"], e["user"]) for e in detail["events"]] == [
        ("", "new", None),
        ("new", "exception", "u-supervisor"),
    ]


def test_summary_by_rule_and_county_with_trend_and_time_to_fix(client, role_user, findings, tmp_path):
    parcels = parcel_rows(4)
    parcels[3]["ZDMJ"] = 2000.0
    parcels[1]["QLR"] = HOLDER_B
    write_registration(tmp_path / "r2", parcels, building_rows(parcels))
    run_load("registration", tmp_path / "r2")  # parcel 1's area corrected
    run_checks(trigger="test")
    data = client_for(client, role_user, "analyst").get(reverse("checks:summary")).json()
    zd002 = next(r for r in data["rules"] if r["rule"] == "ZD-002")
    assert zd002["totals"]["new"] == 1 and zd002["totals"]["fixed"] == 1
    assert zd002["counties"] == {"500103": {"new": 1, "fixed": 1}}
    assert zd002["fixed_count"] == 1 and zd002["mean_days_to_fix"] >= 0
    assert [(t["open"], t["new"], t["fixed"]) for t in zd002["trend"]] == [(2, 2, 0), (1, 0, 1)]
    assert data["statuses"]["exception"] == "误报"


def test_findings_export_json_xlsx_gpkg(findings, tmp_path):
    out = StringIO()
    call_command("findings_export", "--format", "json", "--rule", "ZD-002", stdout=out)
    doc = json.loads(out.getvalue())
    assert {f["properties"]["zddm"][0] for f in doc["features"]} == {
        "500103001001GB00001",
        "500103001001GB00004",
    }
    assert all(f["id"] == f["properties"]["id"] and len(f["id"]) == 64 for f in doc["features"])

    xlsx = tmp_path / "f.xlsx"
    call_command("findings_export", "--format", "xlsx", "--out", str(xlsx), stderr=StringIO())
    wb = load_workbook(BytesIO(xlsx.read_bytes()))
    summary, detail = wb["汇总 summary"], wb["明细 findings"]
    rows = {r[0]: r for r in summary.iter_rows(min_row=2, values_only=True)}
    assert rows["ZD-002"][3] == 2 and rows["GH-002"][3] == 1  # column D = 待核实 new
    assert len(summary._charts) == 1
    assert detail.max_row == 4 and detail["A1"].value.startswith("编号")

    gpkg = tmp_path / "f.gpkg"
    call_command(
        "findings_export", "--format", "gpkg", "--status", "new", "--out", str(gpkg), stderr=StringIO()
    )
    meta = pyogrio.read_info(gpkg, layer="findings")
    assert meta["features"] == 3 and "4490" in meta["crs"]
    _, _, geometry, fields = pyogrio.raw.read(gpkg, layer="findings")
    names = list(meta["fields"])
    assert set(fields[names.index("id")]) == {f.fingerprint for f in findings}
    assert set(fields[names.index("rule")]) == {"ZD-002", "GH-002"}
    assert all(g is not None for g in geometry)


def test_export_rejects_bad_options(findings):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--status"):
        call_command("findings_export", "--status", "done")
    with pytest.raises(CommandError, match="--out"):
        call_command("findings_export", "--format", "xlsx")


def test_checks_run_json_last_line(findings):
    out = StringIO()
    call_command("checks_run", "--full", "--json", "--no-progress", stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(last) == {"run", "findings"}
    assert last["findings"]["ZD-002"] == {"open": 2, "new": 0, "fixed": 0, "reopened": 0}
    assert all(set(v) == {"open", "new", "fixed", "reopened"} for v in last["findings"].values())
    out = StringIO()
    call_command("checks_run", "--rule", "GH-002", "--json", "--no-progress", stdout=out)
    assert list(json.loads(out.getvalue().splitlines()[-1])["findings"]) == ["GH-002"]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown rule"):
        call_command("checks_run", "--rule", "XX-999")
    assert Finding.objects.filter(status=Status.NEW).count() == 3
