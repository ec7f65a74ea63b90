"""Export and import jobs, the per-row results of an import and the links that make imports
idempotent (see migration 0012)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from trackly.models.base import Base, created_at_column, uuid_pk

ACTIVE_SQL = "status IN ('queued', 'running')"


def _json() -> Mapped[dict[str, Any]]:
    return mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))


def _updated_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class ExportJob(Base):
    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_active", "created_at", postgresql_where=text(ACTIVE_SQL)),)

    id: Mapped[uuid.UUID] = uuid_pk()
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    include_files: Mapped[bool] = mapped_column(Boolean, nullable=False)
    blob_name: Mapped[str] = mapped_column(String(512), nullable=False)
    # Where the writer stands: {"phase": kind, "after": last key written}.
    state: Mapped[dict[str, Any]] = _json()
    counts: Mapped[dict[str, Any]] = _json()
    # The append blob's length after the last committed chunk (the next append's position).
    bytes_written: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    runs: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = _updated_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportJob(Base):
    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_active", "created_at", postgresql_where=text(ACTIVE_SQL)),)

    id: Mapped[uuid.UUID] = uuid_pk()
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False)
    mapping: Mapped[dict[str, Any]] = _json()
    blob_name: Mapped[str] = mapped_column(String(512), nullable=False)
    file_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Records of the file already handled (the next run starts after them).
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    counts: Mapped[dict[str, Any]] = _json()
    runs: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = _updated_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportResult(Base):
    """What became of one record of an import file (row numbers count from 1 as in the file)."""

    __tablename__ = "import_results"
    __table_args__ = (Index("ix_import_results_job_id_kind_source_id", "job_id", "kind", "source_id"),)

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    source_id: Mapped[str | None] = mapped_column(String(200))
    target_id: Mapped[uuid.UUID | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(500))


class ImportLink(Base):
    """(source, kind, source id) -> the row it was imported as. No foreign key: the target may be
    an issue, comment, label, user or event, and a deleted target just gets created again."""

    __tablename__ = "import_links"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    target_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = created_at_column()
