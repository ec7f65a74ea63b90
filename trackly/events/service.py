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

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from trackly import clock
from trackly.events.types import UNNOTIFIED, EventType
from trackly.models import Event, Issue, User
from trackly.webhooks import enqueue as webhooks_enqueue

# One notification per watcher who may see the issue now (active; staff, or its creator), except
# the actor, for each of the given events (one statement however many). Visibility is checked
# again when notifications are read and published.
_NOTIFY_WATCHERS = text(
    """
    INSERT INTO notifications (user_id, event_id, created_at)
    SELECT w.user_id, e.id, e.created_at
    FROM events e
    JOIN watchers w ON w.issue_id = e.issue_id
    JOIN users u ON u.id = w.user_id
    WHERE e.id = ANY(:event_ids)
      AND w.user_id IS DISTINCT FROM e.actor_id
      AND u.is_active
      AND (u.role IN ('ADMIN', 'MAINTAINER') OR u.id = e.audience_owner_id)
    ORDER BY e.id, w.user_id
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


def _row(
    type: EventType,
    issue: Issue,
    *,
    actor: User | None,
    changes: dict[str, list[Any]] | None,
    extra: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "changes": changes or {},
        "issue": issue_snapshot(issue),
        "actor_name": actor.full_name if actor else None,
    }
    if extra:
        payload.update(extra)
    return {
        "type": type.value,
        "issue_id": issue.id,
        "actor_id": actor.id if actor else None,
        "audience_owner_id": issue.created_by,
        "payload": payload,
        "created_at": now,
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
    ids = record_many(session=session, type=type, issues=[issue], actor=actor, changes=changes, extra=extra)
    return ids[0]


def record_many(
    *,
    session: Session,
    type: EventType,
    issues: Sequence[Issue],
    actor: User | None,
    changes: dict[str, list[Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> list[int]:
    """The same change to many issues: one event per issue (each with its issue's snapshot), in a
    few statements whatever their number (a multi-row insert in batches, one notifications
    insert). Returns the ids in the order of `issues`."""
    if not issues:
        return []
    # Pending ORM changes (e.g. the issue's new version) are written first, as the ORM flush did.
    session.flush()
    now = clock.now()
    rows = [_row(type, issue, actor=actor, changes=changes, extra=extra, now=now) for issue in issues]
    event_ids = list(session.execute(_insert_events_in_order(), rows).scalars())
    if type not in UNNOTIFIED:
        session.execute(_NOTIFY_WATCHERS, {"event_ids": event_ids})
    # One delivery per matching active webhook, committed or rolled back with the events.
    session.execute(webhooks_enqueue.ENQUEUE, {"event_ids": event_ids})
    _after_commit_publish(session, event_ids)
    return event_ids


@lru_cache(maxsize=1)
def _insert_events_in_order() -> ReturningInsert[int]:
    # A Core insert on the table, built once: one cached statement, one round trip for a single
    # event (several rows per round trip for many), without the ORM unit of work.
    table = Event.metadata.tables[Event.__tablename__]
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


def _after_commit_publish(session: Session, event_ids: list[int]) -> None:
    """Queue the events for publishing once the transaction commits (live updates fill this in)."""
    pending: list[int] | None = session.info.get("publish_event_ids")
    if pending is None:
        pending = session.info["publish_event_ids"] = []
        from trackly import db

        db.on_commit(session, lambda: _publish(list(pending)))
    pending.extend(event_ids)


def _publish(event_ids: list[int]) -> None:
    """Hand committed events to the realtime publisher (best effort; the outbox timer retries)."""
    from trackly.realtime import publisher  # imported on first commit, not at app import

    publisher.publish_committed(event_ids)
