"""HTTP functions for attachments (direct browser uploads through SAS URLs) and their cleanup timer."""

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import azure.functions as func

from trackly import clock
from trackly.attachments import limits, links
from trackly.attachments.schemas import (
    AttachmentCreate,
    AttachmentCreated,
    AttachmentOut,
    AttachmentPath,
    DownloadLink,
    DownloadQuery,
    FileLinkQuery,
    FilePath,
    IssueAttachmentPath,
    UploadedFileOut,
)
from trackly.auth.policy import Action
from trackly.http import Call, Reply, endpoint
from trackly.http.deletion import Deleted
from trackly.http.problems import PROBLEM_CONTENT_TYPE, problem_body
from trackly.http.timers import Run, scheduled
from trackly.lazy import lazy
from trackly.ratelimit.policies import Policy

if TYPE_CHECKING:
    from trackly import housekeeping
    from trackly.attachments import service, uploads
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    housekeeping = lazy("trackly.housekeeping")
    service = lazy("trackly.attachments.service")
    uploads = lazy("trackly.attachments.uploads")

bp = func.Blueprint()
log = logging.getLogger(__name__)

TAGS = ["attachments"]
ONE = "issues/{issue_id:guid}/attachments/{attachment_id:guid}"


@endpoint(
    bp,
    "POST",
    "issues/{issue_id:guid}/attachments",
    summary="Start an attachment upload",
    tags=TAGS,
    action=Action.ATTACHMENT_CREATE,
    path=IssueAttachmentPath,
    body=AttachmentCreate,
    response=AttachmentCreated,
    status=201,
    errors=(404, 409, 422),
)
def create_attachment(call: Call[IssueAttachmentPath, None, AttachmentCreate]) -> Reply:
    """Creates a PENDING attachment and returns a SAS URL that allows creating exactly one blob for
    a few minutes (UPLOAD_SAS_MINUTES). PUT the bytes there with the returned headers, then call
    `.../complete`. 422: type not allowed or file too large; 409: the issue has too many attachments;
    503: attachments are not configured or storage is unreachable."""
    created = service.create(
        call.path.issue_id, call.body, user=call.user, session=call.session, settings=call.settings
    )
    return Reply(created, status=201, headers={"Cache-Control": "no-store"})


@endpoint(
    bp,
    "POST",
    ONE + "/complete",
    summary="Finish an attachment upload",
    tags=TAGS,
    action=Action.ATTACHMENT_CREATE,
    path=AttachmentPath,
    response=AttachmentOut,
    errors=(404, 422),
)
def complete_attachment(call: Call[AttachmentPath, None, None]) -> Reply:
    """Checks the uploaded blob (exists, declared size, within the limit, content matches the
    declared type) and answers 200 with the ACTIVE attachment. Otherwise the blob is deleted, the
    attachment is REJECTED and the answer is 422 saying why. Calling it again is harmless.
    503 when storage is unreachable: the attachment stays PENDING and the call can be retried."""
    done = service.complete(
        call.path.issue_id,
        call.path.attachment_id,
        user=call.user,
        session=call.session,
        settings=call.settings,
    )
    if done.rejected_reason is None:
        return Reply(done.attachment)
    # A 422 that still commits: the REJECTED state must be stored, and raising would roll it back.
    body = problem_body(
        422,
        done.rejected_reason,
        slug="attachment-rejected",
        title="Attachment rejected",
        instance=urlsplit(call.request.url).path,
        request_id=call.request_id,
        extra={"attachment": done.attachment.model_dump(mode="json")},
    )
    return Reply(body, status=422, content_type=PROBLEM_CONTENT_TYPE)


@endpoint(
    bp,
    "GET",
    "issues/{issue_id:guid}/attachments",
    summary="List an issue's attachments",
    tags=TAGS,
    action=Action.ATTACHMENT_READ,
    path=IssueAttachmentPath,
    response=list[AttachmentOut],
    errors=(404,),
)
def list_attachments(call: Call[IssueAttachmentPath, None, None]) -> list[AttachmentOut]:
    """The issue's ACTIVE attachments, oldest first."""
    return service.list_active(
        call.path.issue_id, user=call.user, session=call.session, settings=call.settings
    )


@endpoint(
    bp,
    "GET",
    ONE + "/download",
    summary="Download an attachment",
    tags=TAGS,
    action=Action.ATTACHMENT_READ,
    path=AttachmentPath,
    query=DownloadQuery,
    response=DownloadLink,
    errors=(404, 409),
    extra_responses={302: "Redirect (Location) to a read-only SAS URL for the file (the default)"},
)
def download_attachment(call: Call[AttachmentPath, DownloadQuery, None]) -> Reply:
    """302 to a read-only SAS URL valid for DOWNLOAD_SAS_MINUTES; storage answers with
    `Content-Disposition: attachment` and the stored content type, so the file is never rendered
    in the storage origin. `?redirect=false` answers 200 with `{url, expires_at}` instead.
    409 when the attachment is not ACTIVE (still pending or rejected)."""
    link = service.download_link(
        call.path.issue_id,
        call.path.attachment_id,
        user=call.user,
        session=call.session,
        settings=call.settings,
    )
    if call.query.redirect:
        return Reply(None, status=302, headers={"Location": link.url, "Cache-Control": "no-store"})
    return Reply(link, headers={"Cache-Control": "no-store"})


