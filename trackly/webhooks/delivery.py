"""Sending deliveries: the `deliver_webhooks` timer's work, and the one attempt of a ping.

A run, batch by batch:
1. **Claim** (one short transaction): due pending deliveries of active hooks, locked with
   `FOR UPDATE SKIP LOCKED`; each gets its attempt number and a lease (`next_attempt_at` moved
   past the attempt's deadline), then the transaction commits. Another run, now or within the
   lease, skips them, so no attempt is sent twice and no transaction stays open during HTTP.
   The hook's owner must still be an active ADMIN; otherwise the hook is disabled (every ADMIN
   is notified) and its deliveries wait, unsent.
2. **Send** (no transaction): body and signatures are made now (Standard Webhooks timestamps
   are checked against the receiver's clock); the URL is resolved and checked again
   (trackly.webhooks.targets), then POSTed to a checked address (trackly.webhooks.sender).
3. **Record** (one transaction): every attempt, then success, the next try (trackly.webhooks.
   retries) or giving up; counts of failed deliveries per hook, and disabling at 410 or after
   WEBHOOK_DISABLE_AFTER_FAILURES failed deliveries in a row. An outcome is written only while
   the lease is still this run's (same attempt number), so a late answer cannot overwrite a
   newer attempt.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from trackly import clock, db
from trackly.config import Settings
from trackly.errors import ServiceUnavailable, Unprocessable
from trackly.models import Event, Role, User, Webhook, WebhookAttempt, WebhookDelivery
from trackly.realtime.service import to_message
from trackly.webhooks import retries, secrets, sender, targets
from trackly.webhooks.schemas import DeliveryRun

__all__ = ["DeliveryRun", "Job", "Result", "attempt", "claim", "disable", "record", "run"]

log = logging.getLogger(__name__)

# A lease longer than any attempt can take (timeout plus slack for the record transaction).
LEASE_SLACK_SECONDS = 60
RUN_BUDGET_SECONDS = 30.0
SEND_THREADS = 8
PRUNE_PER_RUN = 5000
KEY_PROBLEM_DELAY = timedelta(minutes=5)

_CLAIM = text(
    """
    WITH due AS (
        SELECT d.id
        FROM webhook_deliveries d
        JOIN webhooks h ON h.id = d.webhook_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND h.active
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1, next_attempt_at = :lease_until
    FROM due
    WHERE d.id = due.id
    RETURNING d.id, d.webhook_id, d.event_id, d.message_id, d.kind, d.attempts, d.created_at
    """
)

_NOTIFY_ADMINS = text(
    """
    INSERT INTO notifications (user_id, message, webhook_id, created_at)
    SELECT u.id, :message, :webhook_id, :now
    FROM users u
    WHERE u.role = 'ADMIN' AND u.is_active
    ORDER BY u.id
    """
)


@dataclass
class Job:
    """A claimed delivery, ready to send."""

    delivery_id: int
    attempt: int
    webhook_id: uuid.UUID
    message_id: str
    kind: str
    url: str
    body: bytes
    signing: list[str]
    counts: bool = True  # ping attempts do not count towards disabling the hook


@dataclass
class Result:
    job: Job
    attempted_at: datetime
    answer: sender.Answer
    headers: dict[str, str]

    @property
    def succeeded(self) -> bool:
        code = self.answer.status_code
        return code is not None and 200 <= code < 300


# --- bodies and signatures ---------------------------------------------------------------------


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def event_body(event: Event) -> bytes:
    """The live-message JSON of the event: the same shape as a `GET /events` item."""
    return _json(to_message(event).model_dump(mode="json"))


def ping_body(hook: Webhook, *, created_at: datetime) -> bytes:
    return _json(
        {
            "type": "ping",
            "webhook_id": str(hook.id),
            "timestamp": created_at.isoformat(),
            "data": {"description": hook.description, "events": list(hook.events)},
        }
    )


def signing_secrets(hook: Webhook, *, settings: Settings, now: datetime) -> list[str]:
    """The current secret and, during a rotation's window, the previous one."""
    out = [secrets.decrypt(hook.secret_encrypted, settings=settings)]
    if (
        hook.previous_secret_encrypted
        and hook.previous_secret_expires_at is not None
        and hook.previous_secret_expires_at > now
    ):
        out.append(secrets.decrypt(hook.previous_secret_encrypted, settings=settings))
    return out


def headers_for(job: Job, *, timestamp: int) -> dict[str, str]:
    return {
        "webhook-id": job.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": secrets.signature_header(
            job.signing, message_id=job.message_id, timestamp=timestamp, body=job.body
        ),
        "user-agent": sender.USER_AGENT,
        "content-type": "application/json",
    }


