"""Start the embedded database before Django needs it (manage.py, WSGI, tests).

With ``DATABASE_URL`` set nothing is started: the operator's database is used as it is.
"""

from __future__ import annotations

import os
import sys

from onemap import embedded_pg


def ensure_database() -> None:
    if os.environ.get("DATABASE_URL"):
        return
    try:
        embedded_pg.ensure_running()
    except embedded_pg.EmbeddedPgError as exc:
        sys.stderr.write(f"OneMap: {exc}\n")
        raise SystemExit(1) from exc
