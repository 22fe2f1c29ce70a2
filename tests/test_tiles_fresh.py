"""Tiles never stale: a load's changed extent is cleaned and re-seeded by a real worker job, and the next
tile over a changed parcel shows it; ``tiles_seed`` fills caches with a progress bar."""

from __future__ import annotations

import io
import math

import pytest
from django.core.management import call_command
from PIL import Image

from etl.models import LoadRun
from etl.runner import run_load
from tests.etl_files import building_rows, gk_square, parcel_rows, write_registration
from tests.serving import load_served, run_worker_once, unload_served
from tiles import mapproxy

# No test transaction here: a load commits and announces itself on commit, as in production, so every test
# body runs in autocommit (django_db_blocker) against the module's committed data.
pytestmark = [pytest.mark.slow]
NEW_INDEX = 12  # the new parcel sits 12 squares east of the first: ≈ 840 m, on tiles of its own


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        mapproxy.reset_cache()
        data = load_served("fresh", tmp_path_factory.mktemp("fresh"))
        yield data
        unload_served(data)


def drawn(png: bytes) -> int:
    return sum(1 for a in Image.open(io.BytesIO(png)).convert("RGBA").getchannel("A").tobytes() if a)


def tile_xy(lon, lat, z):
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def new_parcel_centre() -> tuple[float, float]:
    from tests.etl_files import TO_4545

    c = gk_square(NEW_INDEX).centroid
    return TO_4545.transform(c.x, c.y, direction="INVERSE")


def test_a_changed_parcel_shows_in_the_next_tile_after_the_reseed_job(client, served, django_db_blocker):
    with django_db_blocker.unblock():
        changed_parcel_shows(client, served)


def changed_parcel_shows(client, served):
    lon, lat = new_parcel_centre()
    urls, before = {}, {}
    for z in (14, 17):  # z14: the old parcels share the tile; z17: a tile of its own
        x, y = tile_xy(lon, lat, z)
        urls[z] = f"/mapproxy/wmts/parcels/webmercator/{z:02d}/{x}/{y}.png"
        before[z] = drawn(client.get(urls[z], **served.basic("analyst")).content)  # now cached
    assert before[17] == 0
    x, y = tile_xy(lon, lat, 17)
    mvt_url = f"/tiles/parcels/17/{x}/{y}.pbf"
    etag = client.get(mvt_url, **served.basic("analyst"))["ETag"]

    parcels = parcel_rows(5)
    new = dict(parcels[0], ZDDM="500103001001GB00077", BDCDYH="500103001001GB00077W00000000", BSM=77)
    new["geometry"] = gk_square(NEW_INDEX)
    folder = write_registration(served.folder / "registration2", [*parcels, new], building_rows(parcels))
    run = run_load("registration", folder)
    assert run.status == "completed" and run.counts["added"] == 1
    assert run.changed_extent.contains(run.changed_extent.centroid)

    # the vector tile's ETag moved on at once; the raster cache is stale until the job has run
    changed = client.get(mvt_url, **served.basic("analyst"), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.content
    assert drawn(client.get(urls[17], **served.basic("analyst")).content) == 0

    result = run_worker_once("tiles")
    assert result.returncode == 0, result.stderr
    assert drawn(client.get(urls[14], **served.basic("analyst")).content) > before[14]  # re-seeded level
    assert drawn(client.get(urls[17], **served.basic("analyst")).content) > 500  # cleaned, rendered on demand
    assert LoadRun.objects.filter(pk=run.pk).exists()


def test_tiles_seed_fills_the_cache_with_a_progress_bar(served, capsys, django_db_blocker):
    with django_db_blocker.unblock():
        seed_with_progress(capsys)


def seed_with_progress(capsys):
    bbox = "106.5695,29.5595,106.5750,29.5612"
    call_command("tiles_seed", "--layer", "buildings", "--levels", "13-15", "--bbox", bbox)
    out, err = capsys.readouterr()
    assert "seeded" in out and "tiles/s" in out
    assert "buildings" in err and "tile" in err  # the tqdm bar
    seeded = int(out.split("seeded ")[1].split()[0])
    assert seeded > 0
    folder = mapproxy.config_dir() / "cache_data" / "buildings_cache_EPSG3857"
    files = list(folder.rglob("*.png")) if folder.exists() else []
    assert files or list((mapproxy.config_dir() / "cache_data").glob("buildings_cache*"))
    with pytest.raises(Exception, match="unknown layer"):
        call_command("tiles_seed", "--layer", "nope")
    with pytest.raises(Exception, match="--levels"):
        call_command("tiles_seed", "--levels", "9-x")
