"""The operators' console in the system Chromium (Playwright) against a live server and a real procrastinate
worker: upload the demo planning export, preview, dry run, load with live progress, open the report, map
the unknown land-use codes to their standard codes, re-run the rejected rows and see them resolved; and a
hostile upload refused in the page. Screenshots are kept under var/artifacts/console/."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.db import connection

from etl.demo import generate
from layers.models import CrosswalkEntry

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "var" / "artifacts" / "console"
PASSWORD = "pw-for-tests-1"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(scope="module")
def planning_zip(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo")
    manifest = generate(out, scale=0.05, seed=7)
    archive = out / "planning.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((out / "planning").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(out / "planning").as_posix())
    return archive, manifest


@pytest.fixture
def worker(settings, tmp_path):
    """A real `procrastinate worker` on the test database, stopped (by its pid) after the test."""
    s = connection.settings_dict
    env = dict(
        {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        DATABASE_URL=f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
    )
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "procrastinate", "worker", "--queues", "etl"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still plain
    # synchronous calls, so Django's async-safety guard must not refuse them (for this test only: the
    # variable must not leak into other tests' subprocesses, where `check --deploy` refuses it)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        yield b
        b.close()


def login(browser, live_server, username: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page.set_default_timeout(60_000)
    page.on("pageerror", lambda e: print("browser error:", e))  # shown with a failing test's output
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def wait_for_job(page, status: str = "completed") -> None:
    page.wait_for_selector(f".job[data-status={status}]", timeout=120_000)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def standard_code(old_code: str) -> str:
    return (
        CrosswalkEntry.objects.filter(crosswalk="gbt21010_2007_to_2017", source_code=old_code)
        .first()
        .target_code
    )


def test_operator_loads_planning_fixes_unknown_codes_and_reruns(
    browser, live_server, worker, role_user, planning_zip, settings, tmp_path
):
    settings.VAR_DIR = tmp_path / "var"
    archive, manifest = planning_zip
    role_user("operator", "etl_operator")
    page = login(browser, live_server, "operator")

    page.goto(f"{live_server.url}/etl/")
    page.click("text=规划许可系统")
    page.set_input_files("input[name=files]", str(archive))
    page.click("text=上传并预览")
    page.wait_for_selector(".target .crs")
    assert "EPSG:4524" in page.inner_text(".target .crs")
    assert "utf-8" in page.inner_text(".target .encoding").lower()
    assert "许可证号" in page.inner_text(".target table.rows")
    page.wait_for_selector(
        "#extent-map .leaflet-interactive", state="attached"
    )  # counties and the file's extent drawn
    shot(page, "1-preview")

    page.click("button.dry-run")
    wait_for_job(page)
    # the page reloads itself 1.5 s after a dry run ends (no second navigation of ours to race with it)
    page.wait_for_selector("ul.unknown", timeout=60_000)  # after the reload: the dry run's unknown codes
    page.wait_for_load_state("load")
    assert "code_unknown" in page.inner_text("table.findings")
    shot(page, "2-dry-run")

    page.click("button.load")
    page.wait_for_selector(".job[data-job-url]")
    wait_for_job(page)
    assert page.inner_text(".job-percent") == "100"
    shot(page, "3-loaded")
    page.click(".job-report")
    page.wait_for_selector("svg.chart rect")
    page.wait_for_selector("#problem-map[data-features]")
    shot(page, "4-report")

    unknown = [d for d in manifest["defects"] if d["kind"] == "landuse_unknown" and d["system"] == "planning"]
    assert unknown
    forms = page.locator("tr[data-rule=code_unknown] form.crosswalk-form")
    assert forms.count() == len({d["detail"]["value"] for d in unknown})
    for i in range(forms.count()):
        form = page.locator("tr[data-rule=code_unknown] form.crosswalk-form").nth(i)
        code = form.locator("input[name=source_code]").get_attribute("value")
        defect = next(d for d in unknown if d["detail"]["value"] == code)
        form.locator("input[name=target_code]").fill(standard_code(defect["detail"]["expected"]))
        form.locator("button").click()
        page.wait_for_selector(".msg.success")
    before = int(page.inner_text(".rejected-open"))
    page.click("button.rerun")
    page.wait_for_selector(".job[data-job-url]")
    wait_for_job(page)
    page.goto(page.url)
    resolved = int(page.inner_text(".resolved-count"))
    assert resolved == len(unknown)
    assert int(page.inner_text(".rejected-open")) == before - resolved
    page.select_option("select[name=rule]", "code_unknown")
    page.click("text=筛选")
    states = page.locator("table.problems td.state").all_inner_texts()
    assert states and all("已解决" in s for s in states), states
    shot(page, "5-resolved")


def test_hostile_upload_gets_a_clear_error_in_the_page(browser, live_server, role_user, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("permits.gpkg", b"x")
        zf.writestr("../../../escaped.txt", b"owned")
    role_user("operator", "etl_operator")
    page = login(browser, live_server, "operator")
    page.goto(f"{live_server.url}/etl/systems/planning/")
    page.set_input_files("input[name=files]", str(evil))
    page.click("text=上传并预览")
    message = page.inner_text(".msg.error")
    assert "上传被拒绝" in message and "escaped.txt" in message
    shot(page, "6-hostile")
    assert not list((tmp_path / "var" / "uploads").iterdir())
    assert not list(tmp_path.rglob("escaped.txt"))
