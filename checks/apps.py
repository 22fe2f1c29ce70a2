from django.apps import AppConfig


class ChecksConfig(AppConfig):
    """Cross-system consistency rules and their findings."""

    name = "checks"
    verbose_name = "一致性检查 Consistency checks"

    def ready(self) -> None:
        from checks.layer import register_layer
        from checks.tasks import enqueue_recheck
        from etl.signals import load_completed

        load_completed.connect(enqueue_recheck, dispatch_uid="checks.enqueue_recheck")
        register_layer()  # the open findings on the map (checks.layer)
