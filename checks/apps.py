from django.apps import AppConfig


class ChecksConfig(AppConfig):
    """Cross-system consistency rules and their findings."""

    name = "checks"
    verbose_name = "一致性检查 Consistency checks"
