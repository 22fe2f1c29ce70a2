"""The rule catalogue: every rule is one module here exposing ``RULE`` (see :mod:`checks.rules.base`).

Adding a rule = adding a module and listing it in ``MODULES`` (and its test). Codes are unique; the order is
the order of reports.
"""

from __future__ import annotations

from importlib import import_module

from checks.rules.base import Rule

MODULES = (
    "zrz001_building_outside",
    "zrz002_building_across",
    "zrz003_bdcdyh_prefix",
    "zrz004_building_zddm_unknown",
    "zd001_parcel_overlap",
    "zd002_area_mismatch",
    "zd003_county_mismatch",
    "gh001_permit_without_parcel",
    "gh002_permit_holder_conflict",
    "gh003_permit_landuse",
    "gy001_supply_without_parcel",
    "gy002_supply_zddm_mismatch",
    "gy003_supply_zddm_duplicate",
)


class UnknownRuleError(KeyError):
    pass


def _load() -> dict[str, Rule]:
    registry: dict[str, Rule] = {}
    for name in MODULES:
        rule = import_module(f"checks.rules.{name}").RULE
        if rule.code in registry:
            raise ValueError(f"rule code {rule.code} defined twice ({name})")
        registry[rule.code] = rule
    return registry


REGISTRY: dict[str, Rule] = _load()


def get_rule(code: str) -> Rule:
    try:
        return REGISTRY[code]
    except KeyError:
        raise UnknownRuleError(f"unknown rule '{code}'; known rules: {', '.join(REGISTRY)}") from None


def all_rules() -> list[Rule]:
    return list(REGISTRY.values())
