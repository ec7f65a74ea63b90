"""HTTP functions for comments on issues."""

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import azure.functions as func

from trackly.api.paths import IssuePath
from trackly.auth.policy import Action
from trackly.comments.schemas import (
    CommentCreate,
    CommentListQuery,
    CommentOut,
    CommentUpdate,
)
from trackly.http import Call, Reply, endpoint
from trackly.http.deletion import Deleted
from trackly.http.idempotent import once
from trackly.lazy import lazy
from trackly.schemas import Schema

if TYPE_CHECKING:
    from trackly.comments import service
else:  # imported by the first request that needs it: keeps the ORM out of cold start
    service = lazy("trackly.comments.service")


bp = func.Blueprint()

TAGS = ["comments"]
ETAG_HEADER = {"ETag": "The comment's entity tag (send it back in If-Match when editing)."}


class CommentPath(Schema):
    issue_id: uuid.UUID
    comment_id: uuid.UUID


def _etag(comment: CommentOut) -> str:
    return service.etag_for(comment.id, comment.version)


@endpoint(
    bp,
    "GET",
    "issues/{issue_id:guid}/comments",
    summary="List an issue's comments",
    tags=TAGS,
    action=Action.COMMENT_LIST,
    path=IssuePath,
    query=CommentListQuery,
    response=list[CommentOut],
    errors=(404,),
    response_headers={"Link": 'The next page as `<url>; rel="next"`, present when more comments exist.'},
)
def list_comments(call: Call[IssuePath, CommentListQuery, None]) -> Reply:
    """Oldest first, keyset paged. An issue the caller may not see answers 404."""
    page = service.list_comments(call.path.issue_id, call.query, viewer=call.user, session=call.session)
    headers = {"Cache-Control": "no-store"}
    if page.next_cursor is not None:
        query = urlencode({"limit": call.query.limit, "cursor": page.next_cursor})
        headers["Link"] = f'<{call.url_for(f"issues/{call.path.issue_id}/comments")}?{query}>; rel="next"'
    return Reply(page.items, headers=headers)


@endpoint(
    bp,
    "POST",
    "issues/{issue_id:guid}/comments",
    summary="Comment on an issue",
    tags=TAGS,
    action=Action.COMMENT_CREATE,
    path=IssuePath,
    body=CommentCreate,
    response=CommentOut,
    status=201,
    errors=(404, 409),
    response_headers={"Location": "The comment's URL.", **ETAG_HEADER},
    idempotency_key_header=True,
)
def create_comment(call: Call[IssuePath, None, CommentCreate]) -> Reply:
    """Anyone who may see the issue (a REPORTER: on their own issues). The commenter starts watching
    it, and so does every active user who may see the issue that a MAINTAINER or ADMIN mentions as
    `@email` (a reporter's mentions add nobody, so they cannot probe which addresses are staff). With an
    `Idempotency-Key`, a retry within 24 hours returns the first response."""

    def work() -> tuple[Reply, Any]:
        comment = service.create_comment(call.path.issue_id, call.body, actor=call.user, session=call.session)
        headers = {
            "Location": call.url_for(f"issues/{comment.issue_id}/comments/{comment.id}"),
            "ETag": _etag(comment),
        }
        return Reply(comment, status=201, headers=headers), comment.model_dump(mode="json")

    return once(call, work)


@endpoint(
    bp,
    "GET",
    "issues/{issue_id:guid}/comments/{comment_id:guid}",
    summary="Get one comment",
    tags=TAGS,
    action=Action.COMMENT_LIST,
    path=CommentPath,
    response=CommentOut,
    errors=(404,),
    response_headers=ETAG_HEADER,
)
def get_comment(call: Call[CommentPath, None, None]) -> Reply:
    comment = service.get_comment(
        call.path.issue_id, call.path.comment_id, viewer=call.user, session=call.session
    )
    return Reply(comment, headers={"ETag": _etag(comment)})


@endpoint(
    bp,
    "PATCH",
    "issues/{issue_id:guid}/comments/{comment_id:guid}",
    summary="Edit a comment",
    tags=TAGS,
    action=Action.COMMENT_EDIT,
    path=CommentPath,
    body=CommentUpdate,
    response=CommentOut,
    errors=(404, 412, 428),
    response_headers=ETAG_HEADER,
    conditional="write",
    if_match_required_by_setting=True,
)
def update_comment(call: Call[CommentPath, None, CommentUpdate]) -> Reply:
    """Only the author (others 403). The comment is then marked `edited`. With `If-Match`, a stale
    tag answers 412 (two people editing from the same version: the second loses); none answers 428
    when the server sets REQUIRE_IF_MATCH."""
    comment = service.update_comment(
        call.path.issue_id,
        call.path.comment_id,
        call.body,
        actor=call.user,
        if_match=call.if_match,
        session=call.session,
    )
    return Reply(comment, headers={"ETag": _etag(comment)})


@endpoint(
    bp,
    "DELETE",
    "issues/{issue_id:guid}/comments/{comment_id:guid}",
    summary="Delete a comment",
    tags=TAGS,
    action=Action.COMMENT_DELETE,
    path=CommentPath,
    response=Deleted,
    errors=(404, 412, 428),
    conditional="write",
    if_match_required_by_setting=True,
)
def delete_comment(call: Call[CommentPath, None, None]) -> Deleted:
    """The author, or a MAINTAINER/ADMIN (moderation). The history keeps a `comment_deleted`
    tombstone; the text is redacted from the comment's earlier events. Answers 200 with JSON. A
    stale If-Match answers 412; none answers 428 when the server sets REQUIRE_IF_MATCH."""
    service.delete_comment(
        call.path.issue_id,
        call.path.comment_id,
        actor=call.user,
        if_match=call.if_match,
        session=call.session,
    )
    return Deleted(id=call.path.comment_id, message="The comment was deleted.")
