"""The supervisors' web map in the system Chromium (Playwright) against a real gunicorn server on the test
database, with the demo exports loaded through the ETL and checked: overlaid layers drawn, layers toggled,
identify on a parcel planted with a cross-system defect, search by 宗地代码, a finding's status changed and
still changed after a reload, the English switch, the CJK font; an analyst without status controls and an
anonymous visitor sent to the login page. Screenshots are kept under var/artifacts/map/."""

from __future__ import annotations

import io
import os
import statistics

import pytest
from django.db import connection
from PIL import Image

from checks.engine import run_checks
from etl.demo import generate
from etl.runner import run_load
from tests.serving import PASSWORD, ROOT, Server
from tiles import mapproxy as tiles_mapproxy

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "var" / "artifacts" / "map"
PREFIX = "mapui"
CHECK_TABLES = "checks_findingevent, checks_finding, checks_checkrun"
DATA_TABLES = (
    "layers_parcel_history, layers_building_history, layers_planningpermit_history, "
    "layers_landsupply_history, layers_parcel, layers_building, layers_planningpermit, layers_landsupply, "
    "etl_problem, etl_changedkey, etl_loadrun, tiles_layerversion"
)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo exports (small scale) loaded through every system's mapping and checked, committed so the
    server process (and MapServer under MapProxy) sees them."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from tests.conftest import restore_baseline

    out = tmp_path_factory.mktemp("mapdemo")
    manifest = generate(out, scale=0.02, seed=5)
    with django_db_blocker.unblock():
        restore_baseline()
        tiles_mapproxy.reset_cache()
        for role in ("supervisor", "analyst"):
            user = get_user_model().objects.create_user(username=f"{PREFIX}-{role}", password=PASSWORD)
            user.groups.set([Group.objects.get(name=role)])
        for system in ("registration", "planning", "landsupply"):
            assert run_load(system, out / system).status == "completed"
        assert run_checks(full=True, trigger="test").status == "completed"
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")
        yield manifest
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {CHECK_TABLES}, {DATA_TABLES} CASCADE")
            cursor.execute("DELETE FROM procrastinate_jobs")
        get_user_model().objects.filter(username__startswith=f"{PREFIX}-").delete()


@pytest.fixture(scope="module")
def server(demo):
    process = Server()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def chromium(server):
    """After the server started: Playwright's sync API runs an event loop in this thread, so Django's
    async-safety guard is lifted for the test's own plain ORM calls, and must not leak into a subprocess."""
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as mp, sync_playwright() as p:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        yield b
        b.close()


def login(chromium, server, role: str, viewport=(1366, 768)):
    context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/accounts/login/")
    page.fill("input[name=username]", f"{PREFIX}-{role}")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    page.wait_for_selector("#onemap[data-ready]")
    page.errors = errors
    return page


def shot(page, name: str) -> bytes:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    return png


def map_variance(page) -> float:
    """Pixel variance of the map area: a blank (single-colour) map has ~0."""
    png = page.locator("#map").screenshot()
    grey = Image.open(io.BytesIO(png)).convert("L")
    return statistics.pvariance(grey.tobytes()[::7])


def wait_tiles(page, layer: str) -> None:
    page.wait_for_function(
        """(layer) => Array.from(document.querySelectorAll('#map img.leaflet-tile-loaded'))
             .some(img => img.src.includes('/mapproxy/wmts/' + layer + '/'))""",
        arg=layer,
        timeout=90_000,
    )


def click_lonlat(page, lon: float, lat: float) -> None:
    """A real mouse click on the map at a CGCS2000 lon/lat."""
    point = page.evaluate(
        "([lat, lon]) => { const p = OneMap.map.latLngToContainerPoint([lat, lon]);"
        " const r = OneMap.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
        [lat, lon],
    )
    page.mouse.click(point[0], point[1])


def point_in_parcel(zddm: str) -> tuple[float, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM "
            "(SELECT ST_PointOnSurface(geom) p FROM layers_parcel WHERE zddm = %s) x",
            [zddm],
        )
        return cursor.fetchone()


