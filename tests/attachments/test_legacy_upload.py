"""The original client's upload (issue 13, item 4): POST /files/upload (multipart, part `file`),
claimed by POST /issues {file_url}, opened through a signed link without a token, cleaned up
when never claimed. Real PostgreSQL, real Azurite, real HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.attachments.conftest import PNG
from tests.collaboration.helpers import label
from tests.support.api import Api, assert_problem
from trackly import clock

pytestmark = pytest.mark.usefixtures("storage_env")


def upload(
    client: Api, data: bytes = PNG, *, filename: str = "shot.png", ctype: str = "image/png"
) -> requests.Response:
    # requests builds the multipart body exactly as a browser's FormData does (one part `file`).
    return client.post("files/upload", files={"file": (filename, data, ctype)})


def _rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                text("SELECT id, issue_id, uploaded_by, blob_name, status FROM attachments")
            )
        ]


def _blobs(container: Any) -> list[str]:
    return sorted(b.name for b in container.list_blobs())


def test_upload_answers_like_the_original_and_opens_without_a_token(
    as_reporter: Api, reporter: Any, engine: Engine, container: Any
) -> None:
    resp = upload(as_reporter, filename="../../My Screenshot.png")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {"file_url", "filename", "content_type", "size_bytes"} <= set(body)
    assert (body["filename"], body["content_type"], body["size_bytes"]) == (
        "My Screenshot.png",
        "image/png",
        len(PNG),
    )
    [row] = _rows(engine)
    assert row["issue_id"] is None and row["uploaded_by"] == reporter.id and row["status"] == "ACTIVE"
    assert row["blob_name"] == f"uploads/{row['id']}"  # the server's name, not the client's
    assert _blobs(container) == [row["blob_name"]]
    # The link opens with no Authorization header: 302 to a read-only SAS URL.
    opened = requests.get(body["file_url"], allow_redirects=False, timeout=10)
    assert opened.status_code == 302
    sas = opened.headers["Location"]
    assert "sp=r" in sas
    got = requests.get(sas, timeout=10)
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["Content-Type"] == "image/png"
    assert "attachment" in got.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("data", "filename", "ctype", "status", "words"),
    [
        (b"MZ\x90\x00 not allowed", "tool.exe", "application/x-msdownload", 415, "cannot be uploaded"),
        (b"plain text, not a PNG", "fake.png", "image/png", 422, "png"),
        (b"", "empty.png", "image/png", 422, "empty"),
        (b"\xff\xfe\x00bad", "notes.txt", "text/plain", 422, "utf-8"),
    ],
)
def test_bad_files_are_refused_and_leave_nothing(  # noqa: PLR0917 (parametrized)
    as_reporter: Api,
    engine: Engine,
    container: Any,
    data: bytes,
    filename: str,
    ctype: str,
    status: int,
    words: str,
) -> None:
    assert_problem(upload(as_reporter, data, filename=filename, ctype=ctype), status, words)
    assert _rows(engine) == []
    assert _blobs(container) == []


def test_size_limit_is_413_and_the_upload_has_its_own_body_limit(
    as_reporter: Api, engine: Engine, container: Any, settings_env: Any
) -> None:
    # The JSON body limit does not apply to the upload; MAX_ATTACHMENT_BYTES does.
    settings_env(MAX_REQUEST_BYTES="2048", MAX_ATTACHMENT_BYTES="20000")
    big_ok = PNG + bytes(10_000)
    assert upload(as_reporter, big_ok).status_code == 200
    assert_problem(upload(as_reporter, PNG + bytes(30_000)), 413, "limit")
    assert_problem(upload(as_reporter, PNG + bytes(200_000)), 413, "limit")  # also over the body limit
    assert len(_rows(engine)) == 1 and len(_blobs(container)) == 1


def test_malformed_requests(as_reporter: Api, api: Api, engine: Engine, container: Any) -> None:
    assert_problem(as_reporter.post("files/upload", json={"file": "x"}), 415, "multipart/form-data")
    no_part = as_reporter.post("files/upload", files={"attachment": ("a.png", PNG, "image/png")})
    assert_problem(no_part, 422, "part named 'file'")
    two = as_reporter.post(
        "files/upload", files=[("file", ("a.png", PNG, "image/png")), ("file", ("b.png", PNG, "image/png"))]
    )
    assert_problem(two, 422, "exactly one")
    broken = as_reporter.post(
        "files/upload",
        data=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nunterminated',
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code in (400, 422), broken.text
    assert_problem(upload(api), 401)
    assert _rows(engine) == [] and _blobs(container) == []


def test_create_issue_claims_the_upload_and_answers_a_signed_link(
    as_reporter: Api, as_maintainer: Api, engine: Engine, container: Any
) -> None:
    uploaded = upload(as_reporter).json()
    created = as_reporter.post(
        "issues",
        json={
            "title": "With a file",
            "description": "",
            "severity": "HIGH",
            "file_url": uploaded["file_url"],
        },
    )
    assert created.status_code == 201, created.text
    issue = created.json()
    [row] = _rows(engine)
    assert str(row["issue_id"]) == issue["id"]
    assert [a["id"] for a in issue["attachments"]] == [str(row["id"])]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT file_url FROM issues")).scalar()
    assert stored == f"/api/files/{row['id']}"  # a reference, not a URL that expires
    for client in (as_reporter, as_maintainer):
        for shown in (client.get(f"issues/{issue['id']}").json(), client.get("issues").json()[0]):
            link = shown["file_url"]
            assert urlsplit(link).path == f"/api/files/{row['id']}"
            assert set(parse_qs(urlsplit(link).query)) == {"expires", "sig"}
            opened = requests.get(link, allow_redirects=True, timeout=10)
            assert opened.status_code == 200 and opened.content == PNG
    # The issue's detail answer is never a 304 with a cached, expiring link.
    detail = as_reporter.get(f"issues/{issue['id']}")
    assert detail.headers["Cache-Control"] == "no-store"
    again = as_reporter.get(f"issues/{issue['id']}", headers={"If-None-Match": detail.headers["ETag"]})
    assert again.status_code == 200
    # Deleting the issue removes the uploaded blob after commit.
    assert as_reporter.delete(f"issues/{issue['id']}").status_code == 200
    assert _blobs(container) == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_labelling_answers_the_issue_as_get_does(
    as_reporter: Api, as_admin: Api, as_maintainer: Api, method: str
) -> None:
    """Label add/remove answer the issue: the signed file link (not the stored reference) and
    the same ETag a following GET gives, so the answer can serve as the client's last read."""
    bug = label(as_admin, "bug")
    uploaded = upload(as_reporter).json()
    created = as_reporter.post("issues", json={"title": "With a file", "file_url": uploaded["file_url"]})
    assert created.status_code == 201, created.text
    path = f"issues/{created.json()['id']}/labels/{bug['id']}"
    if method == "DELETE":
        assert as_maintainer.put(path).status_code == 200
    answer = as_maintainer.request(method, path)
    assert answer.status_code == 200, answer.text
    link = answer.json()["file_url"]
    assert "sig=" in link and urlsplit(link).scheme in ("http", "https")
    assert set(parse_qs(urlsplit(link).query)) == {"expires", "sig"}
    assert answer.headers["Cache-Control"] == "no-store"
    following = as_maintainer.get(f"issues/{created.json()['id']}")
    assert answer.headers["ETag"] == following.headers["ETag"]
    assert answer.json() == {**following.json(), "file_url": answer.json()["file_url"]}


