"""Read-only sessions (GET endpoints declared `read_only=True`): no BEGIN/COMMIT round trips,
writes refused, and the pooled connection goes back to transactions afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg2 import extensions
from sqlalchemy import text, update
from sqlalchemy.engine import Engine

from trackly import db
from trackly.db import ReadOnlyViolation


def _status(session: Any) -> int:
    """The server's transaction state as reported with its last ReadyForQuery."""
    return int(session.connection().connection.dbapi_connection.get_transaction_status())


def test_a_read_only_session_opens_no_transaction_block(database_url: str) -> None:
    session = db.new_session(read_only=True)
    try:
        session.execute(text("SELECT 1")).one()
        # Idle, not "in transaction": psycopg2 sent no BEGIN, so there is nothing to COMMIT.
        assert _status(session) == extensions.TRANSACTION_STATUS_IDLE
        session.commit()
    finally:
        session.close()

    normal = db.new_session()
    try:
        normal.execute(text("SELECT 1")).one()
        assert _status(normal) == extensions.TRANSACTION_STATUS_INTRANS
    finally:
        normal.close()


def test_a_read_only_session_refuses_writes(database_url: str, reporter: Any) -> None:
    from trackly.models import User

    session = db.new_session(read_only=True)
    try:
        with pytest.raises(ReadOnlyViolation):
            session.execute(update(User).where(User.id == reporter.id).values(full_name="changed"))
        user = session.get(User, reporter.id)
        assert user is not None
        user.full_name = "changed"
        with pytest.raises(ReadOnlyViolation):
            session.flush()
    finally:
        session.rollback()
        session.close()
    check = db.new_session()
    try:
        assert check.get(User, reporter.id).full_name != "changed"  # type: ignore[union-attr]
    finally:
        check.close()


def test_the_connection_is_transactional_again_after_a_read_only_session(
    database_url: str, engine: Engine
) -> None:
    """The same pooled connection serves a read-only session, then a normal one whose rollback
    must still undo its write."""
    db.dispose_engine()  # a pool with exactly one connection, so both sessions share it
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE read_only_probe (n int)"))
    try:
        reader = db.new_session(read_only=True)
        first = reader.connection().connection.dbapi_connection
        reader.execute(text("SELECT 1")).one()
        reader.close()

        writer = db.new_session()
        assert writer.connection().connection.dbapi_connection is first
        assert first is not None and first.autocommit is False
        writer.execute(text("INSERT INTO read_only_probe VALUES (1)"))
        writer.rollback()
        writer.close()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM read_only_probe")).scalar() == 0
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE read_only_probe"))


def test_read_only_endpoints_get_a_read_only_session(database_url: str) -> None:
    import function_app  # noqa: F401 (registers the endpoints)
    from trackly.http.endpoint import REGISTRY

    declared = {name for name, spec in REGISTRY.items() if spec.read_only}
    assert {"get_issue", "list_issues", "me"} <= declared
    # Only endpoints that cannot change anything may be declared so.
    assert all(REGISTRY[name].method == "GET" for name in declared)
