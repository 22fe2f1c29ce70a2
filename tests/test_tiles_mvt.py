"""Vector tiles from PostGIS: decoded and compared with the database, per-zoom attributes, ETag/304, roles."""

from __future__ import annotations

import json
import math
import subprocess

import mapbox_vector_tile
import pytest
from django.db import connection

from tests.serving import PASSWORD, Served, Server, load_served, unload_served
from tiles.services import layers_bump

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        data = load_served("mvt", tmp_path_factory.mktemp("mvt"))
        yield data
        unload_served(data)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def db_keys_in_tile(table: str, column: str, z: int, x: int, y: int) -> set[str]:
    """Keys of the rows within the tile plus its 64/4096 buffer (what a tile carries for seamless edges)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {table} WHERE ST_Intersects(ST_Transform(geom, 3857), "
            "ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096))",
            [z, x, y],
        )
        return {r[0] for r in cursor.fetchall()}


def get_tile(client, served: Served, layer: str, z: int, x: int, y: int, role="analyst", **headers):
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", **served.basic(role), **headers)


def test_a_tile_decodes_to_the_parcels_in_it_with_the_attributes_of_its_zoom(client, served):
    z = 17
    x, y = tile_of(106.5705, 29.5602, z)
    response = get_tile(client, served, "parcels", z, x, y)
    assert response.status_code == 200 and response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.content)
    features = decoded["parcels"]["features"]
    expected = db_keys_in_tile("layers_parcel", "zddm", z, x, y)
    assert expected and {f["properties"]["zddm"] for f in features} == expected
    first = features[0]["properties"]
    assert (
        first["zl"].startswith("渝中区民权路") and first["zdmj"] == 2500.0 and first["djsj"] == "2016-03-01"
    )
    assert decoded["parcels"]["extent"] == 4096
    # each feature's id is the database id, and its geometry is a polygon inside the tile's buffer
    ids = {f["id"] for f in features}
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM layers_parcel WHERE zddm = ANY(%s)", [list(expected)])
        assert ids == {r[0] for r in cursor.fetchall()}
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)


def test_small_scale_tiles_carry_fewer_attributes_and_nothing_below_the_layer_zoom(client, served):
    x, y = tile_of(106.5705, 29.5602, 12)
    props = mapbox_vector_tile.decode(get_tile(client, served, "parcels", 12, x, y).content)["parcels"]
    assert set(props["features"][0]["properties"]) == {"yt", "zt"}
    x, y = tile_of(106.5705, 29.5602, 8)
    assert get_tile(client, served, "parcels", 8, x, y).content == b""
    counties = mapbox_vector_tile.decode(get_tile(client, served, "counties", 8, x, y).content)
    assert "渝中区" in {f["properties"]["name"] for f in counties["counties"]["features"]}


def test_etag_answers_304_until_the_layer_data_version_moves_on(client, served):
    x, y = tile_of(106.5705, 29.5602, 16)
    first = get_tile(client, served, "buildings", 16, x, y)
    etag = first["ETag"]
    assert first.status_code == 200 and first.content and "no-cache" in first["Cache-Control"]
    again = get_tile(client, served, "buildings", 16, x, y, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    layers_bump(names=["buildings"])
    changed = get_tile(client, served, "buildings", 16, x, y, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag and changed.content == first.content


def test_access_anonymous_401_other_role_403_unknown_404_token_ok(client, served):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    x, y = tile_of(106.5705, 29.5602, 16)
    anonymous = client.get(f"/tiles/parcels/16/{x}/{y}.pbf")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Basic")
    assert get_tile(client, served, "etl_quarantine", 16, x, y, role="analyst").status_code == 403
    quarantine = get_tile(client, served, "etl_quarantine", 16, x, y, role="operator")
    assert quarantine.status_code == 200
    assert get_tile(client, served, "nope", 16, x, y).status_code == 404
    assert get_tile(client, served, "parcels", 3, 99, 0).status_code == 404
    token = Token.objects.create(user=get_user_model().objects.get(username=served.user("supervisor")))
    by_token = client.get(f"/tiles/parcels/16/{x}/{y}.pbf", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert by_token.status_code == 200 and by_token.content
    client.login(username=served.user("analyst"), password="pw-for-serving-1")
    assert client.get(f"/tiles/parcels/16/{x}/{y}.pbf").status_code == 200


def test_a_tile_request_runs_one_query_and_a_role_change_takes_effect_at_once(client, served):
    """Session user and roles are remembered per process for seconds, the data version comes with the
    tile: a session's tile is one statement. Taking the role away (or logging out) is not remembered."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test.utils import CaptureQueriesContext

    x, y = tile_of(106.5705, 29.5602, 16)
    url = f"/tiles/parcels/16/{x}/{y}.pbf"
    user = get_user_model().objects.get(username=served.user("analyst"))
    client.force_login(user)
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200 and mapbox_vector_tile.decode(response.content)["parcels"]["features"]
    assert len(queries.captured_queries) == 1, [q["sql"][:80] for q in queries.captured_queries]
    assert "ST_AsMVT" in queries[0]["sql"] and "tiles_layerversion" in queries[0]["sql"]
    analyst = Group.objects.get(name="analyst")
    user.groups.remove(analyst)
    try:
        assert client.get(url).status_code == 403
    finally:
        user.groups.add(analyst)
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 401


