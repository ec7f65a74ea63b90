"""Two local-host processes on one database: concurrent writers, idempotent creates, refresh
races and timers, each with a check of the final state in PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.hardening.hosts import HostProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hosts(database_url: str) -> Iterator[list[HostProcess]]:
    # Grace 0: a refresh token presented twice is theft (the strictest rule, easy to assert).
    started = [HostProcess(database_url, REFRESH_TOKEN_REUSE_GRACE_SECONDS="0") for _ in range(2)]
    yield started
    for host in started:
        host.stop()


def race(n: int, fn: Callable[[int], requests.Response]) -> list[requests.Response]:
    """Run fn(i) for i in range(n) as simultaneously as threads allow."""
    barrier = threading.Barrier(n)

    def go(i: int) -> requests.Response:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def url(hosts: list[HostProcess], i: int, path: str) -> str:
    return f"{hosts[i % 2].base_url}/{path}"


def test_concurrent_if_match_writers_lose_no_update(
    hosts: list[HostProcess], users: Any, engine: Engine
) -> None:
    token = users.token(users("MAINTAINER"))
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(url(hosts, 0, "issues"), json={"title": "Race me"}, headers=auth, timeout=30)
    assert created.status_code == 201, created.text
    issue_id, etag = created.json()["id"], created.headers["ETag"]

    responses = race(
        10,
        lambda i: requests.patch(
            url(hosts, i, f"issues/{issue_id}"),
            json={"title": f"Writer {i}"},
            headers={**auth, "If-Match": etag},
            timeout=30,
        ),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 9, statuses
    winner = next(r for r in responses if r.status_code == 200).json()
    with engine.connect() as conn:
        title, version = conn.execute(
            text("SELECT title, version FROM issues WHERE id = :id"), {"id": issue_id}
        ).one()
        events = (
            conn.execute(text("SELECT type FROM events WHERE issue_id = :id ORDER BY id"), {"id": issue_id})
            .scalars()
            .all()
        )
    assert title == winner["title"]
    assert version == 2
    assert events == ["issue_created", "issue_updated"]


def test_concurrent_idempotent_creates_make_one_issue(
    hosts: list[HostProcess], users: Any, engine: Engine
) -> None:
    token = users.token(users("REPORTER"))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"key-{uuid.uuid4()}"}
    body = {"title": "Only once", "severity": "HIGH"}
    responses = race(
        8, lambda i: requests.post(url(hosts, i, "issues"), json=body, headers=headers, timeout=30)
    )
    statuses = [r.status_code for r in responses]
    assert all(s in (201, 409) for s in statuses), [(r.status_code, r.text[:200]) for r in responses]
    assert 201 in statuses
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1, ids
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM issues")).scalar_one() == 1
        assert (
            conn.execute(text("SELECT count(*) FROM events WHERE type = 'issue_created'")).scalar_one() == 1
        )


def test_concurrent_refresh_with_one_token(hosts: list[HostProcess], users: Any, engine: Engine) -> None:
    """Grace 0: exactly one refresh wins; the reuse is theft, so the whole family ends revoked."""
    user = users("REPORTER", password="password123")
    login = requests.post(
        url(hosts, 0, "auth/login"), json={"email": user.email, "password": "password123"}, timeout=30
    )
    assert login.status_code == 200, login.text
    refresh_token = login.json()["tokens"]["refresh_token"]
    responses = race(
        6,
        lambda i: requests.post(
            url(hosts, i, "auth/refresh"), json={"refresh_token": refresh_token}, timeout=30
        ),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 5, [(r.status_code, r.text[:200]) for r in responses]
    with engine.connect() as conn:
        live = conn.execute(
            text("SELECT count(*) FROM refresh_tokens WHERE user_id = :u AND revoked_at IS NULL"),
            {"u": user.id},
        ).scalar_one()
    assert live == 0
    winner = next(r for r in responses if r.status_code == 200).json()["refresh_token"]
    again = requests.post(url(hosts, 1, "auth/refresh"), json={"refresh_token": winner}, timeout=30)
    assert again.status_code == 401


def test_concurrent_timers_are_harmless(hosts: list[HostProcess], users: Any, engine: Engine) -> None:
    """Every timer function run from 4 threads at once: no exception, one stats row per day,
    today's row counts the issues."""
    import function_app
    from trackly.http.router import discover
    from trackly.local.host import LocalTimerRequest, _call_user_function

    token = users.token(users("MAINTAINER"))
    for i in range(5):
        r = requests.post(
            url(hosts, i, "issues"),
            json={"title": f"Timer fodder {i}"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 201
    _http, timers = discover(function_app.app)
    assert timers, "no timer functions registered"
    errors: list[BaseException] = []

    def run_all(_: int) -> None:
        for timer in timers:
            try:
                _call_user_function(timer.user_function, timer.name, timer.arg_name, LocalTimerRequest())
            except BaseException as exc:
                errors.append(exc)

    barrier = threading.Barrier(4)

    def go(i: int) -> None:
        barrier.wait()
        run_all(i)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(go, range(4)))
    assert not errors, [repr(e) for e in errors]
    with engine.connect() as conn:
        dup = conn.execute(text("SELECT count(*) - count(DISTINCT date) FROM daily_stats")).scalar_one()
        today_total = conn.execute(
            text("SELECT total_issues FROM daily_stats WHERE date = (now() AT TIME ZONE 'UTC')::date")
        ).scalar_one_or_none()
    assert dup == 0
    assert today_total == 5
