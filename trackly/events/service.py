"""Writing events. Every change to an issue records exactly one event in the same transaction.

Payload convention (the history, live updates and statistics all read it):
    {
      "changes": {field: [old, new], ...},     # what changed (create: [null, value])
      "issue": {"title", "status", "severity", "created_by", "created_at", "assignee_id"},
                                                 # state after the change
                                                 # (for issue_deleted: the state when deleted)
      "actor_name": "...",
      ...type-specific extras (e.g. "attachment": {...})
    }
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from trackly import clock
from trackly.events.types import UNNOTIFIED, EventType
from trackly.models import Event, Issue, User

# One notification per watcher who may see the issue now (active; staff, or its creator), except
# the actor. Visibility is checked again when notifications are read and published.
_NOTIFY_WATCHERS = text(
    """
    INSERT INTO notifications (user_id, event_id, created_at)
    SELECT w.user_id, :event_id, :now
    FROM watchers w JOIN users u ON u.id = w.user_id
    WHERE w.issue_id = :issue_id
      AND w.user_id IS DISTINCT FROM :actor_id
      AND u.is_active
      AND (u.role IN ('ADMIN', 'MAINTAINER') OR u.id = :owner_id)
    """
)


def issue_snapshot(issue: Issue) -> dict[str, Any]:
    return {
        "title": issue.title,
        "status": issue.status.value,
        "severity": issue.severity.value,
        "created_by": str(issue.created_by),
        "created_at": issue.created_at.isoformat() if issue.created_at else None,
        "assignee_id": str(issue.assignee_id) if issue.assignee_id else None,
    }


def record(
    *,
    session: Session,
    type: EventType,
    issue: Issue,
    actor: User | None,
    changes: dict[str, list[Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Insert one event row for `issue` in the session's transaction; returns its id."""
    payload: dict[str, Any] = {
        "changes": changes or {},
        "issue": issue_snapshot(issue),
        "actor_name": actor.full_name if actor else None,
    }
    if extra:
        payload.update(extra)
    # Pending ORM changes (e.g. the issue's new version) are written first, as the ORM flush did.
    session.flush()
    now = clock.now()
    actor_id = actor.id if actor else None
    event_id: int = session.execute(
        _insert_event(),
        {
            "type": type.value,
            "issue_id": issue.id,
            "actor_id": actor_id,
            "audience_owner_id": issue.created_by,
            "payload": payload,
            "created_at": now,
        },
    ).scalar_one()
    if type not in UNNOTIFIED:
        session.execute(
            _NOTIFY_WATCHERS,
            {
                "event_id": event_id,
                "now": now,
                "issue_id": issue.id,
                "actor_id": actor_id,
                "owner_id": issue.created_by,
            },
        )
    _after_commit_publish(session, event_id)
    return event_id


@lru_cache(maxsize=1)
def _insert_event() -> ReturningInsert[int]:
    # A Core insert on the table, built once: one cached statement and one round trip, without
    # the ORM unit of work (an identity-mapped Event that nothing reads afterwards).
    table = Event.metadata.tables[Event.__tablename__]
    return insert(table).returning(table.c.id)


def _after_commit_publish(session: Session, event_id: int) -> None:
    """Queue the event for publishing once the transaction commits (live updates fill this in)."""
    pending: list[int] | None = session.info.get("publish_event_ids")
    if pending is None:
        pending = session.info["publish_event_ids"] = []
        from trackly import db

        db.on_commit(session, lambda: _publish(list(pending)))
    pending.append(event_id)


def _publish(event_ids: list[int]) -> None:
    """Hand committed events to the realtime publisher (best effort; the outbox timer retries)."""
    from trackly.realtime import publisher  # imported on first commit, not at app import

    publisher.publish_committed(event_ids)
