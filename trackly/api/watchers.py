"""HTTP functions for watching issues."""

from typing import TYPE_CHECKING

import azure.functions as func

from trackly.api.paths import IssuePath
from trackly.auth.policy import Action
from trackly.http import Call, endpoint
from trackly.lazy import lazy
from trackly.watchers.schemas import WatcherOut, WatchOut

if TYPE_CHECKING:
    from trackly.watchers import service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    service = lazy("trackly.watchers.service")


bp = func.Blueprint()

TAGS = ["watchers"]


@endpoint(
    bp,
    "PUT",
    "issues/{issue_id:guid}/watch",
    summary="Watch an issue",
    tags=TAGS,
    action=Action.ISSUE_WATCH,
    path=IssuePath,
    response=WatchOut,
    errors=(404,),
)
def watch_issue(call: Call[IssuePath, None, None]) -> WatchOut:
    """The caller watches the issue (idempotent): its events reach them live and in
    `/notifications`. Anyone who may see the issue may watch it; others get 404."""
    return service.set_watching(call.path.issue_id, True, actor=call.user, session=call.session)


@endpoint(
    bp,
    "DELETE",
    "issues/{issue_id:guid}/watch",
    summary="Stop watching an issue",
    tags=TAGS,
    action=Action.ISSUE_WATCH,
    path=IssuePath,
    response=WatchOut,
    errors=(404,),
)
def unwatch_issue(call: Call[IssuePath, None, None]) -> WatchOut:
    """Idempotent; answers 200 with `{"watching": false}`."""
    return service.set_watching(call.path.issue_id, False, actor=call.user, session=call.session)


@endpoint(
    bp,
    "GET",
    "issues/{issue_id:guid}/watchers",
    summary="Who watches an issue",
    tags=TAGS,
    action=Action.ISSUE_WATCH,
    path=IssuePath,
    response=list[WatcherOut],
    errors=(404,),
)
def list_watchers(call: Call[IssuePath, None, None]) -> list[WatcherOut]:
    """Anyone who may see the issue (others: 404), oldest watcher first."""
    return service.list_watchers(call.path.issue_id, viewer=call.user, session=call.session)
