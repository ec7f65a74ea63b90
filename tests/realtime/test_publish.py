"""Publishing events to Web PubSub: right groups, message shape, failures, the outbox timer."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import label
from tests.issues.helpers import bulk_issues
from tests.realtime.conftest import make_issue, record_event
from tests.support.api import Api
from trackly.local.webpubsub import LocalWebPubSub
from trackly.realtime.groups import STAFF_GROUP, user_group


def _event_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM events ORDER BY id")).scalars())


def _unpublished(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(text("SELECT id FROM events WHERE published_at IS NULL ORDER BY id")).scalars()
        )


def _drain(**kw: Any) -> Any:
    from trackly.config import get_settings
    from trackly.realtime import outbox

    return outbox.drain(settings=get_settings(), **kw)


def test_issue_changes_through_the_api_reach_staff_and_owner_groups(  # noqa: PLR0917 (fixtures)
    webpubsub: LocalWebPubSub,
    as_reporter: Api,
    as_maintainer: Api,
    as_admin: Api,
    reporter: Any,
    other_reporter: Any,
    maintainer: Any,
    engine: Engine,
) -> None:
    created = as_reporter.post("issues", json={"title": "Printer on fire", "description": "Smoke"})
    assert created.status_code == 201, created.text
    issue_id = created.json()["id"]
    assert as_reporter.patch(f"issues/{issue_id}", json={"title": "Printer smoking"}).status_code == 200
    assert as_maintainer.patch(f"issues/{issue_id}", json={"status": "TRIAGED"}).status_code == 200
    assert as_admin.delete(f"issues/{issue_id}").status_code == 200

    ids = _event_ids(engine)
    assert len(ids) == 4
    staff = webpubsub.group_messages(STAFF_GROUP)
    owner = webpubsub.group_messages(user_group(reporter.id))
    assert [m["id"] for m in staff] == ids
    assert [m["id"] for m in owner] == ids
    assert [m["type"] for m in staff] == [
        "issue_created",
        "issue_updated",
        "issue_status_changed",
        "issue_deleted",
    ]
    assert webpubsub.group_messages(user_group(other_reporter.id)) == []
    assert webpubsub.group_messages(user_group(maintainer.id)) == []  # acts on it, does not own it
    assert webpubsub.groups_received() == {STAFF_GROUP, user_group(reporter.id)}
    assert _unpublished(engine) == []

    status_change = staff[2]
    assert set(status_change) == {"id", "type", "issue_id", "user_id", "user_name", "timestamp", "data"}
    assert status_change["issue_id"] == issue_id
    assert status_change["user_id"] == str(maintainer.id)
    assert status_change["user_name"] == "Mark Maintainer"
    assert status_change["data"]["changes"] == {"status": ["OPEN", "TRIAGED"]}
    assert status_change["data"]["issue"]["status"] == "TRIAGED"
    assert "actor_name" not in status_change["data"]
    assert staff[3]["data"]["issue"]["title"] == "Printer smoking"  # the state when deleted


def test_attachment_events_reach_the_same_groups(
    webpubsub: LocalWebPubSub, reporter: Any, other_reporter: Any, maintainer: Any, engine: Engine
) -> None:
    issue = make_issue(reporter)
    added = record_event("attachment_added", issue, reporter, attachment={"id": "a1", "filename": "x.png"})
    removed = record_event("attachment_removed", issue, maintainer, attachment={"id": "a1"})
    assert webpubsub.group_ids(STAFF_GROUP) == [added, removed]
    assert webpubsub.group_ids(user_group(reporter.id)) == [added, removed]
    assert webpubsub.group_messages(STAFF_GROUP)[0]["data"]["attachment"]["filename"] == "x.png"
    assert webpubsub.group_ids(user_group(other_reporter.id)) == []
    assert _unpublished(engine) == []


def test_a_reporter_group_never_receives_another_reporters_events(
    webpubsub: LocalWebPubSub, as_reporter: Api, as_other_reporter: Api, reporter: Any, other_reporter: Any
) -> None:
    mine = as_reporter.post("issues", json={"title": "Mine", "description": ""}).json()
    theirs = as_other_reporter.post("issues", json={"title": "Theirs", "description": ""}).json()
    as_other_reporter.patch(f"issues/{theirs['id']}", json={"title": "Theirs, edited"})
    mine_msgs = webpubsub.group_messages(user_group(reporter.id))
    theirs_msgs = webpubsub.group_messages(user_group(other_reporter.id))
    assert {m["issue_id"] for m in mine_msgs} == {mine["id"]}
    assert {m["issue_id"] for m in theirs_msgs} == {theirs["id"]}
    assert len(theirs_msgs) == 2
    assert len(webpubsub.group_messages(STAFF_GROUP)) == 3


def test_staff_owned_issue_goes_to_staff_and_the_owners_group(
    webpubsub: LocalWebPubSub, as_maintainer: Api, maintainer: Any
) -> None:
    issue = as_maintainer.post("issues", json={"title": "Staff issue", "description": ""}).json()
    assert [m["issue_id"] for m in webpubsub.group_messages(STAFF_GROUP)] == [issue["id"]]
    # The owner's connection is in both groups and gets it twice: clients dedupe by id.
    assert [m["issue_id"] for m in webpubsub.group_messages(user_group(maintainer.id))] == [issue["id"]]


def test_without_web_pubsub_events_stay_in_the_outbox(as_reporter: Api, engine: Engine) -> None:
    assert as_reporter.post("issues", json={"title": "Quiet", "description": ""}).status_code == 201
    assert len(_unpublished(engine)) == 1
    assert _drain().published == 0  # not configured: the timer does nothing


def test_failed_publish_never_fails_the_request_and_the_timer_delivers_after_recovery(
    webpubsub: LocalWebPubSub, as_reporter: Api, as_maintainer: Api, reporter: Any, engine: Engine
) -> None:
    webpubsub.fail_with(503)
    issue = as_reporter.post("issues", json={"title": "During outage", "description": ""})
    assert issue.status_code == 201, issue.text
    issue_id = issue.json()["id"]
    assert as_maintainer.patch(f"issues/{issue_id}", json={"status": "TRIAGED"}).status_code == 200
    assert as_reporter.post("issues", json={"title": "Another", "description": ""}).status_code == 201
    ids = _event_ids(engine)
    assert len(ids) == 3
    assert _unpublished(engine) == ids
    assert webpubsub.received == []

    # A timer run while the service is still down publishes nothing and stops at the first failure.
    run = _drain()
    assert (run.published, run.stopped_early) == (0, True)
    assert _unpublished(engine) == ids

    webpubsub.recover()
    run = _drain()
    assert run.published == 3
    assert _unpublished(engine) == []
    assert webpubsub.group_ids(STAFF_GROUP) == ids
    assert webpubsub.group_ids(user_group(reporter.id)) == ids

    # Exactly once per successful publish: another run sends nothing.
    assert _drain().published == 0
    assert webpubsub.group_ids(STAFF_GROUP) == ids


def test_a_partial_failure_leaves_the_event_unpublished_until_every_group_accepted_it(
    webpubsub: LocalWebPubSub, reporter: Any, engine: Engine
) -> None:
    owner_group = user_group(reporter.id)
    webpubsub.fail_with(500, group=owner_group)
    issue = make_issue(reporter)
    event_id = record_event("issue_created", issue, reporter)
    assert webpubsub.group_ids(STAFF_GROUP) == [event_id]
    assert webpubsub.group_ids(owner_group) == []
    assert _unpublished(engine) == [event_id]

    webpubsub.recover()
    assert _drain().published == 1
    assert webpubsub.group_ids(owner_group) == [event_id]
    assert webpubsub.group_ids(STAFF_GROUP) == [event_id, event_id]  # at-least-once: dedupe by id
    assert _unpublished(engine) == []


def test_a_message_specific_refusal_does_not_hold_up_later_events(
    webpubsub: LocalWebPubSub, settings_env: Any, reporter: Any, other_reporter: Any, engine: Engine
) -> None:
    settings_env(WEBPUBSUB_CONNECTION_STRING=None)  # fill the outbox first
    refused = record_event("issue_created", make_issue(reporter), reporter)
    later = [record_event("issue_created", make_issue(other_reporter), other_reporter) for _ in range(3)]
    settings_env(WEBPUBSUB_CONNECTION_STRING=webpubsub.connection_string)
    webpubsub.fail_with(400, group=user_group(reporter.id))

    run = _drain()
    assert (run.published, run.failed, run.stopped_early) == (3, 1, False)
    assert _unpublished(engine) == [refused]
    assert webpubsub.group_ids(user_group(other_reporter.id)) == later

    # A service-wide failure (5xx) stops the run at the first event instead.
    settings_env(WEBPUBSUB_CONNECTION_STRING=None)
    more = [record_event("issue_created", make_issue(other_reporter), other_reporter) for _ in range(2)]
    settings_env(WEBPUBSUB_CONNECTION_STRING=webpubsub.connection_string)
    webpubsub.fail_with(500)
    calls = webpubsub.calls
    run = _drain()
    assert (run.published, run.failed, run.stopped_early) == (0, 1, True)
    assert webpubsub.calls == calls + 1
    assert _unpublished(engine) == [refused, *more]


def test_two_concurrent_timer_runs_never_send_the_same_event_twice(
    wps_server: LocalWebPubSub, settings_env: Any, reporter: Any, engine: Engine
) -> None:
    issue = make_issue(reporter)
    # 300 unpublished events, written while live updates are not configured.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (type, issue_id, actor_id, audience_owner_id, payload, created_at) "
                "SELECT 'issue_updated', :issue, :owner, :owner, "
                "jsonb_build_object('changes', jsonb_build_object('title', jsonb_build_array('a', 'b' || g))), "
                "now() FROM generate_series(1, 300) g"
            ),
            {"issue": issue.id, "owner": reporter.id},
        )
    wps_server.reset()
    settings_env(WEBPUBSUB_CONNECTION_STRING=wps_server.connection_string)
    start = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            results.append(_drain(batch_size=25))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    ids = _event_ids(engine)
    staff = wps_server.group_ids(STAFF_GROUP)
    assert sorted(staff) == ids  # every event exactly once
    assert sorted(wps_server.group_ids(user_group(reporter.id))) == ids
    assert sum(r.published for r in results) == 300
    assert _unpublished(engine) == []
    wps_server.reset()


def test_outbox_timer_is_registered_and_runs(
    webpubsub: LocalWebPubSub, settings_env: Any, reporter: Any, engine: Engine
) -> None:
    import function_app
    from trackly.http.router import discover
    from trackly.local.host import LocalTimerRequest

    _http, timers = discover(function_app.app)
    timer = next(t for t in timers if t.name == "publish_outbox")
    assert timer.schedule == "%OUTBOX_SCHEDULE%"
    assert timer.arg_name == "timer"
    assert not timer.run_on_startup

    settings_env(WEBPUBSUB_CONNECTION_STRING=None)
    event_id = record_event("issue_created", make_issue(reporter), reporter)
    settings_env(WEBPUBSUB_CONNECTION_STRING=webpubsub.connection_string)
    timer.user_function(LocalTimerRequest(False))
    assert webpubsub.group_ids(STAFF_GROUP) == [event_id]
    assert _unpublished(engine) == []


def test_a_change_to_many_issues_publishes_a_bounded_number_itself_and_the_timer_the_rest(
    webpubsub: LocalWebPubSub, as_admin: Api, reporter: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trackly.realtime import publisher

    monkeypatch.setattr(publisher, "AFTER_COMMIT_MAX", 5)
    bulk_issues(engine, reporter.id, 12)
    bulk = label(as_admin, "bulk")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO issue_labels SELECT id, :l FROM issues"), {"l": bulk["id"]})

    assert as_admin.delete(f"labels/{bulk['id']}").json()["issues_updated"] == 12
    events = _event_ids(engine)
    assert len(events) == 12
    assert [m["id"] for m in webpubsub.group_messages(STAFF_GROUP)] == events[:5]
    assert _unpublished(engine) == events[5:]
    assert _drain().published == 7
    assert sorted(m["id"] for m in webpubsub.group_messages(STAFF_GROUP)) == events
    assert _unpublished(engine) == []
