"""Background jobs of the analysts' workbench (procrastinate, queue ``analysis``): large exports, and the
daily removal of old export files."""

from __future__ import annotations

import logging

from procrastinate.contrib.django import app

log = logging.getLogger(__name__)


@app.task(queue="analysis", name="analysis.export")
def export_job(job_id: int) -> int:
    """Write the file of an :class:`analysis.models.ExportJob`; returns the rows written."""
    from analysis.jobs import run_export_job

    return run_export_job(job_id)


@app.periodic(cron="17 3 * * *", periodic_id="analysis.purge_exports")
@app.task(queue="analysis", name="analysis.purge_exports")
def purge_exports(timestamp: int) -> int:
    """Every night: export files older than a week go (their owners had a week to download them)."""
    from analysis.jobs import purge_exports as purge

    removed = purge(days=7)
    log.info("removed %s old export jobs (tick %s)", removed, timestamp)
    return removed
