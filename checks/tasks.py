"""Background re-checks (procrastinate, queue ``checks``): after every committed ETL load, an incremental run
re-evaluates what the load made dirty. One job at a time is queued (``queueing_lock``): a run covers every
load since each rule's watermark, so a second queued job would have nothing more to do."""

from __future__ import annotations

import logging

from django.db import transaction
from procrastinate import exceptions
from procrastinate.contrib.django import app

log = logging.getLogger(__name__)
QUEUEING_LOCK = "checks.recheck"


@app.task(queue="checks", name="checks.recheck", queueing_lock=QUEUEING_LOCK, lock="checks.engine")
def recheck(load_run: int | None = None) -> int:
    """Incremental re-check of every rule; returns the check run id. ``load_run`` only labels the job."""
    from checks.engine import run_checks

    run = run_checks(trigger="job")
    log.info("re-check #%s after load #%s: %s", run.pk, load_run, run.counts)
    return run.pk


# Every quarter of an hour, even when no load comes: a 误报 whose expiry has passed must re-open on time, not
# at the next load (which may be weeks away). Nothing dirty → each rule only expires its exceptions, so the
# scheduled run costs a few index lookups. It shares the queueing lock: a re-check already queued covers it.
@app.periodic(cron="*/15 * * * *", periodic_id="checks.expiry")
@app.task(queue="checks", name="checks.scheduled", queueing_lock=QUEUEING_LOCK, lock="checks.engine")
def scheduled(timestamp: int) -> int:
    """Scheduled incremental run (re-opens expired exceptions; catches up on anything a lost job missed)."""
    from checks.engine import run_checks

    run = run_checks(trigger="schedule")
    log.info("scheduled re-check #%s (tick %s): %s", run.pk, timestamp, run.counts)
    return run.pk


def enqueue_recheck(sender=None, run=None, **kwargs) -> None:
    """``etl.signals.load_completed`` receiver: queue the re-check (a no-op when one is already queued)."""
    try:
        # a savepoint: the refused duplicate must not abort a surrounding transaction (tests, callers)
        with transaction.atomic():
            recheck.defer(load_run=getattr(run, "pk", None))
    except exceptions.AlreadyEnqueued:
        log.debug("a re-check is already queued; it will cover load #%s", getattr(run, "pk", None))
