"""Test-suite wide setup: a real PostGIS (the embedded cluster unless DATABASE_URL is set)."""

from __future__ import annotations

import pytest

from onemap.bootstrap import ensure_database


def pytest_configure(config):
    ensure_database()


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """pytest-django's set-up, except that the test database always exists.

    pytest-django creates it only when some collected test is marked ``django_db``; modules that commit their
    own data in module fixtures (served layers, tiles, browser flows) and run alone would otherwise write
    into the development database.
    """
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from pytest_django.fixtures import _get_databases_for_setup

    _aliases, serialized = _get_databases_for_setup(request.session.items)
    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=0, interactive=False, aliases={"default"}, serialized_aliases=serialized
        )
        assert connection.settings_dict["NAME"].startswith("test_"), (
            "tests must not use the development database"
        )
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@pytest.fixture
def role_user(django_user_model):
    """Factory: a user holding the given roles (group names)."""
    from django.contrib.auth.models import Group

    def make(username: str, *roles: str):
        user = django_user_model.objects.create_user(username=username, password="pw-for-tests-1")
        user.groups.set([Group.objects.get(name=r) for r in roles])
        return user

    return make
