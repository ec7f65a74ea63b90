"""No plaintext token anywhere in the database or the logs."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.api import Api


def _database_text(engine: Any) -> str:
    """Every row of every table as text (bytea in hex and as escaped text, so both spellings of
    a stored value are searched)."""
    chunks = []
    with engine.connect() as conn:
        tables = (
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        )
        for table in tables:
            for (row,) in conn.execute(text(f'SELECT CAST(t AS text) FROM "{table}" AS t')):  # noqa: S608 (catalog names)
                chunks.append(row)
    return "\n".join(chunks)


def test_tokens_never_reach_the_database_or_the_logs(  # noqa: PLR0917 (fixtures)
    api: Api, as_admin: Api, users: Any, reporter: Any, engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expires = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    own = api.as_(users.token(reporter)).post(
        "auth/tokens", {"name": "mine", "scopes": ["issues:read", "issues:write"], "expires_at": expires}
    )
    assert own.status_code == 201
    bot = as_admin.post("users", {"kind": "service", "name": "bot", "role": "REPORTER"}).json()
    theirs = as_admin.post(
        f"users/{bot['id']}/tokens", {"name": "ci", "scopes": ["issues:read"], "expires_at": expires}
    )
    assert theirs.status_code == 201
    tokens = [own.json()["token"], theirs.json()["token"]]
    for token in tokens:
        client = api.as_(token)
        assert client.get("issues").status_code == 200
        assert client.post("issues", {"title": "T", "description": token}).status_code in (201, 403)
        assert client.get("issues/not-a-uuid").status_code == 404
        # A typo (logged as a refusal, never with the value).
        assert api.as_(token[:-1] + "x").get("issues").status_code == 401
    # The reporter's issue body above contains the token on purpose: that is data the user sent,
    # so remove it before searching for what the *server* stored on its own.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
        conn.execute(text("DELETE FROM issues"))
    stored = _database_text(engine)
    logged = "\n".join([r.getMessage() for r in caplog.records] + [str(r.__dict__) for r in caplog.records])
    assert caplog.records  # the requests were logged
    for token in tokens:
        secret = token[8:]  # everything after the displayed prefix
        assert secret not in stored
        assert secret not in logged
        assert token.encode().hex() not in stored
        # The search did read the token table: the hash is there, as it should be.
        assert hashlib.sha256(token.encode()).hexdigest() in stored
