"""Killing a load mid-way (SIGKILL while it writes) leaves the unified tables byte-for-byte as before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from etl.models import LoadRun
from etl.runner import run_load
from tests.etl_files import building_rows, parcel_rows, write_registration

ROOT = Path(__file__).resolve().parent.parent


def digest(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) "
            f"FROM {table} t"
        )
        return cursor.fetchone()[0]


def tables_state() -> tuple[str, ...]:
    return tuple(
        digest(t)
        for t in (
            "layers_parcel",
            "layers_building",
            "layers_parcel_history",
            "layers_building_history",
            "etl_problem",
        )
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sigkill_during_the_write_changes_nothing(tmp_path):
    small = parcel_rows(50)
    run_load("registration", write_registration(tmp_path / "v1", small, building_rows(small)))
    before = tables_state()

    big = parcel_rows(20000)
    for row in big:
        row["ZL"] = "渝中区新地址" + row["ZL"]
    folder = write_registration(tmp_path / "v2", big, building_rows(big))
    s = connection.settings_dict
    env = dict(
        os.environ, DATABASE_URL=f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "etl_run", "registration", str(folder)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    killed_during = None
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state = 'active' AND xact_start IS NOT NULL "
                    "AND (query LIKE 'COPY stg_%%' OR query LIKE 'UPDATE layers_%%' "
                    "OR query LIKE 'INSERT INTO layers_%%')"
                )
                row = cursor.fetchone()
            if row:
                killed_during = row[0][:40]
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.wait(timeout=30)
    assert killed_during, "the load finished before it could be killed while writing"
    assert proc.returncode == -signal.SIGKILL
    # the server notices the dead client and rolls its transaction back
    for _ in range(200):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                break
        time.sleep(0.05)
    assert tables_state() == before

    # the next run of the system records the interrupted one as failed, and loads normally
    run_load("registration", write_registration(tmp_path / "v3", small, building_rows(small)))
    interrupted = LoadRun.objects.order_by("pk")[1]
    assert interrupted.status == "failed" and "interrupted" in interrupted.error