def draws_cjk_glyphs(page) -> bool:
    """Two different Chinese characters in the page's font draw different pixels; with no CJK font both are
    the same 'tofu' box."""
    return page.evaluate(
        """() => {
          const font = '32px ' + getComputedStyle(document.body).fontFamily;
          const draw = (ch) => { const c = document.createElement('canvas'); c.width = c.height = 40;
            const g = c.getContext('2d'); g.font = font; g.fillStyle = '#000'; g.fillText(ch, 2, 34);
            return Array.from(g.getImageData(0, 0, 40, 40).data).join(','); };
          const a = draw('宗'), b = draw('地'), blank = draw(' ');
          return a !== b && a !== blank;
        }"""
    )


def test_supervisor_overlays_identifies_searches_reviews_and_switches_language(
    demo, server, chromium, django_db_blocker
):
    page = login(chromium, server, "supervisor")
    groups = page.locator("#layer-groups legend").all_inner_texts()
    assert groups[:4] == ["不动产登记", "规划许可", "土地供应", "检查结果"], groups
    assert draws_cjk_glyphs(page), "Chinese text is drawn with boxes: no CJK font"

    # the planted cross-system defect: a permit whose land use contradicts the parcel's (GH-003)
    defect = next(d for d in demo["defects"] if d["kind"] == "permit_landuse_conflict")
    zddm, permit_no = defect["detail"]["parcel_zddm"], defect["source_id"]
    with django_db_blocker.unblock():
        lon, lat = point_in_parcel(zddm)
    page.evaluate("([lat, lon]) => OneMap.map.setView([lat, lon], 17, {animate: false})", [lat, lon])
    wait_tiles(page, "parcels")
    page.wait_for_function("() => document.querySelector('.rule-layer[data-loaded]')")
    assert map_variance(page) > 50, "the map area is blank"
    shot(page, "1-overlays")

    # toggle: parcels off removes their raster tiles, on brings them back
    page.uncheck("#layer-parcels")
    assert page.locator("#map img[src*='/mapproxy/wmts/parcels/']").count() == 0
    page.check("#layer-parcels")
    wait_tiles(page, "parcels")

    # identify: every system's record at the parcel, decoded and with lineage
    click_lonlat(page, lon, lat)
    page.wait_for_selector("#identify[data-done]")
    registration = page.locator("#identify [data-system=registration]")
    assert zddm in registration.inner_text()
    parcel = registration.locator(".record[data-layer=parcels]").first
    use_row = parcel.locator("tr[data-field=yt] td").inner_text()
    assert use_row.startswith(defect["detail"]["parcel_yt"] + " ") and len(use_row) > 5, use_row  # 0809 名称
    assert "用途" in parcel.inner_text() and "宗地代码" in parcel.inner_text()
    parcel.locator("summary").click()
    assert "ZDJBXX" in parcel.locator("[data-lineage=src_file]").inner_text()
    assert parcel.locator("[data-lineage=src_row]").inner_text().strip().isdigit()
    assert permit_no in page.locator("#identify [data-system=planning]").inner_text()
    assert "GH-003" in page.locator("#identify [data-system=checks]").inner_text()
    page.wait_for_selector(".om-highlight", state="attached")
    shot(page, "2-identify")

    # search another parcel's 宗地代码, pick the suggestion with the keyboard, land on it
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT zddm FROM layers_parcel WHERE zddm <> %s ORDER BY zddm DESC LIMIT 1", [zddm])
        target = cursor.fetchone()[0]
    page.fill("#search-input", target)
    page.wait_for_selector(f"#search-list li[data-value='{target}']")
    page.press("#search-input", "ArrowDown")
    while page.get_attribute("#search-list li[aria-selected=true]", "data-value") != target:
        page.press("#search-input", "ArrowDown")
    page.press("#search-input", "Enter")
    page.wait_for_selector(f"#identify .record[data-layer=parcels] tr[data-field=zddm] >> text={target}")
    page.wait_for_selector(".om-highlight", state="attached")
    centre_in_target = page.evaluate(
        "() => [OneMap.map.getCenter().lng, OneMap.map.getCenter().lat, OneMap.map.getZoom()]"
    )
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_DWithin(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4490), 0.0005) FROM layers_parcel "
            "WHERE zddm = %s",
            [centre_in_target[0], centre_in_target[1], target],
        )
        assert cursor.fetchone()[0], "the map did not land on the searched parcel"
    assert centre_in_target[2] >= 16
    shot(page, "3-search")

    # findings: filter by rule, open one, confirm it with a comment; the decision persists after a reload
    page.click("#tab-findings")
    page.select_option("#findings-filter select[name=rule]", "GH-003")
    page.click("#findings-filter button[type=submit]")
    page.wait_for_selector(".finding-item[data-rule='GH-003']")
    page.locator(".finding-item[data-rule='GH-003']").first.click()
    page.wait_for_selector(".finding-detail")
    fingerprint = page.get_attribute(".finding-detail", "data-id")
    compared = page.inner_text(".finding-detail table.compared")
    assert "parcel_yt" in compared and "permit_land_use" in compared
    page.fill(".status-form textarea[name=reason]", "现场核实：规划用途与登记用途确不一致")
    page.click(".status-form button[data-to=confirmed]")
    page.wait_for_selector(".finding-detail[data-status=confirmed]")
    shot(page, "4-finding-confirmed")
    page.reload()
    page.wait_for_selector("#onemap[data-ready]")
    page.evaluate("(id) => OneMap.openFinding(id)", fingerprint)
    page.wait_for_selector(".finding-detail[data-status=confirmed]")
    assert "现场核实" in page.inner_text(".finding-detail .events")
    # the status titles the server sends (checks.models): the badge and the audit trail say them
    assert page.inner_text(".finding-detail .meta .badge") == "已确认"
    assert "待核实 → 已确认" in page.inner_text(".finding-detail .events")
    with django_db_blocker.unblock():
        from checks.models import Finding

        assert Finding.objects.get(fingerprint=fingerprint).status == "confirmed"

    # measure: a 100 m east-west line in the GK zone
    page.click("#tab-tools")
    length = page.evaluate(
        "([lat, lon]) => { const p = OneMap.toGK(lon, lat); const q = OneMap.fromGK(p.x, p.y + 100);"
        " return OneMap.measureGK([L.latLng(lat, lon), L.latLng(q.lat, q.lon)], false).length; }",
        [lat, lon],
    )
    assert length == pytest.approx(100, abs=0.01)

    # swipe compare: parcels left of the divider, permits right of it, each in its own clipped pane
    page.select_option("#compare-left", "parcels")
    page.select_option("#compare-right", "permits")
    page.click("#compare-toggle")
    page.wait_for_selector(".compare-divider[data-left=parcels][data-right=permits]")
    page.wait_for_function(
        "() => document.querySelector('.leaflet-compareLeft-pane img.leaflet-tile-loaded')"
        " && document.querySelector('.leaflet-compareRight-pane canvas')"
    )
    clip = page.evaluate("() => OneMap.map.getPane('compareLeft').style.clip")
    assert clip.startswith("rect(")
    shot(page, "5-compare")
    page.click("#compare-toggle")

    # what the registration load brought, within the view
    page.select_option("#timefilter select[name=layer]", "parcels")
    page.focus("#timefilter select[name=run]")
    page.wait_for_selector("#timefilter select[name=run] option[data-system=registration]", state="attached")
    run = page.get_attribute("#timefilter select[name=run] option[data-system=registration]", "value")
    page.select_option("#timefilter select[name=run]", run)
    page.click("#timefilter button[type=submit]")
    page.wait_for_selector("#timefilter-result[data-count]")
    assert int(page.get_attribute("#timefilter-result", "data-count")) > 0

    # English
    page.select_option("select[name=language]", "en")
    page.wait_for_selector("#onemap[data-ready]")
    assert page.inner_text("#tab-layers") == "Layers"
    assert "Real estate registration" in page.inner_text("#layer-groups")
    shot(page, "6-english")
    page.select_option("select[name=language]", "zh-hans")
    page.wait_for_selector("#onemap[data-ready]")
    assert page.errors == [], page.errors


def test_analyst_reads_findings_without_status_controls(demo, server, chromium):
    page = login(chromium, server, "analyst", viewport=(1024, 768))  # a tablet's landscape screen
    page.click("#tab-findings")
    page.wait_for_selector(".finding-item")
    page.locator(".finding-item").first.click()
    page.wait_for_selector(".finding-detail")
    assert page.locator(".status-form").count() == 0
    assert page.locator("#map").bounding_box()["width"] > 500
    shot(page, "7-analyst")
    assert page.errors == [], page.errors


def test_anonymous_visitor_is_sent_to_the_login_page(server, chromium):
    page = chromium.new_page()
    page.goto(f"{server.url}/")
    assert "/accounts/login/" in page.url
    assert page.locator("input[name=password]").count() == 1
