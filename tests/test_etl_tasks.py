"""The load runs as a real procrastinate job, picked up by a real worker process on the test database."""

from __future__ import annotations

import pytest

from etl.models import LoadRun
from etl.tasks import load_export
from layers.models import Parcel
from tests.etl_files import building_rows, parcel_rows, write_registration
from tests.serving import run_worker_once


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_load_job_runs_in_a_worker(tmp_path):
    folder = write_registration(tmp_path / "r", parcel_rows(3), building_rows(parcel_rows(3)))
    assert load_export.defer(system="registration", path=str(folder))
    result = run_worker_once("etl", timeout=120)
    assert result.returncode == 0, result.stderr
    run = LoadRun.objects.get()
    assert run.status == "completed" and run.counts["added"] == 6
    assert Parcel.objects.count() == 3


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_failed_job_records_the_error_on_the_run(tmp_path):
    assert load_export.defer(system="registration", path=str(tmp_path / "missing"))
    run_worker_once("etl", timeout=120)
    run = LoadRun.objects.get()
    assert run.status == "failed" and "no such file" in run.error
    assert not Parcel.objects.exists()