# --- visibility ---------------------------------------------------------------------------------


def owner_may_send(owner: User | None) -> bool:
    """A hook carries every event, which only an ADMIN may see: its owner must be one now."""
    return owner is not None and owner.is_active and owner.role is Role.ADMIN


def disable(hook_id: uuid.UUID, reason: str, *, session: Session) -> bool:
    """Disable an active hook and tell every active ADMIN why (False: it was not active)."""
    now = clock.now()
    row = session.execute(
        update(Webhook)
        .where(Webhook.id == hook_id, Webhook.active.is_(True))
        .values(active=False, disabled_reason=reason[:300], disabled_at=now, updated_at=now)
        .returning(Webhook.description, Webhook.url),
        execution_options={"synchronize_session": False},
    ).first()
    if row is None:
        return False
    name = row.description or row.url
    message = f"Webhook “{name[:120]}” was disabled: {reason}"[:500]
    session.execute(_NOTIFY_ADMINS, {"message": message, "webhook_id": hook_id, "now": now})
    log.warning("webhook %s disabled: %s", hook_id, reason)
    return True


# --- 1. claim -----------------------------------------------------------------------------------


def claim(*, session: Session, settings: Settings, limit: int) -> list[Job]:
    now = clock.now()
    lease_until = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + LEASE_SLACK_SECONDS)
    rows = session.execute(_CLAIM, {"now": now, "limit": limit, "lease_until": lease_until}).all()
    if not rows:
        return []
    hooks = {
        h.id: (h, owner)
        for h, owner in session.execute(
            select(Webhook, User)
            .outerjoin(User, User.id == Webhook.owner_id)
            .where(Webhook.id.in_({r.webhook_id for r in rows}))
        ).all()
    }
    event_ids = [r.event_id for r in rows if r.event_id is not None]
    events = (
        {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(event_ids)))} if event_ids else {}
    )
    jobs: list[Job] = []
    unsent: list[int] = []
    later: list[int] = []
    signing: dict[uuid.UUID, list[str]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        hook, owner = hooks[row.webhook_id]
        if not owner_may_send(owner):
            disable(
                hook.id,
                "the ADMIN it acts for is no longer an active admin; an admin must re-enable it",
                session=session,
            )
            unsent.append(row.id)
            continue
        if hook.id not in signing:
            try:
                signing[hook.id] = signing_secrets(hook, settings=settings, now=now)
            except ServiceUnavailable:
                # A key problem is the operator's to fix: the hook waits (and other hooks go on).
                log.error("webhook %s: its secret cannot be decrypted with WEBHOOK_SECRET_KEY", hook.id)
                signing[hook.id] = []
        if not signing[hook.id]:
            later.append(row.id)
            continue
        body = (
            ping_body(hook, created_at=row.created_at)
            if row.event_id is None
            else event_body(events[row.event_id])
        )
        jobs.append(
            Job(
                delivery_id=row.id,
                attempt=row.attempts,
                webhook_id=hook.id,
                message_id=row.message_id,
                kind=row.kind,
                url=hook.url,
                body=body,
                signing=signing[hook.id],
            )
        )
    # Not attempted: back to how they were; due now (their hook is disabled, so they wait for it
    # to be re-enabled), or in a few minutes (an unreadable secret).
    for ids, when in ((unsent, now), (later, now + KEY_PROBLEM_DELAY)):
        if ids:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(attempts=WebhookDelivery.attempts - 1, next_attempt_at=when),
                execution_options={"synchronize_session": False},
            )
    return jobs


