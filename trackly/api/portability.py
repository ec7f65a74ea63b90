"""HTTP functions for export and import: the quick export of a list, the full archive (ADMIN),
imports (ADMIN), and the two timers that do the work in chunks."""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

import azure.functions as func
from pydantic import ValidationError

from trackly import clock
from trackly.auth.policy import Action
from trackly.errors import Unprocessable
from trackly.http import Call, Reply, endpoint
from trackly.http.endpoint import field_errors
from trackly.http.timers import Run, scheduled
from trackly.lazy import lazy
from trackly.portability.schemas import (
    ExportCreate,
    ExportOut,
    ExportQuery,
    ImportCreate,
    ImportOut,
    ImportResultsQuery,
)
from trackly.schemas import Schema

if TYPE_CHECKING:
    from trackly.portability import jobs, listing, multipart
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    jobs = lazy("trackly.portability.jobs")
    listing = lazy("trackly.portability.listing")
    multipart = lazy("trackly.portability.multipart")

bp = func.Blueprint()
log = logging.getLogger(__name__)
TAGS = ["export and import"]
NO_STORE = {"Cache-Control": "no-store"}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson; charset=utf-8"}


class ExportPath(Schema):
    export_id: uuid.UUID


class ImportPath(Schema):
    import_id: uuid.UUID


@endpoint(
    bp,
    "GET",
    "issues/export",
    summary="Export the issue list as CSV or NDJSON",
    tags=TAGS,
    action=Action.ISSUE_EXPORT,
    query=ExportQuery,
    read_only=True,
    response=str,
    response_content_type="text/csv, application/x-ndjson",
    errors=(413,),
    response_headers={"Content-Disposition": "`attachment` with a file name."},
)
def export_issues(call: Call[None, ExportQuery, None]) -> Reply:
    """The same filters, search, sort and visibility as `GET /issues` (a REPORTER exports only
    their own issues), every matching issue rather than one page. CSV: RFC 4180, UTF-8, a header
    row, every cell quoted, and a cell starting with `=`, `+`, `-`, `@`, tab or carriage return
    prefixed with `'` so a spreadsheet never runs it as a formula. More than EXPORT_MAX_ROWS
    matching issues answers 413 with `full_export` naming `POST /api/exports`."""
    fmt = call.query.format
    body = listing.export(call.query, fmt=fmt, viewer=call.user, session=call.session, settings=call.settings)
    name = f"trackly-issues-{clock.now():%Y%m%d-%H%M%S}.{'csv' if fmt == 'csv' else 'ndjson'}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE}
    return Reply(body, content_type=CONTENT_TYPES[fmt], headers=headers)


@endpoint(
    bp,
    "POST",
    "exports",
    summary="Start a full export (ADMIN)",
    tags=TAGS,
    action=Action.ARCHIVE_EXPORT,
    body=ExportCreate,
    body_required=False,
    response=ExportOut,
    status=202,
    errors=(503,),
    response_headers={"Location": "The export's URL (poll it)."},
)
def start_export(call: Call[None, None, ExportCreate | None]) -> Reply:
    """Queues one NDJSON archive of the whole tracker (format in docs/import-export.md). A timer
    writes it to Blob Storage in chunks; poll `GET /exports/{id}` for progress and, when done, a
    short-lived read-only download link."""
    include_files = call.body.include_files if call.body else False
    out = jobs.create_export(include_files, actor=call.user, session=call.session, settings=call.settings)
    return Reply(out, status=202, headers={"Location": call.url_for(f"exports/{out.id}")})


@endpoint(
    bp,
    "GET",
    "exports/{export_id:guid}",
    summary="A full export's progress and download link (ADMIN)",
    tags=TAGS,
    action=Action.ARCHIVE_EXPORT,
    path=ExportPath,
    response=ExportOut,
    errors=(404,),
    read_only=True,
)
def get_export(call: Call[ExportPath, None, None]) -> Reply:
    out = jobs.get_export(call.path.export_id, session=call.session, settings=call.settings)
    return Reply(out, headers=NO_STORE)


@endpoint(
    bp,
    "POST",
    "exports/{export_id:guid}/cancel",
    summary="Cancel a full export (ADMIN)",
    tags=TAGS,
    action=Action.ARCHIVE_EXPORT,
    path=ExportPath,
    response=ExportOut,
    errors=(404, 409),
)
def cancel_export(call: Call[ExportPath, None, None]) -> ExportOut:
    """A queued or running export stops (its partial archive is never offered); a finished one
    answers 409."""
    return jobs.cancel_export(call.path.export_id, session=call.session, settings=call.settings)


@endpoint(
    bp,
    "POST",
    "imports",
    summary="Start an import; upload its file through the answer's SAS URL (ADMIN)",
    tags=TAGS,
    action=Action.ARCHIVE_IMPORT,
    body=ImportCreate,
    response=ImportOut,
    status=201,
    errors=(503,),
    response_headers={"Location": "The import's URL (poll it)."},
)
def create_import(call: Call[None, None, ImportCreate]) -> Reply:
    """The job waits for its file: PUT it to `upload.url` (create-only, one blob, minutes of
    validity) with the `upload.headers`, then `POST /imports/{id}/start`. Sources: `csv` (the
    quick export's columns), `ndjson` (a full-export archive) or `github` (the REST API's issue
    and issue-comment JSON). `dry_run` validates every row and writes nothing."""
    out = jobs.create_import(call.body, actor=call.user, session=call.session, settings=call.settings)
    return Reply(out, status=201, headers={"Location": call.url_for(f"imports/{out.id}"), **NO_STORE})


