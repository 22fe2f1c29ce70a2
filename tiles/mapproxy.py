"""MapServer mapfile and MapProxy configuration, generated from the layer registry (never kept by hand).

Why generated: a layer's name, title, SQL, style, labels, zoom range and roles live in
:mod:`layers.registry`; a hand-kept ``mapproxy.yaml`` would drift from it. Files are written under
``TILES_DIR/<database>/`` (one folder per database, so test databases never share a cache), the mapfile in
the yaml's own folder (MapServer rejects ``../`` in map paths, STACK.md pitfall 2).

Roles: MapProxy has no notion of users, so each distinct set of visible layers gets its own small yaml
(the same caches, the same folders) and its own MapProxy app; a user's capabilities then list exactly the
layers the user may see, and a request naming another layer is refused before MapProxy sees it.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import threading
from pathlib import Path

import yaml
from django.conf import settings
from django.db import connection

from layers import registry
from layers.registry import Layer

MAPSERV = "/usr/bin/mapserv"
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
GRIDS = ("webmercator", "cgcs2000")
# OGC scale denominator of Web Mercator zoom 0 (0.28 mm pixels); the mapfile uses the same pixel size.
SCALE_Z0 = 559082264.0287178
OGC_DPI = 25.4 / 0.28
# CGCS2000 lon/lat grid laid out like 天地图's "_c" sets: origin top-left at (-180, 90), 256-px tiles,
# level 1 = 0.703125°/px (2 × 1 tiles) halving per level; level 0 (one tile) keeps the numbering equal.
CGCS2000_RES = [1.40625 / 2**level for level in range(21)]
WMS_SRS = ["EPSG:4490", "EPSG:4326", "EPSG:3857", "EPSG:4545", "EPSG:4544", "EPSG:4546", "EPSG:4524"]
_lock = threading.Lock()
_apps: dict[frozenset, object] = {}


def config_dir() -> Path:
    return Path(settings.TILES_DIR) / connection.settings_dict["NAME"]


def cache_name(layer: Layer) -> str:
    return f"{layer.name}_cache"


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return " ".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4))


def _q(text: str) -> str:
    """A MapServer string literal (double quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def zoom_scale(zoom: float) -> float:
    return SCALE_Z0 / 2**zoom


def _mapserver_layer(layer: Layer) -> str:
    kind = {"Point": "POINT", "LineString": "LINE", "MultiLineString": "LINE"}.get(
        layer.geometry_type, "POLYGON"
    )
    style = layer.style
    styles = []
    if style.fill and kind == "POLYGON":
        styles.append(f"STYLE COLOR {_rgb(style.fill)} OPACITY {round(style.fill_opacity * 100)} END")
    if kind == "POINT":
        styles.append(f'STYLE SYMBOL "circle" SIZE 8 COLOR {_rgb(style.fill or style.stroke)} END')
    else:
        styles.append(f"STYLE OUTLINECOLOR {_rgb(style.stroke)} WIDTH {style.stroke_width} END")
    label = ""
    label_item = ""
    if style.label:
        lb = style.label
        label_item = f"LABELITEM {_q(lb.column)}"
        label = (
            f'LABEL TYPE TRUETYPE FONT "wqy" SIZE {lb.size} COLOR {_rgb(lb.color)} '
            f"OUTLINECOLOR {_rgb(lb.halo)} OUTLINEWIDTH 2 POSITION CC PARTIALS FALSE MINDISTANCE 80 "
            f"MAXSCALEDENOM {zoom_scale(lb.min_zoom - 0.5):.0f} END"
        )
    data = f"geom FROM ({layer.source}) AS src USING UNIQUE id USING SRID=4490"
    return f"""
  LAYER
    NAME {_q(layer.name)}
    TYPE {kind}
    STATUS ON
    CONNECTIONTYPE POSTGIS
    CONNECTION ""
    DATA {_q(data)}
    PROJECTION "init=epsg:4490" END
    MAXSCALEDENOM {zoom_scale(layer.min_zoom - 0.5):.0f}
    MINSCALEDENOM {zoom_scale(layer.max_zoom + 0.5):.0f}
    TEMPLATE "query"
    TOLERANCE 3
    TOLERANCEUNITS PIXELS
    {label_item}
    METADATA
      "wms_title" {_q(layer.title_zh)}
      "wms_abstract" {_q(layer.title_en)}
      "wms_srs" "EPSG:4490"
      "wms_include_items" {_q(",".join(layer.columns))}
      "gml_include_items" {_q(",".join(layer.columns))}
      "gml_featureid" "id"
    END
    CLASS
      NAME {_q(layer.title_zh)}
      {" ".join(styles)}
      {label}
    END
  END"""


def mapfile_text(layers: list[Layer]) -> str:
    return f"""# Generated from layers.registry by tiles.mapproxy: do not edit by hand.
MAP
  NAME "onemap"
  EXTENT 105.0 28.0 110.5 32.5
  UNITS DD
  SIZE 256 256
  RESOLUTION {OGC_DPI:.4f}
  DEFRESOLUTION {OGC_DPI:.4f}
  FONTSET "fonts.txt"
  IMAGETYPE "png"
  PROJECTION "init=epsg:4490" END
  OUTPUTFORMAT
    NAME "png"
    DRIVER "AGG/PNG"
    MIMETYPE "image/png"
    IMAGEMODE RGBA
    EXTENSION "png"
    TRANSPARENT ON
  END
  SYMBOL NAME "circle" TYPE ELLIPSE FILLED TRUE POINTS 1 1 END END
  WEB
    METADATA
      "wms_title" "OneMap 一张图"
      "wms_enable_request" "*"
      "wms_srs" "EPSG:4490 EPSG:4326 EPSG:3857"
      "wms_feature_info_mime_type" "text/plain"
      "ows_encoding" "UTF-8"
    END
  END
{"".join(_mapserver_layer(layer) for layer in layers)}
END
"""


def _grid_conf() -> dict:
    return {
        "webmercator": {"base": "GLOBAL_WEBMERCATOR"},
        "cgcs2000": {
            "srs": "EPSG:4490",
            "bbox": [-180, -90, 180, 90],
            "bbox_srs": "EPSG:4490",
            "origin": "ul",
            "res": CGCS2000_RES,
            "tile_size": [256, 256],
        },
    }


def mapproxy_conf(layers: list[Layer], folder: Path) -> dict:
    """The MapProxy configuration for ``layers`` (sources, caches and layers derived from the registry)."""
    sources, caches, wms_layers = {}, {}, []
    for layer in layers:
        sources[f"{layer.name}_ms"] = {
            "type": "mapserver",
            "req": {"layers": layer.name, "map": str(folder / "onemap.map"), "transparent": True},
            "mapserver": {"binary": MAPSERV, "working_dir": str(folder)},
            "supported_srs": ["EPSG:4490", "EPSG:3857", "EPSG:4326"],
            "wms_opts": {"featureinfo": True, "version": "1.1.1", "featureinfo_format": "text/plain"},
        }
        caches[cache_name(layer)] = {
            "grids": list(GRIDS),
            "sources": [f"{layer.name}_ms"],
            "format": "image/png",
            "meta_size": [4, 4],
            "meta_buffer": 40,
        }
        wms_layers.append(
            {
                "name": layer.name,
                "title": f"{layer.title_zh} {layer.title_en}",
                "sources": [cache_name(layer)],
            }
        )
    return {
        "globals": {
            "cache": {
                "base_dir": str(folder / "cache_data"),
                "lock_dir": str(folder / "cache_data" / "locks"),
            },
            "image": {"paletted": False},
        },
        "services": {
            "wms": {
                "srs": WMS_SRS,
                "versions": ["1.1.1", "1.3.0"],
                "image_formats": ["image/png"],
                "featureinfo_types": ["text", "html", "xml"],
                "md": {
                    "title": "OneMap 一张图 WMS",
                    "abstract": "国土房管一张图统一图层 (CGCS2000)",
                    "online_resource": "/mapproxy/service",
                },
            },
            "wmts": {"restful": True, "kvp": True, "md": {"title": "OneMap 一张图 WMTS"}},
            "tms": {"use_grid_names": True},
        },
        "grids": _grid_conf(),
        "sources": sources,
        "caches": caches,
        "layers": wms_layers,
    }


def _write(path: Path, text: str) -> None:
    """Write only when different, atomically (several web workers may start at once)."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_config(layers: list[Layer] | None = None) -> Path:
    """Write mapserver.conf, fonts.txt, onemap.map and mapproxy[-<set>].yaml; returns the yaml's path."""
    folder = config_dir()
    (folder / "cache_data" / "locks").mkdir(parents=True, exist_ok=True)
    everything = registry.all_layers()
    # only mapfiles in this folder may be opened by a request's map= parameter
    pattern = "^" + str(folder).replace(".", "\\.") + "/[a-z]+\\.map$"
    _write(folder / "mapserver.conf", f'CONFIG\n  ENV\n    MS_MAP_PATTERN "{pattern}"\n  END\nEND\n')
    _write(folder / "fonts.txt", f"wqy {FONT}\n")
    _write(folder / "onemap.map", mapfile_text(everything))
    chosen = everything if layers is None else layers
    names = ",".join(sorted(layer.name for layer in chosen))
    suffix = "" if layers is None else "-" + hashlib.sha1(names.encode()).hexdigest()[:10]
    path = folder / f"mapproxy{suffix}.yaml"
    _write(path, yaml.safe_dump(mapproxy_conf(chosen, folder), allow_unicode=True, sort_keys=False))
    return path


def mapserver_environment() -> None:
    """What ``mapserv`` children need (STACK.md pitfalls 1 and 3): its config file and the database, as
    libpq's PG* variables (MapProxy's CGI client passes its environment on)."""
    s = connection.settings_dict
    os.environ["MAPSERVER_CONFIG_FILE"] = str(config_dir() / "mapserver.conf")
    os.environ["PGHOST"] = str(s["HOST"] or "")
    os.environ["PGPORT"] = str(s["PORT"] or "5432")
    os.environ["PGDATABASE"] = s["NAME"]
    os.environ["PGUSER"] = s["USER"] or ""
    os.environ["PGPASSWORD"] = s["PASSWORD"] or ""
    os.environ["PGCLIENTENCODING"] = "UTF8"


def app_for(layers: list[Layer]):
    """The MapProxy WSGI app serving exactly ``layers`` (built once per set and process)."""
    key = frozenset(layer.name for layer in layers)
    with _lock:
        app = _apps.get(key)
        if app is None:
            from mapproxy.wsgiapp import make_wsgi_app

            path = write_config(layers)
            mapserver_environment()
            app = make_wsgi_app(str(path), ignore_config_warnings=False)
            _apps[key] = app
    return app


def load_seed_configuration():
    """MapProxy's configuration objects for all layers (seeding and cleanup use its tile managers)."""
    from mapproxy.config.loader import load_configuration

    path = write_config()
    mapserver_environment()
    return load_configuration(str(path), seed=True)


def reset_cache() -> None:
    """Remove every cached tile of this database (tests start from an empty cache)."""
    shutil.rmtree(config_dir() / "cache_data", ignore_errors=True)
    with _lock:
        _apps.clear()


def level_of_zoom(zoom: int) -> int:
    return max(0, min(20, zoom))


def mercator_zoom_span(layer: Layer) -> range:
    return range(level_of_zoom(layer.min_zoom), level_of_zoom(layer.max_zoom) + 1)


def tiles_in(extent, level_res: float) -> int:
    minx, miny, maxx, maxy = extent
    return math.ceil((maxx - minx) / (256 * level_res) + 1) * math.ceil((maxy - miny) / (256 * level_res) + 1)
