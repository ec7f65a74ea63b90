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
from trackly.local.webpubsub import LocalWebPubSub

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
    succeed (idle ping, or a retry on a fresh connection), never a 503 or a 500."""
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
    # The killed connection fails the first statement of the next request, which then runs again
    # on a fresh connection (nothing had run): no 503 at all. (When the pool pinged it first,
    # because it sat idle, the ping replaced it.)
    assert codes == [201, 201, 201], [(r.status_code, r.text[:200]) for r in statuses]
    assert _issues(engine) == 3
    # The kill also hit this test process's own app connections (same application_name); drop
    # them so the next in-process test does not spend its one documented 503 on them.
    from trackly import db

    db.dispose_engine()


@pytest.fixture
def failing_webpubsub(settings_env: Callable[..., None]) -> Iterator[LocalWebPubSub]:
    with LocalWebPubSub() as double:
        settings_env(WEBPUBSUB_CONNECTION_STRING=double.connection_string, WEBPUBSUB_HUB="trackly")
        yield double


def test_webpubsub_failing_loses_nothing(
    failing_webpubsub: LocalWebPubSub, as_maintainer: Api, engine: Engine
) -> None:
    """Writes succeed while Web PubSub fails; the events stay unpublished; after recovery the
    outbox timer publishes every one of them."""
    import function_app
    from trackly.http.router import discover
    from trackly.local.host import LocalTimerRequest, _call_user_function

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


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def test_azurite_down_during_complete_is_a_clear_503_and_retry_works(
    tmp_path: Any, settings_env: Callable[..., None], as_reporter: Api, engine: Engine
) -> None:
    """Our own Azurite (persistent, so a restart keeps the uploaded blob) is stopped between the
    upload and `complete`: complete answers a readable 503 and the attachment stays PENDING; after
    Azurite is back, the same complete succeeds."""
    from trackly.attachments import storage
    from trackly.local import azurite as localazurite

    port = localazurite.free_port()
    location = tmp_path / "azurite"
    azurite = localazurite.start(port=port, location=location)
    try:
        storage.reset_clients()
        settings_env(
            AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string,
            AZURE_STORAGE_CONTAINER_NAME="issue-files",
        )
        issue = as_reporter.post("issues", {"title": "with a screenshot"})
        assert issue.status_code == 201, issue.text
        issue_id = issue.json()["id"]
        created = as_reporter.post(
            f"issues/{issue_id}/attachments",
            {"filename": "shot.png", "content_type": "image/png", "size_bytes": len(PNG)},
        )
        assert created.status_code == 201, created.text
        upload, attachment_id = created.json()["upload"], created.json()["attachment"]["id"]
        put = requests.put(upload["url"], data=PNG, headers=upload["headers"], timeout=10)
        assert put.status_code == 201, put.text

        azurite.stop()
        resp = as_reporter.post(f"issues/{issue_id}/attachments/{attachment_id}/complete")
        problem = assert_problem(resp, 503)
        assert "storage" in problem["detail"].lower() or "try again" in problem["detail"].lower()
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM attachments WHERE id = :id"), {"id": attachment_id}
            ).scalar_one()
        assert status == "PENDING"

        azurite = localazurite.start(port=port, location=location)
        storage.reset_clients()
        retry = as_reporter.post(f"issues/{issue_id}/attachments/{attachment_id}/complete")
        assert retry.status_code == 200, retry.text
        assert retry.json()["status"] == "ACTIVE"
    finally:
        azurite.stop()
        storage.reset_clients()


@pytest.fixture(scope="module")
def never_pinging(database_url: str) -> Iterator[tuple[HostProcess, TcpProxy]]:
    """A local host whose pooled connections are never pinged before use, so a connection that
    died while idle is always found by a request's first statement (as one idle for less than
    the ping interval is, by default)."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    host = HostProcess(through_proxy, DATABASE_PING_AFTER_IDLE_SECONDS="3600")
    yield host, proxy
    host.stop()
    proxy.close()


