"""What the ETL remembers: each load run, and every problem it found (the schema-mismatch report).

A rejected row is never dropped: it is stored here with its raw values, the rule it failed and the
geometry it had, so an operator can see it on a map, fix the cause and re-run only what failed.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.utils import timezone


class LoadRun(models.Model):
    """One execution of a system's mapping over one export (or over the rejected rows of an earlier run)."""

    class Status(models.TextChoices):
        RUNNING = "running", "运行中"
        COMPLETED = "completed", "已完成"
        FAILED = "failed", "失败"
        CANCELLED = "cancelled", "已取消"

    system = models.CharField("业务系统", max_length=32, db_index=True)
    source_path = models.CharField("导出文件", max_length=1000)
    checksum = models.CharField("SHA-256", max_length=64, blank=True)
    mapping_version = models.CharField("映射版本", max_length=64, blank=True)
    dry_run = models.BooleanField("试运行", default=False)
    only_rejected_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    counts = models.JSONField("计数", default=dict, blank=True)
    per_target = models.JSONField("分目标计数", default=dict, blank=True)
    transforms = models.JSONField("坐标转换与编码", default=dict, blank=True)
    progress = models.JSONField("进度", default=dict, blank=True)
    error = models.TextField("错误", blank=True)
    changed_extent = models.PolygonField("变更范围", srid=4490, null=True, blank=True)

    class Meta:
        verbose_name = "加载批次 load run"
        verbose_name_plural = "加载批次 load runs"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.system} {self.status}"


class Problem(models.Model):
    """A rejection (``error``) or a warning about one source row, or about the whole file (``row`` null)."""

    class Severity(models.TextChoices):
        ERROR = "error", "拒绝"
        WARNING = "warning", "警告"

    run = models.ForeignKey(LoadRun, on_delete=models.CASCADE, related_name="problems")
    target = models.CharField("目标", max_length=32)
    source_file = models.CharField("文件", max_length=500, blank=True)
    row = models.IntegerField("行号", null=True, blank=True, db_index=True)
    source_id = models.CharField("源记录标识", max_length=200, blank=True)
    rule = models.CharField("规则", max_length=64, db_index=True)
    field = models.CharField("字段", max_length=100, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    message_zh = models.TextField()
    message_en = models.TextField()
    expected = models.TextField("期望", blank=True)
    actual = models.TextField("实际", blank=True)
    raw = models.JSONField("原始值", default=dict, blank=True)
    geom = models.GeometryField("几何", srid=4490, null=True, blank=True)
    resolved_by = models.ForeignKey(
        LoadRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="resolved_problems"
    )

    class Meta:
        verbose_name = "问题 problem"
        verbose_name_plural = "问题 problems"
        ordering = ["run", "row", "rule"]
        indexes = [models.Index(fields=["run", "severity"])]

    def __str__(self) -> str:
        return f"{self.rule} row {self.row}: {self.message_en}"


class ChangedKey(models.Model):
    """One unified row a load inserted, changed or deleted, by natural key.

    What a load changed is what the consistency checks must re-evaluate and the tile caches re-seed; a
    changed permit also dirties the parcels under it, so consumers need the key and the row, not only a
    count. Old geometries of changed and deleted rows are in ``<table>_history`` (``record_id`` and
    ``changed_by_run`` = this run); new ones are in the unified table.
    """

    class Op(models.TextChoices):
        INSERT = "I", "新增 insert"
        UPDATE = "U", "更新 update"
        DELETE = "D", "删除 delete"

    # no database FK and no index of its own (the (run, target) index serves): a large load writes a row per
    # changed key, and each constraint check or index entry is paid a million times
    run = models.ForeignKey(
        LoadRun, on_delete=models.CASCADE, related_name="changed_keys", db_constraint=False, db_index=False
    )
    target = models.CharField("目标 parcel|building|permit|landsupply", max_length=16)
    key = models.CharField("业务键 natural key ('/'-joined for compound keys)", max_length=200)
    op = models.CharField(max_length=1, choices=Op.choices)
    record_id = models.BigIntegerField("记录ID")

    class Meta:
        verbose_name = "变更记录 changed row"
        indexes = [models.Index(fields=["run", "target"])]

    def __str__(self) -> str:
        return f"{self.run_id} {self.op} {self.target} {self.key}"


# --- the operators' console (issue 8) ---------------------------------------------------------------------


class Upload(models.Model):
    """An export an operator uploaded for a system: stored, checksummed and unpacked, never executed.

    Kept under ``var/uploads/<id>/`` so a load, a dry run or a re-run of rejected rows always reads the very
    bytes that were previewed (the checksum proves it).
    """

    system = models.CharField("业务系统", max_length=32, db_index=True)
    original_name = models.CharField("文件名", max_length=255)
    folder = models.CharField("存储目录", max_length=1000, blank=True)
    size = models.BigIntegerField("字节数", default=0)
    checksum = models.CharField("SHA-256", max_length=64, blank=True)
    encoding = models.CharField("编码（人工指定）", max_length=32, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "上传 upload"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.system} {self.original_name}"


class ConsoleJob(models.Model):
    """A dry run, load or re-run started from the console; runs as a procrastinate job.

    Progress and the cancel request live here rather than on the run, because the run's own row is inside
    the load's transaction until it commits, and the page must see progress while it runs.
    """

    class Kind(models.TextChoices):
        DRY_RUN = "dry_run", "试运行"
        LOAD = "load", "加载"
        RERUN = "rerun", "重跑被拒行"

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "运行中"
        COMPLETED = "completed", "已完成"
        FAILED = "failed", "失败"
        CANCELLED = "cancelled", "已取消"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    system = models.CharField("业务系统", max_length=32, db_index=True)
    upload = models.ForeignKey(Upload, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    path = models.CharField("导出路径", max_length=1000)
    encoding = models.CharField("编码（人工指定）", max_length=32, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    rerun_of = models.ForeignKey(LoadRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run = models.ForeignKey(LoadRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    procrastinate_id = models.BigIntegerField("后台任务ID", null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "控制台任务 console job"
        ordering = ["-id"]
        constraints = [
            # one load per system at a time, enforced by the database rather than by a check-then-insert
            models.UniqueConstraint(
                fields=["system"],
                condition=models.Q(status__in=["queued", "running"]),
                name="etl_consolejob_one_active_per_system",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.system} {self.status}"


class AuditEntry(models.Model):
    """Who did what in the console, when: uploads, loads, crosswalk changes, re-runs. Append-only."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    action = models.CharField("操作", max_length=32, db_index=True)
    system = models.CharField("业务系统", max_length=32, blank=True)
    summary = models.TextField("摘要")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "审计记录 audit entry"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.action}"
