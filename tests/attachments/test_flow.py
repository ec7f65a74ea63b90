"""The three-request upload flow, listing, downloads and deletion, end to end over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import text

from tests.attachments.conftest import PNG, put_blob, start_upload, upload_file
from tests.support.api import assert_problem


def test_full_flow_create_put_complete_list_download(
    as_reporter, reporter, issue_of, container, engine
) -> None:
    issue_id = issue_of(reporter)
    created = start_upload(as_reporter, issue_id, PNG, filename="screen shot.png")
    attachment, upload = created["attachment"], created["upload"]
    assert attachment["status"] == "PENDING"
    assert attachment["filename"] == "screen shot.png"
    assert attachment["size_bytes"] == len(PNG)
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"x-ms-blob-type": "BlockBlob", "Content-Type": "image/png"}
    # The server chose the blob name; the SAS is for that blob only, create-only, short-lived.
    parts = urlsplit(upload["url"])
    assert parts.path.endswith(f"/issue-files/issues/{issue_id}/{attachment['id']}")
    sas = parse_qs(parts.query)
    assert sas["sp"] == ["c"]
    assert sas["sr"] == ["b"]
    assert "se" in sas

    # Not listed while pending.
    assert as_reporter.get(f"issues/{issue_id}/attachments").json() == []

    assert put_blob(upload, PNG).status_code == 201
    done = as_reporter.post(f"issues/{issue_id}/attachments/{attachment['id']}/complete")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ACTIVE"
    assert done.json()["completed_at"]

    listed = as_reporter.get(f"issues/{issue_id}/attachments")
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [attachment["id"]]

    download = as_reporter.get(f"issues/{issue_id}/attachments/{attachment['id']}/download")
    assert download.status_code == 302
    location = download.headers["Location"]
    assert parse_qs(urlsplit(location).query)["sp"] == ["r"]
    blob = requests.get(location, timeout=10)
    assert blob.status_code == 200
    assert blob.content == PNG
    assert blob.headers["Content-Type"] == "image/png"
    assert blob.headers["Content-Disposition"] == (
        "attachment; filename=\"screen shot.png\"; filename*=UTF-8''screen%20shot.png"
    )

    link = as_reporter.get(
        f"issues/{issue_id}/attachments/{attachment['id']}/download", params={"redirect": "false"}
    )
    assert link.status_code == 200
    assert set(link.json()) == {"url", "expires_at"}
    assert requests.get(link.json()["url"], timeout=10).content == PNG

    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT type, payload FROM events WHERE issue_id = :i ORDER BY id"), {"i": issue_id}
        ).all()
    assert [e.type for e in events] == ["attachment_added"]
    assert events[0].payload["attachment"]["id"] == attachment["id"]
    assert events[0].payload["attachment"]["filename"] == "screen shot.png"


def test_completing_twice_is_harmless(as_reporter, reporter, issue_of, container, engine) -> None:
    issue_id = issue_of(reporter)
    active = upload_file(as_reporter, issue_id)
    again = as_reporter.post(f"issues/{issue_id}/attachments/{active['id']}/complete")
    assert again.status_code == 200
    assert again.json() == active
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE type = 'attachment_added'")).scalar() == 1


def test_text_download_forces_type_and_attachment_disposition(
    as_maintainer, reporter, issue_of, container
) -> None:
    """Stored HTML-looking text is still served as a download of text/plain, never rendered."""
    issue_id = issue_of(reporter)
    data = b"<html><script>alert(1)</script></html>"
    active = upload_file(as_maintainer, issue_id, data, content_type="text/plain", filename="résumé «1».txt")
    location = as_maintainer.get(f"issues/{issue_id}/attachments/{active['id']}/download").headers["Location"]
    blob = requests.get(location, timeout=10)
    assert blob.content == data
    assert blob.headers["Content-Type"] == "text/plain; charset=utf-8"
    disposition = blob.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="resume 1.txt"; ')
    assert disposition.endswith("filename*=UTF-8''r%C3%A9sum%C3%A9%20%C2%AB1%C2%BB.txt")


def test_delete_removes_row_blob_and_records_event(
    as_reporter, reporter, issue_of, container, engine
) -> None:
    issue_id = issue_of(reporter)
    active = upload_file(as_reporter, issue_id)
    blob_name = f"issues/{issue_id}/{active['id']}"
    assert container.get_blob_client(blob_name).exists()

    resp = as_reporter.delete(f"issues/{issue_id}/attachments/{active['id']}")
    assert resp.status_code == 200
    assert resp.json() == {"id": active["id"], "deleted": True, "message": "The attachment was deleted."}
    assert not container.get_blob_client(blob_name).exists()
    assert as_reporter.get(f"issues/{issue_id}/attachments").json() == []
    assert_problem(as_reporter.delete(f"issues/{issue_id}/attachments/{active['id']}"), 404, "not found")
    with engine.connect() as conn:
        types = conn.execute(text("SELECT type FROM events ORDER BY id")).scalars().all()
    assert types == ["attachment_added", "attachment_removed"]


def test_pending_attachment_cannot_be_downloaded(as_reporter, reporter, issue_of, container) -> None:
    issue_id = issue_of(reporter)
    created = start_upload(as_reporter, issue_id, PNG)
    resp = as_reporter.get(f"issues/{issue_id}/attachments/{created['attachment']['id']}/download")
    assert_problem(resp, 409, "not been completed")


def test_attachment_of_another_issue_is_not_found(as_reporter, reporter, issue_of, container) -> None:
    first, second = issue_of(reporter), issue_of(reporter)
    active = upload_file(as_reporter, first)
    for method, suffix in (("GET", "/download"), ("POST", "/complete"), ("DELETE", "")):
        resp = as_reporter.request(method, f"issues/{second}/attachments/{active['id']}{suffix}")
        assert_problem(resp, 404, "attachment not found")


def test_issue_json_lists_active_attachments(reporter, issue_of, container, engine) -> None:
    """The contract the issues service uses to embed attachments (one query for many issues)."""
    from sqlalchemy.orm import Session

    from trackly.attachments.service import active_for_issues

    issue_id = issue_of(reporter)
    with Session(engine) as session:
        assert active_for_issues([issue_id], session=session) == {issue_id: []}


def test_adding_and_removing_an_attachment_changes_the_issue_etag(
    as_reporter, reporter, issue_of, container
) -> None:
    issue_id = issue_of(reporter)
    before = as_reporter.get(f"issues/{issue_id}")
    etag = before.headers["ETag"]
    assert before.json()["attachments"] == []

    attachment = upload_file(as_reporter, issue_id)
    fresh = as_reporter.get(f"issues/{issue_id}", headers={"If-None-Match": etag})
    assert fresh.status_code == 200  # not a stale 304: the embedded list changed
    assert [a["id"] for a in fresh.json()["attachments"]] == [attachment["id"]]
    assert fresh.headers["ETag"] != etag
    # An edit based on the representation without the attachment is stale.
    stale = as_reporter.patch(f"issues/{issue_id}", json={"title": "new"}, headers={"If-Match": etag})
    assert_problem(stale, 412)

    etag2 = fresh.headers["ETag"]
    assert as_reporter.delete(f"issues/{issue_id}/attachments/{attachment['id']}").status_code == 200
    after = as_reporter.get(f"issues/{issue_id}", headers={"If-None-Match": etag2})
    assert after.status_code == 200
    assert after.json()["attachments"] == []


@pytest.mark.parametrize(
    ("filename", "saved_as"),
    [("page.html", "page.html.png"), ("invoice.pdf.exe", "invoice.pdf.exe.png"), ("shot", "shot.png"),
     ("Shot.PNG", "Shot.PNG")],
)  # fmt: skip
def test_a_download_is_saved_with_an_extension_of_its_verified_type(  # noqa: PLR0917 (pytest fixtures)
    as_reporter, reporter, issue_of, container, filename: str, saved_as: str
) -> None:
    issue_id = issue_of(reporter)
    active = upload_file(as_reporter, issue_id, PNG, content_type="image/png", filename=filename)
    assert active["filename"] == filename  # the display name is kept as given
    location = as_reporter.get(f"issues/{issue_id}/attachments/{active['id']}/download").headers["Location"]
    blob = requests.get(location, timeout=10)
    assert blob.headers["Content-Disposition"].startswith(f'attachment; filename="{saved_as}"; ')
