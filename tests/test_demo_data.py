"""The demo exports generator (etl.demo): formats, determinism, and an independent check of every planted
defect, every control and the cleanliness of all other rows, read back from the files themselves."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import CRS, Transformer

from etl.demo import generate
from layers.geodesy import gcj02_to_wgs84

try:  # the layer validators (may land later than this generator)
    from layers.codes import errors as code_errors
    from layers.codes import validate_bdcdyh, validate_zddm
except ImportError:  # pragma: no cover
    validate_zddm = validate_bdcdyh = code_errors = None

SCALE, SEED = 0.03, 7
DATA = Path(__file__).resolve().parents[1] / "layers" / "data"
MU = 666.67
LL_TO_GK = Transformer.from_crs(4490, 4545, always_xy=True)
GK_TO_LL = Transformer.from_crs(4545, 4490, always_xy=True)
X80_TO_LL = Transformer.from_crs(2381, 4490, always_xy=True)
KINDS = [
    "zddm_invalid",
    "zddm_duplicate",
    "zddm_missing",
    "bdcdyh_invalid",
    "landuse_unknown",
    "landuse_ambiguous",
    "axes_swapped",
    "zone_prefix_missing",
    "gcj02_shift",
    "geometry_invalid",
    "geometry_null",
    "outside_jurisdiction",
    "date_invalid",
    "area_unit_mismatch",
    "building_outside_parcel",
    "building_across_parcels",
    "bdcdyh_parcel_mismatch",
    "building_zddm_unknown",
    "parcel_overlap",
    "parcel_area_mismatch",
    "zddm_county_mismatch",
    "permit_without_parcel",
    "permit_holder_conflict",
    "permit_landuse_conflict",
    "supply_without_parcel",
    "supply_zddm_mismatch",
]
SUPPLY_HEADER = [
    "序号",
    "合同编号",
    "宗地代码",
    "项目名称",
    "受让人",
    "坐落",
    "行政区",
    "供地方式",
    "土地用途",
    "面积（亩）",
    "成交价款（万元）",
    "签订日期",
    "约定开工日期",
    "约定竣工日期",
    "实际开工日期",
    "实际竣工日期",
    "计划投资（万元）",
    "已完成投资（万元）",
    "中心X",
    "中心Y",
    "范围WKT",
]


def _csv(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


COUNTY_ROWS = _csv("gbt2260_chongqing.csv")
CURRENT_COUNTIES = {r["code"] for r in COUNTY_ROWS}
ALL_COUNTIES = CURRENT_COUNTIES | {
    p.split()[0] for r in COUNTY_ROWS for p in r["predecessors"].split(";") if p.strip()
}
CLASSES = {r["code"]: r["name"] for r in _csv("gbt21010_2017.csv") if r["level"] == "2"}
CROSSWALK: dict[str, list[str]] = {}
NAMES_2007 = set()
for _r in _csv("gbt21010_2007_to_2017.csv"):
    CROSSWALK.setdefault(_r["code_2007"], []).append(_r["code_2017"])
    NAMES_2007.add(_r["name_2007"])
MOVED_KINDS = {"gcj02_shift", "axes_swapped", "zone_prefix_missing", "outside_jurisdiction"}
ZDDM_RE = re.compile(r"^\d{6}(?!000)\d{3}(?!000)\d{3}[GJZ][ABSXCDEFHGWY](?!00000)\d{5}$")
DATE_RES = [
    re.compile(p)
    for p in (
        r"^(\d{4})-(\d{1,2})-(\d{1,2})$",
        r"^(\d{4})年(\d{1,2})月(\d{1,2})日$",
        r"^(\d{4})(\d{2})(\d{2})$",
        r"^(\d{4})/(\d{2})/(\d{2})$",
    )
]


def well_formed_zddm(code) -> bool:
    """Our own structural rule (GB/T 37346): 19 chars, real county, letters at 13-14, sequence ≠ 0."""
    if not isinstance(code, str) or not ZDDM_RE.match(code) or code[:6] not in ALL_COUNTIES:
        return False
    return not (code[13] in "AC" and code[12] != "J")


def well_formed_bdcdyh(code) -> bool:
    if not isinstance(code, str) or len(code) != 28 or not well_formed_zddm(code[:19]):
        return False
    fixture, unit = code[19], code[20:]
    if fixture not in "FLQW" or not unit.isdigit():
        return False
    return not ((fixture == "W" and unit != "00000000") or (fixture == "F" and unit[:4] == "0000"))


def parse_date(value: str):
    for rx in DATE_RES:
        if m := rx.match(value):
            try:
                return dt.date(*(int(g) for g in m.groups()))
            except ValueError:
                return None
    return None


def xy_transform(geom, transformer: Transformer):
    return shapely.transform(geom, lambda xy: np.stack(transformer.transform(xy[:, 0], xy[:, 1]), -1))


class Layer:
    def __init__(self, path: Path, layer: str | None = None, encoding: str | None = None):
        meta, fids, wkb, values = pyogrio.raw.read(path, layer=layer, encoding=encoding, return_fids=True)
        self.meta, self.fids = meta, fids
        self.f = dict(zip(meta["fields"], values, strict=True))
        self.g = shapely.from_wkb(wkb)
        self.n = len(fids)


class Exports:
    """Everything read back from the files, plus the derived geometry needed by the checks."""

    def __init__(self, out: Path, manifest: dict):
        self.out, self.m = out, manifest
        self.P = Layer(out / "registration/ZDJBXX.shp", encoding="GBK")
        self.B = Layer(out / "registration/ZRZ.shp", encoding="GBK")
        self.M = Layer(out / "planning/permits.gpkg", layer="ghxk")
        text = (out / "landsupply/supply.csv").read_bytes().decode("gbk")
        self.S = list(csv.DictReader(io.StringIO(text, newline="")))
        self.S_g = shapely.from_wkt([r["范围WKT"] for r in self.S])
        self.S_gk = xy_transform(xy_transform(self.S_g, X80_TO_LL), LL_TO_GK)
        self.M_gk = np.array(
            [None if g is None else shapely.transform(g, lambda xy: xy - [36e6, 0]) for g in self.M.g]
        )
        counties = Layer(out / "boundaries/counties.geojson")
        self.county_codes = [str(c) for c in counties.f["adcode"]]
        self.county_tree = shapely.STRtree(counties.g)
        self.county_union = shapely.union_all(counties.g)
        self.P_valid = shapely.make_valid(self.P.g)
        self.surface = self.P.f["QLSDFS"] == "1"
        self.P_tree = shapely.STRtree(self.P_valid)
        self.codes = list(self.P.f["ZDDM"])
        self.defects = manifest["defects"]
        self.defect_rows = {(d["file"], d["row"]) for d in self.defects}
        # polygons the ETL rejects for their coordinates: where they land (~0.5 km off) is not a finding
        moved = {(d["file"], d["row"]) for d in self.defects if d["kind"] in MOVED_KINDS}
        self.M_placed = [
            None if ("planning/permits.gpkg", int(f)) in moved else g
            for f, g in zip(self.M.fids, self.M_gk, strict=True)
        ]
        self.S_placed = [
            None if ("landsupply/supply.csv", i + 1) in moved else g for i, g in enumerate(self.S_gk)
        ]
        self.B_tree = shapely.STRtree(self.B.g)
        self.M_tree = shapely.STRtree(np.array(self.M_placed, dtype=object))
        self.S_tree = shapely.STRtree(np.array(self.S_placed, dtype=object))
        self.b_prefixes = {str(b)[:19] for b in self.B.f["BDCDYH"]} | set(self.B.f["ZDDM"])
        self.s_codes = {r["宗地代码"] for r in self.S}

    def county_of(self, geoms_gk) -> list[str]:
        pts = xy_transform(shapely.point_on_surface(geoms_gk), GK_TO_LL)
        hits = self.county_tree.query(pts, predicate="within")
        found = dict(zip(hits[0].tolist(), hits[1].tolist(), strict=True))
        return [self.county_codes[found[i]] if i in found else "" for i in range(len(pts))]

    def surface_hits(self, geom, min_area: float = 0.01) -> list[tuple[float, int]]:
        """(overlap area, parcel index) of surface parcels overlapping ``geom``, largest first."""
        idx = [i for i in self.P_tree.query(geom) if self.surface[i]]
        areas = [(float(shapely.intersection(self.P_valid[i], geom).area), int(i)) for i in idx]
        return sorted((h for h in areas if h[0] > min_area), reverse=True)

    def row_of_fid(self, layer: Layer, fid: int) -> int:
        return int(np.nonzero(layer.fids == fid)[0][0])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, generate(out, scale=SCALE, seed=SEED)


@pytest.fixture(scope="module")
def ex(run) -> Exports:
    return Exports(*run)


# --- formats -------------------------------------------------------------------------------------------


def test_registration_shapefiles_are_gbk_without_cpg(ex):
    for name in ("ZDJBXX", "ZRZ"):
        base = ex.out / "registration" / name
        assert {p.suffix for p in base.parent.glob(f"{name}.*")} == {".shp", ".shx", ".dbf", ".prj"}
        dbf = base.with_suffix(".dbf").read_bytes()
        assert dbf[29] == 0
        prj = base.with_suffix(".prj").read_text()
        assert "Gauss_Kruger" in prj and "108" in prj and "CGCS2000" in prj
        assert CRS.from_wkt(prj).to_epsg(min_confidence=70) == 4545
        # the text really is GBK in the DBF (and therefore garbage as UTF-8)
        sample = ex.P.f["ZL"][0] if name == "ZDJBXX" else ex.B.f["XMMC"][0]
        assert re.search("[\u4e00-\u9fff]", sample) and sample.encode("gbk") in dbf
        with pytest.raises(UnicodeDecodeError):
            dbf.decode("utf-8")
    assert list(ex.P.f) == ex.m["systems"]["registration"]["files"][0]["fields"]
    assert list(ex.B.f) == ex.m["systems"]["registration"]["files"][1]["fields"]
    assert all(len(f) <= 10 for f in list(ex.P.f) + list(ex.B.f))
    assert ex.P.meta["geometry_type"] == "Polygon"
    assert (ex.P.fids == np.arange(ex.P.n)).all()


def test_permit_geopackage(ex):
    path = ex.out / "planning/permits.gpkg"
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200
        assert con.execute("SELECT table_name, srs_id FROM gpkg_contents").fetchall() == [("ghxk", 4524)]
    con.close()
    info = pyogrio.read_info(path, layer="ghxk")
    assert info["crs"] == "EPSG:4524" and info["geometry_type"] == "MultiPolygon"
    assert list(ex.M.f) == [
        "许可证号",
        "证件类型",
        "项目名称",
        "建设单位",
        "用地性质",
        "用地面积",
        "建筑面积",
        "发证日期",
    ]
    assert set(ex.M.f["证件类型"]) == {"建设用地规划许可证", "建设工程规划许可证"}
    assert len(set(ex.M.f["许可证号"])) == ex.M.n
    assert all(re.fullmatch(r"(地|建)字第500\d{3}(19|20)\d{2}\d{5}号", n) for n in ex.M.f["许可证号"])


def test_supply_csv_is_gbk(ex):
    raw = (ex.out / "landsupply/supply.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert text == raw.decode("gbk") and "\r\n" in text
    assert next(csv.reader(io.StringIO(text))) == SUPPLY_HEADER
    assert [int(r["序号"]) for r in ex.S] == list(range(1, len(ex.S) + 1))
    assert len({r["合同编号"] for r in ex.S}) == len(ex.S)
    styles = Counter(next(i for i, rx in enumerate(DATE_RES) if rx.match(r["签订日期"])) for r in ex.S)
    assert len(styles) == 4  # mixed formats
    assert any(r["实际开工日期"] == "" for r in ex.S)  # idle-land candidates exist


def test_counties_and_manifest_files(ex):
    assert sorted(ex.county_codes) == sorted(CURRENT_COUNTIES)
    on_disk = json.loads((ex.out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == ex.m
    assert "不动产登记" in (ex.out / "manifest.json").read_text(encoding="utf-8")
    rows = {f["path"]: f["rows"] for s in ex.m["systems"].values() for f in s["files"]}
    assert rows == {
        "registration/ZDJBXX.shp": ex.P.n,
        "registration/ZRZ.shp": ex.B.n,
        "planning/permits.gpkg": ex.M.n,
        "landsupply/supply.csv": len(ex.S),
        "boundaries/counties.geojson": 38,
    }
    assert ex.m["seed"] == SEED and ex.m["scale"] == SCALE


def test_determinism(run, tmp_path):
    out, manifest = run
    again = generate(tmp_path / "same", scale=SCALE, seed=SEED)
    assert again == manifest
    for rel in (
        "registration/ZDJBXX.shp",
        "registration/ZDJBXX.dbf",
        "registration/ZRZ.shp",
        "registration/ZRZ.dbf",
        "landsupply/supply.csv",
        "manifest.json",
    ):
        assert (out / rel).read_bytes() == (tmp_path / "same" / rel).read_bytes(), rel
    a, b = (
        Layer(out / "planning/permits.gpkg", "ghxk"),
        Layer(tmp_path / "same/planning/permits.gpkg", "ghxk"),
    )
    assert all(np.array_equal(a.f[k], b.f[k]) for k in a.f)
    assert all(
        (x is None and y is None) or shapely.equals_exact(x, y, 0) for x, y in zip(a.g, b.g, strict=True)
    )
    other = generate(tmp_path / "other", scale=SCALE, seed=SEED + 1)
    assert other["defects"] != manifest["defects"]
    assert (out / "registration/ZDJBXX.shp").read_bytes() != (
        tmp_path / "other/registration/ZDJBXX.shp"
    ).read_bytes()


# --- the answer key ------------------------------------------------------------------------------------


def test_every_kind_planted_at_least_twice(ex):
    counts = Counter(d["kind"] for d in ex.defects)
    assert set(counts) == set(KINDS)
    assert min(counts.values()) >= 2
    assert ex.m["counts"]["defects"] == {k: counts[k] for k in ex.m["counts"]["defects"]}
    assert [d["id"] for d in ex.defects] == [f"D{i:04d}" for i in range(1, len(ex.defects) + 1)]
    reasons = {(d["kind"], d["detail"].get("reason")) for d in ex.defects}
    for r in ("county_unknown", "sequence_zero", "right_type_mismatch", "bad_length", "bad_char"):
        assert ("zddm_invalid", r) in reasons
    for r in ("fixture_type", "w_unit_nonzero", "f_building_zero", "length_27"):
        assert ("bdcdyh_invalid", r) in reasons
    assert {d["system"] for d in ex.defects if d["kind"] == "landuse_unknown"} == {
        "registration",
        "planning",
        "landsupply",
    }
    assert {d["system"] for d in ex.defects if d["kind"] == "gcj02_shift"} == {"planning", "landsupply"}
    assert len(ex.defect_rows) == len(ex.defects)  # never two defects on one row
    assert {c["kind"] for c in ex.m["controls"]} >= {
        "layered_rights",
        "permit_multi_parcel",
        "collective_parcel",
        "undetermined_parcel",
    }


def test_rows_and_source_ids_point_at_the_records(ex):
    for d in ex.defects + ex.m["controls"]:
        for ref in [d] + d.get("related", []):
            r, sid = ref["row"], ref["source_id"]
            if ref["file"].endswith("ZDJBXX.shp"):
                assert (ex.P.f["ZDDM"][r - 1] or "") == sid
            elif ref["file"].endswith("ZRZ.shp"):
                assert f"{ex.B.f['BDCDYH'][r - 1]}/{ex.B.f['ZRZH'][r - 1]}" == sid
            elif ref["file"].endswith(".gpkg"):
                assert ex.M.f["许可证号"][ex.row_of_fid(ex.M, r)] == sid  # row = GeoPackage fid
            else:
                assert ex.S[r - 1]["合同编号"] == sid


def _isolated(ex: Exports, r: int, code: str) -> None:
    """An ETL-stage parcel defect: nothing else refers to or sits on that parcel."""
    g = ex.P_valid[r]
    if code:
        assert code not in ex.b_prefixes and code not in ex.s_codes
    assert not len(ex.B_tree.query(g, predicate="intersects"))
    assert all(shapely.intersection(g, ex.M_placed[i]).area <= 0.01 for i in ex.M_tree.query(g))
    assert all(shapely.intersection(g, ex.S_placed[i]).area <= 0.01 for i in ex.S_tree.query(g))


def _delivered_gk(ex: Exports, d: dict):
    r = d["row"] - 1
    if d["system"] == "planning":
        return ex.M_gk[ex.row_of_fid(ex.M, d["row"])]
    return ex.S_gk[r]


def test_every_defect_is_really_in_the_files(ex):  # noqa: C901 - one branch per kind, on purpose
    for d in ex.defects:
        kind, r, det = d["kind"], d["row"] - 1, d["detail"]
        rel = [x["row"] - 1 for x in d.get("related", [])]
        where = f"{d['id']} {kind} {d['file']} row {d['row']}"
        if d["file"].endswith(".gpkg"):
            r = ex.row_of_fid(ex.M, d["row"])
        if kind == "zddm_invalid":
            code = ex.P.f["ZDDM"][r]
            assert code == det["value"] == d["source_id"] and not well_formed_zddm(code), where
            assert {
                "county_unknown": len(code) == 19 and code[:6] not in ALL_COUNTIES,
                "sequence_zero": code[14:] == "00000",
                "right_type_mismatch": code[13] in "AC" and code[12] != "J",
                "bad_length": len(code) in (18, 20),
                "bad_char": any(c.islower() for c in code) or not (code[:12] + code[14:]).isdigit(),
            }[det["reason"]], where
            _isolated(ex, r, det["expected"])
        elif kind == "zddm_duplicate":
            code = ex.P.f["ZDDM"][r]
            assert well_formed_zddm(code) and ex.codes.count(code) == 2 and ex.P.f["ZDDM"][rel[0]] == code, (
                where
            )
            assert rel[0] < r
            _isolated(ex, r, code)
            _isolated(ex, rel[0], det["expected"])
        elif kind == "zddm_missing":
            assert not ex.P.f["ZDDM"][r] and not ex.P.f["BDCDYH"][r], where
            _isolated(ex, r, det["expected"])
        elif kind == "landuse_unknown":
            if d["system"] == "registration":
                assert ex.P.f["YT"][r] not in CLASSES, where
                _isolated(ex, r, ex.P.f["ZDDM"][r])
            elif d["system"] == "planning":
                assert ex.M.f["用地性质"][r] not in CROSSWALK, where
            else:
                assert ex.S[r]["土地用途"] not in set(CLASSES.values()) | NAMES_2007, where
        elif kind == "bdcdyh_invalid":
            value = ex.B.f["BDCDYH"][r]
            assert value == det["value"] and not well_formed_bdcdyh(value), where
            assert value[:19] == ex.B.f["ZDDM"][r] and len(ex.surface_hits(ex.B.g[r])) == 1, where
            assert {
                "fixture_type": value[19:20] not in "FLQW",
                "w_unit_nonzero": value[19:20] == "W",
                "f_building_zero": value[19:24] == "F0000",
                "length_27": len(value) == 27,
            }[det["reason"]]
        elif kind == "landuse_ambiguous":
            cands = CROSSWALK[ex.M.f["用地性质"][r]]
            assert len(cands) > 1, where
            assert {c[:2] for c in cands} == {ex.P.f["YT"][rel[0]][:2]}  # no conflict whatever is picked
        elif kind in ("axes_swapped", "zone_prefix_missing"):
            xy = shapely.get_coordinates(ex.M.g[r])
            if kind == "axes_swapped":
                assert ((xy[:, 0] > 3.0e6) & (xy[:, 0] < 3.7e6) & (xy[:, 1] > 36e6) & (xy[:, 1] < 37e6)).all()
                fixed = shapely.polygons(xy[:, ::-1] - [36e6, 0])
            else:
                assert ((xy[:, 0] > 2e5) & (xy[:, 0] < 8e5) & (xy[:, 1] > 3.0e6) & (xy[:, 1] < 3.7e6)).all()
                fixed = shapely.polygons(xy)
            assert shapely.intersection(fixed, ex.P_valid[rel[0]]).area > 0.95 * fixed.area, where
        elif kind == "gcj02_shift":
            g, parcel = _delivered_gk(ex, d), ex.P_valid[rel[0]]
            assert ex.P.f["ZDDM"][rel[0]] == det["parcel_zddm"]
            assert 400 < shapely.distance(g.centroid, parcel.centroid) < 700, where
            assert shapely.intersection(g, parcel).area == 0, where
            ll = xy_transform(g, GK_TO_LL)
            restored = xy_transform(
                shapely.transform(ll, lambda xy: np.stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1]), -1)), LL_TO_GK
            )
            inside = shapely.intersection(restored, parcel).area
            assert inside > 0.999 * restored.area and restored.area > 0.9 * parcel.area, where
        elif kind == "geometry_invalid":
            g = ex.P.g[r]
            assert not g.is_valid and "Self-intersection" in shapely.is_valid_reason(g), where
            assert abs(ex.P_valid[r].area - ex.P.f["ZDMJ"][r]) < 0.01 * ex.P.f["ZDMJ"][r], where
            _isolated(ex, r, ex.P.f["ZDDM"][r])
        elif kind == "geometry_null":
            assert ex.M.g[r] is None or ex.M.g[r].is_empty, where
        elif kind == "outside_jurisdiction":
            ll = xy_transform(ex.M_gk[r], GK_TO_LL)
            assert not len(ex.county_tree.query(ll, predicate="intersects")), where
            assert 0.005 < shapely.distance(ll, ex.county_union) < 0.1, where  # just outside (≈0.5-10 km)
        elif kind == "date_invalid":
            value = ex.S[r][d["field"]]
            assert any(rx.match(value) for rx in DATE_RES) and parse_date(value) is None, where
        elif kind == "area_unit_mismatch":
            area = ex.S_g[r].area
            assert abs(float(ex.S[r]["面积（亩）"]) * MU - area) > 0.1 * area, where
        elif kind in ("building_outside_parcel", "building_across_parcels"):
            fp, code = ex.B.g[r], ex.B.f["ZDDM"][r]
            hits = ex.surface_hits(fp)
            outside = shapely.difference(fp, shapely.union_all([ex.P_valid[i] for _a, i in hits]))
            assert ex.B.f["BDCDYH"][r][:19] == code == ex.P.f["ZDDM"][rel[0]], where
            assert hits[0][1] == rel[0], where  # the largest part is in its own parcel
            if kind == "building_outside_parcel":
                depth = max(
                    shapely.distance(shapely.points(xy), ex.P_valid[rel[0]])
                    for xy in shapely.get_coordinates(fp)
                )
                assert outside.area >= 50 and depth >= 5.0 and len(hits) == 1, where
            else:
                assert outside.area < 0.01 and len(hits) == 2 and hits[1][1] == rel[1] and hits[1][0] >= 10, (
                    where
                )
        elif kind == "bdcdyh_parcel_mismatch":
            b, code = ex.B.f["BDCDYH"][r], ex.B.f["ZDDM"][r]
            assert well_formed_bdcdyh(b) and b[:19] in ex.codes and b[:19] != code, where
            hits = ex.surface_hits(ex.B.g[r])
            assert len(hits) == 1 and ex.P.f["ZDDM"][hits[0][1]] == code, where
        elif kind == "building_zddm_unknown":
            code = ex.B.f["ZDDM"][r]
            assert well_formed_zddm(code) and code not in ex.codes, where
            hits = ex.surface_hits(ex.B.g[r])
            assert len(hits) == 1 and ex.P.f["ZDDM"][hits[0][1]] == ex.B.f["BDCDYH"][r][:19], where
        elif kind == "parcel_overlap":
            other = rel[0]
            assert ex.surface[r] and ex.surface[other]
            assert shapely.intersection(ex.P_valid[r], ex.P_valid[other]).area >= 100, where
            theirs = [g for g, c in zip(ex.B.g, ex.B.f["ZDDM"], strict=True) if c == ex.P.f["ZDDM"][other]]
            assert not any(shapely.intersects(ex.P_valid[r], g) for g in theirs), where
            assert abs(ex.P.f["ZDMJ"][r] - ex.P_valid[r].area) < 0.005 * ex.P_valid[r].area, where
        elif kind == "parcel_area_mismatch":
            a = ex.P_valid[r].area
            assert 0.10 <= abs(ex.P.f["ZDMJ"][r] - a) / a <= 0.31, where
        elif kind == "zddm_county_mismatch":
            code = ex.P.f["ZDDM"][r]
            assert well_formed_zddm(code) and code[:6] in CURRENT_COUNTIES, where
            assert ex.county_of(np.array([ex.P_valid[r]]))[0] not in ("", code[:6]), where
            assert all(
                b.startswith(code) for b, c in zip(ex.B.f["BDCDYH"], ex.B.f["ZDDM"], strict=True) if c == code
            )
        elif kind == "permit_without_parcel":
            g = ex.M_gk[r]
            assert not ex.surface_hits(g) and not len(ex.P_tree.query(g, predicate="intersects")), where
            assert len(ex.county_tree.query(xy_transform(g, GK_TO_LL), predicate="within")) == 1, where
        elif kind == "permit_holder_conflict":
            g, own, other = ex.M_gk[r], rel[0], rel[1]
            holder = ex.M.f["建设单位"][r]
            assert ex.P.f["QLR"][own] == holder != ex.P.f["QLR"][other], where
            assert ex.P.f["YT"][own] == ex.P.f["YT"][other] and CROSSWALK[ex.M.f["用地性质"][r]] == [
                ex.P.f["YT"][own]
            ]
            deep = shapely.intersection(g, shapely.buffer(ex.P_valid[other], -5.0)).area
            assert deep >= 50, where
        elif kind == "permit_landuse_conflict":
            hits = ex.surface_hits(ex.M_gk[r])
            assert hits[0][1] == rel[0], where
            mapped = CROSSWALK[ex.M.f["用地性质"][r]]
            assert len(mapped) == 1 and mapped[0][:2] != ex.P.f["YT"][rel[0]][:2], where
        elif kind == "supply_without_parcel":
            g = ex.S_gk[r]
            assert ex.S[r]["宗地代码"] == "" and not ex.surface_hits(g), where
            assert not len(ex.M_tree.query(g, predicate="intersects")), where
        elif kind == "supply_zddm_mismatch":
            code = ex.S[r]["宗地代码"]
            hits = ex.surface_hits(ex.S_gk[r])
            assert code in ex.codes and ex.P.f["ZDDM"][hits[0][1]] != code, where
            assert hits[0][1] == rel[0] and ex.P.f["ZDDM"][rel[1]] == code, where
            assert not shapely.intersects(ex.S_gk[r], ex.P_valid[rel[1]]), where
        else:  # pragma: no cover
            pytest.fail(f"no verification for {kind}")
        if validate_zddm is not None and kind == "zddm_invalid":
            assert code_errors(validate_zddm(ex.P.f["ZDDM"][r])), where
        if validate_bdcdyh is not None and kind == "bdcdyh_invalid":
            assert code_errors(validate_bdcdyh(ex.B.f["BDCDYH"][r])), where


def test_controls_are_legal_look_alikes(ex):
    for c in ex.m["controls"]:
        r, rel = c["row"] - 1, [x["row"] - 1 for x in c.get("related", [])]
        if c["kind"] == "layered_rights":
            code = ex.P.f["ZDDM"][r]
            assert well_formed_zddm(code) and code[12:14] == "GX" and ex.P.f["QLSDFS"][r] == "3"
            assert ex.P.f["QLSDFS"][rel[0]] == "1" and shapely.equals(ex.P.g[r], ex.P.g[rel[0]])
        elif c["kind"] == "permit_multi_parcel":
            r = ex.row_of_fid(ex.M, c["row"])
            hits = ex.surface_hits(ex.M_gk[r])
            assert sorted(i for _a, i in hits) == sorted(rel) and min(a for a, _i in hits) > 100
            assert {ex.P.f["QLR"][i] for i in rel} == {ex.M.f["建设单位"][r]}
        elif c["kind"] == "collective_parcel":
            code = ex.P.f["ZDDM"][r]
            assert well_formed_zddm(code) and code[12] == "J" and code[13] in "CB"
            assert ex.P.f["QLLX"][r] == ("5" if code[13] == "C" else "7")
        elif c["kind"] == "undetermined_parcel":
            assert ex.P.f["ZDDM"][r][12:14] == "ZW" and well_formed_zddm(ex.P.f["ZDDM"][r])
        if validate_zddm is not None and c["file"].endswith("ZDJBXX.shp"):
            assert not code_errors(validate_zddm(ex.P.f["ZDDM"][r]))


# --- everything else is clean --------------------------------------------------------------------------


def _clean(ex: Exports, file: str, n: int) -> list[int]:
    return [i for i in range(n) if (file, i + 1) not in ex.defect_rows]


def test_clean_parcels(ex):
    rows = _clean(ex, "registration/ZDJBXX.shp", ex.P.n)
    codes = [ex.P.f["ZDDM"][i] for i in rows]
    assert all(well_formed_zddm(c) for c in codes)
    assert len(set(codes)) == len(codes)
    assert all(ex.P.g[i].is_valid for i in rows)
    located = ex.county_of(ex.P.g[rows])
    assert [c[:6] for c in codes] == located
    assert all(ex.P.f["QXDM"][i] == ex.P.f["ZDDM"][i][:6] for i in rows)
    assert all(ex.P.f["BDCDYH"][i] == ex.P.f["ZDDM"][i] + "W00000000" for i in rows)
    areas = shapely.area(ex.P.g[rows])
    assert np.all(np.abs(ex.P.f["ZDMJ"][rows] - areas) <= 0.005 * areas)
    assert all(ex.P.f["YT"][i] in CLASSES for i in rows)
    one_to_one = {v[0] for k, v in CROSSWALK.items() if len(v) == 1}
    assert all(ex.P.f["YT"][i] in one_to_one for i in rows)
    if validate_zddm is not None:
        assert not [c for c in codes if code_errors(validate_zddm(c))]
        assert not [i for i in rows if code_errors(validate_bdcdyh(ex.P.f["BDCDYH"][i]))]


def test_no_clean_surface_parcels_overlap(ex):
    overlap_pairs = {
        frozenset((d["row"] - 1, d["related"][0]["row"] - 1))
        for d in ex.defects
        if d["kind"] == "parcel_overlap"
    }
    left, right = ex.P_tree.query(ex.P_valid, predicate="intersects")
    found = set()
    for a, b in zip(left, right, strict=True):
        if a < b and ex.surface[a] and ex.surface[b]:
            if shapely.intersection(ex.P_valid[a], ex.P_valid[b]).area > 1.0:
                found.add(frozenset((int(a), int(b))))
    assert found == overlap_pairs


def test_clean_buildings_are_inside_their_parcel(ex):
    rows = _clean(ex, "registration/ZRZ.shp", ex.B.n)
    by_code = {c: i for i, c in enumerate(ex.P.f["ZDDM"]) if ex.surface[i]}
    for i in rows:
        code, bdcdyh = ex.B.f["ZDDM"][i], ex.B.f["BDCDYH"][i]
        assert bdcdyh == f"{code}F{ex.B.f['ZRZH'][i]}0000" and well_formed_bdcdyh(bdcdyh)
        parcel = ex.P_valid[by_code[code]]
        assert shapely.contains(shapely.buffer(parcel, -4.99), ex.B.g[i]), (i, code)
    assert len(set(ex.B.f["BDCDYH"])) == ex.B.n
    hits = ex.P_tree.query(ex.B.g[rows], predicate="intersects")
    per_building = Counter(int(rows[a]) for a, b in zip(*hits, strict=True) if ex.surface[b])
    assert set(per_building.values()) == {1}  # exactly one surface parcel under each clean building
    if validate_bdcdyh is not None:
        assert not [i for i in rows if code_errors(validate_bdcdyh(ex.B.f["BDCDYH"][i]))]
    assert 1.4 < ex.B.n / ex.P.n < 2.6  # about two buildings per parcel


def test_clean_permits_sit_on_their_holders_parcel(ex):
    controls = {c["row"] for c in ex.m["controls"] if c["kind"] == "permit_multi_parcel"}
    holders = {c: i for i, c in enumerate(ex.P.f["ZDDM"])}
    assert holders
    for fid in ex.M.fids:
        if ("planning/permits.gpkg", fid) in ex.defect_rows or fid in controls:
            continue
        r = ex.row_of_fid(ex.M, fid)
        g = ex.M_gk[r]
        assert g.is_valid and zone36(ex.M.g[r])
        hits = ex.surface_hits(g)
        assert len(hits) == 1, fid
        parcel = hits[0][1]
        assert shapely.contains(ex.P_valid[parcel], g)
        assert ex.P.f["QLR"][parcel] == ex.M.f["建设单位"][r]
        assert CROSSWALK[ex.M.f["用地性质"][r]] == [ex.P.f["YT"][parcel]]
        assert abs(ex.M.f["用地面积"][r] - g.area) < 0.01


def zone36(geom) -> bool:
    xy = shapely.get_coordinates(geom)
    return bool(((xy[:, 0] > 36.2e6) & (xy[:, 0] < 36.8e6) & (xy[:, 1] > 3.0e6) & (xy[:, 1] < 3.7e6)).all())


def test_clean_supply_records_match_their_parcel(ex):
    index = {c: i for i, c in enumerate(ex.P.f["ZDDM"])}
    names = {
        ex.county_codes[i]: n for i, n in enumerate(Layer(ex.out / "boundaries/counties.geojson").f["name"])
    }
    for r, row in enumerate(ex.S):
        if ("landsupply/supply.csv", r + 1) in ex.defect_rows:
            continue
        p = index[row["宗地代码"]]
        assert shapely.hausdorff_distance(ex.S_gk[r], ex.P_valid[p]) < 0.01
        assert abs(float(row["面积（亩）"]) * MU - ex.P_valid[p].area) < 0.01 * ex.P_valid[p].area
        assert row["受让人"] == ex.P.f["QLR"][p] and row["坐落"] == ex.P.f["ZL"][p]
        assert row["行政区"] == names[row["宗地代码"][:6]] and row["土地用途"] == CLASSES[ex.P.f["YT"][p]]
        dates = [row[k] for k in ("签订日期", "约定开工日期", "约定竣工日期", "实际开工日期", "实际竣工日期")]
        assert all(parse_date(v) for v in dates if v)
        c = ex.S_g[r].centroid
        assert abs(float(row["中心X"]) - c.x) < 0.01 and abs(float(row["中心Y"]) - c.y) < 0.01


def test_tiny_scale_via_management_command(tmp_path, capsys):
    django = pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django settings are not configured (run with pytest-django)")
    django.setup()
    from django.core.management import call_command

    call_command("demo_data", "--out", str(tmp_path), "--scale", "0.02", "--seed", "3")
    out, err = capsys.readouterr()
    assert "planted defects" in out and "demo_data" in err  # summary on stdout, progress bar on stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert min(manifest["counts"]["defects"].values()) >= 2
