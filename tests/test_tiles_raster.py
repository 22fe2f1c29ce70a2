"""MapProxy + MapServer at /mapproxy/: WMS 1.1.1/1.3.0, WMTS (KVP and REST) and TMS on the Web Mercator
and CGCS2000 grids, with pixels drawn where the data is and none where it is not; capabilities valid
against the OGC schemas and filtered by role; OWSLib and GDAL's WMS/WMTS drivers against a live server."""

from __future__ import annotations

import io
import math
import subprocess
from pathlib import Path

import mapproxy
import pytest
from lxml import etree
from PIL import Image

from tests.serving import PASSWORD, Server, load_served, unload_served
from tiles import mapproxy as tiles_mapproxy

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
SCHEMAS = Path(mapproxy.__file__).parent / "test" / "schemas"  # OGC schemas shipped with MapProxy
PARCELS = (106.5695, 29.5595, 106.5750, 29.5612)  # the five test parcels (lon/lat)
EMPTY = (106.6200, 29.5595, 106.6255, 29.5612)  # same size, 5 km east: nothing there
CENTRE = (106.5705, 29.5602)  # inside parcel 1


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        tiles_mapproxy.reset_cache()
        data = load_served("raster", tmp_path_factory.mktemp("raster"))
        yield data
        unload_served(data)


def get(client, served, url, role="analyst", **params):
    return client.get(url, params, **served.basic(role))


