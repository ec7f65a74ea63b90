"""Managing webhooks (ADMIN): create, read, change, delete, rotate the secret, ping; the delivery
log and redelivery. The secret is returned only by create and rotate-secret, never stored in
the clear, never logged."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trackly import clock
from trackly.config import Settings
from trackly.errors import Conflict, NotFound, Unprocessable
from trackly.models import User, Webhook, WebhookAttempt, WebhookDelivery
from trackly.webhooks import delivery, secrets, targets
from trackly.webhooks.schemas import (
    AttemptOut,
    DeliveriesPage,
    DeliveriesQuery,
    DeliveryDetail,
    DeliveryOut,
    SecretOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)

ROTATION_WINDOW = timedelta(hours=24)


def out(hook: Webhook, *, now: datetime | None = None) -> WebhookOut:
    now = now or clock.now()
    until = hook.previous_secret_expires_at
    return WebhookOut(
        id=hook.id,
        url=hook.url,
        events=list(hook.events),
        description=hook.description,
        active=hook.active,
        owner_id=hook.owner_id,
        consecutive_failures=hook.consecutive_failures,
        disabled_reason=hook.disabled_reason,
        disabled_at=hook.disabled_at,
        previous_secret_valid_until=until if until is not None and until > now else None,
        created_at=hook.created_at,
        updated_at=hook.updated_at,
    )


def check_url(url: str, *, settings: Settings, resolver: targets.Resolver = targets.system_resolver) -> None:
    """The creation-time check: the same rules as every delivery (problem+json 422 otherwise)."""
    try:
        targets.resolve(
            url,
            https_required=settings.webhook_https_required,
            private_allowed=settings.webhook_private_targets_allowed,
            resolver=resolver,
        )
    except targets.TargetRefused as exc:
        raise Unprocessable(
            str(exc), errors=[{"loc": "body.url", "msg": str(exc), "type": "url_refused"}]
        ) from None


def create(body: WebhookCreate, *, actor: User, settings: Settings, session: Session) -> WebhookCreated:
    secret = secrets.new_secret()
    encrypted = secrets.encrypt(secret, settings=settings)  # first: no key, no webhooks (503)
    check_url(body.url, settings=settings)
    now = clock.now()
    hook = Webhook(
        url=body.url,
        events=body.events,
        description=body.description,
        active=body.active,
        secret_encrypted=encrypted,
        owner_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(hook)
    session.flush()
    return WebhookCreated(**out(hook, now=now).model_dump(), secret=secret)


def _get(webhook_id: uuid.UUID, *, session: Session, lock: bool = False) -> Webhook:
    query = select(Webhook).where(Webhook.id == webhook_id)
    hook = session.scalar(query.with_for_update() if lock else query)
    if hook is None:
        raise NotFound("No webhook with this id.")
    return hook


def list_hooks(*, session: Session) -> list[WebhookOut]:
    now = clock.now()
    return [
        out(h, now=now) for h in session.scalars(select(Webhook).order_by(Webhook.created_at, Webhook.id))
    ]


def get(webhook_id: uuid.UUID, *, session: Session) -> WebhookOut:
    return out(_get(webhook_id, session=session))


def update(
    webhook_id: uuid.UUID, body: WebhookUpdate, *, actor: User, settings: Settings, session: Session
) -> WebhookOut:
    hook = _get(webhook_id, session=session, lock=True)
    changes = body.model_dump(exclude_unset=True)
    for name in ("url", "events", "active"):
        if name in changes and changes[name] is None:
            raise Unprocessable(
                f"`{name}` cannot be null.", errors=[{"loc": f"body.{name}", "msg": "null", "type": "null"}]
            )
    if body.url is not None and body.url != hook.url:
        check_url(body.url, settings=settings)
        hook.url = body.url
    if body.events is not None:
        hook.events = body.events
    if body.description is not None:
        hook.description = body.description
    if body.active is not None:
        if body.active and not hook.active:
            hook.consecutive_failures = 0
            hook.disabled_reason = None
            hook.disabled_at = None
        hook.active = body.active
    if changes:
        # Whoever points the hook somewhere or turns it on now vouches for it (see owner_id).
        hook.owner_id = actor.id
        hook.updated_at = clock.now()
    session.flush()
    return out(hook)


def delete(webhook_id: uuid.UUID, *, session: Session) -> None:
    session.delete(_get(webhook_id, session=session))
    session.flush()


def rotate_secret(webhook_id: uuid.UUID, *, actor: User, settings: Settings, session: Session) -> SecretOut:
    """A new secret; the current one keeps signing (alongside) for 24 hours. Rotating again within
    the window ends the older secret's window at once: at most two secrets sign."""
    hook = _get(webhook_id, session=session, lock=True)
    now = clock.now()
    secret = secrets.new_secret()
    hook.previous_secret_encrypted = hook.secret_encrypted
    hook.previous_secret_expires_at = now + ROTATION_WINDOW
    hook.secret_encrypted = secrets.encrypt(secret, settings=settings)
    hook.owner_id = actor.id
    hook.updated_at = now
    session.flush()
    return SecretOut(secret=secret, previous_secret_valid_until=hook.previous_secret_expires_at)