def test_a_connection_reset_while_idle_is_retried_on_a_fresh_one(
    never_pinging: tuple[HostProcess, TcpProxy], users: Any, engine: Engine
) -> None:
    """Every pooled connection is reset while idle (the link drops and comes back at once): the
    next POST /issues finds out on its first statement, when nothing of it has run, and runs
    again on a fresh connection: 201, written once (before: 503, 3 of 3 trials)."""
    host, proxy = never_pinging
    auth = {"Authorization": f"Bearer {users.token(users('MAINTAINER'))}"}
    assert requests.get(f"{host.base_url}/issues", headers=auth, timeout=30).status_code == 200
    for trial in range(3):
        proxy.cut()  # drops every open connection (the app's pooled ones)
        proxy.restore()  # new connections work again
        resp = requests.post(
            f"{host.base_url}/issues", json={"title": f"trial {trial}"}, headers=auth, timeout=60
        )
        assert resp.status_code == 201, resp.text
    assert _issues(engine) == 3
    titles = requests.get(f"{host.base_url}/issues", headers=auth, timeout=30).json()
    assert sorted(i["title"] for i in titles) == ["trial 0", "trial 1", "trial 2"]

# --- hung services (frozen, not refused): every wait is bounded --------------------------------


@pytest.fixture(scope="module")
def stalling(database_url: str) -> Iterator[tuple[HostProcess, TcpProxy]]:
    """A local host whose database link can freeze, with short bounds so the test is quick."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    host = HostProcess(
        through_proxy,
        DATABASE_READ_TIMEOUT_SECONDS="2",
        DATABASE_STATEMENT_TIMEOUT_MS="1000",
        DATABASE_CONNECT_TIMEOUT_SECONDS="2",
    )
    yield host, proxy
    host.stop()
    proxy.close()


def test_stalled_database_link_answers_503_instead_of_waiting(
    stalling: tuple[HostProcess, TcpProxy], users: Any
) -> None:
    """The link to PostgreSQL stops forwarding (connections stay open, nothing arrives): requests
    on pooled connections and on new ones answer 503 after the configured read/connect bounds,
    instead of waiting for the stall to end (before: until the client gave up). After the link
    recovers, the broken connections have been replaced."""
    host, proxy = stalling
    auth = {"Authorization": f"Bearer {users.token(users('MAINTAINER'))}"}
    assert requests.get(f"{host.base_url}/issues", headers=auth, timeout=30).status_code == 200

    proxy.freeze()
    try:
        for _ in range(2):  # the pooled connection, then a fresh one that never gets a greeting
            resp = requests.get(f"{host.base_url}/issues", headers=auth, timeout=60)
            problem = assert_problem(resp, 503)
            assert "database" in problem["detail"].lower()
    finally:
        proxy.thaw()
    after = _until_ok(lambda: requests.get(f"{host.base_url}/issues", headers=auth, timeout=30))
    assert after.status_code == 200, after.text


@pytest.fixture(scope="module")
def stalling_idle(database_url: str) -> Iterator[tuple[HostProcess, TcpProxy]]:
    """Every checkout pings (as after DATABASE_PING_AFTER_IDLE_SECONDS of idleness), with a read
    timeout far longer than the connect timeout."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    host = HostProcess(
        through_proxy,
        DATABASE_READ_TIMEOUT_SECONDS="300",
        DATABASE_STATEMENT_TIMEOUT_MS="1000",
        DATABASE_CONNECT_TIMEOUT_SECONDS="2",
        DATABASE_PING_AFTER_IDLE_SECONDS="0",
    )
    yield host, proxy
    host.stop()
    proxy.close()


