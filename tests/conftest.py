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
    into the development database. Its migrated contents are always serialised, so :func:`restore_baseline`
    can put them back after a transactional test flushed them.
    """
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        _disconnect_others(connection.creation._get_test_db_name())  # a previous run's late subprocesses
        config = setup_databases(
            verbosity=0, interactive=False, aliases={"default"}, serialized_aliases={"default"}
        )
        assert connection.settings_dict["NAME"].startswith("test_"), (
            "tests must not use the development database"
        )
    yield
    with django_db_blocker.unblock():
        _disconnect_others(connection.settings_dict["NAME"])  # servers and workers the tests started
        try:
            teardown_databases(config, verbosity=0)
        except Exception as exc:  # noqa: BLE001 - as pytest-django does: a warning, the results stand
            request.node.warn(pytest.PytestWarning(f"Error when trying to teardown test databases: {exc!r}"))


def restore_baseline() -> None:
    """Put back what the migrations loaded (roles, code lists, counties) if a transactional test flushed the
    database before a module fixture that commits its own data runs."""
    from django.contrib.auth.models import Group
    from django.db import connection

    if not Group.objects.exists():
        connection.creation.deserialize_db_from_string(connection._test_serialized_contents)


def _disconnect_others(database: str) -> None:
    """End the other sessions on ``database`` (subprocess servers and workers closing late), so that it can
    be dropped."""
    from django.db import connection

    with connection._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )


@pytest.fixture
def role_user(django_user_model):
    """Factory: a user holding the given roles (group names)."""
    from django.contrib.auth.models import Group

    def make(username: str, *roles: str):
        user = django_user_model.objects.create_user(username=username, password="pw-for-tests-1")
        user.groups.set([Group.objects.get(name=r) for r in roles])
        return user

    return make
