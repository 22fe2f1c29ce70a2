"""Settings come from the environment; production settings pass `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="onemap.settings.prod",
        SECRET_KEY="q8#Vz1!mR4@tL7pW2^xN9-cK3*bH6(jD0)fG5_sY8+uE1=aQ4Zz9-Wm2",
        ALLOWED_HOSTS="onemap.example.gov.cn",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_production_settings_refuse_to_start_without_a_secret_key():
    result = run_manage("check", DJANGO_SETTINGS_MODULE="onemap.settings.prod", ALLOWED_HOSTS="x.gov.cn")
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_database_url_is_used_when_set(monkeypatch):
    from onemap.settings.base import database_config

    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:6543/gis")
    config = database_config()
    assert config["ENGINE"] == "django.contrib.gis.db.backends.postgis"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.example",
        6543,
        "gis",
        "u",
    )


def test_bad_boolean_is_a_clear_error(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from onemap.settings.base import env_bool

    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe'"):
        env_bool("DEBUG", False)
