"""The full export: one versioned NDJSON archive of the whole tracker, written to an append blob
by a timer, a chunk of rows per transaction.

Format (version 1; docs/import-export.md): one JSON object per line, each with a `kind`:
`archive` (the first line: format and version), then every `user` (no credentials), `label`,
`issue` (with its label ids), `comment`, `watcher`, `attachment` (metadata; each followed by its
`attachment_data` chunks when files are included), `event` (the history), and `end` (the counts).
Records refer to each other by the ids of the exporting tracker.

Each chunk appends with the blob's expected length as a condition (`appendpos`), so a run that
died after appending but before committing its position is noticed by the next one, which
starts the archive again instead of writing a record twice.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from trackly import clock
from trackly.attachments import storage as blobs
from trackly.config import Settings
from trackly.models import (
    Attachment,
    AttachmentStatus,
    Comment,
    Event,
    ExportJob,
    Issue,
    IssueLabel,
    Label,
    User,
    Watcher,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARCHIVE_KIND = "trackly-archive"
# Azure appends blocks of at most 4 MiB; file bytes go in chunks that stay below it as base64.
MAX_APPEND = 4 * 1024 * 1024
FILE_CHUNK = 2 * 1024 * 1024


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None


@dataclass(frozen=True)
class Phase:
    kind: str
    query: Callable[[], Select[Any]]
    key: Callable[[Any], list[Any]]  # the keyset position after a row
    after: Callable[[list[Any]], Any]  # the WHERE for "after this position"
    record: Callable[[Any], dict[str, Any]]


def _user(u: User) -> dict[str, Any]:
    return {
        "id": str(u.id),
        "email": u.email,
        "full_name": u.full_name,
        "role": u.role.value,
        "is_active": u.is_active,
        "created_at": _iso(u.created_at),
    }


def _label(label: Label) -> dict[str, Any]:
    return {
        "id": str(label.id),
        "name": label.name,
        "color": label.color,
        "description": label.description,
        "created_at": _iso(label.created_at),
    }


def _issue(i: Issue) -> dict[str, Any]:
    return {
        "id": str(i.id),
        "title": i.title,
        "description": i.description,
        "severity": i.severity.value,
        "status": i.status.value,
        "created_by": _s(i.created_by),
        "updated_by": _s(i.updated_by),
        "assignee_id": _s(i.assignee_id),
        "file_url": i.file_url,
        "source_url": i.source_url,
        "version": i.version,
        "created_at": _iso(i.created_at),
        "updated_at": _iso(i.updated_at),
    }


def _comment(c: Comment) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "issue_id": str(c.issue_id),
        "author_id": _s(c.author_id),
        "body": c.body,
        "version": c.version,
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
        "edited_at": _iso(c.edited_at),
    }


def _watcher(w: Watcher) -> dict[str, Any]:
    return {"issue_id": str(w.issue_id), "user_id": str(w.user_id), "created_at": _iso(w.created_at)}


def _attachment(a: Attachment) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "issue_id": _s(a.issue_id),
        "uploaded_by": _s(a.uploaded_by),
        "filename": a.filename,
        "content_type": a.content_type,
        "size_bytes": a.size_bytes,
        "created_at": _iso(a.created_at),
        "completed_at": _iso(a.completed_at),
    }


def _event(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": e.type,
        "issue_id": _s(e.issue_id),
        "actor_id": _s(e.actor_id),
        "audience_owner_id": _s(e.audience_owner_id),
        "payload": e.payload,
        "created_at": _iso(e.created_at),
    }


def _by_id(model: Any) -> tuple[Callable[[Any], list[Any]], Callable[[list[Any]], Any]]:
    def key(row: Any) -> list[Any]:
        return [str(row.id) if isinstance(row.id, uuid.UUID) else row.id]

    def after(values: list[Any]) -> Any:
        value = values[0]
        return model.id > (uuid.UUID(value) if isinstance(value, str) else value)

    return key, after


PHASES: list[Phase] = [
    Phase("user", lambda: select(User).order_by(User.id), *_by_id(User), _user),
    Phase("label", lambda: select(Label).order_by(Label.id), *_by_id(Label), _label),
    Phase("issue", lambda: select(Issue).order_by(Issue.id), *_by_id(Issue), _issue),
    Phase("comment", lambda: select(Comment).order_by(Comment.id), *_by_id(Comment), _comment),
    Phase(
        "watcher",
        lambda: select(Watcher).order_by(Watcher.issue_id, Watcher.user_id),
        lambda w: [str(w.issue_id), str(w.user_id)],
        lambda v: tuple_(Watcher.issue_id, Watcher.user_id) > tuple_(uuid.UUID(v[0]), uuid.UUID(v[1])),
        _watcher,
    ),
    Phase(
        "attachment",
        lambda: (
            select(Attachment)
            .where(Attachment.status == AttachmentStatus.ACTIVE, Attachment.issue_id.is_not(None))
            .order_by(Attachment.id)
        ),
        *_by_id(Attachment),
        _attachment,
    ),
    Phase("event", lambda: select(Event).order_by(Event.id), *_by_id(Event), _event),
]
PHASE_NAMES = [p.kind for p in PHASES]


def _line(kind: str, record: dict[str, Any]) -> bytes:
    return (json.dumps({"kind": kind, **record}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class PositionLost(Exception):
    """The blob is not as long as the job says: an earlier run appended without committing."""


class Appender:
    """Appends to the job's append blob, at most MAX_APPEND bytes per block, each conditioned on
    the blob's expected length."""

    def __init__(self, store: blobs.Storage, job: ExportJob) -> None:
        self.client = store.container.get_blob_client(job.blob_name)
        self.job = job
        self.buffer = bytearray()

    def create(self) -> None:
        with blobs.translate_errors():
            self.client.create_append_blob(content_settings=_ndjson_settings())
        self.job.bytes_written = 0

    def write(self, data: bytes) -> None:
        if len(self.buffer) + len(data) > MAX_APPEND:
            self.flush()
        if len(data) > MAX_APPEND:
            raise ValueError("an archive line longer than an append block")
        self.buffer += data

    def flush(self) -> None:
        if not self.buffer:
            return
        from azure.core.exceptions import HttpResponseError

        try:
            with blobs.translate_errors():
                self.client.append_block(bytes(self.buffer), appendpos_condition=self.job.bytes_written)
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise PositionLost() from None
            raise
        self.job.bytes_written += len(self.buffer)
        self.buffer.clear()


