"""The quick export: the caller's issue list (GET /issues filters, search, sort and visibility)
as CSV or NDJSON, read through the list's own query page by page.

Up to EXPORT_MAX_ROWS rows the answer is the file; one row more and it is a 413 that points to
the full export (POST /exports), so a request never builds an unbounded body.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from trackly.auth.policy import sees_all_issues
from trackly.config import Settings
from trackly.errors import PayloadTooLarge
from trackly.issues import service as issues
from trackly.issues.schemas import IssueFilters, IssueOut
from trackly.models import User
from trackly.portability import cells

# The columns of the CSV, in order; the CSV importer's default mapping reads the same names, so
# an exported file imports back as it is.
COLUMNS = (
    "id",
    "title",
    "description",
    "severity",
    "status",
    "labels",
    "reporter_email",
    "reporter_name",
    "assignee_email",
    "assignee_name",
    "comment_count",
    "created_at",
    "updated_at",
    "source_url",
)
LABEL_SEPARATOR = ", "
PAGE = 500


def _emails(ids: set[uuid.UUID], *, session: Session) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()
    return {row[0]: row[1] or "" for row in rows}  # a service account has no email


def _pages(filters: IssueFilters, *, viewer: User, session: Session, limit: int) -> Iterator[list[IssueOut]]:
    rows = issues.iter_issues(filters, viewer=viewer, session=session, chunk=PAGE)
    seen = 0
    while page := list(islice(rows, PAGE)):
        seen += len(page)
        if seen > limit:
            raise PayloadTooLarge(
                f"More than {limit} issues match; the quick export stops at EXPORT_MAX_ROWS. "
                "Narrow the filters, or ask an admin for the full export (POST /api/exports).",
                slug="export-too-large",
                full_export="/api/exports",
                max_rows=limit,
            )
        yield page


def _record(issue: IssueOut, emails: dict[uuid.UUID, str], *, staff: bool) -> dict[str, object]:
    # A reporter sees the assignee's name on the issue but not their address.
    assignee_email = emails.get(issue.assignee_id) if staff and issue.assignee_id else None
    return {
        "id": str(issue.id),
        "title": issue.title,
        "description": issue.description,
        "severity": issue.severity.value,
        "status": issue.status.value,
        "labels": [label.name for label in issue.labels],
        "reporter_email": emails.get(issue.created_by),
        "reporter_name": issue.created_by_name,
        "assignee_email": assignee_email,
        "assignee_name": issue.assignee_name,
        "comment_count": issue.comment_count,
        "created_at": issue.created_at.isoformat(),
        "updated_at": issue.updated_at.isoformat(),
        "source_url": issue.source_url,
    }


def export(filters: IssueFilters, *, fmt: str, viewer: User, session: Session, settings: Settings) -> bytes:
    """The whole file (at most EXPORT_MAX_ROWS rows; 413 beyond)."""
    staff = sees_all_issues(viewer)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    for page in _pages(filters, viewer=viewer, session=session, limit=settings.EXPORT_MAX_ROWS):
        ids = {i.created_by for i in page} | {i.assignee_id for i in page if i.assignee_id}
        emails = _emails(ids, session=session)
        for issue in page:
            record = _record(issue, emails, staff=staff)
            if writer is None:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                continue
            record["labels"] = LABEL_SEPARATOR.join(record["labels"])  # type: ignore[arg-type]
            writer.writerow([cells.escape("" if record[c] is None else str(record[c])) for c in COLUMNS])
    return out.getvalue().encode("utf-8")