def test_only_the_uploaders_unused_upload_can_be_claimed(
    as_reporter: Api, as_other_reporter: Api, engine: Engine
) -> None:
    mine = upload(as_reporter).json()["file_url"]
    theirs = upload(as_other_reporter).json()["file_url"]
    assert_problem(
        as_reporter.post("issues", json={"title": "Steal", "file_url": theirs}), 422, "you uploaded"
    )
    assert as_reporter.post("issues", json={"title": "First", "file_url": mine}).status_code == 201
    assert_problem(
        as_reporter.post("issues", json={"title": "Again", "file_url": mine}), 409, "already attached"
    )
    unknown = mine.replace(urlsplit(mine).path, f"/api/files/{uuid.uuid4()}")
    assert_problem(as_reporter.post("issues", json={"title": "Ghost", "file_url": unknown}), 422)
    # Refused creates left nothing: one transaction each.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM issues")).scalars().all() == ["First"]
        assert conn.execute(text("SELECT count(*) FROM attachments WHERE issue_id IS NULL")).scalar() == 1


def test_external_links_keep_working(as_reporter: Api) -> None:
    created = as_reporter.post("issues", json={"title": "Link", "file_url": "https://example.com/a.png"})
    assert created.status_code == 201
    assert created.json()["file_url"] == "https://example.com/a.png"
    assert as_reporter.get(f"issues/{created.json()['id']}").json()["file_url"] == "https://example.com/a.png"
    assert_problem(
        as_reporter.post("issues", json={"title": "Plain http", "file_url": "http://example.com/a"}), 422
    )


