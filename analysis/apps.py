from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """The analysts' workbench: queries over the registry's layers, saved queries, exports."""

    name = "analysis"
    verbose_name = "分析查询 Analysts' queries"
