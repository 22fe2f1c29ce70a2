"""Saved queries and export jobs of the analysts' workbench."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SavedQuery(models.Model):
    """A query model kept under a name: its owner's, shared with the other query roles, or a ready-made
    example (no owner, read-only, created by a data migration). Saved as the JSON the user sent, so a re-run
    compiles it afresh against today's data and registry (relative dates such as ``today-1y`` included)."""

    name = models.CharField("名称 name", max_length=200)
    description = models.TextField("说明 description", blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_queries",
        verbose_name="所有者 owner",
    )
    shared = models.BooleanField("共享 shared", default=False)
    query = models.JSONField("查询 query model")
    is_example = models.BooleanField("示例 ready-made example", default=False)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    updated_at = models.DateTimeField("修改时间", auto_now=True)

    class Meta:
        verbose_name = "保存的查询 saved query"
        verbose_name_plural = "保存的查询 saved queries"
        ordering = ["-is_example", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_example=False) | models.Q(owner__isnull=True, shared=True),
                name="savedquery_example_is_shared_and_unowned",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ExportJob(models.Model):
    """An export too large to answer at once: written by the ``analysis.export`` job into
    ``ANALYSIS_EXPORT_DIR/<file>``, served to its owner only."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "导出中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="export_jobs",
        verbose_name="所有者 owner",
    )
    saved = models.ForeignKey(
        SavedQuery,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="保存的查询",
    )
    query = models.JSONField("查询 query model (as run)")
    format = models.CharField("格式 format", max_length=8)
    srid = models.IntegerField("坐标系 EPSG")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    percent = models.PositiveSmallIntegerField(default=0)
    total = models.BigIntegerField("预计行数 rows counted when queued", default=0)
    rows = models.BigIntegerField("已写行数 rows written", default=0)
    file = models.CharField("文件 path under ANALYSIS_EXPORT_DIR", max_length=500, blank=True)
    filename = models.CharField("下载文件名 download name", max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "导出任务 export job"
        verbose_name_plural = "导出任务 export jobs"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"export #{self.pk} {self.format} ({self.status})"
