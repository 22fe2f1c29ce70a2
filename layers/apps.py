from django.apps import AppConfig


class LayersConfig(AppConfig):
    """The unified schema (TD/T 1066 vocabulary), code lists and their validators."""

    name = "layers"
    verbose_name = "统一图层 Unified layers"
