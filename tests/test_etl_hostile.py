"""Hostile input: each case ends in one clear error naming the file (and the entry, line or field) with
nothing loaded and nothing written outside the run's unpack folder, or, for row-level cases, in exactly
the problems the rows deserve while the good rows load.

Every export is written here by the test: zips with ``zipfile``, workbooks with openpyxl, layers with
pyogrio (``tests.etl_files``). Fatal cases run against tables that already hold a loaded export, so
"nothing loaded" is checked as "every unified and history table is byte-for-byte as before".
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import stat
import struct
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from django.conf import settings as django_settings
from django.db import connection
from openpyxl import Workbook

from etl import safezip, sources
from etl.errors import EtlError, HostileInputError, SourceError
from etl.mapping import MAPPINGS_DIR, parse_mapping
from etl.models import LoadRun, Problem
from etl.runner import run_load
from layers.models import Building, LandSupply, Parcel, PlanningPermit
from tests.etl_files import (
    SUPPLY_HEADER,
    TO_2381,
    building_rows,
    gk_square,
    parcel_rows,
    permit_rows,
    supply_rows,
    write_layer,
    write_planning,
    write_registration,
    write_supply_csv,
)

pytestmark = pytest.mark.django_db

TABLES = (
    "layers_parcel",
    "layers_building",
    "layers_planningpermit",
    "layers_landsupply",
    "layers_parcel_history",
    "layers_building_history",
    "layers_planningpermit_history",
    "layers_landsupply_history",
)
XXE_DTD = '<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
COL = {name: i for i, name in enumerate(SUPPLY_HEADER)}


# --- helpers ----------------------------------------------------------------------------------------------


def snapshot() -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of the unified tables and their history."""
    out = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM {table} t"
            )
            out[table] = cursor.fetchone()
    return out


def files_under(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    """Runs unpack under tmp_path/var/etl/run-<id>, so the test sees everything a run writes."""
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


@pytest.fixture
def loaded(tmp_path):
    """The unified tables hold one good export of every system (what a fatal run must leave alone)."""
    parcels = parcel_rows(3)
    run_load("registration", write_registration(tmp_path / "base-reg", parcels, building_rows(parcels)))
    run_load("planning", write_planning(tmp_path / "base-plan", permit_rows(2)).parent)
    run_load("landsupply", write_supply_csv(tmp_path / "base-supply", supply_rows(2)))
    state = snapshot()
    assert all(state[t][0] > 0 for t in TABLES[:4])
    return state


def fails(system: str, path: Path, error: type[EtlError], *fragments: str, mapping=None) -> str:
    """Run a load that must fail with exactly ``error``; returns the message after checking that it names
    every fragment, that the run is recorded failed with it, that no problem rows and no table rows were
    written, and that the run's unpack folder is gone."""
    before = snapshot()
    assert before["layers_parcel"][0] > 0, "use the 'loaded' fixture: the tables must hold data"
    earlier = set(LoadRun.objects.values_list("pk", flat=True))
    with pytest.raises(EtlError) as excinfo:
        run_load(system, path, mapping=mapping)
    assert type(excinfo.value) is error, f"{type(excinfo.value).__name__}: {excinfo.value}"
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    run = LoadRun.objects.exclude(pk__in=earlier).get()
    assert (run.status, run.error) == ("failed", message)
    assert not Problem.objects.filter(run=run).exists()
    assert snapshot() == before
    assert not (Path(django_settings.VAR_DIR) / "etl" / f"run-{run.pk}").exists()
    return message


def problems(run: LoadRun) -> set[tuple]:
    return {(p.target, p.row, p.rule, p.field, p.severity) for p in Problem.objects.filter(run=run)}


def registration_files(folder: Path, n: int = 3) -> dict[str, bytes]:
    parcels = parcel_rows(n)
    write_registration(folder, parcels, building_rows(parcels))
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def make_zip(
    path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], method=zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data, compress_type=method)
    return path


def registration_zip(tmp_path: Path, extra: list[tuple[str | zipfile.ZipInfo, bytes]] = ()) -> Path:
    """export.zip holding a good registration export under export/, then the ``extra`` entries."""
    files = registration_files(tmp_path / "src")
    entries = [(f"export/{name}", data) for name, data in files.items()]
    return make_zip(tmp_path / "export.zip", [*entries, *extra])


def supply_mapping(source: str):
    """The shipped landsupply mapping reading another file/format (e.g. an XLSX workbook)."""
    text = (MAPPINGS_DIR / "landsupply.yaml").read_text(encoding="utf-8")
    shipped = "source: {file: supply.csv, format: csv, encoding: auto}"
    assert shipped in text
    return parse_mapping(text.replace(shipped, f"source: {source}"), "tests/landsupply-variant.yaml")


