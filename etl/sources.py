"""Open an export and read one layer of it into columns, whatever its format and encoding.

Formats are read with GDAL (pyogrio) where GDAL reads them well (Shapefile, GeoPackage, GeoJSON, File GDB);
CSV and XLSX are read in Python because GDAL guesses their encodings and header rows badly, and operators'
spreadsheets have title rows, merged headers and totals rows. Zip archives are unpacked safely first
(:mod:`etl.safezip`). The encoding of a shapefile comes from its ``.cpg``, then the DBF language driver
byte, then a strict UTF-8 decode of the attribute bytes, then GB18030; the mapping can override it.
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from etl.errors import SourceError
from etl.mapping import SourceSpec

# DBF language-driver ids that name a Chinese code page (others say nothing useful about Chinese text)
LDID_ENCODINGS = {0x4D: "gb18030", 0x7A: "gb18030", 0x4F: "big5"}
CPG_ALIASES = {
    "936": "gb18030",
    "cp936": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "gb18030": "gb18030",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "65001": "utf-8",
    "ansi 936": "gb18030",
    "big5": "big5",
}
TOTALS_WORDS = ("合计", "总计", "小计", "total")


@dataclass
class SourceTable:
    """One layer of an export as columns of Python objects, with what we learnt while reading it."""

    file: Path
    display_name: str
    format: str
    layer: str | None
    columns: list[str]
    data: dict[str, np.ndarray]
    rows: np.ndarray  # 1-based row numbers as operators count them (n-th feature / n-th data row)
    geometry_wkb: np.ndarray | None  # object array of WKB bytes (or None) when the layer has geometry
    file_crs_wkt: str | None = None
    encoding: str | None = None
    encoding_source: str = ""
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (rule, zh, en) file-level warnings
    skipped_rows: list[tuple[int, str, dict]] = field(default_factory=list)  # (row, reason, raw)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, keep: np.ndarray) -> SourceTable:
        """The same table restricted to the rows where ``keep`` is true (re-runs of rejected rows)."""
        return dataclasses.replace(
            self,
            data={k: v[keep] for k, v in self.data.items()},
            rows=self.rows[keep],
            geometry_wkb=None if self.geometry_wkb is None else self.geometry_wkb[keep],
            skipped_rows=[],
            notes=[],
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in paths:
        if path.is_dir():
            digest.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def locate(root: Path, spec: SourceSpec) -> Path:
    """Find the file a target reads inside an export folder (case-insensitive glob on the file name)."""
    if root.is_file():
        if fnmatch.fnmatch(root.name.lower(), spec.file.lower()):
            return root
        raise SourceError(
            f"{root.name}: the mapping expects a file named like '{spec.file}' for this target; "
            "upload the whole export (folder or zip)"
        )
    matches = sorted(
        p for p in root.rglob("*") if p.is_file() and fnmatch.fnmatch(p.name.lower(), spec.file.lower())
    )
    if not matches:
        present = ", ".join(sorted(p.name for p in root.rglob("*") if p.is_file())[:20]) or "(empty)"
        raise SourceError(f"{root}: no file named like '{spec.file}' in the export (found: {present})")
    if len(matches) > 1:
        raise SourceError(f"{root}: several files match '{spec.file}': {', '.join(p.name for p in matches)}")
    return matches[0]


# --- encodings -------------------------------------------------------------------------------------------


def _dbf_string_bytes(dbf: Path, sample: int = 8 << 20) -> tuple[int, bytes]:
    """LDID byte and up to ``sample`` bytes of the DBF's records (to guess the encoding without reading a
    huge file whole)."""
    size = dbf.stat().st_size
    with open(dbf, "rb") as fh:
        header = fh.read(32)
        if len(header) < 32:
            raise SourceError(f"{dbf.name}: truncated DBF file ({size} bytes)")
        ldid = header[29]
        header_len = int.from_bytes(header[8:10], "little")
        record_len = int.from_bytes(header[10:12], "little")
        n_records = int.from_bytes(header[4:8], "little")
        if header_len < 33 or record_len < 1 or header_len + n_records * record_len > size + 1:
            raise SourceError(f"{dbf.name}: damaged or truncated DBF (header says {n_records} records)")
        fh.seek(header_len)
        data = fh.read(min(n_records * record_len, sample // record_len * record_len or record_len))
    return ldid, data


def detect_bytes_encoding(data: bytes) -> str:
    """UTF-8 if the bytes decode strictly as UTF-8, else GB18030 (a superset of GBK) if they decode so."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"text is neither UTF-8 nor GB18030 (bad byte at offset {exc.start}); "
            "set 'encoding' in the mapping"
        ) from exc


