"""Serving benchmark: vector tiles, raster tiles, seeding and GeoJSON, each against a reference measured in
the same run on the same database.

Usage (from the repository root; uses the configured database, the embedded cluster by default)::

    .venv/bin/python bench/tiles.py [--scale 1] [--tiles 60] [--repeat 200]

If the database holds fewer parcels than the demo at ``--scale`` has, the demo exports are generated into
``var/bench-demo-<scale>`` and loaded through the ETL first (the issue's target scale is 10: ~200,000
parcels; scale 1 is ~20,000). Then, in one process, through Django's full request path (middleware,
authentication, the views) with Django's test client:

1. MVT: the same tile set through ``/tiles/parcels/z/x/y.pbf`` and as the bare ``ST_AsMVT`` SQL the view
   runs (p50/p95; target view p50 ≤ 1.5× SQL, p95 ≤ 100 ms);
2. raster: a cached tile through Django + MapProxy vs a static file of the same size served by Django
   (WhiteNoise) (throughput ratio, best of alternating rounds; target ≥ 0.3×); the cold render of
   each tile of a fresh set;
3. seeding: tiles/s of ``tiles.seeding.seed`` over a small extent, both grids;
4. GeoJSON: features/s for a bbox of 10,000 parcels through ``/api/layers/parcels/features/`` vs the bare
   SQL that builds the same features.

It prints figures and ratios, not assertions. It writes tiles under ``var/tiles/<db>/`` (the parcels cache
of a few test extents is removed first) and a bench user ``bench-admin``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "onemap.settings.dev")


def setup_django() -> None:
    from onemap.bootstrap import ensure_database

    ensure_database()
    import django

    django.setup()


def ensure_demo(scale: float) -> int:
    from layers.models import Parcel

    wanted = int(20_000 * scale * 0.9)
    have = Parcel.objects.count()
    if have >= wanted:
        return have
    folder = BASE_DIR / "var" / f"bench-demo-{scale:g}"
    python = sys.executable
    if not (folder / "manifest.json").exists():
        print(f"generating the demo exports at scale {scale:g} into {folder} ...", flush=True)
        subprocess.run(
            [python, "manage.py", "demo_data", "--out", str(folder), "--scale", str(scale)],
            cwd=BASE_DIR,
            check=True,
        )
    for system in ("registration", "planning", "landsupply"):
        print(f"loading {system} ...", flush=True)
        subprocess.run(
            [python, "manage.py", "etl_run", system, str(folder / system)],
            cwd=BASE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return Parcel.objects.count()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def sample_tiles(count: int, zooms=(13, 14, 15, 16)) -> list[tuple[int, int, int]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM layers_parcel "
            "TABLESAMPLE SYSTEM (5) REPEATABLE (7) LIMIT %s",
            [count * 3],
        )
        points = cursor.fetchall()
    rng = random.Random(7)
    tiles = []
    for lon, lat in points:
        z = rng.choice(zooms)
        tile = (z, *tile_of(lon, lat, z))
        if tile not in tiles:
            tiles.append(tile)
        if len(tiles) == count:
            break
    return tiles


def client_for_bench():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_superuser": True})
    # the password of basic_client(), set before logging in: a new one would end earlier clients' sessions
    if not user.is_superuser or not user.check_password(BENCH_PASSWORD):
        user.is_superuser = True
        user.set_password(BENCH_PASSWORD)
        user.save()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def basic_client():
    """A client sending HTTP basic credentials with every request, as QGIS and GDAL do."""
    import base64

    from django.test import Client

    token = base64.b64encode(f"bench-admin:{BENCH_PASSWORD}".encode()).decode()
    return Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Basic {token}")


BENCH_PASSWORD = "bench-only-password-1"


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_mvt(client, tiles) -> dict:
    from django.db import connection

    from layers import registry
    from tiles import mvt

    layer = registry.get("parcels")
    view_ms, sql_ms, sizes = [], [], []

    def via_sql(z, x, y):
        with connection.cursor() as cursor:
            cursor.execute(mvt.tile_sql(layer, z), [z, x, y, z, x, y])
            sizes.append(len(cursor.fetchone()[0] or b""))

    for z, x, y in tiles[:5]:  # warm the planner and the page cache for both paths alike
        client.get(f"/tiles/parcels/{z}/{x}/{y}.pbf")
        via_sql(z, x, y)
    for _ in range(2):
        for z, x, y in tiles:
            view_ms.append(1000 * timed(lambda z=z, x=x, y=y: client.get(f"/tiles/parcels/{z}/{x}/{y}.pbf")))
            sql_ms.append(1000 * timed(lambda z=z, x=x, y=y: via_sql(z, x, y)))
    etag = client.get(f"/tiles/parcels/{tiles[0][0]}/{tiles[0][1]}/{tiles[0][2]}.pbf")["ETag"]
    not_modified = [
        1000
        * timed(
            lambda: client.get(
                f"/tiles/parcels/{tiles[0][0]}/{tiles[0][1]}/{tiles[0][2]}.pbf", HTTP_IF_NONE_MATCH=etag
            )
        )
        for _ in range(50)
    ]
    return {
        "tiles": len(tiles),
        "mean_kb": statistics.mean(sizes) / 1024,
        "view_p50": pct(view_ms, 50),
        "view_p95": pct(view_ms, 95),
        "sql_p50": pct(sql_ms, 50),
        "sql_p95": pct(sql_ms, 95),
        "304_p50": pct(not_modified, 50),
    }


RASTER_ROUNDS = 7


def bench_raster(client, tiles, repeat: int) -> dict:
    import math

    from django.conf import settings

    from tiles import seeding

    # cold: remove the cached tiles of the set first, then one request each (a 4×4 meta tile is rendered)
    bboxes = []
    for z, x, y in tiles:
        n = 2**z
        lon0, lon1 = x / n * 360 - 180, (x + 1) / n * 360 - 180
        lat1 = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
        lat0 = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / n))))
        bboxes.append((lon0, lat0, lon1, lat1))
    for bbox in bboxes:
        seeding.clean(["parcels"], bbox)
    cold = []
    for z, x, y in tiles:
        url = f"/mapproxy/wmts/parcels/webmercator/{z:02d}/{x}/{y}.png"
        cold.append(1000 * timed(lambda url=url: client.get(url)))
    z, x, y = tiles[0]
    url = f"/mapproxy/wmts/parcels/webmercator/{z:02d}/{x}/{y}.png"
    body = client.get(url).content
    static_dir = Path(settings.STATIC_ROOT) / "bench"
    static_dir.mkdir(parents=True, exist_ok=True)
    (static_dir / "tile.png").write_bytes(body)
    # a fresh client: WhiteNoise indexes STATIC_ROOT when its middleware is built (first request)
    fresh = client_for_bench()
    static_url = f"{settings.STATIC_URL.rstrip('/')}/bench/tile.png"
    if not static_url.startswith("/"):
        static_url = "/" + static_url
    assert fresh.get(static_url).status_code == 200, "static file not served"
    for _ in range(20):
        fresh.get(url)
        fresh.get(static_url)
    # alternating rounds, the best of each (the least disturbed, as timeit reports): a single back-to-back
    # pair of ~0.1 s windows gave 0.25-0.38x for the same code on the shared machine, and even medians of
    # five pairs moved with its load (other processes only ever slow a round down)
    proxy, static, ratios = [], [], []
    for _ in range(RASTER_ROUNDS):
        proxy.append(timed(lambda: [fresh.get(url) for _ in range(repeat)]))
        static.append(
            timed(lambda: [b"".join(fresh.get(static_url).streaming_content) for _ in range(repeat)])
        )
        ratios.append(static[-1] / proxy[-1])
    basic = basic_client()
    assert basic.get(url).status_code == 200  # the password is checked (hashed) once, then remembered
    by_basic = min(timed(lambda: [basic.get(url) for _ in range(repeat)]) for _ in range(RASTER_ROUNDS))
    return {
        "cold_p50": pct(cold, 50),
        "cold_max": max(cold),
        "tile_bytes": len(body),
        "proxy_rps": repeat / min(proxy),
        "static_rps": repeat / min(static),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "basic_rps": repeat / by_basic,
    }


def bench_seed(centre) -> dict:
    from tiles import seeding

    lon, lat = centre
    bbox = (lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02)
    seeding.clean(["parcels"], bbox)
    result = seeding.seed(["parcels"], bbox, levels=(12, 15))
    return {"tiles": result.tiles, "seconds": result.seconds, "rate": result.tiles / result.seconds}


def bench_geojson(client) -> dict:
    from django.db import connection

    from layers import features, registry

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM "
            "(SELECT geom FROM layers_parcel ORDER BY geom <-> "
            "(SELECT ST_SetSRID(ST_Centroid(ST_Extent(geom)::geometry), 4490) "
            "FROM layers_parcel) LIMIT 10000) n) x"
        )
        bbox = cursor.fetchone()
    box = ",".join(f"{v:.7f}" for v in bbox)
    url = f"/api/layers/parcels/features/?bbox={box}&limit=10000"
    client.get(url)
    times, count = [], 0
    for _ in range(3):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        count = response.content.count(b'"type": "Feature"') or response.content.count(b'"Feature"')
    q = features.FeatureQuery(registry.get("parcels"), bbox=tuple(bbox), limit=10000)
    sql_times = [timed(lambda: features.feature_rows(q)) for _ in range(3)]
    return {
        "features": count,
        "seconds": min(times),
        "rate": count / min(times),
        "sql_rate": count / min(sql_times),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--tiles", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    setup_django()
    parcels = ensure_demo(args.scale)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE layers_parcel")
        cursor.execute(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c FROM layers_parcel) x"
        )
        centre = cursor.fetchone()
    client = client_for_bench()
    tiles = sample_tiles(args.tiles)
    print(f"\nOneMap serving benchmark — {parcels} parcels, {len(tiles)} tiles at z13–16\n")

    m = bench_mvt(client, tiles)
    print("1. Vector tiles (parcels), view vs bare ST_AsMVT SQL, same tiles, same run")
    print(
        f"   view  p50 {m['view_p50']:7.1f} ms   p95 {m['view_p95']:7.1f} ms"
        f"   (mean tile {m['mean_kb']:.1f} KiB)"
    )
    print(f"   SQL   p50 {m['sql_p50']:7.1f} ms   p95 {m['sql_p95']:7.1f} ms")
    ratio = m["view_p50"] / m["sql_p50"]
    print(
        f"   ratio view/SQL p50 {ratio:.2f}×  (target ≤ 1.5×: {'PASS' if ratio <= 1.5 else 'FAIL'}); "
        f"p95 {m['view_p95']:.0f} ms (target ≤ 100 ms: {'PASS' if m['view_p95'] <= 100 else 'FAIL'})"
    )
    print(f"   304 revalidation p50 {m['304_p50']:.1f} ms")

    r = bench_raster(client, tiles[:12], args.repeat)
    print("\n2. Raster tiles through Django + MapProxy + MapServer")
    print(f"   cold render (4×4 meta tile) p50 {r['cold_p50']:.0f} ms, max {r['cold_max']:.0f} ms")
    rratio = r["proxy_rps"] / r["static_rps"]
    print(
        f"   cached tile {r['proxy_rps']:.0f} req/s vs static file of the same size ({r['tile_bytes']} B) "
        f"{r['static_rps']:.0f} req/s: ratio {rratio:.2f}× "
        f"(target ≥ 0.3×: {'PASS' if rratio >= 0.3 else 'FAIL'})"
    )
    print(
        f"   (best of {RASTER_ROUNDS} alternating rounds of {args.repeat} requests each; "
        f"per-round ratios {r['ratio_min']:.2f}–{r['ratio_max']:.2f}×)"
    )
    print(f"   cached tile with HTTP basic credentials (QGIS, GDAL) {r['basic_rps']:.0f} req/s")

    s = bench_seed(centre)
    print(
        f"\n3. Seeding (parcels, levels 12–15, both grids): {s['tiles']} tiles in {s['seconds']:.1f} s = "
        f"{s['rate']:.1f} tiles/s"
    )

    g = bench_geojson(client)
    print(
        f"\n4. GeoJSON: {g['features']} features in a bbox in {g['seconds']:.2f} s = "
        f"{g['rate']:,.0f} features/s "
        f"through the API; bare SQL {g['sql_rate']:,.0f} features/s (ratio {g['rate'] / g['sql_rate']:.2f}×)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
