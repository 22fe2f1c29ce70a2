"""The embedded PostgreSQL + PostGIS cluster under ``var/pg``.

OneMap runs on a real PostGIS everywhere (tests and demo included), but a newcomer should not have to
install and configure a database server by hand. With no ``DATABASE_URL`` set, the project keeps its own
cluster in ``var/pg`` and starts it on demand. This module has no dependency outside the standard library so
that ``make stop`` and the setup script can use it before (or without) the virtualenv.

Why the details look the way they do:

* ``initdb`` refuses to run as root, so when we are root the cluster belongs to ``postgres`` and every
  server command goes through ``runuser``.
* The server listens on TCP 127.0.0.1 only (no Unix socket: deep checkouts would exceed the 107-byte socket
  path limit), with a generated password (scram-sha-256), never ``trust``.
* Another checkout on the same machine (CI clones next to the working copy) may hold the default port with
  a cluster that is not ours. We never connect to a cluster we did not start: the port is chosen once
  (``ONEMAP_PG_PORT`` or the first free port from 5499) and recorded in ``var/pg.port``.

Command line: ``python -m onemap.embedded_pg start|stop|status|url``.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
DATA_DIR = VAR_DIR / "pg"
STATE_FILE = VAR_DIR / "pg.json"
LOG_FILE = VAR_DIR / "pg.log"
DEFAULT_PORT = 5499
DB_NAME = "onemap"
DB_USER = "onemap"
PG_VERSION = "15"


class EmbeddedPgError(RuntimeError):
    """The embedded cluster could not be prepared; the message says what to do."""


def _bin(name: str) -> str:
    for candidate in (f"/usr/lib/postgresql/{PG_VERSION}/bin/{name}", shutil.which(name)):
        if candidate and os.path.exists(candidate):
            return candidate
    raise EmbeddedPgError(
        f"PostgreSQL {PG_VERSION} program '{name}' not found. Run `make setup` (installs "
        f"postgresql-{PG_VERSION}-postgis-3), or set DATABASE_URL to use an existing PostGIS database."
    )


def _as_owner(cmd: list[str]) -> list[str]:
    """Run server commands as ``postgres`` when we are root (initdb and postgres refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _state() -> dict:
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return {}


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _choose_port() -> int:
    wanted = os.environ.get("ONEMAP_PG_PORT")
    if wanted:
        return int(wanted)
    for port in range(DEFAULT_PORT, DEFAULT_PORT + 100):
        if _port_free(port):
            return port
    raise EmbeddedPgError(f"No free TCP port in {DEFAULT_PORT}-{DEFAULT_PORT + 99}; set ONEMAP_PG_PORT.")


def settings() -> dict:
    """Connection settings of the embedded cluster (after :func:`ensure_running`)."""
    state = _state()
    if not state:
        raise EmbeddedPgError("The embedded database is not initialised yet: run `make setup`.")
    return {
        "host": "127.0.0.1",
        "port": state["port"],
        "name": DB_NAME,
        "user": DB_USER,
        "password": state["password"],
    }


def url() -> str:
    s = settings()
    return f"postgres://{s['user']}:{s['password']}@{s['host']}:{s['port']}/{s['name']}"


def _is_running() -> bool:
    if not (DATA_DIR / "PG_VERSION").exists():
        return False
    result = subprocess.run(
        _as_owner([_bin("pg_ctl"), "status", "-D", str(DATA_DIR)]), capture_output=True, text=True
    )
    return result.returncode == 0


def _prepare_dirs() -> None:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # postgres must be able to reach var/ (pitfall: a project below a 0700 home cannot host the cluster)
        path = VAR_DIR
        while path != path.parent:
            if not os.stat(path).st_mode & 0o001:
                raise EmbeddedPgError(
                    f"The postgres user cannot enter {path} (mode {oct(os.stat(path).st_mode & 0o777)}). "
                    "Move the checkout below a world-searchable folder, or set DATABASE_URL."
                )
            path = path.parent


def _initdb(port: int) -> None:
    _prepare_dirs()
    password = secrets.token_urlsafe(24)
    DATA_DIR.mkdir(mode=0o700, exist_ok=True)
    pwfile = VAR_DIR / ".pgpass.init"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(DATA_DIR, pw.pw_uid, pw.pw_gid)
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    try:
        subprocess.run(
            _as_owner(
                [
                    _bin("initdb"),
                    "-D",
                    str(DATA_DIR),
                    "-U",
                    DB_USER,
                    "--pwfile",
                    str(pwfile),
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        raise EmbeddedPgError(f"initdb failed in {DATA_DIR}:\n{exc.stderr}") from exc
    finally:
        pwfile.unlink(missing_ok=True)
    with open(DATA_DIR / "postgresql.conf", "a") as conf:
        conf.write(
            "\n# OneMap embedded cluster\n"
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\n"
            "fsync = on\n"
            "shared_buffers = 256MB\n"
            "work_mem = 32MB\n"
            "maintenance_work_mem = 256MB\n"
            "max_connections = 100\n"
        )
    STATE_FILE.write_text(json.dumps({"port": port, "password": password}))
    STATE_FILE.chmod(0o600)


def ensure_running(quiet: bool = True) -> dict:
    """Initialise (first time) and start the cluster; create the database and PostGIS. Idempotent."""
    if not (DATA_DIR / "PG_VERSION").exists():
        port = _choose_port()
        if not quiet:
            print(f"Initialising the embedded PostgreSQL cluster in {DATA_DIR} (port {port}) ...")
        _initdb(port)
    state = _state()
    if not state:
        raise EmbeddedPgError(
            f"{DATA_DIR} exists but {STATE_FILE} is missing: remove {DATA_DIR} to re-create the cluster."
        )
    if not _is_running():
        port = state["port"]
        if not _port_free(port):
            if os.environ.get("ONEMAP_PG_PORT"):
                raise EmbeddedPgError(f"Port {port} (ONEMAP_PG_PORT) is taken by another program.")
            # Someone else (another checkout's cluster) holds our port: move to a free one.
            port = _choose_port()
            state["port"] = port
            STATE_FILE.write_text(json.dumps(state))
        if not quiet:
            print(f"Starting the embedded PostgreSQL on 127.0.0.1:{port} ...")
        LOG_FILE.touch()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(LOG_FILE, pw.pw_uid, pw.pw_gid)
        result = subprocess.run(
            _as_owner(
                [
                    _bin("pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(DATA_DIR),
                    "-l",
                    str(LOG_FILE),
                    "-o",
                    f"-p {port}",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tail = LOG_FILE.read_text(errors="replace")[-2000:]
            raise EmbeddedPgError(f"Could not start PostgreSQL in {DATA_DIR}:\n{result.stderr}\n{tail}")
    _ensure_database(state)
    return settings()


def _psql(state: dict, sql: str, db: str = "postgres") -> str:
    env = dict(os.environ, PGPASSWORD=state["password"])
    result = subprocess.run(
        [
            _bin("psql"),
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(state["port"]),
            "-U",
            DB_USER,
            "-d",
            db,
            "-c",
            sql,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise EmbeddedPgError(f"psql failed ({sql[:60]}...): {result.stderr.strip()}")
    return result.stdout.strip()


def _ensure_database(state: dict) -> None:
    for _ in range(50):
        try:
            exists = _psql(state, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'")
            break
        except EmbeddedPgError:
            time.sleep(0.1)
    else:
        exists = _psql(state, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'")
    if exists != "1":
        _psql(state, f"CREATE DATABASE {DB_NAME}")
    _psql(state, "CREATE EXTENSION IF NOT EXISTS postgis", db=DB_NAME)


def stop() -> bool:
    """Stop the cluster if it runs; returns whether it was running."""
    if not _is_running():
        return False
    subprocess.run(
        _as_owner([_bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(DATA_DIR)]),
        check=True,
        capture_output=True,
    )
    return True


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    try:
        if command == "start":
            s = ensure_running(quiet=False)
            print(f"PostgreSQL running on {s['host']}:{s['port']}, database {s['name']}")
        elif command == "stop":
            print("Embedded PostgreSQL stopped." if stop() else "Embedded PostgreSQL was not running.")
        elif command == "status":
            running = _is_running()
            print("running" if running else "stopped")
            return 0 if running else 3
        elif command == "url":
            print(url())
        else:
            print(f"usage: {argv[0]} start|stop|status|url", file=sys.stderr)
            return 2
    except EmbeddedPgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
