"""The cleanup timer: stale PENDING uploads, blobs of deleted issues or attachments, rejected blobs;
idempotent and safe to run twice at once. Also `on_issue_deleted`, the issues service's hook."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.attachments.conftest import PNG, put_blob, start_upload, upload_file
from trackly import clock


def _run_cleanup(**kw):
    from trackly import db
    from trackly.attachments import service
    from trackly.config import get_settings

    with db.session_scope() as session:
        return service.cleanup(session=session, settings=get_settings(), **kw)


def _statuses(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {str(r.id): r.status for r in conn.execute(text("SELECT id, status FROM attachments"))}


def test_removes_old_pending_uploads_and_their_blobs(
    as_reporter, reporter, issue_of, container, engine
) -> None:
    issue_id = issue_of(reporter)
    with clock.frozen(clock.now() - timedelta(hours=2)):
        old_uploaded = start_upload(as_reporter, issue_id, PNG)
        start_upload(as_reporter, issue_id, PNG)
    assert put_blob(old_uploaded["upload"], PNG).status_code == 403  # its SAS has long expired
    # Put the blob there directly, as if the browser had uploaded it in time.
    old_name = f"issues/{issue_id}/{old_uploaded['attachment']['id']}"
    container.upload_blob(old_name, PNG)
    recent = start_upload(as_reporter, issue_id, PNG)
    assert put_blob(recent["upload"], PNG).status_code == 201
    active = upload_file(as_reporter, issue_id)

    report = _run_cleanup()
    assert report.pending_removed == 2
    assert report.orphan_blobs_removed == 0
    assert set(_statuses(engine)) == {recent["attachment"]["id"], active["id"]}
    assert not container.get_blob_client(old_name).exists()
    assert container.get_blob_client(f"issues/{issue_id}/{recent['attachment']['id']}").exists()
    assert container.get_blob_client(f"issues/{issue_id}/{active['id']}").exists()
    # Idempotent: a second run finds nothing.
    again = _run_cleanup()
    assert (again.pending_removed, again.orphan_blobs_removed) == (0, 0)


def test_removes_blobs_whose_issue_or_attachment_is_gone(
    as_reporter, reporter, issue_of, container, engine
) -> None:
    issue_id = issue_of(reporter)
    active = upload_file(as_reporter, issue_id)
    gone_issue = uuid.uuid4()
    left_behind = [f"issues/{gone_issue}/{uuid.uuid4()}", f"issues/{issue_id}/{uuid.uuid4()}"]
    for name in left_behind:
        container.upload_blob(name, PNG)
    foreign = "issues/not-ours.txt"
    container.upload_blob(foreign, b"x")

    report = _run_cleanup()
    assert report.orphan_blobs_removed == 2
    assert sorted(report.removed_blob_names) == sorted(left_behind)
    for name in left_behind:
        assert not container.get_blob_client(name).exists()
    assert container.get_blob_client(f"issues/{issue_id}/{active['id']}").exists()
    assert container.get_blob_client(foreign).exists()


def test_issue_deleted_in_sql_leaves_blobs_that_cleanup_removes(
    as_reporter, reporter, issue_of, container, engine
) -> None:
    """A delete whose after-commit blob removal failed: the rows are gone (cascade), the blobs not."""
    issue_id = issue_of(reporter)
    upload_file(as_reporter, issue_id)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM issues WHERE id = :i"), {"i": issue_id})
    assert len(list(container.list_blobs(name_starts_with=f"issues/{issue_id}/"))) == 1
    assert _run_cleanup().orphan_blobs_removed == 1
    assert list(container.list_blobs(name_starts_with=f"issues/{issue_id}/")) == []


def test_a_concurrent_run_is_skipped(storage_env, engine) -> None:
    from trackly.attachments import service

    with Session(engine) as holder:
        assert holder.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": service.CLEANUP_LOCK_KEY})
        result: list[object] = []
        thread = threading.Thread(target=lambda: result.append(_run_cleanup()))
        thread.start()
        thread.join(timeout=30)
        assert result and result[0].skipped  # type: ignore[attr-defined]
        holder.rollback()
    assert not _run_cleanup().skipped


def test_pending_row_being_completed_is_skipped(as_reporter, reporter, issue_of, container, engine) -> None:
    issue_id = issue_of(reporter)
    with clock.frozen(clock.now() - timedelta(hours=2)):
        old = start_upload(as_reporter, issue_id, PNG)
    with Session(engine) as holder:  # as a `complete` holding the row lock would
        holder.execute(
            text("SELECT 1 FROM attachments WHERE id = :i FOR UPDATE"), {"i": old["attachment"]["id"]}
        )
        assert _run_cleanup().pending_removed == 0
        holder.rollback()
    assert _run_cleanup().pending_removed == 1


def test_timer_function_is_registered_and_runs(as_reporter, reporter, issue_of, container, engine) -> None:
    import function_app
    from trackly.http.router import discover

    _http, timers = discover(function_app.app)
    timer = next(t for t in timers if t.name == "cleanup_attachments")
    assert timer.schedule == "%ATTACHMENT_CLEANUP_SCHEDULE%"
    assert timer.run_on_startup is False
    issue_id = issue_of(reporter)
    with clock.frozen(clock.now() - timedelta(hours=2)):
        start_upload(as_reporter, issue_id, PNG)
    timer.user_function(timer=None)
    assert _statuses(engine) == {}


def test_timer_does_nothing_without_storage(reporter, issue_of, engine) -> None:
    from trackly.api.attachments import cleanup_attachments

    cleanup_attachments(None)  # type: ignore[arg-type]  # must not raise


def test_on_issue_deleted_removes_blobs_only_after_commit(
    as_reporter, reporter, issue_of, container, engine
) -> None:
    from trackly import db
    from trackly.attachments.service import on_issue_deleted
    from trackly.models import Issue

    issue_id = issue_of(reporter)
    upload_file(as_reporter, issue_id)
    prefix = f"issues/{issue_id}/"

    # Rolled back: the files stay.
    try:
        with db.session_scope() as session:
            on_issue_deleted(session.get(Issue, issue_id), session=session)
            raise RuntimeError("the delete failed")
    except RuntimeError:
        pass
    assert len(list(container.list_blobs(name_starts_with=prefix))) == 1

    with db.session_scope() as session:
        issue = session.get(Issue, issue_id)
        on_issue_deleted(issue, session=session)
        assert len(list(container.list_blobs(name_starts_with=prefix))) == 1  # not before commit
        session.delete(issue)
    assert list(container.list_blobs(name_starts_with=prefix)) == []
