"""The round trip: a tracker filled through the API, exported as an archive (files included),
imported into a second, empty database on the same server, answers the API the same.

Excepted, by design: ids (every UUID and every event id is new in the second tracker) and so
the ETags made from them. The comparison renames ids to their order of first appearance in each
snapshot, so the references between things (who created what, which label is on which issue,
which comment belongs where) must still match exactly.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from tests.conftest import UserFactory
from tests.portability.conftest import finish_import, import_via_sas, wait_for_job
from tests.support.api import Api

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200)) * 50
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text[:400])
    return response.json() if response.content else None


def _fill(admin: Api, maintainer: Api, reporter: Api, other: Api, maintainer_id: str) -> None:
    """Issues in every status, labels, comments (one edited, one deleted), watchers, an
    attachment (and a deleted one), edits, and a deleted issue."""
    bug = _ok(admin.post("labels", json={"name": "bug", "color": "#d73a4a"}), 201)["id"]
    ui = _ok(admin.post("labels", json={"name": "ui", "color": "#0e8a16", "description": "Screens"}), 201)[
        "id"
    ]
    ids = []
    for n, (who, severity) in enumerate(
        [(reporter, "LOW"), (other, "HIGH"), (reporter, "CRITICAL"), (other, "MEDIUM")]
    ):
        body = {"title": f"Issue {n}", "description": f"Steps **{n}**", "severity": severity}
        ids.append(_ok(who.post("issues", json=body), 201)["id"])
    for issue_id, status in zip(ids[1:], ["TRIAGED", "IN_PROGRESS", "DONE"], strict=True):
        _ok(maintainer.patch(f"issues/{issue_id}", json={"status": status}))
    _ok(
        maintainer.patch(f"issues/{ids[1]}", json={"assignee_id": maintainer_id, "title": "Issue 1, renamed"})
    )
    _ok(maintainer.put(f"issues/{ids[1]}/labels/{bug}"))
    _ok(maintainer.put(f"issues/{ids[1]}/labels/{ui}"))
    _ok(maintainer.delete(f"issues/{ids[1]}/labels/{ui}"))
    _ok(maintainer.put(f"issues/{ids[2]}/labels/{ui}"))
    first = _ok(reporter.post(f"issues/{ids[0]}/comments", json={"body": "It happens daily."}), 201)
    _ok(reporter.patch(f"issues/{ids[0]}/comments/{first['id']}", json={"body": "It happens hourly."}))
    gone = _ok(maintainer.post(f"issues/{ids[0]}/comments", json={"body": "Duplicate?"}), 201)
    _ok(maintainer.delete(f"issues/{ids[0]}/comments/{gone['id']}"))
    _ok(maintainer.post(f"issues/{ids[0]}/comments", json={"body": "Looking into it."}), 201)
    _ok(maintainer.put(f"issues/{ids[0]}/watch"))
    for name in ("screen.png", "old.png"):
        created = _ok(
            reporter.post(
                f"issues/{ids[0]}/attachments",
                json={"filename": name, "content_type": "image/png", "size_bytes": len(PNG)},
            ),
            201,
        )
        upload = created["upload"]
        assert requests.put(upload["url"], data=PNG, headers=upload["headers"], timeout=30).status_code == 201
        _ok(reporter.post(f"issues/{ids[0]}/attachments/{created['attachment']['id']}/complete"))
    old = next(a for a in _ok(reporter.get(f"issues/{ids[0]}/attachments")) if a["filename"] == "old.png")
    _ok(reporter.delete(f"issues/{ids[0]}/attachments/{old['id']}"))
    doomed = _ok(reporter.post("issues", json={"title": "Mistake"}), 201)["id"]
    _ok(reporter.delete(f"issues/{doomed}"))


def _snapshot(api: Api) -> dict[str, Any]:
    issues = _ok(api.get("issues", params={"limit": 100, "sort": "created_at"}))
    out: dict[str, Any] = {"list": issues, "labels": _ok(api.get("labels")), "issues": []}
    for issue in issues:
        issue_id = issue["id"]
        attachments = _ok(api.get(f"issues/{issue_id}/attachments"))
        files = []
        for attachment in attachments:
            link = _ok(
                api.get(
                    f"issues/{issue_id}/attachments/{attachment['id']}/download", params={"redirect": "false"}
                )
            )
            files.append(requests.get(link["url"], timeout=30).content)
        out["issues"].append(
            {
                "issue": _ok(api.get(f"issues/{issue_id}")),
                "comments": _ok(api.get(f"issues/{issue_id}/comments")),
                "history": _ok(api.get(f"issues/{issue_id}/history")),
                "watchers": _ok(api.get(f"issues/{issue_id}/watchers")),
                "attachments": attachments,
                "files": [len(f) for f in files],
                "files_equal_png": [f == PNG for f in files],
            }
        )
    return out


def _canonical(value: Any, names: dict[str, str]) -> Any:
    """Ids renamed by first appearance; event ids (ints under `id` in a history) dropped."""
    if isinstance(value, str):
        return UUID.sub(lambda m: names.setdefault(m.group(0), f"<id{len(names)}>"), value)
    if isinstance(value, list):
        return [_canonical(v, names) for v in value]
    if isinstance(value, dict):
        return {
            k: _canonical(v, names)
            for k, v in value.items()
            if not (k == "id" and isinstance(v, int)) and k != "url"
        }
    return value


@pytest.fixture
def second_database(database_url: str) -> Iterator[str]:
    """An empty database on the same server, migrated to head; dropped afterwards."""
    from trackly import schema

    server = make_url(database_url)
    name = f"trackly_second_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    schema.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def use_database(settings_env: Callable[..., None], database_url: str) -> Iterator[Callable[[str], None]]:
    from trackly import db

    def switch(url: str) -> None:
        settings_env(DATABASE_URL=url)
        db.dispose_engine()

    yield switch
    switch(database_url)


def test_export_then_import_into_an_empty_database_answers_the_same(  # noqa: PLR0917 (pytest fixtures)
    storage_env: str,
    api: Api,
    users: UserFactory,
    admin: Any,
    maintainer: Any,
    reporter: Any,
    other_reporter: Any,
    second_database: str,
    use_database: Callable[[str], None],
) -> None:
    as_admin = api.as_(users.token(admin))
    _fill(
        as_admin,
        api.as_(users.token(maintainer)),
        api.as_(users.token(reporter)),
        api.as_(users.token(other_reporter)),
        str(maintainer.id),
    )
    before = _snapshot(as_admin)
    assert len(before["list"]) == 4
    assert {i["issue"]["status"] for i in before["issues"]} == {"OPEN", "TRIAGED", "IN_PROGRESS", "DONE"}

    export = _ok(as_admin.post("exports", json={"include_files": True}), 202)
    done = wait_for_job(as_admin, f"exports/{export['id']}", "run_exports")
    assert done["status"] == "done", done
    archive = requests.get(done["download"]["url"], timeout=30)
    assert archive.status_code == 200
    assert archive.headers["Content-Disposition"].startswith("attachment")
    assert done["counts"]["issue"] == 4 and done["counts"]["attachment"] == 1

    use_database(second_database)
    engine: Engine = create_engine(second_database)
    try:
        second_users = UserFactory(engine)
        # The importing admin has an account in the new tracker (matched by email).
        new_admin = second_users("ADMIN", email=admin.email, full_name=admin.full_name)
        as_new_admin = api.as_(second_users.token(new_admin))
        assert _ok(as_new_admin.get("issues")) == []
        job = finish_import(as_new_admin, import_via_sas(as_new_admin, "ndjson", archive.content))
        assert job["status"] == "done", job
        assert job["counts"]["problem"] == 0, [r for r in job["results"] if r["outcome"] == "problem"]
        after = _snapshot(as_new_admin)
        with engine.connect() as conn:
            # Nothing imported was sent anywhere: no notification, nothing left to publish.
            assert conn.scalar(text("SELECT count(*) FROM notifications")) == 0
            assert (
                conn.scalar(text("SELECT count(*) FROM events WHERE imported AND published_at IS NULL")) == 0
            )
            # Every other person became a deactivated placeholder without a password.
            rows = conn.execute(
                text("SELECT is_active, password_hash FROM users WHERE id <> :a"), {"a": new_admin.id}
            )
            assert {(active, pw) for active, pw in rows} == {(False, None)}
        feed = _ok(as_new_admin.get("events", params={"after": 0}))
        assert {e["type"] for e in feed["events"]} <= {"import_requested", "import_finished"}
    finally:
        engine.dispose()

    expected, actual = _canonical(before, {}), _canonical(after, {})
    if actual != expected:
        import difflib
        import json

        diff = difflib.unified_diff(
            json.dumps(expected, indent=1, sort_keys=True).splitlines(),
            json.dumps(actual, indent=1, sort_keys=True).splitlines(),
            lineterm="",
            n=2,
        )
        raise AssertionError("the second tracker answers differently:\n" + "\n".join(list(diff)[:80]))
    assert all(all(i["files_equal_png"]) for i in after["issues"])
