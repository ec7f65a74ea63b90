"""Attachment bodies. The issue JSON embeds `AttachmentOut` for its ACTIVE attachments."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from trackly.models import AttachmentStatus


class AttachmentOut(BaseModel):
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
