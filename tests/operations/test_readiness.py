"""GET /health/ready: the operator's check (ADMIN or READINESS_KEY), each dependency, late timers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.api import Api
from trackly import clock

KEY = "readiness-key-for-tests-0123456789"


def _all_timers_succeeded() -> None:
    from trackly.health import timer_runs
    from trackly.http.timers import SCHEDULES

    for name in SCHEDULES:
        timer_runs.record(name, started_at=clock.now(), error=None)


@pytest.fixture
def ready_env(settings_env: Any, storage_env: str) -> None:
    from azure.storage.blob import ContainerClient

    settings_env(READINESS_KEY=KEY)
    container = ContainerClient.from_connection_string(storage_env, "issue-files")
    if not container.exists():
        container.create_container()


def test_it_is_not_a_public_oracle(api: Api, users: Any, ready_env: None) -> None:
    assert api.get("health/ready").status_code == 401
    assert api.get("health/ready", headers={"X-Readiness-Key": "wrong-" + KEY}).status_code == 401
    for role in ("REPORTER", "MAINTAINER"):
        assert api.as_(users.token(users(role))).get("health/ready").status_code == 403
    _all_timers_succeeded()
    assert api.as_(users.token(users("ADMIN"))).get("health/ready").status_code == 200
    assert api.get("health/ready", headers={"X-Readiness-Key": KEY}).status_code == 200


def test_an_empty_key_setting_never_opens_it(api: Api, settings_env: Any) -> None:
    settings_env(READINESS_KEY="")
    assert api.get("health/ready", headers={"X-Readiness-Key": ""}).status_code == 401


def test_ready_report_names_every_dependency_and_timer(api: Api, ready_env: None) -> None:
    from trackly.http.timers import SCHEDULES

    _all_timers_succeeded()
    resp = api.get("health/ready", headers={"X-Readiness-Key": KEY})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ok"
    assert (body["database"], body["storage"], body["webpubsub"]) == ("ok", "ok", "not_configured")
    assert body["migrations"]["current"] == body["migrations"]["head"]
    assert {t["name"] for t in body["timers"]} == set(SCHEDULES) and not any(
        t["late"] for t in body["timers"]
    )
    assert resp.headers["Cache-Control"] == "no-store"


def test_a_timer_that_never_ran_or_stopped_is_late(api: Api, ready_env: None) -> None:
    resp = api.get("health/ready", headers={"X-Readiness-Key": KEY})
    assert resp.status_code == 503  # a fresh database: no timer has run yet
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert "late timers" in resp.json()["detail"]
    _all_timers_succeeded()
    assert api.get("health/ready", headers={"X-Readiness-Key": KEY}).status_code == 200
    # The outbox fires every minute: 4 minutes without a success is late (2 intervals + 1 min).
    with clock.frozen(clock.now() + timedelta(minutes=4)):
        resp = api.get("health/ready", headers={"X-Readiness-Key": KEY})
    assert resp.status_code == 503
    late = {t["name"] for t in resp.json()["readiness"]["timers"] if t["late"]}
    assert "publish_outbox" in late and "aggregate_daily_stats" not in late


def test_a_failed_timer_run_is_recorded_and_counts(api: Api, ready_env: None, engine: Any) -> None:
    from sqlalchemy import text

    from trackly.http.timers import Run, execute

    def broken(run: Run) -> None:
        raise RuntimeError("boom")

    _all_timers_succeeded()
    for _ in range(2):
        with pytest.raises(RuntimeError):
            execute("publish_outbox", broken)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM timer_runs WHERE name = 'publish_outbox'")).mappings().one()
    assert row["consecutive_failures"] == 2 and row["last_error"] == "RuntimeError"
    assert row["last_success_at"] is not None  # the success before the failures is kept
    body = api.get("health/ready", headers={"X-Readiness-Key": KEY}).json()
    [outbox] = [t for t in body["timers"] if t["name"] == "publish_outbox"]
    assert outbox["consecutive_failures"] == 2 and outbox["last_error"] == "RuntimeError"
    execute("publish_outbox", lambda run: None)
    with engine.connect() as conn:
        again = conn.execute(text("SELECT * FROM timer_runs WHERE name = 'publish_outbox'")).mappings().one()
    assert again["consecutive_failures"] == 0 and again["last_error"] is None


def test_unreachable_storage_is_not_ready(api: Api, settings_env: Any) -> None:
    import socket

    from trackly.attachments import storage

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings_env(
        READINESS_KEY=KEY,
        AZURE_STORAGE_CONNECTION_STRING=(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        ),
        AZURE_STORAGE_TIMEOUT_SECONDS="1",
    )
    storage.reset_clients()
    try:
        _all_timers_succeeded()
        resp = api.get("health/ready", headers={"X-Readiness-Key": KEY})
    finally:
        storage.reset_clients()
    assert resp.status_code == 503
    assert resp.json()["readiness"]["storage"] == "unreachable"
    assert "Blob Storage is unreachable" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("schedule", "minutes"),
    [
        ("0 * * * * *", 1),
        ("0 */15 * * * *", 15),
        ("0 */30 * * * *", 30),
        ("0 0 */6 * * *", 360),
        ("0 30 2 * * *", 1440),
    ],
)
def test_expected_interval_of_common_schedules(schedule: str, minutes: int) -> None:
    from trackly.health.timer_runs import expected_interval

    assert expected_interval(schedule) == timedelta(minutes=minutes)