# --- 2. send ------------------------------------------------------------------------------------

_DNS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def _resolve_within(
    url: str, *, settings: Settings, seconds: float, resolver: targets.Resolver
) -> targets.Target:
    future = _DNS.submit(
        targets.resolve,
        url,
        https_required=settings.webhook_https_required,
        private_allowed=settings.webhook_private_targets_allowed,
        resolver=resolver,
    )
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        raise TimeoutError from None


def attempt(
    job: Job,
    *,
    settings: Settings,
    resolver: targets.Resolver = targets.system_resolver,
) -> Result:
    """One attempt: sign now, resolve and check the target, POST. Never raises."""
    attempted_at = clock.now()
    # The wall clock, not trackly.clock: receivers compare this with their own clock.
    headers = headers_for(job, timestamp=int(time.time()))
    started = time.monotonic()
    budget = settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        target = _resolve_within(job.url, settings=settings, seconds=budget, resolver=resolver)
    except targets.TargetRefused as exc:
        error = "unresolvable" if "does not resolve" in str(exc) else "refused_address"
        return Result(job, attempted_at, sender.Answer(None, error, str(exc)[:300], _ms(started)), headers)
    except Unprocessable as exc:  # a URL that stopped passing the rules (e.g. https now required)
        return Result(
            job, attempted_at, sender.Answer(None, "refused_address", exc.detail, _ms(started)), headers
        )
    except TimeoutError:
        return Result(job, attempted_at, sender.Answer(None, "timeout", "", _ms(started)), headers)
    left = budget - (time.monotonic() - started)
    answer = sender.post(
        target,
        body=job.body,
        headers=headers,
        timeout=max(left, 0.001),
        ca_bundle=settings.WEBHOOK_CA_BUNDLE or None,
    )
    answer.duration_ms = _ms(started)
    return Result(job, attempted_at, answer, headers)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def send_all(jobs: Sequence[Job], *, settings: Settings, resolver: targets.Resolver) -> list[Result]:
    if len(jobs) <= 1:
        return [attempt(j, settings=settings, resolver=resolver) for j in jobs]
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(jobs)), thread_name_prefix="webhook") as pool:
        return list(pool.map(lambda j: attempt(j, settings=settings, resolver=resolver), jobs))


# --- 3. record ----------------------------------------------------------------------------------


def _attempt_row(result: Result) -> dict[str, object]:
    answer = result.answer
    return {
        "delivery_id": result.job.delivery_id,
        "attempted_at": result.attempted_at,
        "duration_ms": answer.duration_ms,
        "status_code": answer.status_code,
        "error": answer.error,
        "succeeded": result.succeeded,
        "request_headers": {k: v for k, v in result.headers.items() if k != "webhook-signature"},
        "response_excerpt": answer.excerpt,
    }


# Successes of a batch in one statement; only rows whose lease is still this run's.
_SUCCEEDED = text(
    """
    UPDATE webhook_deliveries d
    SET status = 'succeeded', completed_at = :now, next_attempt_at = NULL,
        last_status_code = v.code, last_error = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]), CAST(:codes AS int[]))
        AS v(id, attempt, code)
    WHERE d.id = v.id AND d.attempts = v.attempt AND d.status = 'pending'
    RETURNING d.webhook_id, d.kind
    """
)


def _finish(result: Result, *, session: Session, values: dict[str, object]) -> bool:
    """Write the outcome if the lease is still ours; True when it was written."""
    answer = result.answer
    written = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == result.job.delivery_id,
            WebhookDelivery.attempts == result.job.attempt,
            WebhookDelivery.status == "pending",
        )
        .values(last_status_code=answer.status_code, last_error=answer.error, **values),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(written, "rowcount", 0))


