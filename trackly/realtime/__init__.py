"""Live updates: events published to Azure Web PubSub after commit, the outbox timer that
retries what was not published, client negotiation and the catch-up feed."""
