"""The re-check job is queued once, and queueing it again leaves the caller's transaction usable."""

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from checks.tasks import QUEUEING_LOCK, enqueue_recheck
from etl.models import LoadRun


@pytest.mark.django_db
def test_a_second_enqueue_is_a_no_op_inside_a_transaction():
    enqueue_recheck(run=None)
    enqueue_recheck(run=None)  # refused by the queueing lock: must not abort the surrounding transaction
    assert ProcrastinateJob.objects.filter(queueing_lock=QUEUEING_LOCK, status="todo").count() == 1
    assert LoadRun.objects.count() == 0  # the transaction still answers
