"""The Web PubSub service client: built on first use, cached per worker process.

Two ways to authenticate, picked from Settings:

- `WEBPUBSUB_CONNECTION_STRING` (`Endpoint=...;AccessKey=...;Version=1.0;`, optionally `Port=`):
  requests and client tokens are signed with the access key. Also how the local double and
  Microsoft's emulator are used.
- `WEBPUBSUB_ENDPOINT` alone: managed identity through `DefaultAzureCredential` (the Function
  App's identity needs the "Web PubSub Service Owner" role); client tokens are then minted by
  the service's `:generateToken` REST call.

The SDK is imported here, inside the function, never at module import.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from trackly.config import Settings
from trackly.errors import ServiceUnavailable

if TYPE_CHECKING:
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

# Publishing runs in the request thread after commit: fail fast, the outbox timer retries.
CONNECTION_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 3.0

_lock = threading.Lock()
_cached: tuple[tuple[str, str, str], WebPubSubServiceClient] | None = None


def _key(settings: Settings) -> tuple[str, str, str]:
    return (settings.WEBPUBSUB_CONNECTION_STRING, settings.WEBPUBSUB_ENDPOINT, settings.WEBPUBSUB_HUB)


def build_client(settings: Settings) -> WebPubSubServiceClient:
    """A new client for the configured service (no network is used to build it)."""
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

    options: dict[str, Any] = {
        "connection_timeout": CONNECTION_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        "retry_total": 0,  # no in-request retries; the outbox timer is the retry
    }
    hub = settings.WEBPUBSUB_HUB
    if settings.WEBPUBSUB_CONNECTION_STRING:
        try:
            return WebPubSubServiceClient.from_connection_string(
                settings.WEBPUBSUB_CONNECTION_STRING, hub=hub, **options
            )
        except ValueError:
            raise ServiceUnavailable(
                "Live updates are misconfigured: WEBPUBSUB_CONNECTION_STRING needs Endpoint= and AccessKey=."
            ) from None
    if settings.WEBPUBSUB_ENDPOINT:
        from azure.identity import DefaultAzureCredential

        return WebPubSubServiceClient(
            endpoint=settings.WEBPUBSUB_ENDPOINT, hub=hub, credential=DefaultAzureCredential(), **options
        )
    raise ServiceUnavailable(
        "Live updates are not configured on this server "
        "(set WEBPUBSUB_CONNECTION_STRING or WEBPUBSUB_ENDPOINT)."
    )


def get_client(settings: Settings) -> WebPubSubServiceClient:
    """The cached client; rebuilt when the Web PubSub settings change."""
    global _cached
    key = _key(settings)
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != key:
            _cached = (key, build_client(settings))
        return _cached[1]


def reset_client() -> None:
    global _cached
    with _lock:
        _cached = None
