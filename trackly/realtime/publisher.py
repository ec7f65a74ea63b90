"""After-commit publishing: called by trackly.events.service once a transaction that wrote events
has committed. Best effort and quick (short timeouts, no retries); it never raises. Whatever it
could not publish stays unpublished and the outbox timer (`publish_outbox`) delivers it later."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.orm import Session

from trackly import db
from trackly.config import get_settings
from trackly.realtime import outbox
from trackly.realtime.client import get_client

log = logging.getLogger(__name__)

# The most events one transaction publishes itself, after its commit and before its response.
# A change to many issues at once (a label deleted from thousands) leaves the rest to the outbox
# timer, which delivers them in batches within a minute, so no request waits on thousands of sends.
AFTER_COMMIT_MAX = outbox.BATCH_SIZE


def publish_committed(event_ids: list[int]) -> None:
    """Publish these committed events to Web PubSub (the first AFTER_COMMIT_MAX; the outbox timer
    sends the rest); swallow (and log) every error."""
    try:
        if not event_ids:
            return
        if len(event_ids) > AFTER_COMMIT_MAX:
            log.info(
                "%d events committed at once; the outbox timer publishes all but the first %d",
                len(event_ids),
                AFTER_COMMIT_MAX,
            )
            event_ids = event_ids[:AFTER_COMMIT_MAX]
        settings = get_settings()
        if not settings.webpubsub_configured:
            return
        with db.session_scope() as session:
            outbox.publish_ids(event_ids, session=session, settings=settings)
    except Exception:
        log.exception("publishing events %s failed; the outbox timer will retry", event_ids[:20])


def disconnect_after_commit(user_id: uuid.UUID, *, session: Session) -> None:
    """Close the user's live connections once the change commits (role change, deactivation).

    Groups are fixed when a connection is negotiated, so a demoted maintainer would otherwise
    keep receiving staff events until the client token expires; closing makes the client
    negotiate again and get only what it may now see (a deactivated user gets 401). A client
    reconnecting with a URL from before the change is kept out of staff messages by
    `users.staff_revoked_at`, which the users service sets in the same transaction.
    """
    db.on_commit(session, lambda: _close_user_connections(user_id))


def _close_user_connections(user_id: uuid.UUID) -> None:
    try:
        settings = get_settings()
        if not settings.webpubsub_configured:
            return
        get_client(settings).close_user_connections(str(user_id), reason="Access changed; reconnect.")
    except Exception:  # best effort: the client token still expires after REALTIME_TOKEN_MINUTES
        log.exception("closing live connections of user %s failed", user_id)
