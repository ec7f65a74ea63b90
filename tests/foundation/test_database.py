"""The engine: lazy, pooled, and with Entra auth a fresh token per new connection."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.pool import NullPool

from trackly.config import Settings
from trackly.db import PING_AFTER_IDLE_SECONDS, EntraTokenSource, build_engine, normalize_url


def test_normalize_url_accepts_common_forms() -> None:
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"


def test_entra_mode_injects_a_token_per_new_connection(database_url: str) -> None:
    fetched: list[int] = []

    def fetch() -> tuple[str, float]:
        fetched.append(1)
        # Already expired: every new connection must fetch a fresh token.
        return f"token-{len(fetched)}", 0.0

    settings = Settings(
        TRACKLY_ENV="test", JWT_SECRET_KEY="x" * 40, DATABASE_URL=database_url, DATABASE_AUTH="entra"
    )
    engine = build_engine(settings, token_source=EntraTokenSource(fetch))
    seen: list[Any] = []

    @event.listens_for(engine, "do_connect")
    def capture(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        seen.append(cparams.get("password"))

    try:
        first, second = engine.connect(), engine.connect()  # two physical connections
        assert first.execute(text("SELECT 1")).scalar() == 1
        first.close()
        second.close()
        assert seen == ["token-1", "token-2"]
    finally:
        engine.dispose()


def test_token_is_reused_until_close_to_expiry() -> None:
    import time

    calls: list[int] = []

    def fetch() -> tuple[str, float]:
        calls.append(1)
        return "tok", time.time() + 3600

    source = EntraTokenSource(fetch)
    assert source.token() == source.token() == "tok"
    assert len(calls) == 1


def test_password_mode_adds_no_token_hook(database_url: str) -> None:
    settings = Settings(TRACKLY_ENV="test", JWT_SECRET_KEY="x" * 40, DATABASE_URL=database_url)
    engine = build_engine(settings)
    try:
        assert not event.contains(engine, "do_connect", lambda *a: None)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        assert engine.pool.size() == settings.DATABASE_POOL_SIZE  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_every_connection_carries_the_configured_timeouts(database_url: str) -> None:
    """statement, lock and idle-in-transaction timeouts are set on each new connection and
    survive the pool's rollback on check-in; libpq gets TCP keepalives and a user timeout."""
    from trackly.db import connect_args

    settings = Settings(
        TRACKLY_ENV="test",
        JWT_SECRET_KEY="x" * 40,
        DATABASE_URL=database_url,
        DATABASE_STATEMENT_TIMEOUT_MS=7000,
        DATABASE_LOCK_TIMEOUT_MS=300,
        DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS=45000,
        DATABASE_READ_TIMEOUT_SECONDS=9,
        DATABASE_KEEPALIVE_SECONDS=12,
    )
    engine = build_engine(settings)
    try:
        for _ in range(2):  # the second checkout reuses the pooled connection after its rollback
            with engine.connect() as conn:
                shown = [
                    conn.execute(text(f"SHOW {name}")).scalar()
                    for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
                ]
                conn.rollback()
            assert shown == ["7s", "300ms", "45s"]
        args = connect_args(settings)
        assert (args["keepalives"], args["keepalives_idle"], args["tcp_user_timeout"]) == (1, 12, 9000)
    finally:
        engine.dispose()


class _Clock:
    """A hand-moved monotonic clock: idleness is decided by the test, not by machine speed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _counting_pings(engine: Any) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def ping(dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(real(dbapi_connection))

    engine.dialect.do_ping = ping
    return pings


def _backend_pid(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar())


def _terminate(database_url: str, pid: int) -> None:
    admin = create_engine(normalize_url(database_url), poolclass=NullPool)
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()


def _engine(database_url: str, clock: _Clock) -> Any:
    settings = Settings(
        TRACKLY_ENV="test", JWT_SECRET_KEY="x" * 40, DATABASE_URL=database_url, DATABASE_POOL_SIZE=1
    )
    return build_engine(settings, clock=clock)


def test_a_connection_used_moments_ago_is_not_pinged(database_url: str) -> None:
    clock = _Clock()
    engine = _engine(database_url, clock)
    pings = _counting_pings(engine)
    try:
        first = _backend_pid(engine)
        clock.now += PING_AFTER_IDLE_SECONDS - 0.5
        assert _backend_pid(engine) == first  # same pooled connection, no round trip spent on a ping
        assert pings == []
        clock.now += PING_AFTER_IDLE_SECONDS
        assert _backend_pid(engine) == first
        assert pings == [1]  # idle too long: pinged before use
    finally:
        engine.dispose()


def test_a_lock_wait_and_a_runaway_statement_end_on_the_server(database_url: str) -> None:
    import pytest
    from sqlalchemy.exc import OperationalError

    settings = Settings(
        TRACKLY_ENV="test",
        JWT_SECRET_KEY="x" * 40,
        DATABASE_URL=database_url,
        DATABASE_STATEMENT_TIMEOUT_MS=200,
        DATABASE_LOCK_TIMEOUT_MS=100,
    )
    engine = build_engine(settings)
    try:
        with engine.connect() as holder, engine.connect() as waiter:
            holder.execute(text("SELECT pg_advisory_xact_lock(4242)"))
            with pytest.raises(OperationalError, match="LockNotAvailable|lock timeout"):
                waiter.execute(text("SELECT pg_advisory_xact_lock(4242)"))
            waiter.rollback()
            with pytest.raises(OperationalError, match="QueryCanceled|statement timeout"):
                waiter.execute(text("SELECT pg_sleep(30)"))
            holder.rollback()
    finally:
        engine.dispose()


def test_an_idle_connection_that_died_is_replaced_before_use(database_url: str) -> None:
    clock = _Clock()
    engine = _engine(database_url, clock)
    try:
        first = _backend_pid(engine)
        _terminate(database_url, first)
        clock.now += PING_AFTER_IDLE_SECONDS + 1
        second = _backend_pid(engine)  # the failed ping swaps in a new connection: no error
        assert second != first
    finally:
        engine.dispose()


def test_read_timeout_must_exceed_the_statement_timeout() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="DATABASE_READ_TIMEOUT_SECONDS"):
        Settings(
            TRACKLY_ENV="test",
            JWT_SECRET_KEY="x" * 40,
            DATABASE_STATEMENT_TIMEOUT_MS=30000,
            DATABASE_READ_TIMEOUT_SECONDS=20,
        )


def test_a_connection_that_died_within_the_idle_window_fails_once_then_recovers(database_url: str) -> None:
    clock = _Clock()
    engine = _engine(database_url, clock)
    try:
        first = _backend_pid(engine)
        _terminate(database_url, first)
        # Not pinged (used moments ago): the statement fails as a disconnect, which the endpoint
        # layer turns into a 503 with nothing written, and the pool drops the dead connection.
        with pytest.raises(exc.OperationalError) as raised:
            _backend_pid(engine)
        assert raised.value.connection_invalidated
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
