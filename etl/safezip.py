"""Unpack uploaded zip archives without trusting them.

Refused, with nothing written outside the destination: entries with ``..`` or absolute paths, symbolic
links, more entries than ``MAX_ENTRIES``, more bytes than ``MAX_UNPACKED_BYTES`` (counted while writing, not
taken from the headers, which a zip bomb lies in), and compression ratios no real export has.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from etl.errors import HostileInputError, SourceError

MAX_ENTRIES = int(os.environ.get("ONEMAP_ZIP_MAX_ENTRIES", "10000"))
MAX_UNPACKED_BYTES = int(os.environ.get("ONEMAP_ZIP_MAX_BYTES", str(4 * 1024**3)))
MAX_RATIO = 200  # shapefiles compress ~3-10x; a bomb compresses thousands of times
READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def _safe_name(info: zipfile.ZipInfo, archive: str) -> PurePosixPath:
    raw = info.filename
    if info.flag_bits & 0x800 == 0:
        # legacy zips from Chinese Windows store names in GBK, flagged as cp437
        try:
            raw = raw.encode("cp437").decode("gb18030")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    name = PurePosixPath(raw.replace("\\", "/"))
    if name.is_absolute() or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise HostileInputError(f"{archive}: entry '{raw}' has an absolute path; nothing was unpacked")
    if any(part == ".." for part in name.parts):
        raise HostileInputError(
            f"{archive}: entry '{raw}' points outside the archive (..); nothing was unpacked"
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise HostileInputError(f"{archive}: entry '{raw}' is a symbolic link; nothing was unpacked")
    return name


def check_limits(infos: list[zipfile.ZipInfo], archive: str) -> None:
    """Refuse an archive (a zip export, or an XLSX workbook, which is a zip too) whose entry count or
    declared unpacked size is over the limits, or whose compression ratio only a zip bomb has."""
    if len(infos) > MAX_ENTRIES:
        raise HostileInputError(
            f"{archive}: {len(infos)} entries (limit {MAX_ENTRIES}); nothing was unpacked"
        )
    declared = sum(info.file_size for info in infos)
    compressed = sum(info.compress_size for info in infos) or 1
    if declared > MAX_UNPACKED_BYTES or (declared > 50 * 1024**2 and declared / compressed > MAX_RATIO):
        raise HostileInputError(
            f"{archive}: would unpack to {declared:,} bytes (limit {MAX_UNPACKED_BYTES:,}, "
            f"ratio {declared / compressed:.0f}:1); refused as a possible zip bomb, nothing was unpacked"
        )


def unpack(archive: Path, destination: Path) -> Path:
    """Unpack ``archive`` into ``destination`` (created; removed again on any refusal)."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceError(f"{archive.name}: not a readable zip archive ({exc})") from exc
    with zf:
        infos = zf.infolist()
        check_limits(infos, archive.name)
        names = [(_safe_name(info, archive.name), info) for info in infos]
        seen: set[tuple[str, ...]] = set()
        for name, info in names:
            if info.flag_bits & 0x1:
                raise SourceError(
                    f"{archive.name}: entry '{name}' is encrypted; "
                    "upload the export as a zip without a password"
                )
            if info.compress_type not in READABLE_METHODS:
                raise SourceError(
                    f"{archive.name}: entry '{name}' uses compression method {info.compress_type} "
                    "(e.g. Deflate64), which cannot be read; "
                    "re-create the zip with ordinary (deflate) compression"
                )
            if name.parts in seen and not info.is_dir():
                # two entries of one name: which one a tool unpacks differs, so what we load is ambiguous
                raise HostileInputError(
                    f"{archive.name}: entry '{name}' appears more than once; nothing was unpacked"
                )
            seen.add(name.parts)
        if destination.exists() and any(destination.iterdir()):
            raise SourceError(f"{destination}: the unpack folder is not empty; refusing to mix exports")
        destination.mkdir(parents=True, exist_ok=True)
        written = 0
        try:
            for name, info in names:
                target = destination.joinpath(*name.parts)
                if not target.resolve().is_relative_to(destination.resolve()):
                    raise HostileInputError(f"{archive.name}: entry '{name}' escapes the destination")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > MAX_UNPACKED_BYTES:
                            raise HostileInputError(
                                f"{archive.name}: unpacks to more than {MAX_UNPACKED_BYTES:,} bytes; refused"
                            )
                        dst.write(chunk)
        except (
            HostileInputError,
            zipfile.BadZipFile,
            OSError,
            EOFError,
            zlib.error,
            NotImplementedError,
        ) as exc:
            shutil.rmtree(destination, ignore_errors=True)
            if isinstance(exc, HostileInputError):
                raise
            raise SourceError(f"{archive.name}: damaged zip archive ({exc})") from exc
    return destination
