"""HTTP functions for issues: CRUD, workflow, optimistic concurrency, listing, history, counters."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.functions as func

from trackly.api.issue_reply import issue_etag, issue_reply, public, public_body
from trackly.api.paths import IssuePath
from trackly.attachments import links
from trackly.auth.policy import Action
from trackly.http import Call, Reply, endpoint, matches, parse_tags
from trackly.http.deletion import Deleted
from trackly.http.idempotent import once
from trackly.issues import workflow
from trackly.issues.schemas import (
    HistoryEntry,
    IssueCount,
    IssueCreate,
    IssueListQuery,
    IssueOut,
    IssuesBySeverity,
    IssuesByStatus,
    IssueUpdate,
)
from trackly.lazy import lazy

if TYPE_CHECKING:
    from trackly.issues import idempotency, service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    idempotency = lazy("trackly.issues.idempotency")
    service = lazy("trackly.issues.service")

bp = func.Blueprint()
F = TypeVar("F", bound=Callable[..., Any])

TAGS = ["issues"]
ETAG_HEADER = {"ETag": "The issue's entity tag (send it back in If-Match to avoid lost updates)."}
NO_STORE = {"Cache-Control": "no-store"}


@endpoint(
    bp,
    "POST",
    "issues",
    summary="Create an issue",
    tags=TAGS,
    action=Action.ISSUE_CREATE,
    body=IssueCreate,
    response=IssueOut,
    status=201,
    errors=(409,),
    response_headers={"Location": "The new issue's URL.", **ETAG_HEADER},
    idempotency_key_header=True,
)
def create_issue(call: Call[None, None, IssueCreate]) -> Reply:
    """The status always starts OPEN. With an `Idempotency-Key` header, a retry with the same key
    and body within 24 hours returns the first response (same issue); the same key with a different
    body answers 422."""

    def work() -> tuple[Reply, Any]:
        issue = service.create_issue(call.body, actor=call.user, session=call.session)
        location = {"Location": call.url_for(f"issues/{issue.id}")}
        # A retry gets the stored file reference signed afresh (a kept signature would expire).
        return issue_reply(call, issue, status=201, headers=location), issue.model_dump(mode="json")

    return once(call, work, replay=lambda body: public_body(call, body))


@endpoint(
    bp,
    "GET",
    "issues",
    summary="List issues",
    tags=TAGS,
    action=Action.ISSUE_LIST,
    query=IssueListQuery,
    read_only=True,
    response=list[IssueOut],
    response_headers={
        "X-Total-Count": "How many issues match the filters (for the caller), across all pages.",
        "Link": 'The next page as `<url>; rel="next"` (a cursor URL), present when more issues exist.',
    },
)
def list_issues(call: Call[None, IssueListQuery, None]) -> Reply:
    """A JSON array. A REPORTER sees only their own issues (filtered in SQL, so pages and the
    total are exact). Page with `skip` (offset) or with the opaque `cursor` from the Link header."""
    page = service.list_issues(call.query, viewer=call.user, session=call.session)
    headers = {"X-Total-Count": str(page.total), **NO_STORE}
    if page.next_cursor is not None:
        params = [
            (k, v)
            for k, v in parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True)
            if k not in ("skip", "cursor")
        ]
        params.append(("cursor", page.next_cursor))
        headers["Link"] = f'<{call.url_for("issues")}?{urlencode(params)}>; rel="next"'
    return Reply([public(call, issue) for issue in page.items], headers=headers)


@endpoint(
    bp,
    "GET",
    "issues/{issue_id:guid}",
    summary="Get one issue",
    tags=TAGS,
    action=Action.ISSUE_READ,
    path=IssuePath,
    response=IssueOut,
    errors=(404,),
    response_headers=ETAG_HEADER,
    extra_responses={304: "Not modified: the If-None-Match tag is current."},
    conditional="read",
    read_only=True,
)
def get_issue(call: Call[IssuePath, None, None]) -> Reply:
    """An issue the caller may not see answers 404 (its existence is not revealed)."""
    issue = service.get_issue(call.path.issue_id, viewer=call.user, session=call.session)
    if links.is_ref(issue.file_url):
        # The signed file link expires; a cached copy revalidated with 304 would keep a dead one.
        return issue_reply(call, issue)
    etag = issue_etag(issue)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if matches(etag, parse_tags(call.header("If-None-Match"))):
        return Reply(None, status=304, headers=headers)
    return Reply(issue, headers=headers)


_UPDATE_DOC = """Send only the fields to change (PATCH and PUT behave the same). Status moves follow the
workflow chosen by the ISSUE_WORKFLOW setting (an illegal one answers 409 with `allowed`); every
issue answer lists the moves the caller may make now in `allowed_transitions`. A REPORTER may
change the title and description of their own OPEN issue, nothing else (403). With `If-Match`, a
stale tag answers 412; without it the write proceeds, unless the server sets REQUIRE_IF_MATCH
(428). Fields sent with their current value are ignored.

