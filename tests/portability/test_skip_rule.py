"""The skip rule: events with `imported = true` are history only; no channel sends them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api


def test_imported_events_are_history_but_never_in_the_feed(
    as_admin: Api, as_reporter: Api, reporter: Any, engine: Engine
) -> None:
    issue = as_reporter.post("issues", json={"title": "Live"}).json()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (type, issue_id, actor_id, audience_owner_id, payload, created_at, imported)"
                " VALUES ('comment_added', :i, :u, :u, '{\"changes\": {}}', now(), true)"
            ),
            {"i": issue["id"], "u": reporter.id},
        )
        imported_id = conn.scalar(text("SELECT max(id) FROM events WHERE imported"))
    history = as_admin.get(f"issues/{issue['id']}/history").json()
    assert [h["type"] for h in history] == ["issue_created", "comment_added"]
    for client in (as_admin, as_reporter):
        feed = client.get("events", params={"after": 0}).json()["events"]
        assert [e["type"] for e in feed] == ["issue_created"]
        assert imported_id not in [e["id"] for e in feed]


def test_the_outbox_never_claims_an_imported_event(database_url: str, reporter: Any, engine: Engine) -> None:
    from trackly import db
    from trackly.config import get_settings
    from trackly.realtime import outbox

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (type, issue_id, actor_id, audience_owner_id, payload, created_at, imported)"
                " VALUES ('issue_created', gen_random_uuid(), :u, :u, '{}', now(), true)"
            ),
            {"u": reporter.id},
        )
    with db.session_scope() as session:
        claimed, delivery = outbox.publish_batch(session=session, settings=get_settings())
    assert claimed == 0 and delivery.published == []
