"""Attachment bodies. The issue JSON embeds `AttachmentOut` for its ACTIVE attachments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from trackly import examples as ex
from trackly.models import AttachmentStatus
from trackly.schemas import Schema


class AttachmentOut(Schema):
    model_config = ex.examples(ex.ATTACHMENT, from_attributes=True)

    id: uuid.UUID
    issue_id: uuid.UUID | None = Field(description="Null for an upload not yet attached to an issue.")
    filename: str
    content_type: str
    size_bytes: int
    status: AttachmentStatus
    uploaded_by: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None = None


class AttachmentCreate(Schema):
    # extra="forbid" as trackly.http.RequestModel (no azure import here)
    model_config = ex.examples(
        {"filename": "export-150-rows.csv", "content_type": "text/csv", "size_bytes": 18342},
        forbid_extra=True,
    )

    filename: str = Field(
        min_length=1,
        max_length=1000,
        description="The file's name as the user chose it; kept only as sanitized display metadata.",
    )
    content_type: str = Field(
        min_length=3, max_length=127, description="The file's media type; must be in ALLOWED_CONTENT_TYPES."
    )
    size_bytes: int = Field(ge=1, description="The exact size of the file; at most MAX_ATTACHMENT_BYTES.")


class UploadInstructions(Schema):
    url: str = Field(description="A SAS URL that allows creating this one blob, until `expires_at`.")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="Headers the upload request must send.")
    expires_at: datetime


class AttachmentCreated(Schema):
    model_config = ex.examples(
        {
            "attachment": {**ex.ATTACHMENT, "status": "PENDING", "completed_at": None},
            "upload": {
                "url": ex.BLOB_URL,
                "method": "PUT",
                "headers": {"x-ms-blob-type": "BlockBlob", "Content-Type": "text/csv"},
                "expires_at": "2026-11-24T09:31:40Z",
            },
        }
    )

    attachment: AttachmentOut
    upload: UploadInstructions


class DownloadLink(Schema):
    model_config = ex.examples(
        {"url": ex.BLOB_URL.replace("sp=cw", "sp=r"), "expires_at": "2026-11-24T09:31:40Z"}
    )

    url: str = Field(description="A read-only SAS URL for the file, valid until `expires_at`.")
    expires_at: datetime


class IssueAttachmentPath(Schema):
    issue_id: uuid.UUID


class AttachmentPath(Schema):
    issue_id: uuid.UUID
    attachment_id: uuid.UUID


class DownloadQuery(Schema):
    model_config = ConfigDict(extra="ignore")

    redirect: bool = Field(
        default=True, description="true (default): answer 302 to the file; false: answer 200 with the URL."
    )


class UploadedFileOut(Schema):
    """The answer to `POST /files/upload`, in the original Trackly's shape."""

    model_config = ex.examples(
        {
            "file_url": f"https://trackly.example.com/api/files/{ex.ATTACHMENT_ID}?expires=1795512700&sig=5f1c0e9a7b3d",
            "filename": "screenshot.png",
            "content_type": "image/png",
            "size_bytes": 48213,
            "attachment": {
                **ex.ATTACHMENT,
                "issue_id": None,
                "filename": "screenshot.png",
                "content_type": "image/png",
                "size_bytes": 48213,
            },
        }
    )

    file_url: str = Field(
        description="A signed link to the file (opens without a token for FILE_LINK_MINUTES); "
        "send it as `file_url` in `POST /issues` to attach the file to the new issue."
    )
    filename: str = Field(description="The sanitized file name.")
    content_type: str
    size_bytes: int
    attachment: AttachmentOut


class FilePath(Schema):
    attachment_id: uuid.UUID


class FileLinkQuery(Schema):
    model_config = ConfigDict(extra="ignore")

    expires: int = Field(ge=0, le=2**40, description="Unix time after which the link is refused.")
    sig: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="The link's HMAC-SHA256 signature.")