Status workflow presets (setting the current status again is a no-op):

""" + workflow.markdown_presets()


def _documented(doc: str) -> Callable[[F], F]:
    """Give a handler a docstring built at import (the endpoint declaration reads it)."""

    def apply(handler: F) -> F:
        handler.__doc__ = doc
        return handler

    return apply


def _update(call: Call[IssuePath, None, IssueUpdate]) -> Reply:
    issue = service.update_issue(
        call.path.issue_id,
        call.body,
        actor=call.user,
        if_match=call.if_match,
        session=call.session,
    )
    return issue_reply(call, issue)


@endpoint(
    bp,
    "PATCH",
    "issues/{issue_id:guid}",
    summary="Change an issue",
    tags=TAGS,
    action=Action.ISSUE_EDIT_TEXT,
    path=IssuePath,
    body=IssueUpdate,
    response=IssueOut,
    errors=(404, 409, 412, 428),
    response_headers=ETAG_HEADER,
    conditional="write",
    if_match_required_by_setting=True,
)
@_documented(_UPDATE_DOC)
def update_issue(call: Call[IssuePath, None, IssueUpdate]) -> Reply:
    return _update(call)


@endpoint(
    bp,
    "PUT",
    "issues/{issue_id:guid}",
    summary="Change an issue (same partial semantics as PATCH, for the original client)",
    tags=TAGS,
    action=Action.ISSUE_EDIT_TEXT,
    path=IssuePath,
    body=IssueUpdate,
    response=IssueOut,
    errors=(404, 409, 412, 428),
    response_headers=ETAG_HEADER,
    conditional="write",
    if_match_required_by_setting=True,
)
@_documented(_UPDATE_DOC)
def replace_issue(call: Call[IssuePath, None, IssueUpdate]) -> Reply:
    return _update(call)


@endpoint(
    bp,
    "DELETE",
    "issues/{issue_id:guid}",
    summary="Delete an issue",
    tags=TAGS,
    action=Action.ISSUE_DELETE,
    path=IssuePath,
    response=Deleted,
    errors=(404, 412, 428),
    conditional="write",
    if_match_required_by_setting=True,
)
def delete_issue(call: Call[IssuePath, None, None]) -> Deleted:
    """ADMIN: any issue. REPORTER: their own while it is OPEN. MAINTAINER: never (403).
    A stale If-Match answers 412; none answers 428 when the server sets REQUIRE_IF_MATCH.
    The issue's attachments (and their blobs) go with it. Answers 200 with `{id, deleted,
    message}` (a JSON body, as the original client parses every answer as JSON)."""
    service.delete_issue(
        call.path.issue_id,
        actor=call.user,
        if_match=call.if_match,
        session=call.session,
    )
    return Deleted(id=call.path.issue_id, message="The issue was deleted.")


@endpoint(
    bp,
    "GET",
    "issues/{issue_id:guid}/history",
    summary="An issue's timeline",
    tags=TAGS,
    action=Action.ISSUE_READ,
    path=IssuePath,
    response=list[HistoryEntry],
    errors=(404,),
    read_only=True,
)
def issue_history(call: Call[IssuePath, None, None]) -> list[HistoryEntry]:
    """Every recorded change, oldest first: `{id, type, actor, at, changes: {field: [old, new]}}`."""
    return service.history(call.path.issue_id, viewer=call.user, session=call.session)


@endpoint(
    bp,
    "GET",
    "issues/stats/count",
    summary="How many issues the caller can see",
    tags=TAGS,
    action=Action.ISSUE_LIST,
    response=IssueCount,
    read_only=True,
)
def issue_stats_count(call: Call[None, None, None]) -> IssueCount:
    return IssueCount(total_issues=service.count_issues(viewer=call.user, session=call.session))


@endpoint(
    bp,
    "GET",
    "issues/stats/by-status",
    summary="Issue counts per status (every status present)",
    tags=TAGS,
    action=Action.ISSUE_LIST,
    response=IssuesByStatus,
    read_only=True,
)
def issue_stats_by_status(call: Call[None, None, None]) -> IssuesByStatus:
    return IssuesByStatus(issues_by_status=service.count_by_status(viewer=call.user, session=call.session))


@endpoint(
    bp,
    "GET",
    "issues/stats/by-severity",
    summary="Issue counts per severity (every severity present)",
    tags=TAGS,
    action=Action.ISSUE_LIST,
    response=IssuesBySeverity,
    read_only=True,
)
def issue_stats_by_severity(call: Call[None, None, None]) -> IssuesBySeverity:
    return IssuesBySeverity(
        issues_by_severity=service.count_by_severity(viewer=call.user, session=call.session)
    )
