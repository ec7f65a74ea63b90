"""Applying import records: one savepoint per record, so a bad row gets its own problem and the
others go in. Idempotent per (source, source id) through `import_links`; a dry run reads
everything a real run would and writes nothing but the job's own results.

Users are matched by email (case-insensitive; `mapping.users` can send a file's person to an
existing account). Anyone else becomes a placeholder: a deactivated account with no password
and no sign-in link, which can never sign in; or, with `mapping.unknown_users = "problem"`,
their rows are refused.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from trackly import clock
from trackly.attachments import storage as blobs
from trackly.attachments.service import blob_name_for
from trackly.config import Settings
from trackly.events.types import EventType
from trackly.issues.schemas import DESCRIPTION_MAX, TITLE_MAX
from trackly.labels.schemas import DEFAULT_COLOR
from trackly.models import (
    Attachment,
    AttachmentStatus,
    Comment,
    Event,
    ImportJob,
    ImportLink,
    ImportResult,
    Issue,
    IssueLabel,
    Label,
    Role,
    Severity,
    Status,
    User,
    Watcher,
)
from trackly.portability import rows
from trackly.portability.history import record_imported
from trackly.portability.rows import GITHUB_NOREPLY, IssueIn, RowProblem
from trackly.portability.schemas import ImportMapping
from trackly.portability.sources import Record

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Events of issues deleted before the export keep their own (new) id, the same on every run.
DELETED_ISSUES = uuid.UUID("4b3f0d2e-6c1a-4f57-9e38-2a7d5c0b9e14")


@dataclass
class Outcome:
    outcome: str
    target_id: uuid.UUID | None = None
    reason: str | None = None


@dataclass
class Context:
    job: ImportJob
    session: Session
    settings: Settings
    mapping: ImportMapping
    # GitHub: issue number -> the issue's source id (comments name their issue by number).
    github_numbers: dict[int, str] = field(default_factory=dict)
    archive_files: bool = False
    cache: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)
    row_cache: list[tuple[str, str]] = field(default_factory=list)
    names: dict[uuid.UUID, str | None] = field(default_factory=dict)
    # Links known in this chunk (prefetched, or made by its rows); new ones are written in one
    # statement when the chunk ends (`flush_links`), those of a refused row never.
    links: dict[tuple[str, str], uuid.UUID | None] = field(default_factory=dict)
    row_links: list[tuple[str, str, uuid.UUID]] = field(default_factory=list)
    pending_links: list[tuple[str, str, uuid.UUID]] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.job.dry_run

    @property
    def source(self) -> str:
        return self.job.source

    def remember(self, kind: str, key: str, value: uuid.UUID) -> uuid.UUID:
        self.cache[(kind, key)] = value
        self.row_cache.append((kind, key))
        return value


# --- links ----------------------------------------------------------------------------------


def linked(ctx: Context, kind: str, source_id: str | None) -> uuid.UUID | None:
    """The row a source record became (a dry run also sees what it would have created)."""
    if source_id is None:
        return None
    if (kind, source_id) in ctx.links:
        known = ctx.links[(kind, source_id)]
        if known is not None or not ctx.dry_run:
            return known
    target = ctx.session.scalar(
        select(ImportLink.target_id).where(
            ImportLink.source == ctx.source, ImportLink.kind == kind, ImportLink.source_id == source_id
        )
    )
    if target is None and ctx.dry_run:
        target = ctx.session.scalar(
            select(ImportResult.target_id)
            .where(
                ImportResult.job_id == ctx.job.id,
                ImportResult.kind == kind,
                ImportResult.source_id == source_id,
                ImportResult.outcome != "problem",
            )
            .limit(1)
        )
    return target


def link(ctx: Context, kind: str, source_id: str | None, target: uuid.UUID) -> None:
    if source_id is None or ctx.dry_run:
        return
    ctx.links[(kind, source_id)] = target
    ctx.row_links.append((kind, source_id, target))


def prefetch_links(ctx: Context, kind: str, source_ids: list[str]) -> None:
    """Read the links of a chunk's records in one query (absent ones are remembered as None)."""
    wanted = [sid for sid in dict.fromkeys(source_ids) if (kind, sid) not in ctx.links]
    if not wanted:
        return
    rows = ctx.session.execute(
        select(ImportLink.source_id, ImportLink.target_id).where(
            ImportLink.source == ctx.source, ImportLink.kind == kind, ImportLink.source_id.in_(wanted)
        )
    ).all()
    found = {row[0]: row[1] for row in rows}
    for sid in wanted:
        ctx.links[(kind, sid)] = found.get(sid)


