"""The statement that turns new events into webhook deliveries, run in the event's transaction.

One INSERT ... SELECT for any number of events and hooks, so a write costs one statement more
whatever the number of hooks; with no active hook the partial index makes it a no-op. Kept in its
own small module: the events service imports it on every write, without the rest of webhooks.
"""

from sqlalchemy import text

ENQUEUE = text(
    """
    INSERT INTO webhook_deliveries (webhook_id, event_id, message_id, next_attempt_at, created_at)
    SELECT h.id, e.id, 'evt_' || e.id, e.created_at, e.created_at
    FROM events e
    JOIN webhooks h ON h.active AND (h.events @> ARRAY['*']::varchar[] OR e.type = ANY(h.events))
    WHERE e.id = ANY(:event_ids) AND NOT e.imported  -- the skip rule (trackly/portability/history.py)
    ORDER BY e.id, h.id
    """
)
