"""Export and import jobs: created by a request, worked on by timers a chunk per transaction.

A timer takes a job with a transaction-level advisory lock (`pg_try_advisory_xact_lock`), not a
row lock, so two timer runs never work on one job at once while the cancel endpoint never waits
for a running chunk; a chunk re-reads the job's status under a row lock before it commits and
throws its work away if the job was cancelled meanwhile.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from trackly import clock, db
from trackly.attachments import storage as blobs
from trackly.config import Settings
from trackly.errors import Conflict, NotFound, PayloadTooLarge, Unprocessable
from trackly.events.types import EventType
from trackly.models import ExportJob, ImportJob, ImportResult, User
from trackly.portability import archive, importer, sources
from trackly.portability.history import record_job
from trackly.portability.rows import RowProblem
from trackly.portability.schemas import (
    DownloadOut,
    ExportOut,
    ImportCreate,
    ImportMapping,
    ImportOut,
    ImportResultOut,
    ImportResultsQuery,
    UploadOut,
    result_counts,
)

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")
EXPORTS_PREFIX = "exports/"
IMPORTS_PREFIX = "imports/"
_LOCK_EXPORT, _LOCK_IMPORT = 27_001, 27_002

Job = TypeVar("Job", ExportJob, ImportJob)


def _claim(session: Session, model: type[Job], lock_class: int, skip: set[uuid.UUID]) -> Job | None:
    """The oldest active job no other run holds (the advisory lock lasts until commit)."""
    candidates = session.scalars(
        select(model.id).where(model.status.in_(ACTIVE)).order_by(model.created_at).limit(20)
    ).all()
    for job_id in candidates:
        if job_id in skip:
            continue
        got = session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:cls, hashtext(:id))"),
            {"cls": lock_class, "id": str(job_id)},
        )
        if got:
            job = session.get(model, job_id, populate_existing=True)
            if job is not None and job.status in ACTIVE:
                return job
    return None


def _still_active(session: Session, model: type[Job], job_id: uuid.UUID) -> bool:
    status = session.scalar(select(model.status).where(model.id == job_id).with_for_update())
    return status in ACTIVE


@dataclass
class TimerRun:
    jobs: set[uuid.UUID] = field(default_factory=set)
    chunks: int = 0
    finished: int = 0


def _budget(settings: Settings, budget_seconds: float | None) -> float:
    return time.monotonic() + (settings.TRANSFER_RUN_SECONDS if budget_seconds is None else budget_seconds)


# --- exports -------------------------------------------------------------------------------


def _export_out(job: ExportJob, *, settings: Settings) -> ExportOut:
    download = None
    if job.status == "done":
        url, expires = archive.download_url(job, settings=settings)
        download = DownloadOut(url=url, expires_at=expires)
    return ExportOut(
        id=job.id,
        status=job.status,
        include_files=job.include_files,
        format_version=archive.FORMAT_VERSION,
        counts={k: int(v) for k, v in (job.counts or {}).items()},
        bytes_written=job.bytes_written,
        runs=job.runs,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        download=download,
    )


def create_export(include_files: bool, *, actor: User, session: Session, settings: Settings) -> ExportOut:
    blobs.get_storage(settings)  # 503 now when storage is not configured, not in the timer
    job_id = uuid.uuid4()
    now = clock.now()
    job = ExportJob(
        id=job_id,
        requested_by=actor.id,
        status="queued",
        include_files=include_files,
        blob_name=f"{EXPORTS_PREFIX}{job_id}.ndjson",
        state={},
        counts={},
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    record_job(
        session=session,
        type=EventType.EXPORT_REQUESTED,
        actor_id=actor.id,
        actor_name=actor.full_name,
        job={"id": str(job_id), "include_files": include_files},
    )
    session.flush()
    return _export_out(job, settings=settings)


def get_export(job_id: uuid.UUID, *, session: Session, settings: Settings) -> ExportOut:
    job = session.get(ExportJob, job_id)
    if job is None:
        raise NotFound("Export not found.")
    return _export_out(job, settings=settings)


def cancel_export(job_id: uuid.UUID, *, session: Session, settings: Settings) -> ExportOut:
    job = session.get(ExportJob, job_id, with_for_update=True)
    if job is None:
        raise NotFound("Export not found.")
    if job.status in FINISHED:
        raise Conflict(
            f"The export is already {job.status}; only a queued or running export can be cancelled."
        )
    job.status, job.finished_at, job.updated_at = "cancelled", clock.now(), clock.now()
    return _export_out(job, settings=settings)


def run_exports(*, settings: Settings, budget_seconds: float | None = None) -> TimerRun:
    """The export timer: chunks of any active exports until the time budget is spent."""
    run = TimerRun()
    deadline = _budget(settings, budget_seconds)
    while time.monotonic() < deadline:
        with db.session_scope() as session:
            job = _claim(session, ExportJob, _LOCK_EXPORT, set())
            if job is None:
                break
            if job.id not in run.jobs:
                run.jobs.add(job.id)
                job.runs += 1
            if job.status == "queued":
                job.status, job.started_at = "running", clock.now()
            try:
                done = archive.step(job, session=session, settings=settings)
            except blobs.StorageUnavailable:
                log.warning("export %s: storage unavailable; the next run continues", job.id)
                break
            if not _still_active(session, ExportJob, job.id):
                session.rollback()
                continue
            job.updated_at = clock.now()
            run.chunks += 1
            if done:
                job.status, job.finished_at = "done", clock.now()
                run.finished += 1
    return run


# --- imports -------------------------------------------------------------------------------


def _results(
    job: ImportJob, query: ImportResultsQuery, *, session: Session
) -> tuple[list[ImportResultOut], int | None]:
    statement = select(ImportResult).where(ImportResult.job_id == job.id, ImportResult.row > query.after_row)
    if query.outcome:
        statement = statement.where(ImportResult.outcome == query.outcome)
    found = session.scalars(statement.order_by(ImportResult.row).limit(query.limit + 1)).all()
    items = [
        ImportResultOut(
            row=r.row,
            kind=r.kind,
            outcome=r.outcome,
            source_id=r.source_id,
            target_id=r.target_id,
            reason=r.reason,
        )
        for r in found[: query.limit]
    ]
    return items, (items[-1].row if len(found) > query.limit else None)


def _import_out(
    job: ImportJob,
    *,
    session: Session,
    query: ImportResultsQuery | None = None,
    upload: UploadOut | None = None,
) -> ImportOut:
    results, next_row = _results(job, query or ImportResultsQuery(), session=session)
    return ImportOut(
        id=job.id,
        source=job.source,
        status=job.status,
        dry_run=job.dry_run,
        file_bytes=job.file_bytes,
        rows_total=(job.counts or {}).get("rows_total"),
        rows_done=job.rows_done,
        counts=result_counts(job.counts or {}),
        runs=job.runs,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        upload=upload,
        results=results,
        next_after_row=next_row,
    )


def _new_import(options: ImportCreate, *, actor: User, session: Session, status: str) -> ImportJob:
    job_id = uuid.uuid4()
    now = clock.now()
    job = ImportJob(
        id=job_id,
        requested_by=actor.id,
        source=options.source,
        status=status,
        dry_run=options.dry_run,
        mapping=(options.mapping or ImportMapping()).model_dump(mode="json"),
        blob_name=f"{IMPORTS_PREFIX}{job_id}",
        counts={},
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    record_job(
        session=session,
        type=EventType.IMPORT_REQUESTED,
        actor_id=actor.id,
        actor_name=actor.full_name,
        job={"id": str(job_id), "source": options.source, "dry_run": options.dry_run},
    )
    session.flush()
    return job


def create_import(options: ImportCreate, *, actor: User, session: Session, settings: Settings) -> ImportOut:
    """A job awaiting its file, and the create-only SAS URL to PUT the file to."""
    from azure.storage.blob import BlobSasPermissions

    store = blobs.get_storage(settings)
    if not store.container_ready:
        store.ensure_container()
    job = _new_import(options, actor=actor, session=session, status="awaiting_upload")
    expires = clock.now() + timedelta(minutes=settings.UPLOAD_SAS_MINUTES)
    url = store.sas_url(job.blob_name, permission=BlobSasPermissions(create=True), expires_at=expires)
    upload = UploadOut(url=url, headers={"x-ms-blob-type": "BlockBlob"}, expires_at=expires)
    return _import_out(job, session=session, upload=upload)


def create_import_with_file(
    options: ImportCreate, data: bytes, *, actor: User, session: Session, settings: Settings
) -> ImportOut:
    """A small file sent in the request: stored, and the job queued at once."""
    if len(data) > settings.IMPORT_MAX_BYTES:
        raise PayloadTooLarge(
            f"The file is {len(data)} bytes; the limit is IMPORT_MAX_BYTES ({settings.IMPORT_MAX_BYTES})."
        )
    if not data:
        raise Unprocessable(
            "The file is empty.", errors=[{"loc": "body.file", "msg": "The file is empty.", "type": "empty"}]
        )
    store = blobs.get_storage(settings)
    store.ensure_container()
    job = _new_import(options, actor=actor, session=session, status="queued")
    job.file_bytes = len(data)
    with blobs.translate_errors():
        store.container.get_blob_client(job.blob_name).upload_blob(data, overwrite=True)
    return _import_out(job, session=session)


def start_import(job_id: uuid.UUID, *, session: Session, settings: Settings) -> ImportOut:
    """The file is uploaded: check its size and queue the job."""
    job = session.get(ImportJob, job_id, with_for_update=True)
    if job is None:
        raise NotFound("Import not found.")
    if job.status != "awaiting_upload":
        raise Conflict(f"The import is {job.status}; only an import awaiting its file can be started.")
    store = blobs.get_storage(settings)
    info = blobs.blob_info(store, job.blob_name)
    if info is None:
        raise Conflict("No file has been uploaded yet: PUT it to the upload URL first.")
    if info.size > settings.IMPORT_MAX_BYTES:
        # The file goes; the job keeps waiting, so a smaller file can be uploaded in its place.
        blobs.delete_blob(store, job.blob_name)
        raise PayloadTooLarge(
            f"The file is {info.size} bytes; the limit is IMPORT_MAX_BYTES ({settings.IMPORT_MAX_BYTES}). "
            "It was deleted; upload a smaller file to the same URL."
        )
    job.file_bytes, job.status, job.updated_at = info.size, "queued", clock.now()
    return _import_out(job, session=session)


def get_import(job_id: uuid.UUID, query: ImportResultsQuery, *, session: Session) -> ImportOut:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("Import not found.")
    return _import_out(job, session=session, query=query)


def cancel_import(job_id: uuid.UUID, *, session: Session) -> ImportOut:
    job = session.get(ImportJob, job_id, with_for_update=True)
    if job is None:
        raise NotFound("Import not found.")
    if job.status in FINISHED:
        raise Conflict(f"The import is already {job.status}; only an unfinished import can be cancelled.")
    job.status, job.finished_at, job.updated_at = "cancelled", clock.now(), clock.now()
    return _import_out(job, session=session)


def _chunks(settings: Settings, job: ImportJob) -> Iterator[bytes]:
    return blobs.iter_chunks(blobs.get_storage(settings), job.blob_name)


def _fail(job: ImportJob, message: str) -> None:
    job.status, job.error, job.finished_at = "failed", message[:1000], clock.now()


def _scan(job: ImportJob, *, settings: Settings) -> None:
    """The first run reads the whole file once: encoding, header, JSON, and the row count."""
    mapping = job.mapping or {}
    count = 0
    for _record in sources.read(job.source, _chunks(settings, job), mapping):
        count += 1
        if count > settings.IMPORT_MAX_ROWS:
            raise sources.FileProblem(
                f"The file has more than IMPORT_MAX_ROWS ({settings.IMPORT_MAX_ROWS}) records; split it."
            )
    job.counts = {**(job.counts or {}), "rows_total": count}


def _context(job: ImportJob, *, session: Session, settings: Settings) -> importer.Context:
    ctx = importer.Context(
        job=job, session=session, settings=settings, mapping=ImportMapping(**(job.mapping or {}))
    )
    if job.source == "github":
        for record in sources.read("github", _chunks(settings, job), {}):
            if record.kind == "issue" and isinstance(record.data.get("number"), int):
                ctx.github_numbers[record.data["number"]] = str(
                    record.data.get("id") or record.data["number"]
                )
    if job.source == "ndjson":
        first = next(iter(sources.read("ndjson", _chunks(settings, job), {})), None)
        ctx.archive_files = bool(first and first.data.get("include_files"))
    return ctx


def _one(ctx: importer.Context, record: sources.Record) -> tuple[str, importer.Outcome | None]:
    """Apply one record in its own savepoint: a refused row leaves nothing behind."""
    ctx.row_cache.clear()
    savepoint = ctx.session.begin_nested()
    try:
        kind, outcome = importer.apply(ctx, record)
        if ctx.dry_run:
            savepoint.rollback()
        else:
            savepoint.commit()
        importer.row_done(ctx, ok=True)
        return kind, outcome
    except RowProblem as exc:
        reason = str(exc)
    except (IntegrityError, DBAPIError) as exc:
        log.info("import %s row %s refused by the database: %s", ctx.job.id, record.row, type(exc).__name__)
        reason = "The database refused the row (a value is out of range or conflicts with another row)."
    savepoint.rollback()
    importer.row_done(ctx, ok=False)
    for key in ctx.row_cache:  # rows made inside the failed savepoint are gone
        ctx.cache.pop(key, None)
    return record.kind[:16] if record.kind else "row", importer.Outcome("problem", None, reason)


def _chunk(job: ImportJob, *, session: Session, settings: Settings) -> bool:
    """Process the next IMPORT_CHUNK_ROWS records; True when the file is finished."""
    ctx = _context(job, session=session, settings=settings)
    records = sources.read(job.source, _chunks(settings, job), job.mapping or {})
    counts = dict(job.counts or {})
    handled = 0
    results: list[dict[str, Any]] = []
    chunk = list(islice(records, job.rows_done, job.rows_done + settings.IMPORT_CHUNK_ROWS))
    if job.source in ("csv", "github"):
        ids = [importer.source_id_of(ctx, r) for r in chunk if r.kind == "issue"]
        importer.prefetch_links(ctx, "issue", [i for i in ids if i])
    for record in chunk:
        handled += 1
        kind, outcome = _one(ctx, record)
        if outcome is None:
            continue
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
        results.append(
            {
                "job_id": job.id,
                "row": record.row,
                "kind": kind,
                "outcome": outcome.outcome,
                "source_id": importer.source_id_of(ctx, record),
                "target_id": outcome.target_id,
                "reason": (outcome.reason or None) and outcome.reason[:500],
            }
        )
        if ctx.dry_run and results:
            # A dry run finds what it would have made through its results: keep them current.
            session.execute(insert(ImportResult), results)
            results = []
    if results:
        session.execute(insert(ImportResult), results)
    importer.flush_links(ctx)
    job.rows_done += handled
    job.counts = counts
    return handled < settings.IMPORT_CHUNK_ROWS or job.rows_done >= int(counts.get("rows_total", 0))


def run_imports(*, settings: Settings, budget_seconds: float | None = None) -> TimerRun:
    """The import timer: chunks of any active imports until the time budget is spent."""
    run = TimerRun()
    deadline = _budget(settings, budget_seconds)
    while time.monotonic() < deadline:
        with db.session_scope() as session:
            job = _claim(session, ImportJob, _LOCK_IMPORT, set())
            if job is None:
                break
            if job.id not in run.jobs:
                run.jobs.add(job.id)
                job.runs += 1
            try:
                if job.status == "queued":
                    job.status, job.started_at = "running", clock.now()
                    _scan(job, settings=settings)
                    run.chunks += 1
                    continue
                done = _chunk(job, session=session, settings=settings)
            except sources.FileProblem as exc:
                session.rollback()
                _fail_later(job.id, str(exc))
                run.finished += 1
                continue
            except blobs.StorageUnavailable:
                log.warning("import %s: storage unavailable; the next run continues", job.id)
                break
            if not _still_active(session, ImportJob, job.id):
                session.rollback()
                continue
            job.updated_at = clock.now()
            run.chunks += 1
            if done:
                job.status, job.finished_at = "done", clock.now()
                record_job(
                    session=session,
                    type=EventType.IMPORT_FINISHED,
                    actor_id=job.requested_by,
                    actor_name=None,
                    job={
                        "id": str(job.id),
                        "source": job.source,
                        "dry_run": job.dry_run,
                        "counts": job.counts,
                    },
                )
                run.finished += 1
    return run


def _fail_later(job_id: uuid.UUID, message: str) -> None:
    with db.session_scope() as session:
        job = session.get(ImportJob, job_id, with_for_update=True)
        if job is not None and job.status in ACTIVE:
            _fail(job, message)
            job.started_at = job.started_at or clock.now()


def active_count(*, session: Session) -> int:
    return int(
        session.scalar(select(func.count()).select_from(ImportJob).where(ImportJob.status.in_(ACTIVE))) or 0
    )
