"""What must never happen: two runs sending one attempt twice, a rolled-back change leaving a
delivery, a delivery lost to a receiver outage, a hook outliving its owner's authority."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api
from tests.support.receiver import Receiver, Scripted, receiving
from tests.webhooks.conftest import create_hook, make_issue, run_timer
from trackly import clock


def test_two_runs_at_the_same_time_never_send_one_attempt_twice(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine, settings_env: Any
) -> None:
    local_targets(WEBHOOK_BATCH_SIZE="5")
    create_hook(as_admin, receiver.url())
    create_hook(as_admin, receiver.url(path="/second"))
    for n in range(20):
        make_issue(as_admin, f"Issue {n}")
    # Each run holds its claimed rows locked until its claim commits; make both claim together.
    barrier = threading.Barrier(2)
    runs: list[Any] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            barrier.wait(timeout=30)
            runs.append(run_timer())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    received = [(r.path, r.headers["webhook-id"]) for r in receiver.requests]
    assert len(received) == 40
    assert len(set(received)) == 40  # every (hook, message) exactly once
    assert sum(r.claimed for r in runs) == 40
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhook_attempts")).scalar() == 40
        assert (
            conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")).scalar()
            == 40
        )


def test_a_claimed_delivery_is_skipped_by_another_session(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    """A claim in one open transaction: a second real session's claim gets nothing."""
    from trackly import db
    from trackly.config import get_settings
    from trackly.webhooks import delivery

    create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    first = db.new_session()
    try:
        jobs = delivery.claim(session=first, settings=get_settings(), limit=10)
        assert len(jobs) == 1
        with db.session_scope() as second:
            assert delivery.claim(session=second, settings=get_settings(), limit=10) == []
        first.commit()
    finally:
        first.close()
    # Committed with its lease: still nobody else's until the lease runs out.
    assert run_timer().claimed == 0


def test_a_rolled_back_change_creates_no_delivery(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine, admin: Any
) -> None:
    from trackly import db
    from trackly.events.service import record
    from trackly.events.types import EventType
    from trackly.models import Issue, Severity, Status, User

    create_hook(as_admin, receiver.url())

    def change_then_fail() -> None:
        with db.session_scope() as session:
            issue = Issue(
                title="T", description="", severity=Severity.LOW, status=Status.OPEN, created_by=admin.id
            )
            session.add(issue)
            session.flush()
            record(
                session=session, type=EventType.ISSUE_CREATED, issue=issue, actor=session.get(User, admin.id)
            )
            with engine.connect() as other:  # not visible outside the transaction either
                assert other.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar() == 0
            raise RuntimeError("the change fails after its event was recorded")

    with pytest.raises(RuntimeError):
        change_then_fail()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0
    assert run_timer().claimed == 0
    assert receiver.requests == []


def test_a_delivery_outlives_a_receiver_outage(as_admin: Api, local_targets: Any) -> None:
    with receiving() as first:
        port = first.port
        hook = create_hook(as_admin, first.url())
    # The receiver is down: connections are refused.
    make_issue(as_admin)
    start = datetime.now(UTC)
    with clock.frozen(start):
        run = run_timer()
    assert run.failed == 1
    (delivery,) = as_admin.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
    assert delivery["last_error"] == "connection_error" and delivery["status"] == "pending"
    # Hours later it is still retrying (a transient error retries for about a day) ...
    later = start
    for _ in range(6):
        later += timedelta(hours=1)
        with clock.frozen(later):
            run_timer()
    with receiving(port=port) as back:
        with clock.frozen(start + timedelta(hours=23)):
            assert run_timer().succeeded == 1
        (got,) = back.requests
    assert got.headers["webhook-id"] == delivery["message_id"]
    (delivery,) = as_admin.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
    assert delivery["status"] == "succeeded" and delivery["attempts"] >= 3


