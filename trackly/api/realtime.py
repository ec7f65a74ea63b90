"""Live updates: GET /api/realtime/negotiate, GET /api/events, the browser module
GET /api/realtime/client.js, and the outbox timer."""

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from trackly.auth.policy import Action
from trackly.etag import matches, parse_tags
from trackly.http import Call, Reply, endpoint
from trackly.http.timers import Run, scheduled
from trackly.lazy import lazy
from trackly.ratelimit.policies import Policy
from trackly.realtime.schemas import EventFeed, EventsQuery, NegotiateOut

if TYPE_CHECKING:
    from trackly.realtime import browser, outbox, service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    browser = lazy("trackly.realtime.browser")
    outbox = lazy("trackly.realtime.outbox")
    service = lazy("trackly.realtime.service")

bp = func.Blueprint()
log = logging.getLogger(__name__)


@endpoint(
    bp,
    "GET",
    "realtime/negotiate",
    summary="Get a Web PubSub client URL for live updates",
    tags=["realtime"],
    action=Action.REALTIME_NEGOTIATE,
    response=NegotiateOut,
    errors=(401, 403, 503),
)
def negotiate(call: Call[None, None, None]) -> Reply:
    """Open a WebSocket to `url` with subprotocol `json.webpubsub.azure.v1`. The connection is put
    into `groups` by the service (staff: every event; `user.<id>`: events of your own issues).
    Dedupe messages by `id`; after a reconnect, fetch `GET /events?after=<last id>`."""
    # The URL carries an access token: never stored by any cache.
    return Reply(
        service.negotiate(call.user, settings=call.settings, session=call.session),
        headers={"Cache-Control": "no-store"},
    )


@endpoint(
    bp,
    "GET",
    "realtime/client.js",
    auth=False,
    rate_limit=Policy.PUBLIC,
    summary="The browser module for live updates (an ES module)",
    tags=["realtime"],
    response=str,
    response_content_type="text/javascript",
    response_headers={"ETag": "The module's entity tag; send it back in If-None-Match."},
    extra_responses={304: "Not modified: the If-None-Match tag is current."},
    conditional="read",
)
def browser_client(call: Call[None, None, None]) -> Reply:
    """`import { connectLive } from '<api>/realtime/client.js'`: negotiates, connects, catches up
    from `/events` after every (re)connect, dedupes by `id`, and emits the original SSE stream's
    messages. Public and cacheable; revalidate with the ETag."""
    module = browser.client_module()
    headers = {
        "ETag": module.etag,
        "Cache-Control": "public, max-age=300",
    }
    if matches(module.etag, parse_tags(call.header("If-None-Match"))):
        return Reply(None, status=304, headers=headers)
    return Reply(module.source, content_type="text/javascript; charset=utf-8", headers=headers)


@endpoint(
    bp,
    "GET",
    "events",
    summary="Catch-up feed of issue events after an id",
    tags=["realtime"],
    action=Action.EVENTS_READ,
    query=EventsQuery,
    response=EventFeed,
    errors=(401, 403, 422),
)
def list_events(call: Call[None, EventsQuery, None]) -> EventFeed:
    """Events with an id above `after`, in id order, filtered like the live groups: maintainers and
    admins see every event, a reporter the events of the issues they created."""
    return service.feed(call.user, after=call.query.after, limit=call.query.limit, session=call.session)


@scheduled(bp, "publish_outbox", schedule="%OUTBOX_SCHEDULE%")
def publish_outbox(timer: Run) -> None:
    """Publish events still unpublished (oldest first, in batches) and prune old ones."""
    run = outbox.drain(settings=timer.settings)
    if run.published or run.failed or run.pruned:
        log.info(
            "outbox: published %d, failed %d, pruned %d%s",
            run.published,
            run.failed,
            run.pruned,
            " (stopped early)" if run.stopped_early else "",
        )
