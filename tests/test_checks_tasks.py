"""The re-check job is queued once, and queueing it again leaves the caller's transaction usable; the
scheduled run re-opens expired exceptions even when no load comes."""

from datetime import timedelta

import pytest
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from checks.engine import run_checks
from checks.models import Finding, Status
from checks.services import finding_set_status
from checks.tasks import QUEUEING_LOCK, enqueue_recheck, scheduled
from etl.models import LoadRun
from tests.test_checks_lifecycle import load, parcel_rows, world


@pytest.mark.django_db
def test_a_second_enqueue_is_a_no_op_inside_a_transaction():
    enqueue_recheck(run=None)
    enqueue_recheck(run=None)  # refused by the queueing lock: must not abort the surrounding transaction
    assert ProcrastinateJob.objects.filter(queueing_lock=QUEUEING_LOCK, status="todo").count() == 1
    assert LoadRun.objects.count() == 0  # the transaction still answers


@pytest.mark.django_db
def test_the_scheduled_run_reopens_an_expired_exception_without_any_load(tmp_path, role_user):
    parcels = parcel_rows(2)
    parcels[0]["ZDMJ"] = 3000.0  # declared area far from the drawn one: ZD-002
    load(world(tmp_path, parcels=parcels), "registration")
    run_checks(rules=["ZD-002"], trigger="test")
    finding = Finding.objects.get(rule="ZD-002")
    finding_set_status(
        finding=finding,
        to=Status.EXCEPTION,
        user=role_user("sup", "supervisor"),
        reason="待测绘复核",
        expires=timezone.now() + timedelta(days=1),
    )
    scheduled(timestamp=0)  # not yet expired: the scheduled run leaves it alone
    finding.refresh_from_db()
    assert finding.status == Status.EXCEPTION
    Finding.objects.filter(pk=finding.pk).update(exception_expires=timezone.now() - timedelta(seconds=1))
    scheduled(timestamp=0)
    finding.refresh_from_db()
    assert finding.status == Status.REOPENED
    assert finding.events.last().reason.startswith("误报有效期已过")
    # registered with the worker's periodic deferrer, on the checks queue
    periodic = [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == "checks.scheduled"]
    assert periodic and periodic[0].cron == "*/15 * * * *" and periodic[0].task.queue == "checks"
