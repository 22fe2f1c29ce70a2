"""The manifest: what was written, and the answer key (every planted defect and every control).

Why: the ETL and the consistency checks are tested against it. A defect is identified by file and
1-based row (shapefile FID + 1, GeoPackage fid, CSV data row) *and* by the record's natural key as
written, so a test can match findings either way. Key order is fixed and there are no timestamps, so
the same seed and scale give an identical manifest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .entries import Entry
from .plan import CONTROL_SPECS, SPECS, SYSTEM_FILES

GENERATOR = "onemap etl.demo"
VERSION = "1.0.0"
KIND_ORDER = list(dict.fromkeys(s.kind for s in SPECS))
CONTROL_ORDER = [s.kind for s in CONTROL_SPECS] + ["collective_parcel", "undetermined_parcel"]

Resolver = Callable[[str, int], tuple[int, str]]  # (table, index) -> (row, source_id)


def _ref(table: str, index: int, resolve: Resolver) -> dict[str, Any]:
    system, path, _layer = SYSTEM_FILES[table]
    row, source_id = resolve(table, index)
    return {"system": system, "file": path, "row": row, "source_id": source_id}


def entry_dict(entry: Entry, eid: str, resolve: Resolver) -> dict[str, Any]:
    system, path, layer = SYSTEM_FILES[entry.table]
    row, source_id = resolve(entry.table, entry.index)
    out: dict[str, Any] = {
        "id": eid,
        "system": system,
        "file": path,
        "layer": layer,
        "row": row,
        "source_id": source_id,
        "kind": entry.kind,
        "stage": entry.slot.spec.stage,
    }
    if entry.field:
        out["field"] = entry.field
    out["detail"] = entry.detail
    if entry.related:
        out["related"] = [_ref(t, i, resolve) for t, i in entry.related]
    return out


def build(
    *,
    seed: int,
    scale: float,
    systems: dict[str, Any],
    defects: list[Entry],
    controls: list[Entry],
    resolve: Resolver,
    notes: dict[str, Any],
) -> dict[str, Any]:
    def ordered(entries: list[Entry], order: list[str], prefix: str) -> list[dict[str, Any]]:
        keyed = [(order.index(e.kind), e.table, resolve(e.table, e.index)[0], e) for e in entries]
        keyed.sort(key=lambda k: k[:3])
        return [entry_dict(e, f"{prefix}{n:04d}", resolve) for n, (*_, e) in enumerate(keyed, 1)]

    d = ordered(defects, KIND_ORDER, "D")
    c = ordered(controls, CONTROL_ORDER, "C")
    return {
        "generator": GENERATOR,
        "version": VERSION,
        "seed": seed,
        "scale": scale,
        "systems": systems,
        "defects": d,
        "controls": c,
        "counts": {
            "defects": {k: sum(x["kind"] == k for x in d) for k in KIND_ORDER},
            "controls": {k: sum(x["kind"] == k for x in c) for k in CONTROL_ORDER},
            "defects_total": len(d),
            "controls_total": len(c),
        },
        "notes": notes,
    }


def write(path: Path, manifest: dict[str, Any]) -> None:
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