def _ndjson_settings() -> Any:
    from azure.storage.blob import ContentSettings

    return ContentSettings(content_type="application/x-ndjson")


def _file_records(store: blobs.Storage, attachment: Attachment) -> Iterator[bytes]:
    """The attachment's bytes as `attachment_data` lines (`seq` from 0, `last` on the final one)."""
    offset, seq = 0, 0
    size = attachment.size_bytes
    while True:
        length = min(FILE_CHUNK, size - offset)
        data = blobs.read_range(store, attachment.blob_name, offset=offset, length=length) if length else b""
        offset += len(data)
        last = offset >= size or not data
        yield _line(
            "attachment_data",
            {
                "attachment_id": str(attachment.id),
                "seq": seq,
                "last": last,
                "data": base64.b64encode(data).decode(),
            },
        )
        seq += 1
        if last:
            return


def _labels_of(issue_ids: list[uuid.UUID], *, session: Session) -> dict[uuid.UUID, list[str]]:
    out: dict[uuid.UUID, list[str]] = {}
    if issue_ids:
        pairs = session.execute(
            select(IssueLabel.issue_id, IssueLabel.label_id)
            .where(IssueLabel.issue_id.in_(issue_ids))
            .order_by(IssueLabel.issue_id, IssueLabel.label_id)
        )
        for issue_id, label_id in pairs:
            out.setdefault(issue_id, []).append(str(label_id))
    return out


def step(job: ExportJob, *, session: Session, settings: Settings) -> bool:
    """Write the next chunk of `job` (locked by the caller); True when the archive is complete."""
    store = blobs.get_storage(settings)
    appender = Appender(store, job)
    state = dict(job.state or {})
    counts = dict(job.counts or {})
    try:
        if not state:
            store.ensure_container()
            appender.create()
            appender.write(
                _line(
                    ARCHIVE_KIND,
                    {
                        "format_version": FORMAT_VERSION,
                        "exported_at": clock.now().isoformat(),
                        "include_files": job.include_files,
                        "kinds": PHASE_NAMES,
                    },
                )
            )
            state = {"phase": PHASE_NAMES[0], "after": None}
        phase = PHASES[PHASE_NAMES.index(state["phase"])]
        query = phase.query()
        if state.get("after") is not None:
            query = query.where(phase.after(state["after"]))
        rows = session.scalars(query.limit(settings.EXPORT_CHUNK_ROWS)).all()
        labels = _labels_of([row.id for row in rows], session=session) if phase.kind == "issue" else {}
        for row in rows:
            record = phase.record(row)
            if phase.kind == "issue":
                record["labels"] = labels.get(row.id, [])
            appender.write(_line(phase.kind, record))
            counts[phase.kind] = counts.get(phase.kind, 0) + 1
            if phase.kind == "attachment" and job.include_files:
                for line in _file_records(store, row):
                    appender.write(line)
        if rows:
            state["after"] = phase.key(rows[-1])
        done = False
        if len(rows) < settings.EXPORT_CHUNK_ROWS:
            position = PHASE_NAMES.index(phase.kind)
            if position + 1 < len(PHASES):
                state = {"phase": PHASE_NAMES[position + 1], "after": None}
            else:
                appender.write(_line("end", {"counts": counts}))
                done = True
        appender.flush()
    except PositionLost:
        log.warning("export %s: the archive is longer than recorded; starting it again", job.id)
        job.state, job.counts, job.bytes_written = {}, {}, 0
        return False
    job.state, job.counts = state, counts
    return done


def download_url(job: ExportJob, *, settings: Settings) -> tuple[str, datetime]:
    from datetime import timedelta

    from azure.storage.blob import BlobSasPermissions

    store = blobs.get_storage(settings)
    expires = clock.now() + timedelta(minutes=settings.EXPORT_LINK_MINUTES)
    name = f"trackly-archive-{job.created_at:%Y%m%d-%H%M%S}.ndjson"
    url = store.sas_url(
        job.blob_name,
        permission=BlobSasPermissions(read=True),
        expires_at=expires,
        content_disposition=f'attachment; filename="{name}"',
        content_type="application/x-ndjson",
    )
    return url, expires
