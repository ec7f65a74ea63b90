"""Delivering events to Web PubSub: the after-commit publisher's and the outbox timer's work.

Rules:
- An event is sent to each of its groups (`groups.groups_for_event`); `published_at` is set only
  when Web PubSub accepted it for every group. A partial failure leaves it unpublished, and the
  next attempt sends it to every group again (at-least-once; clients dedupe by `id`).
- Rows are claimed with `SELECT ... FOR UPDATE SKIP LOCKED` in the same transaction that sets
  `published_at`, so the after-commit publisher and any number of timer runs never send the same
  event at the same time.
- A failure that means the service itself is unreachable (connection error, timeout, 5xx, 401,
  403, 429) ends the run at once; a failure specific to one message skips only that event.

Pruning (see `prune`): the events table is also the issue history and the source of the daily
statistics, so only the events of issues deleted more than EVENT_RETENTION_DAYS ago are removed,
and only once every day they touched is final in `daily_stats`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Select, or_, select, text, update
from sqlalchemy.orm import Session

from trackly import clock, db, telemetry
from trackly.auth.policy import STAFF
from trackly.config import Settings
from trackly.models import Event, User
from trackly.realtime.client import get_client
from trackly.realtime.groups import STAFF_GROUP, groups_for_event, staff_filter
from trackly.realtime.schemas import OutboxRun
from trackly.realtime.service import to_message

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# A timer run stops taking new batches after this long (the schedule fires every minute).
RUN_BUDGET_SECONDS = 45.0
PRUNE_ISSUES_PER_RUN = 500
# A safety cap on the OData filter of staff messages: it names only users who lost staff access
# within a token's lifetime, so reaching it takes a hundred demotions in a few minutes.
MAX_STAFF_EXCLUSIONS = 100


@dataclass
class Delivery:
    published: list[int] = field(default_factory=list)
    failed: int = 0
    service_down: bool = False


def _service_down(exc: Exception) -> bool:
    """True when the failure is about the service, not about one message."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if not isinstance(status, int):
        return True  # connection refused, DNS, timeout, credential errors
    return status >= 500 or status in (401, 403, 408, 429)


# The watchers each event notified who may still see its issue (active; staff, or the creator):
# a reporter is never sent an event of an issue that is not theirs, even after a demotion.
_WATCHERS_SQL = text(
    """
    SELECT n.event_id, n.user_id
    FROM notifications n
    JOIN users u ON u.id = n.user_id
    JOIN events e ON e.id = n.event_id
    WHERE n.event_id = ANY(:ids)
      AND u.is_active
      AND (u.role IN ('ADMIN', 'MAINTAINER') OR u.id = e.audience_owner_id)
    ORDER BY n.event_id, n.user_id
    """
)


def watcher_ids(event_ids: Sequence[int], *, session: Session) -> dict[int, list[uuid.UUID]]:
    out: dict[int, list[uuid.UUID]] = {}
    if event_ids:
        for event_id, user_id in session.execute(_WATCHERS_SQL, {"ids": list(event_ids)}):
            out.setdefault(event_id, []).append(user_id)
    return out


def recently_lost_staff(*, session: Session, settings: Settings) -> list[uuid.UUID]:
    """Users who may still hold a negotiate token with the `staff` group although they are no
    longer staff: they lost staff access (`staff_revoked_at`, set by the demotion or
    deactivation itself) within a token's lifetime plus a minute of clock skew, and have not
    regained it since. New or edited reporters were never staff and are never listed."""
    since = clock.now() - timedelta(minutes=settings.REALTIME_TOKEN_MINUTES + 1)
    ids = session.scalars(
        select(User.id)
        .where(
            User.staff_revoked_at >= since,
            or_(User.role.not_in(STAFF), User.is_active.is_(False)),
        )
        .order_by(User.staff_revoked_at.desc(), User.id)
        .limit(MAX_STAFF_EXCLUSIONS + 1)
    ).all()
    if len(ids) > MAX_STAFF_EXCLUSIONS:
        log.warning(
            "more than %d users lost staff access recently; excluding the latest", MAX_STAFF_EXCLUSIONS
        )
    return list(ids[:MAX_STAFF_EXCLUSIONS])


def send(
    events: Sequence[Event],
    *,
    settings: Settings,
    staff_excluded: Sequence[uuid.UUID] = (),
    watchers: dict[int, list[uuid.UUID]] | None = None,
) -> Delivery:
    """Send each event to its groups (and its watchers' groups), keeping `staff_excluded` users out
    of `staff`; never raises."""
    result = Delivery()
    only_staff = staff_filter(list(staff_excluded))
    try:
        client = get_client(settings)
    except Exception:
        log.exception("cannot build the Web PubSub client")
        result.failed, result.service_down = len(events), True
        telemetry.count_failures("realtime", result.failed)
        return result
    for event in events:
        message = to_message(event).model_dump(mode="json")
        try:
            for group in groups_for_event(event, (watchers or {}).get(event.id, ())):
                client.send_to_group(
                    group,
                    message,
                    content_type="application/json",
                    filter=only_staff if group == STAFF_GROUP else None,
                )
        except Exception as exc:
            result.failed += 1
            if _service_down(exc):
                log.warning(
                    "Web PubSub unavailable (%s); event %s stays in the outbox", type(exc).__name__, event.id
                )
                result.service_down = True
                break
            log.error("Web PubSub refused event %s (%s); it stays in the outbox", event.id, exc)
            continue
        result.published.append(event.id)
    telemetry.count_failures("realtime", result.failed)
    return result


