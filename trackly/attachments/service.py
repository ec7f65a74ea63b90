"""Attachments: SAS uploads to Blob Storage, verification, downloads, cleanup.

(The attachments capability fills this module in; the two functions below are the contract
the issues service relies on.)
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from trackly.attachments.schemas import AttachmentOut
from trackly.models import Attachment, AttachmentStatus, Issue


def active_for_issues(
    issue_ids: list[uuid.UUID], *, session: Session
) -> dict[uuid.UUID, list[AttachmentOut]]:
    """ACTIVE attachments of several issues in one query (no N+1 in issue lists)."""
    out: dict[uuid.UUID, list[AttachmentOut]] = {i: [] for i in issue_ids}
    if not issue_ids:
        return out
    rows = session.scalars(
        select(Attachment)
        .where(Attachment.issue_id.in_(issue_ids), Attachment.status == AttachmentStatus.ACTIVE)
        .order_by(Attachment.created_at, Attachment.id)
    )
    for row in rows:
        out[row.issue_id].append(AttachmentOut.model_validate(row))
    return out


def on_issue_deleted(issue: Issue, *, session: Session) -> None:
    """Called by the issues service before it deletes `issue`: remove the issue's blobs.

    Best effort: blobs a failed delete leaves behind are removed later by the cleanup timer.
    """
    return None
