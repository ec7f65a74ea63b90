"""Full-export jobs: chunked writing, a crashed run's extra bytes, cancel, and the archive's shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.portability.conftest import CONTAINER, run_timer, wait_for_job
from tests.support.api import Api, assert_problem


def _lines(url: str) -> list[dict[str, Any]]:
    body = requests.get(url, timeout=30)
    assert body.status_code == 200
    return [json.loads(line) for line in body.text.splitlines()]


def test_archive_is_written_in_chunks_with_header_and_end_and_no_credentials(
    storage_env: str, as_admin: Api, as_reporter: Api, settings_env: Callable[..., None]
) -> None:
    settings_env(EXPORT_CHUNK_ROWS="10")
    for n in range(25):
        as_reporter.post("issues", json={"title": f"Issue {n}"})
    job = as_admin.post("exports", json={}).json()
    done = wait_for_job(as_admin, f"exports/{job['id']}", "run_exports")
    assert done["status"] == "done" and done["counts"]["issue"] == 25 and done["runs"] == 1
    lines = _lines(done["download"]["url"])
    assert lines[0]["kind"] == "trackly-archive" and lines[0]["format_version"] == 1
    assert lines[-1] == {"kind": "end", "counts": done["counts"]}
    users = [line for line in lines if line["kind"] == "user"]
    assert users and all(
        set(u) == {"kind", "id", "email", "full_name", "role", "is_active", "created_at"} for u in users
    )
    assert len({line["id"] for line in lines if line["kind"] == "issue"}) == 25
    assert "password" not in json.dumps(lines)


def test_bytes_appended_by_a_run_that_died_restart_the_archive(
    storage_env: str, as_admin: Api, as_reporter: Api, settings_env: Callable[..., None], engine: Engine
) -> None:
    from azure.storage.blob import BlobServiceClient

    from trackly import db
    from trackly.config import get_settings
    from trackly.models import ExportJob
    from trackly.portability import archive

    settings_env(EXPORT_CHUNK_ROWS="10")
    for n in range(15):
        as_reporter.post("issues", json={"title": f"Issue {n}"})
    job = as_admin.post("exports", json={}).json()
    # One chunk, then a run that appended but never committed its position.
    with db.session_scope() as session:
        row = session.get(ExportJob, job["id"])
        assert row is not None
        assert archive.step(row, session=session, settings=get_settings()) is False
    with engine.connect() as conn:
        blob = conn.scalar(text("SELECT blob_name FROM export_jobs WHERE id = :id"), {"id": job["id"]})
    with BlobServiceClient.from_connection_string(storage_env) as service:
        service.get_container_client(CONTAINER).get_blob_client(blob).append_block(b'{"kind":"user"}\n')
    done = wait_for_job(as_admin, f"exports/{job['id']}", "run_exports")
    assert done["status"] == "done"
    lines = _lines(done["download"]["url"])
    assert [line["kind"] for line in lines].count("trackly-archive") == 1
    issue_ids = [line["id"] for line in lines if line["kind"] == "issue"]
    assert len(issue_ids) == len(set(issue_ids)) == 15
    assert {"kind": "user"} not in lines


def test_cancel_an_export(storage_env: str, as_admin: Api) -> None:
    job = as_admin.post("exports", json={}).json()
    cancelled = as_admin.post(f"exports/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["download"] is None
    run_timer("run_exports")
    assert as_admin.get(f"exports/{job['id']}").json()["status"] == "cancelled"
    assert_problem(as_admin.post(f"exports/{job['id']}/cancel"), 409)
