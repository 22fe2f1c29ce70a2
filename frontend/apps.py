from django.apps import AppConfig


class FrontendConfig(AppConfig):
    """The web map, templates and vendored static assets."""

    name = "frontend"
    verbose_name = "前端 Frontend"
