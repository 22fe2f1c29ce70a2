"""Services behind the operators' console: start, run and cancel background loads; fix an unknown code
through a new crosswalk entry; the audit trail. Views and the procrastinate task stay thin and call these.

Progress and cancel go through a connection of their own: the load runs in one transaction on the
worker's connection, so anything it wrote there would stay invisible to the page until the commit.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from etl.errors import EtlError
from etl.mapping import load_mapping
from etl.models import AuditEntry, ConsoleJob, LoadRun, Upload
from etl.runner import LoadCancelled, run_load
from etl.uploads import count_rows, export_folder, mapping_with_encoding
from layers.models import Code, CrosswalkEntry


class ConsoleError(EtlError):
    """An operation the console refuses (another load running, unknown code ...), said in plain words."""


def audit(user, action: str, system: str, summary: str, **details) -> AuditEntry:
    return AuditEntry.objects.create(
        user=user, action=action, system=system, summary=summary, details=details
    )


STALE_HEARTBEAT = timedelta(minutes=2)


def active_job(system: str) -> ConsoleJob | None:
    """The queued or running job of ``system``, if any. A job whose worker is gone (procrastinate job
    finished without a result, or its worker's heartbeat stopped) is marked failed here, so one crashed
    worker cannot block a system forever; its load's transaction died with it, so no data changed."""
    job = ConsoleJob.objects.filter(system=system, status__in=ConsoleJob.ACTIVE).first()
    if job is None or job.procrastinate_id is None:
        return job
    from procrastinate.contrib.django.models import ProcrastinateJob

    task = ProcrastinateJob.objects.filter(pk=job.procrastinate_id).select_related("worker").first()
    stale = task is None or task.status not in ("todo", "doing")
    if task is not None and task.status == "doing":
        beat = task.worker.last_heartbeat if task.worker else None
        stale = beat is None or beat < timezone.now() - STALE_HEARTBEAT
    if not stale:
        return job
    ConsoleJob.objects.filter(pk=job.pk, status__in=ConsoleJob.ACTIVE).update(
        status=ConsoleJob.Status.FAILED,
        finished_at=timezone.now(),
        error="后台工作进程中断，任务未完成，数据未改变 / the worker stopped before the job finished",
    )
    return None


def job_start(
    *,
    system: str,
    kind: str,
    user,
    upload: Upload | None = None,
    rerun_of: LoadRun | None = None,
) -> ConsoleJob:
    """Queue a dry run, load or re-run of ``system``; only one per system at a time (database constraint)."""
    from etl.tasks import console_job

    active_job(system)  # clears a stale job first
    if upload is not None:
        path, encoding = str(export_folder(upload)), upload.encoding
    elif rerun_of is not None:
        origin = ConsoleJob.objects.filter(run=rerun_of).first()
        path, encoding = rerun_of.source_path, origin.encoding if origin else ""
        upload = origin.upload if origin else None
    else:
        raise ConsoleError("nothing to load: no upload and no earlier run")
    if not Path(path).exists():
        raise ConsoleError(f"导出文件已不存在：{path} / the export is no longer there: {path}")
    try:
        with transaction.atomic():
            job = ConsoleJob.objects.create(
                system=system,
                upload=upload,
                path=path,
                encoding=encoding,
                kind=kind,
                rerun_of=rerun_of,
                created_by=user,
            )
            job.procrastinate_id = console_job.defer(job_id=job.pk)
            job.save(update_fields=["procrastinate_id"])
    except IntegrityError as exc:
        raise ConsoleError(
            f"系统「{system}」已有任务在运行，请等待其结束或取消 / another job of '{system}' is running"
        ) from exc
    action = {"dry_run": "dry_run", "load": "load", "rerun": "rerun"}[kind]
    audit(
        user,
        action,
        system,
        f"{ConsoleJob.Kind(kind).label} {Path(path).name}"
        + (f"（批次 #{rerun_of.pk} 的被拒行）" if rerun_of else ""),
        job=job.pk,
        upload=upload.pk if upload else None,
        rerun_of=rerun_of.pk if rerun_of else None,
    )
    return job


def job_cancel(job: ConsoleJob, user) -> None:
    """Ask a job to stop: a queued one is cancelled at once; a running one at its next progress step, and
    its transaction rolls back, so the data stays as it was."""
    updated = ConsoleJob.objects.filter(pk=job.pk, status=ConsoleJob.Status.QUEUED).update(
        status=ConsoleJob.Status.CANCELLED, finished_at=timezone.now(), cancel_requested=True
    )
    if not updated:
        ConsoleJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    audit(user, "cancel", job.system, f"取消任务 #{job.pk}", job=job.pk)


class _SideChannel:
    """Writes progress and reads the cancel flag on its own autocommit connection, at most every 0.3 s."""

    def __init__(self, job: ConsoleJob, total: int) -> None:
        s = connection.settings_dict
        self.conn = psycopg.connect(
            host=s["HOST"] or None,
            port=s["PORT"] or None,
            dbname=s["NAME"],
            user=s["USER"],
            password=s["PASSWORD"] or None,
            autocommit=True,
        )
        self.job_id, self.total = job.pk, total
        self.t0 = time.monotonic()
        self.last = 0.0
        self.state = {"stage": "", "read": 0, "validated": 0, "applied": 0, "total": total, "percent": 0}
        self._validated: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        target, _, step = stage.partition(": ")
        if step == "read":
            self.state["read"] = max(self.state["read"], done)
        elif step == "geometry":
            self._validated[target] = self._validated.get(target, 0) + done
            self.state["validated"] = sum(self._validated.values())
        elif step == "applied":
            self.state["applied"] = done
        self.state["stage"] = stage
        if stage == "done":
            self.flush(final=True)
            return
        now = time.monotonic()
        if now - self.last >= 0.3:
            self.flush()
            self.last = now

    def flush(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self.t0
        total = max(self.total, self.state["read"], 1)
        work = (self.state["read"] + self.state["validated"] + self.state["applied"]) / (3 * total)
        percent = 100 if final else min(99, int(work * 100))
        self.state.update(
            percent=percent,
            elapsed=round(elapsed, 1),
            eta=None if final or work <= 0 else round(elapsed * (1 - work) / work, 1),
        )
        with self.conn.cursor() as cur:
            cur.execute(
                "UPDATE etl_consolejob SET progress = %s, status = 'running' WHERE id = %s "
                "RETURNING cancel_requested",
                [psycopg.types.json.Jsonb(self.state), self.job_id],
            )
            row = cur.fetchone()
        if row and row[0] and not final:
            raise LoadCancelled("已由操作员取消 / cancelled by the operator")

    def close(self) -> None:
        self.conn.close()


def run_job(job_id: int) -> None:
    """Execute a queued console job (called by the procrastinate task ``etl.console_job``)."""
    job = ConsoleJob.objects.get(pk=job_id)
    if job.status != ConsoleJob.Status.QUEUED:
        return  # cancelled before it started
    job.status, job.started_at = ConsoleJob.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    mapping = mapping_with_encoding(load_mapping(job.system), job.encoding)
    if job.rerun_of_id:
        total = job.rerun_of.problems.filter(severity="error", resolved_by=None).exclude(row=None).count()
    else:
        total = count_rows(Path(job.path), mapping)
    channel = _SideChannel(job, total)
    run = None
    try:
        run = run_load(
            job.system,
            job.path,
            dry_run=job.kind == ConsoleJob.Kind.DRY_RUN,
            only_rejected_of=job.rerun_of,
            user=job.created_by,
            progress=channel,
            mapping=mapping,
        )
        job.status = ConsoleJob.Status.COMPLETED
    except LoadCancelled:
        job.status = ConsoleJob.Status.CANCELLED
    except EtlError as exc:
        job.status, job.error = ConsoleJob.Status.FAILED, str(exc)
    finally:
        channel.close()
    if run is None:
        run = (
            LoadRun.objects.filter(source_path=job.path, started_at__gte=job.started_at)
            .order_by("-id")
            .first()
        )
    job.refresh_from_db(fields=["progress"])
    job.run, job.finished_at = run, timezone.now()
    job.save(update_fields=["run", "status", "error", "finished_at"])


def crosswalk_map(
    *, crosswalk: str, source_code: str, target_code: str, user, note: str = ""
) -> CrosswalkEntry:
    """Map ``source_code`` to ``target_code`` with a new entry; the entries it replaces are superseded, never
    edited, so a load can be replayed with the crosswalk it used."""
    from etl.transforms import Lookups

    target_list = Lookups().crosswalk_target_list(crosswalk)
    if target_list is None:
        raise ConsoleError(f"未知的代码对照表「{crosswalk}」/ unknown crosswalk '{crosswalk}'")
    if not Code.objects.filter(codelist__key=target_list, code=target_code, valid_to=None).exists():
        raise ConsoleError(
            f"「{target_code}」不是 {target_list} 中的有效代码 / "
            f"'{target_code}' is not a current code of {target_list}"
        )
    with transaction.atomic():
        old = list(
            CrosswalkEntry.objects.select_for_update().filter(
                crosswalk=crosswalk, source_code=source_code, superseded_by=None
            )
        )
        entry = CrosswalkEntry.objects.create(
            crosswalk=crosswalk,
            source_code=source_code,
            target_code=target_code,
            cardinality=CrosswalkEntry.Cardinality.ONE_TO_ONE,
            note=note or "由数据管理员在控制台补充 / added in the operators' console",
            created_by=user,
        )
        CrosswalkEntry.objects.filter(pk__in=[o.pk for o in old]).update(superseded_by=entry)
        audit(
            user,
            "crosswalk",
            "",
            f"代码对照 {crosswalk}: {source_code} → {target_code}",
            entry=entry.pk,
            superseded=[o.pk for o in old],
        )
    return entry
