"""Writing events. Every change to an issue records exactly one event in the same transaction.

Payload convention (the history, live updates and statistics all read it):
    {
      "changes": {field: [old, new], ...},     # what changed (create: [null, value])
      "issue": {"title", "status", "severity", "created_by", "created_at"},  # state after the change
                                                 # (for issue_deleted: the state when deleted)
      "actor_name": "...",
      ...type-specific extras (e.g. "attachment": {...})
    }
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from trackly import clock
from trackly.events.types import EventType
from trackly.models import Event, Issue, User


def issue_snapshot(issue: Issue) -> dict[str, Any]:
    return {
        "title": issue.title,
        "status": issue.status.value,
        "severity": issue.severity.value,
        "created_by": str(issue.created_by),
        "created_at": issue.created_at.isoformat() if issue.created_at else None,
    }


def record(
    *,
    session: Session,
    type: EventType,
    issue: Issue,
    actor: User | None,
    changes: dict[str, list[Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Event:
    """Add one event row for `issue` to the session's transaction (flushed, so `id` is set)."""
    payload: dict[str, Any] = {
        "changes": changes or {},
        "issue": issue_snapshot(issue),
        "actor_name": actor.full_name if actor else None,
    }
    if extra:
        payload.update(extra)
    event = Event(
        type=type.value,
        issue_id=issue.id,
        actor_id=actor.id if actor else None,
        audience_owner_id=issue.created_by,
        payload=payload,
        created_at=clock.now(),
    )
    session.add(event)
    session.flush()
    _after_commit_publish(session, event.id)
    return event


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
