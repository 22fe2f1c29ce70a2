"""A vectorised dBase III writer for the shapefiles' attribute tables.

Why not let GDAL write the DBF: through pyogrio it costs ~2 µs per field and feature (80 % of the time of
a 20-field shapefile at scale 10), it always writes today's date in the header and a ``.cpg``, and it
cannot leave the language-driver byte at 0 while recoding to GBK. Registration systems hand over exactly
that: GBK text, no ``.cpg``, LDID 0. This writer builds every record with numpy, fixed field widths
(strings as wide as their longest GBK value, numbers N(19,2), integers as wide as needed, dates D(8)).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

FLOAT_WIDTH, FLOAT_DECIMALS = 19, 2


def _fixed(text: np.ndarray, width: int, right: bool) -> np.ndarray:
    """ASCII texts → (n, width) uint8, space padded."""
    just = np.char.rjust(text, width) if right else np.char.ljust(text, width)
    return just.astype(f"S{width}").view(np.uint8).reshape(len(text), width)


def encode_column(values: np.ndarray, kind: str, encoding: str) -> tuple[np.ndarray, str, int, int]:
    """One column as (bytes matrix, dBase type, width, decimals)."""
    n = len(values)
    if kind == "int":
        text = np.asarray(values, dtype=np.int64).astype(str)
        width = max(1, int(np.char.str_len(text).max(initial=1)))
        return _fixed(text, width, True), "N", width, 0
    if kind == "float":
        text = np.char.mod(f"%.{FLOAT_DECIMALS}f", np.asarray(values, dtype=np.float64))
        return _fixed(text, FLOAT_WIDTH, True), "N", FLOAT_WIDTH, FLOAT_DECIMALS
    if kind == "date":
        text = np.char.replace(np.datetime_as_string(np.asarray(values, dtype="datetime64[D]")), "-", "")
        text = np.where(text == "NaT", "", text)
        return _fixed(text, 8, False), "D", 8, 0
    cache: dict[str, bytes] = {}
    encoded = [cache[v] if v in cache else cache.setdefault(v, v.encode(encoding)) for v in map(str, values)]
    width = max([1] + [len(b) for b in cache.values()])
    if width > 254:
        raise ValueError(f"a text value is {width} bytes long; dBase allows 254")
    matrix = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(n, width).copy()
    matrix[matrix == 0] = 0x20  # numpy pads with NUL; dBase with spaces (GBK never contains a NUL byte)
    return matrix, "C", width, 0


def write_dbf(
    path: Path, names: list[str], columns: list[np.ndarray], kinds: list[str], *, encoding: str, date: tuple
) -> None:
    """Write ``path`` (dBase III, language driver 0) with the given columns, all of length n."""
    n = len(columns[0]) if columns else 0
    parts = [encode_column(c, k, encoding) for c, k in zip(columns, kinds, strict=True)]
    record_len = 1 + sum(p[2] for p in parts)
    header = struct.pack("<BBBBIHH20x", 0x03, *date, n, 32 + 32 * len(parts) + 1, record_len)
    descriptors = b"".join(
        struct.pack("<11sc4xBB14x", name.encode("ascii"), kind.encode("ascii"), width, decimals)
        for name, (_m, kind, width, decimals) in zip(names, parts, strict=True)
    )
    records = np.full((n, record_len), 0x20, dtype=np.uint8)  # first byte ' ': record not deleted
    offset = 1
    for matrix, _kind, width, _dec in parts:
        records[:, offset : offset + width] = matrix
        offset += width
    path.write_bytes(header + descriptors + b"\x0d" + records.tobytes() + b"\x1a")
