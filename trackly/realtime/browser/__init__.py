"""The browser side of live updates: `client.js`, a dependency-free ES module the API serves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from trackly.etag import make_etag


@dataclass(frozen=True)
class Module:
    source: bytes
    etag: str


@lru_cache(maxsize=1)
def client_module() -> Module:
    """client.js and its entity tag (a hash of the content), read once per worker process."""
    source = (Path(__file__).parent / "client.js").read_bytes()
    return Module(source, make_etag(hashlib.sha256(source).hexdigest()[:32]))
