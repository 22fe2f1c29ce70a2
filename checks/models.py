"""What the consistency checks remember: runs, per-rule watermarks, findings and their audit trail.

A finding is identified by its fingerprint (rule code, the rule's major version and the business keys of the
rows involved, with their source systems), never by database ids: human decisions are stored under it, so
they survive reloads, re-runs and rebuilt tables. Every status change is an append-only
:class:`FindingEvent`; a database trigger (migration 0002) refuses to update or delete one.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.utils import timezone

SRID = 4490


class CheckRun(models.Model):
    """One execution of the engine over some rules, fully or incrementally (from ETL change records)."""

    class Mode(models.TextChoices):
        FULL = "full", "全量"
        INCREMENTAL = "incremental", "增量"

    class Status(models.TextChoices):
        RUNNING = "running", "运行中"
        COMPLETED = "completed", "已完成"
        FAILED = "failed", "失败"

    mode = models.CharField("方式 mode", max_length=16, choices=Mode.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    rules = models.JSONField("规则 rules", default=list)
    trigger = models.CharField("触发 trigger (cli, job, api, test)", max_length=16, default="cli")
    load_runs = models.JSONField("覆盖的加载批次 load runs covered", default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    counts = models.JSONField("计数 counts per rule", default=dict, blank=True)
    timings = models.JSONField("耗时 seconds per rule", default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "检查批次 check run"
        verbose_name_plural = "检查批次 check runs"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.mode} {self.status}"


class RuleState(models.Model):
    """Per-rule watermark: every load run up to ``watermark`` has been checked by this rule (version)."""

    rule = models.CharField("规则 rule", max_length=32, primary_key=True)
    version = models.CharField("规则版本 rule version", max_length=16)
    watermark = models.BigIntegerField("水位 last load run covered", null=True, blank=True)
    last_run = models.ForeignKey(CheckRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_full_run = models.ForeignKey(
        CheckRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # digest of the county polygons the last full run saw (they are not loaded by the ETL)
    counties_digest = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = "规则水位 rule watermark"

    def __str__(self) -> str:
        return f"{self.rule} v{self.version} @ {self.watermark}"


class Status(models.TextChoices):
    NEW = "new", "待核实"
    CONFIRMED = "confirmed", "已确认"
    EXCEPTION = "exception", "误报"
    FIXED = "fixed", "已整改"
    VERIFIED = "verified", "已核销"
    REOPENED = "reopened", "重新打开"


# the statuses' English titles (the labels above are the Chinese ones records and exports show first); the
# API, the exports and the web map all take their titles from here
STATUS_EN = {
    Status.NEW: "new",
    Status.CONFIRMED: "confirmed",
    Status.EXCEPTION: "false positive",
    Status.FIXED: "fixed",
    Status.VERIFIED: "verified",
    Status.REOPENED: "reopened",
}
OPEN_STATUSES = (Status.NEW, Status.CONFIRMED, Status.REOPENED)
# statuses the engine re-evaluates (and may close as fixed when the problem is gone)
LIVE_STATUSES = (*OPEN_STATUSES, Status.EXCEPTION)


class Finding(models.Model):
    """One reproducible inconsistency. ``fingerprint`` is its identity (and its public id)."""

    fingerprint = models.CharField("指纹 fingerprint", max_length=64, unique=True)
    rule = models.CharField("规则 rule", max_length=32, db_index=True)
    rule_version = models.CharField("规则版本 rule version", max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW, db_index=True)
    # [{"system", "target", "key"}] of every row involved, sorted; subject_keys: the keys of the rule's
    # subject table among them (what an incremental run scopes by)
    keys = models.JSONField("业务键 business keys")
    subject_keys = models.JSONField("主体键 subject keys", default=list)
    county = models.CharField("区县 county", max_length=6, blank=True, db_index=True)
    geom = models.GeometryField("问题范围 problem geometry", srid=SRID, null=True, blank=True)
    values = models.JSONField("比较值 compared values", default=dict)
    versions = models.JSONField("行版本 row versions computed on", default=dict)
    material_hash = models.CharField("关键字段摘要 material fields hash", max_length=32, blank=True)
    first_run = models.ForeignKey(CheckRun, on_delete=models.PROTECT, related_name="+")
    last_seen_run = models.ForeignKey(CheckRun, on_delete=models.PROTECT, related_name="+")
    fixed_by_run = models.ForeignKey(
        CheckRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField("发现时间 opened at", default=timezone.now)
    fixed_at = models.DateTimeField("整改时间 fixed at", null=True, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    exception_reason = models.TextField("误报理由 exception reason", blank=True)
    exception_author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    exception_expires = models.DateTimeField("误报有效期 exception expires", null=True, blank=True)
    exception_material_hash = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = "检查发现 finding"
        verbose_name_plural = "检查发现 findings"
        indexes = [models.Index(fields=["rule", "status"]), models.Index(fields=["rule", "county"])]

    def __str__(self) -> str:
        return f"{self.rule} {self.fingerprint[:12]} {self.status}"


class FindingEvent(models.Model):
    """One status change (or creation) of a finding: who (null = the engine), when, why, and which run."""

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(CheckRun, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason = models.TextField("理由 reason", blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "处理记录 finding event"
        ordering = ["finding", "id"]

    def __str__(self) -> str:
        return f"{self.finding_id}: {self.from_status} → {self.to_status}"
