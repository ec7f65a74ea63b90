"""Idempotency-Key on POST /issues."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api, assert_problem
from trackly import clock


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)  # noqa: S608


BODY = {"title": "Crash on save", "description": "Steps...", "severity": "HIGH", "file_url": None}


def test_same_key_same_body_returns_the_first_response(as_reporter: Api, engine: Engine) -> None:
    headers = {"Idempotency-Key": "3f1c2a9e-key-1"}
    first = as_reporter.post("issues", json=BODY, headers=headers)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # Same content, different formatting and field order: still the same request.
    again = as_reporter.post(
        "issues",
        data='{"severity":"HIGH",  "file_url":null, "description":"Steps...","title":"Crash on save"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(engine, "issues") == 1
    assert _count(engine, "events") == 1


def test_same_key_different_body_is_422(as_reporter: Api, engine: Engine) -> None:
    headers = {"Idempotency-Key": "key-2"}
    assert as_reporter.post("issues", json=BODY, headers=headers).status_code == 201
    assert_problem(
        as_reporter.post("issues", json={**BODY, "title": "Other"}, headers=headers),
        422,
        "different request body",
    )
    assert _count(engine, "issues") == 1


def test_keys_are_per_user_and_expire_after_24h(
    as_reporter: Api, as_other_reporter: Api, engine: Engine
) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    mine = as_reporter.post("issues", json=BODY, headers=headers).json()
    theirs = as_other_reporter.post("issues", json=BODY, headers=headers).json()
    assert mine["id"] != theirs["id"]
    with clock.frozen(clock.now() + timedelta(hours=23)):
        assert as_reporter.post("issues", json=BODY, headers=headers).json()["id"] == mine["id"]
    with clock.frozen(clock.now() + timedelta(hours=24, minutes=1)):
        later = as_reporter.post("issues", json={**BODY, "title": "New day"}, headers=headers)
        assert later.status_code == 201
        assert later.json()["id"] != mine["id"]
        assert "Idempotent-Replayed" not in later.headers
    assert _count(engine, "issues") == 3
    assert _count(engine, "idempotency_keys") == 2


def test_without_key_every_post_creates(as_reporter: Api, engine: Engine) -> None:
    as_reporter.post("issues", json=BODY)
    as_reporter.post("issues", json=BODY)
    assert _count(engine, "issues") == 2
    assert _count(engine, "idempotency_keys") == 0


def test_invalid_keys_are_refused(as_reporter: Api, engine: Engine) -> None:
    for key in ("x" * 256, "has space", "tab\there"):
        assert_problem(
            as_reporter.post("issues", json=BODY, headers={"Idempotency-Key": key}), 400, "Idempotency-Key"
        )
    assert _count(engine, "issues") == 0


def test_failed_request_does_not_consume_the_key(as_reporter: Api, engine: Engine) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    assert_problem(as_reporter.post("issues", json={**BODY, "file_url": "http://x"}, headers=headers), 422)
    ok = as_reporter.post("issues", json={**BODY, "file_url": "https://x.example"}, headers=headers)
    assert ok.status_code == 201
    assert "Idempotent-Replayed" not in ok.headers


def _send_together(base_url: str, token: str | None, key: str, n: int) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[requests.Response | None] = [None] * n

    def send(i: int) -> None:
        client = Api(base_url, token)
        barrier.wait()
        results[i] = client.post("issues", json=BODY, headers={"Idempotency-Key": key})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None for r in results)
    return results


def test_concurrent_requests_with_same_key_create_one_issue(as_reporter: Api, engine: Engine) -> None:
    n = 8
    for round_ in range(3):
        responses = _send_together(as_reporter.base_url, as_reporter.token, f"concurrent-{round_}", n)
        assert [r.status_code for r in responses] == [201] * n, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1
    assert _count(engine, "issues") == 3
    assert _count(engine, "events") == 3
