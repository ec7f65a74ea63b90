"""Personal access tokens over HTTP: create, list, revoke, use, and every way they are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.api import Api, assert_problem
from trackly import clock
from trackly.auth.current import INVALID_PAT


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _create(client: Api, scopes: list[str] | None = None, days: float = 30, name: str = "ci") -> Any:
    return client.post(
        "auth/tokens", {"name": name, "scopes": scopes or ["issues:read"], "expires_at": _in(days)}
    )


def test_create_answers_the_token_once_and_lists_it_without(as_reporter: Api, api: Api) -> None:
    created = _create(as_reporter, ["users:read", "issues:read"])
    assert created.status_code == 201, created.text
    assert created.headers["Cache-Control"] == "no-store"
    body = created.json()
    token = body["token"]
    assert token.startswith("trk_") and len(token) == 53
    assert body["prefix"] == token[:8]
    assert body["scopes"] == ["issues:read", "users:read"]
    assert body["last_used_at"] is None
    listed = as_reporter.get("auth/tokens")
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()] == [body["id"]]
    assert token not in listed.text
    assert set(listed.json()[0]) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
    }
    # The token works like the session did.
    assert api.as_(token).get("auth/me").json()["id"] == as_reporter.get("auth/me").json()["id"]


@pytest.mark.parametrize(
    ("expires_at", "why"),
    [
        (None, "required"),
        ("past", "in the past"),
        ("too-far", "more than a year"),
        ("2027-01-01T00:00:00", "no time zone"),
        (1893456000, "a number"),
    ],
)
def test_expiry_is_required_in_the_future_and_at_most_a_year(
    as_reporter: Api, expires_at: Any, why: str
) -> None:
    body: dict[str, Any] = {"name": "x", "scopes": ["issues:read"]}
    if expires_at == "past":
        body["expires_at"] = _in(-1)
    elif expires_at == "too-far":
        body["expires_at"] = _in(366)
    elif expires_at is not None:
        body["expires_at"] = expires_at
    assert_problem(as_reporter.post("auth/tokens", body), 422)
    assert as_reporter.get("auth/tokens").json() == [], why


def test_unknown_scopes_and_empty_scope_lists_are_refused(as_reporter: Api) -> None:
    for scopes in ([], ["issues:everything"], ["ISSUES:READ"]):
        response = as_reporter.post("auth/tokens", {"name": "x", "scopes": scopes, "expires_at": _in(1)})
        assert_problem(response, 422)


def test_expired_revoked_unknown_and_malformed_tokens_get_the_same_401(
    as_reporter: Api, api: Api, users: Any, reporter: Any
) -> None:
    from trackly.tokens import format as token_format

    revoked = _create(as_reporter).json()
    assert as_reporter.delete(f"auth/tokens/{revoked['id']}").status_code == 200
    expiring = users.pat(reporter, ["issues:read"], days=1)
    deactivated_owner = users("REPORTER")
    of_deactivated = users.pat(deactivated_owner)
    with users.engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": deactivated_owner.id})
    valid = users.pat(reporter)
    candidates = {
        "revoked": revoked["token"],
        "unknown": token_format.new_token(),
        "malformed": valid[:-1] + ("0" if valid[-1] != "0" else "1"),
        "truncated": valid[:30],
        "user deactivated": of_deactivated,
    }
    answers = {}
    for name, token in candidates.items():
        answers[name] = api.as_(token).get("issues")
    with clock.frozen(datetime.now(UTC) + timedelta(days=2)):
        answers["expired"] = api.as_(expiring).get("issues")
    seen = set()
    for name, response in answers.items():
        body = assert_problem(response, 401)
        assert body["detail"] == INVALID_PAT, name
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="trackly"', name
        seen.add((body["title"], body["type"], body["detail"]))
    assert len(seen) == 1
    assert api.as_(valid).get("issues").status_code == 200


def test_revoking_takes_effect_on_the_next_request(as_reporter: Api, api: Api) -> None:
    created = _create(as_reporter).json()
    client = api.as_(created["token"])
    assert client.get("issues").status_code == 200
    assert as_reporter.delete(f"auth/tokens/{created['id']}").status_code == 200
    assert_problem(client.get("issues"), 401)
    assert as_reporter.get("auth/tokens").json() == []
    assert_problem(as_reporter.delete(f"auth/tokens/{created['id']}"), 404)


def test_another_users_token_cannot_be_revoked_but_an_admin_can(
    as_reporter: Api, as_other_reporter: Api, as_admin: Api, api: Api, reporter: Any
) -> None:
    created = _create(as_reporter).json()
    assert_problem(as_other_reporter.delete(f"auth/tokens/{created['id']}"), 404)
    assert_problem(as_other_reporter.get(f"users/{reporter.id}/tokens"), 403)
    listed = as_admin.get(f"users/{reporter.id}/tokens")
    assert listed.status_code == 200 and [t["id"] for t in listed.json()] == [created["id"]]
    assert_problem(as_other_reporter.delete(f"users/{reporter.id}/tokens/{created['id']}"), 403)
    assert as_admin.delete(f"users/{reporter.id}/tokens/{created['id']}").status_code == 200
    assert_problem(api.as_(created["token"]).get("issues"), 401)


def test_sign_in_management_needs_a_session_not_a_token(api: Api, users: Any, reporter: Any) -> None:
    client = api.as_(users.pat(reporter))
    for method, path, body in (
        ("POST", "auth/tokens", {"name": "x", "scopes": ["issues:read"], "expires_at": _in(1)}),
        ("PUT", "auth/password", {"current_password": "password123", "new_password": "another password 1"}),
        ("POST", "auth/logout-all", None),
    ):
        response = client.request(method, path, json=body)
        assert_problem(response, 403, "personal access token cannot be used here")
    # Nothing happened: the token list still has only the one token, the password is unchanged.
    assert len(client.get("auth/tokens").json()) == 1
    assert api.post("auth/login", {"email": reporter.email, "password": "password123"}).status_code == 200


def test_a_scope_limits_the_token_and_says_which_scope_is_missing(
    api: Api, users: Any, maintainer: Any
) -> None:
    read_only = api.as_(users.pat(maintainer, ["issues:read"]))
    assert read_only.get("issues").status_code == 200
    refused = read_only.post("issues", {"title": "T", "description": "D"})
    assert_problem(refused, 403, "issues:write")
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert read_only.get("issues").json() == []  # nothing was created


def test_scopes_never_add_to_the_role(api: Api, users: Any, reporter: Any) -> None:
    everything = api.as_(users.pat(reporter))
    assert_problem(everything.get("stats/summary"), 403)
    assert_problem(everything.get("users"), 403)


def test_role_change_and_deactivation_apply_on_the_next_request(
    api: Api, users: Any, as_admin: Api, maintainer: Any
) -> None:
    client = api.as_(users.pat(maintainer, ["stats:read", "issues:read"]))
    assert client.get("stats/summary").status_code == 200
    assert as_admin.patch(f"users/{maintainer.id}", {"role": "REPORTER"}).status_code == 200
    assert_problem(client.get("stats/summary"), 403)
    assert as_admin.patch(f"users/{maintainer.id}", {"role": "MAINTAINER"}).status_code == 200
    assert client.get("stats/summary").status_code == 200
    assert as_admin.delete(f"users/{maintainer.id}").status_code == 200
    assert_problem(client.get("issues"), 401)


def test_a_token_works_on_events_and_negotiate(
    api: Api, users: Any, reporter: Any, settings_env: Any
) -> None:
    from trackly.local.webpubsub import LocalWebPubSub

    client = api.as_(users.pat(reporter, ["events:read"]))
    assert client.get("events").status_code == 200
    with LocalWebPubSub() as wps:
        settings_env(WEBPUBSUB_CONNECTION_STRING=wps.connection_string, WEBPUBSUB_HUB="trackly")
        negotiated = client.get("realtime/negotiate")
    assert negotiated.status_code == 200, negotiated.text
    assert negotiated.json()["url"].startswith("ws://127.0.0.1:")
    assert_problem(api.as_(users.pat(reporter, ["issues:read"])).get("events"), 403, "events:read")


def test_last_used_at_is_written_at_most_once_a_minute(
    api: Api, users: Any, reporter: Any, engine: Any
) -> None:
    start = datetime(2031, 3, 4, 10, 0, 0, tzinfo=UTC)
    with clock.frozen(start - timedelta(days=1)):
        client = api.as_(users.pat(reporter))  # valid for 30 days from "yesterday"

    def last_used() -> Any:
        with engine.connect() as conn:
            return conn.execute(text("SELECT last_used_at FROM api_tokens")).scalar_one()

    assert last_used() is None
    with clock.frozen(start):
        assert client.get("auth/me").status_code == 200
    assert last_used() == start
    with clock.frozen(start + timedelta(seconds=59)):
        assert client.get("auth/me").status_code == 200
        assert client.get("issues").status_code == 200
    assert last_used() == start  # not rewritten within the minute
    with clock.frozen(start + timedelta(seconds=60)):
        assert client.get("auth/me").status_code == 200
        listed = client.get("auth/tokens").json()
    assert last_used() == start + timedelta(seconds=60)
    assert listed[0]["last_used_at"].startswith("2031-03-04T10:01:00")
