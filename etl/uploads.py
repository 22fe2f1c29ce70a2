"""Uploaded exports: stored under ``var/uploads/<id>/``, checksummed, unpacked safely, never executed; and
the preview an operator sees before anything loads (encoding, CRS, extent, first rows).

A refused upload (hostile zip, wrong type, too large) leaves nothing behind: it is written into a scratch
folder inside the upload area first and only renamed to its final place once it has been accepted.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import uuid
from pathlib import Path

from django.conf import settings

from etl.errors import EtlError, HostileInputError, SourceError
from etl.mapping import Mapping, load_mapping
from etl.models import AuditEntry, Upload
from etl.safezip import unpack
from etl.sources import locate, read_source, sha256_of

ALLOWED_SUFFIXES = {
    ".zip",
    ".gpkg",
    ".geojson",
    ".json",
    ".csv",
    ".xlsx",
    ".shp",
    ".shx",
    ".dbf",
    ".prj",
    ".cpg",
}
ENCODINGS = ("utf-8", "gb18030", "big5")
PREVIEW_ROWS = 5


class UploadError(EtlError):
    """An upload that was refused; the message says why and what to do."""


def max_upload_bytes() -> int:
    return int(getattr(settings, "ONEMAP_UPLOAD_MAX_BYTES", 2 * 1024**3))


def upload_root() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def _safe_file_name(name: str) -> str:
    """The base name of an uploaded file, or an UploadError: browsers send names, attackers send paths."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if not base or base.startswith(".") or base != name.replace("\\", "/").split("/")[-1] or "\x00" in base:
        raise UploadError(f"文件名「{name}」不可用 / file name '{name}' is not acceptable")
    suffix = Path(base).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadError(
            f"「{base}」的类型不受支持，请上传 zip、shp（含 shx/dbf/prj/cpg）、gpkg、geojson、csv 或 xlsx / "
            f"'{base}': unsupported type; upload a zip, shapefile set, gpkg, geojson, csv or xlsx"
        )
    return base


def store_upload(system: str, files: list, user) -> Upload:
    """Store the uploaded file(s) of one export for ``system`` and unpack a zip; returns the Upload.

    ``files`` are Django ``UploadedFile`` objects (several only for the parts of one shapefile).
    """
    load_mapping(system)  # an unknown system is a clear error before any byte is written
    if not files:
        raise UploadError("请选择要上传的文件 / choose a file to upload")
    limit = max_upload_bytes()
    names = [_safe_file_name(f.name) for f in files]
    total = sum(f.size or 0 for f in files)
    if total > limit:
        raise UploadError(
            f"文件共 {total:,} 字节，超过上限 {limit:,} 字节 / upload of {total:,} bytes exceeds {limit:,}"
        )
    if any(n.lower().endswith(".zip") for n in names) and len(files) > 1:
        raise UploadError("zip 压缩包请单独上传 / upload a zip archive on its own")
    root = upload_root()
    scratch = root / f"incoming-{uuid.uuid4().hex}"
    original, export = scratch / "original", scratch / "export"
    original.mkdir(parents=True)
    try:
        written = 0
        for f, name in zip(files, names, strict=True):
            with open(original / name, "wb") as out:
                for chunk in f.chunks():
                    written += len(chunk)
                    if written > limit:
                        raise UploadError(f"上传超过上限 {limit:,} 字节 / upload exceeds {limit:,} bytes")
                    out.write(chunk)
        if names[0].lower().endswith(".zip"):
            unpack(original / names[0], export)
        else:
            export.mkdir()
            for name in names:
                shutil.copyfile(original / name, export / name)
        checksum = sha256_of(original / names[0] if len(names) == 1 else original)
    except (UploadError, SourceError) as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        AuditEntry.objects.create(
            user=user,
            action="upload_refused",
            system=system,
            summary=f"拒绝上传 {', '.join(names)}: {exc}",
            details={"files": names, "hostile": isinstance(exc, HostileInputError)},
        )
        raise
    upload = Upload.objects.create(
        system=system,
        original_name=", ".join(names),
        size=written,
        checksum=checksum,
        uploaded_by=user,
    )
    final = root / str(upload.pk)
    scratch.rename(final)
    upload.folder = str(final)
    upload.save(update_fields=["folder"])
    AuditEntry.objects.create(
        user=user,
        action="upload",
        system=system,
        summary=f"上传 {upload.original_name}（{written:,} 字节）",
        details={"upload": upload.pk, "checksum": checksum},
    )
    return upload