def planning_geojson_mapping():
    text = (MAPPINGS_DIR / "planning.yaml").read_text(encoding="utf-8")
    shipped = "source: {file: permits.gpkg, format: gpkg, layer: ghxk}"
    assert shipped in text
    return parse_mapping(
        text.replace(shipped, "source: {file: permits.geojson, format: geojson}"),
        "tests/planning-geojson.yaml",
    )


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "gbk") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def wkt_with(polygon: shapely.Polygon, dims: str) -> str:
    """The polygon as WKT with Z, M or ZM ordinates added (shapely writes M only from 2.1 on)."""
    extra = {"Z": " 250", "M": " 7", "ZM": " 250 7"}[dims]
    ring = ", ".join(f"{x:.3f} {y:.3f}{extra}" for x, y in shapely.get_coordinates(polygon))
    return f"POLYGON {dims} (({ring}))"


def supply_xlsx(path: Path, rows: list[list]) -> Path:
    """The land-supply ledger as operators keep it: a merged title row, a merged group-header row, the
    header, the data with real numbers and dates, and a 合计 row with formulas."""
    wb = Workbook()
    ws = wb.active
    ws.title = "供地台账"
    width = len(SUPPLY_HEADER)
    ws.append(["2016年度国有建设用地供应台账（渝中区）"] + [None] * (width - 1))
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.append(["基本信息"] + [None] * 8 + ["面积与价款", None] + [None] * (width - 11))
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=9)
    ws.merge_cells(start_row=2, start_column=10, end_row=2, end_column=11)
    ws.append(SUPPLY_HEADER)
    first = ws.max_row + 1
    for row in rows:
        cells = list(row)
        for name in (
            "面积（亩）",
            "成交价款（万元）",
            "计划投资（万元）",
            "已完成投资（万元）",
            "中心X",
            "中心Y",
        ):
            cells[COL[name]] = float(cells[COL[name]])
        cells[COL["签订日期"]] = dt.datetime(2016, 3, 1)
        ws.append(cells)
    last = ws.max_row
    total = [None] * width
    total[0] = "合计"
    total[COL["面积（亩）"]] = f"=SUM(J{first}:J{last})"
    total[COL["成交价款（万元）"]] = f"=SUM(K{first}:K{last})"
    ws.append(total)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def rewrite_zip(path: Path, replace: dict[str, bytes] = None, add: dict[str, bytes] = None) -> Path:
    """Rewrite a zip (an XLSX workbook) with some parts replaced or added."""
    with zipfile.ZipFile(path) as zin:
        parts = [(info.filename, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in parts:
            zout.writestr(name, (replace or {}).get(name, data))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return path


# --- zip archives -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "../evil-{m}.txt",
        "export/../../evil-{m}.txt",
        "../../../../../../../../../../tmp/evil-{m}.txt",
        "/tmp/evil-{m}.txt",
        "..\\..\\evil-{m}.txt",
        "C:/Windows/evil-{m}.txt",
    ],
)
def test_zip_entry_outside_the_archive_is_refused_and_nothing_is_written(tmp_path, loaded, entry):
    marker = uuid.uuid4().hex
    name = entry.format(m=marker)
    archive = registration_zip(tmp_path, [(name, b"owned\n")])
    around = tmp_path.parent
    before = files_under(around)
    try:
        message = fails(
            "registration", archive, HostileInputError, "export.zip", f"'{name}'", "nothing was unpacked"
        )
        assert "absolute path" in message or "outside the archive" in message
    finally:  # checked even when the error is wrong: a write outside the run folder is the worse failure
        assert files_under(around) == before  # nothing new beside or inside tmp_path (the run folder too)
        assert not Path(f"/tmp/evil-{marker}.txt").exists()
        assert not [n for n in os.listdir("/tmp") if marker in n]


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("export/ZDJBXX.cpg")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    "extra, fragments",
    [
        ([(_symlink_entry(), b"/etc/passwd")], ["'export/ZDJBXX.cpg'", "symbolic link"]),
        ([("export/ZDJBXX.dbf", b"\x03" + bytes(40))], ["'export/ZDJBXX.dbf'", "appears more than once"]),
    ],
    ids=["symlink", "duplicate-entry"],
)
def test_zip_symlink_or_duplicate_entry_is_refused(tmp_path, loaded, extra, fragments):
    duplicate = "more than once" in fragments[1]
    with pytest.warns(UserWarning, match="Duplicate name") if duplicate else contextlib.nullcontext():
        archive = registration_zip(tmp_path, extra)
    before = files_under(tmp_path.parent)
    fails("registration", archive, HostileInputError, "export.zip", *fragments)
    assert files_under(tmp_path.parent) == before


