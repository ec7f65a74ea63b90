"""When to try a failed delivery again: one table, read by the timer, the docs and the tests.

- Transient failures (timeout, connection or TLS error, 408, 425, 429, 5xx) follow `TRANSIENT`:
  12 retries with exponential backoff, about a day in all, each delay jittered by +-20 % so a
  receiver coming back is not hit by every waiting delivery in the same second.
- Other answers that are not 2xx (a 3xx, since redirects are not followed; a 4xx) follow the
  first `PERMANENT_RETRIES` delays only: the receiver is unlikely to change its mind.
- `Retry-After` (seconds or an HTTP date) on any failed answer is honoured when it asks for a
  longer wait than the table, up to the table's longest delay.
- 410 Gone is not retried: it disables the hook.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# Delay before retry 1, 2, ... (seconds): 30 s doubling to 4 h, then 8 h twice.
TRANSIENT: tuple[int, ...] = (30, 60, 120, 240, 480, 960, 1920, 3600, 7200, 14400, 28800, 28800)
PERMANENT_RETRIES = 3
JITTER = 0.2
TRANSIENT_STATUSES = frozenset({408, 425, 429})


# Failures without an answer that are worth a day of retries. A refused address is not: it is
# the hook's configuration (or its DNS) that must change.
TRANSIENT_ERRORS = frozenset({"timeout", "connection_error", "tls_error", "unresolvable"})


def is_transient(status_code: int | None, error: str | None = None) -> bool:
    """No answer because of the network, or an answer that says "later"."""
    if status_code is None:
        return error in TRANSIENT_ERRORS
    return status_code >= 500 or status_code in TRANSIENT_STATUSES


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def next_attempt(
    *,
    attempts: int,
    transient: bool,
    retry_after: str | None,
    now: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after `attempts` failed attempts (None: give up)."""
    limit = len(TRANSIENT) if transient else PERMANENT_RETRIES
    if attempts > limit:
        return None
    base = TRANSIENT[attempts - 1]
    jitter = (rng or random).uniform(-JITTER, JITTER)
    delay = base * (1 + jitter)
    asked = retry_after_seconds(retry_after, now=now)
    if asked is not None:
        delay = max(delay, min(asked, float(max(TRANSIENT))))
    return now + timedelta(seconds=delay)


def total_window(transient: bool = True) -> timedelta:
    """The longest a delivery keeps retrying (without jitter)."""
    delays = TRANSIENT if transient else TRANSIENT[:PERMANENT_RETRIES]
    return timedelta(seconds=sum(delays))