def oldest_unpublished_age(*, session: Session) -> float | None:
    """Seconds since the oldest event not yet published was written (None: none): the outbox
    lag. Served by the partial index ix_events_unpublished."""
    created = session.execute(
        text("SELECT created_at FROM events WHERE published_at IS NULL ORDER BY id LIMIT 1")
    ).scalar()
    return None if created is None else max(0.0, (clock.now() - created).total_seconds())


def _mark_published(session: Session, ids: list[int]) -> None:
    if ids:
        session.execute(
            update(Event).where(Event.id.in_(ids)).values(published_at=clock.now()),
            execution_options={"synchronize_session": False},
        )


def _claim_and_publish(claim: Select[Event], *, session: Session, settings: Settings) -> tuple[int, Delivery]:
    """Lock the unpublished events `claim` selects (skipping those another publisher holds), in
    id order, send them and mark what was delivered. Returns how many were claimed, and the delivery."""
    events = session.scalars(
        # Imported history is written already published; the flag is checked too (the skip rule
        # of trackly/portability/history.py).
        claim.where(Event.published_at.is_(None), Event.imported.is_(False))
        .order_by(Event.id)
        .with_for_update(skip_locked=True)
    ).all()
    excluded = recently_lost_staff(session=session, settings=settings) if events else []
    watchers = watcher_ids([e.id for e in events], session=session) if events else {}
    delivery = send(events, settings=settings, staff_excluded=excluded, watchers=watchers)
    _mark_published(session, delivery.published)
    return len(events), delivery


def publish_ids(event_ids: Sequence[int], *, session: Session, settings: Settings) -> Delivery:
    """Publish these events if still unpublished and not being published by someone else."""
    claim = select(Event).where(Event.id.in_(list(event_ids)))
    return _claim_and_publish(claim, session=session, settings=settings)[1]


def publish_batch(
    *, session: Session, settings: Settings, batch_size: int = BATCH_SIZE
) -> tuple[int, Delivery]:
    """Claim up to `batch_size` unpublished events, oldest first, and publish them.

    Returns how many were claimed and what was delivered."""
    return _claim_and_publish(select(Event).limit(batch_size), session=session, settings=settings)


_PRUNE_SQL = text(
    """
    WITH candidates AS (
        SELECT d.issue_id
        FROM events d
        WHERE d.type = 'issue_deleted'
          AND d.created_at < :cutoff
          AND d.issue_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM issues i WHERE i.id = d.issue_id)
    ),
    spans AS (
        SELECT e.issue_id,
               min((e.created_at AT TIME ZONE 'UTC')::date) AS first_day,
               max((e.created_at AT TIME ZONE 'UTC')::date) AS last_day
        FROM events e
        JOIN candidates c ON c.issue_id = e.issue_id
        GROUP BY e.issue_id
        HAVING bool_and(e.published_at IS NOT NULL) AND max(e.created_at) < :cutoff
    ),
    doomed AS (
        SELECT s.issue_id
        FROM spans s
        WHERE (SELECT count(*) FROM daily_stats ds WHERE ds.date BETWEEN s.first_day AND s.last_day)
              = s.last_day - s.first_day + 1
          AND EXISTS (
              SELECT 1 FROM daily_stats ds
              WHERE ds.date = s.last_day
                AND ds.computed_at >= ((s.last_day + 1)::timestamp AT TIME ZONE 'UTC')
          )
        LIMIT :max_issues
    )
    DELETE FROM events e USING doomed WHERE e.issue_id = doomed.issue_id
    """
)


def prune(*, session: Session, settings: Settings) -> int:
    """Delete the events of issues deleted more than EVENT_RETENTION_DAYS ago, once every one of
    them is published and every UTC day they touched has a final `daily_stats` row (computed
    after that day ended). Events of existing issues are their history and are never pruned."""
    cutoff = clock.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
    result = session.execute(_PRUNE_SQL, {"cutoff": cutoff, "max_issues": PRUNE_ISSUES_PER_RUN})
    return int(getattr(result, "rowcount", 0) or 0)


def drain(
    *,
    settings: Settings,
    batch_size: int = BATCH_SIZE,
    budget_seconds: float = RUN_BUDGET_SECONDS,
) -> OutboxRun:
    """The outbox timer's run: publish unpublished events batch by batch (one transaction per
    batch), then prune. Stops early when Web PubSub is down or the time budget is spent."""
    run = OutboxRun()
    if not settings.webpubsub_configured:
        return run
    started = time.monotonic()
    while True:
        with db.session_scope() as session:
            claimed, delivery = publish_batch(session=session, settings=settings, batch_size=batch_size)
        run.published += len(delivery.published)
        run.failed += delivery.failed
        if delivery.service_down:
            run.stopped_early = True
            return run
        if claimed < batch_size or not delivery.published:
            break
        if time.monotonic() - started > budget_seconds:
            run.stopped_early = True
            break
    with db.session_scope() as session:
        run.pruned = prune(session=session, settings=settings)
        telemetry.record_queue("realtime", oldest_age_seconds=oldest_unpublished_age(session=session))
    return run
