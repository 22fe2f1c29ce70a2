"""The consistency rules on the demo exports: every check-stage defect of the manifest is found by its rule,
at the right rows, and nothing else is flagged (recall and precision of 100 %), controls included."""

from __future__ import annotations

import json
import re

import pytest

from checks.engine import run_checks
from checks.models import Finding
from checks.rules import all_rules
from etl.demo import generate
from etl.runner import run_load

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SYSTEMS = ("registration", "planning", "landsupply")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    manifest = generate(out, scale=0.02, seed=5)
    return out, manifest


def keys_of(finding: Finding) -> set[str]:
    return {k["key"] for k in finding.keys}


def test_demo_findings_are_exactly_the_check_stage_defects(demo):
    folder, manifest = demo
    for system in SYSTEMS:
        assert run_load(system, folder / system).status == "completed"
    run = run_checks(full=True, trigger="test")
    assert run.status == "completed"
    check_defects = [d for d in manifest["defects"] if d["stage"] == "check"]
    by_kind = {r.manifest_kind: r for r in all_rules() if r.manifest_kind}
    assert {d["kind"] for d in check_defects} == set(by_kind), "every check-stage kind has its rule"

    findings = list(Finding.objects.all())
    matched: set[int] = set()
    missed = []
    for defect in check_defects:
        rule = by_kind[defect["kind"]]
        wanted = {defect["source_id"]} | {r["source_id"] for r in defect.get("related", [])}
        hits = [
            f
            for f in findings
            if f.rule == rule.code and defect["source_id"] in f.subject_keys and keys_of(f) <= wanted
        ]
        if len(hits) != 1:
            missed.append(
                (defect["id"], defect["kind"], defect["source_id"], [(f.rule, f.keys) for f in hits])
            )
            continue
        matched.add(hits[0].pk)
        check_detail(defect, hits[0])
    assert missed == [], f"recall below 100 %: {missed}"
    extra = [(f.rule, f.keys, f.values) for f in findings if f.pk not in matched]
    assert extra == [], f"precision below 100 %: {extra}"
    assert all(f.status == "new" and f.geom is not None and f.county for f in findings)
    summary = run.counts
    assert sum(c["new"] for c in summary.values()) == len(check_defects)


def check_detail(defect: dict, finding: Finding) -> None:
    """The compared values agree with what the generator planted (areas to 2 %)."""
    detail, values = defect["detail"], finding.values
    kind = defect["kind"]
    if kind == "building_outside_parcel":
        assert values["outside_m2"] == pytest.approx(detail["outside_area_m2"], rel=0.02)
        assert values["host_zddm"] == detail["parcel_zddm"]
    elif kind == "building_across_parcels":
        assert (values["host_zddm"], values["other_zddm"]) == (detail["parcel_zddm"], detail["other_zddm"])
        assert values["other_overlap_m2"] == pytest.approx(detail["other_overlap_m2"], rel=0.02)
    elif kind == "bdcdyh_parcel_mismatch":
        assert values["prefix"] == detail["prefix_parcel_zddm"]
        assert detail["expected"].startswith(values["host_zddm"])
    elif kind == "building_zddm_unknown":
        assert values["building_zddm"] == detail["value"]
    elif kind == "parcel_overlap":
        assert values["overlap_m2"] == pytest.approx(detail["overlap_m2"], rel=0.02)
    elif kind == "parcel_area_mismatch":
        assert values["drawn_m2"] == pytest.approx(detail["drawn_area_m2"], rel=0.002)
    elif kind == "zddm_county_mismatch":
        assert (values["zddm_county"], values["located_county"]) == (
            detail["zddm_county"],
            detail["located_county"],
        )
    elif kind == "permit_holder_conflict":
        assert (values["parcel_zddm"], values["parcel_holder"]) == (
            detail["other_zddm"],
            detail["other_holder"],
        )
    elif kind == "permit_landuse_conflict":
        assert (values["parcel_zddm"], values["parcel_yt"]) == (detail["parcel_zddm"], detail["parcel_yt"])
        assert values["permit_land_use"] in detail["mapped_2017"]
    elif kind == "supply_zddm_mismatch":
        assert (values["supply_zddm"], values["located_zddm"]) == (
            detail["value"],
            detail["located_parcel_zddm"],
        )


def test_rule_catalogue_is_complete_and_bilingual():
    rules = all_rules()
    assert len({r.code for r in rules}) == len(rules) >= 12
    for rule in rules:
        entry = rule.describe()
        assert entry["class"] in ("业务类", "通用类") and entry["severity"] in ("high", "medium", "low")
        assert all(entry[k] for k in ("title_zh", "title_en", "explanation_zh", "explanation_en", "version"))
        assert rule.subject in rule.reads, rule.code
        assert set(rule.material) <= set(rule.reads), rule.code
        assert set(rule.spatial) <= set(rule.reads), rule.code
        for name in rule.params:
            assert f"%({name})s" in rule.sql, (rule.code, name)
        referenced = set(re.findall(r"'(\w+):' \|\|", rule.sql))
        assert rule.subject in referenced and referenced <= set(rule.reads), (rule.code, referenced)
    json.dumps([r.describe() for r in rules], ensure_ascii=False)