def test_zip_bomb_over_the_unpacked_size_limit_is_refused(tmp_path, loaded, monkeypatch):
    monkeypatch.setattr(safezip, "MAX_UNPACKED_BYTES", 4 * 1024**2)
    archive = registration_zip(tmp_path, [("export/padding.bin", bytes(16 * 1024**2))])
    assert archive.stat().st_size < 200_000  # 16 MiB of zeros compress to almost nothing
    fails("registration", archive, HostileInputError, "export.zip", "limit 4,194,304", "zip bomb")
    assert not (tmp_path / "var" / "etl").exists() or not any((tmp_path / "var" / "etl").iterdir())


def test_zip_bomb_by_compression_ratio_is_refused_at_the_default_limits(tmp_path, loaded):
    archive = registration_zip(tmp_path, [("export/padding.bin", bytes(64 * 1024**2))])
    message = fails("registration", archive, HostileInputError, "export.zip", "zip bomb")
    ratio = int(message.split("ratio ")[1].split(":")[0])
    assert ratio > safezip.MAX_RATIO


def test_zip_with_too_many_entries_is_refused(tmp_path, loaded, monkeypatch):
    monkeypatch.setattr(safezip, "MAX_ENTRIES", 20)
    archive = registration_zip(tmp_path, [(f"export/junk/{i}.txt", b"x") for i in range(20)])
    n = len(zipfile.ZipFile(archive).infolist())
    fails("registration", archive, HostileInputError, "export.zip", f"{n} entries (limit 20)")


def test_zip_bomb_lying_about_its_size_is_cut_off_at_the_declared_size(tmp_path, loaded):
    """Headers that declare 1,000 bytes for 8 MiB of data: reading stops at 1,000 bytes and the entry fails
    its CRC, so the archive is refused as damaged with nothing left behind."""
    archive = make_zip(tmp_path / "export.zip", [("export/ZDJBXX.shp", bytes(8 * 1024**2))])
    data = bytearray(archive.read_bytes())
    data[22:26] = struct.pack("<I", 1000)  # local header: uncompressed size
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 1000)  # central directory: uncompressed size
    archive.write_bytes(bytes(data))
    assert zipfile.ZipFile(archive).infolist()[0].file_size == 1000
    fails("registration", archive, SourceError, "export.zip", "damaged zip archive", "CRC")


def test_encrypted_zip_entry_gets_a_clear_error(tmp_path, loaded):
    archive = make_zip(tmp_path / "locked.zip", [("export/ZDJBXX.shp", b"x" * 100)])
    data = bytearray(archive.read_bytes())  # flag it encrypted (Python cannot write ZipCrypto)
    central = data.rfind(b"PK\x01\x02")
    data[6] |= 0x1
    data[central + 8] |= 0x1
    archive.write_bytes(bytes(data))
    fails("registration", archive, SourceError, "locked.zip", "'export/ZDJBXX.shp'", "encrypted")


# --- empty, truncated and incomplete files ----------------------------------------------------------------


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _cut_records(shp: Path) -> None:
    """Drop the last 100 bytes of the .shp and fix its header length, so only the .shx tells."""
    data = bytearray(shp.read_bytes()[:-100])
    data[24:28] = struct.pack(">i", len(data) // 2)
    shp.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, fragments",
    [
        (lambda d: (d / "ZDJBXX.dbf").unlink(), ["ZDJBXX.shp", ".dbf missing"]),
        (lambda d: (d / "ZDJBXX.shx").unlink(), ["ZDJBXX.shp", ".shx missing"]),
        (lambda d: _cut(d / "ZDJBXX.shp", 50), ["ZDJBXX.shp", "truncated .shp file (50 bytes"]),
        (lambda d: _cut(d / "ZDJBXX.shp", 400), ["ZDJBXX.shp", "truncated .shp file (its header says"]),
        (lambda d: _cut_records(d / "ZDJBXX.shp"), ["ZDJBXX.shp", "feature 3 of 3 lies beyond its end"]),
        (lambda d: _cut(d / "ZDJBXX.shx", 110), ["ZDJBXX.shx", "damaged or truncated .shx"]),
        (lambda d: _cut(d / "ZDJBXX.dbf", 500), ["ZDJBXX.dbf", "damaged or truncated DBF"]),
        (lambda d: _cut(d / "ZDJBXX.dbf", 0), ["ZDJBXX.dbf", "truncated DBF file (0 bytes)"]),
        (lambda d: _cut(d / "ZDJBXX.shp", 0), ["ZDJBXX.shp", "the file is empty (0 bytes)"]),
        (
            lambda d: (d / "ZDJBXX.dbf").write_bytes((d.parent / "other" / "ZDJBXX.dbf").read_bytes()),
            ["ZDJBXX.shp", "the .dbf has 5 records but the .shx indexes 3 shapes"],
        ),
    ],
    ids=[
        "dbf-missing",
        "shx-missing",
        "shp-50-bytes",
        "shp-cut",
        "shp-cut-header-fixed",
        "shx-cut",
        "dbf-cut",
        "dbf-empty",
        "shp-empty",
        "dbf-of-another-export",
    ],
)
def test_incomplete_or_truncated_shapefile_is_refused(tmp_path, loaded, damage, fragments):
    folder = tmp_path / "export"
    registration_files(folder)
    registration_files(tmp_path / "other", n=5)
    damage(folder)
    fails("registration", folder, SourceError, *fragments)


