"""Incremental re-checks (from the ETL's change records) give what a full run gives, across systems and
through deletes; the re-check job runs after a committed load in a real worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from shapely.affinity import translate

from checks.engine import run_checks
from checks.models import CheckRun, Finding, RuleState
from etl.models import LoadRun
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
from tests.serving import run_worker_once

SYSTEMS = ("registration", "planning", "landsupply")


def write_world(folder: Path, parcels, buildings, permits, supply) -> None:
    write_registration(folder / "registration", parcels, buildings)
    write_planning(folder / "planning", permits)
    write_supply_csv(folder / "landsupply", supply)


def snapshot() -> dict:
    return {
        f.fingerprint: (f.rule, f.status, f.values, f.versions, f.geom.wkb.hex() if f.geom else None)
        for f in Finding.objects.all()
    }


def assert_full_run_agrees() -> None:
    """A full run after the incremental one finds nothing to open, close or re-open, and leaves every finding
    (status, values, row versions, geometry) as the incremental run left it."""
    before = snapshot()
    run = run_checks(full=True, trigger="test")
    changes = {
        code: (c["new"], c["fixed"], c["reopened"])
        for code, c in run.counts.items()
        if c["new"] + c["fixed"] + c["reopened"]
    }
    assert changes == {}, f"incremental missed: {changes}"
    assert snapshot() == before


def open_rules() -> list[str]:
    return sorted(Finding.objects.filter(status__in=("new", "reopened")).values_list("rule", flat=True))


@pytest.mark.slow
@pytest.mark.django_db
def test_incremental_equals_full_through_changes_and_deletes(tmp_path):
    parcels, permits, supply = parcel_rows(6), permit_rows(3), supply_rows(3)
    buildings = building_rows(parcels)
    step = 0

    def apply(systems=SYSTEMS) -> CheckRun:
        nonlocal step
        step += 1
        folder = tmp_path / f"step{step}"
        write_world(folder, parcels, buildings, permits, supply)
        for system in systems:
            assert run_load(system, folder / system, allow_mass_delete=True).status == "completed"
        run = run_checks(trigger="test")
        assert run.status == "completed"
        assert_full_run_agrees()
        return run

    apply()
    assert open_rules() == []
    # 1. parcel …002 grows 25 m on every side: it overlaps both neighbours by 5 m (its ZDMJ no longer fits)
    parcels[1]["geometry"] = parcels[1]["geometry"].buffer(25, join_style="mitre")
    run = apply(("registration",))
    assert run.counts["ZD-001"]["mode"] == "incremental" and run.counts["ZD-001"]["dirty"] >= 1
    assert open_rules() == ["ZD-001", "ZD-001", "ZD-002"]
    # 2. parcel …002 back to its shape, parcel …001 deleted: its building stands on nothing and names
    #    nothing; the permit on it has no parcel; the supply record there still lies under that permit
    parcels[1]["geometry"] = parcel_rows(6)[1]["geometry"]
    del parcels[0]
    apply(("registration",))
    assert open_rules() == ["GH-001", "ZRZ-001", "ZRZ-004"]
    # 3. the permit is deleted too (planning): the supply record now has neither parcel nor permit, a
    #    land-supply finding opened by a planning load
    del permits[0]
    run = apply(("planning",))
    assert run.counts["GY-001"]["new"] == 1 and run.counts["GY-001"]["mode"] == "incremental"
    # 4. the permit of parcel …003 moved 35 m east, half over parcel …004, which changes holder in the same
    #    step; a building moved 25 m north into the street
    permits[1]["geometry"] = translate(permits[1]["geometry"], 35, 0)
    buildings[3]["geometry"] = translate(buildings[3]["geometry"], 0, 25)
    parcels[2]["QLR"] = "重庆另一家置业有限公司"
    apply(("registration", "planning"))
    assert "GH-002" in open_rules()
    # 5. everything back as it was: the engine closes every finding, incrementally
    parcels, permits, supply = parcel_rows(6), permit_rows(3), supply_rows(3)
    buildings = building_rows(parcels)
    apply()
    assert open_rules() == []
    assert set(RuleState.objects.values_list("watermark", flat=True)) == {LoadRun.objects.latest("id").pk}


@pytest.mark.django_db
def test_watermark_stays_below_a_running_load(tmp_path):
    parcels = parcel_rows(2)
    write_registration(tmp_path / "r", parcels, building_rows(parcels))
    run_load("registration", tmp_path / "r")
    run_checks(trigger="test")
    stuck = LoadRun.objects.create(system="planning", source_path="x", status=LoadRun.Status.RUNNING)
    parcels[0]["ZDMJ"] = 3000.0
    write_registration(tmp_path / "r2", parcels, building_rows(parcels))
    later = run_load("registration", tmp_path / "r2")
    run = run_checks(trigger="test")
    assert later.pk in run.load_runs and run.counts["ZD-002"]["new"] == 1
    assert RuleState.objects.get(rule="ZD-002").watermark == stuck.pk - 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_committed_load_queues_one_recheck_job_that_a_worker_runs(tmp_path):
    parcels = parcel_rows(3)
    parcels[0]["ZDMJ"] = 3000.0
    write_registration(tmp_path / "r", parcels, building_rows(parcels))
    run_load("registration", tmp_path / "r")
    run_load("planning", write_planning(tmp_path / "p", permit_rows(2)).parent)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'checks' AND status = 'todo'"
        )
        assert cursor.fetchone()[0] == 1, "two loads, one queued re-check"
    result = run_worker_once("checks", timeout=120)
    assert result.returncode == 0, result.stderr
    # a worker started within minutes after a quarter hour also runs the periodic `checks.scheduled` tick
    # (trigger "schedule"): the load's re-check is the one job-triggered run
    run = CheckRun.objects.get(trigger="job")
    assert run.status == "completed"
    assert set(CheckRun.objects.values_list("trigger", flat=True)) <= {"job", "schedule"}
    assert Finding.objects.get().rule == "ZD-002"
