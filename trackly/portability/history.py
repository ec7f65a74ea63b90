"""History written by imports: events flagged `imported`.

THE SKIP RULE (for every channel built on the events table): an event with `imported = true` is
an issue's history copied from another tracker. It shows in GET /issues/{id}/history and counts
in statistics, but it is never sent anywhere: no live update, no catch-up feed entry, no
notification, no webhook delivery, no email. Such events are also written with `published_at`
already set, so the realtime outbox never claims them; new channels must filter on `imported`
itself (`WHERE NOT imported`), not rely on `published_at`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from trackly import clock
from trackly.events.service import issue_snapshot
from trackly.events.types import EventType
from trackly.models import Event, Issue


def record_imported(
    *,
    session: Session,
    type: EventType | str,
    issue: Issue,
    actor_id: uuid.UUID | None,
    actor_name: str | None,
    at: datetime,
    changes: dict[str, list[Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """One imported history event of `issue` at its original time (no notification, no publish)."""
    payload: dict[str, Any] = {
        "changes": changes or {},
        "issue": issue_snapshot(issue),
        "actor_name": actor_name,
    }
    payload.update(extra or {})
    session.add(
        Event(
            type=str(type),
            issue_id=issue.id,
            actor_id=actor_id,
            audience_owner_id=issue.created_by,
            payload=payload,
            created_at=at,
            published_at=clock.now(),
            imported=True,
        )
    )


def record_job(
    *,
    session: Session,
    type: EventType,
    actor_id: uuid.UUID | None,
    actor_name: str | None,
    job: dict[str, Any],
) -> None:
    """Who exported or imported what: an event of no issue (staff only see it), sent like any
    other (it is news to the staff, not copied history)."""
    session.add(
        Event(
            type=type.value,
            issue_id=None,
            actor_id=actor_id,
            audience_owner_id=None,
            payload={"changes": {}, "actor_name": actor_name, "job": job},
            created_at=clock.now(),
        )
    )
