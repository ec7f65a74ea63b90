"""Request and response bodies of the issues API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from trackly import examples as ex
from trackly import text
from trackly.attachments import links
from trackly.attachments.schemas import AttachmentOut
from trackly.labels.schemas import IssueLabelOut
from trackly.models import Severity, Status
from trackly.schemas import QueryModel, RequestModel, Schema

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
FILE_URL_MAX = 2048
SEARCH_MAX = 200


def _check_file_url(value: str) -> str | None:
    """An absolute https URL with a host; an empty string means "no link" (the original client).
    A link to a file uploaded with POST /files/upload (`http(s)://…/api/files/{id}`, any query)
    becomes the internal reference `/api/files/{id}`, which the issues service claims."""
    if value == "":
        return None
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("The link must not contain spaces or control characters.")
    uploaded = links.attachment_id_in(value)
    if uploaded is not None and urlsplit(value).scheme.lower() in ("http", "https"):
        return links.ref_for(uploaded)
    parts = urlsplit(value)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError("The link must be an absolute https:// URL.")
    return value


# Trimmed, 1-200 characters, at least one visible character and no control characters.
def _visible(title: str) -> str:
    # `\S` lets zero-width spaces, joiners and other format characters through: a title made
    # only of those shows as nothing in every list.
    return text.visible(title, what="The title")


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX, pattern=r"\S"),
    AfterValidator(_visible),
    Field(description="1-200 characters after trimming surrounding whitespace, at least one visible."),
]
Description = Annotated[
    str,
    StringConstraints(max_length=DESCRIPTION_MAX),
    Field(description="Markdown, up to 20,000 characters."),
]
FileUrl = Annotated[
    str,
    StringConstraints(max_length=FILE_URL_MAX, pattern=r"^(https?://\S+)?$"),
    AfterValidator(_check_file_url),
    Field(
        description="An https:// URL, or the `file_url` answered by `POST /files/upload` (attaches "
        "that upload), or null (an empty string is stored as null)."
    ),
]

_NOT_NULL = ("title", "description", "severity", "status")


class IssueCreate(RequestModel):
    """A new issue. The status always starts OPEN; a `status` field is refused (422)."""

    model_config = ex.examples(
        {
            "title": ex.ISSUE["title"],
            "description": ex.ISSUE["description"],
            "severity": "HIGH",
            "file_url": "https://docs.example.com/exports/bug-report.csv",
        }
    )

    title: Title
    description: Description = ""
    severity: Severity = Severity.MEDIUM
    file_url: FileUrl | None = None


class IssueUpdate(RequestModel):
    """Changed fields only (PATCH and PUT have the same partial semantics)."""

    model_config = ex.examples({"status": "TRIAGED", "assignee_id": ex.MAINTAINER_ID})

    title: Title | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    severity: Severity | SkipJsonSchema[None] = None
    status: Status | SkipJsonSchema[None] = Field(
        default=None, description="Follows the workflow; an illegal move answers 409."
    )
    file_url: FileUrl | None = None
    assignee_id: uuid.UUID | None = Field(
        default=None,
        description="An active MAINTAINER or ADMIN (staff only may assign; 422 otherwise); null unassigns.",
    )

    @field_validator(*_NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("This field cannot be null; leave it out to keep the current value.")
        return value


class IssueOut(Schema):
    model_config = ex.examples(ex.ISSUE)

    id: uuid.UUID
    title: str
    description: str
    description_html: str = Field(description="The description rendered from Markdown and sanitized.")
    severity: Severity
    status: Status
    created_by: uuid.UUID
    created_by_name: str | None
    updated_by: uuid.UUID | None
    updated_by_name: str | None
    created_at: datetime
    updated_at: datetime
    file_url: str | None = Field(
        description="An external https link, or for a file uploaded with POST /files/upload a "
        "signed link that opens it without a token for FILE_LINK_MINUTES."
    )
    version: int
    attachments: list[AttachmentOut] = Field(description="ACTIVE attachments, oldest first.")
    assignee_id: uuid.UUID | None = Field(default=None, description="The assigned maintainer or admin.")
    assignee_name: str | None = None
    labels: list[IssueLabelOut] = Field(default_factory=list, description="Sorted by name.")
    comment_count: int = Field(
        default=0,
        description="Comments on the issue (a new comment changes the ETag's digest, not the version "
        "that If-Match compares).",
    )
    allowed_transitions: list[Status] = Field(
        description="The statuses the caller may move this issue to now (workflow and role); "
        "empty for a caller who may not change statuses."
    )
    source_url: str | None = Field(
        default=None, description="Where an imported issue came from (e.g. its GitHub page); null otherwise."
    )


SortKey = Literal["created_at", "-created_at", "updated_at", "-updated_at", "severity", "-severity"]


def _aware(value: datetime | None) -> datetime | None:
    """Times without an offset are taken as UTC; others are converted to UTC here, because
    RFC 3339 allows offsets up to +/-23:59 but PostgreSQL refuses those of 16 hours or more."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return to_utc(value)


