"""The web map page's configuration per role and language (the browser flows are in test_browser_map.py):
what each role's map offers, and that every interface text has its English translation."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import translation

from frontend.views import strings

pytestmark = pytest.mark.django_db


def page_config(client, user, lang: str = "zh-hans") -> tuple[dict, str]:
    client.force_login(user)
    client.cookies["django_language"] = lang
    html = client.get("/").content.decode()
    start = html.index('<script id="map-config" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)]), html


def test_supervisor_gets_every_system_group_and_the_review_controls(client, role_user):
    config, html = page_config(client, role_user("sup", "supervisor"))
    assert [g["key"] for g in config["groups"]][:4] == ["registration", "planning", "landsupply", "checks"]
    assert [g["title"] for g in config["groups"]][:4] == ["不动产登记", "规划许可", "土地供应", "检查结果"]
    assert config["can_review"] and config["can_read_findings"]
    parcels = config["layers"]["parcels"]
    assert parcels["title"] == "宗地" and parcels["render"] == "wmts" and parcels["min_zoom"] == 10
    assert {"name": "yt", "title": "用途"}.items() <= parcels["attributes"][5].items()
    assert parcels["style"]["fill"].startswith("#")
    assert config["layers"]["permits"]["render"] == "mvt"
    assert config["empty"] is True and config["extent"] is None  # nothing loaded in this test database
    assert 'id="tab-findings"' in html and "尚未加载业务数据" in html
    # the status titles come from the checks app, for the filter (rendered here) and the script alike
    assert list(config["statuses"]) == ["new", "confirmed", "exception", "fixed", "verified", "reopened"]
    assert config["statuses"]["exception"] == {"zh": "误报", "en": "false positive"}
    assert '<option value="exception">误报 false positive</option>' in html


def test_analyst_reads_findings_but_cannot_review_and_misses_the_quarantine(client, role_user):
    config, html = page_config(client, role_user("ana", "analyst"))
    assert config["can_read_findings"] and not config["can_review"]
    assert "etl_quarantine" not in config["layers"]
    assert all("etl_quarantine" not in g["layers"] for g in config["groups"])


def test_operator_has_the_map_without_the_findings_tab(client, role_user):
    config, html = page_config(client, role_user("op", "etl_operator"))
    assert not config["can_read_findings"] and not config["can_review"]
    assert 'id="tab-findings"' not in html
    assert "etl_quarantine" in config["layers"]


def test_english_page_and_every_interface_text_translated(client, role_user):
    config, html = page_config(client, role_user("sup", "supervisor"), "en")
    assert config["lang"] == "en"
    assert config["layers"]["parcels"]["title"] == "Parcels"
    assert config["groups"][0]["title"] == "Real estate registration"
    with translation.override("en"):
        english = strings()
    untranslated = {k: v for k, v in english.items() if re.search(r"[\u4e00-\u9fff]", v)}
    assert untranslated == {}, "add these to frontend/locale/en/LC_MESSAGES/django.po"
    with translation.override("zh-hans"):
        assert strings()["layers"] == "图层"


def test_layer_overview_exact_below_and_estimated_above_the_threshold(tmp_path):
    """The map page's counts and extent: exact for small tables, from the planner's statistics for big ones
    (so a page view never counts 200,000 parcels)."""
    from django.db import connection

    from etl.runner import run_load
    from layers.selectors import layer_overview
    from tests.etl_files import building_rows, parcel_rows, write_registration

    parcels = parcel_rows(4)
    write_registration(tmp_path / "r", parcels, building_rows(parcels))
    assert run_load("registration", tmp_path / "r").status == "completed"
    exact = layer_overview()["parcels"]
    assert exact["count"] == 4 and not exact["estimated"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) e FROM layers_parcel) x"
        )
        assert exact["extent"] == pytest.approx(cursor.fetchone())
        cursor.execute("ANALYZE layers_parcel")
    estimated = layer_overview(estimate_above=1)["parcels"]
    assert estimated["estimated"] and estimated["count"] == 4
    box = estimated["extent"]
    assert box[0] <= exact["extent"][0] + 1e-3 and box[2] >= exact["extent"][2] - 1e-3
