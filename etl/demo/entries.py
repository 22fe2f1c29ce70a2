"""The record of one planted defect or control, before rows and keys are known.

Why deferred: rows are numbered only when each file's final order is fixed (permits by date, parcels by
block), and natural keys (许可证号, 合同编号) are assigned then; an entry therefore points at a table index
and the manifest resolves it to ``row`` and ``source_id`` at the very end.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from .plan import Slot


@dataclass
class Entry:
    slot: Slot
    table: str  # parcels | buildings | permits | supply
    index: int
    field: str | None = None
    detail: dict[str, Any] = dc_field(default_factory=dict)
    related: list[tuple[str, int]] = dc_field(default_factory=list)
    kind: str = ""  # defaults to the slot's kind

    def __post_init__(self) -> None:
        self.kind = self.kind or self.slot.spec.kind
