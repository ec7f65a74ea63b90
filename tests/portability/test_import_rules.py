"""Import rules: dry runs write nothing, a bad row gets its own problem, whole-file faults fail
the job before anything is written, limits, cancel, and every import is in the history."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.portability.conftest import (
    all_results,
    finish_import,
    import_via_multipart,
    import_via_sas,
    run_timer,
)
from tests.portability.test_github import FIXTURE, counts
from tests.support.api import Api, assert_problem

HEADER = ["id", "title", "description", "severity", "status", "labels", "reporter_email", "created_at"]


def csv_file(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def test_dry_run_writes_nothing_and_reports_what_it_would_do(
    storage_env: str, as_admin: Api, engine: Engine
) -> None:
    before = counts(engine)
    job = finish_import(as_admin, import_via_multipart(as_admin, "github", FIXTURE, dry_run=True))
    assert job["status"] == "done" and job["dry_run"] is True
    assert job["counts"] == {"created": 60, "updated": 0, "skipped": 1, "problem": 0}
    after = counts(engine)
    # Nothing but the record of who ran the dry run (two events of no issue).
    assert {k: after[k] - before[k] for k in after} == {**dict.fromkeys(after, 0), "events": 2}
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM events WHERE issue_id IS NOT NULL")) == 0
        assert conn.scalar(text("SELECT count(*) FROM import_links")) == 0
    # The real run after the dry run creates what the dry run announced.
    real = finish_import(as_admin, import_via_multipart(as_admin, "github", FIXTURE))
    assert real["counts"] == job["counts"]


def test_a_malformed_row_gets_its_own_problem_and_the_others_go_in(
    storage_env: str, as_admin: Api, reporter: Any
) -> None:
    data = csv_file(
        [
            ["a1", "Fine", "", "LOW", "OPEN", "bug", reporter.email, "2024-01-02T03:04:05Z"],
            ["a2", "Bad severity", "", "URGENT", "OPEN", "", reporter.email, ""],
            ["a3", "", "", "LOW", "OPEN", "", reporter.email, ""],
            ["a4", "Bad time", "", "LOW", "OPEN", "", reporter.email, "yesterday"],
            ["a5", "Nobody", "", "LOW", "OPEN", "", "", ""],
            ["a6", "Also fine", "", "high", "done", "bug, ui", reporter.email, ""],
        ]
    )
    job = finish_import(as_admin, import_via_multipart(as_admin, "csv", data))
    assert job["counts"] == {"created": 2, "updated": 0, "skipped": 0, "problem": 4}
    problems = {r["row"]: r["reason"] for r in all_results(as_admin, job["id"]) if r["outcome"] == "problem"}
    assert set(problems) == {3, 4, 5, 6}
    assert "severity" in problems[3] and "CRITICAL" in problems[3]
    assert problems[4].startswith("title")
    assert "created_at" in problems[5] and "yesterday" in problems[5]
    assert "reporter_email" in problems[6]
    issues = {i["title"]: i for i in as_admin.get("issues").json()}
    assert set(issues) == {"Fine", "Also fine"}
    assert issues["Fine"]["created_at"] == "2024-01-02T03:04:05Z"
    assert issues["Also fine"]["status"] == "DONE" and issues["Also fine"]["severity"] == "HIGH"
    assert [label["name"] for label in issues["Also fine"]["labels"]] == ["bug", "ui"]


def test_whole_file_faults_fail_the_job_before_anything_is_written(
    storage_env: str, as_admin: Api, reporter: Any, engine: Engine
) -> None:
    before = counts(engine)
    cases = {
        "csv": [
            (
                b"title,reporter_email\nok," + reporter.email.encode() + b"\n\xff\xfe broken\n",
                "not valid UTF-8",
            ),
            (b"summary,who\nx,y\n", "no column 'title'"),
            (b"", "empty"),
        ],
        "ndjson": [(b'{"kind": "user"}\n', "archive header"), (b"not json\n", "not JSON")],
        "github": [(b'[{"number": 1}', "not valid JSON")],
    }
    for source, files in cases.items():
        for data, message in files:
            if not data:
                continue  # an empty upload is refused at once (below)
            job = finish_import(as_admin, import_via_multipart(as_admin, source, data))
            assert job["status"] == "failed", (source, data, job)
            assert message.lower() in job["error"].lower(), (message, job["error"])
            assert job["rows_done"] == 0
    after = counts(engine)
    assert after["issues"] == before["issues"] == 0
    empty = as_admin.post("imports/upload", files={"source": (None, "csv"), "file": ("a.csv", b"")})
    assert_problem(empty, 422, "empty")


def test_unknown_people_can_be_refused_by_the_mapping(storage_env: str, as_admin: Api, reporter: Any) -> None:
    data = csv_file(
        [
            ["b1", "Known", "", "LOW", "OPEN", "", reporter.email, ""],
            ["b2", "Stranger", "", "LOW", "OPEN", "", "stranger@example.org", ""],
        ]
    )
    job = finish_import(
        as_admin, import_via_multipart(as_admin, "csv", data, mapping={"unknown_users": "problem"})
    )
    problems = [r for r in all_results(as_admin, job["id"]) if r["outcome"] == "problem"]
    assert [(p["row"], "stranger@example.org" in p["reason"]) for p in problems] == [(3, True)]


def test_csv_reimport_is_idempotent_per_source_id(storage_env: str, as_admin: Api, reporter: Any) -> None:
    data = csv_file([["c1", "Once", "", "LOW", "OPEN", "", reporter.email, ""]])
    finish_import(as_admin, import_via_multipart(as_admin, "csv", data))
    again = finish_import(as_admin, import_via_multipart(as_admin, "csv", data))
    assert again["counts"]["skipped"] == 1
    changed = finish_import(as_admin, import_via_multipart(as_admin, "csv", data.replace(b"Once", b"Twice")))
    assert changed["counts"]["updated"] == 1
    assert [i["title"] for i in as_admin.get("issues").json()] == ["Twice"]


def test_column_mapping_reads_other_headers(storage_env: str, as_admin: Api, reporter: Any) -> None:
    data = csv_file([["Summary here", reporter.email]], header=["Summary", "Reporter"])
    mapping = {"columns": {"title": "Summary", "reporter_email": "Reporter"}}
    job = finish_import(as_admin, import_via_multipart(as_admin, "csv", data, mapping=mapping))
    assert job["counts"]["created"] == 1
    wrong = import_via_multipart(as_admin, "csv", data, mapping={"columns": {"nonsense": "Summary"}})
    assert "nonsense" in finish_import(as_admin, wrong)["error"]


def test_limits_file_size_and_row_count(
    storage_env: str, as_admin: Api, reporter: Any, settings_env: Callable[..., None]
) -> None:
    rows = [[f"r{n}", f"Row {n}", "", "LOW", "OPEN", "", reporter.email, ""] for n in range(5)]
    settings_env(IMPORT_MAX_ROWS="3")
    job = finish_import(as_admin, import_via_multipart(as_admin, "csv", csv_file(rows)))
    assert job["status"] == "failed" and "IMPORT_MAX_ROWS" in job["error"]
    assert as_admin.get("issues").json() == []

    settings_env(IMPORT_MAX_ROWS="100", IMPORT_MAX_BYTES="1024")
    big = csv_file(rows * 20)
    assert len(big) > 1024
    response = as_admin.post("imports/upload", files={"source": (None, "csv"), "file": ("a.csv", big)})
    assert_problem(response, 413, "IMPORT_MAX_BYTES")
    created = as_admin.post("imports", json={"source": "csv"}).json()
    import requests

    put = requests.put(created["upload"]["url"], data=big, headers=created["upload"]["headers"], timeout=30)
    assert put.status_code == 201
    assert_problem(as_admin.post(f"imports/{created['id']}/start"), 413, "IMPORT_MAX_BYTES")
    assert as_admin.get(f"imports/{created['id']}").json()["status"] == "awaiting_upload"
    small = csv_file(rows[:1])
    assert (
        requests.put(
            created["upload"]["url"], data=small, headers=created["upload"]["headers"], timeout=30
        ).status_code
        == 201
    )
    assert as_admin.post(f"imports/{created['id']}/start").json()["status"] == "queued"


def test_start_needs_an_uploaded_file_and_only_once(storage_env: str, as_admin: Api, reporter: Any) -> None:
    created = as_admin.post("imports", json={"source": "csv"}).json()
    assert created["status"] == "awaiting_upload"
    assert "sp=c" in created["upload"]["url"]
    assert_problem(as_admin.post(f"imports/{created['id']}/start"), 409, "No file")
    job = import_via_sas(as_admin, "csv", csv_file([["d1", "T", "", "LOW", "OPEN", "", reporter.email, ""]]))
    assert job["status"] == "queued"
    assert_problem(as_admin.post(f"imports/{job['id']}/start"), 409)


def test_cancel_stops_an_import_between_chunks(
    storage_env: str, as_admin: Api, reporter: Any, settings_env: Callable[..., None]
) -> None:
    settings_env(IMPORT_CHUNK_ROWS="10")
    rows = [[f"e{n}", f"Row {n}", "", "LOW", "OPEN", "", reporter.email, ""] for n in range(25)]
    job = import_via_multipart(as_admin, "csv", csv_file(rows))
    cancelled = as_admin.post(f"imports/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    run_timer("run_imports")
    assert as_admin.get(f"imports/{job['id']}").json()["rows_done"] == 0
    assert as_admin.get("issues").json() == []
    assert_problem(as_admin.post(f"imports/{job['id']}/cancel"), 409, "already cancelled")


def test_every_import_and_export_is_in_the_history(
    storage_env: str, as_admin: Api, admin: Any, engine: Engine
) -> None:
    job = import_via_multipart(as_admin, "github", FIXTURE, dry_run=True)
    finish_import(as_admin, job)
    export = as_admin.post("exports", json={}).json()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT type, actor_id, payload->'job'->>'id' FROM events WHERE issue_id IS NULL ORDER BY id"
            )
        ).all()
    assert [(t, a, j) for t, a, j in rows] == [
        ("import_requested", admin.id, job["id"]),
        ("import_finished", admin.id, job["id"]),
        ("export_requested", admin.id, export["id"]),
    ]


def test_links_must_be_web_addresses(storage_env: str, as_admin: Api, reporter: Any) -> None:
    header = [*HEADER, "source_url"]
    data = csv_file(
        [
            ["f1", "Script", "", "LOW", "OPEN", "", reporter.email, "", "javascript:alert(1)"],
            ["f2", "Web", "", "LOW", "OPEN", "", reporter.email, "", "https://tracker.example/1"],
        ],
        header=header,
    )
    job = finish_import(as_admin, import_via_multipart(as_admin, "csv", data))
    problems = [r for r in all_results(as_admin, job["id"]) if r["outcome"] == "problem"]
    assert [(p["row"], "source_url" in p["reason"]) for p in problems] == [(2, True)]
    assert [i["source_url"] for i in as_admin.get("issues").json()] == ["https://tracker.example/1"]


def test_concurrent_timer_runs_never_apply_a_row_twice(
    storage_env: str, as_admin: Api, reporter: Any, settings_env: Callable[..., None], engine: Engine
) -> None:
    import threading

    from trackly.config import get_settings
    from trackly.portability import jobs

    settings_env(IMPORT_CHUNK_ROWS="10")
    rows = [[f"g{n}", f"Row {n}", "", "LOW", "OPEN", "", reporter.email, ""] for n in range(60)]
    job = import_via_multipart(as_admin, "csv", csv_file(rows))
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            for _ in range(20):
                jobs.run_imports(settings=get_settings(), budget_seconds=600)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    done = as_admin.get(f"imports/{job['id']}").json()
    assert done["status"] == "done" and done["counts"]["created"] == 60
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM issues")) == 60
        assert conn.scalar(text("SELECT count(*) FROM import_results")) == 60
