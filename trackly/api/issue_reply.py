"""How every endpoint that answers one issue renders it (issues, labels): the same body and the
same ETag as `GET /issues/{id}`, so a client can use any of these answers as its last read."""

from typing import TYPE_CHECKING, Any

from trackly import clock
from trackly.attachments import links
from trackly.http import Call, Reply
from trackly.issues.schemas import IssueOut
from trackly.lazy import lazy

if TYPE_CHECKING:
    from trackly.issues import service
else:  # imported by the first request that needs it: keeps the ORM out of cold start
    service = lazy("trackly.issues.service")


def issue_etag(issue: IssueOut) -> str:
    """The tag of the stored representation (before the file link is signed: a signature and
    its expiry change every time, the issue does not)."""
    return service.representation_etag(issue)


def public_file_url(call: Call[Any, Any, Any], file_url: str | None) -> str | None:
    """A stored reference to an uploaded file becomes a signed link that a browser opens
    without a token (trackly.attachments.links); external links pass through."""
    return links.public_url(file_url, api_base=call.url_for(""), now=clock.now(), settings=call.settings)


def public(call: Call[Any, Any, Any], issue: IssueOut) -> IssueOut:
    """The issue as a caller who may see it gets it (the file reference signed)."""
    if not links.is_ref(issue.file_url):
        return issue
    return issue.model_copy(update={"file_url": public_file_url(call, issue.file_url)})


def public_body(call: Call[Any, Any, Any], body: Any) -> Any:
    """`public` for an issue stored as JSON (an idempotent replay): signed afresh each time."""
    if isinstance(body, dict) and links.is_ref(body.get("file_url")):
        return {**body, "file_url": public_file_url(call, body["file_url"])}
    return body


def issue_reply(
    call: Call[Any, Any, Any],
    issue: IssueOut,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """The issue with its ETag; a signed file link expires, so such an answer is never cached."""
    all_headers = {"ETag": issue_etag(issue), **(headers or {})}
    if links.is_ref(issue.file_url):
        all_headers["Cache-Control"] = "no-store"
    return Reply(public(call, issue), status=status, headers=all_headers)
