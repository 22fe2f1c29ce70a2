"""Test-suite wide setup: a real PostGIS (the embedded cluster unless DATABASE_URL is set)."""

from __future__ import annotations

import pytest

from onemap.bootstrap import ensure_database


def pytest_configure(config):
    ensure_database()


@pytest.fixture
def role_user(django_user_model):
    """Factory: a user holding the given roles (group names)."""
    from django.contrib.auth.models import Group

    def make(username: str, *roles: str):
        user = django_user_model.objects.create_user(username=username, password="pw-for-tests-1")
        user.groups.set([Group.objects.get(name=r) for r in roles])
        return user

    return make
