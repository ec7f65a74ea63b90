"""Domain errors. Services raise these; the HTTP layer renders them as problem+json.

Nothing here knows about azure.functions, so services stay plain Python.
"""

from __future__ import annotations

from typing import Any


class TracklyError(Exception):
    """Base class: an expected failure with an HTTP status and a sentence for a person."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors
        self.extra = extra


class BadRequest(TracklyError):
    pass


class Unauthorized(TracklyError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str = "Authentication is required.", **kw: Any) -> None:
        headers = kw.pop("headers", None) or {}
        headers.setdefault("WWW-Authenticate", 'Bearer realm="trackly"')
        super().__init__(detail, headers=headers, **kw)


class Forbidden(TracklyError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(TracklyError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(TracklyError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PreconditionFailed(TracklyError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PayloadTooLarge(TracklyError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(TracklyError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class UriTooLong(TracklyError):
    status = 414
    slug = "uri-too-long"
    title = "URI too long"


class Unprocessable(TracklyError):
    status = 422
    slug = "validation-error"
    title = "Unprocessable content"


class PreconditionRequired(TracklyError):
    status = 428
    slug = "precondition-required"
    title = "Precondition required"


class TooManyRequests(TracklyError):
    status = 429
    slug = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **kw: Any) -> None:
        headers = kw.pop("headers", None) or {}
        headers["Retry-After"] = str(max(1, int(retry_after)))
        super().__init__(detail, headers=headers, **kw)


class ServiceUnavailable(TracklyError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"
