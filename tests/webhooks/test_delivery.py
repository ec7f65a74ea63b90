"""Deliveries end to end: a real change through the API, the timer's work, a real receiver on
127.0.0.1, and the signatures checked by the independent `standardwebhooks` package."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook as Verifier

from tests.support.api import Api
from tests.support.receiver import Receiver, Scripted
from tests.webhooks.conftest import create_hook, make_issue, run_timer
from trackly import clock


def verify(secret: str, request: Any) -> Any:
    return Verifier(secret).verify(request.body, request.headers)


def test_a_change_is_delivered_signed_with_the_event_feed_shape(
    as_admin: Api, receiver: Receiver, local_targets: Any
) -> None:
    hook = create_hook(as_admin, receiver.url(), ["issue_created"])
    issue = make_issue(as_admin)
    assert receiver.requests == []  # the request did not wait on the receiver

    run = run_timer()
    assert run.succeeded == 1
    (got,) = receiver.requests
    payload = verify(hook["secret"], got)
    feed = as_admin.get("events", params={"after": 0}).json()["events"]
    assert payload == feed[0]
    assert payload["type"] == "issue_created" and payload["issue_id"] == issue["id"]
    assert got.headers["webhook-id"] == f"evt_{payload['id']}"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("Trackly-Webhooks/")
    # The signed bytes are the bytes sent: a re-serialisation would not verify byte-wise.
    assert json.loads(got.body) == payload


def test_only_subscribed_types_and_active_hooks_get_deliveries(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    create_hook(as_admin, receiver.url(), ["issue_deleted"])
    create_hook(as_admin, receiver.url(), ["*"], active=False)
    make_issue(as_admin)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar() == 0


def _next_attempt_at(engine: Engine) -> datetime:
    with engine.connect() as conn:
        value: datetime = conn.execute(text("SELECT next_attempt_at FROM webhook_deliveries")).scalar_one()
    return value


def test_500_500_200_is_one_success_after_two_failures_with_backoff(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    hook = create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    receiver.answer(500, 500, 200)
    start = datetime.now(UTC)
    with clock.frozen(start):
        assert run_timer().failed == 1
        assert run_timer().claimed == 0  # not due again yet
    first_retry = _next_attempt_at(engine)
    assert start + timedelta(seconds=24) <= first_retry <= start + timedelta(seconds=36)  # 30 s +- 20 %
    with clock.frozen(first_retry - timedelta(seconds=1)):
        assert run_timer().claimed == 0
    with clock.frozen(first_retry):
        assert run_timer().failed == 1
    second_retry = _next_attempt_at(engine)
    assert first_retry + timedelta(seconds=48) <= second_retry <= first_retry + timedelta(seconds=72)
    with clock.frozen(second_retry):
        assert run_timer().succeeded == 1
    assert len(receiver.requests) == 3
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1  # the same message id on every retry
    for request in receiver.requests:
        verify(hook["secret"], request)

    page = as_admin.get(f"webhooks/{hook['id']}/deliveries").json()
    (delivery,) = page["items"]
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3
    assert delivery["next_attempt_at"] is None
    detail = as_admin.get(f"webhooks/{hook['id']}/deliveries/{delivery['id']}").json()
    log = detail["attempts_log"]
    assert [a["status_code"] for a in log] == [500, 500, 200]
    assert [a["succeeded"] for a in log] == [False, False, True]
    assert [a["response_excerpt"] for a in log] == ["ok", "ok", "ok"]
    assert all("webhook-signature" not in a["request_headers"] for a in log)
    assert [datetime.fromisoformat(a["attempted_at"]) for a in log] == [start, first_retry, second_retry]


def test_410_disables_the_hook_and_tells_every_admin(
    as_admin: Api, receiver: Receiver, local_targets: Any, users: Any, api: Api
) -> None:
    other_admin = users("ADMIN")
    maintainer = users("MAINTAINER")
    hook = create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    make_issue(as_admin)
    receiver.default = Scripted(410, body=b"gone")
    run = run_timer()
    assert run.disabled == 1
    assert len(receiver.requests) >= 1
    sent = len(receiver.requests)
    got = as_admin.get(f"webhooks/{hook['id']}").json()
    assert got["active"] is False and "410" in got["disabled_reason"]
    make_issue(as_admin)
    run_timer()
    assert len(receiver.requests) == sent  # nothing more for a disabled hook
    for user in (other_admin,):
        notes = api.as_(users.token(user)).get("notifications").json()["items"]
        assert any(n["webhook_id"] == hook["id"] and "410" in n["message"] for n in notes)
    notes = api.as_(users.token(maintainer)).get("notifications").json()["items"]
    assert notes == []
    # The notice outlives the hook it is about.
    assert as_admin.delete(f"webhooks/{hook['id']}").status_code == 200
    notes = api.as_(users.token(other_admin)).get("notifications").json()["items"]
    assert [n["webhook_id"] for n in notes] == [None] and "410" in notes[0]["message"]


def test_a_write_costs_the_same_statements_with_one_hook_or_many(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    from tests.support.statements import app_statements

    issue = make_issue(as_admin)
    counts = []
    for hooks in (1, 10):
        while len(as_admin.get("webhooks").json()) < hooks:
            create_hook(as_admin, receiver.url(), ["issue_updated"])
        with app_statements() as statements:
            resp = as_admin.patch(f"issues/{issue['id']}", json={"title": f"With {hooks} hooks"})
            assert resp.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar() == 1 + 10
