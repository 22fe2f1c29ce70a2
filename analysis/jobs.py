"""Export requests: answered at once when small, queued as an ``analysis.export`` job when large.

Why count first: the row count decides between a file in the response (≤ ``ANALYSIS_EXPORT_DIRECT_ROWS``,
default 5,000) and a background job with progress and a download link; above
``ANALYSIS_MAX_EXPORT_ROWS`` (1,000,000) the request is refused with the count rather than silently cut.

The job writes under ``ANALYSIS_EXPORT_DIR/<id>-<random>/`` (the random part keeps files of different
databases, e.g. parallel test runs, apart and the path unguessable). Progress goes through a second
database connection in autocommit: the export itself runs inside the engine's read-only transaction,
whose writes would be refused and whose snapshot nobody else sees.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from analysis import engine
from analysis.exports import FORMATS, write_export
from analysis.models import ExportJob, SavedQuery
from analysis.query import Query, QueryModelError, parse_query

log = logging.getLogger(__name__)


def export_dir() -> Path:
    return Path(getattr(settings, "ANALYSIS_EXPORT_DIR", settings.VAR_DIR / "exports"))


def direct_rows() -> int:
    return int(getattr(settings, "ANALYSIS_EXPORT_DIRECT_ROWS", 5_000))


def download_name(query: Query, fmt: str) -> str:
    """An ASCII file name (``landsupply-20250301-1405.csv``): every browser and client keeps it as is."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"{query.layer.name}{'-stats' if query.grouped else ''}-{stamp}.{fmt}"


def check_format(query: Query, fmt: object) -> str:
    if fmt not in FORMATS:
        raise QueryModelError(
            "format", f"格式应为 {', '.join(FORMATS)} 之一", f"format must be one of {', '.join(FORMATS)}"
        )
    if query.grouped and not FORMATS[fmt].tables:
        raise QueryModelError(
            "format", "分组统计只能导出为 csv 或 xlsx", "a grouped query exports its table as csv or xlsx"
        )
    return fmt


@dataclass
class Direct:
    """A small export written to a temporary file: open it, then :meth:`discard` the folder."""

    path: Path
    name: str
    content_type: str

    def open(self):
        fh = open(self.path, "rb")  # closed by the FileResponse
        shutil.rmtree(self.path.parent, ignore_errors=True)  # the open handle keeps the data readable
        return fh


def export_request(
    *, user, query: Query, fmt: str, srid: int, saved: SavedQuery | None = None
) -> Direct | ExportJob:
    """Export ``query`` for ``user``: a :class:`Direct` file when small, else a queued :class:`ExportJob`.
    Raises :class:`QueryModelError` (format, too many rows) or :class:`analysis.engine.QueryTimeout`."""
    check_format(query, fmt)
    total = engine.count_rows(query)
    if total > engine.max_export_rows():
        raise QueryModelError(
            "",
            f"结果有 {total} 行，超过导出上限 {engine.max_export_rows()} 行；请缩小查询范围",
            f"the result has {total} rows, more than the export limit of {engine.max_export_rows()}",
        )
    if total <= direct_rows():
        folder = export_dir() / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(dir=folder)) / download_name(query, fmt)
        try:
            write_export(query, fmt=fmt, srid=srid, path=path, timeout_ms=engine.statement_timeout_ms())
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        return Direct(path, path.name, FORMATS[fmt].content_type)
    job = ExportJob.objects.create(
        owner=user, saved=saved, query=query.raw, format=fmt, srid=srid, total=total
    )
    from analysis.tasks import export_job

    export_job.defer(job_id=job.pk)
    return job


def job_dict(job: ExportJob) -> dict:
    done = job.status == ExportJob.Status.DONE
    return {
        "job": job.pk,
        "status": job.status,
        "percent": job.percent,
        "rows": job.rows,
        "total": job.total,
        "format": job.format,
        "crs": job.srid,
        "download_url": f"/api/queries/exports/{job.pk}/download/" if done else None,
        "filename": job.filename if done else None,
        "error": job.error or None,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def job_file(job: ExportJob) -> Path | None:
    """The job's file if it is done and still there (only ever a path below the export folder)."""
    if job.status != ExportJob.Status.DONE or not job.file:
        return None
    root = export_dir().resolve()
    path = (root / job.file).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


class _Progress:
    """Writes a job's progress through its own autocommit connection (see the module docstring)."""

    def __init__(self, job: ExportJob):
        self.job = job
        self.conn = connection.copy()

    def __call__(self, rows: int) -> None:
        percent = min(99, int(rows * 100 / max(self.job.total, 1)))
        with self.conn.cursor() as cursor:
            cursor.execute(
                "UPDATE analysis_exportjob SET rows = %s, percent = %s WHERE id = %s",
                [rows, percent, self.job.pk],
            )

    def close(self) -> None:
        self.conn.close()


def run_export_job(job_id: int) -> int:
    """Run a queued export (the ``analysis.export`` job); returns the rows written. A failure is recorded
    on the job (status, error), never lost: this is the runner, where broad catching belongs."""
    job = ExportJob.objects.select_related("owner").get(pk=job_id)
    job.status, job.started_at = ExportJob.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    progress = _Progress(job)
    try:
        query = parse_query(job.query, user=job.owner)  # the owner's permissions today
        engine.check_access(job.owner, query)
        folder = export_dir() / f"{job.pk}-{secrets.token_hex(8)}"
        folder.mkdir(parents=True, exist_ok=True)
        name = download_name(query, job.format)
        rows = write_export(query, fmt=job.format, srid=job.srid, path=folder / name, progress=progress)
    except Exception as exc:  # noqa: BLE001 - recorded on the job for its owner, and logged
        log.exception("export job %s failed", job.pk)
        message = getattr(exc, "message_zh", None) or str(exc) or type(exc).__name__
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        return 0
    finally:
        progress.close()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        percent=100,
        rows=rows,
        file=str((folder / name).relative_to(export_dir())),
        filename=name,
        finished_at=timezone.now(),
    )
    return rows


def purge_exports(*, days: int = 7) -> int:
    """Delete export jobs finished more than ``days`` ago, with their files; returns how many."""
    cutoff = timezone.now() - dt.timedelta(days=days)
    old = list(ExportJob.objects.filter(finished_at__lt=cutoff))
    for job in old:
        if job.file:
            folder = (export_dir() / job.file).parent
            if folder.resolve().is_relative_to(export_dir().resolve()) and folder != export_dir():
                shutil.rmtree(folder, ignore_errors=True)
    ExportJob.objects.filter(pk__in=[j.pk for j in old]).delete()
    return len(old)
