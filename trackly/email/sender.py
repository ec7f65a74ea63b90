"""The `send_notifications` timer: notifications become emails, at most once each.

One run, batch by batch:

1. **Claim** (one transaction): lock the notifications that are new (no email record yet, and
   younger than EMAIL_MAX_AGE_HOURS) or whose waiting/retry record is due, with
   `FOR UPDATE SKIP LOCKED`, so a second run at the same time takes other rows. Decide each one
   with what is true now: the user is active and may still see the issue (staff, or its
   creator, with the current role), the issue still exists, the notification is unread, and the
   user's preferences want this reason by email now (instant, outside quiet hours; daily, at the
   digest hour). The decision is written to `notification_deliveries`, whose primary key
   (notification, channel) is the unique sent record: a row already `sending`/`sent` by another
   run is never taken again (the upsert only moves `waiting`/`retry` rows).
2. **Send** after that commit, with a short timeout; no lock is held while talking to the server.
3. **Record** the outcome: `sent`; `retry` with backoff for a temporary failure; `failed` for a
   permanent refusal, which also switches that user's email off and tells them in the app.

A run that dies between 1 and 3 leaves `sending` rows that are never sent again: at most once.
"""

from __future__ import annotations

import logging
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from trackly import clock, db
from trackly.auth.policy import STAFF
from trackly.config import Settings
from trackly.email import message as build
from trackly.email.transport import SendFailed, Transport, open_transport
from trackly.models import (
    Event,
    Issue,
    Notification,
    NotificationDefault,
    NotificationDelivery,
    NotificationSettings,
    User,
)
from trackly.notifications import preferences
from trackly.notifications.preferences import EMAIL_CHANNEL, Preferences

log = logging.getLogger("trackly.email")

_CLAIM = text(
    """
    SELECT n.id
    FROM notifications n
    LEFT JOIN notification_deliveries d ON d.notification_id = n.id AND d.channel = 'email'
    WHERE n.event_id IS NOT NULL  -- server notices (no event) stay in the app
      AND ((d.notification_id IS NULL AND n.created_at >= :since)
       OR (d.status IN ('waiting', 'retry') AND d.due_at <= :now))
    ORDER BY n.id
    LIMIT :batch
    FOR UPDATE OF n SKIP LOCKED
    """
)


@dataclass
class EmailRun:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    waiting: int = 0
    failed: int = 0
    retried: int = 0
    batches: int = 0
    bounced: int = 0
    disabled: bool = False


@dataclass
class Outgoing:
    """One email to send, and the notifications it carries."""

    user_id: uuid.UUID
    notification_ids: list[int]
    message: EmailMessage


@dataclass
class Claimed:
    rows: int = 0
    outgoing: list[Outgoing] = field(default_factory=list)
    skipped: int = 0
    waiting: int = 0


# --- when -----------------------------------------------------------------------------------


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _at(day: date, hour: time, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, hour, tzinfo=tz)


def next_digest(after: datetime, p: Preferences) -> datetime:
    """The first digest hour (local) strictly after `after`."""
    tz = _zone(p.time_zone)
    local = after.astimezone(tz)
    at = _at(local.date(), time(p.digest_hour), tz)
    if at <= local:
        at = _at(local.date() + timedelta(days=1), time(p.digest_hour), tz)
    return at


def quiet_until(now: datetime, p: Preferences) -> datetime | None:
    """The end of the quiet hours `now` falls in (None: not quiet). A window may cross midnight."""
    if p.quiet_start is None or p.quiet_end is None:
        return None
    tz = _zone(p.time_zone)
    local = now.astimezone(tz)
    t, start, end = local.time().replace(tzinfo=None), p.quiet_start, p.quiet_end
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return _at(day, end, tz)


# --- claim -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    status: str  # skipped | waiting | send
    detail: str | None = None
    due_at: datetime | None = None
    digest: bool = False