def test_a_hook_stops_when_its_owner_is_no_longer_an_admin(  # noqa: PLR0917 (pytest fixtures)
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine, admin: Any, users: Any, api: Api
) -> None:
    second_admin = users("ADMIN")
    hook = create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'MAINTAINER' WHERE id = :id"), {"id": admin.id})
    run = run_timer()
    assert run.claimed == 0 and receiver.requests == []
    as_second = api.as_(users.token(second_admin))
    got = as_second.get(f"webhooks/{hook['id']}").json()
    assert got["active"] is False and "no longer an active admin" in got["disabled_reason"]
    notes = as_second.get("notifications").json()["items"]
    assert [n["webhook_id"] for n in notes] == [hook["id"]]
    (delivery,) = as_second.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
    assert delivery["attempts"] == 0 and delivery["status"] == "pending"
    # Another admin takes it over by re-enabling it: the waiting delivery goes out.
    resp = as_second.patch(f"webhooks/{hook['id']}", json={"active": True})
    assert resp.status_code == 200 and resp.json()["owner_id"] == str(second_admin.id)
    assert run_timer().succeeded == 1
    assert len(receiver.requests) == 1


def test_failed_deliveries_in_a_row_disable_the_hook(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    local_targets(WEBHOOK_DISABLE_AFTER_FAILURES="2")
    receiver.default = Scripted(400, body=b"bad")
    hook = create_hook(as_admin, receiver.url())
    make_issue(as_admin, "one")
    make_issue(as_admin, "two")
    start = datetime.now(UTC)
    for day in range(5):  # a 4xx is retried 3 times, within minutes
        with clock.frozen(start + timedelta(hours=day)):
            run_timer()
    assert len(receiver.requests) == 8  # 2 deliveries x (1 + 3 retries)
    got = as_admin.get(f"webhooks/{hook['id']}").json()
    assert got["active"] is False and got["consecutive_failures"] == 2
    assert "2 deliveries in a row failed" in got["disabled_reason"] and "HTTP 400" in got["disabled_reason"]
    failed = as_admin.get(f"webhooks/{hook['id']}/deliveries", params={"outcome": "failed"}).json()["items"]
    assert len(failed) == 2


def test_a_success_resets_the_failure_count(as_admin: Api, receiver: Receiver, local_targets: Any) -> None:
    local_targets(WEBHOOK_DISABLE_AFTER_FAILURES="2")
    receiver.answer(400, 400, 400, 400)
    hook = create_hook(as_admin, receiver.url())
    make_issue(as_admin, "one")
    start = datetime.now(UTC)
    for hour in range(4):
        with clock.frozen(start + timedelta(hours=hour)):
            run_timer()
    assert as_admin.get(f"webhooks/{hook['id']}").json()["consecutive_failures"] == 1
    make_issue(as_admin, "two")
    run_timer()
    got = as_admin.get(f"webhooks/{hook['id']}").json()
    assert got["consecutive_failures"] == 0 and got["active"] is True


def test_retry_after_is_honoured(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    receiver.answer(Scripted(429, headers={"Retry-After": "3600"}))
    create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    start = datetime.now(UTC)
    with clock.frozen(start):
        run_timer()
    with engine.connect() as conn:
        due = conn.execute(text("SELECT next_attempt_at FROM webhook_deliveries")).scalar_one()
    assert due >= start + timedelta(seconds=3600)


def test_old_finished_deliveries_are_pruned(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    local_targets(WEBHOOK_DELIVERY_RETENTION_DAYS="7")
    receiver.answer(200, 500)
    create_hook(as_admin, receiver.url())
    make_issue(as_admin, "delivered")
    run_timer()
    make_issue(as_admin, "still retrying")
    run_timer()
    with clock.frozen(datetime.now(UTC) + timedelta(days=8)):
        with engine.begin() as conn:  # keep the retrying one from being due (only pruning is tested)
            conn.execute(
                text(
                    "UPDATE webhook_deliveries SET next_attempt_at = now() + interval '30 days' WHERE status = 'pending'"
                )
            )
        run = run_timer()
    assert run.pruned == 1
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status FROM webhook_deliveries")).scalars().all()
        assert rows == ["pending"]
        assert conn.execute(text("SELECT count(*) FROM webhook_attempts")).scalar() == 1
