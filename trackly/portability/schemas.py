"""Request and response bodies of the export and import endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from trackly import examples as ex
from trackly.issues.schemas import IssueFilters
from trackly.schemas import QueryModel, RequestModel, Schema

JOB_ID = "7c1e9a3b-5d2f-4e8a-9b6c-0d1e2f3a4b5c"
Format = Literal["csv", "ndjson"]
Source = Literal["csv", "ndjson", "github"]
JobStatus = Literal["awaiting_upload", "queued", "running", "done", "failed", "cancelled"]
Outcome = Literal["created", "updated", "skipped", "problem"]


class ExportQuery(IssueFilters):
    format: Format = Field(default="csv", description="`csv` (RFC 4180, UTF-8, header row) or `ndjson`.")


class ExportCreate(RequestModel):
    model_config = ex.examples({"include_files": True}, forbid_extra=True)

    include_files: bool = Field(
        default=False, description="Also put the attachments' bytes in the archive (base64, in chunks)."
    )


class DownloadOut(Schema):
    url: str
    expires_at: datetime


class ExportOut(Schema):
    model_config = ex.examples(
        {
            "id": JOB_ID,
            "status": "done",
            "include_files": False,
            "format_version": 1,
            "counts": {"user": 12, "label": 5, "issue": 340, "comment": 910, "event": 4120},
            "bytes_written": 1843022,
            "runs": 1,
            "error": None,
            "created_at": ex.CREATED_AT,
            "started_at": ex.CREATED_AT,
            "finished_at": ex.UPDATED_AT,
            "download": {"url": ex.BLOB_URL.replace("sp=cw", "sp=r"), "expires_at": "2026-11-24T09:31:40Z"},
        }
    )

    id: uuid.UUID
    status: JobStatus
    include_files: bool
    format_version: int = Field(description="The archive format's version (docs/import-export.md).")
    counts: dict[str, int] = Field(description="Records written so far, per kind.")
    bytes_written: int
    runs: int = Field(description="Timer runs that worked on the job.")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    download: DownloadOut | None = Field(
        default=None, description="When done: a read-only SAS URL of the archive, valid EXPORT_LINK_MINUTES."
    )


class ImportMapping(RequestModel):
    """How the file's content maps onto Trackly (every part optional)."""

    model_config = ex.examples(
        {
            "columns": {"title": "Summary", "reporter_email": "Reporter"},
            "users": {"octocat": "octo@example.com"},
            "unknown_users": "placeholder",
            "severity_labels": {"critical": "CRITICAL"},
        },
        forbid_extra=True,
    )

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="CSV: field -> header of the column holding it, for headers other than the defaults.",
    )
    users: dict[str, str] = Field(
        default_factory=dict,
        description="An email (or GitHub login) in the file -> the email of an existing account to use.",
    )
    unknown_users: Literal["placeholder", "problem"] = Field(
        default="placeholder",
        description="`placeholder`: a person without an account becomes a deactivated user who can never "
        "sign in; `problem`: their rows are refused.",
    )
    severity_labels: dict[str, str] = Field(
        default_factory=dict, description="GitHub: a label name -> the severity it means (default MEDIUM)."
    )


class ImportCreate(RequestModel):
    model_config = ex.examples({"source": "github", "dry_run": True}, forbid_extra=True)

    source: Source
    dry_run: bool = Field(default=False, description="Validate every row and write nothing.")
    mapping: ImportMapping | None = None


class UploadOut(Schema):
    url: str = Field(description="A create-only SAS URL for the file, valid UPLOAD_SAS_MINUTES.")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_at: datetime


class ImportResultOut(Schema):
    row: int = Field(description="The record's number in the file (CSV: line of the record, header = 1).")
    kind: str
    outcome: Outcome
    source_id: str | None
    target_id: uuid.UUID | None
    reason: str | None


class ImportOut(Schema):
    model_config = ex.examples(
        {
            "id": JOB_ID,
            "source": "csv",
            "status": "done",
            "dry_run": False,
            "file_bytes": 18342,
            "rows_total": 150,
            "rows_done": 150,
            "counts": {"created": 148, "updated": 0, "skipped": 0, "problem": 2},
            "runs": 1,
            "error": None,
            "created_at": ex.CREATED_AT,
            "started_at": ex.CREATED_AT,
            "finished_at": ex.UPDATED_AT,
            "upload": None,
            "results": [
                {
                    "row": 7,
                    "kind": "issue",
                    "outcome": "problem",
                    "source_id": "ab12",
                    "target_id": None,
                    "reason": "severity: 'URGENT' is not one of LOW, MEDIUM, HIGH, CRITICAL.",
                }
            ],
            "next_after_row": None,
        }
    )

    id: uuid.UUID
    source: Source
    status: JobStatus
    dry_run: bool
    file_bytes: int | None
    rows_total: int | None = Field(
        default=None, description="Records in the file, once the first run read it."
    )
    rows_done: int
    counts: dict[str, int]
    runs: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    upload: UploadOut | None = Field(default=None, description="While awaiting the file: where to PUT it.")
    results: list[ImportResultOut] = Field(description="Per-row results, a page at a time (see `after_row`).")
    next_after_row: int | None = Field(description="Pass as `after_row` for the next page of results.")


class ImportResultsQuery(QueryModel):
    after_row: int = Field(default=0, ge=0, description="Results after this row number.")
    limit: int = Field(default=100, ge=1, le=1000)
    outcome: Outcome | None = Field(default=None, description="Only results with this outcome.")


def result_counts(counts: dict[str, Any]) -> dict[str, int]:
    return {k: int(counts.get(k, 0)) for k in ("created", "updated", "skipped", "problem")}
