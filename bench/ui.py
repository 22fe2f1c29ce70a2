"""Web map benchmark: the supervisors' map in the system Chromium (Playwright) against a real gunicorn server,
each figure next to a reference measured in the same run, in the same browser, against the same server.

Usage (from the repository root; uses the configured database, the embedded cluster by default)::

    .venv/bin/python bench/ui.py [--scale 10] [--runs 5] [--samples 30] [--port PORT] [--yes]

Why: the issue's speed targets for the web map are an interactive map under 2 s and identify and search
answers under 300 ms at p95, at demo scale 10 (~200,000 parcels). Absolute times depend on the machine and
on whoever else uses it, so every figure comes with a reference that shares its noise and its ratio is
printed too.

How: if the database holds fewer parcels than the demo at ``--scale`` has, the demo exports are generated
into ``var/bench-demo-<scale>`` and loaded through the ETL (``bench/tiles.py``'s ``ensure_demo``), then the
consistency checks run in full (after that load, or if they never ran: the map draws the findings per rule
and identify lists them; no worker runs the check jobs a load queues). With ``DATABASE_URL`` set (not the
embedded cluster) that needs ``--yes`` (or ``ONEMAP_BENCH_YES=1``), as ``bench/etl_load.py`` asks before
writing business data; better give the bench a database of its own::

    psql ... -c 'CREATE DATABASE onemap_bench_ui OWNER onemap'; psql ... -c 'CREATE EXTENSION postgis'
    export DATABASE_URL=postgres://onemap:PASSWORD@127.0.0.1:5499/onemap_bench_ui
    .venv/bin/python manage.py migrate && .venv/bin/python bench/ui.py --yes

A user ``bench-ui-supervisor`` (group ``supervisor``, a new random password each run) logs in once; every
navigation then gets a fresh browser context with that session's cookies (cold browser cache; the server's
MapProxy tile cache is whatever the previous navigation left). The server is ``tests/serving.py``'s
``Server``: gunicorn, 2 sync workers, the test settings (static files served by WhiteNoise from the apps'
folders, no collectstatic).

1. Navigation, ``--runs`` times after one warm-up run (reported separately: the workers' and the planner's
   first requests; MapServer renders the view's raster tiles unless an earlier run cached them). The two
   pages alternate; a navigation ends when its page has been network-idle for 500 ms, so the rest of one
   page's tiles does not hold up the next page's requests in the two workers.

   * the map page ``/``: navigation start → the HTML's first byte (Django renders the layer counts and the
     data extent into it), → ``#onemap[data-ready]`` (main.js done: the map is interactive),
     → the first overlay tile drawn (an ``img.leaflet-tile-loaded`` from ``/mapproxy/``: parcels, buildings;
     or a ``canvas.leaflet-tile-loaded`` of the vector-tile layers: permits, land supply), in the view the
     page opens on (it fits the parcels' extent), each from a MutationObserver installed before the page's
     own scripts, in ``performance.now()`` (origin: navigation start);
   * the reference, a static page of the same assets: the map page's ``<link rel=stylesheet>`` and
     ``<script src>`` tags only (no markup, no JSON islands but an empty ``map-config`` ``{}``; ``main.js``,
     which starts the map, is fetched as a ``preload`` and not run), served from the same origin through
     Playwright's ``page.route``; its assets come from the same server. Navigation start → load event.

2. Identify, ``--samples`` points (``ST_PointOnSurface`` of random parcels, seeded): in the page, from the
   call to ``OneMap.identifyAt(L.latLng(lat, lon))`` until ``#identify``'s ``data-done`` changes (the answer
   is drawn); the reference is the bare ``/api/identify/`` request with the same session (``requests``).

3. Search, ``--samples`` random 宗地代码: in the page, from setting ``#search-input`` and dispatching an
   ``input`` event until the matching ``#search-list li[data-value]`` appears, minus the page's 200 ms
   debounce; the reference is the bare ``/api/search/`` request.

It prints p50/p95, the ratios and PASS/MISS against the targets at p95 (data-ready and first tile < 2 s;
identify and search in the page < 300 ms): figures, not assertions (the exit status is 0 unless something
failed to run). It writes the bench user and MapProxy tiles under ``var/tiles/<db>/``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "onemap.settings.dev")

from bench.tiles import ensure_demo, pct, setup_django  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
USER = "bench-ui-supervisor"
VIEWPORT = {"width": 1366, "height": 768}
DEBOUNCE_MS = 200  # search.js: the query waits for 200 ms without typing
STATIC_PATH = "/bench-ui-static/"  # fulfilled by Playwright, never reaches the server
TARGET_INTERACTIVE_MS = 2000
TARGET_ANSWER_MS = 300

# Installed before the page's own scripts: the first time each milestone is seen, in ms since navigation.
MARKS_JS = """(() => {
  const marks = (window.__bench = {});
  const seen = (key) => { if (!(key in marks)) marks[key] = performance.now(); };
  const observer = new MutationObserver(() => {
    const root = document.getElementById('onemap');
    if (root && root.dataset.ready) seen('ready');
    if (!('raster' in marks)) {
      for (const img of document.querySelectorAll('#map img.leaflet-tile-loaded')) {
        if (img.src.includes('/mapproxy/')) { seen('raster'); break; }
      }
    }
    if (!('vector' in marks) && document.querySelector('#map canvas.leaflet-tile-loaded')) seen('vector');
    if ('ready' in marks && 'raster' in marks && 'vector' in marks) observer.disconnect();
  });
  observer.observe(document, {subtree: true, childList: true, attributes: true,
                              attributeFilter: ['class', 'data-ready']});
})();"""

IDENTIFY_JS = """([lat, lon]) => new Promise((resolve, reject) => {
  const box = document.getElementById('identify');
  let t0 = 0;
  const timer = setTimeout(() => {
    observer.disconnect(); reject(new Error('identify: no answer in 60 s'));
  }, 60000);
  const observer = new MutationObserver(() => {
    observer.disconnect(); clearTimeout(timer); resolve(performance.now() - t0);
  });
  observer.observe(box, {attributes: true, attributeFilter: ['data-done']});
  t0 = performance.now();
  OneMap.identifyAt(L.latLng(lat, lon));
})"""

SEARCH_JS = """(code) => new Promise((resolve, reject) => {
  const input = document.getElementById('search-input');
  const list = document.getElementById('search-list');
  const selector = 'li[data-value="' + CSS.escape(code) + '"]';
  list.innerHTML = '';
  let t0 = 0;
  const timer = setTimeout(() => {
    observer.disconnect(); reject(new Error('search: no suggestion in 60 s'));
  }, 60000);
  const observer = new MutationObserver(() => {
    if (!list.querySelector(selector)) return;
    observer.disconnect(); clearTimeout(timer); resolve(performance.now() - t0);
  });
  observer.observe(list, {childList: true, subtree: true});
  t0 = performance.now();
  input.value = code;
  input.dispatchEvent(new Event('input', {bubbles: true}));
})"""


# --- database: the demo, the checks, the bench user, the samples -------------------------------------------


def prepare_data(scale: float, yes: bool) -> int:
    """The demo at ``scale`` (bench/tiles.py's threshold and loader) and one full check run."""
    from checks.models import CheckRun
    from layers.models import Parcel

    wanted = int(20_000 * scale * 0.9)  # ensure_demo loads when fewer parcels than this are there
    needs_load = Parcel.objects.count() < wanted
    needs_checks = not CheckRun.objects.filter(status="completed").exists()
    if (needs_load or needs_checks) and os.environ.get("DATABASE_URL"):
        if not (yes or os.environ.get("ONEMAP_BENCH_YES") == "1"):
            from django.db import connection

            s = connection.settings_dict
            what = "load the demo (ETL) and run the checks" if needs_load else "run the checks"
            print(
                f"Refusing to {what} in {s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']} (DATABASE_URL, not "
                "the embedded cluster): pass --yes (or set ONEMAP_BENCH_YES=1).",
                file=sys.stderr,
            )
            raise SystemExit(2)
    parcels = ensure_demo(scale)
    if needs_load or needs_checks:  # after a load too: no worker runs the incremental check it queued
        print("running the consistency checks (full) ...", flush=True)
        subprocess.run(
            [sys.executable, "manage.py", "checks_run", "--full", "--no-progress"],
            cwd=BASE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return parcels


def bench_user() -> tuple[str, str]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import override_settings

    from onemap.settings import test as server_settings

    password = secrets.token_urlsafe(18)
    user, _ = get_user_model().objects.get_or_create(username=USER)
    # hashed as the server checks it: tests/serving.py's gunicorn runs the test settings (MD5 hasher only)
    with override_settings(PASSWORD_HASHERS=server_settings.PASSWORD_HASHERS):
        user.set_password(password)
    user.is_active = True
    user.save()
    user.groups.set([Group.objects.get(name="supervisor")])
    return USER, password


def sample_parcels(count: int) -> tuple[list[tuple[float, float]], list[str]]:
    """Points on the surface of ``count`` random parcels and the 宗地代码 of ``count`` others (seeded)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE layers_parcel")
        cursor.execute("SELECT setseed(0.17)")
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM layers_parcel "
            "ORDER BY random() LIMIT %s) x",
            [count],
        )
        points = [(lon, lat) for lon, lat in cursor.fetchall()]
        cursor.execute("SELECT setseed(0.29)")
        cursor.execute(
            "SELECT zddm FROM layers_parcel WHERE zddm IS NOT NULL AND length(zddm) >= 2 "
            "ORDER BY random() LIMIT %s",
            [count],
        )
        codes = [row[0] for row in cursor.fetchall()]
    return points, codes


# --- the static reference page ------------------------------------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.styles: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and a.get("rel") == "stylesheet" and a.get("href"):
            self.styles.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])


def static_page(map_html: str) -> tuple[str, list[str]]:
    """The map page's stylesheets and scripts alone; main.js (which starts the map) is fetched, not run. An
    empty ``map-config`` island: the modules read the configuration as they are evaluated (and stop with an
    error on none), an empty one configures nothing."""
    assets = _Assets()
    assets.feed(map_html)
    head = "".join(f'<link rel="stylesheet" href="{href}">' for href in assets.styles)
    body = []
    for src in assets.scripts:
        if src.rsplit("/", 1)[-1].startswith("main."):
            body.append(f'<link rel="preload" as="script" href="{src}">')
        else:
            body.append(f'<script src="{src}"></script>')
    html = (
        '<!DOCTYPE html><html lang="zh-hans"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>static reference</title>'
        '<script type="application/json" id="map-config">{}</script>'
        f"{head}</head><body>{''.join(body)}</body></html>"
    )
    return html, assets.styles + assets.scripts


# --- measurements -------------------------------------------------------------------------------------------


def new_context(browser, state):
    return browser.new_context(viewport=VIEWPORT, locale="zh-CN", storage_state=state)


def login(browser, url: str, username: str, password: str):
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(120_000)
    # land on a small JSON answer, not the map: the warm-up run is the first to ask for the view's tiles
    page.goto(f"{url}/accounts/login/?next=/api/loads/%3Flimit%3D1")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/api/loads/?limit=1")
    response = page.request.get(f"{url}/")  # the map page as served, before main.js changes its DOM
    if not response.ok or 'id="onemap"' not in (html := response.text()):
        raise RuntimeError(f"the map page did not open for {username}: {response.status} {response.url}")
    state = context.storage_state()
    context.close()
    return state, html


def settle(page) -> None:
    """Wait until the page asks nothing more (500 ms without requests): the remaining tiles of a map would
    otherwise keep the two gunicorn workers busy while the next navigation is timed."""
    try:
        page.wait_for_load_state("networkidle", timeout=120_000)
    except Exception:  # noqa: BLE001 - a page still busy after 2 min: measure on anyway
        pass


def navigate_map(browser, state, url: str) -> dict:
    """One navigation to the map in a fresh context: ms from navigation start to each milestone."""
    context = new_context(browser, state)
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(MARKS_JS)
    page.goto(f"{url}/")
    page.wait_for_function("() => window.__bench && window.__bench.ready")
    try:
        page.wait_for_function(
            "() => window.__bench.raster !== undefined && window.__bench.vector !== undefined", timeout=60_000
        )
    except Exception:  # noqa: BLE001 - a layer with no tile in view: the other one still counts
        pass
    marks = page.evaluate("() => window.__bench")
    nav = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return [n.responseStart, n.loadEventStart]; }"
    )
    zoom = page.evaluate("() => OneMap.map.getZoom()")
    settle(page)
    context.close()
    tiles = [marks[k] for k in ("raster", "vector") if k in marks]
    return {
        "ready": marks["ready"],
        "raster": marks.get("raster"),
        "vector": marks.get("vector"),
        "tile": min(tiles) if tiles else None,
        "html": nav[0],
        "load": nav[1],
        "zoom": zoom,
        "errors": errors,
    }


def navigate_static(browser, state, url: str, html: str) -> dict:
    """One navigation to the static page of the same assets in a fresh context: ms to its load event."""
    context = new_context(browser, state)
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route(
        f"{url}{STATIC_PATH}",
        lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html),
    )
    page.goto(f"{url}{STATIC_PATH}")
    page.wait_for_function("() => performance.getEntriesByType('navigation')[0].loadEventStart > 0")
    load = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventStart")
    fetched = page.evaluate("() => performance.getEntriesByType('resource').length")
    settle(page)
    context.close()
    return {"load": load, "fetched": fetched, "errors": errors}


def bench_answers(browser, state, url: str, points, codes) -> dict:
    """Identify and search in one loaded map page, each sample next to the bare API request."""
    import requests

    session = requests.Session()
    for cookie in state["cookies"]:
        session.cookies.set(cookie["name"], cookie["value"], domain=cookie["domain"], path=cookie["path"])

    def api(path: str, params: dict) -> float:
        started = time.perf_counter()
        response = session.get(f"{url}{path}", params=params, timeout=120)
        response.json()
        elapsed = 1000 * (time.perf_counter() - started)
        response.raise_for_status()
        return elapsed

    context = new_context(browser, state)
    page = context.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/")
    page.wait_for_selector("#onemap[data-ready]")
    settle(page)  # the view's tiles and the findings layers loaded: nothing else competes with the samples

    def identify_params(lon, lat):
        return {"lon": f"{lon:.8f}", "lat": f"{lat:.8f}"}

    out = {"identify_page": [], "identify_api": [], "search_page": [], "search_api": []}
    # warm-up, not counted: the first requests of each kind in each gunicorn worker
    for lon, lat in points[:3]:
        api("/api/identify/", identify_params(lon, lat))
        page.evaluate(IDENTIFY_JS, [lat, lon])
        page.wait_for_timeout(200)
    for code in codes[:3]:
        api("/api/search/", {"q": code, "limit": 10})
        page.evaluate(SEARCH_JS, code)
        page.wait_for_timeout(200)
    for lon, lat in points:
        out["identify_api"].append(api("/api/identify/", identify_params(lon, lat)))
        out["identify_page"].append(page.evaluate(IDENTIFY_JS, [lat, lon]))
        page.wait_for_timeout(250)  # the drawn answer fetches the first record's geometry: let it land
    for code in codes:
        out["search_api"].append(api("/api/search/", {"q": code, "limit": 10}))
        out["search_page"].append(page.evaluate(SEARCH_JS, code) - DEBOUNCE_MS)
        page.wait_for_timeout(100)
    out["errors"] = errors
    context.close()
    return out


# --- report -------------------------------------------------------------------------------------------------


def p50_p95(values: list[float]) -> tuple[float, float] | None:
    values = [v for v in values if v is not None]
    return (pct(values, 50), pct(values, 95)) if values else None


def verdict(value: float, limit: float) -> str:
    return "PASS" if value < limit else "MISS"


def fmt(values: list[float]) -> str:
    stats = p50_p95(values)
    n = len([v for v in values if v is not None])
    return f"{n:>3}  {stats[0]:8.0f} {stats[1]:8.0f}" if stats else f"{n:>3}  {'—':>8} {'—':>8}"


def ratio(a: list[float], b: list[float]) -> str:
    sa, sb = p50_p95(a), p50_p95(b)
    if not sa or not sb:
        return f"{'—':>7} {'—':>7}"
    return f"{sa[0] / sb[0]:6.2f}× {sa[1] / sb[1]:6.2f}×"


def report(warm: list[dict], static: list[dict], cold: dict, cold_static: dict, answers: dict) -> None:
    static_load = [s["load"] for s in static]
    col = f"{'':46} {'n':>3}  {'p50 ms':>8} {'p95 ms':>8}   {'ratio p50':>7} {'p95':>7}   target (p95)"
    print(col)
    print("-" * len(col))

    def row(label, values, reference, target=None):
        line = f"{label:46} {fmt(values)}   "
        line += ratio(values, reference) if reference is not None else f"{'':7} {'':7} "
        stats = p50_p95(values)
        if target is not None and stats:
            line += f"   < {target} ms: {verdict(stats[1], target)}"
        print(line.rstrip())

    print("Navigation (ratios to the static page's load event)")
    row("  static page of the same assets: load event", static_load, None)
    row("  map: navigation → first byte of the HTML", [w["html"] for w in warm], static_load)
    row(
        "  map: navigation → #onemap[data-ready]",
        [w["ready"] for w in warm],
        static_load,
        TARGET_INTERACTIVE_MS,
    )
    row(
        "  map: navigation → first overlay tile drawn",
        [w["tile"] for w in warm],
        static_load,
        TARGET_INTERACTIVE_MS,
    )
    row("    first raster tile (MapProxy)", [w["raster"] for w in warm], static_load)
    row("    first vector tile (MVT, canvas)", [w["vector"] for w in warm], static_load)
    row("  map: load event", [w["load"] for w in warm], static_load)
    print("Identify (ratio to the bare API request)")
    row("  API /api/identify/ (requests, same session)", answers["identify_api"], None)
    row(
        "  in page: identifyAt → #identify[data-done]",
        answers["identify_page"],
        answers["identify_api"],
        TARGET_ANSWER_MS,
    )
    print(f"Search (ratio to the bare API request; in page: {DEBOUNCE_MS} ms debounce subtracted)")
    row("  API /api/search/ (requests, same session)", answers["search_api"], None)
    row(
        f"  in page: input → suggestion li (−{DEBOUNCE_MS} ms)",
        answers["search_page"],
        answers["search_api"],
        TARGET_ANSWER_MS,
    )

    def ms(value):
        return "—" if value is None else f"{value:.0f} ms"

    print(
        "\nWarm-up run (the first navigation, not in the figures above: first requests of the workers and "
        "the planner; MapServer renders the view's raster tiles unless an earlier run cached them): "
        f"static page {ms(cold_static['load'])}; "
        f"map data-ready {ms(cold['ready'])}, first tile {ms(cold['tile'])} "
        f"(raster {ms(cold['raster'])}, vector {ms(cold['vector'])}), load event {ms(cold['load'])}"
    )
    for where, runs in (
        ("the map page", [cold, *warm, answers]),
        ("the static page", [cold_static, *static]),
    ):
        errors = [e for run in runs for e in run["errors"]]
        if errors:
            print(f"\nPage errors on {where} ({len(errors)}): " + " | ".join(sorted(set(errors))[:5]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=10.0, help="demo scale of the data (default 10)")
    parser.add_argument("--runs", type=int, default=5, help="navigations of each page after a warm-up (5)")
    parser.add_argument("--samples", type=int, default=30, help="identify points and search codes (30)")
    parser.add_argument(
        "--port", type=int, default=0, help="port of the gunicorn server (default: a free one)"
    )
    parser.add_argument(
        "--yes", action="store_true", help="allow loading the demo into a DATABASE_URL database"
    )
    args = parser.parse_args()
    if args.runs < 1 or args.samples < 1:
        parser.error("--runs and --samples must be at least 1")
    setup_django()
    parcels = prepare_data(args.scale, args.yes)
    username, password = bench_user()
    points, codes = sample_parcels(args.samples)
    from django.db import connection

    from tests import serving

    if args.port:
        with mock.patch.object(serving, "free_port", lambda: args.port):
            server = serving.Server()
    else:
        server = serving.Server()
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                state, map_html = login(browser, server.url, username, password)
                html, assets = static_page(map_html)
                cold = navigate_map(browser, state, server.url)
                cold_static = navigate_static(browser, state, server.url, html)
                warm, static = [], []
                for _ in range(args.runs):  # alternate the two pages so they share the machine's moods
                    warm.append(navigate_map(browser, state, server.url))
                    static.append(navigate_static(browser, state, server.url, html))
                answers = bench_answers(browser, state, server.url, points, codes)
                version = browser.version
            finally:
                browser.close()
    finally:
        server.stop()

    print(
        f"\nOneMap web map benchmark — {parcels} parcels (demo scale {args.scale:g}), database "
        f"{connection.settings_dict['NAME']}; Chromium {version}, {VIEWPORT['width']}×{VIEWPORT['height']}; "
        f"gunicorn 2 sync workers; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"map page {len(map_html.encode()) / 1024:.0f} KiB of HTML (JSON islands included), opens at zoom "
        f"{warm[0]['zoom']}; static reference {len(html.encode()) / 1024:.1f} KiB + the same {len(assets)} "
        f"assets (fetched: {min(s['fetched'] for s in static)}); {args.runs} navigations of each after a "
        f"warm-up, {args.samples} identify points and search codes\n"
    )
    report(warm, static, cold, cold_static, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
