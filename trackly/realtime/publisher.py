"""After-commit publishing: called by trackly.events.service once a transaction that wrote events
has committed. Best effort and quick (short timeouts, no retries); it never raises. Whatever it
could not publish stays unpublished and the outbox timer (`publish_outbox`) delivers it later."""

from __future__ import annotations

import logging

from trackly import db
from trackly.config import get_settings
from trackly.realtime import outbox

log = logging.getLogger(__name__)


def publish_committed(event_ids: list[int]) -> None:
    """Publish these committed events to Web PubSub; swallow (and log) every error."""
    try:
        if not event_ids:
            return
        settings = get_settings()
        if not settings.webpubsub_configured:
            return
        with db.session_scope() as session:
            outbox.publish_ids(event_ids, session=session, settings=settings)
    except Exception:
        log.exception("publishing events %s failed; the outbox timer will retry", event_ids[:20])