def test_missing_dbf_inside_a_zip_names_the_entry(tmp_path, loaded):
    files = registration_files(tmp_path / "src")
    entries = [(f"导出/{name}", data) for name, data in files.items() if name != "ZDJBXX.dbf"]
    archive = make_zip(tmp_path / "export.zip", entries)
    fails("registration", archive, SourceError, "导出/ZDJBXX.shp", ".dbf missing")


def test_truncated_csv_and_xlsx_are_refused(tmp_path, loaded):
    path = write_supply_csv(tmp_path / "csv", supply_rows(2))
    text = path.read_bytes()
    path.write_bytes(text[: text.rindex(b"POLYGON") + 30])  # cut inside the last quoted WKT
    fails("landsupply", path, SourceError, "supply.csv", "line 3", "truncated")

    book = supply_xlsx(tmp_path / "xlsx" / "supply.xlsx", supply_rows(2))
    _cut(book, book.stat().st_size // 2)
    fails(
        "landsupply",
        book,
        SourceError,
        "supply.xlsx",
        "not a readable XLSX",
        mapping=supply_mapping("{file: supply.xlsx, format: xlsx}"),
    )


@pytest.mark.parametrize(
    "system, name, fragments",
    [
        ("landsupply", "supply.csv", ["supply.csv", "the file is empty (0 bytes)"]),
        ("planning", "permits.gpkg", ["permits.gpkg", "the file is empty (0 bytes)"]),
        ("registration", "export.zip", ["export.zip", "not a readable zip archive"]),
    ],
)
def test_zero_byte_file_is_refused(tmp_path, loaded, system, name, fragments):
    path = tmp_path / "export" / name
    path.parent.mkdir()
    path.touch()
    fails(system, path if name.endswith(".zip") else path.parent, SourceError, *fragments)


# --- wrong extensions and formats -------------------------------------------------------------------------

GML = """<?xml version="1.0" encoding="utf-8" ?>
<ogr:FeatureCollection xmlns:ogr="http://ogr.maptools.org/" xmlns:gml="http://www.opengis.net/gml">
  <gml:featureMember><ogr:ghxk fid="ghxk.0">
    <ogr:geometryProperty><gml:Point><gml:coordinates>36361462,3272193</gml:coordinates></gml:Point>
    </ogr:geometryProperty><ogr:许可证号>地字第1号</ogr:许可证号>
  </ogr:ghxk></gml:featureMember>
</ogr:FeatureCollection>
"""


def test_text_file_renamed_gpkg_is_refused(tmp_path, loaded):
    folder = tmp_path / "planning"
    folder.mkdir()
    (folder / "permits.gpkg").write_text("许可证号,项目名称\n地字第1号,测试\n", encoding="utf-8")
    fails("planning", folder, SourceError, "permits.gpkg", "not a GeoPackage (SQLite) file", "a text file")


def test_gml_renamed_gpkg_is_refused_before_gdal_writes_a_gfs_beside_it(tmp_path, loaded):
    folder = tmp_path / "planning"
    folder.mkdir()
    (folder / "permits.gpkg").write_text(GML, encoding="utf-8")
    fails("planning", folder, SourceError, "permits.gpkg", "not a GeoPackage", "an XML file")
    assert sorted(os.listdir(folder)) == ["permits.gpkg"]  # GDAL's GML driver would have written a .gfs


def test_workbook_renamed_csv_is_refused(tmp_path, loaded):
    folder = tmp_path / "supply"
    supply_xlsx(folder / "real.xlsx", supply_rows(2)).rename(folder / "supply.csv")
    fails("landsupply", folder, SourceError, "supply.csv", "line 1 contains a NUL byte", "XLSX workbook")


def test_text_file_renamed_shp_is_refused(tmp_path, loaded):
    folder = tmp_path / "export"
    registration_files(folder)
    (folder / "ZDJBXX.shp").write_text("ZDDM,ZL\n" * 30, encoding="utf-8")
    fails("registration", folder, SourceError, "ZDJBXX.shp", "not an ESRI shapefile")


def test_archive_with_another_extension_or_a_fake_zip_is_refused(tmp_path, loaded):
    archive = registration_zip(tmp_path)
    fails("registration", archive.rename(tmp_path / "export.rar"), SourceError, "export.rar", "'ZDJBXX.shp'")
    fake = tmp_path / "fake.zip"
    fake.write_text("这不是压缩包\n", encoding="utf-8")
    fails("registration", fake, SourceError, "fake.zip", "not a readable zip archive")


# --- XML with external entities ---------------------------------------------------------------------------


def test_kml_with_external_entity_named_gpkg_is_refused(tmp_path, loaded):
    folder = tmp_path / "planning"
    folder.mkdir()
    (folder / "permits.gpkg").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n{XXE_DTD}\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&xxe;</name>'
        "<Point><coordinates>106.57,29.56</coordinates></Point></Placemark></Document></kml>\n",
        encoding="utf-8",
    )
    message = fails("planning", folder, HostileInputError, "permits.gpkg", "XXE", "nothing was loaded")
    assert "root:" not in message
    assert sorted(os.listdir(folder)) == ["permits.gpkg"]


