"""Brute-force protection for password sign-in, stored in PostgreSQL (`login_throttle`).

Every instance of the app shares the same counters, so scaling out does not multiply the
number of guesses. Three keys are counted for each attempt:

- `pair:<email>|<client address>` - LOGIN_MAX_FAILURES attempts per LOGIN_FAILURE_WINDOW_MINUTES,
  with exponential back-off: a guesser is stopped, but only at the address it guesses from, so
  a stranger cannot lock the owner out of their account;
- `account:<email>` - ACCOUNT_FACTOR times as many, from all addresses together (guessing spread
  over many addresses). This one only *slows*: its lock is always BASE_LOCK_SECONDS, never
  longer, so the owner waits a minute at worst;
- `ip:<client address>` - IP_FACTOR times LOGIN_MAX_FAILURES (one address trying many accounts;
  several people can share one address).

The email is lower-cased by PostgreSQL's `lower()`, the function the user lookup and the unique
index `uq_users_email_lower` use: every spelling that finds an account counts in that account's
buckets (Python's `str.lower()` differs for e.g. 'İ', which would open a second bucket).

An attempt is *reserved* before the password is checked: in its own short transaction the
rows are created if missing and locked in one statement (`INSERT ... SELECT ... ON CONFLICT DO
UPDATE ... RETURNING`, in key order so two keys cannot deadlock), and

- if a key is locked (`locked_until` in the future) -> 429, and the password is never checked;
- if a key already has the maximum number of failures in its window -> the key is locked for
  BASE_LOCK_SECONDS * 2**lockouts (capped at MAX_LOCK_SECONDS; exponential back-off on repeated
  lockouts) -> 429;
- otherwise the attempt is counted as a failure and committed *before* the password is checked.

Counting first means concurrent guesses cannot overshoot the limit, and the count survives the
request's own rollback (a failed sign-in raises, and the request transaction is rolled back).
A successful sign-in then undoes its reservation in the request transaction: it deletes the
account and pair rows (success resets the account) and gives the IP key its attempt back.
A key's back-off level (`lockouts`) is forgotten after a full window without attempts.
Stale counters are deleted by `trackly.housekeeping`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Text, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.orm import Session

from trackly import clock, db
from trackly.config import Settings
from trackly.errors import TooManyRequests
from trackly.models import LoginThrottle

IP_FACTOR = 4
ACCOUNT_FACTOR = 10
BASE_LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 400

THROTTLED = "Too many failed sign-in attempts. Wait before trying again."


@dataclass(frozen=True)
class Keys:
    email: str
    ip: str

    @property
    def account(self) -> ColumnElement[str]:
        """The account key, normalized in SQL (see the module docstring)."""
        return func.left(func.concat("account:", func.lower(self.email)), MAX_KEY_LENGTH)

    @property
    def pair(self) -> ColumnElement[str]:
        """The account-and-address key (the address part of `ip` after its prefix)."""
        return func.left(func.concat("pair:", func.lower(self.email), "|", self.ip[3:]), MAX_KEY_LENGTH)

    def all(self) -> list[ColumnElement[str] | str]:
        # In key order ('account:' < 'ip:' < 'pair:'), so concurrent inserts and locks cannot
        # deadlock.
        return [self.account, self.ip, self.pair]


def keys_for(email: str, client_ip: str) -> Keys:
    return Keys(email=email.strip(), ip=("ip:" + (client_ip or "unknown"))[:MAX_KEY_LENGTH])


def limit_for(key: str, settings: Settings) -> int:
    if key.startswith("account:"):
        factor = ACCOUNT_FACTOR
    else:
        factor = IP_FACTOR if key.startswith(("ip:", "signup:")) else 1
    return settings.LOGIN_MAX_FAILURES * factor


def lock_seconds_for(key: str, lockouts: int) -> int:
    # The account as a whole is only slowed down (see the module docstring).
    return BASE_LOCK_SECONDS if key.startswith("account:") else lock_seconds(lockouts)


@dataclass(frozen=True)
class SignupKeys:
    """Sign-up attempts per client address: `signup:<address>`, IP_FACTOR x LOGIN_MAX_FAILURES per
    window, every attempt counted (a created account too), so nobody can probe which emails
    have accounts, or create accounts, at scale from one address."""

    ip: str

    def all(self) -> list[ColumnElement[str] | str]:
        return [self.ip]


def signup_keys_for(client_ip: str) -> SignupKeys:
    return SignupKeys(ip=("signup:" + (client_ip or "unknown"))[:MAX_KEY_LENGTH])


def lock_seconds(lockouts: int) -> int:
    """Exponential back-off: 60 s, 120 s, 240 s, ... up to a day."""
    return int(min(BASE_LOCK_SECONDS * 2 ** min(lockouts, 20), MAX_LOCK_SECONDS))


def _retry_after(locked_until: datetime, now: datetime) -> int:
    return max(1, int((locked_until - now).total_seconds() + 0.999))


def reserve_attempt(keys: Keys | SignupKeys, *, settings: Settings) -> None:
    """Count one sign-in attempt for both keys in its own committed transaction.

    Raises TooManyRequests (with Retry-After) when either key is locked; then nothing is counted.
    """
    with db.session_scope() as session:
        retry_after = _reserve(keys, session=session, settings=settings)
    # Raised after the commit, so a lock set by this attempt is kept.
    if retry_after:
        raise TooManyRequests(THROTTLED, retry_after=retry_after)


def _reserve(keys: Keys | SignupKeys, *, session: Session, settings: Settings) -> int:
    """Returns seconds to wait (0 = the attempt was counted and may proceed)."""
    now = clock.now()
    window = timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)
    names = keys.all()
    # INSERT ... SELECT FROM unnest(ARRAY[...]) rather than a multi-row VALUES: SQLAlchemy never
    # caches a multi-row VALUES statement (it compiled it on every sign-in, ~0.17 ms), while
    # this one has the same structure for every email and address, so it is compiled once.
    elements: list[Any] = names  # str or SQL expression: array() coerces both
    key = func.unnest(array[str](elements, type_=Text)).column_valued("key")
    source = select(
        key, literal(0), literal(now, DateTime(timezone=True)), literal(now, DateTime(timezone=True))
    )
    upsert = insert(LoginThrottle).from_select(
        ["key", "failures", "window_started_at", "updated_at"],
        # Key order: concurrent reservations lock rows in the same order and cannot deadlock.
        source.order_by(key),
    )
    # Create-if-missing and lock in one statement: DO UPDATE locks each existing row as strongly
    # as FOR UPDATE (the SET names the key column) and leaves its values as they are.
    rows = session.scalars(
        upsert.on_conflict_do_update(index_elements=["key"], set_={"key": upsert.excluded.key}).returning(
            LoginThrottle
        ),
        execution_options={"populate_existing": True},
    ).all()

    retry_after = 0
    for row in rows:
        if row.locked_until is not None and row.locked_until > now:
            retry_after = max(retry_after, _retry_after(row.locked_until, now))
            continue
        if now - row.window_started_at > window:
            quiet_since = max(row.updated_at, row.locked_until or row.updated_at)
            if now - quiet_since > window:
                row.lockouts = 0
            row.failures = 0
            row.window_started_at = now
        if row.failures >= limit_for(row.key, settings):
            row.locked_until = now + timedelta(seconds=lock_seconds_for(row.key, row.lockouts))
            row.lockouts += 1
            row.failures = 0
            row.window_started_at = now
            row.updated_at = now
            retry_after = max(retry_after, _retry_after(row.locked_until, now))
    if retry_after:
        return retry_after  # newly set locks are committed; a refused attempt is not counted
    session.flush()  # window resets above, before the increment below
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key.in_(names))
        .values(failures=LoginThrottle.failures + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return 0


def release_success(keys: Keys, *, session: Session) -> None:
    """A sign-in succeeded: reset the account keys and give the IP key its attempt back."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_([keys.account, keys.pair])))
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == keys.ip, LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1, updated_at=clock.now())
    )
