"""One HTTP attempt to a checked target, with urllib3.

Why urllib3 (already installed with requests and the Azure SDK; the HTTP engine most of the
Python ecosystem runs on): its `HTTPSConnection` takes the address to connect to separately from
`server_hostname` (TLS SNI) and `assert_hostname` (certificate name check), so the connection goes
to the address `targets.resolve` checked while TLS still verifies the certificate against the
host name in the URL, with the platform's trust store. No second DNS lookup happens; redirects
are never followed (a 3xx is an answer like any other); the body read is bounded; one deadline
covers connecting, TLS, sending and reading (each socket operation gets what is left of it).
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from functools import lru_cache

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.ssl_match_hostname import CertificateError

from trackly.webhooks.targets import Target

# At most this much of an answer is read (then the connection is dropped); a bit is kept.
MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_CHARS = 1024
USER_AGENT = "Trackly-Webhooks/1.0"


@dataclass
class Answer:
    status_code: int | None
    error: str | None  # the error class when there is no status code
    excerpt: str
    duration_ms: int
    retry_after: str | None = None


def post(
    target: Target,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    ca_bundle: str | None = None,
) -> Answer:
    """POST `body` to `target`, trying its checked addresses in turn; never raises."""
    started = time.monotonic()
    deadline = started + timeout
    last_error = "connection_error"
    for address in target.addresses:
        if time.monotonic() >= deadline:
            last_error = "timeout"
            break
        try:
            return _post_once(
                target,
                address,
                body=body,
                headers=headers,
                deadline=deadline,
                started=started,
                ca_bundle=ca_bundle,
            )
        except _NoConnection as exc:
            last_error = exc.kind
            continue
        except _Failed as exc:
            return Answer(None, exc.kind, "", _ms(started))
    return Answer(None, last_error, "", _ms(started))


class _NoConnection(Exception):
    """The connection could not be made: the next address may work."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


class _Failed(Exception):
    """Connected, then failed: no other address is tried (the request may have arrived)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Failed("timeout")
    return left


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


@lru_cache(maxsize=4)
def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Certificate and host name verification on, the platform's CAs (plus `ca_bundle`); built
    once (loading the trust store costs milliseconds) and shared, as SSLContext allows."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def _connection(target: Target, address: str, *, timeout: float, ca_bundle: str | None) -> HTTPConnection:
    if target.scheme == "https":
        context = tls_context(ca_bundle)
        return HTTPSConnection(
            address,
            target.port,
            timeout=timeout,
            server_hostname=target.host,
            assert_hostname=target.host,
            ssl_context=context,
        )
    return HTTPConnection(address, target.port, timeout=timeout)


def _post_once(
    target: Target,
    address: str,
    *,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    started: float,
    ca_bundle: str | None,
) -> Answer:
    conn = _connection(target, address, timeout=_remaining(deadline), ca_bundle=ca_bundle)
    try:
        try:
            conn.connect()
        except (SSLError, ssl.SSLError, CertificateError):
            raise _Failed("tls_error") from None
        except NewConnectionError:  # before its base class ConnectTimeoutError: refused, unreachable
            raise _NoConnection("connection_error") from None
        except (ConnectTimeoutError, TimeoutError):
            raise _NoConnection("timeout") from None
        except OSError:
            raise _NoConnection("connection_error") from None
        try:
            conn.sock.settimeout(_remaining(deadline))
            conn.request(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": target.host_header, "Content-Length": str(len(body))},
                preload_content=False,
                decode_content=False,  # a compressed answer is not inflated (no bombs)
            )
            conn.sock.settimeout(_remaining(deadline))
            response = conn.getresponse()
            chunks: list[bytes] = []
            size = 0
            while size < MAX_RESPONSE_BYTES:
                if conn.sock is not None:
                    conn.sock.settimeout(_remaining(deadline))
                chunk = response.read1(min(16 * 1024, MAX_RESPONSE_BYTES - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (ReadTimeoutError, TimeoutError):
            raise _Failed("timeout") from None
        except (SSLError, ssl.SSLError, CertificateError):
            raise _Failed("tls_error") from None
        except (ProtocolError, OSError, ValueError):
            raise _Failed("connection_error") from None
        excerpt = b"".join(chunks)[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]
        return Answer(
            status_code=response.status,
            error=None,
            excerpt=excerpt,
            duration_ms=_ms(started),
            retry_after=response.headers.get("Retry-After"),
        )
    finally:
        conn.close()
