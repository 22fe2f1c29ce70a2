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
