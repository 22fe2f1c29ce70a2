"""The embedded cluster never takes a port another program (or another checkout's cluster) holds."""

from __future__ import annotations

import socket

import pytest

from onemap import embedded_pg


def test_busy_default_port_is_skipped(monkeypatch):
    monkeypatch.delenv("ONEMAP_PG_PORT", raising=False)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        monkeypatch.setattr(embedded_pg, "DEFAULT_PORT", busy)
        assert embedded_pg._choose_port() != busy


def test_explicit_port_is_respected(monkeypatch):
    monkeypatch.setenv("ONEMAP_PG_PORT", "6123")
    assert embedded_pg._choose_port() == 6123


@pytest.mark.django_db
def test_the_running_cluster_is_postgis_15():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int / 10000, postgis_lib_version()")
        major, postgis = cursor.fetchone()
    assert major == 15 and postgis.startswith("3.")
