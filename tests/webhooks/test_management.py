"""The management endpoints: create/read/change/delete, secrets (shown once, encrypted at rest),
validation as problem+json, ping, the delivery log's keyset pages, redelivery, the timer."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook as Verifier

from tests.support.api import Api
from tests.support.receiver import Receiver, Scripted
from tests.webhooks.conftest import create_hook, make_issue, run_timer


def test_create_read_change_delete(as_admin: Api, receiver: Receiver, local_targets: Any, admin: Any) -> None:
    created = as_admin.post(
        "webhooks",
        json={"url": receiver.url(), "events": ["issue_created", "comment_added"], "description": "CI"},
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert created.headers["Location"].endswith(f"/webhooks/{hook['id']}")
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) >= 6 + 32
    assert hook["owner_id"] == str(admin.id) and hook["active"] is True
    assert hook["events"] == ["comment_added", "issue_created"]

    listed = as_admin.get("webhooks").json()
    assert [h["id"] for h in listed] == [hook["id"]]
    got = as_admin.get(f"webhooks/{hook['id']}").json()
    for answer in (listed[0], got):
        assert "secret" not in answer and hook["secret"] not in str(answer)

    changed = as_admin.patch(f"webhooks/{hook['id']}", json={"events": ["*"], "active": False})
    assert (
        changed.status_code == 200 and changed.json()["events"] == ["*"] and changed.json()["active"] is False
    )
    assert "secret" not in changed.json()

    deleted = as_admin.delete(f"webhooks/{hook['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert as_admin.get(f"webhooks/{hook['id']}").status_code == 404


def test_the_secret_is_encrypted_at_rest(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    hook = create_hook(as_admin, receiver.url())
    rotated = as_admin.post(f"webhooks/{hook['id']}/rotate-secret").json()["secret"]
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM webhooks")).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    for secret in (hook["secret"], rotated):
        assert secret not in stored and secret.removeprefix("whsec_") not in stored


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "http://127.0.0.1:9/x", "events": ["issue_exploded"]}, "unknown event type issue_exploded"),
        ({"url": "http://127.0.0.1:9/x", "events": ["*", "issue_created"]}, '"*"'),
        ({"url": "http://127.0.0.1:9/x", "events": []}, "events"),
        ({"url": "http://127.0.0.1:9/x", "events": ["*"], "secret": "mine"}, "secret"),
        ({"events": ["*"]}, "url"),
    ],
)
def test_bad_bodies_are_refused_with_a_readable_problem(
    as_admin: Api, local_targets: Any, engine: Engine, body: dict[str, Any], fragment: str
) -> None:
    resp = as_admin.post("webhooks", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert fragment in resp.json()["detail"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhooks")).scalar() == 0


def test_patch_refuses_a_private_url_in_production_and_keeps_the_old_one(
    as_admin: Api, receiver: Receiver, local_targets: Any
) -> None:
    from tests.webhooks.test_targets import PRODUCTION

    hook = create_hook(as_admin, receiver.url())
    local_targets(**PRODUCTION)
    resp = as_admin.patch(f"webhooks/{hook['id']}", json={"url": "https://10.0.0.1/x"})
    assert resp.status_code == 422 and "private" in resp.json()["detail"]
    assert as_admin.get(f"webhooks/{hook['id']}").json()["url"] == receiver.url()


def test_ping_sends_now_and_answers_the_result(as_admin: Api, receiver: Receiver, local_targets: Any) -> None:
    hook = create_hook(as_admin, receiver.url(), description="team channel")
    resp = as_admin.post(f"webhooks/{hook['id']}/ping")
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["kind"] == "ping" and result["status"] == "succeeded" and result["event_id"] is None
    assert result["attempts_log"][0]["status_code"] == 200
    (got,) = receiver.requests
    payload = Verifier(hook["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "ping" and payload["webhook_id"] == hook["id"]

    receiver.default = Scripted(503, body=b"maintenance")
    failed = as_admin.post(f"webhooks/{hook['id']}/ping").json()
    assert failed["status"] == "failed" and failed["attempts_log"][0]["response_excerpt"] == "maintenance"
    assert run_timer().claimed == 0  # a ping is not retried
    assert as_admin.get(f"webhooks/{hook['id']}").json()["consecutive_failures"] == 0


def test_a_stalled_receiver_times_out(as_admin: Api, receiver: Receiver, local_targets: Any) -> None:
    local_targets(WEBHOOK_TIMEOUT_SECONDS="0.5")
    release = threading.Event()
    receiver.default = Scripted(200, hold=release)
    try:
        hook = create_hook(as_admin, receiver.url())
        result = as_admin.post(f"webhooks/{hook['id']}/ping").json()
    finally:
        release.set()
    assert result["status"] == "failed" and result["last_error"] == "timeout"
    assert result["attempts_log"][0]["status_code"] is None


def test_the_delivery_log_pages_newest_first_and_filters(
    as_admin: Api, receiver: Receiver, local_targets: Any
) -> None:
    hook = create_hook(as_admin, receiver.url())
    receiver.answer(200, 200, 500, 200, 500)
    for n in range(5):
        make_issue(as_admin, f"Issue {n}")
    run_timer()
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = as_admin.get(f"webhooks/{hook['id']}/deliveries", params=params).json()
        seen += [d["id"] for d in page["items"]]
        if page["next_before"] is None:
            break
        params["before"] = page["next_before"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    pending = as_admin.get(f"webhooks/{hook['id']}/deliveries", params={"outcome": "pending"}).json()["items"]
    assert len(pending) == 2 and all(d["last_status_code"] == 500 for d in pending)
    bad = as_admin.get(f"webhooks/{hook['id']}/deliveries", params={"outcome": "lost"})
    assert bad.status_code == 422


def test_redeliver_sends_the_same_message_again(
    as_admin: Api, receiver: Receiver, local_targets: Any
) -> None:
    hook = create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    run_timer()
    (first,) = as_admin.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
    resp = as_admin.post(f"webhooks/{hook['id']}/deliveries/{first['id']}/redeliver")
    assert resp.status_code == 202, resp.text
    queued = resp.json()
    assert queued["redelivery_of"] == first["id"] and queued["message_id"] == first["message_id"]
    assert run_timer().succeeded == 1
    one, two = receiver.requests
    assert one.headers["webhook-id"] == two.headers["webhook-id"] and one.body == two.body
    Verifier(hook["secret"]).verify(two.body, two.headers)

    other = create_hook(as_admin, receiver.url())
    missing = as_admin.post(f"webhooks/{other['id']}/deliveries/{first['id']}/redeliver")
    assert missing.status_code == 404  # the delivery belongs to another hook
    as_admin.patch(f"webhooks/{hook['id']}", json={"active": False})
    assert as_admin.post(f"webhooks/{hook['id']}/deliveries/{first['id']}/redeliver").status_code == 409


def test_the_timer_is_registered_on_its_schedule_setting(settings_env: Any) -> None:
    import function_app
    from trackly.http.router import discover
    from trackly.local.host import resolve_schedule

    settings_env(WEBHOOK_SCHEDULE=None)
    _http, timers = discover(function_app.app)
    timer = next(t for t in timers if t.name == "deliver_webhooks")
    assert timer.schedule == "%WEBHOOK_SCHEDULE%"
    assert resolve_schedule(timer.schedule) == "*/10 * * * * *"


def test_the_timer_function_delivers(as_admin: Api, receiver: Receiver, local_targets: Any) -> None:
    import function_app
    from trackly.http.router import discover
    from trackly.local.host import LocalTimerRequest, _call_user_function

    create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    _http, timers = discover(function_app.app)
    timer = next(t for t in timers if t.name == "deliver_webhooks")
    _call_user_function(timer.user_function, timer.name, timer.arg_name, LocalTimerRequest())
    assert len(receiver.requests) == 1
