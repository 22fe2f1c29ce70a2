from django.apps import AppConfig


class EtlConfig(AppConfig):
    """Normalises each business system's export into the unified schema."""

    name = "etl"
    verbose_name = "数据治理 ETL"
