"""`python -m trackly migrate`: a migration that cannot get its lock gives up after lock_timeout
(instead of queueing every request behind it) and is retried."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, inspect, text

from trackly import schema


def _hold_alembic_version(url: str):  # type: ignore[no-untyped-def]
    """A transaction holding the row every migration updates (as a long request would hold a
    table a migration alters)."""
    engine = create_engine(url)
    conn = engine.connect()
    conn.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
    return engine, conn


def test_a_lock_timeout_is_retried_until_the_lock_is_free(empty_database: str) -> None:
    schema.upgrade(empty_database, "0008")
    engine, holder = _hold_alembic_version(empty_database)
    waits: list[float] = []

    def release_then_wait(seconds: float) -> None:
        waits.append(seconds)
        holder.rollback()  # the long transaction ends while the migrator backs off

    try:
        attempts = schema.upgrade_with_retries(
            empty_database, lock_timeout_ms=100, attempts=3, backoff_seconds=2.0, sleep=release_then_wait
        )
    finally:
        holder.close()
        engine.dispose()
    assert attempts == 2 and waits == [2.0]
    check = create_engine(empty_database)
    try:
        assert "timer_runs" in inspect(check).get_table_names()
        with check.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == schema_head()
    finally:
        check.dispose()


def test_it_gives_up_after_the_last_attempt_with_nothing_half_done(empty_database: str) -> None:
    schema.upgrade(empty_database, "0008")
    engine, holder = _hold_alembic_version(empty_database)
    waits: list[float] = []
    try:
        with pytest.raises(exc.OperationalError) as raised:
            schema.upgrade_with_retries(
                empty_database, lock_timeout_ms=100, attempts=3, backoff_seconds=1.0, sleep=waits.append
            )
    finally:
        holder.close()
        engine.dispose()
    assert raised.value.orig.pgcode == schema.LOCK_NOT_AVAILABLE  # type: ignore[union-attr]
    assert waits == [1.0, 2.0]  # exponential backoff between the three attempts
    check = create_engine(empty_database)
    try:
        assert "timer_runs" not in inspect(check).get_table_names()  # rolled back with its migration
    finally:
        check.dispose()


def schema_head() -> str:
    from trackly.health.service import migration_head

    head = migration_head()
    assert head is not None
    return head
