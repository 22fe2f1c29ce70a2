"""Open an export and read one layer of it into columns, whatever its format and encoding.

Formats are read with GDAL (pyogrio) where GDAL reads them well (Shapefile, GeoPackage, GeoJSON, File GDB);
CSV and XLSX are read in Python because GDAL guesses their encodings and header rows badly, and operators'
spreadsheets have title rows, merged headers and totals rows. Zip archives are unpacked safely first
(:mod:`etl.safezip`). The encoding of a shapefile comes from its ``.cpg``, then the DBF language driver
byte, then a strict UTF-8 decode of the attribute bytes, then GB18030; the mapping can override it.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import fnmatch
import gc
import hashlib
import io
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from etl.errors import HostileInputError, SourceError
from etl.mapping import SourceSpec
from etl.safezip import check_limits

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
MAX_CSV_FIELD = 16 * 1024**2  # characters in one CSV cell (a detailed polygon's WKT runs to a few MB)
SQLITE_MAGIC = b"SQLite format 3\x00"
SHAPE_FILE_CODE = 9994
# An XML document type declaration is how external entities (XXE) and entity bombs get in; none of the
# formats we read needs one. Searched for in ASCII/UTF-8 and in UTF-16 (expat reads both).
DTD_MARKERS = tuple(
    marker.encode(codec)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for codec in ("ascii", "utf-16-le", "utf-16-be")
)


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
    row_hashes: np.ndarray | None = None  # content hash of each raw row (set by the stager)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, keep: np.ndarray) -> SourceTable:
        """The same table restricted to the rows where ``keep`` is true (re-runs of rejected rows)."""
        return dataclasses.replace(
            self,
            data={k: v[keep] for k, v in self.data.items()},
            rows=self.rows[keep],
            geometry_wkb=None if self.geometry_wkb is None else self.geometry_wkb[keep],
            row_hashes=None if self.row_hashes is None else self.row_hashes[keep],
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
    # a File Geodatabase is a folder (name.gdb); every other format is a file
    wanted_dir = spec.format == "filegdb"
    if wanted_dir and root.suffix.lower() == ".gdb" and fnmatch.fnmatch(root.name.lower(), spec.file.lower()):
        return root
    matches = sorted(
        p
        for p in root.rglob("*")
        if (p.is_dir() if wanted_dir else p.is_file()) and fnmatch.fnmatch(p.name.lower(), spec.file.lower())
    )
    if not matches:
        present = ", ".join(sorted(p.name for p in root.rglob("*") if p.is_file())[:20]) or "(empty)"
        raise SourceError(f"{root}: no file named like '{spec.file}' in the export (found: {present})")
    if len(matches) > 1:
        raise SourceError(f"{root}: several files match '{spec.file}': {', '.join(p.name for p in matches)}")
    return matches[0]


# --- encodings -------------------------------------------------------------------------------------------


def _siblings(shp: Path) -> list[Path]:
    """The files of one shapefile (same stem, any extension); file names are not glob patterns."""
    return [p for p in shp.parent.iterdir() if p.stem == shp.stem and p.is_file()]


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
        if header_len < 33 or record_len < 1 or header_len + n_records * record_len > size:
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
        cpg = next((p for p in _siblings(shp) if p.suffix.lower() == ".cpg"), cpg)
    if cpg.exists():
        name = cpg.read_text(errors="replace").strip().lower()
        if name in CPG_ALIASES:
            return CPG_ALIASES[name], f".cpg ({name})"
    dbf = next((p for p in _siblings(shp) if p.suffix.lower() == ".dbf"), None)
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


def _check_shapefile_parts(shp: Path, display_name: str) -> None:
    """The three files of a shapefile are there and agree with each other.

    GDAL reads a truncated .shp without complaint and returns NULL geometries for the records it cannot
    reach, so the lengths in the headers are checked against the files before GDAL sees them.
    """
    parts = {p.suffix.lower(): p for p in _siblings(shp)}
    missing = [ext for ext in (".shx", ".dbf") if ext not in parts]
    if missing:
        raise SourceError(
            f"{display_name}: {' and '.join(missing)} missing; "
            "a shapefile needs .shp, .shx and .dbf together: export it again or upload all its files"
        )
    shp_size = shp.stat().st_size
    with open(shp, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100:
        raise SourceError(f"{display_name}: truncated .shp file ({shp_size} bytes; the header alone is 100)")
    code = int.from_bytes(head[0:4], "big")
    if code != SHAPE_FILE_CODE:
        raise SourceError(f"{display_name}: not an ESRI shapefile (file code {code}, expected 9994)")
    declared = int.from_bytes(head[24:28], "big") * 2
    if declared > shp_size:
        raise SourceError(
            f"{display_name}: truncated .shp file (its header says {declared:,} bytes, the file has "
            f"{shp_size:,}); export it again"
        )
    shx = parts[".shx"]
    shx_size = shx.stat().st_size
    with open(shx, "rb") as fh:
        shx_head = fh.read(100)
        if (
            len(shx_head) < 100
            or int.from_bytes(shx_head[0:4], "big") != SHAPE_FILE_CODE
            or (shx_size - 100) % 8
            or int.from_bytes(shx_head[24:28], "big") * 2 > shx_size
        ):
            raise SourceError(
                f"{shx.name}: damaged or truncated .shx index ({shx_size} bytes); export it again"
            )
        n_shapes = (shx_size - 100) // 8
        done = 0
        while chunk := fh.read(8 << 20):  # (offset, length) in 16-bit words, 8 bytes per feature
            records = np.frombuffer(chunk, dtype=">i4").astype(np.int64).reshape(-1, 2)
            ends = (records[:, 0] + 4 + records[:, 1]) * 2
            bad = np.flatnonzero((records[:, 0] < 50) | (records[:, 1] < 0) | (ends > shp_size))
            if len(bad):
                raise SourceError(
                    f"{display_name}: truncated or damaged .shp file: feature {done + int(bad[0]) + 1} of "
                    f"{n_shapes} lies beyond its end ({shp_size:,} bytes); export it again"
                )
            done += len(records)
    dbf = parts[".dbf"]
    with open(dbf, "rb") as fh:
        dbf_head = fh.read(32)
    dbf_size = dbf.stat().st_size
    if len(dbf_head) < 32:
        raise SourceError(f"{dbf.name}: truncated DBF file ({dbf_size} bytes)")
    n_records = int.from_bytes(dbf_head[4:8], "little")
    header_len = int.from_bytes(dbf_head[8:10], "little")
    record_len = int.from_bytes(dbf_head[10:12], "little")
    if header_len < 33 or record_len < 1 or header_len + n_records * record_len > dbf_size:
        raise SourceError(
            f"{dbf.name}: damaged or truncated DBF (its header says {n_records} records of {record_len} "
            f"bytes, the file has {dbf_size:,} bytes); export it again"
        )
    if n_records != n_shapes:
        raise SourceError(
            f"{display_name}: the .dbf has {n_records} records but the .shx indexes {n_shapes} shapes; "
            "the files do not belong together or one is damaged"
        )


def _has_dtd(stream, chunk_size: int = 1 << 20) -> bool:
    """Whether a byte stream contains an XML document type or entity declaration (read in chunks)."""
    tail = b""
    while chunk := stream.read(chunk_size):
        window = (tail + chunk).upper()
        if any(marker in window for marker in DTD_MARKERS):
            return True
        tail = chunk[-32:]
    return False


def _check_content(path: Path, spec: SourceSpec, display_name: str) -> None:
    """The file is what the mapping says it is, checked by its first bytes before GDAL opens it.

    GDAL picks a driver by content, not by extension: a KML or GML file named ``.gpkg`` would be parsed
    as XML (with a .gfs file written next to it), so a file must look like its format before it is read.
    """
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if spec.format == "gpkg":
        ok, label = head.startswith(SQLITE_MAGIC), "GeoPackage (SQLite)"
    elif spec.format == "geojson":
        ok, label = head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"\x1e"), "GeoJSON"
    else:
        return
    if ok:
        return
    with open(path, "rb") as fh:
        if _has_dtd(fh):
            raise HostileInputError(
                f"{display_name}: contains an XML document type declaration (<!DOCTYPE/<!ENTITY), which can "
                "make a parser read local files (XXE) or expand without limit; refused, nothing was loaded"
            )
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        looks = "an XML file (KML/GML?)"
    elif head.startswith(b"PK\x03\x04"):
        looks = "a ZIP archive or XLSX workbook"
    elif head.startswith(SQLITE_MAGIC):
        looks = "an SQLite database"
    elif b"\x00" not in head:
        looks = "a text file"
    else:
        looks = "some other binary file"
    raise SourceError(
        f"{display_name}: not a {label} file (it looks like {looks}); "
        f"export the layer as {label} or correct the mapping's format"
    )


def _needs_decoding(encoding: str) -> bool:
    """Whether text in ``encoding`` is worth reading as raw bytes (not UTF-8, ASCII or Latin-1)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False  # left to GDAL, which may know it
    return name not in ("utf-8", "ascii", "iso8859-1", "latin-1")


