"""Rate limits: the headers on every answer, the 429 at the exact boundary (frozen clock), one
budget per user across sessions and tokens, per client address for anonymous calls, 304s free."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.api import Api, assert_problem, session_from
from trackly import clock

WINDOW_START = datetime(2031, 1, 1, 10, 0, 0, tzinfo=UTC)
NOW = WINDOW_START + timedelta(seconds=1000)  # 2600 s left in the hour


@pytest.fixture
def limited(settings_env: Callable[..., None]) -> Iterator[None]:
    settings_env(
        RATE_LIMIT_WINDOW_SECONDS="3600",
        RATE_LIMIT_PER_USER="3",
        RATE_LIMIT_ANONYMOUS="2",
        RATE_LIMIT_SIGN_IN="4",
        RATE_LIMIT_PUBLIC="2",
    )
    with clock.frozen(NOW):
        yield


def _state(response: Any) -> tuple[str, str]:
    return response.headers["RateLimit-Policy"], response.headers["RateLimit"]


def test_the_quota_is_served_exactly_then_429_until_the_window_ends(limited: None, as_reporter: Api) -> None:
    seen = [_state(as_reporter.get("issues")) for _ in range(3)]
    assert seen == [
        ('"user";q=3;w=3600', '"user";r=2;t=2600'),
        ('"user";q=3;w=3600', '"user";r=1;t=2600'),
        ('"user";q=3;w=3600', '"user";r=0;t=2600'),
    ]
    refused = as_reporter.get("issues")
    body = assert_problem(refused, 429, "3 requests per 3600 seconds")
    assert body["title"] == "Too many requests"
    assert refused.headers["Retry-After"] == "2600"
    assert _state(refused) == ('"user";q=3;w=3600', '"user";r=0;t=2600')
    with clock.frozen(WINDOW_START + timedelta(seconds=3599)):
        last = as_reporter.get("issues")
        assert last.status_code == 429 and last.headers["Retry-After"] == "1"
    with clock.frozen(WINDOW_START + timedelta(seconds=3600)):  # the next window
        fresh = as_reporter.get("issues")
    assert fresh.status_code == 200
    assert _state(fresh) == ('"user";q=3;w=3600', '"user";r=2;t=3600')


def test_sessions_and_tokens_of_a_user_share_one_budget(  # noqa: PLR0917 (fixtures)
    limited: None, api: Api, users: Any, reporter: Any, as_reporter: Api, as_other_reporter: Api
) -> None:
    token = api.as_(users.pat(reporter))
    assert as_reporter.get("issues").status_code == 200
    assert token.get("issues").status_code == 200
    assert as_reporter.get("issues").status_code == 200
    assert_problem(token.get("issues"), 429)
    assert_problem(as_reporter.get("auth/me"), 429)
    # Another user has a budget of their own.
    assert _state(as_other_reporter.get("issues"))[1] == '"user";r=2;t=2600'


def test_every_answer_carries_the_headers_errors_included(limited: None, as_reporter: Api, api: Api) -> None:
    answers = [
        as_reporter.get("issues/00000000-0000-0000-0000-000000000000"),  # 404
        as_reporter.post("issues", {"title": ""}),  # 422
        api.get("issues"),  # 401, counted against the address
    ]
    assert [r.status_code for r in answers] == [404, 422, 401]
    assert [_state(r)[1] for r in answers] == [
        '"user";r=2;t=2600',
        '"user";r=1;t=2600',
        '"anonymous";r=1;t=2600',
    ]
    health = api.get("health")
    assert _state(health) == ('"public";q=2;w=3600', '"public";r=1;t=2600')


def test_a_failed_request_still_counts(limited: None, as_reporter: Api, engine: Any) -> None:
    """The count commits by itself, before the request's transaction (which a 404 rolls back)."""
    for _ in range(3):
        assert as_reporter.get("issues/00000000-0000-0000-0000-000000000000").status_code == 404
    assert_problem(as_reporter.get("issues"), 429)
    with engine.connect() as conn:
        hits = conn.execute(
            text("SELECT hits FROM rate_limit_counters WHERE subject LIKE 'user:%'")
        ).scalar_one()
    assert hits == 4


