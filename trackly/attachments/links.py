"""Signed file links: a browser opens an issue's `file_url` with no Authorization header.

An issue whose file was uploaded through `POST /files/upload` stores the internal reference
`/api/files/{attachment_id}`. Whoever may see the issue gets it as an absolute link
`{api}/files/{id}?expires=<unix seconds>&sig=<hex>`, where `sig` is an HMAC-SHA256 over the
attachment id and the expiry under a key derived from JWT_SECRET_KEY. `GET /files/{id}` checks
the signature and the expiry (a wrong, expired or tampered link is refused) and redirects to a
fresh read-only SAS URL. The link is a bearer capability for FILE_LINK_MINUTES, like the SAS
URL it leads to, and is handed out only with an issue the caller may see.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from trackly.errors import Forbidden

if TYPE_CHECKING:
    from trackly.config import Settings  # pydantic-settings loads with the first request

REF_PREFIX = "/api/files/"
_REF = re.compile(
    r"^/api/files/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/?$"
)
_KEY_LABEL = b"trackly file link v1"


def ref_for(attachment_id: uuid.UUID) -> str:
    """The internal reference stored in `issues.file_url`."""
    return f"{REF_PREFIX}{attachment_id}"


def is_ref(value: object) -> bool:
    """Is `value` a stored reference to an uploaded file (not an external link)?"""
    return isinstance(value, str) and value.startswith(REF_PREFIX)


def attachment_id_in(url: str | None) -> uuid.UUID | None:
    """The attachment named by a file link of this API (absolute or the stored reference, any
    query string), or None for anything else (e.g. an external https link)."""
    if not url:
        return None
    match = _REF.match(urlsplit(url).path)
    return uuid.UUID(match.group(1)) if match else None


def _key(settings: Settings) -> bytes:
    # A key of its own, derived from the token secret: a link signature is never a valid token
    # signature and vice versa.
    return hmac.new(settings.jwt_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def signature(attachment_id: uuid.UUID, expires: int, settings: Settings) -> str:
    message = f"{attachment_id}.{expires}".encode()
    return hmac.new(_key(settings), message, hashlib.sha256).hexdigest()


def signed_query(attachment_id: uuid.UUID, *, now: datetime, settings: Settings) -> str:
    expires = int((now + timedelta(minutes=settings.FILE_LINK_MINUTES)).timestamp())
    return urlencode({"expires": expires, "sig": signature(attachment_id, expires, settings)})


def public_url(stored: str | None, *, api_base: str, now: datetime, settings: Settings) -> str | None:
    """What a caller who may see the issue gets as `file_url`: a signed link for an uploaded
    file, anything else (an external https link, null) unchanged."""
    attachment_id = attachment_id_in(stored) if is_ref(stored) else None
    if attachment_id is None:
        return stored
    query = signed_query(attachment_id, now=now, settings=settings)
    return f"{api_base.rstrip('/')}/files/{attachment_id}?{query}"


def verify(attachment_id: uuid.UUID, expires: int, sig: str, *, now: datetime, settings: Settings) -> None:
    """Raise 403 unless `sig` is this server's signature of (attachment id, expires) and the
    link has not expired."""
    expected = signature(attachment_id, expires, settings)
    if not hmac.compare_digest(expected, sig.lower()):
        raise Forbidden(
            "This file link is not valid (its signature does not match). "
            "Open the issue again for a fresh link."
        )
    if expires <= int(now.timestamp()):
        raise Forbidden("This file link has expired. Open the issue again for a fresh link.")