@endpoint(
    bp,
    "DELETE",
    ONE,
    summary="Delete an attachment",
    tags=TAGS,
    action=Action.ATTACHMENT_DELETE,
    path=AttachmentPath,
    response=Deleted,
    errors=(404, 412, 428),
    conditional="write",
    if_match_required_by_setting=True,
)
def delete_attachment(call: Call[AttachmentPath, None, None]) -> Deleted:
    """The uploader, a maintainer or an admin may delete an attachment: its row now, its blob
    right after the change commits. Answers 200 with `{id, deleted, message}`. If-Match takes the
    issue's ETag (the issue lists its attachments): a stale one answers 412; none answers 428
    when the server sets REQUIRE_IF_MATCH."""
    service.delete(
        call.path.issue_id,
        call.path.attachment_id,
        user=call.user,
        session=call.session,
        settings=call.settings,
        if_match=call.if_match,
    )
    return Deleted(id=call.path.attachment_id, message="The attachment was deleted.")


@endpoint(
    bp,
    "POST",
    "files/upload",
    summary="Upload a file (the original client's upload)",
    tags=TAGS,
    action=Action.FILE_UPLOAD,
    response=UploadedFileOut,
    errors=(413, 415, 422),
    raw_body=("multipart/form-data", limits.REQUEST_SCHEMA),
    max_body_bytes=limits.max_request_bytes,
)
def upload_file(call: Call[None, None, None]) -> Reply:
    """`multipart/form-data` with one part named `file`. The file is checked like a SAS upload
    (type allowlist: 415; size over MAX_ATTACHMENT_BYTES, at most ~100 MB: 413; content that does
    not match its type, or an empty file: 422; nothing is stored then) and kept as an upload of
    the caller not yet tied to an issue. Send the answer's `file_url` in `POST /issues` to attach
    it to the new issue; unclaimed uploads are removed after a day."""
    upload = uploads.parse_multipart(call.raw_body, call.header("Content-Type"), settings=call.settings)
    attachment = uploads.store(upload, user=call.user, session=call.session, settings=call.settings)
    url = links.public_url(
        links.ref_for(attachment.id), api_base=call.url_for(""), now=clock.now(), settings=call.settings
    )
    assert url is not None
    out = UploadedFileOut(
        file_url=url,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        attachment=AttachmentOut.model_validate(attachment),
    )
    return Reply(out, headers={"Cache-Control": "no-store"})


@endpoint(
    bp,
    "GET",
    "files/{attachment_id:guid}",
    summary="Open an uploaded file through its signed link",
    tags=TAGS,
    auth=False,
    rate_limit=Policy.PUBLIC,
    path=FilePath,
    query=FileLinkQuery,
    status=302,
    errors=(403, 404),
    response_headers={"Location": "A read-only SAS URL for the file, valid DOWNLOAD_SAS_MINUTES."},
)
def open_file(call: Call[FilePath, FileLinkQuery, None]) -> Reply:
    """The `file_url` of an issue whose file came from `POST /files/upload`: opens in a browser
    without a token. The signature (HMAC over the attachment id and `expires`) and the expiry
    are checked (403 when wrong, tampered or expired), then the answer redirects (302) to a fresh
    read-only SAS URL served as a download."""
    url = uploads.open_link(
        call.path.attachment_id,
        expires=call.query.expires,
        sig=call.query.sig,
        session=call.session,
        settings=call.settings,
    )
    return Reply(None, status=302, headers={"Location": url, "Cache-Control": "no-store"})


@scheduled(bp, "cleanup_attachments", schedule="%ATTACHMENT_CLEANUP_SCHEDULE%")
def cleanup_attachments(run: Run) -> None:
    """Remove abandoned PENDING uploads, uploads of POST /files/upload unclaimed for a day and
    blobs that no attachment refers to; also purge
    expired idempotency records, sign-in flow state, one-time codes and old refresh tokens."""
    purged = housekeeping.purge(session=run.session)
    run.commit()  # the purge stands on its own, whatever happens to the blob cleanup
    log.info("housekeeping: %s", purged)
    if not run.settings.storage_configured:
        log.debug("attachments are not configured; nothing to clean up")
        return
    report = service.cleanup(session=run.session, settings=run.settings)
    if report.skipped:
        log.info("attachment cleanup skipped: another run holds the lock")
    else:
        log.info(
            "attachment cleanup: %d stale pending attachments, %d unclaimed uploads, %d orphan blobs removed",
            report.pending_removed,
            report.unclaimed_removed,
            report.orphan_blobs_removed,
        )
