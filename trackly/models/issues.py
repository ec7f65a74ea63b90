"""Issues, their attachments and the idempotency records of issue creation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import (
    AttachmentStatus,
    Base,
    Severity,
    Status,
    created_at_column,
    uuid_pk,
)

# Severity ordered by impact (LOW < ... < CRITICAL) for sorting; stored as a generated column.
SEVERITY_RANK_SQL = (
    "CASE severity WHEN 'LOW' THEN 1 WHEN 'MEDIUM' THEN 2 WHEN 'HIGH' THEN 3 WHEN 'CRITICAL' THEN 4 END"
)


class Issue(Base):
    __tablename__ = "issues"
    __table_args__ = (
        # The list queries: newest first overall, per reporter, by update time, by severity.
        Index("ix_issues_created_at_id", "created_at", "id"),
        Index("ix_issues_created_by_created_at_id", "created_by", "created_at", "id"),
        Index("ix_issues_updated_at_id", "updated_at", "id"),
        Index("ix_issues_severity_rank_created_at_id", "severity_rank", "created_at", "id"),
        Index("ix_issues_status_created_at", "status", "created_at"),
        Index("ix_issues_search", "search_vector", postgresql_using="gin"),
        Index("ix_issues_assignee_id_created_at_id", "assignee_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    severity: Mapped[Severity] = mapped_column(
        Enum(Severity, name="issue_severity", native_enum=False, length=16), nullable=False
    )
    status: Mapped[Status] = mapped_column(
        Enum(Status, name="issue_status", native_enum=False, length=16), nullable=False
    )
    severity_rank: Mapped[int] = mapped_column(
        Integer, Computed(SEVERITY_RANK_SQL, persisted=True), nullable=False
    )
    # Users are deactivated, never hard-deleted while they own issues.
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    file_url: Mapped[str | None] = mapped_column(String(2048))
    # Where an imported issue came from (e.g. its GitHub page); null for issues created here.
    source_url: Mapped[str | None] = mapped_column(String(2048))
    # At most one assignee (staff); a deleted account leaves the issue unassigned.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    # What the list renders of the issue's labels ([{id, name, color}] by name) and its number of
    # comments. Kept by the triggers of migration 0007 (never written by the application).
    # Deferred: an entity loaded before a trigger changed them would hold stale values, so they
    # are read as columns of the row queries, always fresh.
    labels: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb"), deferred=True
    )
    comment_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), deferred=True
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(description, '')), 'B')",
            persisted=True,
        ),
        deferred=True,
    )


class IssueCount(Base):
    """How many issues each reporter has per (status, severity): the totals behind the dashboard
    counters and unfiltered list totals. Maintained only by the statement triggers on `issues`
    created in migration 0002 (insert, update, delete, truncate), so it is exact and
    transactional; never written by the application. A group that reaches 0 is deleted."""

    __tablename__ = "issue_counts"

    created_by: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[Status] = mapped_column(
        Enum(Status, name="issue_status", native_enum=False, length=16), primary_key=True
    )
    severity: Mapped[Severity] = mapped_column(
        Enum(Severity, name="issue_severity", native_enum=False, length=16), primary_key=True
    )
    n: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_issue_id_created_at", "issue_id", "created_at"),
        Index(
            "ix_attachments_pending_created_at",
            "created_at",
            postgresql_where=text("status = 'PENDING'"),
        ),
        Index(
            "ix_attachments_unclaimed_created_at",
            "created_at",
            postgresql_where=text("issue_id IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Rows go with their issue; the issue service deletes the blobs first. NULL: an upload of the
    # original client (`POST /files/upload`) not yet claimed by `POST /issues {file_url}`.
    issue_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), nullable=True
    )
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    blob_name: Mapped[str] = mapped_column(String(512), nullable=False, unique=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(127), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[AttachmentStatus] = mapped_column(
        Enum(AttachmentStatus, name="attachment_status", native_enum=False, length=16),
        nullable=False,
    )
    rejected_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    """The stored outcome of a request sent with an Idempotency-Key, kept for 24 hours."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSONB, nullable=True)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
