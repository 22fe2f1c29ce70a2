"""Demo exports generator: what Chongqing's business systems would really hand over, with an answer key.

``generate(out_dir, scale=1, seed=1)`` writes a registration shapefile pair (ZDJBXX parcels, ZRZ
buildings), a planning-permit GeoPackage, a land-supply CSV and the county boundaries, all placed on a
street grid around 渝中区 and growing outward with ``scale``, plus ``manifest.json`` listing every planted
defect and every legal look-alike ("control"). Same seed and scale → identical attributes, geometries
and manifest. See ``docs/demo-exports.md`` for the formats and the exact definition of every defect.

Why synthetic: real registration data is confidential; the ETL and the cross-system checks need data
that looks and breaks like the real thing, with a known list of what is wrong.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from . import defects_records, defects_registration, finalize, records, refdata, registration, writers
from . import manifest as manifest_mod
from .attributes import Namer
from .grid import CENTRE_LAT, CENTRE_LON, make_frame, make_street_grid
from .plan import make_plan

__all__ = ["generate"]

_STAGES = (
    "street grid",
    "blocks",
    "parcels & buildings",
    "registration defects",
    "permits & supply",
    "record defects",
    "coordinates",
    "write files",
    "manifest",
)


def generate(out_dir: Path, *, scale: float = 1.0, seed: int = 1, progress: bool = False) -> dict[str, Any]:
    """Write the demo exports under ``out_dir`` and return the manifest (also written as manifest.json).

    ``scale`` 1 ≈ 20 000 parcels, 40 000 buildings, 3 000 permits, 1 500 supply records; tiny scales still
    plant at least two of every defect kind (the generator adds blocks so each defect has its own).
    ``progress`` shows a stage bar on stderr.
    """
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, not {scale!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    scale = float(scale)
    out_dir = Path(out_dir)
    bar = tqdm(total=len(_STAGES), desc="demo_data", unit="stage", file=sys.stderr, disable=not progress)

    def step(done: str) -> None:
        bar.update(1)
        if bar.n < len(_STAGES):
            bar.set_postfix_str(_STAGES[bar.n])

    bar.set_postfix_str(_STAGES[0])
    ref = refdata.load()
    grid_rng = np.random.default_rng([seed, 0])  # the street grid does not depend on the scale
    frame = make_frame(grid_rng)
    grid = make_street_grid(grid_rng)
    step(_STAGES[0])
    rng = np.random.default_rng([seed, 1])
    plan = make_plan(grid, frame, ref, scale, rng)
    step(_STAGES[1])
    reg = registration.build(plan, ref, rng, Namer(rng))
    step(_STAGES[2])
    entries = defects_registration.apply(plan, reg, ref, rng)
    step(_STAGES[3])
    permits, supply = records.build_clean(plan, reg, ref, rng)
    step(_STAGES[4])
    rec_entries, rec_defects = defects_records.apply_local(plan, reg, permits, supply, ref, rng)
    entries += rec_entries
    step(_STAGES[5])

    parcel_gk = finalize.to_gk(frame, reg.parcels.geom)
    building_gk = finalize.to_gk(frame, reg.buildings.geom)
    permit_gk = finalize.to_gk(frame, permits.geom)
    supply_gk = finalize.to_gk(frame, supply.geom)
    permit_final = finalize.permits_to_4524(permit_gk)
    supply_final = finalize.supply_to_2381(supply_gk)
    rec_defects.apply_crs(permit_final, supply_final, permit_gk, supply_gk)
    step(_STAGES[6])

    p_order = finalize.parcel_order(reg.parcels)
    p_row = np.empty(len(p_order), dtype=int)
    p_row[p_order] = np.arange(1, len(p_order) + 1)
    b_order = finalize.building_order(reg.buildings, p_row)
    pm_order = finalize.date_order(permits)
    s_order = finalize.date_order(supply)
    finalize.number_permits(permits, pm_order, rng)
    finalize.number_supply(supply, s_order, ref, rng)
    for table, order in ((reg.parcels, p_order), (reg.buildings, b_order)):
        for row, i in enumerate(order, 1):
            table.cols["BSM"][i] = row

    out_dir.mkdir(parents=True, exist_ok=True)
    writers.write_shapefile(
        out_dir / "registration/ZDJBXX.shp", reg.parcels, p_order, parcel_gk, writers.ZDJBXX_TYPES
    )
    writers.write_shapefile(
        out_dir / "registration/ZRZ.shp", reg.buildings, b_order, building_gk, writers.ZRZ_TYPES
    )
    writers.write_geopackage(out_dir / "planning/permits.gpkg", permits, pm_order, permit_final)
    writers.write_csv(out_dir / "landsupply/supply.csv", supply, s_order, supply_final)
    writers.write_counties(
        out_dir / "boundaries/counties.geojson", ref.county_codes, ref.county_names, ref.county_geoms
    )
    step(_STAGES[7])

    tables = {
        "parcels": (reg.parcels, p_order),
        "buildings": (reg.buildings, b_order),
        "permits": (permits, pm_order),
        "supply": (supply, s_order),
    }
    rows = {}
    for name, (_table, order) in tables.items():
        r = np.empty(len(order), dtype=int)
        r[order] = np.arange(1, len(order) + 1)
        rows[name] = r

    def resolve(table: str, index: int) -> tuple[int, str]:
        t = tables[table][0]
        key = {
            "parcels": lambda i: t.cols["ZDDM"][i],
            "buildings": lambda i: f"{t.cols['BDCDYH'][i]}/{t.cols['ZRZH'][i]}",
            "permits": lambda i: t.cols["许可证号"][i],
            "supply": lambda i: t.cols["合同编号"][i],
        }[table](index)
        return int(rows[table][index]), str(key)

    manifest = manifest_mod.build(
        seed=seed,
        scale=scale,
        systems=_systems({name: len(t) for name, (t, _o) in tables.items()}, tables),
        defects=[e for e in entries if not e.slot.control],
        controls=[e for e in entries if e.slot.control],
        resolve=resolve,
        notes=_notes(plan, frame, reg, supply),
    )
    manifest_mod.write(out_dir / "manifest.json", manifest)
    step(_STAGES[8])
    bar.close()
    return manifest


def _systems(counts: dict[str, int], tables: dict) -> dict[str, Any]:
    def fields(name: str) -> list[str]:
        return list(tables[name][0].fields)

    shp = {
        "format": "ESRI Shapefile",
        "geometry_type": "Polygon",
        "crs": "EPSG:4545",
        "axis_order": "easting,northing",
        "encoding": "GBK",
        "cpg": False,
        "dbf_language_driver": 0,
    }
    return {
        "registration": {
            "name_zh": "不动产登记",
            "files": [
                {
                    "path": "registration/ZDJBXX.shp",
                    "layer": "ZDJBXX",
                    **shp,
                    "rows": counts["parcels"],
                    "key": "ZDDM",
                    "fields": fields("parcels"),
                },
                {
                    "path": "registration/ZRZ.shp",
                    "layer": "ZRZ",
                    **shp,
                    "rows": counts["buildings"],
                    "key": "BDCDYH/ZRZH",
                    "fields": fields("buildings"),
                },
            ],
        },
        "planning": {
            "name_zh": "规划许可",
            "files": [
                {
                    "path": "planning/permits.gpkg",
                    "layer": "ghxk",
                    "format": "GPKG",
                    "gpkg_version": "1.2",
                    "geometry_type": "MultiPolygon",
                    "crs": "EPSG:4524",
                    "axis_order": "easting,northing",
                    "encoding": "UTF-8",
                    "rows": counts["permits"],
                    "key": "许可证号",
                    "fields": fields("permits"),
                },
            ],
        },
        "landsupply": {
            "name_zh": "土地供应",
            "files": [
                {
                    "path": "landsupply/supply.csv",
                    "layer": "supply",
                    "format": "CSV",
                    "geometry_type": "Polygon",
                    "crs": "EPSG:2381",
                    "axis_order": "easting,northing",
                    "encoding": "GBK",
                    "geometry_fields": {"wkt": "范围WKT", "x": "中心X", "y": "中心Y"},
                    "area_unit": "亩",
                    "date_formats": ["2016-3-1", "2016年3月1日", "20160301", "2016/03/01"],
                    "rows": counts["supply"],
                    "key": "合同编号",
                    "fields": fields("supply"),
                },
            ],
        },
        "boundaries": {
            "name_zh": "行政区划",
            "files": [
                {
                    "path": "boundaries/counties.geojson",
                    "layer": "counties",
                    "format": "GeoJSON",
                    "geometry_type": "MultiPolygon",
                    "crs": "EPSG:4490",
                    "axis_order": "lon,lat",
                    "encoding": "UTF-8",
                    "rows": 38,
                    "key": "adcode",
                    "fields": ["adcode", "name"],
                },
            ],
        },
    }


def _notes(plan, frame, reg, supply) -> dict[str, Any]:
    """Realistic noise that is *not* a defect, counted so the docs' claims can be checked."""
    defect_empty = {s.block for s in plan.slots if s.spec.block == "empty"}
    kinds = Counter(reg.parcels.meta["kind"])
    return {
        "centre": {"lon": CENTRE_LON, "lat": CENTRE_LAT},
        "grid_rotation_deg": round(math.degrees(frame.theta), 3),
        "blocks": int(len(plan.blocks)),
        "reserve_blocks_empty": int(plan.empty.sum() - len(defect_empty)),
        "parcels_without_buildings": int(sum(1 for v in reg.parcels.meta["vacant"] if v)),
        "collective_parcels": kinds.get("collective", 0),
        "undetermined_parcels": kinds.get("undetermined", 0),
        "layered_parcels": kinds.get("layered", 0),
        "supply_without_actual_start": sum(1 for v in supply.cols["实际开工日期"] if v == ""),
        "supply_date_formats": {
            label: sum(1 for f in supply.meta["datefmt"] if f == k)
            for k, label in enumerate(("2016-3-1", "2016年3月1日", "20160301", "2016/03/01"))
        },
    }
