"""The original client's upload: `POST /files/upload` (multipart/form-data, one part `file`).

Unlike the SAS flow, the bytes pass through the Function, so everything is checked before a
blob is written: the type allowlist, the size limit, the content (magic bytes, or UTF-8/JSON for
text), and the name is sanitized; the blob name (`uploads/{attachment_id}`) is the server's. The
result is an ACTIVE attachment owned by the caller and tied to no issue. `POST /issues
{file_url}` claims it (`claim`) in the issue's own transaction; unclaimed uploads older than a
day are removed by the cleanup timer.

The Functions host refuses request bodies over 100 MB (its default `maxRequestBodySize`), so the
file limit here is MAX_ATTACHMENT_BYTES but never more than that minus room for the multipart
framing.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from trackly import clock
from trackly.attachments import sniff, storage
from trackly.attachments.limits import FIELD, max_file_bytes, max_request_bytes
from trackly.attachments.service import (
    UPLOADS_PREFIX,
    normalize_content_type,
    require_configured,
    sanitize_filename,
)
from trackly.config import Settings
from trackly.errors import BadRequest, Conflict, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from trackly.models import Attachment, AttachmentStatus, Issue, User


def blob_name_for(attachment_id: uuid.UUID) -> str:
    return f"{UPLOADS_PREFIX}{attachment_id}"


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


def _in_memory(
    total_content_length: int | None,
    content_type: str | None,
    filename: str | None,
    content_length: int | None = None,
) -> IO[bytes]:
    return io.BytesIO()  # the body is already in memory; no temporary files


def parse_multipart(body: bytes, content_type_header: str | None, *, settings: Settings) -> UploadedFile:
    """The one part named `file` of a multipart/form-data body (werkzeug's form-data parser)."""
    from werkzeug.exceptions import RequestEntityTooLarge
    from werkzeug.formparser import FormDataParser
    from werkzeug.http import parse_options_header

    mimetype, options = parse_options_header(content_type_header or "")
    if mimetype.lower() != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Send the file as multipart/form-data with one part named '{FIELD}' "
            f"(got '{mimetype[:100] or 'no content type'}')."
        )
    if not options.get("boundary"):
        raise BadRequest("The multipart/form-data content type has no boundary parameter.")
    parser = FormDataParser(
        stream_factory=_in_memory,
        max_form_memory_size=64 * 1024,
        max_content_length=max_request_bytes(settings),
        max_form_parts=20,
        silent=False,
    )
    try:
        _stream, _form, files = parser.parse(io.BytesIO(body), "multipart/form-data", len(body), options)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(
            f"The upload is larger than the limit of {max_file_bytes(settings)} bytes."
        ) from None
    except ValueError:
        raise BadRequest("The multipart/form-data body is malformed.") from None
    parts = files.getlist(FIELD)
    if len(parts) != 1 or not parts[0].filename:
        raise Unprocessable(
            f"Send exactly one file in a part named '{FIELD}' (with a file name).",
            errors=[{"loc": f"body.{FIELD}", "msg": "Exactly one file is required.", "type": "missing"}],
        )
    part = parts[0]
    return UploadedFile(
        filename=str(part.filename),
        content_type=str(part.mimetype or ""),
        data=part.stream.getvalue() if isinstance(part.stream, io.BytesIO) else part.stream.read(),
    )


def store(upload: UploadedFile, *, user: User, session: Session, settings: Settings) -> Attachment:
    """Check the file and store it as an ACTIVE attachment of `user` with no issue.
    Every check runs before the blob is written, so refused input leaves nothing behind."""
    require_configured(settings)
    content_type = normalize_content_type(upload.content_type)
    allowed = [normalize_content_type(t) for t in settings.ALLOWED_CONTENT_TYPES]
    if content_type not in allowed:
        raise UnsupportedMediaType(
            f"Files of type '{content_type[:100] or 'unknown'}' cannot be uploaded; "
            f"allowed types: {', '.join(allowed)}."
        )
    size = len(upload.data)
    limit = max_file_bytes(settings)
    if size > limit:
        raise PayloadTooLarge(f"The file is {size} bytes; the limit is {limit} bytes.")
    if size == 0:
        raise Unprocessable(
            "The file is empty.",
            errors=[{"loc": f"body.{FIELD}", "msg": "The file is empty.", "type": "empty"}],
        )
    if sniff.is_text_type(content_type):
        reason = sniff.check_text(content_type, [upload.data])
    else:
        reason = sniff.check_head(content_type, upload.data[: sniff.HEAD_BYTES])
    if reason is not None:
        raise Unprocessable(
            reason, errors=[{"loc": f"body.{FIELD}", "msg": reason, "type": "content_mismatch"}]
        )

    store_ = storage.get_storage(settings)
    # The bytes go to storage before the row is written and with no transaction open, so a hung
    # storage service never pins a pooled database connection (the wait is bounded, but a
    # connection per stuck upload would still starve other requests).
    session.commit()
    store_.ensure_container()
    attachment_id = uuid.uuid4()
    blob_name = blob_name_for(attachment_id)
    from azure.storage.blob import ContentSettings

    with storage.translate_errors():
        store_.container.get_blob_client(blob_name).upload_blob(
            upload.data, overwrite=False, content_settings=ContentSettings(content_type=content_type)
        )
    # If the transaction below fails, the blob has no row: the cleanup timer removes it.
    now = clock.now()
    attachment = Attachment(
        id=attachment_id,
        issue_id=None,
        uploaded_by=user.id,
        blob_name=blob_name,
        filename=sanitize_filename(upload.filename),
        content_type=content_type,
        size_bytes=size,
        status=AttachmentStatus.ACTIVE,
        created_at=now,
        completed_at=now,
    )
    session.add(attachment)
    session.flush()
    return attachment


def claim(attachment_id: uuid.UUID, issue: Issue, *, actor: User, session: Session) -> Attachment:
    """Tie the caller's own unclaimed upload to `issue` (in the caller's transaction)."""
    attachment = session.scalars(
        select(Attachment).where(Attachment.id == attachment_id).with_for_update()
    ).one_or_none()
    not_yours = Unprocessable(
        "file_url does not name a file you uploaded (upload it with POST /api/files/upload first).",
        errors=[{"loc": "body.file_url", "msg": "Not one of your uploads.", "type": "unknown_upload"}],
    )
    if (
        attachment is None
        or attachment.uploaded_by != actor.id
        or attachment.status is not AttachmentStatus.ACTIVE
    ):
        raise not_yours
    if attachment.issue_id is not None:
        if attachment.issue_id == issue.id:
            return attachment
        raise Conflict("This uploaded file is already attached to another issue; upload it again.")
    attachment.issue_id = issue.id
    session.flush()
    return attachment


def open_link(
    attachment_id: uuid.UUID, *, expires: int, sig: str, session: Session, settings: Settings
) -> str:
    """A fresh read-only SAS URL for the file a signed link names (403 for a wrong, tampered or
    expired link; 404 when the file is gone)."""
    from trackly.attachments import links
    from trackly.attachments.service import read_link
    from trackly.errors import NotFound

    links.verify(attachment_id, expires, sig, now=clock.now(), settings=settings)
    require_configured(settings)
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.status is not AttachmentStatus.ACTIVE:
        raise NotFound("This file no longer exists.")
    return read_link(attachment, settings=settings).url
