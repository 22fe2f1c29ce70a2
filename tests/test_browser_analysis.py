"""The analysts' workbench in the system Chromium against a gunicorn server on the test database with the
demo loaded and checked: build a grouped query with the form, see the table and the bar chart match the
database, run a ready-made example and open a result, download the result as a GeoPackage and read it back,
draw an area for a spatial condition (it leaves the map with its condition)."""

from __future__ import annotations

import pyogrio
import pytest
from django.db import connection

from tests.test_browser_map import chromium, demo, login, server, shot  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_analyst_groups_supply_by_county_runs_an_example_and_downloads_a_geopackage(
    demo,  # noqa: F811
    server,  # noqa: F811
    chromium,  # noqa: F811
    django_db_blocker,
    tmp_path,
):
    page = login(chromium, server, "analyst")
    page.click("#tab-analysis")
    page.select_option("#q-layer", "landsupply")
    page.check("#q-groups input[value=county]")
    page.check("#q-aggs input[value=count]")
    page.click("#query-form button.run")
    page.wait_for_selector("#results[data-state=done][data-kind=groups]")
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT d.code) FROM layers_landsupply s JOIN layers_admindivision d "
            "ON d.valid_to IS NULL AND ST_Intersects(d.geom, ST_PointOnSurface(s.geom))"
        )
        counties = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM layers_landsupply")
        supplies = cursor.fetchone()[0]
    rows = page.locator("#results-table table.groups tbody tr")
    assert rows.count() == counties > 0
    page.wait_for_selector("#results-chart[data-bars]")
    assert int(page.get_attribute("#results-chart", "data-bars")) == counties
    count_column = page.locator("#results-table table.groups thead th").all_inner_texts()
    assert any("数量" in t or "count" in t.lower() for t in count_column), count_column
    shot(page, "analysis-1-groups")
    assert supplies >= counties

    # a ready-made example: 供而未用 (supplied, not started, no building)
    page.wait_for_selector("#saved-select option", state="attached")
    example = page.locator("#saved-select optgroup option", has_text="供而未用").first
    page.select_option("#saved-select", example.get_attribute("value"))
    page.click("#query-form button.run")
    page.wait_for_selector("#results[data-state=done][data-kind=features]")
    first = page.locator("#results-table table.grid tbody tr").first
    first.click()
    page.wait_for_selector("#identify .record.selected")
    shot(page, "analysis-2-example")

    # the result as a GeoPackage, read back
    total = page.evaluate("() => document.querySelectorAll('#results-table table.grid tbody tr').length")
    page.select_option("#export-format", "gpkg")
    with page.expect_download() as download:
        page.click("#export-go")
    path = tmp_path / "result.gpkg"
    download.value.save_as(path)
    info = pyogrio.read_info(path)
    assert info["features"] >= total > 0
    assert info["crs"] == "EPSG:4490"

    # a drawn area stays on the map while its condition exists, and leaves with it
    drawn = ".leaflet-highlight-pane path:not(.om-highlight)"
    before = page.locator(drawn).count()
    page.click("#tab-analysis")
    page.click("#q-add-spatial")
    row = page.locator("#q-spatial .qrow.spatial").last
    row.locator(".s-kind").select_option("geometry")
    row.locator(".s-draw").click()
    box = page.locator("#map").bounding_box()
    for dx, dy in ((0.7, 0.4), (0.85, 0.4), (0.8, 0.6)):  # right of the side panel
        page.mouse.click(box["x"] + box["width"] * dx, box["y"] + box["height"] * dy)
        page.wait_for_timeout(400)  # apart: not a double click
    page.mouse.dblclick(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.6)
    shot(page, "analysis-3-drawn")
    page.wait_for_function("() => document.querySelector('#q-spatial .qrow:last-child .s-drawn').textContent")
    assert page.locator(drawn).count() == before + 1
    row.locator(".remove").click()
    assert page.locator(drawn).count() == before
    assert page.errors == [], page.errors