def export_folder(upload: Upload) -> Path:
    return Path(upload.folder) / "export"


def mapping_with_encoding(mapping: Mapping, encoding: str) -> Mapping:
    """The mapping with every target's source read in ``encoding`` (the operator's choice in the preview)."""
    if not encoding:
        return mapping
    targets = tuple(
        dataclasses.replace(t, source=dataclasses.replace(t.source, encoding=encoding))
        for t in mapping.targets
    )
    return dataclasses.replace(mapping, targets=targets)


def _crs_label(wkt: str | None) -> dict:
    if not wkt:
        return {"epsg": None, "name": ""}
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(wkt)  # WKT, or "EPSG:n" as the reader reports a known code
    except CRSError:
        return {"epsg": None, "name": wkt[:80]}
    return {"epsg": crs.to_epsg(min_confidence=70), "name": crs.name}


def _extent_4490(path: Path, layer: str | None, crs_text: str) -> list[float] | None:
    """The layer's bounding box in CGCS2000 lon/lat, read from the file's header (no rows read)."""
    import pyogrio
    from pyproj import Transformer

    try:
        info = pyogrio.read_info(path, layer=layer, force_total_bounds=True)
    except Exception:  # noqa: BLE001 - the extent is a hint; the dry run reports the real problem
        return None
    bounds = info.get("total_bounds")
    if bounds is None or not all(math.isfinite(float(b)) for b in bounds):
        return None
    transformer = Transformer.from_crs(crs_text, 4490, always_xy=True)
    xmin, ymin, xmax, ymax = transformer.transform_bounds(*bounds)
    return [xmin, ymin, xmax, ymax]


def count_rows(root: Path, mapping: Mapping) -> int:
    """Rows the load will read (feature counts from the headers; CSV/XLSX read in full, they are small)."""
    import pyogrio

    total = 0
    for t in mapping.targets:
        try:
            path = locate(root, t.source)
            if t.source.format in ("csv", "xlsx"):
                total += len(read_source(root, t.source, set()))
            else:
                total += int(pyogrio.read_info(path, layer=t.source.layer)["features"])
        except Exception:  # noqa: BLE001 - a count is for the ETA only; the load reports the error itself
            continue
    return total


def preview(upload: Upload, encoding: str = "") -> list[dict]:
    """What each target of the system's mapping finds in the upload: file, encoding (detected or chosen),
    field names, first rows, CRS of the file and of the mapping, extent in CGCS2000, or the read error."""
    mapping = mapping_with_encoding(load_mapping(upload.system), encoding)
    root = export_folder(upload)
    out = []
    for t in mapping.targets:
        item: dict = {"target": t.name, "model": t.model, "format": t.source.format, "error": ""}
        expected = {src for f in t.fields for src in f.sources} | set(t.geometry.sources)
        try:
            table = read_source(root, t.source, expected, max_features=PREVIEW_ROWS)
        except (EtlError, UnicodeError) as exc:
            item["error"] = str(exc)
            out.append(item)
            continue
        rows = []
        for i in range(min(PREVIEW_ROWS, len(table))):
            rows.append([_cell(table.data[c][i]) for c in table.columns])
        missing = sorted(expected - set(table.columns))
        item.update(
            file=table.display_name,
            encoding=table.encoding or "",
            encoding_source=table.encoding_source,
            columns=table.columns,
            rows=rows,
            missing=missing,
            file_crs=_crs_label(table.file_crs_wkt),
            mapping_crs=t.geometry.crs,
            extent=None,
        )
        if t.source.format not in ("csv", "xlsx"):
            item["extent"] = _extent_4490(table.file, t.source.layer, t.geometry.crs)
        out.append(item)
    return out


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"