def test_geojson_that_is_xml_with_external_entity_is_refused(tmp_path, loaded):
    folder = tmp_path / "planning"
    folder.mkdir()
    # a long comment first: the declaration is found wherever it is, not only in the first bytes
    (folder / "permits.geojson").write_text(
        f'<?xml version="1.0"?>\n<!--{" " * 70_000}-->\n{XXE_DTD}\n<kml><name>&xxe;</name></kml>\n',
        encoding="utf-8",
    )
    fails("planning", folder, HostileInputError, "permits.geojson", "XXE", mapping=planning_geojson_mapping())


def test_xlsx_part_with_external_entity_is_refused(tmp_path, loaded):
    book = supply_xlsx(tmp_path / "x" / "supply.xlsx", supply_rows(2))
    part = "xl/worksheets/sheet1.xml"  # openpyxl writes inline strings into the sheet itself
    with zipfile.ZipFile(book) as zf:
        sheet = zf.read(part).decode("utf-8")
    dtd = XXE_DTD.replace("kml", "worksheet")
    if sheet.startswith("<?xml"):
        declaration, body = sheet.split("?>", 1)
        poisoned = f"{declaration}?>{dtd}{body}"
    else:
        poisoned = dtd + sheet
    poisoned = poisoned.replace("<t>", "<t>&xxe;", 1)
    assert "<!DOCTYPE" in poisoned and "&xxe;" in poisoned
    rewrite_zip(book, replace={part: poisoned.encode("utf-8")})
    message = fails(
        "landsupply",
        book,
        HostileInputError,
        "supply.xlsx",
        f"'{part}'",
        "XXE",
        mapping=supply_mapping("{file: supply.xlsx, format: xlsx}"),
    )
    assert "root:" not in message


def test_xlsx_is_a_zip_too_and_gets_the_zip_bomb_limits(tmp_path, loaded, monkeypatch):
    monkeypatch.setattr(safezip, "MAX_UNPACKED_BYTES", 2 * 1024**2)
    book = supply_xlsx(tmp_path / "x" / "supply.xlsx", supply_rows(2))
    rewrite_zip(book, add={"xl/media/image1.png": bytes(8 * 1024**2)})
    fails(
        "landsupply",
        book,
        HostileInputError,
        "supply.xlsx",
        "zip bomb",
        mapping=supply_mapping("{file: supply.xlsx, format: xlsx}"),
    )


def test_doctype_text_inside_a_real_geojson_value_is_just_text(tmp_path):
    """The check looks at what the file is, not at what its values say: a GeoJSON whose project name reads
    like a DTD loads, with the text stored verbatim."""
    rows = permit_rows(2)
    rows[0]["项目名称"] = XXE_DTD + "&xxe;"
    folder = tmp_path / "planning"
    write_layer(folder / "permits.geojson", rows, crs="EPSG:4524", driver="GeoJSON")
    run = run_load("planning", folder, mapping=planning_geojson_mapping())
    assert run.status == "completed" and run.counts["added"] == 2 and run.counts["rejected"] == 0
    assert PlanningPermit.objects.get(permit_no=rows[0]["许可证号"]).project_name == XXE_DTD + "&xxe;"


# --- oversized fields -------------------------------------------------------------------------------------


