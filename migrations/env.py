"""Alembic environment: the URL comes from trackly Settings (or an explicit connection)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from trackly.config import get_settings
from trackly.db import build_engine
from trackly.models import Base

target_metadata = Base.metadata


def _limit_lock_waits(connection: Connection) -> None:
    """A migration that cannot get its lock quickly fails (and is retried by `python -m trackly
    migrate`) instead of waiting in the lock queue, where every request would wait behind it. The
    statement timeout is lifted: a CREATE INDEX CONCURRENTLY on a big table may take minutes."""
    lock_timeout_ms = context.config.attributes.get("lock_timeout_ms")
    if lock_timeout_ms is None:
        return
    connection.exec_driver_sql(f"SET lock_timeout = {int(lock_timeout_ms)}")
    connection.exec_driver_sql("SET statement_timeout = 0")
    connection.commit()


def _run(connection: Connection) -> None:
    _limit_lock_waits(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # Callers that already hold a connection (tests, the CLI) pass it in `attributes`.
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    settings = get_settings()
    url = context.config.attributes.get("url") or settings.DATABASE_URL
    engine = build_engine(settings, url=url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run against a database.")
run_migrations_online()
