"""Request and response bodies of the webhook endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from trackly import examples as ex
from trackly.events.types import EventType
from trackly.schemas import QueryModel, RequestModel, Schema

WEBHOOK_ID = "9d3b7f0e-5c2a-4e1b-8f6d-0a9c8b7e6d5f"
# A placeholder, not a secret anyone uses: the form of a real one.
EXAMPLE_SECRET = "whsec_RVhBTVBMRS1ub3QtYS1yZWFsLXNlY3JldC0wMDAw"  # noqa: S105
EVENT_TYPES = sorted(t.value for t in EventType)
EVENTS_DOC = 'Event types to deliver, or `["*"]` for all of them: ' + ", ".join(EVENT_TYPES) + "."

WEBHOOK: dict[str, Any] = {
    "id": WEBHOOK_ID,
    "url": "https://hooks.example.com/trackly",
    "events": ["issue_created", "issue_status_changed"],
    "description": "Post new and moved issues to the team channel",
    "active": True,
    "owner_id": ex.ADMIN_ID,
    "consecutive_failures": 0,
    "disabled_reason": None,
    "disabled_at": None,
    "previous_secret_valid_until": None,
    "created_at": ex.CREATED_AT,
    "updated_at": ex.CREATED_AT,
}
ATTEMPT: dict[str, Any] = {
    "id": 88,
    "attempted_at": "2026-11-24T10:02:12Z",
    "duration_ms": 142,
    "status_code": 200,
    "error": None,
    "succeeded": True,
    "request_headers": {
        "webhook-id": "evt_4812",
        "webhook-timestamp": "1795514532",
        "user-agent": "Trackly-Webhooks/1.0",
        "content-type": "application/json",
    },
    "response_excerpt": "ok",
}
DELIVERY: dict[str, Any] = {
    "id": 5310,
    "webhook_id": WEBHOOK_ID,
    "event_id": 4812,
    "message_id": "evt_4812",
    "kind": "event",
    "status": "succeeded",
    "attempts": 1,
    "next_attempt_at": None,
    "last_status_code": 200,
    "last_error": None,
    "redelivery_of": None,
    "created_at": "2026-11-24T10:02:11Z",
    "completed_at": "2026-11-24T10:02:12Z",
}


def _check_events(value: list[str]) -> list[str]:
    if "*" in value:
        if len(value) != 1:
            raise ValueError('"*" means every event type and cannot be combined with others')
        return value
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event type {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return sorted(set(value))


class WebhookCreate(RequestModel):
    model_config = ex.examples(
        {
            "url": "https://hooks.example.com/trackly",
            "events": ["issue_created", "issue_status_changed"],
            "description": "Post new and moved issues to the team channel",
            "active": True,
        }
    )

    url: str = Field(min_length=1, max_length=2000, description="Where to POST (https in production).")
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES), description=EVENTS_DOC)
    description: str = Field(default="", max_length=200)
    active: bool = True

    _events = field_validator("events")(_check_events)


class WebhookUpdate(RequestModel):
    model_config = ex.examples({"active": True}, {"events": ["*"]})

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = Field(
        default=None, description="true re-enables a disabled hook (its failure count starts again)."
    )

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_events(value)


class WebhookOut(Schema):
    model_config = ex.examples(WEBHOOK, from_attributes=True)

    id: uuid.UUID
    url: str
    events: list[str]
    description: str
    active: bool
    owner_id: uuid.UUID | None = Field(
        description="The ADMIN the hook acts for (who created it or last changed its target or "
        "secret). When they are no longer an active ADMIN, the hook is disabled."
    )
    consecutive_failures: int = Field(description="Deliveries in a row that failed after their retries.")
    disabled_reason: str | None
    disabled_at: datetime | None
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation: until then deliveries are signed with the old secret too."
    )
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    model_config = ex.examples({**WEBHOOK, "secret": EXAMPLE_SECRET}, from_attributes=True)

    secret: str = Field(description="The signing secret, shown only in this answer (Standard Webhooks form).")


class SecretOut(Schema):
    model_config = ex.examples(
        {"secret": EXAMPLE_SECRET, "previous_secret_valid_until": "2026-11-25T10:02:11Z"}
    )

    secret: str = Field(description="The new signing secret, shown only in this answer.")
    previous_secret_valid_until: datetime = Field(
        description="Deliveries carry a signature with the old secret too until then."
    )


class AttemptOut(Schema):
    model_config = ex.examples(ATTEMPT, from_attributes=True)

    id: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None = Field(
        description="When no answer came: timeout, connection_error, tls_error, refused_address, "
        "unresolvable, not_visible."
    )
    succeeded: bool
    request_headers: dict[str, str] = Field(description="As sent, without `webhook-signature`.")
    response_excerpt: str = Field(description="The first kilobyte of the answer's body.")


class DeliveryOut(Schema):
    model_config = ex.examples(DELIVERY, from_attributes=True)

    id: int
    webhook_id: uuid.UUID
    event_id: int | None = Field(description="The event delivered (null for a ping).")
    message_id: str = Field(description="The `webhook-id` header: the same on retries and redeliveries.")
    kind: Literal["event", "ping"]
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    redelivery_of: int | None
    created_at: datetime
    completed_at: datetime | None


class DeliveryDetail(DeliveryOut):
    model_config = ex.examples({**DELIVERY, "attempts_log": [ATTEMPT]}, from_attributes=True)

    attempts_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class DeliveriesPage(Schema):
    model_config = ex.examples({"items": [DELIVERY], "next_before": None})

    items: list[DeliveryOut] = Field(description="Newest first.")
    next_before: int | None = Field(
        description="Pass as `before` for the next (older) page; null at the end."
    )


class DeliveriesQuery(QueryModel):
    before: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Only deliveries older than this id."
    )
    limit: int = Field(default=50, ge=1, le=100)
    outcome: Literal["pending", "succeeded", "failed"] | None = Field(default=None, description="Only these.")


class WebhookPath(Schema):
    webhook_id: uuid.UUID


class DeliveryPath(Schema):
    webhook_id: uuid.UUID
    delivery_id: int = Field(ge=1, le=2**63 - 1)


class DeliveryRun(Schema):
    """What one run of the delivery timer did."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    gave_up: int = 0
    disabled: int = 0
    pruned: int = 0