def test_anonymous_calls_are_counted_per_client_address(limited: None, live_server: str) -> None:
    first = Api(live_server, session=session_from("127.0.0.2"))
    second = Api(live_server, session=session_from("127.0.0.3"))
    assert [first.get("issues").status_code for _ in range(2)] == [401, 401]
    assert_problem(first.get("issues"), 429)  # bad credentials too: 429 once the budget is gone
    assert_problem(first.as_("not-a-token").get("issues"), 429)
    assert second.get("issues").status_code == 401
    assert _state(second.get("issues"))[1] == '"anonymous";r=0;t=2600'
    # Sign-in has a budget of its own, per address (and keeps its failure throttle).
    signed = first.post("auth/login", {"email": "nobody@example.com", "password": "x"})
    assert signed.status_code == 401
    assert _state(signed) == ('"sign-in";q=4;w=3600', '"sign-in";r=3;t=2600')


def test_a_304_is_not_counted(limited: None, live_server: str) -> None:
    client = Api(live_server, session=session_from("127.0.0.4"))
    first = client.get("realtime/client.js")
    assert first.status_code == 200
    assert _state(first)[1] == '"public";r=1;t=2600'
    tag = first.headers["ETag"]
    for _ in range(5):
        again = client.get("realtime/client.js", headers={"If-None-Match": tag})
        assert again.status_code == 304
        assert _state(again)[1] == '"public";r=1;t=2600'
    assert client.get("realtime/client.js").status_code == 200
    assert_problem(client.get("realtime/client.js"), 429)


def test_browsers_may_read_the_headers(limited: None, as_reporter: Api) -> None:
    response = as_reporter.get("issues", headers={"Origin": "http://localhost:5173"})
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"RateLimit-Policy", "RateLimit", "Retry-After"} <= exposed


def test_limits_off_means_no_counting_and_no_headers(
    settings_env: Callable[..., None], as_reporter: Api, api: Api, engine: Any
) -> None:
    settings_env(RATE_LIMIT_ENABLED="false", RATE_LIMIT_PER_USER="1")
    for client in (as_reporter, as_reporter, api):
        response = client.get("issues" if client is as_reporter else "health")
        assert response.status_code == 200
        assert "RateLimit" not in response.headers
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM rate_limit_counters")).scalar_one() == 0


def test_housekeeping_drops_counters_of_windows_long_over(engine: Any) -> None:
    from sqlalchemy.orm import Session

    from trackly import housekeeping
    from trackly.models import RateLimitCounter

    now = clock.now()
    with Session(engine) as s:
        s.add_all(
            [
                RateLimitCounter(subject="user:old", window_start=now - timedelta(days=3), hits=9),
                RateLimitCounter(subject="user:now", window_start=now - timedelta(hours=1), hits=9),
            ]
        )
        s.commit()
    with Session(engine) as s:
        assert housekeeping.purge(session=s).rate_limit_counters == 1
        s.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT subject FROM rate_limit_counters")).scalars().all() == ["user:now"]


def test_an_expired_session_token_counts_against_its_user_not_the_address(
    limited: None, api: Api, users: Any, reporter: Any
) -> None:
    import uuid

    from trackly.auth.tokens import create_access_token
    from trackly.config import get_settings

    stale = create_access_token(
        reporter.id, get_settings(), family_id=uuid.uuid4(), now=datetime.now(UTC) - timedelta(days=1)
    )
    refused = api.as_(stale).get("issues")
    assert_problem(refused, 401, "expired")
    assert _state(refused) == ('"user";q=3;w=3600', '"user";r=2;t=2600')
    forged = stale[:-4] + ("AAAA" if not stale.endswith("AAAA") else "BBBB")
    assert _state(api.as_(forged).get("issues"))[0] == '"anonymous";q=2;w=3600'