def decide(
    n: Notification,
    event: Event,
    user: User,
    issue: Issue | None,
    p: Preferences,
    *,
    now: datetime,
) -> Decision:
    if not user.is_active:
        return Decision("skipped", "user deactivated")
    if not user.email:  # a service account has no mailbox
        return Decision("skipped", "no email address")
    # With the role the user has now: a demoted maintainer's old rows reveal nothing.
    if user.role not in STAFF and event.audience_owner_id != user.id:
        return Decision("skipped", "issue not visible")
    if issue is None:
        return Decision("skipped", "issue deleted")
    if n.read_at is not None:
        return Decision("skipped", "read in the app")
    if p.email == "off":
        return Decision("skipped", "email off")
    if n.reason not in p.reasons:
        return Decision("skipped", f"reason {n.reason} not chosen")
    if p.email == "daily":
        due = next_digest(n.created_at, p)
        return Decision("send", digest=True) if due <= now else Decision("waiting", "digest", due_at=due)
    until = quiet_until(now, p)
    if until is not None:
        return Decision("waiting", "quiet hours", due_at=until)
    return Decision("send")


def _upsert(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    """Write the decisions; only rows new or still waiting/retrying are ours (the unique record)."""
    if not rows:
        return set()
    base = insert(NotificationDelivery).values(rows)
    stmt = base.on_conflict_do_update(
        index_elements=[NotificationDelivery.notification_id, NotificationDelivery.channel],
        set_={
            "status": base.excluded.status,
            "due_at": base.excluded.due_at,
            "detail": base.excluded.detail,
            "message_id": base.excluded.message_id,
            "attempts": NotificationDelivery.attempts + base.excluded.attempts,
            "updated_at": base.excluded.updated_at,
        },
        where=NotificationDelivery.status.in_(("waiting", "retry")),
    ).returning(NotificationDelivery.notification_id)
    return set(session.scalars(stmt))


def claim(*, session: Session, settings: Settings, now: datetime | None = None) -> Claimed:
    """Step 1 in the caller's transaction (commit it before sending)."""
    now = now or clock.now()
    since = now - timedelta(hours=settings.EMAIL_MAX_AGE_HOURS)
    ids = list(session.scalars(_CLAIM, {"since": since, "now": now, "batch": settings.EMAIL_BATCH_SIZE}))
    out = Claimed(rows=len(ids))
    if not ids:
        return out
    rows = session.execute(
        select(Notification, Event, User, Issue, NotificationSettings, NotificationDefault)
        .join(Event, Event.id == Notification.event_id)
        .join(User, User.id == Notification.user_id)
        .outerjoin(Issue, Issue.id == Event.issue_id)
        .outerjoin(NotificationSettings, NotificationSettings.user_id == User.id)
        .outerjoin(NotificationDefault, NotificationDefault.role == User.role)
        .where(Notification.id.in_(ids))
        .order_by(Notification.id)
    ).all()
    records: list[dict[str, Any]] = []
    instant: list[tuple[build.Item, User]] = []
    digests: dict[uuid.UUID, tuple[User, list[build.Item]]] = {}
    messages: dict[int, EmailMessage] = {}
    for n, event, user, issue, own, default in rows:
        p = preferences.effective(user.role, own, default, settings)
        d = decide(n, event, user, issue, p, now=now)
        record = {
            "notification_id": n.id,
            "channel": EMAIL_CHANNEL,
            "status": d.status if d.status != "send" else "sending",
            "due_at": d.due_at,
            "detail": d.detail,
            "message_id": None,
            "attempts": 1 if d.status == "send" else 0,
            "updated_at": now,
        }
        if d.status == "send":
            assert issue is not None
            item = build.Item(
                notification_id=n.id,
                reason=n.reason,
                event_type=event.type,
                payload=dict(event.payload or {}),
                created_at=n.created_at,
                issue_id=issue.id,
                issue_title=issue.title,
            )
            if d.digest:
                digests.setdefault(user.id, (user, []))[1].append(item)
            else:
                msg = build.instant(item, _recipient(user), settings=settings, now=now)
                messages[n.id] = msg
                record["message_id"] = str(msg["Message-ID"])
                instant.append((item, user))
        records.append(record)
    for user, items in digests.values():
        msg = build.digest(items, _recipient(user), settings=settings, now=now)
        for item in items:
            messages[item.notification_id] = msg
        for record in records:
            if record["notification_id"] in {i.notification_id for i in items}:
                record["message_id"] = str(msg["Message-ID"])
    ours = _upsert(session, records)
    for record in records:
        if record["notification_id"] not in ours:
            continue  # another run recorded it first
        if record["status"] == "skipped":
            out.skipped += 1
        elif record["status"] == "waiting":
            out.waiting += 1
    for item, user in instant:
        if item.notification_id in ours:
            out.outgoing.append(Outgoing(user.id, [item.notification_id], messages[item.notification_id]))
    for user, items in digests.values():
        mine = [i.notification_id for i in items if i.notification_id in ours]
        if mine:
            out.outgoing.append(Outgoing(user.id, mine, messages[mine[0]]))
    return out


def _recipient(user: User) -> build.Recipient:
    assert user.email, "decide() skips users without an address"
    return build.Recipient(id=user.id, email=user.email, full_name=user.full_name)


# --- send and record ---------------------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def record_outcome(
    outgoing: Outgoing,
    failure: SendFailed | None,
    *,
    session: Session,
    settings: Settings,
    now: datetime,
) -> str:
    ids = outgoing.notification_ids
    where = NotificationDelivery.notification_id.in_(ids) & (NotificationDelivery.channel == EMAIL_CHANNEL)
    change = update(NotificationDelivery).where(where).execution_options(synchronize_session=False)
    if failure is None:
        session.execute(change.values(status="sent", detail=None, updated_at=now))
        return "sent"
    attempts = session.scalar(select(NotificationDelivery.attempts).where(where).limit(1)) or 1
    if failure.permanent or attempts >= settings.EMAIL_MAX_ATTEMPTS:
        session.execute(change.values(status="failed", detail=failure.detail[:300], updated_at=now))
        if failure.permanent:
            preferences.switch_off(
                outgoing.user_id, detail=failure.detail, session=session, settings=settings
            )
        return "failed"
    session.execute(
        change.values(
            status="retry", due_at=now + _backoff(attempts), detail=failure.detail[:300], updated_at=now
        )
    )
    return "retry"


