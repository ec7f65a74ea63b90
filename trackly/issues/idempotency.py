"""Idempotency-Key for POST /issues: a retried create returns the first response.

The key is claimed with `INSERT ... ON CONFLICT DO NOTHING` in the same transaction that creates
the issue, and the response is stored in that row before commit. A concurrent request with the
same key blocks on the uncommitted row; when the first transaction commits it finds the stored
response and replays it (when the first rolls back, the second claims the key and proceeds).
Keys are per user and expire after 24 hours.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from trackly import clock
from trackly.errors import BadRequest, Conflict, Unprocessable
from trackly.models import IdempotencyKey

TTL = timedelta(hours=24)
KEY_MAX = 255
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str]


def validate_key(raw: str) -> str:
    """1-255 visible ASCII characters (what RFC drafts and common clients send: UUIDs, ULIDs)."""
    key = raw.strip()
    if not key or len(key) > KEY_MAX or not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise BadRequest(f"The {HEADER} header must be 1-{KEY_MAX} visible ASCII characters.")
    return key


def request_hash(operation: str, body: Any) -> bytes:
    """A fingerprint of the validated request (so formatting differences do not matter)."""
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).digest()


def claim(user_id: uuid.UUID, key: str, fingerprint: bytes, *, session: Session) -> StoredResponse | None:
    """None when this request now owns the key (go ahead and do the work, then `store`);
    otherwise the stored response of the first request with this key and body."""
    now = clock.now()
    # Expired keys of this user are dropped (primary-key prefix lookup), so a key can be reused.
    session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.created_at < now - TTL)
    )
    for _ in range(3):
        claimed = session.execute(
            insert(IdempotencyKey)
            .values(user_id=user_id, key=key, request_hash=fingerprint, created_at=now)
            .on_conflict_do_nothing(index_elements=[IdempotencyKey.user_id, IdempotencyKey.key])
            .returning(IdempotencyKey.key)
        ).first()
        if claimed is not None:
            return None
        row = session.execute(
            select(
                IdempotencyKey.request_hash,
                IdempotencyKey.response_status,
                IdempotencyKey.response_body,
                IdempotencyKey.response_headers,
            ).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        ).first()
        if row is None:  # the holder's row vanished (expired and purged): try to claim again
            continue
        stored_hash, status, body, headers = row
        if bytes(stored_hash) != fingerprint:
            raise Unprocessable(
                f"This {HEADER} was already used with a different request body; "
                "use a new key for a new request."
            )
        if status is None:
            raise Conflict(f"A request with this {HEADER} is still being processed; retry shortly.")
        return StoredResponse(status=int(status), body=body, headers=dict(headers or {}))
    raise Conflict(f"A request with this {HEADER} is still being processed; retry shortly.")


def store(
    user_id: uuid.UUID,
    key: str,
    *,
    status: int,
    body: Any,
    headers: dict[str, str],
    session: Session,
) -> None:
    """Save the response of the request that owns the key (same transaction as the work)."""
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(response_status=status, response_body=body, response_headers=headers)
    )
