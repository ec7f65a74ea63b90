"""The engine: lazy, pooled, and with Entra auth a fresh token per new connection."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text

from trackly.config import Settings
from trackly.db import EntraTokenSource, build_engine, normalize_url


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
