"""Permission rows for attachments: visibility follows the issue (another reporter gets 404);
deleting needs the uploader, a maintainer or an admin."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy.orm import Session

from tests.permissions.framework import Ctx, Prepared, Row, expect

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
STORAGE = ("attachment_storage",)


def _issue_of_reporter(ctx: Ctx) -> str:
    from trackly.models import Issue, Severity, Status

    with Session(ctx.engine) as session:
        issue = Issue(
            title="Attachment target",
            description="",
            severity=Severity.LOW,
            status=Status.OPEN,
            created_by=ctx.reporter.id,
        )
        session.add(issue)
        session.commit()
        return str(issue.id)


def _uploaded(ctx: Ctx, *, by: Any, complete: bool) -> Prepared:
    issue_id = _issue_of_reporter(ctx)
    client = ctx.api_as(by)
    created = client.post(
        f"issues/{issue_id}/attachments",
        json={"filename": "shot.png", "content_type": "image/png", "size_bytes": len(PNG)},
    )
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    assert requests.put(upload["url"], data=PNG, headers=upload["headers"], timeout=10).status_code == 201
    attachment_id = created.json()["attachment"]["id"]
    if complete:
        done = client.post(f"issues/{issue_id}/attachments/{attachment_id}/complete")
        assert done.status_code == 200, done.text
    return Prepared(path={"issue_id": issue_id, "attachment_id": attachment_id})


def _issue(ctx: Ctx) -> Prepared:
    return Prepared(path={"issue_id": _issue_of_reporter(ctx)})


def _pending_by_reporter(ctx: Ctx) -> Prepared:
    return _uploaded(ctx, by=ctx.reporter, complete=False)


def _active_by_reporter(ctx: Ctx) -> Prepared:
    return _uploaded(ctx, by=ctx.reporter, complete=True)


def _active_by_maintainer(ctx: Ctx) -> Prepared:
    return _uploaded(ctx, by=ctx.maintainer, complete=True)


def _signed_link_of_reporter_upload(ctx: Ctx) -> Prepared:
    """A file the reporter uploaded with POST /files/upload; the request opens its signed link
    (the link is the permission: anyone holding it, token or not, is redirected)."""
    resp = ctx.api_as(ctx.reporter).post("files/upload", files={"file": ("a.png", PNG, "image/png")})
    assert resp.status_code == 200, resp.text
    link = urlsplit(resp.json()["file_url"])
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    return Prepared(path={"attachment_id": link.path.rsplit("/", 1)[1]}, query=query)


def _forged_link(ctx: Ctx) -> Prepared:
    prepared = _signed_link_of_reporter_upload(ctx)
    assert prepared.query is not None
    prepared.query["sig"] = "0" * 64
    return prepared


ROWS = [
    Row(
        "create_attachment",
        expect(anonymous=401, reporter_owner=201, reporter_other=404, maintainer=201, admin=201),
        setup=_issue,
        json={"filename": "shot.png", "content_type": "image/png", "size_bytes": len(PNG)},
        fixtures=STORAGE,
    ),
    Row(
        "list_attachments",
        expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=200, admin=200),
        setup=_issue,
        fixtures=STORAGE,
    ),
    Row(
        "complete_attachment",
        expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=200, admin=200),
        setup=_pending_by_reporter,
        fixtures=STORAGE,
    ),
    Row(
        "download_attachment",
        expect(anonymous=401, reporter_owner=302, reporter_other=404, maintainer=302, admin=302),
        setup=_active_by_reporter,
        fixtures=STORAGE,
    ),
    Row(
        "delete_attachment",
        expect(anonymous=401, reporter_owner=200, reporter_other=404, maintainer=200, admin=200),
        setup=_active_by_reporter,
        fixtures=STORAGE,
        variant="uploaded by the reporter",
    ),
    Row(
        "delete_attachment",
        expect(anonymous=401, reporter_owner=403, reporter_other=404, maintainer=200, admin=200),
        setup=_active_by_maintainer,
        fixtures=STORAGE,
        variant="uploaded by a maintainer",
    ),
    Row(
        "upload_file",
        expect(anonymous=401, reporter=200, maintainer=200, admin=200),
        files={"file": ("shot.png", PNG, "image/png")},
        fixtures=STORAGE,
    ),
    Row(
        "open_file",
        expect(anonymous=302, reporter=302, maintainer=302, admin=302),
        setup=_signed_link_of_reporter_upload,
        fixtures=STORAGE,
        variant="signed link",
    ),
    Row(
        "open_file",
        expect(anonymous=403, reporter=403, maintainer=403, admin=403),
        setup=_forged_link,
        fixtures=STORAGE,
        variant="forged signature",
    ),
]
