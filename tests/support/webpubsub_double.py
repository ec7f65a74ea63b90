"""Moved: the one local Web PubSub service is `trackly.realtime.localservice` (REST and WebSocket
sides). This name stays so that older imports keep working."""

from trackly.realtime.localservice import DEFAULT_ACCESS_KEY, LocalWebPubSub, Received

WebPubSubDouble = LocalWebPubSub

__all__ = ["DEFAULT_ACCESS_KEY", "LocalWebPubSub", "Received", "WebPubSubDouble"]