def run(
    *,
    settings: Settings,
    transport: Transport | None = None,
    now: Callable[[], datetime] = clock.now,
    max_batches: int = 50,
) -> EmailRun:
    """One timer run (the `send_notifications` function)."""
    result = EmailRun()
    transport = transport or open_transport(settings)
    if transport is None:
        result.disabled = True
        return result
    try:
        for _ in range(max_batches):
            with db.session_scope() as session:
                claimed = claim(session=session, settings=settings, now=now())
            result.batches += 1
            result.claimed += claimed.rows
            result.skipped += claimed.skipped
            result.waiting += claimed.waiting
            outcomes: list[tuple[Outgoing, SendFailed | None]] = []
            lost: SendFailed | None = None
            for outgoing in claimed.outgoing:
                if lost is not None:  # the server went away: the rest wait for a retry
                    outcomes.append((outgoing, lost))
                    continue
                try:
                    transport.send(outgoing.message)
                    outcomes.append((outgoing, None))
                except SendFailed as exc:
                    outcomes.append((outgoing, exc))
                    if exc.connection_lost:
                        lost = exc
            if outcomes:
                with db.session_scope() as session:
                    for outgoing, failure in outcomes:
                        kind = record_outcome(
                            outgoing, failure, session=session, settings=settings, now=now()
                        )
                        count = len(outgoing.notification_ids)
                        if kind == "sent":
                            result.sent += count
                        elif kind == "failed":
                            result.failed += count
                        else:
                            result.retried += count
            if lost is not None or claimed.rows < settings.EMAIL_BATCH_SIZE:
                break
        result.bounced = send_bounces(transport, settings=settings, now=now())
    finally:
        transport.close()
    return result


def send_bounces(transport: Transport, *, settings: Settings, now: datetime) -> int:
    """The short answers to refused replies by email: marked sent before sending (at most once)."""
    from trackly.models import InboundReply

    with db.session_scope() as session:
        rows = session.execute(
            select(InboundReply.message_id, InboundReply.bounce_to, InboundReply.detail)
            .where(InboundReply.bounce_to.is_not(None), InboundReply.bounced_at.is_(None))
            .order_by(InboundReply.created_at)
            .limit(50)
            .with_for_update(skip_locked=True)
        ).all()
        if rows:
            session.execute(
                update(InboundReply)
                .where(InboundReply.message_id.in_([r[0] for r in rows]))
                .values(bounced_at=now)
            )
    sent = 0
    for message_id, to, detail in rows:
        try:
            transport.send(
                build.bounce(str(to), reason=detail or "", settings=settings, in_reply_to=message_id)
            )
            sent += 1
        except SendFailed as exc:
            log.warning("bounce to a refused reply not sent: %s", exc.detail)
            if exc.connection_lost:
                break
    return sent
