"""Attachments: SAS uploads to Blob Storage, verification, downloads, cleanup.

Files never pass through the Function. The flow is three requests:

1. `create` stores a PENDING row and hands out a SAS URL that may *create* one blob
   (`issues/{issue_id}/{attachment_id}`, a server-generated name) for a few minutes;
2. the browser PUTs the bytes straight to Blob Storage;
3. `complete` checks what arrived (exists, exact declared size, within the limit, magic bytes or
   UTF-8/JSON for text) and marks the row ACTIVE, or deletes the blob and marks it REJECTED.

The upload SAS grants `create` but not `write`: a blob, once uploaded, cannot be overwritten
through it, so content verified by `complete` cannot be swapped afterwards (Azure and Azurite
both refuse a PUT over an existing blob with a create-only SAS).

Blob deletions that must not happen unless the database change commits (deleting an attachment
or an issue) run after commit; anything a failure leaves behind is removed by `cleanup`.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from trackly import clock, db
from trackly.attachments import sniff, storage
from trackly.attachments.schemas import (
    AttachmentCreate,
    AttachmentCreated,
    AttachmentOut,
    DownloadLink,
    UploadInstructions,
)
from trackly.auth.policy import Action, Facts, require
from trackly.config import Settings, get_settings
from trackly.errors import Conflict, NotFound, Unprocessable
from trackly.events.service import record
from trackly.events.types import EventType
from trackly.issues.access import get_visible_issue
from trackly.models import Attachment, AttachmentStatus, Issue, User

log = logging.getLogger(__name__)

BLOB_PREFIX = "issues/"
UPLOADS_PREFIX = "uploads/"  # POST /files/upload: trackly.attachments.uploads names its blobs with it
UNCLAIMED_MAX_AGE = timedelta(days=1)
# A blob under uploads/ younger than this may belong to an upload whose row is not committed yet.
UPLOAD_ORPHAN_GRACE = timedelta(minutes=30)
MAX_FILENAME_CHARS = 200
PENDING_MAX_AGE = timedelta(hours=1)
# pg_try_advisory_xact_lock key for the cleanup timer (any constant unique within the app).
CLEANUP_LOCK_KEY = 0x7472_6B61_7474_0001  # "trkatt" + 1
CLEANUP_BATCH = 500

_BLOB_NAME = re.compile(r"^issues/([0-9a-f-]{36})/([0-9a-f-]{36})$")
_UPLOAD_BLOB_NAME = re.compile(r"^uploads/([0-9a-f-]{36})$")


# --- contract used by the issues service --------------------------------------------------------


@lru_cache(maxsize=1)
def _active_query() -> Select[Attachment]:
    # Built once (every issue read runs it); the ids are bound per call.
    return (
        select(Attachment)
        .where(
            Attachment.issue_id.in_(bindparam("ids", expanding=True)),
            Attachment.status == AttachmentStatus.ACTIVE,
        )
        .order_by(Attachment.created_at, Attachment.id)
    )


def active_for_issues(
    issue_ids: list[uuid.UUID], *, session: Session
) -> dict[uuid.UUID, list[AttachmentOut]]:
    """ACTIVE attachments of several issues in one query (no N+1 in issue lists)."""
    out: dict[uuid.UUID, list[AttachmentOut]] = {i: [] for i in issue_ids}
    if not issue_ids:
        return out
    rows = session.scalars(_active_query(), {"ids": issue_ids})
    for row in rows:
        if row.issue_id is not None:  # always, given the filter; narrows the type
            out[row.issue_id].append(AttachmentOut.model_validate(row))
    return out


def on_issue_deleted(issue: Issue, *, session: Session) -> None:
    """Called by the issues service before it deletes `issue`: remove the issue's blobs.

    The rows go with the issue (ON DELETE CASCADE). The blobs are deleted after the transaction
    commits, so a rolled-back delete keeps its files. Best effort: blobs a failed delete leaves
    behind are removed later by the cleanup timer.
    """
    settings = get_settings()
    if not settings.storage_configured:
        return
    prefix = issue_prefix(issue.id)
    # Files uploaded with POST /files/upload keep their `uploads/` blob name when claimed.
    claimed_uploads = list(
        session.scalars(
            select(Attachment.blob_name).where(
                Attachment.issue_id == issue.id, Attachment.blob_name.startswith(UPLOADS_PREFIX)
            )
        )
    )

    def delete_blobs() -> None:
        store = storage.get_storage(get_settings())
        for blob in list(storage.list_blobs(store, prefix)):
            storage.delete_blob(store, blob.name)
        for name in claimed_uploads:
            storage.delete_blob(store, name)

    db.on_commit(session, delete_blobs)


# --- names -----------------------------------------------------------------------------------


def issue_prefix(issue_id: uuid.UUID) -> str:
    return f"{BLOB_PREFIX}{issue_id}/"


def blob_name_for(issue_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    return f"{issue_prefix(issue_id)}{attachment_id}"


def sanitize_filename(raw: str) -> str:
    """A display name safe for JSON, logs and Content-Disposition.

    Drops any directory part (`../../etc/passwd` -> `passwd`), control and format characters
    (`a\\r\\nb.png` -> `ab.png`), quotes and backslashes; keeps other Unicode; trims dots and
    spaces at the ends; shortens long names keeping the extension.
    """
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        ch for ch in name if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " "
    )  # control, format, surrogates, line/paragraph separators
    name = name.replace('"', "").replace("'", "").replace("`", "")
    name = re.sub(r" {2,}", " ", name).strip(" .")
    if not name:
        return "file"
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            name = stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    return name


# The extensions a saved file may carry for each verified type (the first is added when missing).
_EXTENSIONS = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg", ".jpe"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
    "text/plain": (".txt", ".text", ".log", ".md"),
    "text/csv": (".csv",),
    "application/json": (".json",),
    "application/zip": (".zip",),
}


def download_name(filename: str, content_type: str) -> str:
    """The name a browser saves the file under ends with an extension of its verified type, so
    `invoice.pdf.exe` or `page.html` declared as image/png is saved as `....png` and opened as
    what was checked, not as what the uploader named it."""
    import mimetypes

    allowed = _EXTENSIONS.get(content_type) or tuple(
        ext for ext in [mimetypes.guess_extension(content_type, strict=False)] if ext
    )
    if not allowed or filename.lower().endswith(allowed):
        return filename
    return filename + allowed[0]


def content_disposition(filename: str) -> str:
    """`attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266 / 8187)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9 ._()\[\]+-]", "_", ascii_name).strip(" .") or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def normalize_content_type(raw: str) -> str:
    """`Image/PNG; charset=x` -> `image/png`."""
    return raw.split(";", 1)[0].strip().lower()


# --- endpoints' services ---------------------------------------------------------------------


def require_configured(settings: Settings) -> None:
    if not settings.storage_configured:
        raise storage.StorageNotConfigured()


def create(
    issue_id: uuid.UUID, body: AttachmentCreate, *, user: User, session: Session, settings: Settings
) -> AttachmentCreated:
    """A PENDING attachment and the SAS URL to upload its bytes to."""
    require_configured(settings)
    store = storage.get_storage(settings)
    if not store.container_ready:  # first use in this process: a storage call, before any lock
        session.commit()  # and without holding a database connection across it
        store.ensure_container()
    issue = get_visible_issue(issue_id, user, session=session, for_update=True)
    require(user, Action.ATTACHMENT_CREATE, Facts(owner_id=issue.created_by))

    content_type = normalize_content_type(body.content_type)
    allowed = [normalize_content_type(t) for t in settings.ALLOWED_CONTENT_TYPES]
    if content_type not in allowed:
        raise Unprocessable(
            f"Files of type '{content_type[:100]}' cannot be attached; allowed types: {', '.join(allowed)}.",
            errors=[{"loc": "body.content_type", "msg": "This type is not allowed.", "type": "not_allowed"}],
        )
    if body.size_bytes > settings.MAX_ATTACHMENT_BYTES:
        raise Unprocessable(
            f"The file is {body.size_bytes} bytes; the limit is {settings.MAX_ATTACHMENT_BYTES} bytes.",
            errors=[{"loc": "body.size_bytes", "msg": "The file is too large.", "type": "too_large"}],
        )
    # The issue row is locked, so two concurrent creates cannot both pass the cap.
    count = session.scalar(
        select(func.count())
        .select_from(Attachment)
        .where(
            Attachment.issue_id == issue.id,
            Attachment.status.in_([AttachmentStatus.PENDING, AttachmentStatus.ACTIVE]),
        )
    )
    if (count or 0) >= settings.MAX_ATTACHMENTS_PER_ISSUE:
        raise Conflict(
            f"This issue already has {count} attachments (pending or active); "
            f"the limit is {settings.MAX_ATTACHMENTS_PER_ISSUE}. Delete one first."
        )

    attachment_id = uuid.uuid4()
    now = clock.now()
    attachment = Attachment(
        id=attachment_id,
        issue_id=issue.id,
        uploaded_by=user.id,
        blob_name=blob_name_for(issue.id, attachment_id),
        filename=sanitize_filename(body.filename),
        content_type=content_type,
        size_bytes=body.size_bytes,
        status=AttachmentStatus.PENDING,
        created_at=now,
    )
    session.add(attachment)
    session.flush()

    from azure.storage.blob import BlobSasPermissions

    expires_at = now + timedelta(minutes=settings.UPLOAD_SAS_MINUTES)
    url = store.sas_url(
        attachment.blob_name, permission=BlobSasPermissions(create=True), expires_at=expires_at
    )
    return AttachmentCreated(
        attachment=AttachmentOut.model_validate(attachment),
        upload=UploadInstructions(
            url=url,
            headers={"x-ms-blob-type": "BlockBlob", "Content-Type": content_type},
            expires_at=expires_at,
        ),
    )


@dataclass
class Completion:
    attachment: AttachmentOut
    rejected_reason: str | None = None


def complete(
    issue_id: uuid.UUID, attachment_id: uuid.UUID, *, user: User, session: Session, settings: Settings
) -> Completion:
    """Verify the uploaded blob; ACTIVE on success, otherwise delete it and mark REJECTED.

    Idempotent: an ACTIVE attachment is returned as is, a REJECTED one with its reason.
    Storage failures raise a 503 and leave the attachment PENDING, so the call can be retried.

    Three steps, so that no database connection or row lock is held while storage is asked
    (a hung storage service would otherwise pin a pooled connection and the row for as long as
    the storage calls wait): read and authorize, end that transaction, verify the blob, then
    lock the row and record the outcome unless a concurrent `complete` already did.
    """
    require_configured(settings)
    issue = get_visible_issue(issue_id, user, session=session)
    require(user, Action.ATTACHMENT_CREATE, Facts(owner_id=issue.created_by))
    attachment = _get(issue, attachment_id, session=session)
    if attachment.status is not AttachmentStatus.PENDING:
        return _completed(attachment)
    blob_name = attachment.blob_name
    session.commit()  # read-only so far; returns the connection to the pool (objects stay loaded)

    store = storage.get_storage(settings)
    reason = _verify(store, blob_name, attachment.content_type, attachment.size_bytes, settings)

    attachment = _get(issue, attachment_id, session=session, for_update=True)
    if attachment.status is not AttachmentStatus.PENDING:
        return _completed(attachment)  # a concurrent complete decided first
    if reason is not None:
        attachment.status = AttachmentStatus.REJECTED
        attachment.rejected_reason = reason[:500]
        session.flush()
        # After commit, like every blob delete; if it fails, the cleanup timer removes the blob
        # (a REJECTED row does not keep its blob alive).
        db.on_commit(session, lambda: storage.delete_blob(store, blob_name))
        return Completion(AttachmentOut.model_validate(attachment), reason)

    attachment.status = AttachmentStatus.ACTIVE
    attachment.completed_at = clock.now()
    session.flush()
    session.refresh(issue)  # the event's snapshot must show the issue as it is now
    _touch_issue(issue, session=session)
    out = AttachmentOut.model_validate(attachment)
    record(
        session=session,
        type=EventType.ATTACHMENT_ADDED,
        issue=issue,
        actor=user,
        extra={"attachment": _event_summary(attachment)},
    )
    return Completion(out)


def _completed(attachment: Attachment) -> Completion:
    out = AttachmentOut.model_validate(attachment)
    if attachment.status is AttachmentStatus.REJECTED:
        return Completion(out, attachment.rejected_reason or "Rejected.")
    return Completion(out)


def _verify(
    store: storage.Storage, blob_name: str, content_type: str, size_bytes: int, settings: Settings
) -> str | None:
    info = storage.blob_info(store, blob_name)
    if info is None:
        return "No file was uploaded for this attachment (PUT it to the upload URL before completing)."
    if info.copied:
        # The upload SAS also permits Copy Blob; a copy brings bytes from elsewhere that the
        # uploader may not have (and would make us fetch third-party URLs on their behalf).
        return "The file was copied from another location; upload its bytes with a PUT instead."
    if info.size != size_bytes:
        return f"The uploaded file is {info.size} bytes, but {size_bytes} bytes were declared."
    if info.size > settings.MAX_ATTACHMENT_BYTES:
        return f"The uploaded file is {info.size} bytes; the limit is {settings.MAX_ATTACHMENT_BYTES} bytes."
    if sniff.is_text_type(content_type):
        return sniff.check_text(content_type, storage.iter_chunks(store, blob_name))
    head = storage.read_range(store, blob_name, offset=0, length=min(sniff.HEAD_BYTES, info.size))
    return sniff.check_head(content_type, head)


def list_active(
    issue_id: uuid.UUID, *, user: User, session: Session, settings: Settings
) -> list[AttachmentOut]:
    require_configured(settings)
    issue = get_visible_issue(issue_id, user, session=session)
    require(user, Action.ATTACHMENT_READ, Facts(owner_id=issue.created_by))
    return active_for_issues([issue.id], session=session)[issue.id]


def download_link(
    issue_id: uuid.UUID, attachment_id: uuid.UUID, *, user: User, session: Session, settings: Settings
) -> DownloadLink:
    """A read-only SAS URL that forces `Content-Disposition: attachment` and the stored type."""
    require_configured(settings)
    issue = get_visible_issue(issue_id, user, session=session)
    require(user, Action.ATTACHMENT_READ, Facts(owner_id=issue.created_by))
    attachment = _get(issue, attachment_id, session=session)
    if attachment.status is not AttachmentStatus.ACTIVE:
        raise Conflict(
            "This attachment has not been completed"
            + (" (it was rejected)." if attachment.status is AttachmentStatus.REJECTED else " yet.")
        )
    return read_link(attachment, settings=settings)


def read_link(attachment: Attachment, *, settings: Settings) -> DownloadLink:
    """A read-only SAS URL of an ACTIVE attachment for DOWNLOAD_SAS_MINUTES that forces
    `Content-Disposition: attachment` (saved under `download_name`) and the verified type."""
    from azure.storage.blob import BlobSasPermissions

    content_type = attachment.content_type
    if sniff.is_text_type(content_type):
        content_type += "; charset=utf-8"  # verified UTF-8 at completion
    expires_at = clock.now() + timedelta(minutes=settings.DOWNLOAD_SAS_MINUTES)
    url = storage.get_storage(settings).sas_url(
        attachment.blob_name,
        permission=BlobSasPermissions(read=True),
        expires_at=expires_at,
        content_disposition=content_disposition(download_name(attachment.filename, attachment.content_type)),
        content_type=content_type,
    )
    return DownloadLink(url=url, expires_at=expires_at)


def delete(
    issue_id: uuid.UUID,
    attachment_id: uuid.UUID,
    *,
    user: User,
    session: Session,
    settings: Settings,
    if_match: list[str] | None = None,
) -> None:
    """Delete the row now and the blob after commit (the cleanup timer catches a failed blob delete).
    `if_match` is compared with the issue's tag: the issue embeds its attachments, so removing
    one is a new version of it (a stale tag answers 412)."""
    require_configured(settings)
    # Locked when a precondition is checked, so no edit slips in between the check and the change.
    issue = get_visible_issue(issue_id, user, session=session, for_update=if_match is not None)
    attachment = _get(issue, attachment_id, session=session, for_update=True)
    require(
        user, Action.ATTACHMENT_DELETE, Facts(owner_id=issue.created_by, uploader_id=attachment.uploaded_by)
    )
    if if_match is not None:
        from trackly.issues.service import check_if_match  # issues.service imports this module

        check_if_match(issue, if_match)
    store = storage.get_storage(settings)
    if attachment.status is AttachmentStatus.ACTIVE:
        _touch_issue(issue, session=session)
        record(
            session=session,
            type=EventType.ATTACHMENT_REMOVED,
            issue=issue,
            actor=user,
            extra={"attachment": _event_summary(attachment)},
        )
    blob_name = attachment.blob_name
    session.delete(attachment)
    session.flush()
    db.on_commit(session, lambda: storage.delete_blob(store, blob_name))


def _touch_issue(issue: Issue, *, session: Session) -> None:
    """The issue JSON embeds its ACTIVE attachments, so adding or removing one is a new version:
    the ETag changes (no stale 304) and an edit based on the older representation gets 412.
    One atomic UPDATE, so it serializes with concurrent issue edits on the row lock."""
    row = session.execute(
        update(Issue)
        .where(Issue.id == issue.id)
        .values(version=Issue.version + 1, updated_at=clock.now())
        .returning(Issue.version, Issue.updated_at)
    ).one()
    # Reflect the new values without marking the object dirty (no second UPDATE at flush).
    set_committed_value(issue, "version", row.version)
    set_committed_value(issue, "updated_at", row.updated_at)


def _get(issue: Issue, attachment_id: uuid.UUID, *, session: Session, for_update: bool = False) -> Attachment:
    query = select(Attachment).where(Attachment.id == attachment_id, Attachment.issue_id == issue.id)
    if for_update:
        # Fresh values, not the copy already in the session: the row may have changed meanwhile.
        query = query.with_for_update().execution_options(populate_existing=True)
    attachment = session.scalar(query)
    if attachment is None:
        raise NotFound("Attachment not found.")
    return attachment


def _event_summary(attachment: Attachment) -> dict[str, object]:
    return {
        "id": str(attachment.id),
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
    }


# --- the cleanup timer -----------------------------------------------------------------------


@dataclass
class CleanupReport:
    skipped: bool = False
    pending_removed: int = 0
    unclaimed_removed: int = 0
    orphan_blobs_removed: int = 0
    removed_blob_names: list[str] = field(default_factory=list)


def cleanup(*, session: Session, settings: Settings, now: datetime | None = None) -> CleanupReport:
    """Remove PENDING attachments older than an hour (and their blobs), uploads of
    POST /files/upload never claimed by an issue within a day, and blobs with no live
    attachment row (left by a failed issue or attachment delete, a rejection, or an upload
    whose transaction failed).

    Idempotent. A transaction-scoped advisory lock makes a second concurrent run return at once
    (`skipped`); the row locks use SKIP LOCKED so a completion in progress is left alone.
    """
    if not session.scalar(select(func.pg_try_advisory_xact_lock(CLEANUP_LOCK_KEY))):
        return CleanupReport(skipped=True)
    store = storage.get_storage(settings)
    report = CleanupReport()
    now = now or clock.now()
    # Never before the upload SAS has expired, so no upload can land after we looked.
    cutoff = now - max(PENDING_MAX_AGE, timedelta(minutes=settings.UPLOAD_SAS_MINUTES + 10))

    def remove_old(condition: ColumnElement[bool]) -> int:
        rows = session.scalars(
            select(Attachment)
            .where(condition)
            .order_by(Attachment.created_at)
            .limit(CLEANUP_BATCH)
            .with_for_update(skip_locked=True)  # a completion or claim in progress keeps its row
        ).all()
        for attachment in rows:
            storage.delete_blob(store, attachment.blob_name)
            report.removed_blob_names.append(attachment.blob_name)
            session.delete(attachment)
        session.flush()
        return len(rows)

    report.pending_removed = remove_old(
        and_(Attachment.status == AttachmentStatus.PENDING, Attachment.created_at < cutoff)
    )
    # Uploads of POST /files/upload that no issue claimed within a day.
    report.unclaimed_removed = remove_old(
        and_(Attachment.issue_id.is_(None), Attachment.created_at < now - UNCLAIMED_MAX_AGE)
    )

    # Blobs of issue attachments (`issues/{issue_id}/{attachment_id}`): their row commits before
    # the client gets the upload SAS, so any blob without one is an orphan.
    _sweep_orphans(store, BLOB_PREFIX, _BLOB_NAME, 2, session=session, report=report)
    # Blobs of POST /files/upload: written before their row commits, so a young one is left alone.
    _sweep_orphans(
        store,
        UPLOADS_PREFIX,
        _UPLOAD_BLOB_NAME,
        1,
        session=session,
        report=report,
        written_before=now - UPLOAD_ORPHAN_GRACE,
    )
    return report


def _sweep_orphans(
    store: storage.Storage,
    prefix: str,
    pattern: re.Pattern[str],
    id_group: int,
    *,
    session: Session,
    report: CleanupReport,
    written_before: datetime | None = None,
) -> None:
    """Delete the blobs under `prefix` whose attachment (the id in `id_group` of `pattern`) is
    gone or rejected, in batches. Names this server does not generate are left alone, and with
    `written_before` so are blobs modified later (or of unknown age)."""
    batch: list[tuple[str, uuid.UUID]] = []
    for blob in storage.list_blobs(store, prefix):
        match = pattern.match(blob.name)
        if match is None:
            continue
        if written_before is not None and (blob.last_modified is None or blob.last_modified > written_before):
            continue  # its row may still be on its way to a commit
        batch.append((blob.name, uuid.UUID(match.group(id_group))))
        if len(batch) >= CLEANUP_BATCH:
            _remove_orphans(batch, store, session=session, report=report)
            batch = []
    if batch:
        _remove_orphans(batch, store, session=session, report=report)


def _remove_orphans(
    batch: list[tuple[str, uuid.UUID]], store: storage.Storage, *, session: Session, report: CleanupReport
) -> None:
    live = set(
        session.execute(
            select(Attachment.blob_name).where(
                Attachment.id.in_([attachment_id for _, attachment_id in batch]),
                Attachment.status != AttachmentStatus.REJECTED,
            )
        ).scalars()
    )
    for name, _ in batch:
        if name not in live:
            storage.delete_blob(store, name)
            report.removed_blob_names.append(name)
            report.orphan_blobs_removed += 1
