"""Local development and the demo: the default when DJANGO_SETTINGS_MODULE is not set."""

from onemap.settings.base import *  # noqa: F403
