"""Validated shapes of imported rows: a CSV row or a GitHub issue/comment becomes one of these,
or a `RowProblem` that names the field and what is wrong with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trackly.comments.schemas import BODY_MAX
from trackly.issues.schemas import DESCRIPTION_MAX, Title, to_utc
from trackly.labels.schemas import DEFAULT_COLOR, NAME_MAX
from trackly.labels.schemas import DESCRIPTION_MAX as LABEL_DESCRIPTION_MAX
from trackly.models import Severity, Status

GITHUB_NOREPLY = "users.noreply.github.com"


class RowProblem(Exception):
    """This row cannot be imported; the message says why, for a person."""


class Person(BaseModel):
    key: str = Field(description="An email, or a GitHub login.")
    name: str | None = None


class LabelIn(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    color: str = DEFAULT_COLOR
    description: str = ""

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        value = value if value.startswith("#") else "#" + value
        ok = len(value) == 7 and all(c in "0123456789abcdefABCDEF" for c in value[1:])
        return value.lower() if ok else DEFAULT_COLOR

    @field_validator("description")
    @classmethod
    def _short(cls, value: str) -> str:
        return value[:LABEL_DESCRIPTION_MAX]


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"'{str(value)[:40]}' is not an ISO 8601 time") from None
    return to_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


class IssueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: str | None = Field(default=None, max_length=200)
    title: Title
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    severity: Severity = Severity.MEDIUM
    status: Status = Status.OPEN
    labels: list[LabelIn] = Field(default_factory=list)
    reporter: Person
    assignee: Person | None = None
    closed_by: Person | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    source_url: str | None = Field(default=None, max_length=2048)

    @field_validator("created_at", "updated_at", "closed_at", mode="before")
    @classmethod
    def _times(cls, value: Any) -> datetime | None:
        return _time(value)

    @field_validator("severity", "status", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("source_url")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        return web_link(value)


def web_link(value: str | None) -> str | None:
    """An http(s) URL with a host, or None; anything else (javascript:, data:, relative) is refused."""
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("must be an http(s) URL")
    return value


class CommentIn(BaseModel):
    source_id: str = Field(max_length=200)
    issue_source_id: str = Field(max_length=200)
    author: Person
    body: str = Field(min_length=1, max_length=BODY_MAX)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("created_at", "updated_at", mode="before")
    @classmethod
    def _times(cls, value: Any) -> datetime | None:
        return _time(value)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[:3]
        parts = []
        for item in first:
            where = ".".join(str(p) for p in item["loc"]) or "row"
            msg = item["msg"]
            if item["type"] == "missing":
                msg = "is required"
            parts.append(f"{where}: {msg}")
        raise RowProblem("; ".join(parts) + ".") from None


def _nul_free(data: Any) -> None:
    if isinstance(data, str) and "\x00" in data:
        raise RowProblem("The row contains the NUL character (U+0000), which text cannot hold.")
    if isinstance(data, dict):
        for value in data.values():
            _nul_free(value)
    if isinstance(data, list):
        for value in data:
            _nul_free(value)


# --- CSV -------------------------------------------------------------------------------------


def from_csv(data: dict[str, Any]) -> IssueIn:
    if "_width" in data:
        raise RowProblem(f"The row does not match the header: {data['_width']}.")
    _nul_free(data)

    def text(name: str) -> str | None:
        value = data.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    reporter = text("reporter_email")
    if reporter is None:
        raise RowProblem(
            "reporter_email is empty: every issue needs the email of the person who reported it."
        )
    assignee = text("assignee_email")
    fields: dict[str, Any] = {
        "source_id": text("id"),
        "title": data.get("title", ""),
        "description": data.get("description") or "",
        "labels": [{"name": name} for name in data.get("labels") or []],
        "reporter": {"key": reporter, "name": text("reporter_name")},
        "assignee": {"key": assignee, "name": text("assignee_name")} if assignee else None,
        "created_at": text("created_at"),
        "updated_at": text("updated_at"),
        "source_url": text("source_url"),
    }
    for name in ("severity", "status"):
        if text(name):
            fields[name] = text(name)
    return validated(IssueIn, fields)


# --- GitHub ----------------------------------------------------------------------------------


def _login(user: Any) -> Person | None:
    if isinstance(user, dict) and isinstance(user.get("login"), str) and user["login"]:
        return Person(key=user["login"], name=user["login"])
    return None


def from_github_issue(item: dict[str, Any], *, severity_labels: dict[str, str]) -> IssueIn:
    _nul_free(item)
    reporter = _login(item.get("user"))
    if reporter is None:
        raise RowProblem("The issue has no user.login (who opened it).")
    labels = []
    severity: str = Severity.MEDIUM.value
    wanted = {k.lower(): v for k, v in severity_labels.items()}
    for raw in item.get("labels") or []:
        label = {"name": raw} if isinstance(raw, str) else raw
        if not isinstance(label, dict) or not label.get("name"):
            continue
        labels.append(
            {
                "name": str(label["name"]),
                "color": str(label.get("color") or DEFAULT_COLOR),
                "description": str(label.get("description") or ""),
            }
        )
        severity = wanted.get(str(label["name"]).lower(), severity)
    state = item.get("state")
    if state not in ("open", "closed"):
        raise RowProblem(f"state: '{str(state)[:20]}' is not open or closed.")
    reason = item.get("state_reason")
    if state == "closed" and reason == "not_planned":
        # Trackly has no "won't do" status: the issue is DONE and says why with a label.
        labels.append({"name": "not planned", "color": "#ffffff", "description": "Closed as not planned"})
    assignees = [p for p in (_login(a) for a in item.get("assignees") or [item.get("assignee")]) if p]
    fields = {
        "source_id": str(item.get("id") or item.get("number")),
        "title": item.get("title") or "",
        "description": item.get("body") or "",
        "severity": severity,
        "status": "DONE" if state == "closed" else "OPEN",
        "labels": labels,
        "reporter": reporter.model_dump(),
        "assignee": assignees[0].model_dump() if assignees else None,
        "closed_by": p.model_dump() if (p := _login(item.get("closed_by"))) else None,
        "created_at": item.get("created_at"),
        "updated_at": item.get("updated_at"),
        "closed_at": item.get("closed_at"),
        "source_url": item.get("html_url"),
    }
    return validated(IssueIn, fields)


def from_github_comment(item: dict[str, Any], issue_source_id: str | None) -> CommentIn:
    _nul_free(item)
    author = _login(item.get("user"))
    if author is None:
        raise RowProblem("The comment has no user.login (who wrote it).")
    if issue_source_id is None:
        raise RowProblem(
            f"The comment's issue ({str(item.get('issue_url'))[:120]}) is not in the file; "
            "export the repository's issues together with its comments."
        )
    return validated(
        CommentIn,
        {
            "source_id": str(item.get("id")),
            "issue_source_id": issue_source_id,
            "author": author.model_dump(),
            "body": item.get("body") or "",
            "created_at": item.get("created_at"),
            "updated_at": item.get("updated_at"),
        },
    )