def row_done(ctx: Context, *, ok: bool) -> None:
    """After a record's savepoint: keep its links, or forget them (the row was refused)."""
    if ok:
        ctx.pending_links.extend(ctx.row_links)
    else:
        for kind, sid, _target in ctx.row_links:
            ctx.links.pop((kind, sid), None)
    ctx.row_links.clear()


def flush_links(ctx: Context) -> None:
    if not ctx.pending_links:
        return
    now = clock.now()
    statement = pg_insert(ImportLink)
    ctx.session.execute(
        statement.on_conflict_do_update(
            index_elements=["source", "kind", "source_id"], set_={"target_id": statement.excluded.target_id}
        ),
        [
            {"source": ctx.source, "kind": kind, "source_id": sid, "target_id": target, "created_at": now}
            for kind, sid, target in ctx.pending_links
        ],
    )
    ctx.pending_links.clear()


# --- people and labels ----------------------------------------------------------------------


def _email_for(ctx: Context, person: rows.Person) -> tuple[str, bool]:
    """The email to look up, and whether the mapping chose it."""
    key = person.key.strip()
    mapped = ctx.mapping.users.get(key) or ctx.mapping.users.get(key.lower())
    if mapped:
        return mapped.strip(), True
    if ctx.source == "github" and "@" not in key:
        return f"{key}@{GITHUB_NOREPLY}", False
    return key, False


def user_for(
    ctx: Context, person: rows.Person, *, role: Role = Role.REPORTER, name: str | None = None
) -> uuid.UUID:
    email, mapped = _email_for(ctx, person)
    cached = ctx.cache.get(("user", email.lower()))
    if cached is not None:
        return cached
    found = ctx.session.scalar(select(User.id).where(func.lower(User.email) == email.lower()))
    if found is not None:
        return ctx.remember("user", email.lower(), found)
    if mapped:
        raise RowProblem(f"mapping.users sends '{person.key[:100]}' to {email[:200]}, which has no account.")
    if ctx.mapping.unknown_users == "problem":
        raise RowProblem(f"No account has the email {email[:200]} (mapping.unknown_users is 'problem').")
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise RowProblem(f"'{email[:100]}' is not an email address.")
    user_id = uuid.uuid4()
    if not ctx.dry_run:
        now = clock.now()
        ctx.session.add(
            User(
                id=user_id,
                email=email,
                full_name=(name or person.name or email.split("@")[0])[:200],
                role=role,
                password_hash=None,  # a placeholder: no password, no SSO link, deactivated
                is_active=False,
                created_at=now,
                updated_at=now,
            )
        )
        ctx.session.flush()
    return ctx.remember("user", email.lower(), user_id)


def label_for(ctx: Context, label: rows.LabelIn, *, created_at: datetime | None = None) -> uuid.UUID:
    key = label.name.strip().lower()
    cached = ctx.cache.get(("label", key))
    if cached is not None:
        return cached
    found = ctx.session.scalar(select(Label.id).where(func.lower(Label.name) == key))
    if found is not None:
        return ctx.remember("label", key, found)
    label_id = uuid.uuid4()
    if not ctx.dry_run:
        ctx.session.add(
            Label(
                id=label_id,
                name=label.name.strip(),
                color=label.color,
                description=label.description,
                created_at=created_at or clock.now(),
            )
        )
        ctx.session.flush()
    return ctx.remember("label", key, label_id)


def _set_labels(ctx: Context, issue_id: uuid.UUID, label_ids: list[uuid.UUID]) -> None:
    ctx.session.execute(delete(IssueLabel).where(IssueLabel.issue_id == issue_id))
    _add_labels(ctx, issue_id, label_ids)


def _add_labels(ctx: Context, issue_id: uuid.UUID, label_ids: list[uuid.UUID]) -> None:
    if label_ids:
        ctx.session.execute(
            pg_insert(IssueLabel).on_conflict_do_nothing(),
            [{"issue_id": issue_id, "label_id": label_id} for label_id in dict.fromkeys(label_ids)],
        )


