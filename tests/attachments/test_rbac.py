"""Who may do what with attachments: exactly who may see the issue; deletes by uploader or staff."""

from __future__ import annotations

import uuid

from tests.attachments.conftest import PNG, put_blob, start_upload, upload_file
from tests.support.api import assert_problem


def test_another_reporter_gets_404_everywhere_even_with_ids(
    as_reporter, as_other_reporter, reporter, issue_of, container
) -> None:
    issue_id = issue_of(reporter)
    active = upload_file(as_reporter, issue_id)
    one = f"issues/{issue_id}/attachments/{active['id']}"
    body = {"filename": "a.png", "content_type": "image/png", "size_bytes": 3}
    for method, path, payload in (
        ("POST", f"issues/{issue_id}/attachments", body),
        ("GET", f"issues/{issue_id}/attachments", None),
        ("POST", f"{one}/complete", None),
        ("GET", f"{one}/download", None),
        ("DELETE", one, None),
    ):
        assert_problem(as_other_reporter.request(method, path, json=payload), 404, "issue not found")
    # Still there for its owner.
    assert as_reporter.get(f"{one}/download").status_code == 302


def test_anonymous_is_401(api, reporter, issue_of, container) -> None:
    issue_id = issue_of(reporter)
    resp = api.post(
        f"issues/{issue_id}/attachments", json={"filename": "a", "content_type": "image/png", "size_bytes": 1}
    )
    assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert_problem(api.get(f"issues/{issue_id}/attachments/{uuid.uuid4()}/download"), 401)


def test_staff_can_attach_to_any_issue_and_the_owner_sees_it(
    as_maintainer, as_admin, as_reporter, reporter, issue_of, *, container
) -> None:
    issue_id = issue_of(reporter)
    by_maintainer = upload_file(as_maintainer, issue_id, filename="m.png")
    by_admin = upload_file(as_admin, issue_id, filename="a.png")
    listed = as_reporter.get(f"issues/{issue_id}/attachments").json()
    assert [a["id"] for a in listed] == [by_maintainer["id"], by_admin["id"]]
    assert as_reporter.get(f"issues/{issue_id}/attachments/{by_admin['id']}/download").status_code == 302


def test_reporter_cannot_delete_an_attachment_staff_uploaded(
    as_maintainer, as_reporter, reporter, issue_of, container
) -> None:
    issue_id = issue_of(reporter)
    by_maintainer = upload_file(as_maintainer, issue_id)
    assert_problem(as_reporter.delete(f"issues/{issue_id}/attachments/{by_maintainer['id']}"), 403)
    assert container.get_blob_client(f"issues/{issue_id}/{by_maintainer['id']}").exists()


def test_maintainer_and_admin_can_delete_a_reporters_attachment(
    as_maintainer, as_admin, as_reporter, reporter, issue_of, *, container
) -> None:
    issue_id = issue_of(reporter)
    first, second = upload_file(as_reporter, issue_id), upload_file(as_reporter, issue_id)
    assert as_maintainer.delete(f"issues/{issue_id}/attachments/{first['id']}").status_code == 200
    assert as_admin.delete(f"issues/{issue_id}/attachments/{second['id']}").status_code == 200
    assert not container.get_blob_client(f"issues/{issue_id}/{first['id']}").exists()
    assert not container.get_blob_client(f"issues/{issue_id}/{second['id']}").exists()


def test_deactivated_user_is_refused(users, reporter, issue_of, api, *, container, engine) -> None:
    from sqlalchemy import text

    issue_id = issue_of(reporter)
    token = users.token(reporter)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :i"), {"i": reporter.id})
    resp = api.as_(token).post(
        f"issues/{issue_id}/attachments", json={"filename": "a", "content_type": "image/png", "size_bytes": 1}
    )
    assert resp.status_code in (401, 403)


def test_deleting_the_issue_through_the_api_removes_its_blobs(
    as_reporter, as_admin, reporter, issue_of, container
) -> None:
    issue_id, other_issue = issue_of(reporter), issue_of(reporter)
    active = upload_file(as_reporter, issue_id)
    pending = start_upload(as_reporter, issue_id, PNG)
    assert put_blob(pending["upload"], PNG).status_code == 201
    kept = upload_file(as_reporter, other_issue)
    assert len(list(container.list_blobs(name_starts_with=f"issues/{issue_id}/"))) == 2

    resp = as_admin.delete(f"issues/{issue_id}")
    assert resp.status_code == 200, resp.text
    assert list(container.list_blobs(name_starts_with=f"issues/{issue_id}/")) == []
    assert container.get_blob_client(f"issues/{other_issue}/{kept['id']}").exists()
    assert_problem(as_reporter.get(f"issues/{issue_id}/attachments/{active['id']}/download"), 404)
