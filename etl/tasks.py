"""Background jobs (procrastinate, on OneMap's own PostgreSQL): the same load as ``etl_run``."""

from __future__ import annotations

from pathlib import Path

from procrastinate.contrib.django import app

from etl.models import LoadRun
from etl.runner import run_load


@app.task(queue="etl", name="etl.load")
def load_export(
    system: str,
    path: str,
    dry_run: bool = False,
    user_id: int | None = None,
    only_rejected_of: int | None = None,
) -> int:
    """Run a load in the worker; returns the run id. Failures are recorded on the run (status, error)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    earlier = LoadRun.objects.get(pk=only_rejected_of) if only_rejected_of else None
    run = run_load(system, Path(path), dry_run=dry_run, user=user, only_rejected_of=earlier)
    return run.pk


@app.task(queue="etl", name="etl.console_job")
def console_job(job_id: int) -> None:
    """A dry run, load or re-run started from the operators' console (progress and cancel: etl.console)."""
    from etl.console import run_job

    run_job(job_id)