@pytest.fixture(scope="module")
def server(served):
    process = Server()
    yield process
    process.stop()


def test_gdal_mvt_driver_reads_a_tile_over_http_georeferenced_with_its_attributes(served, server, tmp_path):
    """What QGIS and ogr2ogr see: GDAL's MVT driver opens the tile URL (z/x/y in the path georeference it)."""
    z = 17
    x, y = tile_of(106.5705, 29.5602, z)
    out = tmp_path / "tile.geojson"
    result = subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "GeoJSON",
            str(out),
            f"MVT:/vsicurl/{server.url}/tiles/parcels/{z}/{x}/{y}.pbf",
            "parcels",
            "-oo",
            "CLIP=NO",  # keep what lies in the tile's buffer too (GDAL clips to the tile by default)
            "--config",
            "GDAL_HTTP_AUTH",
            "BASIC",
            "--config",
            "GDAL_HTTP_USERPWD",
            f"{served.user('analyst')}:{PASSWORD}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert "3857" in data["crs"]["properties"]["name"]
    zddm = {f["properties"]["zddm"] for f in data["features"]}
    assert zddm == db_keys_in_tile("layers_parcel", "zddm", z, x, y)
    # georeferenced: every vertex lies in the tile (plus its 64/4096 buffer), in Web Mercator metres
    size = 40075016.685578488 / 2**z
    west, north = -20037508.342789244 + x * size, 20037508.342789244 - y * size
    margin = size * 64 / 4096 + 1e-6
    points = []
    for feature in data["features"]:
        coords = feature["geometry"]["coordinates"]
        polygons = [coords] if feature["geometry"]["type"] == "Polygon" else coords
        points += [p for polygon in polygons for ring in polygon for p in ring]
    assert points
    assert all(west - margin <= px <= west + size + margin for px, _ in points)
    assert all(north - size - margin <= py <= north + margin for _, py in points)


def test_projecting_cgcs2000_as_wgs84_gives_the_same_web_mercator_coordinates():
    """The tile query projects lon/lat as WGS 84 (much cheaper in PROJ); that is only right while PROJ
    treats CGCS2000 → WGS 84 as a null transformation. Checked across Chongqing and at China's corners."""
    from layers.geodesy import NULL_DATUM_SRID

    points = [(105.29, 28.16), (106.55, 29.56), (110.19, 32.2), (73.5, 18.2), (135.0, 53.5)]
    with connection.cursor() as cursor:
        for lon, lat in points:
            cursor.execute(
                "SELECT ST_Distance(ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4490), 3857), "
                f"ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), {NULL_DATUM_SRID}), 3857))",
                [lon, lat, lon, lat],
            )
            assert cursor.fetchone()[0] < 1e-6, (lon, lat)
