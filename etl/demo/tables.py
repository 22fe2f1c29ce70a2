"""A minimal column store for the generated records (no pandas in the product's requirements).

Why not numpy structured arrays: defects edit single cells of mixed types and append rows (layered
parcels, straddling buildings); plain lists do that simply, and the writers convert each column to the
numpy dtype its file format needs exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """Columns written to the file (``cols``), one geometry per row, and internal ``meta`` columns."""

    fields: list[str]
    meta_fields: list[str]
    cols: dict[str, list] = field(init=False)
    meta: dict[str, list] = field(init=False)
    geom: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cols = {f: [] for f in self.fields}
        self.meta = {f: [] for f in self.meta_fields}

    def __len__(self) -> int:
        return len(self.geom)

    def extend(self, geoms: list, values: dict[str, list], meta: dict[str, list]) -> None:
        n = len(geoms)
        for f in self.fields:
            v = list(values[f])
            assert len(v) == n, f
            self.cols[f].extend(v)
        for f in self.meta_fields:
            v = list(meta[f])
            assert len(v) == n, f
            self.meta[f].extend(v)
        self.geom.extend(geoms)

    def add(self, geom: Any, values: dict[str, Any], meta: dict[str, Any]) -> int:
        self.extend([geom], {k: [values[k]] for k in self.fields}, {k: [meta[k]] for k in self.meta_fields})
        return len(self.geom) - 1

    def row(self, i: int) -> dict[str, Any]:
        return {f: self.cols[f][i] for f in self.fields}
