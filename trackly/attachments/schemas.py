"""Attachment bodies. The issue JSON embeds `AttachmentOut` for its ACTIVE attachments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from trackly.models import AttachmentStatus
from trackly.schemas import Schema


class AttachmentOut(Schema):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    issue_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    status: AttachmentStatus
    uploaded_by: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None = None


class AttachmentCreate(Schema):
    model_config = ConfigDict(extra="forbid")  # as trackly.http.RequestModel (no azure import here)

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
    attachment: AttachmentOut
    upload: UploadInstructions


class DownloadLink(Schema):
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