def detect_shapefile_encoding(shp: Path) -> tuple[str, str]:
    """(encoding, how it was found) for a shapefile."""
    cpg = shp.with_suffix(".cpg")
    if not cpg.exists():
        cpg = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".cpg"), cpg)
    if cpg.exists():
        name = cpg.read_text(errors="replace").strip().lower()
        if name in CPG_ALIASES:
            return CPG_ALIASES[name], f".cpg ({name})"
    dbf = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".dbf"), None)
    if dbf is None:
        raise SourceError(f"{shp.name}: the .dbf file is missing (a shapefile needs .shp, .shx and .dbf)")
    ldid, data = _dbf_string_bytes(dbf)
    if ldid in LDID_ENCODINGS:
        return LDID_ENCODINGS[ldid], f"DBF language driver 0x{ldid:02X}"
    if data.isascii():
        return "utf-8", "ASCII only"
    try:
        return detect_bytes_encoding(data), "decoded content"
    except SourceError as exc:
        raise SourceError(f"{dbf.name}: {exc}") from exc


# --- readers ---------------------------------------------------------------------------------------------


def _check_shapefile_parts(shp: Path) -> None:
    names = {p.suffix.lower() for p in shp.parent.glob(shp.stem + ".*")}
    missing = [ext for ext in (".shx", ".dbf") if ext not in names]
    if missing:
        raise SourceError(
            f"{shp.name}: {' and '.join(missing)} missing; a shapefile needs .shp, .shx and .dbf together"
        )
    if shp.stat().st_size < 100:
        raise SourceError(f"{shp.name}: truncated .shp file ({shp.stat().st_size} bytes)")


def read_ogr(
    path: Path, spec: SourceSpec, display_name: str, skip_features: int = 0, max_features: int | None = None
) -> SourceTable:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    encoding, how = None, ""
    if spec.format in ("shapefile", "zip") and path.suffix.lower() == ".shp":
        _check_shapefile_parts(path)
        if spec.encoding != "auto":
            encoding, how = spec.encoding, "mapping"
        else:
            encoding, how = detect_shapefile_encoding(path)
    elif spec.encoding != "auto":
        encoding, how = spec.encoding, "mapping"
    else:
        how = "UTF-8 (format)"
    try:
        meta, fids, geometry, field_data = pyogrio.raw.read(
            path,
            layer=spec.layer,
            encoding=encoding,
            return_fids=True,
            datetime_as_string=True,
            skip_features=skip_features,
            max_features=max_features,
        )
    except (DataSourceError, DataLayerError) as exc:
        raise SourceError(f"{display_name}: cannot be read as {spec.format}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(f"{display_name}: text is not {encoding}; set 'encoding' in the mapping") from exc
    columns = [str(c) for c in meta["fields"]]
    data = {}
    for name, values in zip(columns, field_data, strict=True):
        data[name] = np.asarray(values, dtype=object)
    n = len(fids)
    rows = np.arange(skip_features + 1, skip_features + n + 1, dtype=np.int64)
    geom = np.asarray(geometry, dtype=object) if geometry is not None else None
    return SourceTable(
        file=path,
        display_name=display_name,
        format=spec.format,
        layer=meta.get("layer_name") or spec.layer,
        columns=columns,
        data=data,
        rows=rows,
        geometry_wkb=geom,
        file_crs_wkt=meta.get("crs"),
        encoding=encoding or meta.get("encoding") or "utf-8",
        encoding_source=how,
    )


def _columns_from_records(header: list[str], records: list[list], first_row: int) -> tuple[dict, np.ndarray]:
    width = len(header)
    data = {name: np.empty(len(records), dtype=object) for name in header}
    for i, record in enumerate(records):
        for j in range(width):
            data[header[j]][i] = record[j] if j < len(record) else None
    return data, np.arange(first_row, first_row + len(records), dtype=np.int64)


def _clean_header(cells: list) -> list[str]:
    header = []
    for i, cell in enumerate(cells):
        name = "" if cell is None else str(cell).strip().lstrip("\ufeff")
        header.append(name or f"column_{i + 1}")
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            seen[name] += 1
            header[i] = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
    return header


def _is_totals(record: list) -> bool:
    first = next((str(v).strip() for v in record if v not in (None, "")), "")
    return any(first.lower().startswith(w) for w in TOTALS_WORDS)


def read_csv(path: Path, spec: SourceSpec, display_name: str, expected: set[str]) -> SourceTable:
    raw = path.read_bytes()
    if spec.encoding != "auto":
        encoding, how = spec.encoding, "mapping"
    elif raw.startswith(b"\xef\xbb\xbf"):
        encoding, how = "utf-8-sig", "UTF-8 BOM"
    else:
        try:
            encoding, how = detect_bytes_encoding(raw), "decoded content"
        except SourceError as exc:
            raise SourceError(f"{display_name}: {exc}") from exc
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{display_name}: not {encoding} at byte {exc.start}; set 'encoding' in the mapping"
        ) from exc
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise SourceError(f"{display_name}: not a readable CSV file: {exc}") from exc
    return _table_from_records(path, spec, display_name, records, expected, encoding, how)


