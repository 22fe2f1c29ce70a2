"""The open findings as a map layer (``findings``), and keeping its tiles fresh.

Why a registry layer rather than a GeoJSON download: supervisors see findings where they are, beside the
parcels and permits they concern, in every service (identify, REST, OGC, vector tiles, WMS/WMTS) with the
same roles. Only findings that still need work are drawn (待核实, 已确认, 重新打开): a decision that
closes one removes it from the map.

Its tiles follow the findings, not the loads: whenever a check run or a person changes what the layer
shows, :func:`announce` sends ``layers.signals.layer_data_changed`` on commit with the changed extent, and
the tiles app moves the layer's data version on and queues the raster re-seed, as after a load.
"""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.roles import ANALYST, SUPERVISOR
from checks.models import OPEN_STATUSES
from checks.rules import all_rules
from layers.registry import Attribute, Label, Layer, Style, register
from layers.signals import layer_data_changed

log = logging.getLogger(__name__)
NAME = "findings"
Extent = tuple[float, float, float, float]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def source_sql() -> str:
    """Open findings with their rule's Chinese title and severity. The rule catalogue is code, so it is
    joined as a VALUES list written from it (never from request data)."""
    rules = ", ".join(
        f"({_literal(r.code)}, {_literal(r.title_zh)}, {_literal(r.severity)})" for r in all_rules()
    )
    statuses = ", ".join(_literal(str(s)) for s in OPEN_STATUSES)
    return (
        "SELECT f.id, f.geom, f.fingerprint, f.rule, r.title_zh AS rule_title, f.status, r.severity, "
        "f.county, 'checks'::text AS system FROM checks_finding f "
        f"LEFT JOIN (VALUES {rules}) AS r(code, title_zh, severity) ON r.code = f.rule "
        f"WHERE f.status IN ({statuses}) AND f.geom IS NOT NULL AND NOT ST_IsEmpty(f.geom)"
    )


def findings_layer() -> Layer:
    return Layer(
        name=NAME,
        title_zh="检查结果",
        title_en="Check findings",
        source=source_sql(),
        geometry_type="Geometry",
        attributes=(
            Attribute("fingerprint", "指纹", "Fingerprint", min_zoom=14),
            Attribute("rule", "规则", "Rule", min_zoom=0),
            Attribute("rule_title", "规则名称", "Rule title", min_zoom=12),
            Attribute("status", "状态", "Status", min_zoom=0),
            Attribute("severity", "级别", "Severity", min_zoom=0),
            Attribute("county", "区县", "County", min_zoom=10, codelist="gbt2260_chongqing"),
        ),
        style=Style("#dc2626", 0.35, "#991b1b", 2.0, Label("rule", min_zoom=15, color="#991b1b")),
        roles=(SUPERVISOR, ANALYST),
        min_zoom=8,
        system="system",
        lineage=False,
        description_zh="一致性检查发现的待处理问题（待核实、已确认、重新打开）",
    )


def register_layer() -> Layer:
    return register(findings_layer())


def announce(extent: Extent | None) -> None:
    """After the current transaction commits (at once outside one): tell the tiles that the layer changed
    over ``extent`` (nothing to say when None). A receiver's failure is logged: the findings are in."""
    if extent is None:
        return

    def send() -> None:
        for receiver, result in layer_data_changed.send_robust(sender=Layer, layers=[NAME], extent=extent):
            if isinstance(result, Exception):
                log.error("findings over %s: %s failed: %s", extent, receiver, result, exc_info=result)

    transaction.on_commit(send)