class _TextDecoder:
    """Decodes text read as Latin-1 (each byte one character) in the file's real encoding.

    Undecodable bytes are dropped with one warning per read, as GDAL's recoding does."""

    def __init__(self, encoding: str, display_name: str):
        self.encoding, self.display_name, self.warned = encoding, display_name, False

    def value(self, text: str) -> str:
        if text.isascii():
            return text
        raw = text.encode("latin-1")
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError:
            if not self.warned:
                self.warned = True
                warnings.warn(
                    f"{self.display_name}: one or several characters couldn't be converted correctly from "
                    f"{self.encoding} to UTF-8 (dropped)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return raw.decode(self.encoding, "ignore")

    def column(self, values: np.ndarray) -> np.ndarray:
        """A column, decoded once per distinct value that is not plain ASCII."""
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        distinct = np.asarray(distinct, dtype=object)
        changed = False
        for j, text in enumerate(distinct):
            if isinstance(text, str) and not text.isascii():
                distinct[j] = self.value(text)
                changed = True
        if not changed:
            return np.asarray(values, dtype=object)
        out = np.asarray(values, dtype=object).copy()
        present = codes >= 0
        out[present] = distinct[codes[present]]
        return out


def read_ogr(
    path: Path, spec: SourceSpec, display_name: str, skip_features: int = 0, max_features: int | None = None
) -> SourceTable:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    encoding, how = None, ""
    if spec.format in ("shapefile", "zip") and path.suffix.lower() == ".shp":
        if not skip_features:  # checked once, with the first chunk
            _check_shapefile_parts(path, display_name)
        if spec.encoding != "auto":
            encoding, how = spec.encoding, "mapping"
        else:
            encoding, how = detect_shapefile_encoding(path)
    elif spec.encoding != "auto":
        encoding, how = spec.encoding, "mapping"
    else:
        how = "UTF-8 (format)"
    # A shapefile in a legacy encoding is read as raw bytes (GDAL recodes nothing, pyogrio decodes Latin-1,
    # a C fast path) and decoded here once per distinct non-ASCII value: GDAL's iconv recoding and Python's
    # CJK codecs both pay ~1.5 µs per value, ASCII codes and numbers as text included.
    raw_text = encoding is not None and path.suffix.lower() == ".shp" and _needs_decoding(encoding)
    options = {"ENCODING": ""} if raw_text else {"encoding": encoding}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            meta, fids, geometry, field_data = pyogrio.raw.read(
                path,
                layer=spec.layer,
                return_fids=True,
                datetime_as_string=True,
                skip_features=skip_features,
                max_features=max_features,
                **options,
            )
    except (DataSourceError, DataLayerError) as exc:
        raise SourceError(f"{display_name}: cannot be read as {spec.format}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(f"{display_name}: text is not {encoding}; set 'encoding' in the mapping") from exc
    finally:
        # pyogrio's reader leaves a reference cycle (a Cython closure scope) that holds every array it
        # returned: only the cycle collector frees a chunk's strings and WKB then. Between chunks of a
        # re-run hardly any container is allocated, collections are rare and memory grew by ~1 KB a row
        # (1.4 GB at a million rows); the cycle is young, so collecting the youngest generation now frees
        # it (microseconds)
        gc.collect(0)
    notes = []
    for warning in caught:
        text = str(warning.message)
        if "Measured (M)" in text:  # pyogrio itself drops M values while reading: say so, once per file
            if not skip_features:
                notes.append(
                    (
                        "geometry_m_dropped",
                        "图层几何含M值（测量值），读取时已去除，按二维处理",
                        f"the layer has M (measure) values; they were dropped on reading ({text})",
                    )
                )
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if raw_text and meta.get("encoding") != "ISO-8859-1":  # the bytes were not handed over as they are
        raise SourceError(f"{display_name}: GDAL recoded the text ({meta.get('encoding')}); cannot decode it")
    decoder = _TextDecoder(encoding, display_name) if raw_text else None
    columns = [decoder.value(str(c)) if decoder else str(c) for c in meta["fields"]]
    data = {}
    for name, values in zip(columns, field_data, strict=True):
        # numbers stay numeric arrays (vectorised casts); everything else becomes Python objects
        if values.dtype.kind in "fiu":
            data[name] = values
        else:
            data[name] = decoder.column(values) if decoder else np.asarray(values, dtype=object)
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
        notes=notes,
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
    nul = raw.find(b"\x00")
    if nul >= 0:  # no text encoding we read has NUL bytes, and PostgreSQL cannot store them
        if raw.startswith(b"PK\x03\x04"):
            hint = "it is a ZIP archive or XLSX workbook; export CSV, or map the workbook with format xlsx"
        elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            hint = "it is UTF-16 text; save it as CSV in UTF-8 or GBK"
        else:
            hint = "a binary or damaged file; export the CSV again"
        line = raw.count(b"\n", 0, nul) + 1
        raise SourceError(
            f"{display_name}: line {line} contains a NUL byte, so this is not CSV text ({hint})"
        )
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
    previous_limit = csv.field_size_limit(MAX_CSV_FIELD)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            records = list(reader)
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):  # a quoted value never closed: the file was cut off
                raise SourceError(
                    f"{display_name}: line {reader.line_num}: the file ends inside a quoted value, so it is "
                    "truncated; export it again"
                ) from exc
            # tolerate what the strict reader refuses but spreadsheets write (a stray quote in a value)
            reader = csv.reader(io.StringIO(text, newline=""))
            records = list(reader)
    except csv.Error as exc:
        raise SourceError(
            f"{display_name}: line {reader.line_num}: not readable as CSV ({exc}); "
            "a cell may be over-long or a quote unbalanced"
        ) from exc
    finally:
        csv.field_size_limit(previous_limit)
    return _table_from_records(path, spec, display_name, records, expected, encoding, how)


def _check_workbook(path: Path, display_name: str) -> None:
    """An XLSX workbook is a zip of XML files: the zip-bomb limits apply, and no part may carry a DTD."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            check_limits(infos, display_name)
            for info in infos:
                with zf.open(info) as member:
                    if _has_dtd(member):
                        raise HostileInputError(
                            f"{display_name}: part '{info.filename}' contains an XML document type "
                            "declaration (<!DOCTYPE/<!ENTITY), which can make a parser read local files (XXE)"
                            " or expand without limit; refused, nothing was loaded"
                        )
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise SourceError(
            f"{display_name}: not a readable XLSX workbook ({exc}); a password-protected workbook must be "
            "saved without its password"
        ) from exc


def read_xlsx(path: Path, spec: SourceSpec, display_name: str, expected: set[str]) -> SourceTable:
    from openpyxl import load_workbook

    _check_workbook(path, display_name)
    unreadable = (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, zlib.error, SyntaxError)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except unreadable as exc:
        raise SourceError(f"{display_name}: not a readable XLSX workbook: {exc}") from exc
    try:
        try:
            sheet = workbook[spec.layer] if spec.layer else workbook.worksheets[0]
        except (KeyError, IndexError) as exc:
            raise SourceError(
                f"{display_name}: no sheet named '{spec.layer}' (sheets: {workbook.sheetnames})"
            ) from exc
        try:
            records = [list(row) for row in sheet.iter_rows(values_only=True)]
        except unreadable as exc:  # a damaged sheet part only shows while its rows are read
            raise SourceError(f"{display_name}: sheet '{sheet.title}' cannot be read: {exc}") from exc
    finally:
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
    if not path.is_dir():
        _check_content(path, spec, display)
    return read_ogr(path, spec, display, max_features=max_features)


CHUNK_ROWS = 25_000


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