def read_xlsx(path: Path, spec: SourceSpec, display_name: str, expected: set[str]) -> SourceTable:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SourceError(f"{display_name}: not a readable XLSX workbook: {exc}") from exc
    try:
        sheet = workbook[spec.layer] if spec.layer else workbook.worksheets[0]
    except KeyError as exc:
        raise SourceError(
            f"{display_name}: no sheet named '{spec.layer}' (sheets: {workbook.sheetnames})"
        ) from exc
    records = [list(row) for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    return _table_from_records(path, spec, display_name, records, expected, None, "XLSX (Unicode)")


def _table_from_records(
    path: Path,
    spec: SourceSpec,
    display_name: str,
    records: list[list],
    expected: set[str],
    encoding: str | None,
    how: str,
) -> SourceTable:
    """Find the header row (title rows and merged header rows above it are skipped), drop totals rows."""
    notes: list[tuple[str, str, str]] = []
    if not records:
        raise SourceError(f"{display_name}: the file is empty")
    if spec.header_row:
        header_index = spec.header_row - 1
    else:
        header_index = 0
        best = -1
        for i, record in enumerate(records[:20]):
            cells = {str(v).strip().lstrip("\ufeff") for v in record if v not in (None, "")}
            score = len(cells & expected)
            if score > best:
                best, header_index = score, i
        if header_index:
            notes.append(
                (
                    "header_rows_skipped",
                    f"表头位于第{header_index + 1}行，其上{header_index}行（标题或合并表头）已跳过",
                    f"header found on line {header_index + 1}; "
                    f"{header_index} title/merged line(s) above skipped",
                )
            )
    header = _clean_header(records[header_index])
    body = records[header_index + 1 :]
    skipped: list[tuple[int, str, dict]] = []
    kept: list[list] = []
    kept_rows: list[int] = []
    for offset, record in enumerate(body, start=1):
        if all(v in (None, "") or (isinstance(v, str) and not v.strip()) for v in record):
            continue
        if _is_totals(record):
            skipped.append((offset, "totals_row", dict(zip(header, record, strict=False))))
            continue
        kept.append(record)
        kept_rows.append(offset)
    data, _ = _columns_from_records(header, kept, 1)
    return SourceTable(
        file=path,
        display_name=display_name,
        format=spec.format,
        layer=spec.layer,
        columns=header,
        data=data,
        rows=np.asarray(kept_rows, dtype=np.int64),
        geometry_wkb=None,
        encoding=encoding,
        encoding_source=how,
        notes=notes,
        skipped_rows=skipped,
    )


def read_source(
    root: Path, spec: SourceSpec, expected: set[str], max_features: int | None = None
) -> SourceTable:
    """Read the layer a target needs from an export folder (already unpacked) or a single file."""
    path = locate(root, spec)
    display = path.name if root.is_file() else str(path.relative_to(root))
    if path.stat().st_size == 0:
        raise SourceError(f"{display}: the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if spec.format == "csv":
        if suffix not in (".csv", ".txt"):
            raise SourceError(f"{display}: expected a .csv file for format csv, got '{suffix}'")
        return read_csv(path, spec, display, expected)
    if spec.format == "xlsx":
        if suffix not in (".xlsx", ".xlsm"):
            raise SourceError(f"{display}: expected an .xlsx workbook, got '{suffix}'")
        return read_xlsx(path, spec, display, expected)
    wanted = {"shapefile": ".shp", "gpkg": ".gpkg", "geojson": (".geojson", ".json"), "filegdb": ".gdb"}
    if spec.format in wanted and not suffix.endswith(wanted[spec.format]):
        raise SourceError(f"{display}: expected {spec.format} ({wanted[spec.format]}), got '{suffix}'")
    if spec.format == "geojson":
        head = path.read_bytes()[:4096].lower()
        if b"<!entity" in head or b"<!doctype" in head:
            raise SourceError(f"{display}: contains XML/DTD declarations; not a GeoJSON file")
    return read_ogr(path, spec, display, max_features=max_features)


CHUNK_ROWS = 100_000


def iter_source(root: Path, spec: SourceSpec, expected: set[str], chunk_rows: int | None = None):
    """Read a layer in chunks of ``chunk_rows`` features so memory stays flat however big the export is.

    GDAL formats are read by feature ranges; CSV and XLSX (small by nature) come as one chunk.
    """
    chunk_rows = chunk_rows or CHUNK_ROWS
    if spec.format in ("csv", "xlsx"):
        yield read_source(root, spec, expected)
        return
    first = read_source(root, spec, expected, max_features=chunk_rows)
    yield first
    if len(first) < chunk_rows:
        return
    import pyogrio

    total = pyogrio.read_info(first.file, layer=spec.layer)["features"]
    known = dataclasses.replace(spec, encoding=first.encoding) if first.encoding else spec
    for skip in range(chunk_rows, total, chunk_rows):
        chunk = read_ogr(first.file, known, first.display_name, skip_features=skip, max_features=chunk_rows)
        chunk.encoding_source = first.encoding_source
        yield chunk
