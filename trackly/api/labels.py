"""HTTP functions for labels: ADMIN manages them; staff put them on issues; counts per label."""

import uuid
from typing import TYPE_CHECKING

import azure.functions as func
from pydantic import Field

from trackly import examples as ex
from trackly.api.issue_reply import issue_reply
from trackly.auth.policy import Action
from trackly.http import Call, Reply, endpoint
from trackly.http.deletion import Deleted
from trackly.issues.schemas import IssueOut
from trackly.labels.schemas import IssuesByLabel, LabelCreate, LabelOut, LabelUpdate
from trackly.lazy import lazy
from trackly.schemas import Schema

if TYPE_CHECKING:
    from trackly.labels import service
else:  # imported by the first request that needs it: keeps the ORM out of cold start
    service = lazy("trackly.labels.service")


bp = func.Blueprint()

TAGS = ["labels"]


class LabelPath(Schema):
    label_id: uuid.UUID


class IssueLabelPath(Schema):
    issue_id: uuid.UUID
    label_id: uuid.UUID


class LabelDeleted(Deleted):
    model_config = ex.examples(
        {
            "id": ex.LABEL_ID,
            "deleted": True,
            "message": "The label was deleted and taken off 14 issues.",
            "issues_updated": 14,
        }
    )

    issues_updated: int = Field(description="How many issues carried the label (it came off each).")


@endpoint(
    bp, "GET", "labels", summary="List labels", tags=TAGS, action=Action.LABEL_LIST, response=list[LabelOut]
)
def list_labels(call: Call[None, None, None]) -> list[LabelOut]:
    """Every label, by name (any signed-in user: labels are shared vocabulary, not issue data)."""
    return service.list_labels(session=call.session)


@endpoint(
    bp,
    "POST",
    "labels",
    summary="Create a label",
    tags=TAGS,
    action=Action.LABEL_MANAGE,
    body=LabelCreate,
    response=LabelOut,
    status=201,
    errors=(409,),
    response_headers={"Location": "The label's URL."},
)
def create_label(call: Call[None, None, LabelCreate]) -> Reply:
    """ADMIN only. A name already used (in any case) answers 409."""
    label = service.create_label(call.body, session=call.session)
    return Reply(label, status=201, headers={"Location": call.url_for(f"labels/{label.id}")})


@endpoint(
    bp,
    "PATCH",
    "labels/{label_id:guid}",
    summary="Change a label",
    tags=TAGS,
    action=Action.LABEL_MANAGE,
    path=LabelPath,
    body=LabelUpdate,
    response=LabelOut,
    errors=(404, 409),
)
def update_label(call: Call[LabelPath, None, LabelUpdate]) -> LabelOut:
    """ADMIN only. Send the fields to change; renaming onto another label's name answers 409."""
    return service.update_label(call.path.label_id, call.body, session=call.session)


@endpoint(
    bp,
    "DELETE",
    "labels/{label_id:guid}",
    summary="Delete a label",
    tags=TAGS,
    action=Action.LABEL_MANAGE,
    path=LabelPath,
    response=LabelDeleted,
    errors=(404,),
)
def delete_label(call: Call[LabelPath, None, None]) -> LabelDeleted:
    """ADMIN only. The label comes off every issue in the same transaction (one `issue_unlabeled`
    event per issue, whose ETag changes); answers how many issues carried it."""
    n = service.delete_label(call.path.label_id, actor=call.user, session=call.session)
    message = f"The label was deleted and taken off {n} issue{'s' if n != 1 else ''}."
    return LabelDeleted(id=call.path.label_id, message=message, issues_updated=n)


@endpoint(
    bp,
    "PUT",
    "issues/{issue_id:guid}/labels/{label_id:guid}",
    summary="Put a label on an issue",
    tags=TAGS,
    action=Action.ISSUE_LABEL,
    path=IssueLabelPath,
    response=IssueOut,
    errors=(404, 412, 428),
    response_headers={"ETag": "The issue's new entity tag."},
    conditional="write",
    if_match_required_by_setting=True,
)
def add_issue_label(call: Call[IssueLabelPath, None, None]) -> Reply:
    """MAINTAINER and ADMIN. Idempotent (a label already on the issue changes nothing); answers
    the issue. An unknown issue or label answers 404; a stale If-Match 412; none 428 when the
    server sets REQUIRE_IF_MATCH (the label changes the issue's version, like an edit)."""
    issue = service.add_to_issue(
        call.path.issue_id,
        call.path.label_id,
        actor=call.user,
        if_match=call.if_match,
        session=call.session,
    )
    return issue_reply(call, issue)


@endpoint(
    bp,
    "DELETE",
    "issues/{issue_id:guid}/labels/{label_id:guid}",
    summary="Take a label off an issue",
    tags=TAGS,
    action=Action.ISSUE_LABEL,
    path=IssueLabelPath,
    response=IssueOut,
    errors=(404, 412, 428),
    response_headers={"ETag": "The issue's new entity tag."},
    conditional="write",
    if_match_required_by_setting=True,
)
def remove_issue_label(call: Call[IssueLabelPath, None, None]) -> Reply:
    """MAINTAINER and ADMIN. Idempotent; answers the issue (200 with JSON). A stale If-Match
    answers 412; none 428 when the server sets REQUIRE_IF_MATCH."""
    issue = service.remove_from_issue(
        call.path.issue_id,
        call.path.label_id,
        actor=call.user,
        if_match=call.if_match,
        session=call.session,
    )
    return issue_reply(call, issue)


@endpoint(
    bp,
    "GET",
    "issues/stats/by-label",
    summary="Issue counts per label (every label present)",
    tags=TAGS,
    action=Action.ISSUE_LIST,
    response=IssuesByLabel,
)
def issue_stats_by_label(call: Call[None, None, None]) -> IssuesByLabel:
    """For the dashboard: per label, the issues the caller can see (a REPORTER: their own) and
    how many of them are not DONE."""
    return service.counts(viewer=call.user, session=call.session)