def to_utc(value: datetime) -> datetime:
    """An aware time in UTC; ValueError when the conversion leaves years 1-9999."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("The time is outside the years 1 to 9999 once converted to UTC.") from None


class IssueFilters(QueryModel):
    """What selects and orders issues: shared by the list and the export."""

    status: list[Status] | None = Field(default=None, description="Repeatable: `?status=OPEN&status=DONE`.")
    severity: list[Severity] | None = Field(default=None, description="Repeatable.")
    created_by: uuid.UUID | None = None
    assignee: uuid.UUID | Literal["me", "none"] | None = Field(
        default=None, description="A user id, `me` (assigned to the caller) or `none` (unassigned)."
    )
    label: list[Annotated[str, StringConstraints(max_length=100)]] | None = Field(
        default=None,
        max_length=10,
        description="Repeatable, all must match: a label name (any case) or id, e.g. `?label=bug&label=ui`.",
    )
    q: Annotated[str, StringConstraints(max_length=SEARCH_MAX)] | None = Field(
        default=None, description="Full-text search over title and description (web search syntax)."
    )
    created_after: datetime | None = Field(default=None, description="Created at or after this time.")
    created_before: datetime | None = Field(default=None, description="Created before this time.")
    updated_since: datetime | None = Field(default=None, description="Updated at or after this time.")
    sort: SortKey = "-created_at"

    @field_validator("created_after", "created_before", "updated_since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


class IssueListQuery(IssueFilters):
    limit: int = Field(default=20, ge=1, le=100)
    skip: int = Field(default=0, ge=0, le=1_000_000, description="Offset (the original client).")
    cursor: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="Opaque keyset cursor from a `Link: rel=next` header; not with `skip`."
    )

    @model_validator(mode="after")
    def _one_paging_mode(self) -> IssueListQuery:
        if self.cursor and self.skip:
            raise ValueError("Use either skip or cursor, not both.")
        return self


class Actor(Schema):
    id: uuid.UUID
    full_name: str | None


class HistoryEntry(Schema):
    model_config = ex.examples(
        {
            "id": 4790,
            "type": "issue_status_changed",
            "actor": {"id": ex.MAINTAINER_ID, "full_name": ex.MAINTAINER_NAME},
            "at": ex.UPDATED_AT,
            "changes": {"status": ["OPEN", "TRIAGED"]},
        }
    )

    id: int
    type: str
    actor: Actor | None = Field(description="Null when the acting account no longer exists.")
    at: datetime
    changes: dict[str, list[Any]] = Field(description="`{field: [old, new]}`")


class IssueCount(Schema):
    model_config = ex.examples({"total_issues": 64})

    total_issues: int


class IssuesByStatus(Schema):
    model_config = ex.examples({"issues_by_status": {"OPEN": 12, "TRIAGED": 7, "IN_PROGRESS": 5, "DONE": 40}})

    issues_by_status: dict[Status, int] = Field(description="Every status, zeros included.")


class IssuesBySeverity(Schema):
    model_config = ex.examples({"issues_by_severity": {"LOW": 18, "MEDIUM": 26, "HIGH": 15, "CRITICAL": 5}})

    issues_by_severity: dict[Severity, int] = Field(description="Every severity, zeros included.")
