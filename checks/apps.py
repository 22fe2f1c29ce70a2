from django.apps import AppConfig


class ChecksConfig(AppConfig):
    """Cross-system consistency rules and their findings."""

    name = "checks"
    verbose_name = "一致性检查 Consistency checks"

    def ready(self) -> None:
        from checks.tasks import enqueue_recheck
        from etl.signals import load_completed

        load_completed.connect(enqueue_recheck, dispatch_uid="checks.enqueue_recheck")
