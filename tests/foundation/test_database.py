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
