"""Faults: the database unreachable mid-run, backend connections killed, Web PubSub failing.

The shared PostgreSQL is never stopped: a local-host process reaches it through a TCP proxy
(tests/hardening/hosts.py) that the test cuts and restores, and backend connections are
terminated only for this run's database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from tests.hardening.hosts import HostProcess, TcpProxy
from tests.support.api import Api, assert_problem
from tests.support.webpubsub_double import WebPubSubDouble

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proxied(database_url: str) -> Iterator[tuple[HostProcess, TcpProxy]]:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    host = HostProcess(through_proxy)
    yield host, proxy
    host.stop()
    proxy.close()


def _issues(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM issues")).scalar_one())


def _until_ok(fn: Callable[[], requests.Response], seconds: float = 20) -> requests.Response:
    deadline = time.monotonic() + seconds
    while True:
        resp = fn()
        if resp.status_code < 500 or time.monotonic() > deadline:
            return resp
        time.sleep(0.3)


def test_database_unreachable_answers_503_and_recovers(
    proxied: tuple[HostProcess, TcpProxy], users: Any, engine: Engine
) -> None:
    host, proxy = proxied
    auth = {"Authorization": f"Bearer {users.token(users('MAINTAINER'))}"}
    base = host.base_url
    ok = requests.post(f"{base}/issues", json={"title": "before the outage"}, headers=auth, timeout=30)
    assert ok.status_code == 201, ok.text

    proxy.cut()
    try:
        for method, path, body in (
            ("POST", "issues", {"title": "during the outage"}),
            ("GET", "issues", None),
            ("GET", f"issues/{ok.json()['id']}", None),
        ):
            resp = requests.request(method, f"{base}/{path}", json=body, headers=auth, timeout=60)
            problem = assert_problem(resp, 503)
            assert "Retry-After" in resp.headers, (path, resp.headers)
            assert "database" in problem["detail"].lower()
        health = requests.get(f"{base}/health", timeout=60)  # its documented degraded report
        assert health.status_code == 503
        assert health.json()["database"] == "unreachable"
        assert _issues(engine) == 1  # nothing half-written
    finally:
        proxy.restore()

    # Recovery without restarting the process.
    after = _until_ok(
        lambda: requests.post(f"{base}/issues", json={"title": "after the outage"}, headers=auth, timeout=30)
    )
    assert after.status_code == 201, after.text
    assert _issues(engine) == 2
    assert requests.get(f"{base}/health", timeout=30).status_code == 200


def test_killed_backend_connections_are_replaced(
    proxied: tuple[HostProcess, TcpProxy], users: Any, engine: Engine, database_url: str
) -> None:
    """pg_terminate_backend on the app's connections (this database only): the next requests
    succeed (pre-ping) or fail with a clean 503 at most once, never a 500."""
    host, _proxy = proxied
    auth = {"Authorization": f"Bearer {users.token(users('MAINTAINER'))}"}
    assert requests.get(f"{host.base_url}/issues", headers=auth, timeout=30).status_code == 200
    name = make_url(database_url).database
    with engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND application_name = 'trackly' AND pid <> pg_backend_pid()"
            ),
            {"db": name},
        ).scalar_one()
    assert killed >= 1
    statuses = [
        requests.post(f"{host.base_url}/issues", json={"title": f"after kill {i}"}, headers=auth, timeout=30)
        for i in range(3)
    ]
    codes = [r.status_code for r in statuses]
    assert all(c in (201, 503) for c in codes), [(r.status_code, r.text[:200]) for r in statuses]
    assert codes.count(503) <= 1
    assert _issues(engine) == codes.count(201)


@pytest.fixture
def failing_webpubsub(settings_env: Callable[..., None]) -> Iterator[WebPubSubDouble]:
    with WebPubSubDouble() as double:
        settings_env(WEBPUBSUB_CONNECTION_STRING=double.connection_string, WEBPUBSUB_HUB="trackly")
        yield double


def test_webpubsub_failing_loses_nothing(
    failing_webpubsub: WebPubSubDouble, as_maintainer: Api, engine: Engine
) -> None:
    """Writes succeed while Web PubSub fails; the events stay unpublished; after recovery the
    outbox timer publishes every one of them."""
    import function_app
    from trackly.devhost import LocalTimerRequest, _call_user_function
    from trackly.http.router import discover

    failing_webpubsub.fail_with(500)
    ids = []
    for i in range(3):
        resp = as_maintainer.post("issues", {"title": f"while pubsub is down {i}"})
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    with engine.connect() as conn:
        unpublished = conn.execute(
            text("SELECT count(*) FROM events WHERE published_at IS NULL")
        ).scalar_one()
    assert unpublished == 3

    failing_webpubsub.recover()
    _http, timers = discover(function_app.app)
    outbox = next(t for t in timers if t.name == "publish_outbox")
    _call_user_function(outbox.user_function, outbox.name, outbox.arg_name, LocalTimerRequest())
    with engine.connect() as conn:
        event_ids = conn.execute(text("SELECT id FROM events ORDER BY id")).scalars().all()
        unpublished = conn.execute(
            text("SELECT count(*) FROM events WHERE published_at IS NULL")
        ).scalar_one()
    assert unpublished == 0
    received: set[int] = set()
    for group in failing_webpubsub.groups_received():
        received.update(failing_webpubsub.group_ids(group))
    assert set(event_ids) <= received