def test_oversized_values_are_rejected_per_row_with_the_field_named(tmp_path):
    """坐落 over 300 characters and 宗地代码 over 19 are row problems; a 200 KB WKT (over Python's default
    CSV cell limit of 128 KB) is an ordinary detailed polygon and loads."""
    rows = supply_rows(3)
    rows[0][COL["坐落"]] = "渝中区民权路" + "附" * 295  # 301 characters
    rows[1][COL["宗地代码"]] = "500103001001GB000020"  # 20 characters
    centre = gk_square(2, transformer=TO_2381).centroid
    detailed = centre.buffer(28.0, quad_segs=2000)  # 8,000 vertices
    rows[2][COL["范围WKT"]] = shapely.to_wkt(detailed, rounding_precision=6)
    rows[2][COL["面积（亩）"]] = f"{detailed.area / (10000 / 15):.4f}"
    assert len(rows[2][COL["范围WKT"]]) > 200_000
    path = write_supply_csv(tmp_path / "ls", rows)
    run = run_load("landsupply", path)
    assert run.status == "completed"
    assert problems(run) == {
        ("supply", 1, "too_long", "坐落", "error"),
        ("supply", 2, "too_long", "宗地代码", "error"),
    }
    address = Problem.objects.get(run=run, row=1)
    assert "300" in address.message_en and len(address.raw["坐落"]) == 301 and len(address.actual) == 80
    assert list(LandSupply.objects.values_list("contract_no", flat=True)) == [rows[2][COL["合同编号"]]]
    stored = LandSupply.objects.get().geom
    assert stored.num_coords > 7_000 and abs(stored.centroid.x - 106.5717) < 0.01


def test_oversized_zddm_in_a_shapefile_is_rejected_with_its_field(tmp_path):
    parcels = parcel_rows(3)
    buildings = building_rows(parcels)
    parcels[1]["ZDDM"] = "500103001001GB000020"  # 20 characters: ZDDM is 19
    run = run_load("registration", write_registration(tmp_path / "r", parcels, buildings))
    assert problems(run) == {
        ("parcels", 2, "zddm_length", "ZDDM", "error"),
        ("parcels", 2, "too_long", "ZDDM", "error"),
    }
    assert sorted(Parcel.objects.values_list("zddm", flat=True)) == [parcels[0]["ZDDM"], parcels[2]["ZDDM"]]
    assert Building.objects.count() == 3


def test_csv_cell_beyond_the_reader_limit_is_fatal_and_names_the_line(tmp_path, loaded, monkeypatch):
    monkeypatch.setattr(sources, "MAX_CSV_FIELD", 10_000)
    limit_before = csv.field_size_limit()
    rows = supply_rows(3)
    rows[1][COL["项目名称"]] = "大" * 20_000
    path = write_supply_csv(tmp_path / "ls", rows)
    fails("landsupply", path, SourceError, "supply.csv", "line 3", "field larger than field limit (10000)")
    assert csv.field_size_limit() == limit_before  # the process-wide limit is restored


# --- geometry: mixed types, Z/M, NULL and EMPTY -----------------------------------------------------------


def test_layer_mixing_polygons_points_and_lines_rejects_the_non_polygons(tmp_path):
    rows = permit_rows(5)
    polygon = rows[3]["geometry"]
    rows[1]["geometry"] = rows[1]["geometry"].centroid
    rows[2]["geometry"] = shapely.LineString(shapely.get_coordinates(rows[2]["geometry"])[:3])
    rows[3]["geometry"] = shapely.GeometryCollection([polygon, polygon.centroid])
    rows[4]["geometry"] = shapely.MultiPolygon([rows[4]["geometry"]])
    folder = tmp_path / "planning"
    write_layer(
        folder / "permits.gpkg", rows, crs="EPSG:4524", layer="ghxk", driver="GPKG", geometry_type="Unknown"
    )
    assert pyogrio.read_info(folder / "permits.gpkg", layer="ghxk")["geometry_type"] == "Unknown"
    run = run_load("planning", folder)
    assert problems(run) == {
        ("permits", 2, "geometry_type", "geometry", "error"),
        ("permits", 3, "geometry_type", "geometry", "error"),
    }
    assert {p.row: p.actual for p in Problem.objects.filter(run=run)} == {2: "Point", 3: "LineString"}
    loaded_rows = set(PlanningPermit.objects.values_list("src_row", flat=True))
    assert loaded_rows == {1, 4, 5}
    collection = PlanningPermit.objects.get(src_row=4).geom  # the polygon part of the collection
    assert collection.geom_type == "MultiPolygon" and collection.area > 0


def _write_measured(path: Path, rows: list[dict], scratch: Path) -> None:
    """A PolygonM shapefile (pyogrio can only write M geometries as ISO WKB with SHPT set)."""
    write_layer(scratch / path.name, rows, crs="EPSG:4545", encoding="GBK")
    meta, _, geoms, fields = pyogrio.raw.read(scratch / path.name, encoding="gb18030")
    measured = [
        shapely.to_wkb(shapely.from_wkt(wkt_with(shapely.from_wkb(g), "M")), flavor="iso") for g in geoms
    ]
    pyogrio.raw.write(
        path,
        np.array(measured, dtype=object),
        fields,
        list(meta["fields"]),
        crs="EPSG:4545",
        encoding="GBK",
        geometry_type="Unknown",
        layer_options={"SHPT": "POLYGONM"},
    )