def test_wrong_tampered_or_expired_links_are_refused(as_reporter: Api, settings_env: Any) -> None:
    first = upload(as_reporter).json()["file_url"]
    second = upload(as_reporter).json()["file_url"]
    parts, query = urlsplit(first), parse_qs(urlsplit(first).query)
    expires, sig = query["expires"][0], query["sig"][0]

    def open_(path: str, **params: str) -> requests.Response:
        return requests.get(
            f"{parts.scheme}://{parts.netloc}{path}?{urlencode(params)}", allow_redirects=False, timeout=10
        )

    assert open_(parts.path, expires=expires, sig=sig).status_code == 302
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert_problem(open_(parts.path, expires=expires, sig=flipped), 403, "not valid")
    assert_problem(open_(parts.path, expires=str(int(expires) + 3600), sig=sig), 403, "not valid")
    assert_problem(open_(urlsplit(second).path, expires=expires, sig=sig), 403, "not valid")
    assert_problem(open_(parts.path, expires=expires), 422)
    # After FILE_LINK_MINUTES the same link is refused; a fresh answer carries a fresh link.
    with clock.frozen(clock.now() + timedelta(minutes=31)):
        assert_problem(open_(parts.path, expires=expires, sig=sig), 403, "expired")
    # A link signed under another secret is refused too.
    settings_env(JWT_SECRET_KEY="another-secret-key-that-is-long-enough-012345")
    assert_problem(open_(parts.path, expires=expires, sig=sig), 403, "not valid")


def test_cleanup_removes_unclaimed_uploads_after_a_day(
    as_reporter: Api, engine: Engine, container: Any
) -> None:
    from trackly import db
    from trackly.attachments import service
    from trackly.config import get_settings

    def run(now: Any) -> Any:
        with db.session_scope() as session:
            return service.cleanup(session=session, settings=get_settings(), now=now)

    kept = upload(as_reporter).json()["file_url"]
    upload(as_reporter)
    assert as_reporter.post("issues", json={"title": "Claimed", "file_url": kept}).status_code == 201
    assert run(clock.now() + timedelta(hours=23)).unclaimed_removed == 0
    report = run(clock.now() + timedelta(days=1, minutes=1))
    assert report.unclaimed_removed == 1
    rows = _rows(engine)
    assert len(rows) == 1 and rows[0]["issue_id"] is not None
    assert _blobs(container) == [rows[0]["blob_name"]]


def test_cleanup_removes_orphan_upload_blobs_but_not_fresh_ones(engine: Engine, container: Any) -> None:
    from trackly import db
    from trackly.attachments import service
    from trackly.config import get_settings

    orphan = f"uploads/{uuid.uuid4()}"
    container.upload_blob(orphan, PNG)
    with db.session_scope() as session:  # just written: its row may still be on its way
        assert service.cleanup(session=session, settings=get_settings()).orphan_blobs_removed == 0
    later = clock.now() + timedelta(hours=1)
    with db.session_scope() as session:
        report = service.cleanup(session=session, settings=get_settings(), now=later)
    assert report.orphan_blobs_removed == 1
    assert _blobs(container) == []


@pytest.mark.parametrize(("filename", "saved_as"), [("page.html", "page.html.png"), ("shot.png", "shot.png")])
def test_a_signed_link_saves_the_file_with_an_extension_of_its_verified_type(
    as_reporter: Api, filename: str, saved_as: str
) -> None:
    """The tokenless link follows the same download rule as the attachment download endpoint."""
    body = upload(as_reporter, filename=filename).json()
    sas = requests.get(body["file_url"], allow_redirects=False, timeout=10).headers["Location"]
    got = requests.get(sas, timeout=10)
    assert got.headers["Content-Disposition"].startswith(f'attachment; filename="{saved_as}"; ')