def test_the_ping_of_an_idle_connection_waits_the_connect_timeout_not_the_read_timeout(
    stalling_idle: tuple[HostProcess, TcpProxy], users: Any
) -> None:
    """A stalled database met by the liveness ping of an idle pooled connection: the ping gives
    up after DATABASE_CONNECT_TIMEOUT_SECONDS (2 s here), the replacement connection after as
    long again, and the request answers 503. Before, the ping waited the whole read timeout
    (300 s here: the client below gives up after 60 s and the test fails)."""
    host, proxy = stalling_idle
    auth = {"Authorization": f"Bearer {users.token(users('MAINTAINER'))}"}
    assert requests.get(f"{host.base_url}/issues", headers=auth, timeout=30).status_code == 200
    proxy.freeze()
    try:
        resp = requests.get(f"{host.base_url}/issues", headers=auth, timeout=60)
    finally:
        proxy.thaw()
    assert_problem(resp, 503, "database")
    after = _until_ok(lambda: requests.get(f"{host.base_url}/issues", headers=auth, timeout=30))
    assert after.status_code == 200, after.text


def test_hung_storage_during_complete_holds_no_connection_or_row_lock(
    settings_env: Callable[..., None], as_reporter: Api, engine: Engine, database_url: str
) -> None:
    """Blob Storage hangs (a proxy in front of our own Azurite stops forwarding) while `complete`
    asks it about the upload. While that call waits: the attachment row is not locked and no
    connection of the app sits idle in a transaction. The call then answers 503 within the
    storage bound, the attachment stays PENDING, and once storage is back the same call succeeds."""
    import threading

    from trackly.attachments import storage
    from trackly.local import azurite as localazurite

    azurite = localazurite.start(port=localazurite.free_port())
    proxy = TcpProxy("127.0.0.1", azurite.port)
    try:
        storage.reset_clients()
        settings_env(
            AZURE_STORAGE_CONNECTION_STRING=storage.dev_connection_string(
                f"http://127.0.0.1:{proxy.port}/{storage.DEV_ACCOUNT_NAME}"
            ),
            AZURE_STORAGE_CONTAINER_NAME="issue-files",
            AZURE_STORAGE_TIMEOUT_SECONDS="1",
        )
        issue_id = as_reporter.post("issues", {"title": "hung storage"}).json()["id"]
        created = as_reporter.post(
            f"issues/{issue_id}/attachments",
            {"filename": "shot.png", "content_type": "image/png", "size_bytes": len(PNG)},
        )
        assert created.status_code == 201, created.text
        upload, attachment_id = created.json()["upload"], created.json()["attachment"]["id"]
        assert requests.put(upload["url"], data=PNG, headers=upload["headers"], timeout=10).status_code == 201

        proxy.freeze()
        answer: list[requests.Response] = []
        worker = threading.Thread(
            target=lambda: answer.append(
                as_reporter.post(f"issues/{issue_id}/attachments/{attachment_id}/complete")
            )
        )
        worker.start()
        while proxy.held_chunks == 0 and worker.is_alive():
            time.sleep(0.02)  # waiting for the app to reach storage, not measuring anything
        assert worker.is_alive(), "complete answered without asking storage"
        with engine.connect() as conn:
            locked = conn.execute(
                text("SELECT id FROM attachments WHERE id = :id FOR UPDATE NOWAIT"), {"id": attachment_id}
            ).scalar_one()  # LockNotAvailable here meant the row was held across the storage call
            assert str(locked) == attachment_id
            idle_in_tx = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                    "AND application_name = 'trackly' AND state LIKE 'idle in transaction%'"
                ),
                {"db": make_url(database_url).database},
            ).scalar_one()
            conn.rollback()
        assert idle_in_tx == 0
        worker.join(timeout=120)
        assert not worker.is_alive()
        problem = assert_problem(answer[0], 503)
        assert "storage" in problem["detail"].lower()
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM attachments WHERE id = :id"), {"id": attachment_id}
            ).scalar_one()
        assert status == "PENDING"

        proxy.thaw()
        retry = as_reporter.post(f"issues/{issue_id}/attachments/{attachment_id}/complete")
        assert retry.status_code == 200, retry.text
        assert retry.json()["status"] == "ACTIVE"
    finally:
        proxy.close()
        azurite.stop()
        storage.reset_clients()