def _watch(ctx: Context, issue_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> bool:
    result = ctx.session.execute(
        pg_insert(Watcher)
        .values(issue_id=issue_id, user_id=user_id, created_at=at)
        .on_conflict_do_nothing()
        .returning(Watcher.user_id)
    )
    return result.first() is not None


def _name(ctx: Context, user_id: uuid.UUID | None) -> str | None:
    if user_id is None:
        return None
    if user_id not in ctx.names:
        ctx.names[user_id] = ctx.session.scalar(select(User.full_name).where(User.id == user_id))
    return ctx.names[user_id]


# --- CSV and GitHub issues and comments ----------------------------------------------------


def _issue_values(ctx: Context, data: IssueIn) -> dict[str, Any]:
    return {
        "title": data.title,
        "description": data.description,
        "severity": data.severity,
        "status": data.status,
        "assignee_id": user_for(ctx, data.assignee, role=Role.MAINTAINER) if data.assignee else None,
        "source_url": data.source_url,
    }


def apply_issue(ctx: Context, data: IssueIn) -> Outcome:
    reporter = user_for(ctx, data.reporter)
    values = _issue_values(ctx, data)
    label_ids = [label_for(ctx, label) for label in data.labels]
    existing_id = linked(ctx, "issue", data.source_id)
    existing = ctx.session.get(Issue, existing_id, with_for_update=True) if existing_id else None
    if existing is not None:
        current = set(
            ctx.session.scalars(select(IssueLabel.label_id).where(IssueLabel.issue_id == existing.id))
        )
        changes = {k: [getattr(existing, k), v] for k, v in values.items() if getattr(existing, k) != v}
        labels_changed = current != set(label_ids)
        if not changes and not labels_changed:
            return Outcome("skipped", existing.id, "unchanged since the last import")
        if ctx.dry_run:
            return Outcome("updated", existing.id)
        for name, (_old, new) in changes.items():
            setattr(existing, name, new)
        existing.version += 1
        existing.updated_at = data.updated_at or clock.now()
        existing.updated_by = reporter
        if labels_changed:
            _set_labels(ctx, existing.id, label_ids)
        ctx.session.flush()
        record_imported(
            session=ctx.session,
            type=EventType.ISSUE_STATUS_CHANGED if "status" in changes else EventType.ISSUE_UPDATED,
            issue=existing,
            actor_id=None,
            actor_name=None,
            at=existing.updated_at,
            changes={k: [_plain(o), _plain(n)] for k, (o, n) in changes.items()},
        )
        return Outcome("updated", existing.id)
    issue_id = uuid.uuid4()
    if ctx.dry_run:
        return Outcome("created", issue_id)
    created = data.created_at or clock.now()
    closer = user_for(ctx, data.closed_by, role=Role.MAINTAINER) if data.closed_by else None
    issue = Issue(
        id=issue_id,
        created_by=reporter,
        updated_by=reporter,
        created_at=created,
        updated_at=data.updated_at or created,
        version=1,
        **{**values, "status": Status.OPEN},
    )
    ctx.session.add(issue)
    # The events' payloads are built from the issue as it is at each step (created OPEN, then
    # moved); the issue itself is written once, with its final status, in the same flush.
    tracked = ("title", "description", "severity", "status", "file_url", "assignee_id")
    record_imported(
        session=ctx.session,
        type=EventType.ISSUE_CREATED,
        issue=issue,
        actor_id=reporter,
        actor_name=_name(ctx, reporter),
        at=created,
        changes={name: [None, _plain(getattr(issue, name))] for name in tracked},
    )
    if data.status is not Status.OPEN:
        issue.status = data.status
        record_imported(
            session=ctx.session,
            type=EventType.ISSUE_STATUS_CHANGED,
            issue=issue,
            actor_id=closer,
            actor_name=_name(ctx, closer),
            at=data.closed_at or issue.updated_at,
            changes={"status": [Status.OPEN.value, data.status.value]},
        )
    ctx.session.flush()
    _add_labels(ctx, issue_id, label_ids)
    watchers = [reporter] + ([issue.assignee_id] if issue.assignee_id not in (None, reporter) else [])
    ctx.session.execute(
        pg_insert(Watcher).on_conflict_do_nothing(),
        [{"issue_id": issue_id, "user_id": user_id, "created_at": created} for user_id in watchers],
    )
    link(ctx, "issue", data.source_id, issue_id)
    return Outcome("created", issue_id)


def apply_comment(ctx: Context, data: rows.CommentIn) -> Outcome:
    issue_id = linked(ctx, "issue", data.issue_source_id)
    if issue_id is None:
        raise RowProblem(f"The comment's issue ({data.issue_source_id}) was not imported (see its row).")
    author = user_for(ctx, data.author)
    existing_id = linked(ctx, "comment", data.source_id)
    existing = ctx.session.get(Comment, existing_id) if existing_id else None
    if existing is not None:
        if existing.body == data.body:
            return Outcome("skipped", existing.id, "unchanged since the last import")
        if ctx.dry_run:
            return Outcome("updated", existing.id)
        existing.body = data.body
        existing.version += 1
        existing.updated_at = existing.edited_at = data.updated_at or clock.now()
        return Outcome("updated", existing.id)
    comment_id = uuid.uuid4()
    if ctx.dry_run:
        return Outcome("created", comment_id)
    issue = ctx.session.get(Issue, issue_id, with_for_update=True)
    if issue is None:
        raise RowProblem("The comment's issue was deleted after it was imported.")
    created = data.created_at or clock.now()
    updated = data.updated_at or created
    comment = Comment(
        id=comment_id,
        issue_id=issue_id,
        author_id=author,
        body=data.body,
        version=1,
        created_at=created,
        updated_at=updated,
        edited_at=updated if updated != created else None,
    )
    ctx.session.add(comment)
    ctx.session.flush()
    record_imported(
        session=ctx.session,
        type=EventType.COMMENT_ADDED,
        issue=issue,
        actor_id=author,
        actor_name=_name(ctx, author),
        at=created,
        extra={"comment": {"id": str(comment_id), "author_id": str(author)}},
    )
    link(ctx, "comment", data.source_id, comment_id)
    return Outcome("created", comment_id)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    return value.value if isinstance(value, (Status, Severity)) else value


# --- the NDJSON archive (a restore) ---------------------------------------------------------


def _archived_user(
    ctx: Context, kind: str, data: dict[str, Any], key: str, *, required: bool
) -> uuid.UUID | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RowProblem(f"{key} is missing.")
        return None
    target = linked(ctx, "user", str(value))
    if target is None:
        raise RowProblem(f"{key} refers to user {str(value)[:40]}, which is not among the file's users.")
    return target


def _time_of(data: dict[str, Any], key: str, *, required: bool = True) -> datetime | None:
    try:
        value = rows._time(data.get(key))
    except ValueError as exc:
        raise RowProblem(f"{key}: {exc}.") from None
    if value is None and required:
        raise RowProblem(f"{key} is missing.")
    return value


def _text(data: dict[str, Any], key: str, limit: int, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise RowProblem(f"{key} must be text.")
    if len(value) > limit:
        raise RowProblem(f"{key} is longer than {limit} characters.")
    if "\x00" in value:
        raise RowProblem(f"{key} contains the NUL character (U+0000).")
    return value


def _link(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, str) and value.startswith("/api/files/"):
        return value  # a file uploaded with POST /files/upload (see docs: not re-linked on import)
    try:
        return rows.web_link(value if isinstance(value, str) or value is None else str(value))
    except ValueError:
        raise RowProblem(f"{key}: '{str(value)[:60]}' is not an http(s) URL.") from None


def _enum(enum: type[Any], data: dict[str, Any], key: str) -> Any:
    try:
        return enum(data.get(key))
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise RowProblem(f"{key}: '{str(data.get(key))[:30]}' is not one of {allowed}.") from None


def restore_user(ctx: Context, data: dict[str, Any]) -> Outcome:
    email = _text(data, "email", 320)
    person = rows.Person(key=email, name=data.get("full_name"))
    before = ctx.session.scalar(
        select(User.id).where(func.lower(User.email) == _email_for(ctx, person)[0].lower())
    )
    role = _enum(Role, data, "role")
    target = user_for(ctx, person, role=role, name=_text(data, "full_name", 200))
    link(ctx, "user", str(data.get("id")), target)
    if before is not None:
        return Outcome("skipped", target, "matched an existing account by email")
    return Outcome("created", target, "a deactivated placeholder (cannot sign in)")


def restore_label(ctx: Context, data: dict[str, Any]) -> Outcome:
    label = rows.validated(
        rows.LabelIn,
        {
            "name": _text(data, "name", 50),
            "color": data.get("color") or DEFAULT_COLOR,
            "description": data.get("description") or "",
        },
    )
    existed = ctx.session.scalar(select(Label.id).where(func.lower(Label.name) == label.name.strip().lower()))
    target = label_for(ctx, label, created_at=_time_of(data, "created_at", required=False))
    link(ctx, "label", str(data.get("id")), target)
    return Outcome("skipped" if existed else "created", target, "matched by name" if existed else None)


def restore_issue(ctx: Context, data: dict[str, Any]) -> Outcome:
    source_id = str(data.get("id"))
    values: dict[str, Any] = {
        "title": _text(data, "title", TITLE_MAX),
        "description": _text(data, "description", DESCRIPTION_MAX, default=""),
        "severity": _enum(Severity, data, "severity"),
        "status": _enum(Status, data, "status"),
        "created_by": _archived_user(ctx, "issue", data, "created_by", required=True),
        "updated_by": _archived_user(ctx, "issue", data, "updated_by", required=False),
        "assignee_id": _archived_user(ctx, "issue", data, "assignee_id", required=False),
        "file_url": _link(data, "file_url"),
        "source_url": _link(data, "source_url"),
        "version": int(data.get("version") or 1),
        "created_at": _time_of(data, "created_at"),
        "updated_at": _time_of(data, "updated_at"),
    }
    if not values["title"].strip():
        raise RowProblem("title is empty.")
    label_ids = []
    for label in data.get("labels") or []:
        target = linked(ctx, "label", str(label))
        if target is None:
            raise RowProblem(f"labels: label {str(label)[:40]} is not among the file's labels.")
        label_ids.append(target)
    existing_id = linked(ctx, "issue", source_id)
    existing = ctx.session.get(Issue, existing_id, with_for_update=True) if existing_id else None
    if existing is not None:
        current = set(
            ctx.session.scalars(select(IssueLabel.label_id).where(IssueLabel.issue_id == existing.id))
        )
        changed = {k: v for k, v in values.items() if getattr(existing, k) != v}
        if not changed and current == set(label_ids):
            return Outcome("skipped", existing.id, "unchanged since the last import")
        if not ctx.dry_run:
            for name, value in changed.items():
                setattr(existing, name, value)
            _set_labels(ctx, existing.id, label_ids)
        return Outcome("updated", existing.id)
    issue_id = uuid.uuid4()
    if ctx.dry_run:
        return Outcome("created", issue_id)
    ctx.session.add(Issue(id=issue_id, **values))
    ctx.session.flush()
    _set_labels(ctx, issue_id, label_ids)
    link(ctx, "issue", source_id, issue_id)
    return Outcome("created", issue_id)


def _archived_issue(ctx: Context, data: dict[str, Any]) -> uuid.UUID:
    target = linked(ctx, "issue", str(data.get("issue_id")))
    if target is None:
        raise RowProblem(
            f"issue_id refers to issue {str(data.get('issue_id'))[:40]}, which was not imported."
        )
    return target


def restore_comment(ctx: Context, data: dict[str, Any]) -> Outcome:
    source_id = str(data.get("id"))
    values: dict[str, Any] = {
        "issue_id": _archived_issue(ctx, data),
        "author_id": _archived_user(ctx, "comment", data, "author_id", required=False),
        "body": _text(data, "body", 10_000),
        "version": int(data.get("version") or 1),
        "created_at": _time_of(data, "created_at"),
        "updated_at": _time_of(data, "updated_at"),
        "edited_at": _time_of(data, "edited_at", required=False),
    }
    existing_id = linked(ctx, "comment", source_id)
    existing = ctx.session.get(Comment, existing_id) if existing_id else None
    if existing is not None:
        changed = {k: v for k, v in values.items() if getattr(existing, k) != v}
        if not changed:
            return Outcome("skipped", existing.id, "unchanged since the last import")
        if not ctx.dry_run:
            for name, value in changed.items():
                setattr(existing, name, value)
        return Outcome("updated", existing.id)
    comment_id = uuid.uuid4()
    if ctx.dry_run:
        return Outcome("created", comment_id)
    ctx.session.add(Comment(id=comment_id, **values))
    ctx.session.flush()
    link(ctx, "comment", source_id, comment_id)
    return Outcome("created", comment_id)


def restore_watcher(ctx: Context, data: dict[str, Any]) -> Outcome:
    issue_id = _archived_issue(ctx, data)
    user_id = _archived_user(ctx, "watcher", data, "user_id", required=True)
    assert user_id is not None
    if ctx.dry_run:
        return Outcome("created", None)
    at = _time_of(data, "created_at") or clock.now()
    added = _watch(ctx, issue_id, user_id, at)
    return Outcome("created" if added else "skipped", None, None if added else "already watching")


def restore_attachment(ctx: Context, data: dict[str, Any]) -> Outcome:
    if not ctx.archive_files:
        return Outcome("skipped", None, "the archive was made without files")
    source_id = str(data.get("id"))
    issue_id = _archived_issue(ctx, data)
    existing = linked(ctx, "attachment", source_id)
    if existing is not None:
        return Outcome("skipped", existing, "already imported")
    attachment_id = uuid.uuid4()
    values: dict[str, Any] = {
        "filename": _text(data, "filename", 255),
        "content_type": _text(data, "content_type", 127),
        "size_bytes": int(data.get("size_bytes") or 0),
        "uploaded_by": _archived_user(ctx, "attachment", data, "uploaded_by", required=False),
        "created_at": _time_of(data, "created_at"),
        "completed_at": _time_of(data, "completed_at", required=False),
    }
    if values["size_bytes"] > ctx.settings.MAX_ATTACHMENT_BYTES:
        raise RowProblem(
            f"The file is larger than MAX_ATTACHMENT_BYTES ({ctx.settings.MAX_ATTACHMENT_BYTES})."
        )
    if ctx.dry_run:
        return Outcome("created", attachment_id)
    # PENDING until its last data chunk is in: only then is it shown on the issue.
    ctx.session.add(
        Attachment(
            id=attachment_id,
            issue_id=issue_id,
            blob_name=blob_name_for(issue_id, attachment_id),
            status=AttachmentStatus.PENDING,
            **values,
        )
    )
    ctx.session.flush()
    link(ctx, "attachment", source_id, attachment_id)
    return Outcome("created", attachment_id)


def restore_attachment_data(ctx: Context, data: dict[str, Any]) -> Outcome | None:
    target = linked(ctx, "attachment", str(data.get("attachment_id")))
    if target is None:
        raise RowProblem("attachment_id refers to an attachment that was not imported.")
    try:
        raw = base64.b64decode(str(data.get("data") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise RowProblem("data is not valid base64.") from None
    if ctx.dry_run:
        return None
    attachment = ctx.session.get(Attachment, target)
    if attachment is None or attachment.status is not AttachmentStatus.PENDING:
        return None  # complete from an earlier run
    seq = int(data.get("seq") or 0)
    store = blobs.get_storage(ctx.settings)
    client = store.container.get_blob_client(attachment.blob_name)
    with blobs.translate_errors():
        client.stage_block(_block_id(seq), raw)
        if data.get("last"):
            from azure.storage.blob import BlobBlock, ContentSettings

            client.commit_block_list(
                [BlobBlock(block_id=_block_id(i)) for i in range(seq + 1)],
                content_settings=ContentSettings(content_type=attachment.content_type),
            )
    if data.get("last"):
        attachment.status = AttachmentStatus.ACTIVE
        return Outcome("created", attachment.id, "file stored")
    return None


def _block_id(seq: int) -> str:
    return base64.b64encode(f"block-{seq:08d}".encode()).decode()


def _remap(ctx: Context, value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value in ids:
        return ids[value]
    if isinstance(value, dict):
        return {k: _remap(ctx, v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(ctx, v, ids) for v in value]
    return value


def _uuid_strings(value: Any, out: set[str]) -> None:
    if isinstance(value, str) and _UUID.match(value):
        out.add(value)
    elif isinstance(value, dict):
        for v in value.values():
            _uuid_strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _uuid_strings(v, out)


def restore_event(ctx: Context, data: dict[str, Any]) -> Outcome:
    source_id = str(data.get("id"))
    if linked(ctx, "event", source_id) is not None:
        return Outcome("skipped", None, "already imported")
    payload = data.get("payload") or {}
    if not isinstance(payload, dict) or not isinstance(data.get("type"), str):
        raise RowProblem("An event needs a type and a payload object.")
    strings: set[str] = set()
    _uuid_strings(payload, strings)
    for key in ("issue_id", "actor_id", "audience_owner_id"):
        if data.get(key):
            strings.add(str(data[key]))
    ids = (
        {
            s: str(t)
            for s, t in ctx.session.execute(
                select(ImportLink.source_id, ImportLink.target_id).where(
                    ImportLink.source == ctx.source, ImportLink.source_id.in_(strings)
                )
            )
        }
        if strings
        else {}
    )
    # Links made earlier in this chunk are not written yet.
    ids.update({sid: str(t) for (_kind, sid), t in ctx.links.items() if t is not None and sid in strings})
    issue_id = data.get("issue_id")
    if issue_id and issue_id not in ids:
        # An issue deleted before the export: its history stays together under a stable new id.
        ids[issue_id] = str(uuid.uuid5(DELETED_ISSUES, f"{ctx.source}:{issue_id}"))

    def mapped(key: str) -> uuid.UUID | None:
        value = data.get(key)
        return uuid.UUID(ids[value]) if value and value in ids else None

    at = _time_of(data, "created_at")
    if ctx.dry_run:
        return Outcome("created", None)
    event = Event(
        type=_text(data, "type", 40),
        issue_id=mapped("issue_id"),
        actor_id=mapped("actor_id"),
        audience_owner_id=mapped("audience_owner_id"),
        payload=_remap(ctx, payload, ids),
        created_at=at,
        published_at=clock.now(),
        imported=True,
    )
    ctx.session.add(event)
    ctx.session.flush()
    # Events have bigint ids; the link's target is a uuid derived from the new id.
    link(ctx, "event", source_id, uuid.uuid5(DELETED_ISSUES, f"event:{event.id}"))
    return Outcome("created", None)


RESTORERS: dict[str, Callable[[Context, dict[str, Any]], Outcome | None]] = {
    "user": restore_user,
    "label": restore_label,
    "issue": restore_issue,
    "comment": restore_comment,
    "watcher": restore_watcher,
    "attachment": restore_attachment,
    "attachment_data": restore_attachment_data,
    "event": restore_event,
}


# --- one record ---------------------------------------------------------------------------


def _source_id(record: Record) -> str | None:
    data = record.data
    if record.kind == "attachment_data":
        return None
    if record.kind in RESTORERS and record.kind != "watcher" and data.get("id") is not None:
        return str(data["id"])
    return None


def apply(ctx: Context, record: Record) -> tuple[str, Outcome | None]:
    """(kind, outcome) of one record; None when it needs no result row (a file chunk)."""
    data = record.data
    if "_problem" in data:
        return record.kind, Outcome("problem", None, str(data["_problem"]))
    if ctx.source == "csv":
        return "issue", apply_issue(ctx, rows.from_csv(data))
    if ctx.source == "github":
        if record.kind == "pull_request":
            return "issue", Outcome("skipped", None, "a pull request, not an issue")
        if record.kind == "comment":
            number = data.get("_issue_number")
            issue_source = ctx.github_numbers.get(number) if isinstance(number, int) else None
            return "comment", apply_comment(ctx, rows.from_github_comment(data, issue_source))
        return "issue", apply_issue(
            ctx, rows.from_github_issue(data, severity_labels=ctx.mapping.severity_labels)
        )
    if record.kind in ("trackly-archive", "end"):
        return record.kind, None
    restorer = RESTORERS.get(record.kind)
    if restorer is None:
        return record.kind[:16], Outcome("problem", None, f"Unknown record kind '{record.kind[:30]}'.")
    return record.kind, restorer(ctx, data)


def source_id_of(ctx: Context, record: Record) -> str | None:
    if ctx.source == "csv":
        value = record.data.get("id")
        return str(value).strip()[:200] if isinstance(value, str) and value.strip() else None
    if ctx.source == "github":
        value = record.data.get("id")
        return str(value)[:200] if value is not None else None
    return _source_id(record)
