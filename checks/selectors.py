"""Reads of findings for the API, the exports and the console: per-rule summaries by county with their trend
and time to fix, and per-rule detail lists as GeoJSON."""

from __future__ import annotations

import json
from collections import defaultdict

from django.db import connection
from django.db.models import QuerySet

from checks.models import CheckRun, Finding, FindingEvent, Status
from checks.rules import REGISTRY, get_rule
from checks.services import HUMAN_TRANSITIONS

# the business-key columns of exports, per target of a finding's keys
KEY_COLUMNS = {"parcel": "zddm", "building": "bdcdyh", "permit": "permit_no", "landsupply": "contract_no"}
STATUS_TITLES = {s.value: s.label for s in Status}


class FilterError(ValueError):
    """A filter value that names no rule, status or county: ``param`` says which."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


def findings_filtered(
    *, rule: str | None = None, status: str | None = None, county: str | None = None
) -> QuerySet:
    qs = Finding.objects.all()
    if rule:
        if rule not in REGISTRY:
            raise FilterError("rule", f"unknown rule '{rule}'; known: {', '.join(REGISTRY)}")
        qs = qs.filter(rule=rule)
    if status:
        statuses = status.split(",")
        unknown = [s for s in statuses if s not in STATUS_TITLES]
        if unknown:
            raise FilterError("status", f"unknown status {unknown}; known: {', '.join(STATUS_TITLES)}")
        qs = qs.filter(status__in=statuses)
    if county:
        if not (county.isdigit() and len(county) == 6):
            raise FilterError("county", "county must be a 6-digit GB/T 2260 code")
        qs = qs.filter(county=county)
    return qs.order_by("rule", "opened_at", "fingerprint")


def business_keys(keys: list[dict]) -> dict[str, list[str]]:
    """{"zddm": [...], "bdcdyh": [...], ...} from a finding's keys (a building key is "BDCDYH/ZRZH")."""
    out: dict[str, list[str]] = {column: [] for column in KEY_COLUMNS.values()}
    for k in keys:
        out[KEY_COLUMNS[k["target"]]].append(k["key"])
    return out


def finding_properties(f: Finding) -> dict:
    rule = REGISTRY.get(f.rule)
    return {
        "id": f.fingerprint,
        "rule": f.rule,
        "rule_version": f.rule_version,
        "title_zh": rule.title_zh if rule else "",
        "title_en": rule.title_en if rule else "",
        "status": f.status,
        "status_zh": STATUS_TITLES.get(f.status, f.status),
        "county": f.county,
        **business_keys(f.keys),
        "keys": f.keys,
        "values": f.values,
        "versions": f.versions,
        "opened_at": f.opened_at.isoformat(),
        "fixed_at": f.fixed_at.isoformat() if f.fixed_at else None,
        "exception_reason": f.exception_reason,
        "exception_expires": f.exception_expires.isoformat() if f.exception_expires else None,
    }


def findings_geojson(qs: QuerySet, *, limit: int | None = None, offset: int = 0) -> dict:
    total = qs.count()
    page = qs[offset : offset + limit] if limit else qs[offset:]
    features = [
        {
            "type": "Feature",
            "id": f.fingerprint,
            "geometry": json.loads(f.geom.geojson) if f.geom else None,
            "properties": finding_properties(f),
        }
        for f in page
    ]
    return {"type": "FeatureCollection", "total": total, "offset": offset, "features": features}


def finding_detail(fingerprint: str) -> dict | None:
    f = Finding.objects.filter(fingerprint=fingerprint).first()
    if f is None:
        return None
    events = FindingEvent.objects.filter(finding=f).select_related("user").order_by("id")
    return {
        "type": "Feature",
        "id": f.fingerprint,
        "geometry": json.loads(f.geom.geojson) if f.geom else None,
        "properties": {
            **finding_properties(f),
            # what a person may move it to now (the web map offers exactly these; the engine alone sets fixed)
            "transitions": list(HUMAN_TRANSITIONS.get(f.status, ())),
            "events": [
                {
                    "at": e.at.isoformat(),
                    "user": e.user.username if e.user else None,
                    "run": e.run_id,
                    "from": e.from_status,
                    "to": e.to_status,
                    "reason": e.reason,
                    "data": e.data,
                }
                for e in events
            ],
        },
    }


def summary(*, runs: int = 10) -> dict:
    """By rule × county: counts per status; per rule: totals, mean days from opening to fix, and the trend
    (counts of the last ``runs`` completed check runs that ran the rule)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rule, county, status, count(*) FROM checks_finding GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        counts = cursor.fetchall()
        cursor.execute(
            """
            SELECT rule, count(*), avg(extract(epoch FROM fixed_at - opened_at)) / 86400.0
            FROM checks_finding WHERE fixed_at IS NOT NULL GROUP BY rule
            """
        )
        fixes = {rule: (n, days) for rule, n, days in cursor.fetchall()}
    by_rule: dict[str, dict] = defaultdict(
        lambda: {"counties": defaultdict(dict), "totals": defaultdict(int)}
    )
    for rule, county, status, n in counts:
        by_rule[rule]["counties"][county or ""][status] = n
        by_rule[rule]["totals"][status] += n
    recent = list(CheckRun.objects.filter(status=CheckRun.Status.COMPLETED).order_by("-id")[:runs])[::-1]
    out = []
    for code, rule in REGISTRY.items():
        entry = by_rule.get(code, {"counties": {}, "totals": {}})
        n_fixed, mean_days = fixes.get(code, (0, None))
        out.append(
            {
                "rule": code,
                "class": rule.rule_class,
                "severity": rule.severity,
                "title_zh": rule.title_zh,
                "title_en": rule.title_en,
                "totals": {s: entry["totals"].get(s, 0) for s in STATUS_TITLES},
                "counties": {c: dict(v) for c, v in sorted(entry["counties"].items())},
                "fixed_count": n_fixed,
                "mean_days_to_fix": round(float(mean_days), 3) if mean_days is not None else None,
                "trend": [
                    {
                        "run": r.pk,
                        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                        **{k: r.counts[code].get(k, 0) for k in ("open", "new", "fixed", "reopened")},
                    }
                    for r in recent
                    if code in r.counts
                ],
            }
        )
    return {"statuses": STATUS_TITLES, "rules": out}


def rule_catalogue() -> list[dict]:
    return [get_rule(code).describe() for code in REGISTRY]