def drawn(png: bytes) -> int:
    """Pixels with any opacity."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    return sum(1 for a in image.getchannel("A").tobytes() if a > 0)


def pixels(png: bytes) -> bytes:
    return Image.open(io.BytesIO(png)).convert("RGBA").tobytes()


def getmap(client, served, version, srs, bbox, role="analyst", layers="parcels"):
    crs_key = "CRS" if version == "1.3.0" else "SRS"
    return get(
        client,
        served,
        "/mapproxy/service",
        role,
        SERVICE="WMS",
        REQUEST="GetMap",
        VERSION=version,
        LAYERS=layers,
        STYLES="",
        FORMAT="image/png",
        TRANSPARENT="true",
        WIDTH="512",
        HEIGHT="256",
        **{crs_key: srs},
        BBOX=",".join(map(str, bbox)),
    )


def mercator(lon, lat):
    x = lon * 20037508.342789244 / 180
    y = math.log(math.tan((90 + lat) * math.pi / 360)) * 6378137
    return x, y


def test_wms_getmap_draws_parcels_where_they_are_and_nothing_elsewhere(client, served):
    # WMS 1.1.1 and 1.3.0 in EPSG:4490 (1.3.0: lat/lon axis order) and EPSG:3857
    for version, bbox_of in [
        ("1.1.1", lambda b: b),
        ("1.3.0", lambda b: (b[1], b[0], b[3], b[2])),
    ]:
        hit = getmap(client, served, version, "EPSG:4490", bbox_of(PARCELS))
        assert hit.status_code == 200 and hit["Content-Type"] == "image/png", hit.content[:300]
        assert drawn(hit.content) > 5000, version
        assert drawn(getmap(client, served, version, "EPSG:4490", bbox_of(EMPTY)).content) == 0
    lo, hi = mercator(*PARCELS[:2]), mercator(*PARCELS[2:])
    web = getmap(client, served, "1.3.0", "EPSG:3857", (*lo, *hi))
    assert drawn(web.content) > 5000


def test_wms_getfeatureinfo_names_the_parcel(client, served):
    response = get(
        client,
        served,
        "/mapproxy/service",
        SERVICE="WMS",
        REQUEST="GetFeatureInfo",
        VERSION="1.1.1",
        LAYERS="parcels",
        QUERY_LAYERS="parcels",
        STYLES="",
        SRS="EPSG:4490",
        BBOX=",".join(map(str, PARCELS)),
        WIDTH="512",
        HEIGHT="256",
        X=str(round((CENTRE[0] - PARCELS[0]) / (PARCELS[2] - PARCELS[0]) * 512)),
        Y=str(round((PARCELS[3] - CENTRE[1]) / (PARCELS[3] - PARCELS[1]) * 256)),
        INFO_FORMAT="text/plain",
        FORMAT="image/png",
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "500103001001GB00001" in text and "500103001001GB00002" not in text


def tile_xy_mercator(lon, lat, z):
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def tile_xy_cgcs2000(lon, lat, level):
    res = 1.40625 / 2**level * 256
    return int((lon + 180) // res), int((90 - lat) // res)


def test_wmts_rest_kvp_and_tms_tiles_on_both_grids(client, served):
    z = 17
    x, y = tile_xy_mercator(*CENTRE, z)
    rest = get(client, served, f"/mapproxy/wmts/parcels/webmercator/{z:02d}/{x}/{y}.png")
    assert rest.status_code == 200 and drawn(rest.content) > 1000
    ex, ey = tile_xy_mercator(EMPTY[0] + 0.002, CENTRE[1], z)
    assert (
        drawn(get(client, served, f"/mapproxy/wmts/parcels/webmercator/{z:02d}/{ex}/{ey}.png").content) == 0
    )
    cx, cy = tile_xy_cgcs2000(*CENTRE, z)
    tianditu = get(client, served, f"/mapproxy/wmts/parcels/cgcs2000/{z:02d}/{cx}/{cy}.png")
    assert tianditu.status_code == 200 and drawn(tianditu.content) > 1000
    kvp = get(
        client,
        served,
        "/mapproxy/service",
        SERVICE="WMTS",
        REQUEST="GetTile",
        VERSION="1.0.0",
        LAYER="parcels",
        STYLE="default",
        TILEMATRIXSET="cgcs2000",
        TILEMATRIX=f"{z:02d}",
        TILEROW=str(cy),
        TILECOL=str(cx),
        FORMAT="image/png",
    )
    assert kvp.status_code == 200 and kvp.content == tianditu.content
    # TMS counts rows from the south, and MapProxy's global-mercator TMS profile starts one level lower
    tms = get(client, served, f"/mapproxy/tms/1.0.0/parcels/webmercator/{z - 1}/{x}/{2**z - 1 - y}.png")
    assert tms.status_code == 200 and pixels(tms.content) == pixels(rest.content)


def validate(xml: bytes, schema: str) -> None:
    doc = etree.fromstring(xml)
    xsd = etree.XMLSchema(etree.parse(str(SCHEMAS / schema)))
    assert xsd.validate(doc), xsd.error_log.filter_from_errors()


def test_capabilities_validate_and_list_only_the_users_layers(client, served):
    wms13 = get(
        client, served, "/mapproxy/service", SERVICE="WMS", REQUEST="GetCapabilities", VERSION="1.3.0"
    )
    validate(wms13.content, "wms/1.3.0/capabilities_1_3_0.xsd")
    wmts = get(client, served, "/mapproxy/wmts/1.0.0/WMTSCapabilities.xml")
    validate(wmts.content, "wmts/1.0/wmtsGetCapabilities_response.xsd")
    wms11 = get(
        client, served, "/mapproxy/service", SERVICE="WMS", REQUEST="GetCapabilities", VERSION="1.1.1"
    )
    dtd = etree.DTD(str(SCHEMAS / "wms/1.1.1/WMS_MS_Capabilities.dtd"))
    assert dtd.validate(etree.fromstring(wms11.content)), dtd.error_log.filter_from_errors()
    for response in (wms13, wmts, wms11):
        assert b"parcels" in response.content and b"etl_quarantine" not in response.content
    operator = get(client, served, "/mapproxy/wmts/1.0.0/WMTSCapabilities.xml", "operator")
    assert b"etl_quarantine" in operator.content
    validate(operator.content, "wmts/1.0/wmtsGetCapabilities_response.xsd")


@pytest.mark.parametrize(
    "url",
    [
        "/mapproxy/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=parcels,etl_quarantine&SRS=EPSG:4490"
        "&BBOX=106,29,107,30&WIDTH=10&HEIGHT=10&FORMAT=image/png&STYLES=",
        "/mapproxy/service?SERVICE=WMS&REQUEST=GetFeatureInfo&VERSION=1.1.1&LAYERS=parcels"
        "&QUERY_LAYERS=etl_quarantine&SRS=EPSG:4490&BBOX=106,29,107,30&WIDTH=10&HEIGHT=10&X=1&Y=1",
        "/mapproxy/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=etl_quarantine&STYLE=default"
        "&TILEMATRIXSET=webmercator&TILEMATRIX=10&TILEROW=1&TILECOL=1&FORMAT=image/png",
        "/mapproxy/wmts/etl_quarantine/webmercator/10/1/1.png",
        "/mapproxy/tms/1.0.0/etl_quarantine/webmercator/10/1/1.png",
    ],
)
def test_a_layer_of_another_role_is_403_in_every_raster_service(client, served, url):
    assert client.get(url, **served.basic("analyst")).status_code == 403
    assert client.get(url).status_code == 401
    assert client.get(url, **served.basic("operator")).status_code == 200


@pytest.fixture(scope="module")
def server(served):
    process = Server()
    yield process
    process.stop()


def test_owslib_wms_130_and_wmts_on_both_grids(served, server):
    from owslib.wms import WebMapService
    from owslib.wmts import WebMapTileService

    auth = {"username": served.user("analyst"), "password": PASSWORD}
    wms = WebMapService(f"{server.url}/mapproxy/service", version="1.3.0", **auth)
    assert {"parcels", "buildings", "permits", "landsupply", "counties"} <= set(wms.contents)
    assert "etl_quarantine" not in wms.contents
    assert "EPSG:4490" in wms["parcels"].crsOptions
    for srs, bbox in [
        ("EPSG:4490", PARCELS),  # OWSLib swaps to lat/lon for 1.3.0 itself
        ("EPSG:3857", (*mercator(*PARCELS[:2]), *mercator(*PARCELS[2:]))),
    ]:
        image = wms.getmap(
            layers=["parcels"], srs=srs, bbox=bbox, size=(512, 256), format="image/png", transparent=True
        )
        assert drawn(image.read()) > 5000, srs
    wmts = WebMapTileService(f"{server.url}/mapproxy/wmts/1.0.0/WMTSCapabilities.xml", **auth)
    assert set(wmts.tilematrixsets) == {"webmercator", "cgcs2000"}
    assert "etl_quarantine" not in wmts.contents
    x, y = tile_xy_mercator(*CENTRE, 16)
    tile = wmts.gettile(
        layer="parcels", tilematrixset="webmercator", tilematrix="16", row=y, column=x, format="image/png"
    )
    assert drawn(tile.read()) > 500
    cx, cy = tile_xy_cgcs2000(*CENTRE, 16)
    tile = wmts.gettile(
        layer="parcels", tilematrixset="cgcs2000", tilematrix="16", row=cy, column=cx, format="image/png"
    )
    assert drawn(tile.read()) > 500


def test_gdal_wms_and_wmts_drivers(served, server, tmp_path):
    auth = [
        "--config",
        "GDAL_HTTP_AUTH",
        "BASIC",
        "--config",
        "GDAL_HTTP_USERPWD",
        f"{served.user('analyst')}:{PASSWORD}",
        "--config",
        "GDAL_DEFAULT_WMS_CACHE_PATH",
        str(tmp_path / "gdalwmscache"),  # not the working directory
    ]
    url = (
        f"WMS:{server.url}/mapproxy/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=parcels&SRS=EPSG:4490"
        f"&BBOX={','.join(map(str, PARCELS))}&FORMAT=image/png&TRANSPARENT=TRUE"
    )
    out = tmp_path / "wms.tif"
    result = subprocess.run(
        ["gdal_translate", "-q", "-outsize", "512", "256", url, str(out), *auth],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert drawn(_png_of(out)) > 5000
    wmts_out = tmp_path / "wmts.tif"
    lo, hi = mercator(*PARCELS[:2]), mercator(*PARCELS[2:])
    result = subprocess.run(
        [
            "gdal_translate",
            "-q",
            "-projwin",
            str(lo[0]),
            str(hi[1]),
            str(hi[0]),
            str(lo[1]),
            "-oo",
            "TILEMATRIXSET=webmercator",
            "-oo",
            "ZOOM_LEVEL=17",
            f"WMTS:{server.url}/mapproxy/wmts/1.0.0/WMTSCapabilities.xml,layer=parcels",
            str(wmts_out),
            *auth,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert drawn(_png_of(wmts_out)) > 2000


def _png_of(tif: Path) -> bytes:
    png = tif.with_suffix(".png")
    subprocess.run(["gdal_translate", "-q", "-of", "PNG", str(tif), str(png)], check=True, timeout=60)
    return png.read_bytes()


def test_a_cached_tile_is_served_from_its_file_after_the_role_check_and_a_cleaned_one_is_rendered(
    client, served
):
    """The file-cache fast path: the bytes are the file's (replaced here by a marker image, so they cannot
    come from MapProxy), the TMS URL of the same tile reads the same file, validators come from the file,
    a layer of another role stays 403 even with its tile on disk, and a removed file falls through."""
    from tiles.mapproxy_views import cached_tile_path

    z = 16
    x, y = tile_xy_mercator(*CENTRE, z)
    url = f"/mapproxy/wmts/parcels/webmercator/{z:02d}/{x}/{y}.png"
    rendered = get(client, served, url)
    assert rendered.status_code == 200 and drawn(rendered.content) > 1000
    app = tiles_mapproxy.app_for(tiles_mapproxy.registry.all_layers())
    environ = {"PATH_INFO": url.removeprefix("/mapproxy"), "QUERY_STRING": "", "REQUEST_METHOD": "GET"}
    environ.update({"wsgi.url_scheme": "http", "SERVER_NAME": "t", "SERVER_PORT": "80", "HTTP_HOST": "t"})
    location = Path(cached_tile_path(app, url.removeprefix("/mapproxy/"), environ))
    assert location.is_file() and tiles_mapproxy.config_dir() in location.parents
    marker = io.BytesIO()
    Image.new("RGBA", (256, 256), (255, 0, 0, 255)).save(marker, "PNG")
    location.write_bytes(marker.getvalue())
    cached = get(client, served, url)
    assert cached.status_code == 200 and cached["Content-Type"] == "image/png"
    assert cached.content == marker.getvalue() and cached["Last-Modified"] and cached["ETag"]
    tms = get(client, served, f"/mapproxy/tms/1.0.0/parcels/webmercator/{z - 1}/{x}/{2**z - 1 - y}.png")
    assert tms.content == marker.getvalue()
    again = client.get(url, HTTP_IF_NONE_MATCH=cached["ETag"], **served.basic("analyst"))
    assert again.status_code == 304 and again.content == b""
    # the quarantine's tile on disk does not open it to an analyst
    quarantine = url.replace("/parcels/", "/etl_quarantine/")
    assert get(client, served, quarantine, "operator").status_code == 200
    assert get(client, served, quarantine).status_code == 403
    # the re-seed job's clean-up removes the file: the next request renders the data again
    location.unlink()
    fresh = get(client, served, url)
    assert fresh.status_code == 200 and pixels(fresh.content) == pixels(rendered.content)
    assert location.is_file() and fresh["ETag"] != cached["ETag"]