def zm_flags(table: str) -> set[int]:
    """ST_Zmflag of every geometry in a table: 0 = 2D, 1 = M, 2 = Z, 3 = ZM."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT ST_Zmflag(geom) FROM {table}")
        return {row[0] for row in cursor.fetchall()}


def test_z_and_m_geometries_are_loaded_2d_with_a_warning(tmp_path):
    parcels = parcel_rows(3)
    buildings = building_rows(parcels)
    for row in parcels:
        row["geometry"] = shapely.force_3d(row["geometry"], 250.0)
    folder = tmp_path / "r"
    write_layer(folder / "ZDJBXX.shp", parcels, crs="EPSG:4545", encoding="GBK", geometry_type="Polygon Z")
    _write_measured(folder / "ZRZ.shp", buildings, tmp_path / "scratch")
    assert (folder / "ZRZ.shp").read_bytes()[32:36] == struct.pack("<i", 25)  # shape type PolygonM
    run = run_load("registration", folder)
    assert run.status == "completed" and run.counts["added"] == 6 and run.counts["rejected"] == 0
    assert problems(run) == {
        ("parcels", 1, "geometry_z_dropped", "geometry", "warning"),
        ("parcels", 2, "geometry_z_dropped", "geometry", "warning"),
        ("parcels", 3, "geometry_z_dropped", "geometry", "warning"),
        ("buildings", None, "geometry_m_dropped", "", "warning"),  # pyogrio drops M itself: said once
    }
    assert zm_flags("layers_parcel") == {0} and zm_flags("layers_building") == {0}

    rows = supply_rows(3)
    for i, dims in enumerate(("Z", "M", "ZM")):
        rows[i][COL["范围WKT"]] = wkt_with(gk_square(i, transformer=TO_2381), dims)
    run = run_load("landsupply", write_supply_csv(tmp_path / "ls", rows))
    assert run.counts["added"] == 3 and run.counts["rejected"] == 0
    assert problems(run) == {("supply", i, "geometry_z_dropped", "geometry", "warning") for i in (1, 2, 3)}
    assert zm_flags("layers_landsupply") == {0}


def test_null_and_empty_geometries_are_rejected_per_row(tmp_path):
    rows = permit_rows(4)
    rows[1]["geometry"] = None
    rows[2]["geometry"] = shapely.Polygon()
    rows[3]["geometry"] = shapely.MultiPolygon()
    folder = tmp_path / "planning"
    write_layer(
        folder / "permits.gpkg", rows, crs="EPSG:4524", layer="ghxk", driver="GPKG", geometry_type="Unknown"
    )
    run = run_load("planning", folder)
    assert problems(run) == {("permits", i, "geometry_null", "geometry", "error") for i in (2, 3, 4)}
    assert list(PlanningPermit.objects.values_list("src_row", flat=True)) == [1]

    supply = supply_rows(4)
    supply[1][COL["范围WKT"]] = ""
    supply[2][COL["范围WKT"]] = "POLYGON EMPTY"
    supply[3][COL["范围WKT"]] = "POLYGON ((36361462 3272193, 3636"
    run = run_load("landsupply", write_supply_csv(tmp_path / "ls", supply))
    assert problems(run) == {
        ("supply", 2, "geometry_null", "geometry", "error"),
        ("supply", 3, "geometry_null", "geometry", "error"),
        ("supply", 4, "geometry_unreadable", "geometry", "error"),
        ("supply", 4, "geometry_null", "geometry", "error"),
    }
    assert Problem.objects.get(run=run, rule="geometry_unreadable").actual == supply[3][COL["范围WKT"]]
    assert list(LandSupply.objects.values_list("contract_no", flat=True)) == [supply[0][COL["合同编号"]]]


# --- CSV with BOM, XLSX with title and totals rows --------------------------------------------------------


@pytest.mark.parametrize("encoding", ["auto", "utf-8"])
def test_utf8_csv_with_bom_decodes_and_keeps_its_first_header(tmp_path, encoding):
    header = ["合同编号", *[h for h in SUPPLY_HEADER if h != "合同编号"]]  # the BOM sits on a mapped column
    rows = [
        [r[COL["合同编号"]], *[v for j, v in enumerate(r) if j != COL["合同编号"]]] for r in supply_rows(3)
    ]
    path = write_csv(tmp_path / "ls" / "supply.csv", header, rows, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf\xe5\x90\x88")  # BOM, then 合
    mapping = supply_mapping(f"{{file: supply.csv, format: csv, encoding: {encoding}}}")
    run = run_load("landsupply", path, mapping=mapping)
    assert run.status == "completed" and run.counts["added"] == 3 and not problems(run)
    if encoding == "auto":
        assert (run.per_target["supply"]["encoding"], run.per_target["supply"]["encoding_source"]) == (
            "utf-8-sig",
            "UTF-8 BOM",
        )
    assert sorted(LandSupply.objects.values_list("contract_no", flat=True)) == sorted(r[0] for r in rows)
    assert LandSupply.objects.get(contract_no=rows[0][0]).grantee == "重庆测试置业有限公司"


def test_xlsx_with_merged_title_rows_and_a_totals_row(tmp_path):
    rows = supply_rows(3)
    rows[1][COL["土地用途"]] = "不存在的用途"
    book = supply_xlsx(tmp_path / "x" / "supply.xlsx", rows)
    run = run_load("landsupply", book, mapping=supply_mapping("{file: supply.xlsx, format: xlsx}"))
    assert run.status == "completed"
    assert (run.counts["read"], run.counts["added"], run.counts["rejected"]) == (3, 2, 1)
    assert problems(run) == {
        ("supply", None, "header_rows_skipped", "", "warning"),
        ("supply", 2, "code_unknown", "土地用途", "error"),
        ("supply", 4, "totals_row", "", "warning"),
    }
    skipped = Problem.objects.get(run=run, rule="header_rows_skipped")
    assert "line 3" in skipped.message_en and "2 title/merged" in skipped.message_en
    totals = Problem.objects.get(run=run, rule="totals_row")
    assert totals.raw["序号"] == "合计" and totals.source_file == "supply.xlsx"
    supply = LandSupply.objects.get(contract_no=rows[0][COL["合同编号"]])
    assert abs(float(supply.area) - 2500) < 1 and str(supply.supplied_on) == "2016-03-01"
    assert supply.county_code == "500103"


# --- SQL-looking text -------------------------------------------------------------------------------------

SQL_COLUMN = 'x"; DROP TABLE layers_parcel;--'
SQL_VALUES = {
    "合同编号": "渝地'; TRUNCATE layers_landsupply;--",
    "项目名称": "'; DROP TABLE layers_landsupply; --",
    "受让人": "Robert'); DROP TABLE etl_problem;--",
    "坐落": "$$; SELECT pg_sleep(30); $$ \\. \\\\copy",
}


def test_sql_looking_values_and_column_names_are_stored_verbatim(tmp_path, loaded):
    header = [*SUPPLY_HEADER, SQL_COLUMN, "'); DELETE FROM layers_building;--"]
    rows = [[*r, "1); DROP TABLE layers_building;--", "x"] for r in supply_rows(3)]
    for name, value in SQL_VALUES.items():
        rows[0][COL[name]] = value
    rows[2][COL["土地用途"]] = "0701' OR '1'='1"
    path = write_csv(tmp_path / "ls" / "supply.csv", header, rows)
    others = {t: v for t, v in loaded.items() if "landsupply" not in t}
    run = run_load("landsupply", path)
    assert run.status == "completed" and run.counts["rejected"] == 1
    assert set(LandSupply.objects.values_list("contract_no", flat=True)) == {
        SQL_VALUES["合同编号"],
        rows[1][COL["合同编号"]],
    }
    stored = LandSupply.objects.get(contract_no=SQL_VALUES["合同编号"])
    assert (stored.project_name, stored.grantee, stored.address) == (
        SQL_VALUES["项目名称"],
        SQL_VALUES["受让人"],
        SQL_VALUES["坐落"],
    )
    (problem,) = Problem.objects.filter(run=run)
    assert (problem.row, problem.rule, problem.field) == (3, "code_unknown", "土地用途")
    assert problem.actual == rows[2][COL["土地用途"]]
    assert problem.raw[SQL_COLUMN] == "1); DROP TABLE layers_building;--"
    assert {t: v for t, v in snapshot().items() if "landsupply" not in t} == others  # other tables intact


def test_sql_looking_folder_and_column_names_in_an_export(tmp_path):
    folder_name = "'; DROP TABLE layers_parcel;--"
    files = registration_files(tmp_path / "src")
    archive = make_zip(tmp_path / "export.zip", [(f"{folder_name}/{n}", d) for n, d in files.items()])
    run = run_load("registration", archive)
    assert run.status == "completed" and run.counts["rejected"] == 0
    assert set(Parcel.objects.values_list("src_file", flat=True)) == {f"{folder_name}/ZDJBXX.shp"}

    rows = [dict(r, **{SQL_COLUMN: "'; DROP TABLE layers_planningpermit;--"}) for r in permit_rows(2)]
    rows[1]["用地性质"] = "999"
    run = run_load("planning", write_planning(tmp_path / "planning", rows).parent)
    assert run.counts["added"] == 1 and PlanningPermit.objects.count() == 1
    (problem,) = Problem.objects.filter(run=run)
    assert problem.raw[SQL_COLUMN] == "'; DROP TABLE layers_planningpermit;--"
    assert Parcel.objects.count() == 3 and Building.objects.count() == 3
