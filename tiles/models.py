"""Per-layer data versions: what vector-tile ETags are made of, bumped whenever a load changes a layer."""

from __future__ import annotations

from django.contrib.gis.db import models
from django.utils import timezone


class LayerVersion(models.Model):
    """The data version of one registry layer. A tile's ETag is ``<layer definition>-<version>``: when a
    load changes the layer the version moves on, so no client revalidates to a stale tile."""

    layer = models.CharField("图层", max_length=64, primary_key=True)
    version = models.BigIntegerField("数据版本", default=1)
    changed_at = models.DateTimeField("变更时间", default=timezone.now)
    changed_extent = models.PolygonField("最近变更范围", srid=4490, null=True, blank=True)
    changed_by_run = models.BigIntegerField("变更批次 load run", null=True, blank=True)

    class Meta:
        verbose_name = "图层数据版本 layer data version"
        verbose_name_plural = "图层数据版本 layer data versions"

    def __str__(self) -> str:
        return f"{self.layer} v{self.version}"
