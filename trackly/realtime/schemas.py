"""Live-update messages, the negotiate response and the catch-up feed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from trackly import examples as ex
from trackly.schemas import QueryModel, Schema


class EventMessage(Schema):
    """One event as sent over Web PubSub and returned by the catch-up feed."""

    model_config = ex.examples(ex.EVENT)

    id: int = Field(description="The event's sequence number: increases, and is the dedupe key.")
    type: str = Field(
        description="issue_created, issue_updated, issue_status_changed, issue_deleted, "
        "attachment_added, attachment_removed, issue_assigned, issue_labeled, issue_unlabeled, "
        "comment_added, comment_edited, comment_deleted, watcher_added or watcher_removed."
    )
    issue_id: uuid.UUID | None
    user_id: uuid.UUID | None = Field(description="Who made the change.")
    user_name: str | None = Field(description="Their name when they made the change.")
    timestamp: datetime
    data: dict[str, Any] = Field(
        description="`changes` ({field: [old, new]}), `issue` (its state after the change) and "
        "type-specific extras such as `attachment`."
    )


class NegotiateOut(Schema):
    model_config = ex.examples(
        {
            "url": "wss://trackly.webpubsub.azure.com/client/hubs/trackly?access_token=eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
            "expires_at": "2026-11-24T11:02:11Z",
            "groups": ["staff", f"user.{ex.MAINTAINER_ID}"],
            "last_event_id": 4812,
        }
    )

    url: str = Field(description="Open a WebSocket here with subprotocol json.webpubsub.azure.v1.")
    expires_at: datetime = Field(description="The access token in `url` is refused after this time.")
    groups: list[str] = Field(description="The groups the connection is put into when it connects.")
    last_event_id: int = Field(
        description="The newest event id you may see now (0 when none): pass it as `after` to "
        "`/events` to catch up from this moment on."
    )


class EventsQuery(QueryModel):
    after: int = Field(default=0, ge=0, le=2**63 - 1, description="Return events with an id above this.")
    limit: int = Field(default=100, ge=1, le=500, description="At most this many events (1-500).")


class EventFeed(Schema):
    model_config = ex.examples({"events": [ex.EVENT], "next_after": 4812})

    events: list[EventMessage]
    next_after: int = Field(
        description="Pass as `after` to continue: the last returned id, or `after` when none came back."
    )


class OutboxRun(Schema):
    """What one run of the outbox timer did."""

    published: int = 0
    failed: int = 0
    pruned: int = 0
    stopped_early: bool = False
