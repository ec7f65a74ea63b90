"""Webhooks: signed, retried, replayable deliveries of the events table to URLs set by an ADMIN."""
