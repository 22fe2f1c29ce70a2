"""Module-scoped, committed test data for the serving tests (REST, OGC, tiles, MapProxy).

Committed (not inside a test transaction) because the clients under test read it from other processes:
``mapserv`` children of MapProxy, a gunicorn server for GDAL/OWSLib, a procrastinate worker. Loaded through
the real ETL from tiny exports (tests/etl_files.py); removed again when the module ends.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from tests.etl_files import (
    building_rows,
    parcel_rows,
    permit_rows,
    supply_rows,
    write_planning,
    write_registration,
    write_supply_csv,
)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-for-serving-1"
ROLES = {"analyst": "analyst", "supervisor": "supervisor", "operator": "etl_operator", "admin": "admin"}
TABLES = (
    "layers_parcel_history, layers_building_history, layers_planningpermit_history, "
    "layers_landsupply_history, layers_parcel, layers_building, layers_planningpermit, layers_landsupply, "
    "etl_problem, etl_changedkey, etl_loadrun, tiles_layerversion"
)


@dataclass
class Served:
    prefix: str
    folder: Path

    def user(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def basic(self, role: str) -> dict:
        token = base64.b64encode(f"{self.user(role)}:{PASSWORD}".encode()).decode()
        return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def bad_parcel(rows: list[dict]) -> dict:
    """A parcel with an invalid ZDDM: rejected into the ETL quarantine with its geometry."""
    from tests.etl_files import gk_square

    row = dict(rows[0], ZDDM="BAD-CODE", BDCDYH="", BSM=99, geometry=gk_square(8))
    return row


def load_served(prefix: str, folder: Path) -> Served:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from etl.runner import run_load
    from tests.conftest import restore_baseline

    restore_baseline()
    for role, group in ROLES.items():
        user = get_user_model().objects.create_user(username=f"{prefix}-{role}", password=PASSWORD)
        user.groups.set([Group.objects.get(name=group)])
    parcels = parcel_rows(5)
    write_registration(folder / "registration", [*parcels, bad_parcel(parcels)], building_rows(parcels))
    write_planning(folder / "planning", permit_rows(3))
    write_supply_csv(folder / "landsupply", supply_rows(3))
    for system in ("registration", "planning", "landsupply"):
        run = run_load(system, folder / system)
        assert run.status == "completed", run.error
    with connection.cursor() as cursor:  # the initial loads' re-seed jobs: nothing is cached yet
        cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'tiles'")
    return Served(prefix, folder)


def unload_served(served: Served) -> None:
    from django.contrib.auth import get_user_model

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLES} CASCADE")
        cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'tiles'")
    get_user_model().objects.filter(username__startswith=f"{served.prefix}-").delete()


def database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def run_worker_once(*queues: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`manage.py procrastinate worker --one-shot` on the test database: the jobs a test queued, run by a
    real worker process as in production."""
    return subprocess.run(
        [sys.executable, "manage.py", "procrastinate", "worker", "--one-shot", "--queues", ",".join(queues)],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=database_url()),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn serving onemap.wsgi on the test database, for clients that need a real HTTP server."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="onemap.settings.test")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "onemap.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--timeout",
                "120",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2)
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.process.stderr.read().decode()) from None
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
