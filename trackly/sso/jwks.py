"""Signing keys of identity providers, fetched from their JWKS URL and cached per process.

A key id (`kid`) that is not in the cached set triggers one refetch (key rotation), at most once
per REFRESH_COOLDOWN_SECONDS, so forged tokens with random `kid`s cannot make us hammer the
provider.
"""

from __future__ import annotations

import threading

import jwt

CACHE_LIFESPAN_SECONDS = 3600.0
REFRESH_COOLDOWN_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 10.0

_lock = threading.Lock()
_clients: dict[str, jwt.PyJWKClient] = {}


def client_for(url: str) -> jwt.PyJWKClient:
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = jwt.PyJWKClient(
                url,
                cache_jwk_set=True,
                lifespan=CACHE_LIFESPAN_SECONDS,
                timeout=FETCH_TIMEOUT_SECONDS,
                cooldown_duration=REFRESH_COOLDOWN_SECONDS,
                headers={"User-Agent": "trackly-functions"},
            )
        return client


def reset() -> None:
    """Forget every cached key set (tests)."""
    with _lock:
        _clients.clear()