def record(
    results: Sequence[Result],
    *,
    session: Session,
    settings: Settings,
    run: DeliveryRun,
    rng: random.Random | None = None,
) -> None:
    now = clock.now()
    if not results:
        return
    session.execute(insert(WebhookAttempt), [_attempt_row(r) for r in results])
    done = [r for r in results if r.succeeded]
    if done:
        run.succeeded += len(done)
        written = session.execute(
            _SUCCEEDED,
            {
                "now": now,
                "ids": [r.job.delivery_id for r in done],
                "attempts": [r.job.attempt for r in done],
                "codes": [r.answer.status_code for r in done],
            },
        ).all()
        recovered = sorted({row.webhook_id for row in written if row.kind == "event"})
        if recovered:
            session.execute(
                update(Webhook)
                .where(Webhook.id.in_(recovered), Webhook.consecutive_failures != 0)
                .values(consecutive_failures=0),
                execution_options={"synchronize_session": False},
            )
    for result in results:
        job, answer = result.job, result.answer
        if result.succeeded:
            continue
        run.failed += 1
        if answer.status_code == 410:
            _finish(
                result,
                session=session,
                values={"status": "failed", "completed_at": now, "next_attempt_at": None},
            )
            run.gave_up += 1
            if job.counts and disable(job.webhook_id, "the receiver answered 410 Gone", session=session):
                run.disabled += 1
            continue
        when = (
            retries.next_attempt(
                attempts=job.attempt,
                transient=retries.is_transient(answer.status_code, answer.error),
                retry_after=answer.retry_after,
                now=now,
                rng=rng,
            )
            if job.counts
            else None
        )
        if when is not None:
            _finish(result, session=session, values={"next_attempt_at": when})
            continue
        run.gave_up += 1
        if (
            not _finish(
                result,
                session=session,
                values={"status": "failed", "completed_at": now, "next_attempt_at": None},
            )
            or not job.counts
        ):
            continue
        failures = session.execute(
            update(Webhook)
            .where(Webhook.id == job.webhook_id)
            .values(consecutive_failures=Webhook.consecutive_failures + 1)
            .returning(Webhook.consecutive_failures),
            execution_options={"synchronize_session": False},
        ).scalar_one()
        if failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES and disable(
            job.webhook_id,
            f"{failures} deliveries in a row failed after all their retries (last: {describe(answer)})",
            session=session,
        ):
            run.disabled += 1


def describe(answer: sender.Answer) -> str:
    return f"HTTP {answer.status_code}" if answer.status_code is not None else (answer.error or "error")


# --- the timer ----------------------------------------------------------------------------------


def prune(*, session: Session, settings: Settings) -> int:
    """Delete finished deliveries (with their attempts) older than the retention period."""
    cutoff = clock.now() - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    result = session.execute(
        text(
            """
            DELETE FROM webhook_deliveries
            WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE created_at < :cutoff AND status <> 'pending'
                ORDER BY created_at
                LIMIT :limit
            )
            """
        ),
        {"cutoff": cutoff, "limit": PRUNE_PER_RUN},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def run(
    *,
    settings: Settings,
    resolver: targets.Resolver = targets.system_resolver,
    rng: random.Random | None = None,
    budget_seconds: float = RUN_BUDGET_SECONDS,
) -> DeliveryRun:
    """One timer run: claim, send and record batch after batch until none is due or the time
    budget is spent, then prune."""
    out = DeliveryRun()
    started = time.monotonic()
    batch = settings.WEBHOOK_BATCH_SIZE
    while True:
        with db.session_scope() as session:
            jobs = claim(session=session, settings=settings, limit=batch)
        out.claimed += len(jobs)
        if jobs:
            results = send_all(jobs, settings=settings, resolver=resolver)
            with db.session_scope() as session:
                record(results, session=session, settings=settings, run=out, rng=rng)
        if len(jobs) < batch or time.monotonic() - started > budget_seconds:
            break
    with db.session_scope() as session:
        out.pruned = prune(session=session, settings=settings)
    return out
