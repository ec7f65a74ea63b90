"""Binding a sign-in flow to the browser that started it (against login CSRF).

Without it, anyone could start a sign-in, log in at Microsoft as themselves, and send the
resulting callback URL to a victim: the victim's browser would finish the attacker's flow and
be signed in to the attacker's account. So `/auth/microsoft/login` sets a cookie holding a
random nonce (only its SHA-256 is stored with the flow) and the callback refuses a flow whose
cookie the browser does not present.

The cookie is `__Host-` prefixed, `Secure`, `HttpOnly`, `SameSite=Lax` (sent on the top-level
GET redirect back from Microsoft, never on cross-site subrequests), `Path=/`, for the flow's
lifetime. Its name carries a hash of the flow's `state`, so two sign-ins started in two tabs do
not overwrite each other's cookie. When the callback URL is plain `http://` (local development
on localhost) browsers drop `Secure` cookies there, so the cookie is set without `Secure` and
without the `__Host-` prefix, which requires it; every other attribute is the same.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from trackly.sso.flows import FLOW_TTL

COOKIE_BASE = "trackly-sso-"
LIFETIME_SECONDS = int(FLOW_TTL.total_seconds())  # the cookie lives as long as the flow


def new_nonce() -> tuple[str, str]:
    """A fresh cookie value and the hash stored with the flow."""
    nonce = secrets.token_urlsafe(32)
    return nonce, nonce_hash(nonce)


def nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def secure_for(redirect_uri: str) -> bool:
    """Secure cookies unless the callback itself is served over plain http (localhost)."""
    return not redirect_uri.lower().startswith("http://")


def cookie_name(state: str, *, secure: bool) -> str:
    suffix = hashlib.sha256(state.encode()).hexdigest()[:16]
    return ("__Host-" if secure else "") + COOKIE_BASE + suffix


def _attributes(*, secure: bool, max_age: int) -> str:
    return f"Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")


def set_cookie(state: str, nonce: str, *, secure: bool) -> str:
    """The `Set-Cookie` value for the login response."""
    return (
        f"{cookie_name(state, secure=secure)}={nonce}; {_attributes(secure=secure, max_age=LIFETIME_SECONDS)}"
    )


def clear_cookie(state: str, *, secure: bool) -> str:
    """The `Set-Cookie` value that deletes the flow's cookie (on the callback)."""
    return f"{cookie_name(state, secure=secure)}=; {_attributes(secure=secure, max_age=0)}"


def parse_cookies(header: str | None) -> dict[str, str]:
    """`a=1; b=2` -> {"a": "1", "b": "2"}; malformed pairs are skipped, the first of a name wins."""
    out: dict[str, str] = {}
    for pair in (header or "").split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name and name not in out:
            out[name] = value.strip().strip('"')
    return out


def presented_by_browser(
    cookies: Mapping[str, str], *, state: str, expected_hash: str | None, secure: bool
) -> bool:
    """True when the browser holds the nonce of this flow (compared in constant time)."""
    nonce = cookies.get(cookie_name(state, secure=secure))
    if not nonce or not expected_hash:
        return False
    return hmac.compare_digest(nonce_hash(nonce), expected_hash)