def ping(webhook_id: uuid.UUID, *, actor: User, settings: Settings, session: Session) -> DeliveryDetail:
    """Send a `ping` now, once (no retries, not counted towards disabling), and answer with the
    result. The only webhook work a request waits for, bounded by WEBHOOK_TIMEOUT_SECONDS."""
    hook = _get(webhook_id, session=session)
    now = clock.now()
    row = WebhookDelivery(
        webhook_id=hook.id,
        event_id=None,
        message_id=f"ping_{uuid.uuid4().hex}",
        kind="ping",
        status="pending",
        attempts=1,
        next_attempt_at=None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    job = delivery.Job(
        delivery_id=row.id,
        attempt=1,
        webhook_id=hook.id,
        message_id=row.message_id,
        kind="ping",
        url=hook.url,
        body=delivery.ping_body(hook, created_at=now),
        signing=delivery.signing_secrets(hook, settings=settings, now=now),
        counts=False,
    )
    result = delivery.attempt(job, settings=settings)
    delivery.record([result], session=session, settings=settings, run=delivery.DeliveryRun())
    session.flush()
    session.expire(row)
    return deliveries_detail(hook.id, row.id, session=session)


def deliveries(webhook_id: uuid.UUID, query: DeliveriesQuery, *, session: Session) -> DeliveriesPage:
    _get(webhook_id, session=session)
    page = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if query.before is not None:
        page = page.where(WebhookDelivery.id < query.before)
    if query.outcome is not None:
        page = page.where(WebhookDelivery.status == query.outcome)
    rows = session.scalars(page.order_by(WebhookDelivery.id.desc()).limit(query.limit + 1)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return DeliveriesPage(
        items=[DeliveryOut.model_validate(r, from_attributes=True) for r in rows],
        next_before=rows[-1].id if more and rows else None,
    )


def _delivery(webhook_id: uuid.UUID, delivery_id: int, *, session: Session) -> WebhookDelivery:
    row = session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id
        )
    )
    if row is None:
        raise NotFound("No delivery with this id for this webhook.")
    return row


def deliveries_detail(webhook_id: uuid.UUID, delivery_id: int, *, session: Session) -> DeliveryDetail:
    row = _delivery(webhook_id, delivery_id, session=session)
    attempts = session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id).order_by(WebhookAttempt.id)
    ).all()
    return DeliveryDetail(
        **DeliveryOut.model_validate(row, from_attributes=True).model_dump(),
        attempts_log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )


def redeliver(webhook_id: uuid.UUID, delivery_id: int, *, session: Session) -> DeliveryOut:
    """Queue the message again (same `webhook-id`, so receivers can dedupe), due now; the timer
    sends it with the usual retries."""
    hook = _get(webhook_id, session=session)
    original = _delivery(webhook_id, delivery_id, session=session)
    if original.kind == "ping":
        raise Conflict("A ping is not redelivered; send a new one with POST /webhooks/{id}/ping.")
    if not hook.active:
        raise Conflict("The webhook is disabled; enable it (PATCH active: true) before redelivering.")
    now = clock.now()
    row = WebhookDelivery(
        webhook_id=hook.id,
        event_id=original.event_id,
        message_id=original.message_id,
        kind=original.kind,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        redelivery_of=original.id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return DeliveryOut.model_validate(row, from_attributes=True)