MULTIPART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["source", "file"],
    "properties": {
        "source": {"type": "string", "enum": ["csv", "ndjson", "github"]},
        "dry_run": {"type": "string", "enum": ["true", "false"], "description": "Default false."},
        "mapping": {"type": "string", "description": "The mapping object as JSON text (optional)."},
        "file": {"type": "string", "format": "binary", "description": "The file to import."},
    },
}


def _multipart_limit(settings: Any) -> int:
    return int(settings.IMPORT_MULTIPART_MAX_BYTES) + 64 * 1024


@endpoint(
    bp,
    "POST",
    "imports/upload",
    summary="Start an import with a small file sent in the request (ADMIN)",
    tags=TAGS,
    action=Action.ARCHIVE_IMPORT,
    response=ImportOut,
    status=201,
    errors=(413, 415, 422, 503),
    raw_body=("multipart/form-data", MULTIPART_SCHEMA),
    max_body_bytes=_multipart_limit,
)
def upload_import(call: Call[None, None, None]) -> Reply:
    """`multipart/form-data` with `source`, optional `dry_run` and `mapping` (JSON text) and the
    `file` (at most IMPORT_MULTIPART_MAX_BYTES; bigger files go through `POST /imports`). The job
    is queued at once."""
    form, data = multipart.parse(
        call.raw_body, call.header("Content-Type"), limit=_multipart_limit(call.settings)
    )
    options = _options(form)
    out = jobs.create_import_with_file(
        options, data, actor=call.user, session=call.session, settings=call.settings
    )
    return Reply(out, status=201, headers={"Location": call.url_for(f"imports/{out.id}"), **NO_STORE})


def _options(form: dict[str, str]) -> ImportCreate:
    raw: dict[str, Any] = {"source": form.get("source"), "dry_run": form.get("dry_run", "false")}
    if form.get("mapping"):
        try:
            raw["mapping"] = json.loads(form["mapping"])
        except json.JSONDecodeError:
            raise Unprocessable(
                "The mapping part is not valid JSON.",
                errors=[{"loc": "body.mapping", "msg": "Not valid JSON.", "type": "json_invalid"}],
            ) from None
    try:
        return ImportCreate.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors(exc, "body")
        raise Unprocessable("The import options are not valid: " + errors[0]["msg"], errors=errors) from None


@endpoint(
    bp,
    "POST",
    "imports/{import_id:guid}/start",
    summary="Start an import whose file was uploaded (ADMIN)",
    tags=TAGS,
    action=Action.ARCHIVE_IMPORT,
    path=ImportPath,
    response=ImportOut,
    errors=(404, 409, 413),
)
def start_import(call: Call[ImportPath, None, None]) -> Reply:
    """Checks the uploaded file's size (over IMPORT_MAX_BYTES: 413, the file is deleted and the
    job keeps waiting for a smaller one) and queues the job; 409 when nothing was uploaded or the
    job already started."""
    out = jobs.start_import(call.path.import_id, session=call.session, settings=call.settings)
    return Reply(out, headers=NO_STORE)


@endpoint(
    bp,
    "GET",
    "imports/{import_id:guid}",
    summary="An import's progress and per-row results (ADMIN)",
    tags=TAGS,
    action=Action.ARCHIVE_IMPORT,
    path=ImportPath,
    query=ImportResultsQuery,
    response=ImportOut,
    errors=(404,),
    read_only=True,
)
def get_import(call: Call[ImportPath, ImportResultsQuery, None]) -> Reply:
    """`results` lists what became of each row (created, updated, skipped, or a problem with the
    row number and the reason), `limit` at a time after `after_row`."""
    out = jobs.get_import(call.path.import_id, call.query, session=call.session)
    return Reply(out, headers=NO_STORE)


@endpoint(
    bp,
    "POST",
    "imports/{import_id:guid}/cancel",
    summary="Cancel an import (ADMIN)",
    tags=TAGS,
    action=Action.ARCHIVE_IMPORT,
    path=ImportPath,
    response=ImportOut,
    errors=(404, 409),
)
def cancel_import(call: Call[ImportPath, None, None]) -> ImportOut:
    """Stops an unfinished import after the chunk in progress (that chunk is thrown away; rows of
    earlier chunks stay, and a new import of the same file continues from them)."""
    return jobs.cancel_import(call.path.import_id, session=call.session)


@scheduled(bp, "run_exports", schedule="%EXPORT_SCHEDULE%")
def run_exports(run: Run) -> None:
    """Write the next chunks of queued or running full exports (TRANSFER_RUN_SECONDS per run)."""
    if not run.settings.storage_configured:
        return
    outcome = jobs.run_exports(settings=run.settings)
    log.info("exports: %d chunks, %d finished", outcome.chunks, outcome.finished)


@scheduled(bp, "run_imports", schedule="%IMPORT_SCHEDULE%")
def run_imports(run: Run) -> None:
    """Process the next chunks of queued or running imports (TRANSFER_RUN_SECONDS per run)."""
    if not run.settings.storage_configured:
        return
    outcome = jobs.run_imports(settings=run.settings)
    log.info("imports: %d chunks, %d finished", outcome.chunks, outcome.finished)
