from django.apps import AppConfig


class TilesConfig(AppConfig):
    """MapProxy configuration and integration."""

    name = "tiles"
    verbose_name = "瓦片服务 Tiles"
