"""Finding lifecycle: decisions survive reloads and rebuilt tables, the engine alone fixes and re-opens, and
a change in one system opens or closes findings of rules that compare it with another system."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from shapely.affinity import translate

from checks.engine import run_checks
from checks.models import Finding, FindingEvent, Status
from checks.services import TransitionError, finding_set_status
from etl.demo import generate
from etl.runner import run_load
from tests.etl_files import (
    building_rows,
    parcel_rows,
    permit_rows,
    supply_rows,
    write_planning,
    write_registration,
    write_supply_csv,
)

pytestmark = [pytest.mark.django_db]
SYSTEMS = ("registration", "planning", "landsupply")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate(out, scale=0.02, seed=5)
    return out


def load_demo(folder) -> None:
    for system in SYSTEMS:
        assert run_load(system, folder / system).status == "completed"


def statuses() -> dict[str, str]:
    return dict(Finding.objects.values_list("fingerprint", "status"))


@pytest.mark.slow
def test_reload_and_rebuilt_tables_keep_every_id_and_decision(demo, role_user):
    load_demo(demo)
    run_checks(full=True, trigger="test")
    supervisor = role_user("sup", "supervisor")
    confirmed, excepted = Finding.objects.order_by("rule", "fingerprint")[:2]
    finding_set_status(finding=confirmed, to=Status.CONFIRMED, user=supervisor, reason="现场核实")
    finding_set_status(finding=excepted, to=Status.EXCEPTION, user=supervisor, reason="历史遗留，已备案")
    before = statuses()
    events_before = FindingEvent.objects.count()
    ids_before = {f.fingerprint: f.versions for f in Finding.objects.all()}

    load_demo(demo)  # the same exports again: nothing changes, an incremental run has nothing to do
    run = run_checks(trigger="test")
    assert all(c["mode"] == "incremental" and c["dirty"] == 0 for c in run.counts.values())
    assert statuses() == before and FindingEvent.objects.count() == events_before

    # rebuilt tables: every row gets a new database id, the fingerprints (business keys) stay
    with connection.cursor() as cursor:
        for table in ("layers_building", "layers_parcel", "layers_planningpermit", "layers_landsupply"):
            cursor.execute(f"DELETE FROM {table}")
    load_demo(demo)
    run = run_checks(full=True, trigger="test")
    assert statuses() == before
    assert FindingEvent.objects.count() == events_before, "no finding closed or re-opened"
    after = {f.fingerprint: f.versions for f in Finding.objects.all()}
    # (table, id): ids of different tables come from different sequences and may coincide
    old_ids = {(t, v["id"]) for versions in ids_before.values() for t, v in versions.items()}
    new_ids = {(t, v["id"]) for versions in after.values() for t, v in versions.items()}
    assert old_ids.isdisjoint(new_ids), "the rows really were new"
    assert sum(c["new"] + c["fixed"] + c["reopened"] for c in run.counts.values()) == 0


# --- a small world of three systems: 5 parcels with a building each, 3 permits, 3 supply records ---------


def world(tmp_path, *, parcels=None, buildings=None, permits=None, supply=None):
    parcels = parcels or parcel_rows(5)
    buildings = buildings or building_rows(parcels)
    write_registration(tmp_path / "registration", parcels, buildings)
    write_planning(tmp_path / "planning", permits or permit_rows(3))
    write_supply_csv(tmp_path / "landsupply", supply or supply_rows(3))
    return tmp_path


def load(tmp_path, *systems) -> None:
    for system in systems or SYSTEMS:
        assert run_load(system, tmp_path / system).status == "completed"


def open_findings() -> set[tuple[str, tuple[str, ...]]]:
    return {
        (f.rule, tuple(sorted(k["key"] for k in f.keys)))
        for f in Finding.objects.filter(status__in=("new", "confirmed", "reopened"))
    }


def test_a_change_in_one_system_opens_closes_and_reopens_findings_of_another(tmp_path, role_user):
    supervisor = role_user("sup", "supervisor")
    load(world(tmp_path))
    first = run_checks(trigger="test")
    assert open_findings() == set() and first.status == "completed"

    # registration: parcel 2 changes holder → the planning permit on it now covers another holder's land
    parcels = parcel_rows(5)
    parcels[1]["QLR"] = "重庆另一家置业有限公司"
    load(world(tmp_path, parcels=parcels), "registration")
    run = run_checks(trigger="test")
    assert open_findings() == {("GH-002", ("500103001001GB00002", "地字第500103201600001号"))}
    assert run.counts["GH-002"]["new"] == 1 and run.counts["GH-002"]["mode"] == "incremental"
    finding = Finding.objects.get(rule="GH-002")
    finding_set_status(finding=finding, to=Status.CONFIRMED, user=supervisor, reason="已通知规划部门")

    # planning: the permit is re-issued to the new holder → the engine closes the finding (run = evidence)
    permits = permit_rows(3)
    permits[1]["建设单位"] = "重庆另一家置业有限公司"
    load(world(tmp_path, parcels=parcels, permits=permits), "planning")
    run = run_checks(trigger="test")
    finding.refresh_from_db()
    assert finding.status == Status.FIXED and finding.fixed_by_run_id == run.pk
    assert run.counts["GH-002"]["fixed"] == 1 and open_findings() == set()
    with pytest.raises(TransitionError):
        finding_set_status(finding=finding, to=Status.FIXED, user=supervisor)

    # the supervisor rejects the fix (→ reopened) although the data is right: the next full run, which no
    # longer reproduces it, fixes it again; verifying then closes it for good
    finding_set_status(finding=finding, to=Status.REOPENED, user=supervisor, reason="现场未整改")
    run_checks(rules=["GH-002"], full=True, trigger="test")
    finding.refresh_from_db()
    assert finding.status == Status.FIXED
    finding_set_status(finding=finding, to=Status.VERIFIED, user=supervisor, reason="核销")

    # planning back to the old developer: the same fingerprint reappears → re-opened automatically
    load(world(tmp_path, parcels=parcels), "planning")
    run = run_checks(trigger="test")
    finding.refresh_from_db()
    assert finding.status == Status.REOPENED and run.counts["GH-002"]["reopened"] == 1
    assert Finding.objects.count() == 1, "the same finding, not a new one"
    trail = list(finding.events.values_list("from_status", "to_status", "user__username", "run_id"))
    assert [(a, b) for a, b, _u, _r in trail] == [
        ("", "new"),
        ("new", "confirmed"),
        ("confirmed", "fixed"),
        ("fixed", "reopened"),
        ("reopened", "fixed"),
        ("fixed", "verified"),
        ("verified", "reopened"),
    ]
    assert [u for _a, _b, u, _r in trail] == [None, "sup", None, "sup", None, "sup", None]
    assert all(r is not None for a, b, u, r in trail if u is None), "every engine move names its run"


def test_buildings_and_supply_follow_parcel_changes_and_deletes(tmp_path):
    load(world(tmp_path))
    run_checks(trigger="test")
    # a building pushed 8 m out of its parcel into the street; parcel 5 deleted (its building now stands on
    # no parcel and names a parcel that does not exist); supply record 3 names parcel 1 but lies on parcel 3
    parcels = parcel_rows(5)
    buildings = building_rows(parcels)
    buildings[0]["geometry"] = translate(buildings[0]["geometry"], 18, 0)  # 8 m into the street
    supply = supply_rows(3)
    supply[2][2] = "500103001001GB00001"
    load(
        world(tmp_path, parcels=parcels[:4], buildings=buildings, supply=supply), "registration", "landsupply"
    )
    run_checks(trigger="test")
    assert open_findings() == {
        ("ZRZ-001", ("500103001001GB00001F00010000/0001",)),
        ("ZRZ-001", ("500103001001GB00005F00010000/0001",)),
        ("ZRZ-004", ("500103001001GB00005F00010000/0001",)),
        ("GY-002", ("500103001001GB00001", "500103001001GB00003", "渝地(2016)合字(渝中)第3号")),
        ("GY-003", ("渝地(2016)合字(渝中)第1号", "渝地(2016)合字(渝中)第3号")),  # one code, two places
    }
    # and back: every one of them is fixed by the engine
    load(world(tmp_path), "registration", "landsupply")
    run = run_checks(trigger="test")
    assert open_findings() == set()
    assert Finding.objects.filter(status=Status.FIXED).count() == 5
    assert {c: run.counts[c]["fixed"] for c in ("ZRZ-001", "ZRZ-004", "GY-002", "GY-003")} == {
        "ZRZ-001": 2,
        "ZRZ-004": 1,
        "GY-002": 1,
        "GY-003": 1,
    }


def test_exception_reopens_on_material_change_or_expiry_but_not_otherwise(tmp_path, role_user):
    supervisor = role_user("sup", "supervisor")
    parcels = parcel_rows(5)
    parcels[0]["ZDMJ"] = 3000.0  # drawn 2500 m²: 20 % off
    parcels[1]["ZDMJ"] = 2000.0
    load(world(tmp_path, parcels=parcels), "registration")
    run_checks(rules=["ZD-002"], trigger="test")
    by_parcel = {f.subject_keys[0]: f for f in Finding.objects.filter(rule="ZD-002")}
    first, second = by_parcel["500103001001GB00001"], by_parcel["500103001001GB00002"]
    finding_set_status(finding=first, to=Status.EXCEPTION, user=supervisor, reason="含代征道路面积")
    finding_set_status(
        finding=second,
        to=Status.EXCEPTION,
        user=supervisor,
        reason="待测绘复核",
        expires=timezone.now() + timedelta(days=30),
    )
    # a non-material change of a row involved (the address) keeps the exception
    parcels[0]["ZL"] = "渝中区民权路100号"
    load(world(tmp_path, parcels=parcels), "registration")
    run_checks(rules=["ZD-002"], trigger="test")
    first.refresh_from_db()
    assert first.status == Status.EXCEPTION
    # a material one (ZDMJ, still wrong) re-opens it
    parcels[0]["ZDMJ"] = 3100.0
    load(world(tmp_path, parcels=parcels), "registration")
    run = run_checks(rules=["ZD-002"], trigger="test")
    first.refresh_from_db()
    assert first.status == Status.REOPENED and run.counts["ZD-002"]["reopened"] == 1
    assert first.events.last().reason.startswith("涉及要素的关键字段已变更")
    # the second one expires
    Finding.objects.filter(pk=second.pk).update(exception_expires=timezone.now() - timedelta(seconds=1))
    run_checks(rules=["ZD-002"], trigger="test")
    second.refresh_from_db()
    assert second.status == Status.REOPENED and second.events.last().reason.startswith("误报有效期已过")


def test_audit_trail_cannot_be_edited(tmp_path, role_user):
    parcels = parcel_rows(2)
    parcels[0]["ZDMJ"] = 3000.0
    load(world(tmp_path, parcels=parcels), "registration")
    run_checks(rules=["ZD-002"], trigger="test")
    event = FindingEvent.objects.get()
    from django.db import DatabaseError, transaction

    for statement in ("UPDATE checks_findingevent SET reason = 'x'", "DELETE FROM checks_findingevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    event.refresh_from_db()
    assert event.to_status == "new"
    with pytest.raises(TransitionError):  # a 误报 without a reason
        finding_set_status(finding=event.finding, to=Status.EXCEPTION, user=role_user("s", "supervisor"))
