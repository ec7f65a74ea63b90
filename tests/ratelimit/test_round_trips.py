"""The token check and the rate-limit count add no statement: a request authenticated by a
personal access token, with limits on, sends as many statements as one with a session token and
limits off (the code before this feature sent the latter's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.statements import app_statements


def _counts(client: Api, issue_id: str) -> dict[str, int]:
    out = {}
    for name, path in (("get", f"issues/{issue_id}"), ("list", "issues"), ("me", "auth/me")):
        with app_statements() as statements:
            assert client.get(path).status_code == 200
        out[name] = len(statements)
    return out


@pytest.mark.parametrize("limits", ["true", "false"])
def test_token_and_session_requests_send_the_same_statements(
    limits: str, settings_env: Callable[..., None], api: Api, users: Any, maintainer: Any
) -> None:
    settings_env(RATE_LIMIT_ENABLED="false")
    session = api.as_(users.token(maintainer))
    token = api.as_(users.pat(maintainer))
    issue_id = session.post("issues", {"title": "T", "description": "D"}).json()["id"]
    baseline = _counts(session, issue_id)  # limits off, session token: the code before tokens
    settings_env(RATE_LIMIT_ENABLED=limits)
    assert _counts(session, issue_id) == baseline
    assert _counts(token, issue_id) == baseline
    assert baseline["me"] == 1


def test_the_first_statement_does_all_three(api: Api, users: Any, maintainer: Any) -> None:
    token = api.as_(users.pat(maintainer))
    with app_statements() as statements:
        assert token.get("auth/me").status_code == 200
    assert len(statements) == 1
    (sql,) = statements
    for part in ("FROM api_tokens", "UPDATE api_tokens SET", "INSERT INTO rate_limit_counters", "users.role"):
        assert part in sql, part


def test_an_anonymous_endpoint_is_counted_in_one_statement(api: Api) -> None:
    with app_statements() as statements:
        assert api.get("openapi.json").status_code == 200
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO rate_limit_counters")
